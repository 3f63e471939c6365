export {
  DATABASE_NAME_RULE,
  databaseNameOfUrl,
  databaseNameProblem,
  databaseNameSlug,
  isDatabaseName,
  isTargetName,
  MAX_IDENTIFIER_BYTES,
  TARGET_NAME_PATTERN,
  TARGET_NAME_RULE,
  truncateUtf8,
} from './database-name.js';
export { pgClientConfig } from './postgres-url.js';
