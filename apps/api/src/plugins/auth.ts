import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_ERROR_CODES, errorBody, StartupError } from '../errors.js';
import type { RateLimiter, RateLimitVerdict } from '../rate-limiter.js';

/**
 * Who is calling the admin surface, decided once per request by the admin guard below and kept on
 * the request as `request.access`, so that routes, Bull Board and the console branch on it instead
 * of re-reading credentials:
 * - `admin`: presented ADMIN_API_TOKEN; may do anything.
 * - `viewer`: presented VIEWER_API_TOKEN; reads only (GET, HEAD), every other method answers 403.
 * - `loopback`: no ADMIN_API_TOKEN is configured and the request came from a loopback client that
 *   named a loopback Host; may do anything, like `admin`.
 * Routes outside the admin surface (`/health`, `/metrics`) leave it `undefined`.
 */
export type Access = 'admin' | 'viewer' | 'loopback';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A read only `admin` may make (a backup download hands out the whole database). */
    adminOnly?: boolean;
  }
  interface FastifyRequest {
    /** Set by the admin guard before any admin handler runs; see {@link Access}. */
    access: Access | undefined;
  }
}

/** Methods that read; every other method changes state and needs `admin` or `loopback` access. */
const READ_METHODS = new Set(['GET', 'HEAD']);

export function isReadMethod(method: string): boolean {
  return READ_METHODS.has(method.toUpperCase());
}

function isAdminOnlyRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config?.adminOnly === true;
}

/** Whether `access` may send state-changing requests (POST, PUT, PATCH, DELETE). */
export function mayChangeState(access: Access | undefined): boolean {
  return access === 'admin' || access === 'loopback';
}

/** Options of {@link createAdminAuth}. */
export interface AdminAuthOptions {
  /**
   * `ADMIN_API_TOKEN`. Without one the admin surface answers only loopback clients that name a
   * loopback Host (see {@link loopbackRefusal}).
   */
  adminToken: string | undefined;
  /** `VIEWER_API_TOKEN`: read-only access. Only meaningful together with `adminToken`. */
  viewerToken: string | undefined;
  /**
   * `bearer`: `Authorization: Bearer <token>` only (the JSON API).
   * `bearer-or-basic`: also HTTP Basic with any user name and the token as password, so a browser
   * can open Bull Board and the API docs; a 401 then asks the browser for credentials.
   */
  scheme: 'bearer' | 'bearer-or-basic';
  /** Shared counters of the two budgets below (Redis). */
  limiter: RateLimiter;
  /**
   * Per client address (`request.ip`, see TRUST_PROXY) and window: `requests` for each role's
   * authenticated requests, `authFailures` for missing or wrong credentials. They are separate so
   * that no amount of failed attempts can lock out a caller holding a valid token.
   */
  limits: { requests: number; authFailures: number };
}

const REALM = 'Warden';

/** Loopback literals and `localhost`; what `HOST` may be when no admin token is configured. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || isLoopbackAddress(bare);
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.toLowerCase();
  if (bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Refuses to expose an unauthenticated admin surface: without a token, Warden may only listen on a
 * loopback address. Called by `main.ts` before listening.
 */
export function assertSafeBinding(host: string, token: string | undefined): void {
  if (token === undefined && !isLoopbackHost(host)) {
    throw new StartupError(
      `refusing to listen on ${host} without ADMIN_API_TOKEN: set ADMIN_API_TOKEN (16+ characters) or HOST=127.0.0.1`,
    );
  }
}

/**
 * The name part of a Host header (`localhost:3000` → `localhost`, `[::1]:3000` → `::1`), or
 * undefined when the header is not a plain host with an optional port.
 */
export function hostHeaderName(host: string): string | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/@\s]+))(?::\d{1,5})?$/.exec(host);
  if (!match) return undefined;
  return (match[1] ?? match[2])?.toLowerCase();
}

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host'];

/**
 * Why a tokenless request is refused, or undefined when it may pass. Trusting the socket's address
 * alone lets a web page that rebinds its own name to 127.0.0.1 drive the API from a browser (DNS
 * rebinding), so the Host must be a loopback name too. Such a page can still send a form or a
 * `fetch` to `http://127.0.0.1:<port>` directly (a cross-site request, not a rebinding), so a
 * state-changing request must also come from the same loopback origin or name none (curl, scripts).
 * A proxy in front of a tokenless API would hand it every remote client: forwarded requests are
 * refused, which browsers cannot forge (those headers are not CORS-safelisted).
 */
export function loopbackRefusal(request: FastifyRequest): string | undefined {
  const local = request.socket.localAddress ?? request.socket.remoteAddress;
  if (!isLoopbackAddress(local))
    return 'the admin API is only served on loopback when ADMIN_API_TOKEN is not set';
  if (FORWARDING_HEADERS.some((name) => request.headers[name] !== undefined)) {
    return 'without ADMIN_API_TOKEN the admin API serves direct loopback clients only, not requests forwarded by a proxy';
  }
  const host = request.headers.host ?? '';
  const name = hostHeaderName(host);
  if (name === undefined || !(name === 'localhost' || isLoopbackAddress(name))) {
    return 'without ADMIN_API_TOKEN the admin API only answers a loopback Host (localhost, 127.0.0.1 or [::1])';
  }
  if (isReadMethod(request.method)) return undefined;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  if (!isSameOrigin(origin, host)) {
    return `without ADMIN_API_TOKEN a ${request.method} request must come from the API's own origin (or send no Origin)`;
  }
  return undefined;
}

