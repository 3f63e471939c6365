import type { BackupManifest } from '@warden/catalog';
import { RestoreError } from '@warden/errors';
import {
  EventTriggerRestoreError,
  planTriggerSafety,
  type TriggerSafety,
} from '../postgres/event-trigger-safety.js';
import { databaseExists, freeDatabaseName, withMaintenanceClient } from './maintenance-connection.js';
import type { RestoreBackupOptions } from './restore-options.js';

/** Where a restore goes: a database it creates, or an existing one it replaces. */
export interface RestorePlan {
  database: string;
  action: 'create' | 'replace';
}

/** The maintenance database of the target's server, and how to name it in messages. */
export interface MaintenanceAccess {
  url: string;
  where: string;
}

/**
 * Decides the database before anything is downloaded: an existing one without `overwrite` is
 * refused at once; without a name, a free `<database>_<label>_<timestamp>` is chosen.
 */
export async function planDestination(
  maintenance: MaintenanceAccess,
  options: Pick<RestoreBackupOptions, 'target' | 'database' | 'overwrite' | 'newDatabaseLabel'>,
  startedAt: Date,
): Promise<RestorePlan> {
  const { database } = options;
  return withMaintenanceClient(maintenance.url, maintenance.where, async (client) => {
    if (database !== undefined) {
      const exists = await databaseExists(client, database);
      if (exists && !options.overwrite) {
        throw new RestoreError(
          'RESTORE_DATABASE_EXISTS',
          `database "${database}" already exists; restoring into it needs the overwrite flag (--overwrite, "overwrite": true), which first takes a safety backup of it`,
        );
      }
      return { database, action: exists ? 'replace' : 'create' };
    }
    return {
      database: await freeDatabaseName(client, options.target.database, startedAt, options.newDatabaseLabel),
      action: 'create',
    };
  });
}

/** How the dump's event triggers are kept from firing during the restore, or why it cannot be. */
export async function planEventTriggers(
  maintenance: MaintenanceAccess,
  manifest: BackupManifest,
): Promise<TriggerSafety> {
  return withMaintenanceClient(maintenance.url, maintenance.where, (client) =>
    planTriggerSafety(client, manifest),
  ).catch((error: unknown) => {
    if (error instanceof EventTriggerRestoreError) {
      throw new RestoreError(
        'RESTORE_EVENT_TRIGGERS',
        `cannot restore ${manifest.filename}: ${error.message}`,
      );
    }
    throw error;
  });
}
