import { describeError } from '@warden/errors';
import type { Cluster, Redis } from 'ioredis';
import { nameList } from './name-list.js';
import { withRedisTimeout, withSeparator } from './redis-timeout.js';
import type { Alert, AlertLevel, Notifier, NotifyLogger } from './types.js';

/**
 * Conditions of the same kind across targets ("database connection failed" for many targets) are
 * one group: a cycle sends at most one message per group, naming the first few members.
 */
export interface ConditionGroup {
  /** Throttle key of the group's messages, e.g. `health:database`. */
  key: string;
  /** Title before the member names, e.g. `Database connection failed: `. */
  titlePrefix: string;
}

/** One condition's state in one probe cycle. */
export interface CycleCondition {
  /** Identity of the condition, e.g. `health:database:main`. */
  key: string;
  active: boolean;
  /** The message for this condition alone (its `fields` are the current values, also when inactive). */
  alert: Alert;
  /** Set for per-target conditions: their messages are combined with the rest of the group's. */
  group?: ConditionGroup | undefined;
  /** The member's name in a combined message (the target). */
  subject?: string | undefined;
}

/** Raises an alert while a condition is active and says "resolved" once when it clears. */
export interface ConditionTracker {
  /**
   * Reports every condition of one probe cycle. A condition is raised after `afterFailures`
   * consecutive active cycles and resolved after `resolveAfter` consecutive inactive ones (uptime
   * monitors' damping, so one slow answer neither alerts nor resolves). Raised conditions are sent
   * every cycle, so the notifier's throttle turns a long outage into one reminder per window; each
   * group yields one message per cycle for its raised members and one for its resolved ones.
   * Streaks and states live in Redis, updated atomically, so the replica that runs the next cycle
   * continues where the last one stopped and exactly one process sends each "resolved".
   */
  reportCycle(conditions: readonly CycleCondition[]): Promise<void>;
  /** One condition on its own: `reportCycle([{ key, active, alert }])`. */
  report(key: string, active: boolean, alert: Alert): Promise<void>;
}

/** Options of {@link createConditionTracker}. */
export interface ConditionTrackerOptions {
  notifier: Notifier;
  /** Shared by all processes, so that a condition raised by one can be resolved by another. Not closed here. */
  redis: Redis | Cluster;
  /** Namespace of the state keys, e.g. `warden:alerts` (a `:` is appended when missing). */
  keyPrefix: string;
  /** `ALERT_AFTER_FAILURES`: consecutive active reports before alerting. @defaultValue 1 */
  afterFailures?: number;
  /** `ALERT_RESOLVE_AFTER`: consecutive inactive reports before resolving. @defaultValue 1 */
  resolveAfter?: number;
  /** Members named in a combined message before "and N more". @defaultValue 5 */
  namesShown?: number;
  /** How long the states survive without any report. @defaultValue 7 days */
  stateTtlSeconds?: number;
  /** Bound on each Redis round trip. @defaultValue 2000 */
  redisTimeoutMs?: number;
  logger?: NotifyLogger;
}

/** Per condition: failing and passing streaks, whether it was raised, since when, last title and key. */
interface ConditionState {
  failing: number;
  passing: number;
  raised: boolean;
  since: number;
  title: string;
  alertKey: string;
}

type Transition = 'raised' | 'active' | 'resolved' | 'none';

/**
 * The state machine of {@link ConditionTracker.reportCycle}, run inside Redis so two processes never
 * both resolve one condition. ARGV: afterFailures, resolveAfter, now, ttl, then per condition
 * key, active (1/0), title, alertKey. Returns per condition: transition, since, title, alertKey (the
 * last active ones: a "resolved" names what was raised, not the current healthy reading).
 */
const CYCLE_SCRIPT = `
local after = tonumber(ARGV[1])
local resolveAfter = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local out = {}
local i = 5
while i <= #ARGV do
  local field, active, title, alertKey = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2], ARGV[i + 3]
  local raw = redis.call('HGET', KEYS[1], field)
  local st = {failing = 0, passing = 0, raised = false, since = now, title = title, alertKey = alertKey}
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then st = decoded end
  end
  local transition = 'none'
  if active then
    st.failing = (st.failing or 0) + 1
    st.passing = 0
    st.title = title
    st.alertKey = alertKey
    if st.raised then
      transition = 'active'
    elseif st.failing >= after then
      st.raised = true
      st.since = now
      transition = 'raised'
    end
  else
    st.passing = (st.passing or 0) + 1
    st.failing = 0
    if st.raised and st.passing >= resolveAfter then transition = 'resolved' end
  end
  if transition == 'resolved' or (not st.raised and st.failing == 0) then
    redis.call('HDEL', KEYS[1], field)
  else
    redis.call('HSET', KEYS[1], field, cjson.encode(st))
  end
  table.insert(out, transition)
  table.insert(out, tostring(st.since or now))
  table.insert(out, st.title or title)
  table.insert(out, st.alertKey or alertKey)
  i = i + 4
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return out
`;

/** The same state machine in-process, for conditions seen while Redis is unreachable. */
function stepLocally(
  states: Map<string, ConditionState>,
  condition: CycleCondition,
  limits: { after: number; resolveAfter: number },
  now: number,
): { transition: Transition; since: number; title: string; alertKey: string } {
  const state = states.get(condition.key) ?? {
    failing: 0,
    passing: 0,
    raised: false,
    since: now,
    title: condition.alert.title,
    alertKey: condition.alert.key,
  };
  let transition: Transition = 'none';
  if (condition.active) {
    state.failing += 1;
    state.passing = 0;
    state.title = condition.alert.title;
    state.alertKey = condition.alert.key;
    if (state.raised) transition = 'active';
    else if (state.failing >= limits.after) {
      state.raised = true;
      state.since = now;
      transition = 'raised';
    }
  } else {
    state.passing += 1;
    state.failing = 0;
    if (state.raised && state.passing >= limits.resolveAfter) transition = 'resolved';
  }
  if (transition === 'resolved' || (!state.raised && state.failing === 0)) states.delete(condition.key);
  else states.set(condition.key, state);
  return { transition, since: state.since, title: state.title, alertKey: state.alertKey };
}

