import { restoreBackup, safetyBackupWithRunBackup } from '@warden/backup';
import { isRestoreError } from '@warden/errors';
import { findRestoredDatabases } from '@warden/probes';
import { silenceAwsNodeVersionWarning } from '@warden/storage';
import { pino } from 'pino';
import { createWorkerServices, loadWorkerConfigOrExit } from '../services.js';
import { parseFlags, UsageError } from './cli-args.js';
import { createProgressLine, formatBytes, resolveTarget, runCli } from './run-cli.js';

silenceAwsNodeVersionWarning();

const USAGE =
  'usage: npm run backup:restore -- (--file=NAME | --latest) [--target NAME] [--database NAME] [--overwrite] [--dry-run]\n' +
  '       npm run backup:restore -- --list-restored [--target NAME] [--json]';

await runCli(USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), {
    values: ['file', 'target', 'database'],
    switches: ['latest', 'overwrite', 'dry-run', 'list-restored', 'json'],
  });
  if (flags['list-restored'] === true)
    return listRestored(flags.target as string | undefined, flags.json === true);
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
        // A CLI may sleep between upload retries; a worker's restore job never does.
        takeSafetyBackup: safetyBackupWithRunBackup(
          { storage: services.storage, logger: services.logger },
          { ...config.backup },
          target,
        ),
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

/** The databases restores left on the targets' servers, for the operator to drop. */
async function listRestored(targetName: string | undefined, json: boolean): Promise<number> {
  const config = loadWorkerConfigOrExit(process.env);
  const targets = targetName === undefined ? config.targets : [resolveTarget(config, targetName)];
  const report = await findRestoredDatabases(
    targets.map((target) => ({ name: target.name, database: target.database, url: target.databaseUrl })),
  );
  if (json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else if (report.databases.length === 0) {
    process.stdout.write('no databases left by restores\n');
  } else {
    for (const entry of report.databases) {
      process.stdout.write(
        `${entry.target}\t${entry.database}\t${entry.kind}\t${entry.created_at}\t${formatBytes(entry.bytes)}\n`,
      );
    }
    process.stdout.write('drop one with: DROP DATABASE "<name>" (psql, on the target\'s server)\n');
  }
  for (const problem of report.errors) {
    process.stderr.write(`error: cannot list the databases of ${problem.target}: ${problem.error}\n`);
  }
  return report.errors.length === 0 ? 0 : 1;
}
