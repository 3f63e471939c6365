import type { WardenMetrics } from '@warden/metrics';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_ERROR_CODES, ApiError } from '../errors.js';

/** The part of `@warden/metrics` the API records into and serves. */
export type ApiMetrics = Pick<WardenMetrics, 'registry' | 'httpRequestsTotal' | 'httpRequestDurationSeconds'>;

/** Label for requests that matched no route, so scanners cannot blow up the label cardinality. */
export const UNMATCHED_ROUTE = 'unmatched';

/** The route template (`/api/admin/jobs/:id`), never the raw URL. */
export function routeLabel(request: FastifyRequest): string {
  const template = request.routeOptions.url;
  return request.is404 || template === undefined ? UNMATCHED_ROUTE : template;
}

/**
 * Counts every response by method, route template and status, and serves the registry at
 * `GET /metrics`. Without metrics (`ENABLE_PROMETHEUS=false`) the route answers 404.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: ApiMetrics | undefined): void {
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const labels = {
        method: request.method,
        route: routeLabel(request),
        status_code: String(reply.statusCode),
      };
      metrics.httpRequestsTotal.inc(labels);
      metrics.httpRequestDurationSeconds.observe(labels, reply.elapsedTime / 1000);
    });
  }

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    if (!metrics) {
      throw new ApiError(
        404,
        API_ERROR_CODES.metricsDisabled,
        'metrics are disabled (ENABLE_PROMETHEUS=false)',
      );
    }
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
}
