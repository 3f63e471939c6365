export { type CreateLoggerOptions, createLogger, type Logger, REDACTED_PATHS } from './create-logger.js';
