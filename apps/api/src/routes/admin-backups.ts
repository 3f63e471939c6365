import { randomUUID } from 'node:crypto';
import { type BackupJobData, backupJobSchema, JOB_NAMES, QUEUE_NAMES } from '@warden/queue';
import type { Job, Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { BACKUP_JOB_OPTIONS, jobStatusUrl } from '../job-options.js';
import { resolveTarget } from '../targets.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, targetNameSchema } from './schemas.js';

export interface BackupRoutesOptions {
  deduplicateBackups: boolean;
}

interface BackupBody {
  target?: string;
  /** Bulk form: these targets, each queued (or answered with its unfinished backup) on its own. */
  targets?: string[];
  /** Bulk form: every enabled target. */
  all?: boolean;
  reason?: string;
}

/** Most targets one bulk request may name; `all` covers any fleet. */
const MAX_BULK_TARGETS = 1_000;

const jobAcceptedSchema = {
  type: 'object',
  properties: {
    jobId: { type: 'string' },
    target: { type: 'string' },
    statusUrl: { type: 'string' },
    deduplicated: {
      type: 'boolean',
      description: 'True when a backup of the target was already waiting or running and is answered instead.',
    },
  },
  required: ['jobId', 'target', 'statusUrl'],
} as const;

/**
 * A backup of the target that is already waiting or running, including one a scheduler made
 * (BullMQ's deduplication only covers jobs added with the same deduplication id).
 */
async function unfinishedBackups(queue: Queue, last: number): Promise<Map<string, Job>> {
  const byTarget = new Map<string, Job>();
  for (const job of await queue.getJobs(['active', 'waiting', 'prioritized'], 0, last)) {
    const target = (job?.data as { target?: unknown } | undefined)?.target;
    if (job?.name === JOB_NAMES.backupCreate && typeof target === 'string' && !byTarget.has(target)) {
      byTarget.set(target, job);
    }
  }
  return byTarget;
}

/** `POST /backup`: queue a backup of one target, of several, or of all, each deduplicated. */
export function registerBackupRoutes(
  admin: FastifyInstance,
  deps: AppDeps,
  options: BackupRoutesOptions,
): void {
  const { config, queues } = deps;

  admin.post<{ Body: BackupBody }>(
    '/backup',
    {
      schema: {
        summary: 'Queue a backup of a target, of several, or of all',
        description:
          'Answers 202 with the job. A backup of the target that is already waiting or running is answered instead of queueing a second one. The bulk form (`targets` or `all`) answers `{ "jobs": [...] }`, one entry per target, each deduplicated the same way; an unknown target refuses the whole request.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            target: {
              ...targetNameSchema,
              description: 'Target to back up; optional when only one is configured.',
            },
            targets: {
              type: 'array',
              items: targetNameSchema,
              minItems: 1,
              maxItems: MAX_BULK_TARGETS,
              description: 'Bulk form: back up each of these targets.',
            },
            all: { type: 'boolean', description: 'Bulk form: back up every enabled target.' },
            reason: { type: 'string', maxLength: 200, description: 'Free text kept with the job.' },
          },
        },
        response: {
          202: {
            oneOf: [
              jobAcceptedSchema,
              {
                type: 'object',
                properties: { jobs: { type: 'array', items: jobAcceptedSchema } },
                required: ['jobs'],
              },
            ],
          },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const bulk = body.targets !== undefined || body.all !== undefined;
      if (bulk && body.target !== undefined) {
        throw new ApiError(
          400,
          API_ERROR_CODES.validationFailed,
          'body: give "target", "targets" or "all", not several',
        );
      }
      if (body.targets !== undefined && body.all !== undefined) {
        throw new ApiError(400, API_ERROR_CODES.validationFailed, 'body: give "targets" or "all", not both');
      }
      if (body.all === false) {
        throw new ApiError(400, API_ERROR_CODES.validationFailed, 'body.all: must be true when given');
      }
      const names = bulk
        ? body.all
          ? config.targets.filter((target) => target.enabled).map((target) => target.name)
          : [...new Set(body.targets)]
        : [resolveTarget(config, body.target).name];
      if (bulk && body.targets !== undefined) {
        const known = new Set(config.targets.map((target) => target.name));
        const unknown = names.filter((name) => !known.has(name));
        if (unknown.length > 0) {
          throw new ApiError(
            404,
            API_ERROR_CODES.targetNotFound,
            `unknown target(s) ${unknown.map((name) => `"${name}"`).join(', ')}; nothing was queued`,
            { targets: config.targets.map((target) => target.name) },
          );
        }
      }
      // One read of the unfinished backups answers every target (a scheduler's job included).
      const unfinished = options.deduplicateBackups
        ? await unfinishedBackups(queues.backups, bulk ? -1 : 99)
        : new Map<string, Job>();
      const queueOne = async (target: string) => {
        const data: BackupJobData = { target, trigger: 'api' };
        if (body.reason !== undefined) data.reason = body.reason;
        backupJobSchema.parse(data);
        const existing = unfinished.get(target);
        if (existing?.id) {
          return {
            jobId: existing.id,
            target,
            statusUrl: jobStatusUrl(existing.id, QUEUE_NAMES.backups),
            deduplicated: true,
          };
        }
        const requestedId = `backup-${target}-${randomUUID()}`;
        const job = await queues.backups.add(JOB_NAMES.backupCreate, data, {
          ...BACKUP_JOB_OPTIONS,
          jobId: requestedId,
          // Without a ttl the key lives until the job completes or finally fails: exactly "waiting or
          // running". Atomic in Redis, so two racing requests still get one job.
          ...(options.deduplicateBackups ? { deduplication: { id: `backup:${target}` } } : {}),
        });
        const jobId = job.id ?? requestedId;
        return {
          jobId,
          target,
          statusUrl: jobStatusUrl(jobId, QUEUE_NAMES.backups),
          deduplicated: jobId !== requestedId,
        };
      };
      if (!bulk) {
        const accepted = await queueOne(names[0] as string);
        request.log.info(
          { jobId: accepted.jobId, target: accepted.target, deduplicated: accepted.deduplicated },
          'backup requested',
        );
        return reply.code(202).send(accepted);
      }
      const jobs = [];
      // In chunks: a fleet's worth of adds at once would queue thousands of Redis commands in one go.
      for (let start = 0; start < names.length; start += 50) {
        jobs.push(...(await Promise.all(names.slice(start, start + 50).map(queueOne))));
      }
      request.log.info(
        { targets: jobs.length, deduplicated: jobs.filter((job) => job.deduplicated).length },
        'bulk backup requested',
      );
      return reply.code(202).send({ jobs });
    },
  );
}
