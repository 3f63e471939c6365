import { createManifestSummaries } from '@warden/catalog';
import { mapBounded } from '@warden/probes';
import { JOB_NAMES } from '@warden/queue';
import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import {
  type FleetFailure,
  type FleetJob,
  fleetManifestsOf,
  summariseFleet,
  TREND_LENGTH,
} from '../fleet.js';
import { listSchedules } from '../schedules.js';
import { resolveTarget } from '../targets.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, targetNameSchema } from './schemas.js';

interface FleetQuery {
  target?: string;
}

/** Default time a scheduled backup may take before it counts as overdue (the health probe's). */
const BACKUP_GRACE_MS = 2 * 3600 * 1000;
/** Unfinished and failed jobs read per queue; enough for a fleet of 500 with a backlog. */
const JOBS_READ = 1000;
const FAILURES_READ = 500;
const UNFINISHED_STATES = ['active', 'waiting', 'prioritized', 'delayed'] as const;
/** Targets whose manifests are listed and read at once. */
const TARGETS_READ_AT_ONCE = 8;

const nullableString = { type: ['string', 'null'] } as const;

const fleetRowSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    environment: { type: 'string' },
    database: { type: 'string' },
    enabled: { type: 'boolean' },
    schedule: { type: 'string' },
    timezone: { type: 'string' },
    status: { type: 'string', enum: ['failing', 'degraded', 'healthy'] },
    reasons: { type: 'array', items: { type: 'string' }, description: 'Why, most serious first.' },
    lastBackup: {
      type: ['object', 'null'],
      properties: {
        filename: { type: 'string' },
        finished_at: { type: 'string' },
        bytes: { type: 'integer' },
        size_mb: { type: 'number' },
        duration_ms: { type: 'number' },
        sha256: { type: 'string' },
      },
    },
    trend: {
      type: 'array',
      description: 'Sizes of the newest backups (up to 20), oldest first.',
      items: { type: 'object', properties: { finished_at: { type: 'string' }, bytes: { type: 'integer' } } },
    },
    restoreTest: {
      type: ['object', 'null'],
      properties: {
        status: { type: 'string', enum: ['passed', 'failed'] },
        at: { type: 'string' },
        file: { type: 'string' },
      },
    },
    nextRun: { ...nullableString, description: 'ISO time of the next scheduled backup.' },
    job: {
      type: ['object', 'null'],
      description: 'A backup, restore or restore test of the target that is waiting or running.',
      properties: {
        id: { type: 'string' },
        kind: { type: 'string', enum: ['backup', 'restore', 'restore-test'] },
        state: { type: 'string' },
        phase: nullableString,
        percent: { type: ['number', 'null'] },
      },
    },
    lastFailure: {
      type: ['object', 'null'],
      properties: {
        kind: { type: 'string', enum: ['backup', 'restore-test'] },
        jobId: { type: 'string' },
        at: { type: 'string' },
        reason: { type: 'string' },
      },
    },
  },
  required: ['name', 'status', 'reasons', 'lastBackup', 'trend', 'restoreTest', 'nextRun', 'job'],
} as const;

function kindOf(job: Job): FleetJob['kind'] | undefined {
  if (job.name === JOB_NAMES.backupCreate) return 'backup';
  if (job.name === JOB_NAMES.restoreRun) return 'restore';
  if (job.name === JOB_NAMES.restoreVerify) return 'restore-test';
  return undefined;
}

function targetOf(job: Job): string | undefined {
  const target = (job.data as { target?: unknown } | undefined)?.target;
  return typeof target === 'string' ? target : undefined;
}

function progressOf(job: Job): { phase: string | null; percent: number | null } {
  const progress = job.progress as { phase?: unknown; percent?: unknown } | number | undefined;
  if (typeof progress === 'number') return { phase: null, percent: progress };
  return {
    phase: typeof progress?.phase === 'string' ? progress.phase : null,
    percent: typeof progress?.percent === 'number' ? progress.percent : null,
  };
}

