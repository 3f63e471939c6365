import type { WardenConfig } from '@warden/config';
import { findRestoredDatabases } from '@warden/probes';
import type { FastifyInstance } from 'fastify';
import { ADMIN_SECURITY, adminErrorResponses } from './schemas.js';

/**
 * `GET /restored-databases`: the databases restores created and left on the targets' servers, so
 * an operator can drop the ones nobody needs (Warden never drops a restore's result itself).
 */
export function registerRestoredDatabaseRoutes(admin: FastifyInstance, config: WardenConfig): void {
  admin.get(
    '/restored-databases',
    {
      schema: {
        summary: 'Databases restores created and left on the servers',
        description:
          'Found by the names restores give the databases they create (<database>_restore_<YYYYMMDD_HHMMSS>, and the scratch names of restore tests and overwrites). Drop one with DROP DATABASE once it is no longer needed.',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        response: {
          200: {
            type: 'object',
            properties: {
              databases: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    target: { type: 'string' },
                    database: { type: 'string' },
                    kind: { type: 'string', enum: ['restore', 'verify', 'incoming', 'replaced'] },
                    created_at: { type: 'string' },
                    bytes: { type: 'integer' },
                  },
                },
              },
              errors: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { target: { type: 'string' }, error: { type: 'string' } },
                },
              },
            },
            required: ['databases', 'errors'],
          },
          ...adminErrorResponses,
        },
      },
    },
    async () =>
      findRestoredDatabases(
        config.targets.map((target) => ({
          name: target.name,
          database: target.database,
          url: target.databaseUrl,
        })),
      ),
  );
}
