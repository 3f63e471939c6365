import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_ERROR_CODES, errorBody, StartupError } from '../errors.js';

/** Options of {@link createAdminAuth}. */
export interface AdminAuthOptions {
  /**
   * The admin token (`ADMIN_API_TOKEN`). Without one the admin surface answers only requests that
   * arrive on a loopback address.
   */
  token: string | undefined;
  /**
   * `bearer`: `Authorization: Bearer <token>` only (the JSON API).
   * `bearer-or-basic`: also HTTP Basic with any user name and the token as password, so a browser
   * can open Bull Board and the API docs; a 401 then asks the browser for credentials.
   */
  scheme: 'bearer' | 'bearer-or-basic';
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

/**
 * An `onRequest` hook that lets a request through or answers 401/403 itself. It replies rather than
 * throws so that the error body keeps Warden's shape inside plugins with their own error handler
 * (Bull Board).
 */
export function createAdminAuth(options: AdminAuthOptions) {
  const allowBasic = options.scheme === 'bearer-or-basic';
  const expected = options.token === undefined ? undefined : digest(options.token);
  const challenge = allowBasic ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`;

  return async function adminAuth(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    if (expected === undefined) {
      // No token: main.ts only listens on loopback, and this also holds for any other listener.
      const local = request.socket.localAddress ?? request.socket.remoteAddress;
      if (isLoopbackAddress(local)) return undefined;
      request.log.warn({ url: request.url }, 'admin request refused: no ADMIN_API_TOKEN and not on loopback');
      return reply
        .code(403)
        .send(
          errorBody(
            API_ERROR_CODES.forbidden,
            'the admin API is only served on loopback when ADMIN_API_TOKEN is not set',
          ),
        );
    }
    const token = presentedToken(request, allowBasic);
    if (token !== undefined && timingSafeEqual(digest(token), expected)) return undefined;
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
  };
}
