import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_ERROR_CODES, errorBody } from '../errors.js';
import { isSameOrigin } from './auth.js';

/**
 * The header the console sends with every request. An HTML form cannot set a header, and a
 * cross-site script that sets one must first pass a CORS preflight, which Warden never grants. The
 * JSON API accepts Basic credentials only on requests that carry it.
 */
export const CONSOLE_REQUEST_HEADER = 'x-warden-request';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Options of {@link createCrossSiteGuard}. */
export interface CrossSiteGuardOptions {
  /** Whether an admin token is configured; without one every request is let in by its address. */
  tokenConfigured: boolean;
  /**
   * Require {@link CONSOLE_REQUEST_HEADER} on state-changing requests whose credentials a browser
   * attaches by itself. Off for Bull Board, whose own page cannot send it (it still gets the Origin
   * check).
   */
  requireHeader: boolean;
}

/**
 * An `onRequest` hook against cross-site request forgery on state-changing requests.
 *
 * - A request that carries an `Origin` (every browser sends one on a cross-origin or non-GET
 *   request) must come from this server's own origin.
 * - A request authenticated by credentials the browser attaches on its own — HTTP Basic, or no
 *   token at all on loopback — must also carry {@link CONSOLE_REQUEST_HEADER} when it comes from a
 *   browser (Basic always; without a token when it has an `Origin` or `Sec-Fetch-Site`), so a
 *   plain `curl` on loopback keeps working.
 *
 * Bearer tokens are never attached by a browser on its own, so a Bearer request only gets the Origin
 * check.
 */
export function createCrossSiteGuard(options: CrossSiteGuardOptions) {
  return async function crossSiteGuard(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    if (SAFE_METHODS.has(request.method)) return undefined;
    const origin = request.headers.origin;
    if (typeof origin === 'string' && !isSameOrigin(origin, request.headers.host ?? '')) {
      request.log.warn({ url: request.url, origin: origin.slice(0, 200) }, 'cross-site request refused');
      return reply
        .code(403)
        .send(
          errorBody(
            API_ERROR_CODES.forbidden,
            'cross-site request refused: the Origin header does not name this server',
          ),
        );
    }
    if (!options.requireHeader) return undefined;
    const authorization = request.headers.authorization;
    const basic = typeof authorization === 'string' && /^basic\s/i.test(authorization.trim());
    const fromBrowser = typeof origin === 'string' || request.headers['sec-fetch-site'] !== undefined;
    const ambient = basic || (!options.tokenConfigured && fromBrowser);
    if (ambient && request.headers[CONSOLE_REQUEST_HEADER] === undefined) {
      request.log.warn(
        { url: request.url },
        'state-changing browser request without the console header refused',
      );
      return reply
        .code(403)
        .send(
          errorBody(
            API_ERROR_CODES.forbidden,
            `a state-changing request with browser credentials needs the "${CONSOLE_REQUEST_HEADER}" header (the console sends it); scripts use "Authorization: Bearer <token>"`,
          ),
        );
    }
    return undefined;
  };
}
