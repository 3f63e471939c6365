import type { Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { WardenQueues } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { MESSAGE_KEYWORD } from '../plugins/error-handler.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, JOB_ID_PATTERN } from './schemas.js';

/** Queues searched for a job id, in order; API job ids carry their kind, so they never collide. */
const SEARCHED_QUEUES = ['backups', 'restores', 'probes'] as const;

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

export function registerJobRoutes(admin: FastifyInstance, queues: WardenQueues): void {
  admin.get<{ Params: { id: string } }>(
    '/jobs/:id',
    {
      schema: {
        summary: 'State of a backup or restore job',
        tags: ['jobs'],
        security: ADMIN_SECURITY,
        params: {
          type: 'object',
          properties: {
            id: {
              type: 'string',
              pattern: JOB_ID_PATTERN.source,
              [MESSAGE_KEYWORD]: 'must be a job id as returned by POST /api/admin/backup',
            },
          },
          required: ['id'],
        },
        response: {
          200: {
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
              result: { description: 'The return value (SPEC B6 for backups) once completed.' },
              failedReason: { type: 'string' },
              timestamps: timestampsSchema,
            },
            required: ['id', 'queue', 'name', 'state', 'attempts', 'timestamps'],
          },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      for (const name of SEARCHED_QUEUES) {
        const job = await queues[name].getJob(request.params.id);
        if (job) return describeJob(name, job);
      }
      throw new ApiError(
        404,
        API_ERROR_CODES.jobNotFound,
        `no job "${request.params.id}" in the backups, restores or probes queues`,
      );
    },
  );
}
