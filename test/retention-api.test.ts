import { manifestKeyFor } from '@warden/catalog';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiFixture,
  bearer,
  createApiFixture,
  makeManifest,
  makeTarget,
  storeBackup,
} from './helpers/api-fixtures.js';

const DAY = 24 * 60 * 60 * 1000;
const app = makeTarget('app', { retentionDays: 30, keepLast: 1 });
// "app" is a prefix of "app2": its backups must never be touched by a run for "app".
const app2 = makeTarget('app2', { retentionDays: 7, keepLast: 2 });

let fixture: ApiFixture;
const stored: Record<string, string[]> = { app: [], app2: [] };

async function keys(): Promise<string[]> {
  return (await fixture.storage.list('')).map((object) => object.key).sort();
}

beforeAll(async () => {
  fixture = await createApiFixture({ name: 'retention', targets: [app, app2] });
  const now = Date.now();
  for (const [target, ages] of [
    [app, [1, 20, 40, 60]],
    [app2, [1, 10, 20, 30]],
  ] as const) {
    for (const age of ages) {
      const manifest = makeManifest(target, new Date(now - age * DAY - 60_000), fixture.storage);
      await storeBackup(fixture.storage, manifest);
      stored[target.name]?.push(manifest.filename);
    }
  }
});

afterAll(async () => {
  await fixture?.close();
});

describe('/api/admin/retention', () => {
  it('GET is a dry run for every target: what would go and why the rest stays', async () => {
    const before = await keys();
    const response = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/retention',
      headers: bearer(),
    });
    expect(response.statusCode).toBe(200);
    const { targets } = response.json();
    expect(targets.map((entry: { target: string }) => entry.target)).toEqual(['app', 'app2']);
    expect(targets[0]).toMatchObject({
      target: 'app',
      dryRun: true,
      removed: stored.app?.slice(2),
      failed: [],
    });
    expect(targets[1]).toMatchObject({ target: 'app2', dryRun: true, removed: stored.app2?.slice(2) });
    expect(targets[1].kept).toEqual([
      { filename: stored.app2?.[0], reasons: ['newest-good', 'young', 'keep-last'] },
      { filename: stored.app2?.[1], reasons: ['keep-last'] },
    ]);
    expect(await keys()).toEqual(before);
  });

  it('GET ?target= limits the dry run to one target; unknown targets answer 404', async () => {
    const one = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/retention?target=app',
      headers: bearer(),
    });
    expect(one.json().targets.map((entry: { target: string }) => entry.target)).toEqual(['app']);
    const unknown = await fixture.app.inject({
      method: 'GET',
      url: '/api/admin/retention?target=ap',
      headers: bearer(),
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('TARGET_NOT_FOUND');
  });

  it('requires the admin token and an explicit dryRun', async () => {
    const anonymous = await fixture.app.inject({ method: 'GET', url: '/api/admin/retention' });
    expect(anonymous.statusCode).toBe(401);
    const missing = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/retention',
      headers: bearer(),
      payload: { target: 'app' },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('VALIDATION_FAILED');
  });

  it('POST with dryRun false deletes exactly the expired objects of that target', async () => {
    const before = await keys();
    const dry = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/retention',
      headers: bearer(),
      payload: { target: 'app', dryRun: true },
    });
    expect(dry.json()).toMatchObject({ dryRun: true, removed: stored.app?.slice(2) });
    expect(await keys()).toEqual(before);

    const real = await fixture.app.inject({
      method: 'POST',
      url: '/api/admin/retention',
      headers: bearer(),
      payload: { target: 'app', dryRun: false },
    });
    expect(real.statusCode).toBe(200);
    expect(real.json()).toMatchObject({
      target: 'app',
      dryRun: false,
      removed: stored.app?.slice(2),
      failed: [],
    });
    const after = new Set(await keys());
    const expectedGone = (stored.app?.slice(2) ?? []).flatMap((filename) => [
      `app/${filename}`,
      manifestKeyFor(`app/${filename}`),
    ]);
    expect(before.filter((key) => !after.has(key)).sort()).toEqual(expectedGone.sort());
  });
});
