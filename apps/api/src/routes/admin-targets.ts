import type { WardenConfig } from '@warden/config';
import type { FastifyInstance } from 'fastify';
import { ADMIN_SECURITY, adminErrorResponses } from './schemas.js';

export function registerTargetRoutes(admin: FastifyInstance, config: WardenConfig): void {
  admin.get(
    '/targets',
    {
      schema: {
        summary: 'Configured backup targets (never their connection URLs)',
        tags: ['targets'],
        security: ADMIN_SECURITY,
        response: {
          200: {
            type: 'object',
            properties: {
              backupEnabled: { type: 'boolean', description: 'False when BACKUP_ENABLED=false.' },
              targets: {
                type: 'array',
                // An explicit list: the response serializer drops every other field (the URL).
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    environment: { type: 'string' },
                    database: { type: 'string' },
                    schedule: { type: 'string' },
                    timezone: { type: 'string' },
                    retentionDays: { type: 'integer' },
                    keepLast: { type: 'integer' },
                    enabled: { type: 'boolean' },
                  },
                },
              },
            },
            required: ['backupEnabled', 'targets'],
          },
          ...adminErrorResponses,
        },
      },
    },
    async () => ({
      backupEnabled: config.backup.enabled,
      targets: config.targets.map((target) => ({
        name: target.name,
        environment: target.environment,
        database: target.database,
        schedule: target.schedule,
        timezone: target.timezone,
        retentionDays: target.retentionDays,
        keepLast: target.keepLast,
        enabled: target.enabled,
      })),
    }),
  );
}
