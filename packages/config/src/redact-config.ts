import { REDACTED } from '@warden/errors';
import type { WardenConfig } from './warden-config.js';

/**
 * `postgres://u@Host:5432/db` → `host:5432`: the server a target's connections go to (what the
 * per-server dump cap and the restore guard compare).
 */
export function databaseServerOf(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname.toLowerCase()}:${url.port || '5432'}`;
  } catch {
    return databaseUrl;
  }
}

/** A database URL with its password replaced, fit for logs and error messages. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = REDACTED;
    return url.toString();
  } catch {
    return REDACTED;
  }
}

/**
 * Every secret the configuration holds, for scrubbing free text (error messages from SDKs and
 * subprocesses) and for tests that scan output for leaks.
 */
export function collectSecrets(config: WardenConfig): string[] {
  const secrets: (string | undefined)[] = [
    config.http.adminApiToken,
    config.http.viewerApiToken,
    config.slack.webhookUrl,
    config.sentry.dsn,
    config.backup.encryptionKey,
  ];
  if (config.storage.kind === 's3') secrets.push(config.storage.secretAccessKey);
  secrets.push(config.deadman.startUrl, config.deadman.successUrl, config.deadman.failUrl);
  for (const target of config.targets) {
    // A dead-man URL carries its check's token: knowing it lets anyone report for Warden.
    secrets.push(target.deadman?.start, target.deadman?.success, target.deadman?.fail);
    try {
      const password = new URL(target.databaseUrl).password;
      if (password) secrets.push(password, decodeURIComponent(password));
    } catch {
      // An unparsable URL was already refused by loadConfig.
    }
  }
  try {
    const redisPassword = new URL(config.redis.url).password;
    if (redisPassword) secrets.push(redisPassword);
  } catch {
    // Refused by loadConfig.
  }
  return [
    ...new Set(secrets.filter((secret): secret is string => secret !== undefined && secret.length >= 4)),
  ];
}

/** The configuration with every secret replaced, for `--print-config` and start-up logs. */
export function redactConfig(config: WardenConfig): WardenConfig {
  const hide = (value: string | undefined) => (value === undefined ? undefined : REDACTED);
  return {
    ...config,
    targets: config.targets.map((target) => ({
      ...target,
      databaseUrl: redactUrl(target.databaseUrl),
      ...(target.deadman
        ? {
            deadman: {
              start: hide(target.deadman.start),
              success: hide(target.deadman.success),
              fail: hide(target.deadman.fail),
            },
          }
        : {}),
    })),
    deadman: {
      startUrl: hide(config.deadman.startUrl),
      successUrl: hide(config.deadman.successUrl),
      failUrl: hide(config.deadman.failUrl),
    },
    storage:
      config.storage.kind === 's3'
        ? { ...config.storage, secretAccessKey: hide(config.storage.secretAccessKey) }
        : config.storage,
    redis: { ...config.redis, url: redactUrl(config.redis.url) },
    http: {
      ...config.http,
      adminApiToken: hide(config.http.adminApiToken),
      viewerApiToken: hide(config.http.viewerApiToken),
    },
    slack: { ...config.slack, webhookUrl: hide(config.slack.webhookUrl) },
    sentry: { ...config.sentry, dsn: hide(config.sentry.dsn) },
    backup: { ...config.backup, encryptionKey: hide(config.backup.encryptionKey) },
  };
}
