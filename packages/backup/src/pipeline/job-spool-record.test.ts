import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  jobRecordPathFor,
  listJobSpoolRecords,
  readJobSpoolRecord,
  removeJobSpoolRecord,
  writeJobSpoolRecord,
} from './job-spool-record.js';

const target = { name: 'shop', database: 'shop', environment: 'production' };
const filename = 'shop_production_20251015_121644.sql.gz';
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-job-record-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('job spool record', () => {
  it('is found again by job id and target, written 0600', async () => {
    await writeJobSpoolRecord(dir, { job_id: '42', target: 'shop', filename });
    const file = jobRecordPathFor(dir, 'shop', '42');
    expect(path.basename(file)).toBe('shop.job-42.job.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await readJobSpoolRecord(dir, target, '42')).toEqual({ job_id: '42', target: 'shop', filename });
    expect(await readJobSpoolRecord(dir, target, '43')).toBeUndefined();
    expect(await listJobSpoolRecords(dir)).toEqual([
      { name: 'shop.job-42.job.json', record: { job_id: '42', target: 'shop', filename } },
    ]);
    await removeJobSpoolRecord(dir, 'shop', '42');
    expect(await readJobSpoolRecord(dir, target, '42')).toBeUndefined();
  });

  it('a job id that is not a plain name is hashed into the file name (no path can be formed from it)', () => {
    const file = jobRecordPathFor(dir, 'shop', '../../etc/passwd');
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(/^shop\.job-[0-9a-f]{32}\.job\.json$/);
  });

  it("refuses a record that is not ours: group-readable, a link, or naming another target's file", async () => {
    const file = jobRecordPathFor(dir, 'shop', '7');
    await writeJobSpoolRecord(dir, { job_id: '7', target: 'shop', filename });
    chmodSync(file, 0o644);
    expect(await readJobSpoolRecord(dir, target, '7')).toBeUndefined();
    rmSync(file);
    writeFileSync(
      path.join(dir, 'elsewhere.json'),
      JSON.stringify({ job_id: '7', target: 'shop', filename }),
      {
        mode: 0o600,
      },
    );
    symlinkSync(path.join(dir, 'elsewhere.json'), file);
    expect(await readJobSpoolRecord(dir, target, '7')).toBeUndefined();
    rmSync(file);
    await writeJobSpoolRecord(dir, {
      job_id: '7',
      target: 'shop',
      filename: 'other_production_20251015_121644.sql.gz',
    });
    expect(await readJobSpoolRecord(dir, target, '7')).toBeUndefined();
  });
});
