import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobRecordPathFor, writeJobSpoolRecord } from '@warden/backup';
import { JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import { type Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepSpool } from '../apps/worker/src/spool-cleanup.js';
import { createTargetLock } from '../apps/worker/src/target-lock.js';
import { createTestQueue } from './helpers/queues.js';
import { uniquePrefix } from './helpers/test-run.js';

/*
 * The spool sweep against the real Redis: which files a job still owns is decided by the job's
 * BullMQ state, and what no record names only while the target's lock is free.
 */
const prefix = uniquePrefix('spool-sweep');
const testQueue = createTestQueue({ prefix });
const { queue, redis } = testQueue;
let work: string;
let worker: Worker;

const lockFor = (target: string) => createTargetLock({ redis, key: `${prefix}:lock:backup:${target}` });

/** A spooled dump `<target>.<file>` with its spool record, optionally made to look `ageMs` old. */
async function spoolDump(spoolDir: string, target: string, file: string, ageMs = 0): Promise<string> {
  const dump = path.join(spoolDir, `${target}.${file}`);
  writeFileSync(dump, 'dump', { mode: 0o600 });
  writeFileSync(`${dump}.manifest.json`, '{}', { mode: 0o600 });
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(dump, then, then);
  }
  return dump;
}

async function takeJob(target: string): Promise<{ job: Job; token: string }> {
  await queue.add(JOB_NAMES.backupCreate, { target, trigger: 'api' });
  const token = randomBytes(8).toString('hex');
  const job = (await worker.getNextJob(token)) as Job | undefined;
  if (!job) throw new Error('no job to take');
  return { job, token };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'warden-sweep-'));
  worker = new Worker(QUEUE_NAMES.backups, null, { connection: redis, prefix, autorun: false });
  worker.on('error', () => undefined);
});

afterAll(async () => {
  await worker?.close();
  await testQueue.close();
  await rm(work, { recursive: true, force: true });
});

describe('spool sweep (real Redis)', () => {
  it('removes the files of completed and vanished jobs, keeps those of active, delayed and failed jobs', async () => {
    const spoolDir = path.join(work, 'by-state');
    await mkdir(spoolDir, { mode: 0o700 });
    const jobState = (jobId: string) => queue.getJobState(jobId);
    const cases: Record<string, { jobId: string; dump: string }> = {};
    const add = async (name: string, jobId: string) => {
      const file = `db_fault_20260101_00000${Object.keys(cases).length}.sql.gz`;
      cases[name] = { jobId, dump: await spoolDump(spoolDir, 'sweep-a', file) };
      await writeJobSpoolRecord(spoolDir, { job_id: jobId, target: 'sweep-a', filename: file });
    };

    const completed = await takeJob('sweep-a');
    await completed.job.moveToCompleted({ ok: true }, completed.token, false);
    await add('completed', String(completed.job.id));
    await add('vanished', 'no-such-job');
    const active = await takeJob('sweep-a');
    await add('active', String(active.job.id));
    const failed = await takeJob('sweep-a');
    await failed.job.moveToFailed(new Error('upload failed after 3 attempts'), failed.token, false);
    await add('failed', String(failed.job.id));
    const delayed = await takeJob('sweep-a');
    await delayed.job.moveToDelayed(Date.now() + 3_600_000, delayed.token);
    await add('delayed', String(delayed.job.id));

    await sweepSpool({ spoolDir, jobState, lockFor });
    const left = await readdir(spoolDir);
    for (const [name, { jobId, dump }] of Object.entries(cases)) {
      const kept = !['completed', 'vanished'].includes(name);
      expect({ name, dump: existsSync(dump) }).toEqual({ name, dump: kept });
      expect({ name, record: existsSync(`${dump}.manifest.json`) }).toEqual({ name, record: kept });
      expect({ name, job: existsSync(jobRecordPathFor(spoolDir, 'sweep-a', jobId)) }).toEqual({
        name,
        job: kept,
      });
    }
    expect(left).toHaveLength(3 * 3);
  });

  it('removes dumps no job record names only while the target lock is free and once past the grace period; partials too', async () => {
    const spoolDir = path.join(work, 'unrecorded');
    await mkdir(spoolDir, { mode: 0o700 });
    const jobState = async () => 'unknown';
    const old = await spoolDump(spoolDir, 'sweep-b', 'db_fault_20260101_000000.sql.gz', 2 * 3_600_000);
    const fresh = await spoolDump(spoolDir, 'sweep-b', 'db_fault_20260101_000001.sql.gz');
    const partial = path.join(spoolDir, 'sweep-b.db_fault_20260101_000002.sql.gz.partial');
    writeFileSync(partial, 'half', { mode: 0o600 });
    const busyOld = await spoolDump(spoolDir, 'sweep-c', 'db_fault_20260101_000000.sql.gz', 2 * 3_600_000);
    const busyPartial = path.join(spoolDir, 'sweep-c.db_fault_20260101_000001.sql.gz.partial');
    writeFileSync(busyPartial, 'being written', { mode: 0o600 });

    // A backup of sweep-c is running somewhere: its files are not the sweep's to judge.
    const running = lockFor('sweep-c');
    expect(await running.acquire()).toBe(true);
    try {
      await sweepSpool({ spoolDir, jobState, lockFor });
    } finally {
      await running.release();
    }
    expect(existsSync(old)).toBe(false);
    expect(existsSync(`${old}.manifest.json`)).toBe(false);
    expect(existsSync(partial)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(busyOld)).toBe(true);
    expect(existsSync(busyPartial)).toBe(true);
    // The sweep gave the locks it took back.
    expect(await lockFor('sweep-b').acquire()).toBe(true);
  });
});
