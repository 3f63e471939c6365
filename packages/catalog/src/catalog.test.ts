import { BackupError } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { toBackupResult } from './backup-result.js';
import { listBackups, parseManifest, readManifest, writeManifest } from './catalog.js';
import { type BackupManifest, backupFileName, manifestKeyFor } from './manifest.js';
import { createMemoryStorage } from './testing/memory-storage.js';
import { testManifest } from './testing/test-manifest.js';

function manifest(target: string, startedAt: string, extra: Partial<BackupManifest> = {}): BackupManifest {
  const filename = backupFileName('appdb', 'production', new Date(startedAt));
  return testManifest(
    { target, startedAt: new Date(startedAt) },
    {
      bytes: 3_460_301,
      size_mb: 3.3,
      sha256: 'b'.repeat(64),
      sql_bytes: 9_000_000,
      duration_ms: 1234,
      location: `memory://${target}/${filename}`,
      host: 'worker-1',
      ...extra,
    },
  );
}

describe('catalog', () => {
  it('lists valid manifests newest first and ignores everything else', async () => {
    const storage = createMemoryStorage();
    const a = manifest('app', '2025-10-01T03:00:00.000Z');
    const b = manifest('app', '2025-10-03T03:00:00.000Z');
    const c = manifest('app', '2025-10-02T03:00:00.000Z');
    const other = manifest('app2', '2025-10-04T03:00:00.000Z');
    for (const item of [a, b, c, other]) await writeManifest(storage, item);
    await storage.putBytes('app/garbage.manifest.json', '{not json');
    await storage.putBytes('app/old.manifest.json', JSON.stringify({ ...a, formatVersion: 99 }));
    await storage.putBytes('app/random.bin', 'x');
    // A valid manifest copied under another key does not describe that key.
    await storage.putBytes('app/copy.sql.gz.manifest.json', JSON.stringify(b));

    expect(await listBackups(storage, { target: 'app' })).toEqual([b, c, a]);
    expect(await listBackups(storage, { target: 'app2' })).toEqual([other]);
    expect(await listBackups(storage)).toEqual([other, b, c, a]);
    expect(await listBackups(storage, { target: 'app', limit: 2 })).toEqual([b, c]);
    expect(await listBackups(storage, { target: 'ap' })).toEqual([]);
  });

  it('reads only the manifests of the page it returns', async () => {
    const storage = createMemoryStorage();
    for (let day = 1; day <= 20; day += 1) {
      await writeManifest(storage, manifest('app', `2025-10-${String(day).padStart(2, '0')}T03:00:00.000Z`));
    }
    const page = await listBackups(storage, { target: 'app', limit: 3 });
    expect(page.map((item) => item.started_at.slice(0, 10))).toEqual([
      '2025-10-20',
      '2025-10-19',
      '2025-10-18',
    ]);
    expect(storage.keysRead).toEqual(page.map((item) => manifestKeyFor(item.key)));
  });

  it('pages with `before` as an ISO time or a file name', async () => {
    const storage = createMemoryStorage();
    const items = ['2025-10-01T03:00:00.000Z', '2025-10-02T03:00:00.000Z', '2025-10-03T03:00:00.000Z'].map(
      (at) => manifest('app', at),
    );
    for (const item of items) await writeManifest(storage, item);
    const [first, second, third] = items;
    expect(await listBackups(storage, { target: 'app', before: '2025-10-03T00:00:00Z' })).toEqual([
      second,
      first,
    ]);
    expect(await listBackups(storage, { target: 'app', before: third?.filename })).toEqual([second, first]);
    expect(
      await listBackups(storage, { target: 'app', before: 'appdb_production_20251002_120000.sql.gz' }),
    ).toEqual([second, first]);
    await expect(listBackups(storage, { before: 'yesterday' })).rejects.toThrow(BackupError);
  });

  it('reads one manifest, undefined when absent, MANIFEST_INVALID when corrupt', async () => {
    const storage = createMemoryStorage();
    const item = manifest('app', '2025-10-01T03:00:00.000Z');
    await writeManifest(storage, item);
    expect(await readManifest(storage, 'app', item.filename)).toEqual(item);
    expect(await readManifest(storage, 'app', 'missing.sql.gz')).toBeUndefined();
    await storage.putBytes(manifestKeyFor('app/bad.sql.gz'), '[]');
    await expect(readManifest(storage, 'app', 'bad.sql.gz')).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
    });
  });

  it('refuses to write an invalid manifest', async () => {
    const storage = createMemoryStorage();
    const bad = { ...manifest('app', '2025-10-01T03:00:00.000Z'), sha256: 'nope' };
    await expect(writeManifest(storage, bad)).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      permanent: true,
    });
    expect(storage.objects.size).toBe(0);
  });

  it('validates field types', () => {
    const good = manifest('app', '2025-10-01T03:00:00.000Z');
    expect(parseManifest(JSON.parse(JSON.stringify(good)))).toEqual(good);
    expect(() => parseManifest({ ...good, bytes: '12' })).toThrow(/bytes/);
    expect(() => parseManifest({ ...good, key: 'other/x' })).toThrow(/key/);
    for (const filename of ['../../etc/passwd', 'sub/x.sql.gz', '..', 'x\0.sql.gz']) {
      expect(() => parseManifest({ ...good, filename, key: `app/${filename}` })).toThrow(/plain file name/);
    }
    expect(() => parseManifest({ ...good, row_counts: { 'public.t': 'many' } })).toThrow(/row_counts/);
  });

  it('accepts database_properties_in_dump only as a boolean, and true only with the properties', () => {
    const good = manifest('app', '2025-10-01T03:00:00.000Z');
    const properties = { comment: null, settings: [{ role: null, name: 'app.tenant', value: 'acme' }] };
    const carried = { ...good, database_properties: properties, database_properties_in_dump: true };
    expect(parseManifest(carried)).toEqual(carried);
    expect(() => parseManifest({ ...carried, database_properties_in_dump: 'yes' })).toThrow(
      /"database_properties_in_dump" must be a boolean/,
    );
    expect(() => parseManifest({ ...good, database_properties_in_dump: true })).toThrow(
      /"database_properties_in_dump" needs "database_properties"/,
    );
  });

  it('accepts a database_locale a restore can quote into CREATE DATABASE, nothing else', () => {
    const good = manifest('app', '2025-10-01T03:00:00.000Z');
    const locale = {
      encoding: 'UTF8',
      collate: "it's \\ odd",
      ctype: 'C.UTF-8',
      provider: 'icu',
      locale: 'sv-SE',
      icu_rules: null,
    };
    expect(parseManifest({ ...good, database_locale: locale })).toEqual({ ...good, database_locale: locale });
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...locale, encoding: "UTF8'; DROP" }, /encoding" must be an encoding name/],
      [{ ...locale, collate: 7 }, /collate" must be a string/],
      [{ ...locale, ctype: 'C\0' }, /ctype" must be a string/],
      [{ ...locale, provider: 'glibc' }, /provider" must be libc, icu or builtin/],
      [{ ...locale, locale: undefined }, /locale" must be a string or null/],
      [{ ...locale, icu_rules: 'x'.repeat(1001) }, /icu_rules" must be a string or null/],
    ];
    for (const [value, message] of bad) {
      expect(() => parseManifest({ ...good, database_locale: value })).toThrow(message);
    }
    expect(() => parseManifest({ ...good, database_locale: 'UTF8' })).toThrow(/must be an object/);
  });

  it('maps a manifest to the docs/architecture.md#backup-result result', () => {
    const result = toBackupResult(manifest('app', '2025-10-01T03:00:00.000Z', { trigger: 'schedule' }));
    expect(result).toMatchObject({
      status: 'success',
      filename: 'appdb_production_20251001_030000.sql.gz',
      size_mb: 3.3,
      target: 'app',
      environment: 'production',
      bytes: 3_460_301,
      sha256: 'b'.repeat(64),
      duration_ms: 1234,
      location: 'memory://app/appdb_production_20251001_030000.sql.gz',
      trigger: 'schedule',
    });
  });
});
