import type { Logger } from '@warden/logging';
import {
  type ConditionReporter,
  type HealthChecker,
  type HealthReport,
  type HealthThresholds,
  type ProbeMetrics,
  runProbeCycle,
} from '@warden/probes';
import { probesJobSchema, QUEUE_NAMES, type RedisConnection } from '@warden/queue';
import { type Job, UnrecoverableError, Worker } from 'bullmq';

/** What a probes job returns (visible in Bull Board and `GET /api/admin/jobs/:id`). */
export interface ProbeJobResult {
  status: HealthReport['status'];
  services: Record<string, HealthReport['status']>;
}

/** Options of {@link createProbeRunner}. */
export interface ProbeRunnerDeps {
  /**
   * Worker-role Redis client (`maxRetriesPerRequest: null`, as a BullMQ Worker requires). Injected:
   * not closed by the runner.
   */
  connection: RedisConnection;
  /**
   * The API's fail-fast client: its status tells whether the queue can deliver jobs, and it records
   * when a cycle last ran. Injected: not closed by the runner.
   */
  redis: RedisConnection;
  /** `QUEUE_PREFIX`. */
  queuePrefix: string;
  /** Runs the probes of a cycle. */
  checker: Pick<HealthChecker, 'detailed'>;
  /** Keeps each cycle's report for `GET /health/detailed`. */
  results?: { record(report: HealthReport): Promise<void> } | undefined;
  /** Structurally the `ConditionTracker` of `@warden/notify` (Slack, throttled through Redis). */
  tracker: ConditionReporter;
  thresholds: HealthThresholds;
  /** Structurally the API's `WardenMetrics`; absent when metrics are disabled. */
  metrics?: ProbeMetrics | undefined;
  logger: Logger;
  /** `PROBE_INTERVAL_SECONDS` in ms: how often the watchdog checks that cycles are running. */
  intervalMs: number;
  /**
   * Called when Redis is up but no process has run a cycle for {@link STALL_INTERVALS} intervals,
   * e.g. after Redis restarted without persistence and lost the job schedulers. `main.ts` re-creates
   * them (an idempotent upsert).
   */
  onStalled?: (() => Promise<unknown>) | undefined;
  /** Told about probe jobs that failed (Sentry). */
  errorReporter?:
    | { captureJobFailure(error: unknown, context: { queue: string; jobId?: string | undefined }): void }
    | undefined;
}

/** Intervals without any cycle (in any process) after which the watchdog steps in. */
export const STALL_INTERVALS = 3;

export interface ProbeRunner {
  /** Starts consuming the `probes` queue and the fallback timer. */
  start(): Promise<void>;
  /** Stops both, waiting for a cycle in progress. */
  close(): Promise<void>;
}

/**
 * Runs the periodic health probes (docs/architecture.md#health) in the API process.
 *
 * Why the API and not the worker: "no worker running" is one of the alerts (docs/architecture.md#alerts), and a dead
 * worker cannot report its own death; the API is the watcher. The API's probes job scheduler (see
 * `schedules.ts`) puts one job on the `probes` queue every `PROBE_INTERVAL_SECONDS`; each API
 * replica runs a BullMQ Worker on that queue, so with several replicas exactly one of them runs each
 * cycle, and the alert throttle and condition state live in Redis, shared by every process.
 *
 * Why a watchdog: when Redis itself is down, no probe job can be delivered, yet "Redis connection
 * failed" is exactly the alert that must get out. While the API's Redis client is not ready the
 * runner probes in-process on its own timer; the notifier and tracker then throttle in-process, so
 * each replica reports the outage at most once per window. And when Redis comes back empty (no
 * persistence), the schedulers are gone: every cycle records its time in Redis, and when no process
 * has run one for a few intervals the watchdog asks `onStalled` to restore them and probes at once.
 */
export function createProbeRunner(deps: ProbeRunnerDeps): ProbeRunner {
  const { logger } = deps;
  const log = logger.child({ queue: QUEUE_NAMES.probes });
  let worker: Worker | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<HealthReport> | undefined;
  let fallbackActive = false;
  let startedAt = 0;
  const lastCycleKey = `${deps.queuePrefix}:probes:last-cycle`;
  const redisReady = () => deps.redis.status === 'ready';

  /** One cycle at a time per process: a job arriving during a fallback cycle shares its result. */
  const runCycle = (): Promise<HealthReport> => {
    inFlight ??= runProbeCycle({
      checker: deps.checker,
      tracker: deps.tracker,
      metrics: deps.metrics,
      thresholds: deps.thresholds,
      logger: log,
    })
      .then(async (report) => {
        await deps.results?.record(report);
        if (redisReady()) {
          await deps.redis
            .set(lastCycleKey, String(Date.now()), 'PX', deps.intervalMs * STALL_INTERVALS)
            .catch((err: unknown) => log.warn({ err }, 'could not record the probe cycle time'));
        }
        return report;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const summarize = (report: HealthReport): ProbeJobResult => ({
    status: report.status,
    services: Object.fromEntries(
      Object.entries(report.services).map(([name, result]) => [name, result.status]),
    ),
  });

  const processJob = async (job: Job): Promise<ProbeJobResult> => {
    const parsed = probesJobSchema.safeParse(job.data ?? {});
    if (!parsed.success) throw new UnrecoverableError('invalid probes job data');
    const report = await runCycle();
    const result = summarize(report);
    log.debug({ jobId: job.id, ...result }, 'probe cycle finished');
    return result;
  };

  const runInProcess = () =>
    runCycle().then(
      (report) => log.debug({ ...summarize(report) }, 'in-process probe cycle finished'),
      (err: unknown) => log.error({ err }, 'in-process probe cycle failed'),
    );

  const watchdogTick = async () => {
    if (!redisReady()) {
      if (!fallbackActive) log.warn('redis unreachable; running health probes in-process');
      fallbackActive = true;
      await runInProcess();
      return;
    }
    if (fallbackActive) log.info('redis reachable again; probes run from the probes queue');
    fallbackActive = false;
    if (inFlight || Date.now() - startedAt < deps.intervalMs * STALL_INTERVALS) return;
    if ((await deps.redis.exists(lastCycleKey)) === 1) return;
    log.warn(
      { intervals: STALL_INTERVALS },
      'no probe cycle ran anywhere for several intervals; restoring the job schedulers',
    );
    startedAt = Date.now(); // Give the restored scheduler time before judging again.
    await deps.onStalled?.();
    await runInProcess();
  };

  return {
    async start() {
      if (worker) return;
      worker = new Worker(QUEUE_NAMES.probes, processJob, {
        connection: deps.connection,
        prefix: deps.queuePrefix,
        // Cycles must not overlap within a process; replicas share the queue's jobs.
        concurrency: 1,
        autorun: true,
        name: 'api-probes',
      });
      worker.on('error', (err) => log.error({ err }, 'probes worker error'));
      worker.on('failed', (job, err) => {
        log.error({ err, jobId: job?.id }, 'probe job failed');
        deps.errorReporter?.captureJobFailure(err, { queue: QUEUE_NAMES.probes, jobId: job?.id });
      });
      await worker.waitUntilReady();
      startedAt = Date.now();
      timer = setInterval(() => {
        watchdogTick().catch((err: unknown) => log.warn({ err }, 'probe watchdog failed'));
      }, deps.intervalMs);
      // The fallback alone must not keep the process alive during shutdown.
      timer.unref();
      log.info({ intervalMs: deps.intervalMs }, 'probe runner started');
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const running = worker;
      worker = undefined;
      await running?.close();
      await inFlight?.catch(() => undefined);
    },
  };
}
