import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';

export const DOCS_PATH = '/docs';

/**
 * Collects the route schemas into an OpenAPI 3.1 description. Must be registered before the routes
 * it describes.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Warden admin API',
        description:
          'Back up and restore PostgreSQL targets, follow jobs and schedules. Every error answers `{ "error": { "code", "message" } }`.',
        version,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN' },
        },
      },
      tags: [
        { name: 'backups', description: 'Backups and restores' },
        { name: 'jobs', description: 'Queued work' },
        { name: 'schedules', description: 'Job schedulers' },
        { name: 'targets', description: 'Configured databases' },
        { name: 'health', description: 'Liveness and probes' },
      ],
    },
  });
}

/**
 * Swagger UI at `/docs` and the description at `/docs/json`, behind the admin auth like Bull Board:
 * the description is no secret, but it maps the whole admin surface, and anyone who can use that
 * surface holds the token anyway (a browser sends it as Basic credentials).
 */
export async function registerDocsUi(
  app: FastifyInstance,
  guards: readonly onRequestAsyncHookHandler[],
): Promise<void> {
  await app.register(async (scope) => {
    for (const guard of guards) scope.addHook('onRequest', guard);
    await scope.register(swaggerUi, { routePrefix: DOCS_PATH });
  });
}
