import { type BackupTarget, databaseServerOf, type WardenConfig } from '@warden/config';
import { API_ERROR_CODES, ApiError } from './errors.js';

/**
 * The target a request means: the named one, or the only one when exactly one is configured.
 * Unknown names answer 404 with the known names, so a typo is easy to fix.
 */
export function resolveTarget(config: WardenConfig, name: string | undefined): BackupTarget {
  const known = config.targets.map((target) => target.name);
  if (name === undefined) {
    if (config.targets.length === 1) return config.targets[0]!;
    throw new ApiError(
      400,
      API_ERROR_CODES.targetRequired,
      `body.target is required when several targets are configured; known targets: ${known.join(', ')}`,
      { targets: known },
    );
  }
  const target = config.targets.find((candidate) => candidate.name === name);
  if (!target) {
    throw new ApiError(
      404,
      API_ERROR_CODES.targetNotFound,
      `unknown target "${name}"; known targets: ${known.join(', ')}`,
      { targets: known },
    );
  }
  return target;
}

/**
 * Whether restoring `target`'s backup into `database` would write over a database Warden backs up:
 * the target's own source, or another target's database on the same server.
 */
export function isSourceDatabase(config: WardenConfig, target: BackupTarget, database: string): boolean {
  const server = databaseServerOf(target.databaseUrl);
  return config.targets.some(
    (candidate) => candidate.database === database && databaseServerOf(candidate.databaseUrl) === server,
  );
}
