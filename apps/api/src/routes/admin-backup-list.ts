import type { BackupManifest } from '@warden/catalog';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { MESSAGE_KEYWORD } from '../plugins/error-handler.js';
import { ADMIN_SECURITY, adminErrorResponses, targetNameSchema } from './schemas.js';

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

function toSummary(manifest: BackupManifest) {
  return { ...manifest, encrypted: manifest.encryption !== undefined };
}

/** `GET /backups`: the catalog's backups, newest first, a page at a time. */
export function registerBackupListRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { catalog } = deps;

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
}
