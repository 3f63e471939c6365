export { ConfigError } from './config-error.js';
export { type LoadConfigOptions, loadConfig } from './load-config.js';
export { collectSecrets, databaseServerOf, redactConfig, redactUrl } from './redact-config.js';
export {
  cronExpression,
  envSchema,
  targetName,
  timezone,
  type WardenEnv,
} from './schema.js';
export type { BackupTarget, RedisConfig, StorageConfig, WardenConfig } from './warden-config.js';
