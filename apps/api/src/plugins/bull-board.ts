import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { HTTPStatus } from '@bull-board/api/typings/app';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { toErrorResponse } from './error-handler.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** Options of {@link registerBullBoard}. */
export interface BullBoardOptions {
  queues: readonly Queue[];
  /** `BULL_BOARD_READ_ONLY`: no retry, clean, pause or remove buttons. */
  readOnly: boolean;
  /**
   * Requests that see the board read-only whatever `readOnly` says (the viewer token). The guards
   * must already refuse such a caller's state-changing requests: this only hides the buttons.
   */
  isReadOnlyRequest?: (request: FastifyRequest) => boolean;
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

  const queueListRoute = `${BULL_BOARD_PATH}/api/queues`;
  const isReadOnlyRequest = options.isReadOnlyRequest;
  await app.register(async (scope) => {
    for (const guard of options.guards) scope.addHook('onRequest', guard);
    if (isReadOnlyRequest && !options.readOnly) {
      // The UI takes its buttons from the per-queue flags of the queue list, the only place the
      // board reports them: marking them there gives this caller the same board as
      // BULL_BOARD_READ_ONLY=true.
      scope.addHook('preSerialization', async (request, _reply, payload: unknown) => {
        if (request.routeOptions.url !== queueListRoute || !isReadOnlyRequest(request)) return payload;
        return markQueuesReadOnly(payload);
      });
    }
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}

function markQueuesReadOnly(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null || !('queues' in payload)) return payload;
  const { queues } = payload;
  if (!Array.isArray(queues)) return payload;
  return {
    ...payload,
    queues: queues.map((queue: object) => ({
      ...queue,
      readOnlyMode: true,
      allowRetries: false,
      allowCompletedRetries: false,
    })),
  };
}
