import { applyRetention } from '@warden/catalog';
import { collectSecrets } from '@warden/config';
import { createLogger } from '@warden/logging';
import { createStorage, silenceAwsNodeVersionWarning } from '@warden/storage';
import { pino } from 'pino';
import { loadWorkerConfigOrExit } from '../services.js';
import { parseFlags } from './cli-args.js';
import { resolveTarget, runCli } from './run-cli.js';

silenceAwsNodeVersionWarning();

const USAGE = 'usage: npm run backup:prune [-- --target NAME] [--dry-run]';

/**
 * Applies retention now, per target (every configured target unless --target). Prints one JSON line
 * per target: what was (or, with --dry-run, would be) deleted and why the rest stays.
 */
await runCli(USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), { values: ['target'], switches: ['dry-run'] });
  const config = loadWorkerConfigOrExit(process.env);
  const targets =
    flags.target === undefined ? config.targets : [resolveTarget(config, flags.target as string)];
  const dryRun = flags['dry-run'] === true;
  const logger = createLogger({
    service: `${config.serviceName}-cli`,
    level: config.logLevel,
    secrets: collectSecrets(config),
    destination: pino.destination(2),
  });
  const storage = createStorage(config.storage);
  let failures = 0;
  try {
    for (const target of targets) {
      const outcome = await applyRetention(
        { storage, logger },
        target,
        {
          retentionDays: target.retentionDays,
          keepLast: target.keepLast,
          keepDaily: target.keepDaily,
          keepWeekly: target.keepWeekly,
          keepMonthly: target.keepMonthly,
        },
        { dryRun },
      );
      failures += outcome.failed.length;
      process.stdout.write(
        `${JSON.stringify({
          target: outcome.target,
          dryRun,
          removed: outcome.removed.map((manifest) => manifest.filename),
          kept: outcome.kept.map((manifest) => ({
            filename: manifest.filename,
            reasons: outcome.reasons[manifest.key] ?? [],
          })),
          failed: outcome.failed.map((failure) => ({
            filename: failure.manifest.filename,
            error: failure.error,
          })),
        })}\n`,
      );
    }
    return failures === 0 ? 0 : 1;
  } finally {
    await storage.close();
  }
});
