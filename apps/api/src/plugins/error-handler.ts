import { StorageError } from '@warden/errors';

import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_ERROR_CODES, ApiError, type ApiErrorBody, errorBody } from '../errors.js';

/** Custom schema keyword: the phrase shown when a `pattern` fails ("must be …"). */
export const MESSAGE_KEYWORD = 'x-message';

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string | undefined;
  parentSchema?: Record<string, unknown> | undefined;
}

export interface FieldProblem {
  field: string;
  message: string;
}

/** `body` + `/file` → `body.file`; array indexes stay readable (`body.items.0`). */
function fieldName(context: string, instancePath: string, property?: unknown): string {
  const parts = [context, ...instancePath.split('/').filter(Boolean)];
  if (typeof property === 'string') parts.push(property);
  return parts.join('.');
}

/** One readable problem per Ajv error, naming the field and never echoing its value. */
export function describeSchemaErrors(context: string, errors: readonly SchemaError[]): FieldProblem[] {
  const problems = errors.map((error): FieldProblem => {
    const at = fieldName(context, error.instancePath);
    switch (error.keyword) {
      case 'required': {
        const field = fieldName(context, error.instancePath, error.params.missingProperty);
        return { field, message: `${field} is required` };
      }
      case 'additionalProperties': {
        const field = fieldName(context, error.instancePath, error.params.additionalProperty);
        return { field, message: `${field} is not allowed (unknown field)` };
      }
      case 'type':
        return { field: at, message: `${at} must be ${String(error.params.type)}` };
      case 'enum':
        return {
          field: at,
          message: `${at} must be one of: ${((error.params.allowedValues as unknown[]) ?? []).join(', ')}`,
        };
      case 'pattern': {
        const hint = error.parentSchema?.[MESSAGE_KEYWORD];
        return { field: at, message: `${at} ${typeof hint === 'string' ? hint : 'has an invalid format'}` };
      }
      case 'format':
        return { field: at, message: `${at} must be a valid ${String(error.params.format)}` };
      default:
        return { field: at, message: `${at} ${error.message ?? 'is invalid'}` };
    }
  });
  const seen = new Set<string>();
  return problems.filter((problem) => !seen.has(problem.message) && seen.add(problem.message));
}

/** Errors of the Redis client when the producer's fail-fast connection is down. */
function isRedisUnavailable(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|Stream isn't writeable/i.test(error.message) ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET'
  );
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: API_ERROR_CODES.bodyTooLarge },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: API_ERROR_CODES.invalidBody },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: API_ERROR_CODES.invalidBody,
    message: 'the request body is not valid JSON',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: API_ERROR_CODES.invalidBody,
    message: 'the request body is empty but its content-type is application/json; send {} or no content-type',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: API_ERROR_CODES.unsupportedMediaType },
};

/** Maps anything thrown in a route or hook to a status and Warden's error body. */
export function toErrorResponse(
  error: FastifyError | Error,
  log: Pick<FastifyBaseLogger, 'error'>,
): { status: number; body: ApiErrorBody } {
  if (error instanceof ApiError) return { status: error.statusCode, body: error.toBody() };

  const fastifyError = error as FastifyError & { validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const problems = describeSchemaErrors(
      fastifyError.validationContext ?? 'request',
      fastifyError.validation as SchemaError[],
    );
    return {
      status: 400,
      body: errorBody(API_ERROR_CODES.validationFailed, problems.map((p) => p.message).join('; '), {
        fields: problems,
      }),
    };
  }
  const known = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) {
    return { status: known.status, body: errorBody(known.code, known.message ?? fastifyError.message) };
  }
  // A JSON.parse SyntaxError from a custom parser, or any other 4xx Fastify raised on its own.
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const code = status === 404 ? API_ERROR_CODES.notFound : API_ERROR_CODES.invalidBody;
    const message =
      error instanceof SyntaxError ? 'the request body is not valid JSON' : fastifyError.message;
    return { status, body: errorBody(code, message) };
  }
  if (error instanceof StorageError && error.code === 'STORAGE_UNAVAILABLE') {
    log.error({ err: error }, 'backup storage unavailable');
    return {
      status: 503,
      body: errorBody(API_ERROR_CODES.serviceUnavailable, 'the backup storage is unavailable; try again'),
    };
  }
  if (isRedisUnavailable(error)) {
    log.error({ err: error }, 'queue backend unavailable');
    return {
      status: 503,
      body: errorBody(
        API_ERROR_CODES.serviceUnavailable,
        'the queue backend (Redis) is unavailable; try again',
      ),
    };
  }
  log.error({ err: error }, 'request failed');
  return { status: 500, body: errorBody(API_ERROR_CODES.internal, 'internal error') };
}

/** Where server-side (5xx) errors are reported; structurally the `ErrorReporter` of `@warden/notify`. */
export interface ServerErrorReporter {
  captureException(error: unknown, context?: Record<string, unknown>): void;
}

/**
 * Every error and unknown route answers `{ error: { code, message } }`; stacks stay in the log.
 * 5xx answers are also sent to `reporter` (Sentry, docs/architecture.md#errors-and-sentry) with the route template and method only:
 * no URL, query, headers or body, which may carry tokens.
 */
export function registerErrorHandling(
  app: FastifyInstance,
  options: { reporter?: ServerErrorReporter | undefined } = {},
): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorResponse(error, request.log);
    if (status >= 500 && options.reporter) {
      options.reporter.captureException(error, {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status,
        code: body.error.code,
        requestId: request.id,
      });
    }
    if (status === 401) reply.header('www-authenticate', 'Bearer realm="Warden"');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          API_ERROR_CODES.notFound,
          `no route ${request.method} ${(request.url.split('?')[0] ?? '').slice(0, 200)}`,
        ),
      ),
  );
}
