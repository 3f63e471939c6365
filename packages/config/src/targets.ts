import { readFileSync } from 'node:fs';
import path from 'node:path';
import { databaseNameOfUrl, databaseNameProblem, databaseNameSlug, isTargetName } from '@warden/names';
import { parse as parseYaml } from 'yaml';
import { formatIssues } from './config-error.js';
import { type Env, interpolateEnv } from './env-interpolation.js';
import { targetsFileSchema, type WardenEnv } from './schema.js';
import type { BackupTarget } from './warden-config.js';

/**
 * The databases to back up: each entry of the `WARDEN_CONFIG` file (YAML or JSON, `${NAME}` taken
 * from the environment), its missing settings from the variables, or else the one `DATABASE_URL`.
 * Every bad file, entry, database or target name is added to `problems`.
 */
export function resolveTargets(e: WardenEnv, env: Env, cwd: string, problems: string[]): BackupTarget[] {
  const targets: BackupTarget[] = [];
  if (e.WARDEN_CONFIG !== undefined) {
    const file = path.resolve(cwd, e.WARDEN_CONFIG);
    let raw: unknown;
    try {
      const text = readFileSync(file, 'utf8');
      const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      raw = interpolateEnv(parsed, env, problems, e.WARDEN_CONFIG);
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'cannot be parsed';
      problems.push(`WARDEN_CONFIG: ${e.WARDEN_CONFIG} ${reason}`);
    }
    if (raw !== undefined) {
      const file = targetsFileSchema.safeParse(raw);
      if (!file.success) {
        problems.push(...formatIssues(file.error.issues, 'WARDEN_CONFIG '));
      } else {
        for (const entry of file.data.targets) {
          targets.push({
            name: entry.name,
            environment: entry.environment ?? e.BACKUP_ENVIRONMENT,
            databaseUrl: entry.url,
            database: databaseNameOfUrl(entry.url),
            schedule: entry.schedule ?? e.BACKUP_SCHEDULE,
            timezone: entry.timezone ?? e.BACKUP_TIMEZONE,
            retentionDays: entry.retentionDays ?? e.BACKUP_RETENTION_DAYS,
            keepLast: entry.keepLast ?? e.BACKUP_KEEP_LAST,
            keepDaily: entry.keepDaily ?? e.BACKUP_KEEP_DAILY,
            keepWeekly: entry.keepWeekly ?? e.BACKUP_KEEP_WEEKLY,
            keepMonthly: entry.keepMonthly ?? e.BACKUP_KEEP_MONTHLY,
            enabled: entry.enabled ?? true,
            deadman: {
              start: entry.deadman?.start ?? e.DEADMAN_START_URL,
              success: entry.deadman?.success ?? e.DEADMAN_SUCCESS_URL,
              fail: entry.deadman?.fail ?? e.DEADMAN_FAIL_URL,
            },
          });
        }
      }
    }
  } else {
    const database = databaseNameOfUrl(e.DATABASE_URL);
    targets.push({
      // Named after the database; a name that cannot be a storage key or job id gets its slug.
      name: databaseNameSlug(database),
      environment: e.BACKUP_ENVIRONMENT,
      databaseUrl: e.DATABASE_URL,
      database,
      schedule: e.BACKUP_SCHEDULE,
      timezone: e.BACKUP_TIMEZONE,
      retentionDays: e.BACKUP_RETENTION_DAYS,
      keepLast: e.BACKUP_KEEP_LAST,
      keepDaily: e.BACKUP_KEEP_DAILY,
      keepWeekly: e.BACKUP_KEEP_WEEKLY,
      keepMonthly: e.BACKUP_KEEP_MONTHLY,
      enabled: true,
      deadman: { start: e.DEADMAN_START_URL, success: e.DEADMAN_SUCCESS_URL, fail: e.DEADMAN_FAIL_URL },
    });
  }

  const seen = new Set<string>();
  for (const target of targets) {
    const source = e.WARDEN_CONFIG !== undefined ? `WARDEN_CONFIG target "${target.name}"` : 'DATABASE_URL';
    const problem = databaseNameProblem(target.database);
    if (problem !== undefined) {
      problems.push(`${source}: ${target.database === '' ? 'the URL must name a database' : problem}`);
    }
    if (!isTargetName(target.name)) problems.push(`${source}: invalid target name "${target.name}"`);
    if (seen.has(target.name)) problems.push(`${source}: duplicate target name`);
    seen.add(target.name);
  }
  return targets;
}
