import { runBackup } from './src/index.js';
import { createLogger } from '@warden/logging';
import { createStorage } from '@warden/storage';
import { loadConfig } from '@warden/config';
const t0 = performance.now();
const config = loadConfig(process.env);
const logger = createLogger({ service: 'x', level: 'warn', secrets: [] });
const storage = createStorage(config.storage, { logger } as never);
const target = { name: config.targets[0]!.name, environment: 'bench', databaseUrl: config.targets[0]!.databaseUrl, database: config.targets[0]!.database, retentionDays: 30, keepLast: 3 };
const c0 = process.cpuUsage(); const iv = setInterval(() => {}, 1000);
const t1 = performance.now();
const phases: Record<string, number> = {};
const m = await runBackup({ storage, logger }, { target: target as never, ...config.backup, retention: false, uploadWhileDumping: process.env.UWD === '1', gzipEngine: (process.env.ENGINE ?? 'auto') as never,
  onProgress: (p) => { phases[p.phase] ??= Math.round(performance.now() - t1); } });
console.log('setup', Math.round(t1 - t0), 'run', Math.round(performance.now() - t1), phases, process.cpuUsage(c0), 'rss', process.resourceUsage().maxRSS >> 10, 'MB', m.bytes);
clearInterval(iv); await storage.close();
