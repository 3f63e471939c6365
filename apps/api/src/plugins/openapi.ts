import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, onRequestAsyncHookHandler, RouteOptions } from 'fastify';
import { isReadMethod } from './auth.js';

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
          'Back up and restore PostgreSQL targets, follow jobs and schedules. Every error answers `{ "error": { "code", "message" } }`. ' +
          'GET routes accept ADMIN_API_TOKEN or VIEWER_API_TOKEN; every other method needs ADMIN_API_TOKEN (the viewer token gets 403 FORBIDDEN). ' +
          'Without ADMIN_API_TOKEN configured, only loopback clients naming a loopback Host are served.',
        version,
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN: every route.' },
          viewerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'VIEWER_API_TOKEN: read-only, GET routes only; anything else answers 403 FORBIDDEN.',
          },
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

const READ_SECURITY = [{ bearerAuth: [] }, { viewerAuth: [] }];
const WRITE_SECURITY = [{ bearerAuth: [] }];

/**
 * An `onRoute` hook for the admin routes: states in each operation which token it needs, from its
 * method, so that a route added later cannot be documented wrongly. @fastify/swagger keeps the
 * route options and reads the schema when `/docs/json` is first asked for, after this ran.
 */
export function documentRouteAccess(route: RouteOptions): void {
  if (route.schema === undefined || route.method === 'HEAD') return;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const adminOnly = route.config?.adminOnly === true;
  const reads = methods.every((method) => isReadMethod(method)) && !adminOnly;
  const needs = reads
    ? 'Needs ADMIN_API_TOKEN or VIEWER_API_TOKEN.'
    : 'Needs ADMIN_API_TOKEN (VIEWER_API_TOKEN gets 403 FORBIDDEN).';
  const schema = route.schema as { security?: unknown; description?: string };
  schema.security = reads ? READ_SECURITY : WRITE_SECURITY;
  schema.description = [schema.description, needs].filter(Boolean).join('\n\n');
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
