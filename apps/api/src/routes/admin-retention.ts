import { applyRetention, type RetentionOutcome } from '@warden/catalog';
import type { BackupTarget } from '@warden/config';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.js';
import { resolveTarget } from '../targets.js';
import { ADMIN_SECURITY, adminErrorResponses, errorResponseSchema, targetNameSchema } from './schemas.js';

interface RetentionQuery {
  target?: string;
}

interface RetentionBody {
  target?: string;
  dryRun: boolean;
}

const outcomeSchema = {
  type: 'object',
  properties: {
    target: { type: 'string' },
    dryRun: { type: 'boolean' },
    removed: {
      type: 'array',
      description: 'File names deleted, or in a dry run that would be deleted.',
      items: { type: 'string' },
    },
    kept: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          filename: { type: 'string' },
          reasons: {
            type: 'array',
            description:
              'young, keep-last, newest-good, newest-verified, daily, weekly, monthly or unknown-time.',
            items: { type: 'string' },
          },
        },
      },
    },
    failed: {
      type: 'array',
      description: 'Deletions that failed; they are tried again on the next run.',
      items: { type: 'object', properties: { filename: { type: 'string' }, error: { type: 'string' } } },
    },
  },
  required: ['target', 'dryRun', 'removed', 'kept', 'failed'],
} as const;

function toResponse(outcome: RetentionOutcome) {
  return {
    target: outcome.target,
    dryRun: outcome.dryRun,
    removed: outcome.removed.map((manifest) => manifest.filename),
    kept: outcome.kept.map((manifest) => ({
      filename: manifest.filename,
      reasons: outcome.reasons[manifest.key] ?? [],
    })),
    failed: outcome.failed.map((failure) => ({ filename: failure.manifest.filename, error: failure.error })),
  };
}

/**
 * Retention on demand (docs/architecture.md#retention): a dry run lists what would go, a real run deletes it. Scoped to one
 * target's own keys; the newest good and the newest restore-tested backup always stay.
 */
export function registerRetentionRoutes(admin: FastifyInstance, deps: AppDeps): void {
  const { config, storage, logger } = deps;
  const run = (target: BackupTarget, dryRun: boolean) =>
    applyRetention(
      { storage, logger },
      target,
      {
        retentionDays: target.retentionDays,
        keepLast: target.keepLast,
        ...(target.keepDaily === undefined ? {} : { keepDaily: target.keepDaily }),
        ...(target.keepWeekly === undefined ? {} : { keepWeekly: target.keepWeekly }),
        ...(target.keepMonthly === undefined ? {} : { keepMonthly: target.keepMonthly }),
      },
      { dryRun },
    );

  admin.get<{ Querystring: RetentionQuery }>(
    '/retention',
    {
      schema: {
        summary: 'Dry run of retention: which backups would be deleted, and why the rest stay',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            target: { ...targetNameSchema, description: 'One target; every target when absent.' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { targets: { type: 'array', items: outcomeSchema } },
            required: ['targets'],
          },
          404: errorResponseSchema,
          ...adminErrorResponses,
        },
      },
    },
    async (request) => {
      const targets =
        request.query.target === undefined ? config.targets : [resolveTarget(config, request.query.target)];
      const outcomes: ReturnType<typeof toResponse>[] = [];
      for (const target of targets) outcomes.push(toResponse(await run(target, true)));
      return { targets: outcomes };
    },
  );

  admin.post<{ Body: RetentionBody }>(
    '/retention',
    {
      schema: {
        summary: 'Apply retention to a target now (or, with dryRun, only report)',
        tags: ['backups'],
        security: ADMIN_SECURITY,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['dryRun'],
          properties: {
            target: { ...targetNameSchema, description: 'Target to prune; optional when only one.' },
            dryRun: {
              type: 'boolean',
              description: 'Required, so that deleting is always a deliberate `false`.',
            },
          },
        },
        response: { 200: outcomeSchema, 404: errorResponseSchema, ...adminErrorResponses },
      },
    },
    async (request) => {
      const target = resolveTarget(config, request.body.target);
      const outcome = await run(target, request.body.dryRun);
      request.log.info(
        {
          target: target.name,
          dryRun: outcome.dryRun,
          removed: outcome.removed.length,
          failed: outcome.failed.length,
        },
        'retention requested',
      );
      return toResponse(outcome);
    },
  );
}
