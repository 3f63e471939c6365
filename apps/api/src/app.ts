import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestAsyncHookHandler,
} from 'fastify';
import { registerConsole } from './console/register-console.js';
import type { AppDeps, BuildAppOptions } from './deps.js';
import { API_ERROR_CODES, ApiError } from './errors.js';
import { createAdminAuth, mayChangeState } from './plugins/auth.js';
import { registerBullBoard } from './plugins/bull-board.js';
import { CONSOLE_REQUEST_HEADER, createCrossSiteGuard } from './plugins/cross-site.js';
import { MESSAGE_KEYWORD, registerErrorHandling } from './plugins/error-handler.js';
import { registerHttpMetrics } from './plugins/http-metrics.js';
import { documentRouteAccess, registerDocsUi, registerOpenApi } from './plugins/openapi.js';
import { registerSecurityHeaders } from './plugins/security-headers.js';
import { createRateLimiter } from './rate-limiter.js';
import { registerAlertRoutes } from './routes/admin-alerts.js';
import { registerBackupDownloadRoutes } from './routes/admin-backup-download.js';
import { registerBackupListRoutes } from './routes/admin-backup-list.js';
import { registerBackupRoutes } from './routes/admin-backups.js';
import { registerFleetRoutes } from './routes/admin-fleet.js';
import { registerJobRoutes } from './routes/admin-jobs.js';
import { registerRestoreTestRoutes } from './routes/admin-restore-tests.js';
import { registerRestoredDatabaseRoutes } from './routes/admin-restored-databases.js';
import { registerRestoreRoutes } from './routes/admin-restores.js';
import { registerRetentionRoutes } from './routes/admin-retention.js';
import { registerScheduleRoutes } from './routes/admin-schedules.js';
import { registerTargetRoutes } from './routes/admin-targets.js';
import { registerHealthRoutes } from './routes/health.js';

export const ADMIN_API_PREFIX = '/api/admin';

/**
 * How often Node looks for requests past their deadline (its default, 30 s, would let a request
 * overrun `HTTP_REQUEST_TIMEOUT_SECONDS` by that much).
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Builds the HTTP app without listening, so tests drive it with `inject()`. The injected queues,
 * storage and clients stay open on `app.close()`: whoever created them closes them.
 */
export async function buildApp(deps: AppDeps, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = deps;
  const { http } = config;

  const app = Fastify({
    // Typed as Fastify's base logger so that route plugins take the plain FastifyInstance type.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Job ids made by schedulers are long (`repeat:backup:<target>:<millis>`).
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
    // A client that trickles its request (slowloris) is cut off once the whole request has not
    // arrived in time (Node answers 408 and closes); an idle connection is closed too.
    requestTimeout: http.requestTimeoutMs,
    connectionTimeout: http.connectionTimeoutMs,
    http: {
      requestTimeout: http.requestTimeoutMs,
      headersTimeout: http.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    // `request.ip` is the client named by X-Forwarded-For only when the peer is a trusted proxy.
    trustProxy: http.trustProxy.length > 0 ? http.trustProxy : false,
    // Router errors (a broken %-escape, an over-long path parameter) skip the error handler: answer
    // them in Warden's error shape too, without quoting the URL back to the client.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode ?? 500;
      const answer =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError(
              414,
              API_ERROR_CODES.validationFailed,
              'a path parameter is longer than 256 characters',
            )
          : status < 500
            ? new ApiError(status, API_ERROR_CODES.validationFailed, 'the URL is not valid')
            : new ApiError(500, API_ERROR_CODES.internal, 'internal error');
      void reply.code(answer.statusCode).send(answer.toBody());
    },
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: {
        // Reject what a client got wrong instead of silently "fixing" it: no coercion ("true" is not
        // a boolean), no stripping of unknown fields, and every problem reported at once.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: true,
        // `parentSchema` in errors lets a failed pattern report its `x-message`.
        verbose: true,
        keywords: [MESSAGE_KEYWORD],
      },
    },
  });

  // See `Access` in plugins/auth.ts: set by the admin guard, read by routes, Bull Board and the console.
  app.decorateRequest('access', undefined);
  registerErrorHandling(app, { reporter: deps.errorReporter });
  await registerSecurityHeaders(app);
  await registerOpenApi(app, config.release);

  registerHttpMetrics(app, config.metrics.enabled ? deps.metrics : undefined);
  registerHealthRoutes(app, deps.health, config.serviceName);

  const token = http.adminApiToken;
  const limiter = createRateLimiter({
    redis: deps.redis,
    keyPrefix: `${config.redis.queuePrefix}:rate-limit`,
    logger: deps.logger,
  });
  const guardOptions = {
    adminToken: token,
    viewerToken: http.viewerApiToken,
    limiter,
    limits: { requests: http.rateLimitPerMinute, authFailures: http.authFailuresPerMinute },
  };
  const browserAuth = createAdminAuth({ ...guardOptions, scheme: 'bearer-or-basic' });
  const bearerAuth = createAdminAuth({ ...guardOptions, scheme: 'bearer' });
  const apiGuards: onRequestAsyncHookHandler[] = [
    // The JSON API takes Bearer; the console's own requests (marked by a header no form can set and
    // no other site may send without a CORS grant) may also use the Basic credentials the browser holds.
    (request, reply) =>
      request.headers[CONSOLE_REQUEST_HEADER] === undefined
        ? bearerAuth(request, reply)
        : browserAuth(request, reply),
    createCrossSiteGuard({ tokenConfigured: token !== undefined, requireHeader: true }),
  ];

  await app.register(
    async (admin) => {
      for (const guard of apiGuards) admin.addHook('onRequest', guard);
      admin.addHook('onRoute', documentRouteAccess);
      // `curl -X POST .../backup` without a body means "all defaults", not "body must be object".
      admin.addHook('preValidation', async (request) => {
        if (request.method === 'POST' && request.body === undefined) request.body = {};
      });
      registerBackupRoutes(admin, deps, { deduplicateBackups: options.deduplicateBackups ?? true });
      registerBackupListRoutes(admin, deps);
      registerRestoreRoutes(admin, deps);
      registerBackupDownloadRoutes(admin, deps);
      registerRestoreTestRoutes(admin, deps);
      registerFleetRoutes(admin, deps);
      registerAlertRoutes(admin, deps);
      registerJobRoutes(admin, deps.queues);
      registerRetentionRoutes(admin, deps);
      registerScheduleRoutes(admin, deps.queues);
      registerTargetRoutes(admin, config);
      registerRestoredDatabaseRoutes(admin, config);
    },
    { prefix: ADMIN_API_PREFIX },
  );

  await registerBullBoard(app, {
    queues: [deps.queues.backups, deps.queues.restores, deps.queues.probes],
    readOnly: http.bullBoardReadOnly,
    isReadOnlyRequest: (request) => !mayChangeState(request.access),
    guards: [
      browserAuth,
      // The board's page cannot send the console's header; the Origin check still applies.
      createCrossSiteGuard({ tokenConfigured: token !== undefined, requireHeader: false }),
    ],
  });
  await registerDocsUi(app, [browserAuth]);
  await registerConsole(app, {
    guards: [browserAuth],
    roleOf: (request) => (mayChangeState(request.access) ? 'admin' : 'viewer'),
    isTarget: (name) => config.targets.some((target) => target.name === name),
    prebuiltDir: options.consoleAssetsDir,
  });

  if (token === undefined) {
    deps.logger.warn(
      'ADMIN_API_TOKEN is not set: the admin API, Bull Board and docs answer only on loopback addresses',
    );
  }
  return app;
}
