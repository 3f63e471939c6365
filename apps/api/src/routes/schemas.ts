import { DATABASE_NAME_RULE, TARGET_NAME_PATTERN, TARGET_NAME_RULE } from '@warden/names';
import { MESSAGE_KEYWORD } from '../plugins/error-handler.js';

/**
 * JSON schemas shared by the admin routes. Fastify validates requests with them (bodies strictly:
 * no coercion, unknown fields rejected) and @fastify/swagger publishes them at `/docs/json`.
 * `x-message` is the phrase a failed `pattern` reports.
 */

export const targetNameSchema = {
  type: 'string',
  pattern: TARGET_NAME_PATTERN.source,
  [MESSAGE_KEYWORD]: TARGET_NAME_RULE,
  description: 'Name of a configured backup target.',
} as const;

/** A plain file name: no path separators, no "..", so it can never leave the target's folder. */
export const BACKUP_FILE_PATTERN = /^(?:latest|(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,250})$/;

export const backupFileSchema = {
  type: 'string',
  pattern: BACKUP_FILE_PATTERN.source,
  [MESSAGE_KEYWORD]:
    'must be "latest" or a backup file name as listed by GET /api/admin/backups (letters, digits, ".", "_", "-"; no path separators or "..")',
  description: 'A backup file name of the target, or "latest" for its newest backup.',
  examples: ['latest', 'app_production_20251015_121644.sql.gz'],
} as const;

/** Any name PostgreSQL accepts; the 63-byte limit (not expressible here) is checked by the route. */
export const databaseNameSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]+$',
  [MESSAGE_KEYWORD]: DATABASE_NAME_RULE,
} as const;

export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:_.-]{0,199}$/;

export const errorResponseSchema = {
  type: 'object',
  description: 'Every error: a stable code and a plain message (never a stack trace).',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
      },
      required: ['code', 'message'],
      additionalProperties: true,
    },
  },
  required: ['error'],
} as const;

/** Error answers every admin route may give besides its own. */
export const adminErrorResponses = {
  400: errorResponseSchema,
  401: errorResponseSchema,
  403: errorResponseSchema,
  429: errorResponseSchema,
  500: errorResponseSchema,
  503: errorResponseSchema,
} as const;

export const ADMIN_SECURITY = [{ bearerAuth: [] }];
