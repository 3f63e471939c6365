import type { HealthReport } from '@warden/probes';
import type { FastifyInstance } from 'fastify';

/**
 * `GET /health` is liveness: it touches no dependency, so a Redis or database outage never makes an
 * orchestrator restart the API. `GET /health/detailed` answers with the latest probe results (each
 * service with its `checked_at`) and 503 when they are unhealthy, which is what uptime monitors key on.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  health: { detailed(): Promise<HealthReport> },
  service: string,
): void {
  const startedAt = Date.now();
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness (no dependencies touched)',
        tags: ['health'],
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['healthy'] },
              timestamp: { type: 'integer', description: 'Unix seconds.' },
              service: { type: 'string' },
              uptime_seconds: { type: 'number' },
            },
          },
        },
      },
    },
    async () => ({
      status: 'healthy' as const,
      timestamp: Math.floor(Date.now() / 1000),
      service,
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
    }),
  );

  app.get(
    '/health/detailed',
    {
      schema: {
        summary: 'Latest probe results of every dependency; 503 when unhealthy',
        tags: ['health'],
      },
    },
    async (request, reply) => {
      let report: HealthReport;
      try {
        report = await health.detailed();
      } catch (error) {
        // The probes report failures as statuses; reaching here means the checker itself broke.
        request.log.error({ err: error }, 'health check failed');
        report = {
          status: 'unhealthy',
          timestamp: Math.floor(Date.now() / 1000),
          services: { health_check: { status: 'unhealthy', error: 'the health check itself failed' } },
        };
      }
      return reply.code(report.status === 'unhealthy' ? 503 : 200).send(report);
    },
  );
}
