import { readManifest } from '@warden/catalog';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { resolveTarget } from '../targets.js';
import {
  ADMIN_SECURITY,
  adminErrorResponses,
  backupFileSchema,
  errorResponseSchema,
  targetNameSchema,
} from './schemas.js';

interface DownloadParams {
  target: string;
  file: string;
}

/** Header carrying the stored object's hex SHA-256, as recorded in its manifest. */
export const CHECKSUM_HEADER = 'x-checksum-sha256';

const CONTENT_TYPES = { gzip: 'application/gzip', zstd: 'application/zstd' } as const;

/**
 * `GET /api/admin/backups/:target/:file/download` streams one stored backup through the API, so an
 * operator needs no storage credentials. The manifest's SHA-256 goes in `X-Checksum-SHA256` (hex)
 * and `Repr-Digest` (RFC 9530), so the client can check what it received.
 */
export function registerBackupDownloadRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { config, storage } = deps;
  admin.get<{ Params: DownloadParams }>(
    '/backups/:target/:file/download',
    {
      // A backup holds the whole database: reading it is an admin's right, not a viewer's.
      config: { adminOnly: true },
      schema: {
        summary: 'Download one stored backup (the dump file itself)',
        description:
          'Streams the stored object. `X-Checksum-SHA256` carries its hex SHA-256 from the manifest, `Repr-Digest` the same as RFC 9530 base64.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        params: {
          type: 'object',
          properties: { target: targetNameSchema, file: backupFileSchema },
          required: ['target', 'file'],
        },
        response: {
          200: { description: 'The backup file.', type: 'string', format: 'binary' },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const target = resolveTarget(config, request.params.target);
      const file = request.params.file;
      const manifest = file === 'latest' ? undefined : await readManifest(storage, target.name, file);
      if (!manifest) {
        throw new ApiError(
          404,
          API_ERROR_CODES.backupNotFound,
          `backup "${file}" of target "${target.name}" not found; GET /api/admin/backups?target=${target.name} lists them`,
        );
      }
      const body = await storage.read(manifest.key);
      request.log.info({ target: target.name, file }, 'backup download');
      return reply
        .header(
          'content-type',
          manifest.encryption ? 'application/octet-stream' : CONTENT_TYPES[manifest.compression],
        )
        .header('content-length', String(manifest.bytes))
        .header('content-disposition', `attachment; filename="${manifest.filename}"`)
        .header(CHECKSUM_HEADER, manifest.sha256)
        .header('repr-digest', `sha-256=:${Buffer.from(manifest.sha256, 'hex').toString('base64')}:`)
        .header('cache-control', 'no-store')
        .send(body);
    },
  );
}
