export {
  type BackupTarget,
  ConfigError,
  type LoadConfigOptions,
  loadConfig,
  type RedisConfig,
  type StorageConfig,
  type WardenConfig,
} from './load-config.js';
export { collectSecrets, databaseServerOf, redactConfig, redactUrl } from './redact-config.js';
export {
  cronExpression,
  envSchema,
  targetName,
  timezone,
  type WardenEnv,
} from './schema.js';
