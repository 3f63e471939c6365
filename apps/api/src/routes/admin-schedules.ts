import type { FastifyInstance } from 'fastify';
import type { WardenQueues } from '../deps.js';
import { listSchedules } from '../schedules.js';
import { ADMIN_SECURITY, adminErrorResponses } from './schemas.js';

const nullableString = { type: ['string', 'null'] } as const;

export function registerScheduleRoutes(admin: FastifyInstance, queues: WardenQueues): void {
  admin.get(
    '/schedules',
    {
      schema: {
        summary: 'Every job scheduler with its cron, timezone and next run',
        tags: ['schedules'],
        security: ADMIN_SECURITY,
        response: {
          200: {
            type: 'object',
            properties: {
              schedules: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    queue: { type: 'string' },
                    jobName: { type: 'string' },
                    pattern: nullableString,
                    every: { type: ['integer', 'null'], description: 'Interval in milliseconds.' },
                    timezone: nullableString,
                    next: { ...nullableString, description: 'ISO time of the next run.' },
                    target: nullableString,
                  },
                },
              },
            },
            required: ['schedules'],
          },
          ...adminErrorResponses,
        },
      },
    },
    async () => ({ schedules: await listSchedules(queues) }),
  );
}
