import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { ADMIN_SECURITY, adminErrorResponses } from './schemas.js';

interface AlertsQuery {
  limit?: string;
}

const DEFAULT_LIMIT = 20;

/** `GET /api/admin/alerts`: the alerts Warden sent recently (any process), newest first. */
export function registerAlertRoutes(admin: FastifyInstance, deps: AppDeps): void {
  admin.get<{ Querystring: AlertsQuery }>(
    '/alerts',
    {
      schema: {
        summary: 'Recent alerts (Slack, or only logged without a webhook), newest first',
        tags: ['health'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: {
              type: 'string',
              pattern: '^(?:[1-9]\\d?|1\\d\\d|200)$',
              description: '1-200, default 20.',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              alerts: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    at: { type: 'string' },
                    key: { type: 'string' },
                    level: { type: 'string', enum: ['error', 'warning', 'info', 'success'] },
                    title: { type: 'string' },
                    text: { type: 'string' },
                    outcome: { type: 'string', enum: ['sent', 'logged', 'failed'] },
                  },
                },
              },
            },
            required: ['alerts'],
          },
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? DEFAULT_LIMIT : Number(request.query.limit);
      return { alerts: deps.alerts ? await deps.alerts.recent(limit) : [] };
    },
  );
}
