import { createRequire } from 'node:module';
import type * as SentrySdk from '@sentry/node';

/**
 * `@sentry/node` costs about half a second and 85 MB to load; most installations run without a
 * DSN, so it is only loaded when one is configured.
 */
function loadSentry(): typeof SentrySdk {
  return createRequire(import.meta.url)('@sentry/node') as typeof SentrySdk;
}

import { createSecretScrubber, describeError, scrubDeep } from '@warden/errors';
import type { NotifyLogger } from './types.js';

/** Where failed jobs and unhandled errors go (docs/architecture.md#errors-and-sentry). Never throws. */
export interface ErrorReporter {
  captureJobFailure(
    error: unknown,
    context: {
      queue: string;
      jobId?: string | undefined;
      target?: string | undefined;
      attempt?: number | undefined;
    },
  ): void;
  captureException(error: unknown, context?: Record<string, unknown>): void;
  /** Waits until queued events are sent; false when the timeout passed first. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flushes, then disables the SDK. */
  close(timeoutMs?: number): Promise<void>;
}

/** Options of {@link createSentryReporter}. */
export interface SentryReporterOptions {
  /** `SENTRY_DSN`; without it the reporter only logs (Sentry is optional). */
  dsn?: string | undefined;
  /** `SENTRY_ENVIRONMENT` (or the backup environment). */
  environment: string;
  /** `APP_VERSION` or the package version. */
  release: string;
  /** `SENTRY_TRACES_SAMPLE_RATE`. */
  tracesSampleRate: number;
  /** @defaultValue the host name */
  serverName?: string | undefined;
  /** Values scrubbed from every event and breadcrumb (the DSN itself is always added). */
  secrets: readonly string[];
  logger: NotifyLogger;
  /** Added to every event, e.g. `{ service: 'worker' }`. */
  tags?: Record<string, string> | undefined;
}

const DEFAULT_FLUSH_MS = 2_000;

/**
 * The one Sentry adapter. Sentry 11 dropped `sendDefaultPii`; its replacement `dataCollection` is set
 * to collect nothing personal (no user info, cookies, headers, bodies, query strings, DB query data,
 * queue payloads or local variables), which is what `sendDefaultPii: false` meant (docs/architecture.md#errors-and-sentry).
 * `beforeSend` and `beforeBreadcrumb` additionally scrub every string of every event against the
 * configured secrets and URL-embedded passwords.
 *
 * Sentry's own uncaught-exception integration is removed because it may call `process.exit`; apps
 * install {@link installProcessErrorHandlers} instead and keep the exit decision in `main.ts`.
 */
export function createSentryReporter(options: SentryReporterOptions): ErrorReporter {
  const { logger } = options;
  const scrub = createSecretScrubber([...options.secrets, options.dsn]);

  if (!options.dsn) return createLoggingReporter(logger, scrub);

  const Sentry = loadSentry();
  Sentry.init({
    dsn: options.dsn,
    environment: options.environment,
    release: options.release,
    tracesSampleRate: options.tracesSampleRate,
    ...(options.serverName === undefined ? {} : { serverName: options.serverName }),
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      databaseQueryData: false,
      queues: false,
      stackFrameVariables: false,
    },
    integrations: (defaults) =>
      defaults
        .filter(
          (integration) =>
            integration.name !== 'OnUncaughtException' &&
            integration.name !== 'OnUnhandledRejection' &&
            !integration.name.startsWith('LocalVariables'),
        )
        // The API reports its 5xx answers itself, from its error handler, with the route template
        // and error code. Sentry's Fastify integration would capture the same error first (with the
        // raw URL) and its Dedupe would then drop ours, so it keeps its tracing but captures nothing.
        .map((integration) =>
          integration.name === 'Fastify'
            ? Sentry.fastifyIntegration({ shouldHandleError: () => false })
            : integration,
        ),
    beforeSend: (event) => scrubDeep(event, scrub),
    // Sentry 11 streams spans by default (`beforeSendTransaction` is ignored then): scrub spans here.
    beforeSendSpan: (span) => scrubDeep(span, scrub),
    beforeBreadcrumb: (breadcrumb) => scrubDeep(breadcrumb, scrub),
  });
  if (options.tags) Sentry.setTags(options.tags);
  logger.info({ environment: options.environment, release: options.release }, 'sentry enabled');

  let closed = false;
  return {
    captureJobFailure(error, context) {
      if (closed) return;
      try {
        Sentry.withScope((scope) => {
          scope.setTag('queue', context.queue);
          if (context.jobId !== undefined) scope.setTag('job_id', context.jobId);
          if (context.target !== undefined) scope.setTag('target', context.target);
          if (context.attempt !== undefined) scope.setTag('attempt', String(context.attempt));
          scope.setContext('job', { ...context });
          Sentry.captureException(error);
        });
      } catch (err) {
        logger.warn({ error: describeError(err, scrub) }, 'sentry capture failed');
      }
    },
    captureException(error, context) {
      if (closed) return;
      try {
        Sentry.withScope((scope) => {
          if (context) scope.setContext('details', scrubDeep(context, scrub));
          Sentry.captureException(error);
        });
      } catch (err) {
        logger.warn({ error: describeError(err, scrub) }, 'sentry capture failed');
      }
    },
    async flush(timeoutMs = DEFAULT_FLUSH_MS) {
      try {
        return await Sentry.flush(timeoutMs);
      } catch {
        return false;
      }
    },
    async close(timeoutMs = DEFAULT_FLUSH_MS) {
      if (closed) return;
      closed = true;
      try {
        await Sentry.close(timeoutMs);
      } catch (err) {
        logger.warn({ error: describeError(err, scrub) }, 'closing sentry failed');
      }
    },
  };
}

