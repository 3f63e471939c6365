import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { HTTPStatus } from '@bull-board/api/typings/app';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import { toErrorResponse } from './error-handler.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** Options of {@link registerBullBoard}. */
export interface BullBoardOptions {
  queues: readonly Queue[];
  /** `BULL_BOARD_READ_ONLY`: no retry, clean, pause or remove buttons. */
  readOnly: boolean;
  /** Run before every board route, in order (rate limit, then auth). */
  guards: readonly onRequestAsyncHookHandler[];
}

/**
 * Bull Board at `/admin/queues`, in its own encapsulated scope so that the guards and its error
 * handler apply to its routes only.
 */
export async function registerBullBoard(app: FastifyInstance, options: BullBoardOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Warden' } },
  });
  // Bull Board's own handler would echo any error message; keep Warden's shape and add the `key`
  // its UI translates.
  serverAdapter.setErrorHandler((error) => {
    const { status, body } = toErrorResponse(error, app.log);
    // Bull Board's type lists only the statuses its own handlers use; its Fastify adapter sends any.
    return {
      status: status as HTTPStatus,
      body: { error: { key: 'ERRORS.INTERNAL_SERVER_ERROR', ...body.error } },
    };
  });

  await app.register(async (scope) => {
    for (const guard of options.guards) scope.addHook('onRequest', guard);
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