/**
 * Whether an `Origin` header names the server the request's `Host` names (`http://127.0.0.1:3000`
 * against `127.0.0.1:3000`, default ports normalized; the scheme is the Origin's, as a TLS proxy
 * may sit in front). Only an http(s) origin can match.
 */
export function isSameOrigin(origin: string, host: string): boolean {
  try {
    const originUrl = new URL(origin);
    if (originUrl.protocol !== 'http:' && originUrl.protocol !== 'https:') return false;
    return new URL(`${originUrl.protocol}//${host}`).host === originUrl.host;
  } catch {
    return false;
  }
}

/** Hashing first gives equal-length buffers, so the comparison time says nothing about the token. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The credential a request presents, or undefined. Basic is only read when the scheme allows it. */
function presentedToken(request: FastifyRequest, allowBasic: boolean): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^(\w+)\s+(.+)$/.exec(header.trim());
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;
  if (scheme === 'bearer') return value.trim();
  if (scheme === 'basic' && allowBasic) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  return undefined;
}

/** Which token a presented credential is; every comparison runs in constant time. */
function createTokenMatcher(adminToken: string, viewerToken: string | undefined) {
  const admin = digest(adminToken);
  const viewer = viewerToken === undefined ? undefined : digest(viewerToken);
  return (presented: string): 'admin' | 'viewer' | undefined => {
    const candidate = digest(presented);
    if (timingSafeEqual(candidate, admin)) return 'admin';
    return viewer !== undefined && timingSafeEqual(candidate, viewer) ? 'viewer' : undefined;
  };
}

/**
 * An `onRequest` hook that sets `request.access` or answers 401/403 itself. It replies rather than
 * throws so that the error body keeps Warden's shape inside plugins with their own error handler
 * (Bull Board).
 */
export function createAdminAuth(options: AdminAuthOptions) {
  const allowBasic = options.scheme === 'bearer-or-basic';
  const matchToken =
    options.adminToken === undefined
      ? undefined
      : createTokenMatcher(options.adminToken, options.viewerToken);
  const challenge = allowBasic ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`;
  const { limiter, limits } = options;

  return async function adminAuth(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    if (matchToken === undefined) {
      // Nothing to guess without a token, so refusals here are not counted as failed logins.
      const refusal = loopbackRefusal(request);
      if (refusal !== undefined) {
        request.log.warn(
          { url: request.url, host: request.headers.host, origin: request.headers.origin },
          'admin request refused: no ADMIN_API_TOKEN and not a loopback request',
        );
        return reply.code(403).send(errorBody(API_ERROR_CODES.forbidden, refusal));
      }
      request.access = 'loopback';
    } else {
      const token = presentedToken(request, allowBasic);
      const access = token === undefined ? undefined : matchToken(token);
      if (access === undefined) {
        const failures = await limiter.hit('auth-failures', request.ip, limits.authFailures);
        if (!failures.allowed) return sendRateLimited(reply, failures, 'failed authentications');
        request.log.warn(
          { url: request.url, ip: request.ip, presented: token !== undefined },
          'admin request refused: missing or wrong token',
        );
        return reply
          .code(401)
          .header('www-authenticate', challenge)
          .send(
            errorBody(
              API_ERROR_CODES.unauthorized,
              token === undefined
                ? `missing credentials: send "Authorization: Bearer <ADMIN_API_TOKEN>"`
                : 'invalid token',
            ),
          );
      }
      request.access = access;
    }

    const budget = await limiter.hit('requests', `${request.access}:${request.ip}`, limits.requests);
    if (!budget.allowed) return sendRateLimited(reply, budget, 'requests');
    reply
      .header('x-ratelimit-limit', String(budget.limit))
      .header('x-ratelimit-remaining', String(budget.remaining))
      .header('x-ratelimit-reset', String(Math.ceil(budget.resetMs / 1000)));
    if (!mayChangeState(request.access) && (!isReadMethod(request.method) || isAdminOnlyRoute(request))) {
      request.log.warn({ url: request.url, method: request.method }, 'admin request refused: viewer token');
      return reply
        .code(403)
        .send(
          errorBody(
            API_ERROR_CODES.forbidden,
            isReadMethod(request.method)
              ? 'this route needs ADMIN_API_TOKEN (VIEWER_API_TOKEN may not read it)'
              : `VIEWER_API_TOKEN is read-only: ${request.method} requests need ADMIN_API_TOKEN`,
          ),
        );
    }
    return undefined;
  };
}

function sendRateLimited(reply: FastifyReply, verdict: RateLimitVerdict, what: string): FastifyReply {
  const seconds = Math.max(1, Math.ceil(verdict.resetMs / 1000));
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .header('x-ratelimit-limit', String(verdict.limit))
    .header('x-ratelimit-remaining', '0')
    .header('x-ratelimit-reset', String(seconds))
    .send(
      errorBody(
        API_ERROR_CODES.rateLimited,
        `too many ${what} from this address; try again in ${seconds} seconds`,
      ),
    );
}