/** First line of a failure reason, short enough for a table cell. */
function shortReason(reason: string | undefined): string {
  const line = (reason ?? 'unknown error').split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/**
 * `GET /api/admin/fleet`: one row per target with status and why, last good backup, size trend,
 * last restore test, next run and running job — the console's overview, in one request however
 * many targets there are.
 */
export function registerFleetRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { config, queues, storage } = deps;
  // Kept between requests (the console reloads it every 15 s): a load lists each target's keys and
  // reads only the manifests that are new or were rewritten since (docs/fleet.md).
  const summaries = createManifestSummaries({ storage });

  admin.get<{ Querystring: FleetQuery }>(
    '/fleet',
    {
      schema: {
        summary: 'Every target at a glance: status and why, last backup, trend, restore test, jobs',
        description: 'Rows come problems first (failing, degraded, healthy), then by name.',
        tags: ['targets'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { target: { ...targetNameSchema, description: 'Only this target.' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              generatedAt: { type: 'string' },
              backupEnabled: { type: 'boolean' },
              restoreVerifyEnabled: { type: 'boolean' },
              counts: {
                type: 'object',
                properties: {
                  failing: { type: 'integer' },
                  degraded: { type: 'integer' },
                  healthy: { type: 'integer' },
                },
              },
              targets: { type: 'array', items: fleetRowSchema },
            },
            required: ['generatedAt', 'counts', 'targets'],
          },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      const only =
        request.query.target === undefined ? undefined : resolveTarget(config, request.query.target);
      const targets = only ? [only] : config.targets;
      const unfinished = async (state: (typeof UNFINISHED_STATES)[number]) =>
        (
          await Promise.all(
            [queues.backups, queues.restores].map((queue) => queue.getJobs([state], 0, JOBS_READ - 1)),
          )
        )
          .flat()
          .map((job) => ({ job, state }));
      const [manifests, schedules, unfinishedJobs, backupFailed, restoreFailed] = await Promise.all([
        mapBounded(targets, TARGETS_READ_AT_ONCE, (target) =>
          fleetManifestsOf(summaries.newestFirst(target.name, TREND_LENGTH), target),
        ).then((lists) => lists.flat()),
        listSchedules(queues),
        Promise.all(UNFINISHED_STATES.map(unfinished)).then((lists) => lists.flat()),
        queues.backups.getJobs(['failed'], 0, FAILURES_READ - 1),
        queues.restores.getJobs(['failed'], 0, FAILURES_READ - 1),
      ]);

      const nextRuns = new Map<string, string>();
      for (const schedule of schedules) {
        if (schedule.jobName === JOB_NAMES.backupCreate && schedule.target && schedule.next) {
          nextRuns.set(schedule.target, schedule.next);
        }
      }

      // Listed most advanced state first, so a running job wins the target's single job cell.
      const jobs = new Map<string, FleetJob>();
      for (const { job, state } of unfinishedJobs) {
        const target = job ? targetOf(job) : undefined;
        const kind = job ? kindOf(job) : undefined;
        if (!job?.id || !target || !kind || jobs.has(target)) continue;
        // A scheduler keeps its next run as a delayed job; only a started one (waiting for an upload
        // retry or a back-off) is work in progress.
        if (state === 'delayed' && !job.processedOn) continue;
        jobs.set(target, { id: job.id, kind, state, ...progressOf(job) });
      }

      const failures = new Map<string, FleetFailure[]>();
      for (const job of [...backupFailed, ...restoreFailed]) {
        const target = job ? targetOf(job) : undefined;
        const kind = job ? kindOf(job) : undefined;
        if (!job?.id || !target || (kind !== 'backup' && kind !== 'restore-test')) continue;
        const at = new Date(job.finishedOn ?? job.timestamp).toISOString();
        const list = failures.get(target) ?? [];
        const existing = list.find((failure) => failure.kind === kind);
        if (existing && Date.parse(existing.at) >= Date.parse(at)) continue;
        const others = list.filter((failure) => failure.kind !== kind);
        const next = [...others, { kind, jobId: job.id, at, reason: shortReason(job.failedReason) }];
        failures.set(
          target,
          next.sort((a, b) => Date.parse(b.at) - Date.parse(a.at)),
        );
      }

      const rows = summariseFleet({
        targets,
        backupEnabled: config.backup.enabled,
        restoreVerifyEnabled: config.restoreVerify.enabled,
        manifests,
        nextRuns,
        jobs,
        failures,
        graceMs: BACKUP_GRACE_MS,
        now: new Date(),
      });
      const counts = { failing: 0, degraded: 0, healthy: 0 };
      for (const row of rows) counts[row.status] += 1;
      return {
        generatedAt: new Date().toISOString(),
        backupEnabled: config.backup.enabled,
        restoreVerifyEnabled: config.restoreVerify.enabled,
        counts,
        targets: rows,
      };
    },
  );
}
