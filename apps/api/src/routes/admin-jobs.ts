import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { WardenQueues } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { jobStatusUrl, queueOfJobId } from '../job-options.js';
import { MESSAGE_KEYWORD } from '../plugins/error-handler.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, JOB_ID_PATTERN } from './schemas.js';

const QUEUES = ['backups', 'restores', 'probes'] as const;
type WardenQueueName = (typeof QUEUES)[number];

function isoTime(millis: number | undefined): string | null {
  return millis === undefined || millis === null || millis <= 0 ? null : new Date(millis).toISOString();
}

async function describeJob(queueName: string, job: Job) {
  const state = await job.getState();
  return {
    id: job.id ?? '',
    queue: queueName,
    name: job.name,
    state,
    progress: job.progress,
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    data: job.data as unknown,
    ...(state === 'completed' ? { result: job.returnvalue as unknown } : {}),
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    timestamps: {
      created: isoTime(job.timestamp),
      processed: isoTime(job.processedOn),
      finished: isoTime(job.finishedOn),
      ...(state === 'delayed' && job.delay > 0 ? { runAt: isoTime(job.timestamp + job.delay) } : {}),
    },
  };
}

const timestampsSchema = {
  type: 'object',
  properties: {
    created: { type: ['string', 'null'] },
    processed: { type: ['string', 'null'] },
    finished: { type: ['string', 'null'] },
    runAt: { type: ['string', 'null'] },
  },
} as const;

const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    queue: { type: 'string' },
    name: { type: 'string' },
    state: {
      type: 'string',
      description:
        "BullMQ's state word: waiting, delayed, prioritized, active, completed, failed, waiting-children or unknown.",
    },
    progress: {},
    attempts: { type: 'integer', description: 'Attempts made so far.' },
    maxAttempts: { type: 'integer' },
    data: {},
    result: {
      description: 'The return value (docs/architecture.md#backup-result for backups) once completed.',
    },
    failedReason: { type: 'string' },
    timestamps: timestampsSchema,
  },
  required: ['id', 'queue', 'name', 'state', 'attempts', 'timestamps'],
} as const;

const jobIdParam = {
  type: 'string',
  pattern: JOB_ID_PATTERN.source,
  [MESSAGE_KEYWORD]: 'must be a job id as returned by POST /api/admin/backup',
} as const;

function jobNotFound(id: string, where: string): ApiError {
  return new ApiError(404, API_ERROR_CODES.jobNotFound, `no job "${id}" in ${where}`);
}

/**
 * `GET /jobs/:id`. Each queue numbers the jobs added without an id (Bull Board's "add job") on its
 * own, so such an id can exist in several queues: `?queue=` names the queue. Without it the route
 * keeps working for every id the API hands out, since those carry their queue (see
 * `queueOfJobId`); any other id is looked up in every queue and answered 409 `JOB_ID_AMBIGUOUS` when
 * more than one holds it.
 */
export function registerJobRoutes(admin: FastifyInstance, queues: WardenQueues): void {
  admin.get<{ Params: { id: string }; Querystring: { queue?: WardenQueueName } }>(
    '/jobs/:id',
    {
      schema: {
        summary: 'State of a backup, restore or probe job',
        description:
          'An id without `queue` that several queues hold (jobs added in Bull Board are numbered per queue) answers 409 JOB_ID_AMBIGUOUS with the URL of each.',
        tags: ['jobs'],
        security: ADMIN_SECURITY,
        params: {
          type: 'object',
          properties: { id: jobIdParam },
          required: ['id'],
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queue: {
              type: 'string',
              enum: [...QUEUES],
              description: 'The queue holding the job; needed only for ids the API did not hand out.',
            },
          },
        },
        response: {
          200: jobSchema,
          404: errorResponseSchema,
          409: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const owner = request.query.queue ?? queueOfJobId(id);
      if (owner) {
        const job = await queues[owner].getJob(id);
        if (!job) throw jobNotFound(id, `the ${owner} queue`);
        return describeJob(owner, job);
      }
      const found: { queue: WardenQueueName; job: Job }[] = [];
      for (const queue of QUEUES) {
        const job = await queues[queue].getJob(id);
        if (job) found.push({ queue, job });
      }
      const [only, ...others] = found;
      if (!only) throw jobNotFound(id, 'the backups, restores or probes queues');
      if (others.length > 0) {
        throw new ApiError(
          409,
          API_ERROR_CODES.jobIdAmbiguous,
          `job id "${id}" exists in the ${found.map((entry) => entry.queue).join(' and ')} queues; name one with ?queue=`,
          { urls: found.map((entry) => jobStatusUrl(id, entry.queue)) },
        );
      }
      return describeJob(only.queue, only.job);
    },
  );
}
