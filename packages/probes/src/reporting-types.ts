/**
 * Structural copies of the few `@warden/notify` and `@warden/metrics` shapes this package uses.
 * Probes may not import those packages (dependencies point one way); TypeScript's structural typing
 * lets the real `ConditionTracker` and `WardenMetrics` be passed as they are.
 */

/** Same shape as `Alert` of `@warden/notify`. */
export interface ProbeAlert {
  key: string;
  level: 'error' | 'warning' | 'info' | 'success';
  title: string;
  text?: string;
  fields?: Record<string, string | number | undefined>;
}

/** Same shape as `CycleCondition` of `@warden/notify`. */
export interface ProbeCondition {
  key: string;
  active: boolean;
  alert: ProbeAlert;
  /** Per-target conditions of one kind, combined into one message per cycle. */
  group?: { key: string; titlePrefix: string } | undefined;
  subject?: string | undefined;
}

/** Same shape as `ConditionTracker` of `@warden/notify`. */
export interface ConditionReporter {
  reportCycle(conditions: readonly ProbeCondition[]): Promise<void>;
}

/** A prom-client `Gauge` as far as this package uses it. */
export interface LabelledGauge<Label extends string> {
  set(labels: Partial<Record<Label, string | number>>, value: number): void;
}

/** Same shape as the matching members of `WardenMetrics` of `@warden/metrics`. */
export interface ProbeMetrics {
  probeStatus: LabelledGauge<'probe'>;
  queueJobs: LabelledGauge<'queue' | 'state'>;
  workersActive?: LabelledGauge<'queue'>;
  diskUsageRatio?: LabelledGauge<'path'>;
  backupLastSuccessTimestamp?: LabelledGauge<'target'>;
  backupDeadlineTimestamp?: LabelledGauge<'target'>;
  queueOldestWaitingSeconds?: LabelledGauge<'queue'>;
}

/** The subset of a pino logger this package uses. */
export interface ProbeLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