function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

const LEVEL_RANK: Record<AlertLevel, number> = { success: 0, info: 1, warning: 2, error: 3 };

interface Outcome {
  condition: CycleCondition;
  transition: Transition;
  since: number;
  title: string;
  alertKey: string;
}

export function createConditionTracker(options: ConditionTrackerOptions): ConditionTracker {
  const { notifier, redis, logger } = options;
  const stateKey = `${withSeparator(options.keyPrefix)}conditions`;
  const ttl = options.stateTtlSeconds ?? 7 * 24 * 3600;
  const timeoutMs = options.redisTimeoutMs ?? 2_000;
  const limits = { after: options.afterFailures ?? 1, resolveAfter: options.resolveAfter ?? 1 };
  const namesShown = options.namesShown ?? 5;
  /**
   * Conditions first seen while Redis was unreachable. "Redis connection failed" and its "resolved"
   * must work without Redis, and Redis, restarted or failed over, may not know them afterwards: they
   * stay here until resolved.
   */
  const local = new Map<string, ConditionState>();

  const step = async (conditions: readonly CycleCondition[]): Promise<Outcome[]> => {
    const now = Date.now();
    const shared = conditions.filter((condition) => !local.has(condition.key));
    let fromRedis: Outcome[] | undefined;
    if (shared.length > 0) {
      try {
        const args = [String(limits.after), String(limits.resolveAfter), String(now), String(ttl)];
        for (const condition of shared) {
          args.push(condition.key, condition.active ? '1' : '0', condition.alert.title, condition.alert.key);
        }
        const reply = (await withRedisTimeout(redis.eval(CYCLE_SCRIPT, 1, stateKey, ...args), timeoutMs)) as
          | string[]
          | null;
        fromRedis = shared.map((condition, index) => ({
          condition,
          transition: (reply?.[index * 4] ?? 'none') as Transition,
          since: Number(reply?.[index * 4 + 1] ?? now),
          title: reply?.[index * 4 + 2] ?? condition.alert.title,
          alertKey: reply?.[index * 4 + 3] ?? condition.alert.key,
        }));
      } catch (error) {
        logger?.warn({ error: describeError(error, (text) => text) }, 'condition tracker: redis unavailable');
      }
    }
    const outcomes: Outcome[] = fromRedis ?? [];
    const handled = new Set(outcomes.map((outcome) => outcome.condition.key));
    for (const condition of conditions) {
      if (handled.has(condition.key)) continue;
      outcomes.push({ condition, ...stepLocally(local, condition, limits, now) });
    }
    return outcomes;
  };

  const raisedMessage = (members: Outcome[]): Alert => {
    const first = members[0] as Outcome;
    const group = first.condition.group;
    if (members.length === 1 || !group) return first.condition.alert;
    const names = members.map((member) => member.condition.subject ?? member.condition.key);
    const level = members.reduce<AlertLevel>(
      (worst, member) =>
        LEVEL_RANK[member.condition.alert.level] > LEVEL_RANK[worst] ? member.condition.alert.level : worst,
      'info',
    );
    const details = members
      .slice(0, namesShown)
      .filter((member) => member.condition.alert.text)
      .map((member) => `${member.condition.subject}: ${member.condition.alert.text}`);
    return {
      key: group.key,
      level,
      title: `${group.titlePrefix}${nameList(names, namesShown)}`,
      ...(details.length > 0 ? { text: details.join('\n') } : {}),
      fields: { Targets: members.length },
    };
  };

  const resolvedMessage = (members: Outcome[]): Alert => {
    const first = members[0] as Outcome;
    const group = first.condition.group;
    const longest = Math.max(...members.map((member) => Date.now() - member.since));
    const duration = formatDuration(longest);
    if (members.length === 1 || !group) {
      return {
        key: `${first.alertKey}:resolved`,
        level: 'success',
        title: `Resolved: ${first.title}`,
        text: `The condition cleared after ${duration}.`,
        fields: { ...first.condition.alert.fields, 'Active for': duration },
      };
    }
    const names = members.map((member) => member.condition.subject ?? member.condition.key);
    return {
      key: `${group.key}:resolved`,
      level: 'success',
      title: `Resolved: ${group.titlePrefix}${nameList(names, namesShown)}`,
      text: `${members.length} conditions cleared; the longest was active for ${duration}.`,
      fields: { Targets: members.length, 'Active for (longest)': duration },
    };
  };

  const reportCycle = async (conditions: readonly CycleCondition[]) => {
    const outcomes = await step(conditions);
    const raised = new Map<string, Outcome[]>();
    const resolved = new Map<string, Outcome[]>();
    for (const outcome of outcomes) {
      const bucket =
        outcome.transition === 'raised' || outcome.transition === 'active'
          ? raised
          : outcome.transition === 'resolved'
            ? resolved
            : undefined;
      if (!bucket) continue;
      const groupKey = outcome.condition.group?.key ?? outcome.condition.key;
      const members = bucket.get(groupKey) ?? [];
      members.push(outcome);
      bucket.set(groupKey, members);
    }
    for (const members of raised.values()) await notifier.notify(raisedMessage(members));
    for (const members of resolved.values()) await notifier.notify(resolvedMessage(members));
  };

  return {
    reportCycle,
    report: (key, active, alert) => reportCycle([{ key, active, alert }]),
  };
}
