import { randomUUID } from 'node:crypto';
import { dumpKeyFor } from '@warden/catalog';
import { databaseNameProblem } from '@warden/names';
import { JOB_NAMES, QUEUE_NAMES, type RestoreJobData, restoreJobSchema } from '@warden/queue';
import type { Job, Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { jobStatusUrl, RESTORE_JOB_OPTIONS } from '../job-options.js';
import { isSourceDatabase, resolveTarget } from '../targets.js';
import {
  ADMIN_SECURITY,
  adminErrorResponses,
  backupFileSchema,
  databaseNameSchema,
  errorResponseSchema,
  targetNameSchema,
} from './schemas.js';

interface RestoreBody {
  file: string;
  target?: string;
  database?: string;
  dryRun?: boolean;
  overwrite?: boolean;
}

/** `POST /backup/restore`: queue a restore of a stored backup, refusing a second one into the same database. */
export function registerRestoreRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { config, queues, catalog, storage } = deps;

  admin.post<{ Body: RestoreBody }>(
    '/backup/restore',
    {
      schema: {
        summary: 'Queue a restore of a backup',
        description:
          'Restores into a new database unless `database` is given. Restoring over the source database of a target needs `overwrite: true`.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['file'],
          properties: {
            file: backupFileSchema,
            target: {
              ...targetNameSchema,
              description: 'Target the backup belongs to; optional when only one.',
            },
            database: {
              ...databaseNameSchema,
              description: 'Database to restore into; default a new `<database>_restore_<timestamp>`.',
            },
            dryRun: {
              type: 'boolean',
              description: 'Check the backup and plan the restore without writing.',
            },
            overwrite: {
              type: 'boolean',
              description: 'Allow restoring over an existing (source) database.',
            },
          },
        },
        response: {
          202: {
            type: 'object',
            properties: {
              jobId: { type: 'string' },
              target: { type: 'string' },
              file: { type: 'string' },
              database: { type: 'string' },
              dryRun: { type: 'boolean' },
              overwrite: { type: 'boolean' },
              statusUrl: { type: 'string' },
            },
            required: ['jobId', 'target', 'file', 'statusUrl'],
          },
          404: errorResponseSchema,
          409: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const target = resolveTarget(config, body.target);
      const overwrite = body.overwrite ?? false;
      const databaseProblem = body.database === undefined ? undefined : databaseNameProblem(body.database);
      if (databaseProblem !== undefined) {
        throw new ApiError(400, API_ERROR_CODES.validationFailed, `body.database: ${databaseProblem}`);
      }
      if (body.database !== undefined && !overwrite && isSourceDatabase(config, target, body.database)) {
        throw new ApiError(
          400,
          API_ERROR_CODES.overwriteRequired,
          `body.database "${body.database}" is a database Warden backs up; restoring over it needs "overwrite": true`,
        );
      }
      await assertBackupExists(target.name, body.file);

      const data: RestoreJobData = {
        target: target.name,
        file: body.file,
        overwrite,
        dryRun: body.dryRun ?? false,
        trigger: 'api',
      };
      if (body.database !== undefined) data.database = body.database;
      restoreJobSchema.parse(data);
      // Two restores into one database would race for it: the second is refused while the first
      // waits or runs. The scan finds any queued one (Bull Board's too); the deduplication id makes
      // two racing requests get one job.
      const into = data.dryRun ? undefined : data.database;
      if (into !== undefined) {
        const queued = await queuedRestoreInto(queues.restores, target.name, into);
        if (queued?.id) throw restoreAlreadyQueued(target.name, into, queued.id);
      }
      const requestedId = `restore-${target.name}-${randomUUID()}`;
      const job = await queues.restores.add(JOB_NAMES.restoreRun, data, {
        ...RESTORE_JOB_OPTIONS,
        jobId: requestedId,
        ...(into === undefined ? {} : { deduplication: { id: `restore:${target.name}:${into}` } }),
      });
      const jobId = job.id ?? '';
      if (jobId !== requestedId) throw restoreAlreadyQueued(target.name, into ?? '', jobId);
      request.log.info(
        { jobId, target: target.name, file: body.file, database: body.database, dryRun: data.dryRun },
        'restore requested',
      );
      return reply.code(202).send({ jobId, ...data, statusUrl: jobStatusUrl(jobId, QUEUE_NAMES.restores) });
    },
  );

  /** A restore of a file that is not there would only fail later in the worker; say so now. */
  async function assertBackupExists(target: string, file: string): Promise<void> {
    if (file === 'latest') {
      const [newest] = await catalog.listBackups({ target, limit: 1 });
      if (!newest) {
        throw new ApiError(404, API_ERROR_CODES.backupNotFound, `target "${target}" has no backups yet`);
      }
      return;
    }
    const stored = await storage.head(dumpKeyFor(target, file));
    if (!stored) {
      throw new ApiError(
        404,
        API_ERROR_CODES.backupNotFound,
        `backup "${file}" of target "${target}" not found; GET /api/admin/backups?target=${target} lists them`,
      );
    }
  }
}

const UNFINISHED_STATES = ['waiting', 'active', 'delayed', 'prioritized'] as const;

/** A `restore.run` of `target` into `database` that waits or runs; the newest few hundred are read. */
async function queuedRestoreInto(queue: Queue, target: string, database: string): Promise<Job | undefined> {
  const jobs = await queue.getJobs([...UNFINISHED_STATES], 0, 499);
  return jobs.find((job) => {
    const data = job?.data as Partial<RestoreJobData> | undefined;
    return (
      job?.name === JOB_NAMES.restoreRun &&
      data?.target === target &&
      data.database === database &&
      data.dryRun !== true
    );
  });
}

function restoreAlreadyQueued(target: string, database: string, jobId: string): ApiError {
  return new ApiError(
    409,
    API_ERROR_CODES.restoreAlreadyQueued,
    `a restore of target "${target}" into database "${database}" is already queued or running (job ${jobId}); wait for it to finish`,
    { jobId, statusUrl: jobStatusUrl(jobId, QUEUE_NAMES.restores) },
  );
}
