export {
  type CreateLoggerOptions,
  createLogger,
  type LogFormat,
  type Logger,
  REDACTED_PATHS,
  resolveLogFormat,
} from './create-logger.js';
