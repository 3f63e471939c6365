import { isGoodBackupOf, isSafetyCopy, type ManifestSummary } from '@warden/catalog';
import type { BackupTarget } from '@warden/config';
import { evaluateBackupFreshness } from '@warden/probes';

/** Overall state of one target, worst first when sorted by {@link STATUS_ORDER}. */
export type FleetStatus = 'failing' | 'degraded' | 'healthy';
export const STATUS_ORDER: Record<FleetStatus, number> = { failing: 0, degraded: 1, healthy: 2 };

/** How many of a target's newest backups the size trend shows. */
export const TREND_LENGTH = 20;

/**
 * Manifests of one target read at most for its row. Restore tests prove the newest backups, so a
 * verdict is among the newest few; one older than this many backups is not looked for.
 */
export const FLEET_READ_LIMIT = 100;

/** A job of a target that is waiting, delayed or running. */
export interface FleetJob {
  id: string;
  kind: 'backup' | 'restore' | 'restore-test';
  state: string;
  phase: string | null;
  percent: number | null;
}

/** The last time a job of a target ended in failure. */
export interface FleetFailure {
  kind: 'backup' | 'restore-test';
  jobId: string;
  at: string;
  reason: string;
}

export interface FleetRow {
  name: string;
  environment: string;
  database: string;
  enabled: boolean;
  schedule: string;
  timezone: string;
  status: FleetStatus;
  /** Why the status is what it is, most serious first; empty when healthy. */
  reasons: string[];
  lastBackup: {
    filename: string;
    finished_at: string;
    bytes: number;
    size_mb: number;
    duration_ms: number;
    sha256: string;
  } | null;
  /** Sizes of the newest backups, oldest first (the size trend). */
  trend: { finished_at: string; bytes: number }[];
  restoreTest: { status: 'passed' | 'failed'; at: string; file: string } | null;
  nextRun: string | null;
  job: FleetJob | null;
  lastFailure: FleetFailure | null;
}

export interface FleetInputs {
  targets: readonly BackupTarget[];
  backupEnabled: boolean;
  restoreVerifyEnabled: boolean;
  /** The targets' manifests, newest first (the catalog order): all, or {@link fleetManifestsOf}'s. */
  manifests: readonly ManifestSummary[];
  /** Next run of each target's backup scheduler, by target name. */
  nextRuns: ReadonlyMap<string, string>;
  /** Unfinished jobs by target, most advanced first. */
  jobs: ReadonlyMap<string, FleetJob>;
  /** Newest failed job of each kind, by target name. */
  failures: ReadonlyMap<string, FleetFailure[]>;
  /** Time a scheduled run may take before the backup counts as overdue. */
  graceMs: number;
  now: Date;
}

/**
 * The newest of one target's manifests (newest first, as the catalog yields them) that decide its
 * row in {@link summariseFleet}: read until there are {@link TREND_LENGTH} good backups and a
 * restore-test verdict, or {@link FLEET_READ_LIMIT} manifests. The row is the one all of them
 * would give, as nothing older counts once those are found.
 */
export async function fleetManifestsOf(
  newestFirst: AsyncIterable<ManifestSummary>,
  target: BackupTarget,
): Promise<ManifestSummary[]> {
  const read: ManifestSummary[] = [];
  let good = 0;
  let tested = false;
  for await (const manifest of newestFirst) {
    read.push(manifest);
    if (!isSafetyCopy(manifest)) {
      if (isGoodBackupOf(manifest, target)) good += 1;
      if (manifest.verification !== undefined) tested = true;
    }
    if ((good >= TREND_LENGTH && tested) || read.length >= FLEET_READ_LIMIT) break;
  }
  return read;
}

/**
 * One row per configured target: what an operator asks first ("are my backups fine?") answered from
 * the catalog, the queues and the schedules. The rules, in order of severity:
 * failing — no good backup at all, the newest backup attempt failed after the last good one, or the
 * newest restore test failed; degraded — the last good backup is older than its schedule allows, or
 * no restore test has passed yet while restore tests are on.
 */
export function summariseFleet(inputs: FleetInputs): FleetRow[] {
  const byTarget = new Map<string, ManifestSummary[]>();
  for (const manifest of inputs.manifests) {
    const list = byTarget.get(manifest.target);
    if (list) list.push(manifest);
    else byTarget.set(manifest.target, [manifest]);
  }

  const rows = inputs.targets.map((target): FleetRow => {
    const all = (byTarget.get(target.name) ?? []).filter((manifest) => !isSafetyCopy(manifest));
    const manifests = all.filter((manifest) => isGoodBackupOf(manifest, target));
    const newest = manifests[0];
    // The newest verdict counts even when it failed the backup it tested.
    const tested = all.find((manifest) => manifest.verification !== undefined);
    const failures = inputs.failures.get(target.name) ?? [];
    const backupFailure = failures.find((failure) => failure.kind === 'backup');
    const testFailure = failures.find((failure) => failure.kind === 'restore-test');
    const failing: string[] = [];
    const degraded: string[] = [];

    if (!newest) failing.push('no good backup yet');
    if (backupFailure && (!newest || Date.parse(backupFailure.at) > Date.parse(newest.finished_at))) {
      failing.push(`last backup failed: ${backupFailure.reason}`);
    }
    const testAt = tested?.verification ? Date.parse(tested.verification.at) : Number.NEGATIVE_INFINITY;
    if (tested?.verification?.status === 'failed') {
      failing.push(`restore test of ${tested.filename} failed`);
    } else if (testFailure && Date.parse(testFailure.at) > testAt) {
      failing.push(`restore test failed: ${testFailure.reason}`);
    }
    if (newest && target.enabled && inputs.backupEnabled) {
      const freshness = evaluateBackupFreshness(
        target,
        new Date(newest.finished_at),
        inputs.now,
        inputs.graceMs,
      );
      if (freshness.status !== 'healthy' && freshness.expected_since) {
        degraded.push(`backup overdue: none since the run due ${freshness.expected_since}`);
      }
    }
    if (newest && inputs.restoreVerifyEnabled && !tested) degraded.push('never restore-tested');

    const status: FleetStatus = failing.length > 0 ? 'failing' : degraded.length > 0 ? 'degraded' : 'healthy';
    return {
      name: target.name,
      environment: target.environment,
      database: target.database,
      enabled: target.enabled,
      schedule: target.schedule,
      timezone: target.timezone,
      status,
      reasons: [...failing, ...degraded],
      lastBackup: newest
        ? {
            filename: newest.filename,
            finished_at: newest.finished_at,
            bytes: newest.bytes,
            size_mb: newest.size_mb,
            duration_ms: newest.duration_ms,
            sha256: newest.sha256,
          }
        : null,
      trend: manifests
        .slice(0, TREND_LENGTH)
        .map((manifest) => ({ finished_at: manifest.finished_at, bytes: manifest.bytes }))
        .reverse(),
      restoreTest: tested?.verification
        ? { status: tested.verification.status, at: tested.verification.at, file: tested.filename }
        : null,
      nextRun: inputs.nextRuns.get(target.name) ?? null,
      job: inputs.jobs.get(target.name) ?? null,
      lastFailure: failures[0] ?? null,
    };
  });
  return rows.sort(
    (a, b) =>
      STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}
