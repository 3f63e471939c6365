import { randomUUID } from 'node:crypto';
import { JOB_NAMES, QUEUE_NAMES, type RestoreVerifyJobData, restoreVerifyJobSchema } from '@warden/queue';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { jobStatusUrl, RESTORE_VERIFY_JOB_OPTIONS } from '../job-options.js';
import { resolveTarget } from '../targets.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, targetNameSchema } from './schemas.js';

interface RestoreTestBody {
  target?: string;
}

/**
 * `POST /api/admin/restore-tests`: the scheduled restore test of a target's newest backup, now.
 * The worker restores it into a scratch database, compares it with the manifest, drops the scratch
 * database and records `passed` or `failed` in the manifest.
 */
export function registerRestoreTestRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { config, queues, catalog } = deps;
  admin.post<{ Body: RestoreTestBody }>(
    '/restore-tests',
    {
      schema: {
        summary: "Test-restore a target's newest backup now",
        description:
          'Answers 202 with the job; `GET /api/admin/jobs/:id` follows it to `completed` (result `passed`) or `failed`.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            target: { ...targetNameSchema, description: 'Target to test; optional when only one.' },
          },
        },
        response: {
          202: {
            type: 'object',
            properties: {
              jobId: { type: 'string' },
              target: { type: 'string' },
              statusUrl: { type: 'string' },
            },
            required: ['jobId', 'target', 'statusUrl'],
          },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const target = resolveTarget(config, request.body.target);
      const [newest] = await catalog.listBackups({ target: target.name, limit: 1 });
      if (!newest) {
        throw new ApiError(
          404,
          API_ERROR_CODES.backupNotFound,
          `target "${target.name}" has no backups yet; there is nothing to test`,
        );
      }
      const data: RestoreVerifyJobData = { target: target.name, trigger: 'api' };
      restoreVerifyJobSchema.parse(data);
      const requestedId = `restore-test-${target.name}-${randomUUID()}`;
      const job = await queues.restores.add(JOB_NAMES.restoreVerify, data, {
        ...RESTORE_VERIFY_JOB_OPTIONS,
        // Asked for by a person who is watching: one attempt, the answer now.
        attempts: 1,
        jobId: requestedId,
      });
      const jobId = job.id ?? requestedId;
      request.log.info({ jobId, target: target.name }, 'restore test requested');
      return reply
        .code(202)
        .send({ jobId, target: target.name, statusUrl: jobStatusUrl(jobId, QUEUE_NAMES.restores) });
    },
  );
}
