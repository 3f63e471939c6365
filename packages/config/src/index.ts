export {
  type BackupTarget,
  ConfigError,
  type LoadConfigOptions,
  loadConfig,
  type RedisConfig,
  type StorageConfig,
  type WardenConfig,
} from './load-config.js';
export { collectSecrets, redactConfig, redactUrl } from './redact-config.js';
export {
  cronExpression,
  DATABASE_NAME_PATTERN,
  envSchema,
  TARGET_NAME_PATTERN,
  targetName,
  timezone,
  type WardenEnv,
} from './schema.js';
