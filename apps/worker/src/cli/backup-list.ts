import { listBackups, toBackupResult } from '@warden/catalog';
import { createStorage, silenceAwsNodeVersionWarning } from '@warden/storage';
import { loadWorkerConfigOrExit } from '../services.js';
import { parseFlags, UsageError } from './cli-args.js';
import { formatBytes, runCli } from './run-cli.js';

silenceAwsNodeVersionWarning();

const USAGE = 'usage: npm run backup:list [-- --target NAME] [--limit N] [--json]';

await runCli(USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), { values: ['target', 'limit'], switches: ['json'] });
  const config = loadWorkerConfigOrExit(process.env);
  const target = flags.target as string | undefined;
  if (target !== undefined && !config.targets.some((candidate) => candidate.name === target)) {
    throw new UsageError(
      `unknown target "${target}" (known: ${config.targets.map((t) => t.name).join(', ')})`,
    );
  }
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('--limit must be 1-10000');
  const storage = createStorage(config.storage);
  try {
    const backups = await listBackups(storage, { target, limit });
    if (flags.json) {
      for (const manifest of backups) process.stdout.write(`${JSON.stringify(toBackupResult(manifest))}\n`);
      return 0;
    }
    if (backups.length === 0) {
      process.stdout.write(`no backups in ${storage.location}\n`);
      return 0;
    }
    const rows = backups.map((m) => [
      m.target,
      m.filename,
      formatBytes(m.bytes),
      m.finished_at,
      m.verification ? `${m.verification.status} ${m.verification.at}` : '-',
    ]);
    const header = ['TARGET', 'FILE', 'SIZE', 'FINISHED', 'RESTORE-TEST'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
    for (const row of [header, ...rows]) {
      process.stdout.write(
        `${row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
      );
    }
    return 0;
  } finally {
    await storage.close();
  }
});
