import type { ProbeAlert } from './reporting-types.js';

/** Health alert messages. Keys decide throttling; a change of severity uses a new key so it is not suppressed. */
export const healthAlerts = {
  databaseDown(target: string, error: string | undefined): ProbeAlert {
    return {
      key: `health:database:${target}`,
      level: 'error',
      title: `Database connection failed: ${target}`,
      ...(error ? { text: error } : {}),
      fields: { Target: target },
    };
  },
  redisDown(error: string | undefined): ProbeAlert {
    return {
      key: 'health:redis',
      level: 'error',
      title: 'Redis connection failed',
      ...(error ? { text: error } : {}),
    };
  },
  diskUsage(info: {
    critical: boolean;
    usagePercent?: number | undefined;
    freeGb?: number | undefined;
    path?: string | undefined;
    thresholdPercent: number;
    error?: string | undefined;
  }): ProbeAlert {
    const usage = info.usagePercent === undefined ? 'unknown' : `${info.usagePercent.toFixed(1)} %`;
    return {
      key: info.critical ? 'health:disk:critical' : 'health:disk:warning',
      level: info.critical ? 'error' : 'warning',
      title: info.critical
        ? `Disk usage critical: ${usage} (above ${info.thresholdPercent} %)`
        : `Disk usage high: ${usage} (above ${info.thresholdPercent} %)`,
      ...(info.error ? { text: info.error } : {}),
      fields: {
        Path: info.path,
        Usage: usage,
        Free: info.freeGb === undefined ? undefined : `${info.freeGb} GB`,
      },
    };
  },
  noWorkers(info: { activeWorkers: number; idleQueues: string[] }): ProbeAlert {
    if (info.activeWorkers === 0) {
      return {
        key: 'health:workers:none',
        level: 'error',
        title: 'No worker running',
        text: 'No worker heartbeat in Redis: scheduled backups, restores and probes will not run.',
      };
    }
    return {
      key: 'health:workers:partial',
      level: 'warning',
      title: `No worker for queue ${info.idleQueues.join(', ')}`,
      fields: { 'Active workers': info.activeWorkers, Queues: info.idleQueues.join(', ') },
    };
  },
  queueBacklog(info: {
    queue: string;
    waiting: number;
    overdue: number;
    threshold: number;
    oldestAgeS?: number;
  }): ProbeAlert {
    return {
      key: `health:queue:${info.queue}`,
      level: 'warning',
      title: `Queue ${info.queue} has ${info.waiting + info.overdue} jobs waiting (threshold ${info.threshold})`,
      fields: {
        Waiting: info.waiting,
        'Overdue delayed': info.overdue,
        'Oldest waiting': info.oldestAgeS === undefined ? undefined : `${info.oldestAgeS} s`,
      },
    };
  },
  backupOverdue(info: {
    target: string;
    lastSuccessAt?: string | undefined;
    ageS?: number | undefined;
    error?: string | undefined;
  }): ProbeAlert {
    return {
      key: `health:backup:${info.target}`,
      level: 'error',
      title: `No recent good backup of ${info.target}`,
      ...(info.error ? { text: info.error } : {}),
      fields: {
        'Last good backup': info.lastSuccessAt ?? 'never',
        Age: info.ageS === undefined ? undefined : `${(info.ageS / 3600).toFixed(1)} h`,
      },
    };
  },
} as const;
