/**
 * `${VAR}` in WARDEN_CONFIG through a real backup:create process: a variable shaped to add a YAML
 * target adds none, and pg_dump receives the password exactly as the variable holds it (a wrapper
 * around the real pg_dump records the PGPASSWORD it was given).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listBackups } from '@warden/catalog';
import { createLocalStorage } from '@warden/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePgDumpWrapper } from './helpers/pg-dump-wrapper.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg-fixtures.js';
import { startWardenProcess, testEnv } from './helpers/processes.js';

let workDir: string;
let database: TestDatabase;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'warden-interpolation-'));
  database = await createTestDatabase({ prefix: 'warden_interp', seed: { orders: 50 } });
});

afterAll(async () => {
  await database?.drop();
  await rm(workDir, { recursive: true, force: true });
});

describe('WARDEN_CONFIG interpolation in a real process', () => {
  it('a variable holding YAML adds no target, and pg_dump gets the exact password', async () => {
    const seen = path.join(workDir, 'pgpassword');
    const pgDump = writePgDumpWrapper(workDir, 'pg_dump_recording', `printf '%s' "$PGPASSWORD" > "${seen}"`);
    const password = `x"\n  - name: injected\n    url: postgres://127.0.0.1/postgres #:'${randomBytes(4).toString('hex')}`;
    const configFile = path.join(workDir, 'targets.yml');
    writeFileSync(
      configFile,
      [
        'targets:',
        '  - name: shop',
        '    environment: interp',
        `    url: postgres://postgres:\${SHOP_DB_PASSWORD}@127.0.0.1:5432/${database.name}`,
      ].join('\n'),
    );
    const backupDir = path.join(workDir, 'backups');
    const env = testEnv({
      WARDEN_CONFIG: configFile,
      SHOP_DB_PASSWORD: password,
      BACKUP_DIR: backupDir,
      BACKUP_SPOOL_DIR: path.join(workDir, 'spool'),
      BACKUP_MIN_FREE_MB: '0',
      PG_DUMP_PATH: pgDump,
    });
    const cli = startWardenProcess('apps/worker/src/cli/backup-create.ts', env, ['--target', 'injected']);
    // The injected target does not exist: the only one is the file's own.
    expect(await cli.exited).toBe(2);
    expect(cli.lines.join('\n')).toContain('unknown target "injected" (known: shop)');

    const good = startWardenProcess('apps/worker/src/cli/backup-create.ts', env);
    expect(await good.exited).toBe(0);
    expect(readFileSync(seen, 'utf8')).toBe(password);
    const stored = await listBackups(createLocalStorage({ dir: backupDir }));
    expect(stored.map((manifest) => manifest.target)).toEqual(['shop']);
    expect([...good.lines, ...cli.lines].join('\n')).not.toContain(password);
  });
});
