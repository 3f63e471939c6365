import type { BackupTargetSpec } from '../pipeline/target.js';
import { dropDatabase, withMaintenanceClient } from './maintenance-connection.js';
import { databaseUrlFor, restoreDatabaseName } from './naming.js';

/**
 * Drops the scratch databases (`<database>_<label>_<YYYYMMDD_HHMMSS>`) of the target that are older
 * than `olderThan`: what a restore test killed mid-way (kill -9, power loss) could not drop itself.
 * The caller picks `olderThan` so that no test still running can own one (its start minus the
 * restore timeout). Returns the names dropped.
 */
export async function dropStaleScratchDatabases(
  target: Pick<BackupTargetSpec, 'name' | 'database' | 'databaseUrl'>,
  options: { label: string; olderThan: Date; maintenanceDatabase?: string },
): Promise<string[]> {
  const maintenanceUrl = databaseUrlFor(target.databaseUrl, options.maintenanceDatabase ?? 'postgres');
  return withMaintenanceClient(maintenanceUrl, `the server of target "${target.name}"`, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname ~ $1',
      [`_${options.label}_[0-9]{8}_[0-9]{6}(_[0-9]{1,2})?$`],
    );
    const dropped: string[] = [];
    for (const { datname } of rows) {
      const match = /_(\d{8})_(\d{6})(?:_\d{1,2})?$/.exec(datname);
      const [, day = '', time = ''] = match ?? [];
      const at = new Date(
        `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)}T${time.slice(0, 2)}:${time.slice(2, 4)}:${time.slice(4, 6)}Z`,
      );
      const own = restoreDatabaseName(target.database, at, options.label);
      if (Number.isNaN(at.getTime()) || !datname.startsWith(own) || at >= options.olderThan) continue;
      await dropDatabase(client, datname);
      dropped.push(datname);
    }
    return dropped;
  });
}
