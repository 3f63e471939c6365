import { restoreBackup } from '@warden/backup';
import { isRestoreError } from '@warden/errors';
import { silenceAwsNodeVersionWarning } from '@warden/storage';
import { pino } from 'pino';
import { createWorkerServices, loadWorkerConfigOrExit } from '../services.js';
import { parseFlags, UsageError } from './cli-args.js';
import { createProgressLine, formatBytes, resolveTarget, runCli } from './run-cli.js';

silenceAwsNodeVersionWarning();

const USAGE =
  'usage: npm run backup:restore -- (--file=NAME | --latest) [--target NAME] [--database NAME] [--overwrite] [--dry-run]';

await runCli(USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), {
    values: ['file', 'target', 'database'],
    switches: ['latest', 'overwrite', 'dry-run'],
  });
  if (flags.file !== undefined && flags.latest)
    throw new UsageError('give either --file or --latest, not both');
  // docs/architecture.md#restore: the latest backup when no file is given.
  const file = (flags.file as string | undefined) ?? 'latest';
  const config = loadWorkerConfigOrExit(process.env);
  const target = resolveTarget(config, flags.target as string | undefined);
  const database = flags.database as string | undefined;
  const dryRun = flags['dry-run'] === true;
  const overwrite = flags.overwrite === true;
  // stdout carries only the JSON result; logs go to stderr.
  const services = createWorkerServices(config, {
    service: `${config.serviceName}-cli`,
    logDestination: pino.destination(2),
  });
  const progress = createProgressLine();
  try {
    const result = await restoreBackup(
      { storage: services.storage, logger: services.logger },
      {
        target,
        file,
        ...(database === undefined ? {} : { database }),
        overwrite,
        dryRun,
        spoolDir: config.backup.spoolDir,
        minFreeBytes: config.backup.minFreeBytes,
        psqlPath: config.backup.psqlPath,
        timeoutMs: config.backup.timeoutMs,
        ...(config.backup.encryptionKey === undefined ? {} : { encryptionKey: config.backup.encryptionKey }),
        safetyBackup: { ...config.backup },
        onProgress: (p) =>
          progress.update(`${p.phase} ${p.percent}% ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`),
      },
    );
    progress.done();
    await services.events.restoreSucceeded(target, result, {});
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (error) {
    progress.done();
    await services.events.restoreFailed(target, error, {
      file,
      ...(database === undefined ? {} : { database }),
      dryRun,
    });
    // A refusal is the operator's decision to make, not an incident for Sentry.
    if (
      !isRestoreError(error, 'RESTORE_DATABASE_EXISTS') &&
      !isRestoreError(error, 'RESTORE_INVALID_DATABASE')
    ) {
      services.errorReporter.captureJobFailure(error, { queue: 'cli', target: target.name });
    }
    const code = (error as { code?: string }).code ?? 'RESTORE_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(
      `${JSON.stringify({ status: 'failed', target: target.name, file, ...(database ? { database } : {}), dryRun, code, error: message })}\n`,
    );
    process.stderr.write(`error: restore of ${target.name} failed: ${message}\n`);
    return 1;
  } finally {
    await services.close();
  }
});
