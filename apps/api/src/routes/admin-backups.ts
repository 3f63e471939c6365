import { randomUUID } from 'node:crypto';
import { type BackupManifest, dumpKeyFor } from '@warden/catalog';
import { databaseNameProblem } from '@warden/names';
import {
  type BackupJobData,
  backupJobSchema,
  JOB_NAMES,
  QUEUE_NAMES,
  type RestoreJobData,
  restoreJobSchema,
} from '@warden/queue';
import type { Job, Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { BACKUP_JOB_OPTIONS, jobStatusUrl, RESTORE_JOB_OPTIONS } from '../job-options.js';
import { MESSAGE_KEYWORD } from '../plugins/error-handler.js';
import { isSourceDatabase, resolveTarget } from '../targets.js';
import {
  ADMIN_SECURITY,
  adminErrorResponses,
  backupFileSchema,
  databaseNameSchema,
  errorResponseSchema,
  targetNameSchema,
} from './schemas.js';

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

interface RestoreBody {
  file: string;
  target?: string;
  database?: string;
  dryRun?: boolean;
  overwrite?: boolean;
}

interface BackupsQuery {
  target?: string;
  limit?: string;
  before?: string;
}

const DEFAULT_PAGE_SIZE = 50;
/** A file name or an ISO time: what the catalog accepts as a paging cursor. */
const BEFORE_CURSOR_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.:+-]{0,250}$/;
/** docs/architecture.md#backup-names names end in their UTC start time, so the catalog can page by a name it no longer holds. */
const BACKUP_FILE_NAME_WITH_TIME = /_\d{8}_\d{6}\.sql\.(?:gz|zst)$/;

/** The backup record clients see (docs/architecture.md#backup-result plus where and when); row counts stay in the manifest. */
const backupSummarySchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    filename: { type: 'string' },
    size_mb: { type: 'number' },
    target: { type: 'string' },
    environment: { type: 'string' },
    database: { type: 'string' },
    bytes: { type: 'integer' },
    sha256: { type: 'string' },
    duration_ms: { type: 'number' },
    location: { type: 'string' },
    key: { type: 'string' },
    compression: { type: 'string' },
    encrypted: { type: 'boolean' },
    started_at: { type: 'string' },
    finished_at: { type: 'string' },
    trigger: { type: 'string' },
    job_id: { type: 'string' },
    server_version: { type: 'string' },
    verification: { type: 'object', additionalProperties: true },
  },
} as const;

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

function toSummary(manifest: BackupManifest) {
  return { ...manifest, encrypted: manifest.encryption !== undefined };
}

export function registerBackupRoutes(
  admin: FastifyInstance,
  deps: AppDeps,
  options: BackupRoutesOptions,
): void {
  const { config, queues, catalog, storage } = deps;

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

  admin.get<{ Querystring: BackupsQuery }>(
    '/backups',
    {
      schema: {
        summary: 'List stored backups, newest first',
        description:
          'Read from the manifests in storage (the catalog survives losing Redis). Page with `before=<nextBefore>`.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            target: targetNameSchema,
            // Query values are strings; bodies are validated without coercion, so numbers here are
            // matched as text rather than coerced by a second validator.
            limit: {
              type: 'string',
              pattern: '^(?:[1-9][0-9]?|[1-4][0-9]{2}|500)$',
              [MESSAGE_KEYWORD]: 'must be a whole number from 1 to 500',
              description: `Page size, 1-500 (default ${DEFAULT_PAGE_SIZE}).`,
            },
            before: {
              type: 'string',
              maxLength: 255,
              pattern: BEFORE_CURSOR_PATTERN.source,
              [MESSAGE_KEYWORD]:
                'must be an ISO-8601 time or a backup file name (the nextBefore of the previous page)',
              description:
                'Only backups older than this: the `nextBefore` of the previous page (a file name) or an ISO-8601 time.',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              backups: { type: 'array', items: backupSummarySchema },
              nextBefore: {
                type: ['string', 'null'],
                description: 'Pass as `before` for the next page; null on the last page.',
              },
            },
            required: ['backups', 'nextBefore'],
          },
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(request.query.limit);
      const listOptions: { target?: string; limit: number; before?: string } = { limit: limit + 1 };
      if (request.query.target !== undefined) listOptions.target = request.query.target;
      const before = request.query.before;
      if (before !== undefined) {
        if (!BACKUP_FILE_NAME_WITH_TIME.test(before) && Number.isNaN(Date.parse(before))) {
          throw new ApiError(
            400,
            API_ERROR_CODES.validationFailed,
            'querystring.before must be an ISO-8601 time or a backup file name (the nextBefore of the previous page)',
          );
        }
        listOptions.before = before;
      }
      const manifests = await catalog.listBackups(listOptions);
      const page = manifests.slice(0, limit);
      const hasMore = manifests.length > limit;
      return { backups: page.map(toSummary), nextBefore: hasMore ? (page.at(-1)?.filename ?? null) : null };
    },
  );

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
