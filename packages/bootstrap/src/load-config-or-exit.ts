import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, type WardenConfig } from '@warden/config';

/** The `version` of a `package.json`, or undefined when it cannot be read. */
export function readPackageVersion(packageJsonUrl: URL): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : undefined;
  } catch {
    return undefined;
  }
}

/** Options of {@link loadConfigOrExit}. */
export interface LoadConfigOrExitOptions {
  /** Put before the message on stderr, e.g. `warden-api: `. */
  messagePrefix: string;
  /** The app's `package.json`; its version is the release when `APP_VERSION` is unset. */
  packageJsonUrl: URL;
  /** Further start-up checks on the loaded configuration; may throw a refusal (see `isRefusal`). */
  check?: ((config: WardenConfig) => void) | undefined;
  /** Errors besides `ConfigError` that are printed and exit with status 2 instead of being thrown. */
  isRefusal?: ((error: unknown) => boolean) | undefined;
}

/**
 * Loads the configuration, or prints every problem and exits with status 2. Only for `main`s: this is
 * the one place outside an app's entry point allowed to end the process.
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv, options: LoadConfigOrExitOptions): WardenConfig {
  try {
    const defaultRelease = readPackageVersion(options.packageJsonUrl);
    const config = loadConfig(env, defaultRelease === undefined ? {} : { defaultRelease });
    options.check?.(config);
    return config;
  } catch (error) {
    if (error instanceof ConfigError || options.isRefusal?.(error)) {
      process.stderr.write(`${options.messagePrefix}${(error as Error).message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
