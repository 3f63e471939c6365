import { gzipFallbackWarning, runBackup } from '@warden/backup';
import { toBackupResult } from '@warden/catalog';
import { silenceAwsNodeVersionWarning } from '@warden/storage';
import { pino } from 'pino';
import { createWorkerServices, loadWorkerConfigOrExit } from '../services.js';
import { parseFlags } from './cli-args.js';
import { createProgressLine, formatBytes, resolveTarget, runCli } from './run-cli.js';

silenceAwsNodeVersionWarning();

const USAGE = 'usage: npm run backup:create [-- --target NAME]';

await runCli(USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), { values: ['target'], switches: [] });
  const config = loadWorkerConfigOrExit(process.env);
  const target = resolveTarget(config, flags.target as string | undefined);
  // stdout carries only the JSON result; logs go to stderr.
  const services = createWorkerServices(config, {
    service: `${config.serviceName}-cli`,
    logDestination: pino.destination(2),
  });
  const slowGzip = await gzipFallbackWarning(config.backup);
  if (slowGzip) services.logger.warn({ gzipEngine: 'zlib' }, slowGzip);
  const progress = createProgressLine();
  try {
    const manifest = await runBackup(
      { storage: services.storage, logger: services.logger },
      {
        target,
        ...config.backup,
        trigger: 'cli',
        onProgress: (p) => progress.update(`${p.phase} ${Math.round(p.percent)}% ${formatBytes(p.bytes)}`),
        onUploadRetry: (attempt, error, final) =>
          services.events.uploadFailed(target, error, {
            attempt,
            maxAttempts: config.backup.uploadRetryAttempts + 1,
            final,
            // The upload error names the integrity-checked dump it kept for the next attempt.
            spoolPath: error.spoolPath ?? '',
          }),
      },
    );
    progress.done();
    await services.events.backupSucceeded(target, manifest, {});
    process.stdout.write(`${JSON.stringify(toBackupResult(manifest))}\n`);
    return 0;
  } catch (error) {
    progress.done();
    await services.events.backupFailed(target, error, {});
    services.errorReporter.captureJobFailure(error, { queue: 'cli', target: target.name });
    const code = (error as { code?: string }).code ?? 'BACKUP_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    process.stdout.write(
      `${JSON.stringify({ status: 'failed', target: target.name, environment: target.environment, code, error: message })}\n`,
    );
    process.stderr.write(`error: backup of ${target.name} failed: ${message}\n`);
    return 1;
  } finally {
    await services.close();
  }
});