/** Without a DSN errors are only logged, scrubbed like Sentry events would be. */
function createLoggingReporter(logger: NotifyLogger, scrub: (text: string) => string): ErrorReporter {
  return {
    captureJobFailure(error, context) {
      logger.error({ error: describeError(error, scrub), ...context }, 'job failed (sentry disabled)');
    },
    captureException(error, context) {
      logger.error(
        { error: describeError(error, scrub), ...(context ? { context: scrubDeep(context, scrub) } : {}) },
        'error captured (sentry disabled)',
      );
    },
    async flush() {
      return true;
    },
    async close() {},
  };
}

/** Options of {@link installProcessErrorHandlers}. */
export interface ProcessErrorHandlerOptions {
  reporter: ErrorReporter;
  logger: NotifyLogger;
  /**
   * Called after an uncaught exception (and, when `unhandledRejectionIsFatal`, an unhandled
   * rejection) has been captured and flushed. The process state is unknown at that point: `main.ts`
   * should close what it can and exit non-zero. Packages never exit themselves.
   */
  onFatal(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void;
  /** @defaultValue false — an unhandled rejection is captured and logged, and the process goes on. */
  unhandledRejectionIsFatal?: boolean;
  /** @defaultValue 2000 */
  flushTimeoutMs?: number;
  /** Injectable for tests. @defaultValue process */
  target?: NodeJS.EventEmitter;
}

/**
 * Captures `uncaughtException` and `unhandledRejection` through the reporter. Returns a function that
 * removes the listeners again.
 */
export function installProcessErrorHandlers(options: ProcessErrorHandlerOptions): () => void {
  const target = options.target ?? process;
  const flushTimeout = options.flushTimeoutMs ?? DEFAULT_FLUSH_MS;
  const { reporter, logger } = options;

  const fatal = (error: unknown, origin: 'uncaughtException' | 'unhandledRejection') => {
    reporter.captureException(error, { origin });
    void reporter.flush(flushTimeout).finally(() => options.onFatal(error, origin));
  };
  const onUncaught = (error: unknown) => {
    logger.error({ err: error }, 'uncaught exception');
    fatal(error, 'uncaughtException');
  };
  const onUnhandled = (reason: unknown) => {
    logger.error({ err: reason }, 'unhandled promise rejection');
    if (options.unhandledRejectionIsFatal) {
      fatal(reason, 'unhandledRejection');
    } else {
      reporter.captureException(reason, { origin: 'unhandledRejection' });
    }
  };
  target.on('uncaughtException', onUncaught);
  target.on('unhandledRejection', onUnhandled);
  return () => {
    target.off('uncaughtException', onUncaught);
    target.off('unhandledRejection', onUnhandled);
  };
}
