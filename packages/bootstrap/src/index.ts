export {
  alertKeyPrefix,
  createAlertHistoryFromConfig,
  createErrorReporterFromConfig,
  createSlackNotifierFromConfig,
  type ErrorReporterFromConfigOptions,
  type SlackNotifierFromConfigOptions,
} from './from-config.js';
export { type LoadConfigOrExitOptions, loadConfigOrExit, readPackageVersion } from './load-config-or-exit.js';
