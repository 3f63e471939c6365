import { TARGET_NAME_PATTERN } from '@warden/names';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { API_ERROR_CODES, ApiError } from '../errors.js';
import { type ConsoleAssets, loadConsoleAssets } from './console-assets.js';
import { renderConsolePage } from './console-page.js';

/**
 * The console's own policy, stricter than the one Bull Board needs: scripts and styles only from
 * this origin (no inline code, no hashes needed), no fonts, no frames, JSON only from this origin.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const CONSOLE_ASSET_PREFIX = '/console/assets';

/** A shield, so the tab is recognisable and the browser's `/favicon.ico` probe has an answer. */
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M16 2 4 7v8c0 7.5 5.1 13.4 12 15 6.9-1.6 12-7.5 12-15V7z" fill="#0b5cad"/><path d="m10 16 4 4 8-8" fill="none" stroke="#fff" stroke-width="3"/></svg>';

/** Options of {@link registerConsole}. */
export interface ConsoleOptions {
  /** Run before every console route (rate limit, then the same auth as Bull Board). */
  guards: readonly onRequestAsyncHookHandler[];
  /** Whether the request's credential may act: `viewer` renders a read-only console. */
  roleOf: (request: FastifyRequest) => 'admin' | 'viewer';
  /** Whether a target of that name is configured (its page answers 404 otherwise). */
  isTarget: (name: string) => boolean;
  /** A directory with a prebuilt `console.js` and `console.css`; without it they are bundled on first use. */
  prebuiltDir?: string | undefined;
}

/**
 * The operator console at `/` (fleet overview) and `/console/targets/:name` (one target). The page
 * is a frame; its script reads everything from the documented admin API routes.
 */
export async function registerConsole(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  let assets: Promise<ConsoleAssets> | undefined;
  const loadAssets = () => {
    assets ??= loadConsoleAssets({ prebuiltDir: options.prebuiltDir }).catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    return assets;
  };

  await app.register(async (scope) => {
    for (const guard of options.guards) scope.addHook('onRequest', guard);

    const page = async (request: FastifyRequest, reply: FastifyReply, target?: string) => {
      const { scriptVersion, styleVersion } = await loadAssets();
      return reply
        .header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(
          renderConsolePage({
            view: target === undefined ? 'overview' : 'target',
            ...(target === undefined ? {} : { target }),
            role: options.roleOf(request),
            scriptUrl: `${CONSOLE_ASSET_PREFIX}/console.js?v=${scriptVersion}`,
            styleUrl: `${CONSOLE_ASSET_PREFIX}/console.css?v=${styleVersion}`,
          }),
        );
    };

    scope.get('/', { schema: { hide: true } }, (request, reply) => page(request, reply));
    scope.get<{ Params: { name: string } }>(
      '/console/targets/:name',
      { schema: { hide: true } },
      (request, reply) => {
        const name = request.params.name;
        if (!TARGET_NAME_PATTERN.test(name) || !options.isTarget(name)) {
          throw new ApiError(
            404,
            API_ERROR_CODES.targetNotFound,
            'no such target; the overview at / lists them',
          );
        }
        return page(request, reply, name);
      },
    );
    scope.get(`${CONSOLE_ASSET_PREFIX}/console.js`, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'private, max-age=86400')
        .send((await loadAssets()).script),
    );
    for (const url of [`${CONSOLE_ASSET_PREFIX}/favicon.svg`, '/favicon.ico']) {
      scope.get(url, { schema: { hide: true } }, async (_request, reply) =>
        reply.type('image/svg+xml').header('cache-control', 'private, max-age=86400').send(FAVICON_SVG),
      );
    }
    scope.get(`${CONSOLE_ASSET_PREFIX}/console.css`, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/css; charset=utf-8')
        .header('cache-control', 'private, max-age=86400')
        .send((await loadAssets()).style),
    );
  });
}
