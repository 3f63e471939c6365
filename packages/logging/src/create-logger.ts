import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger } from 'pino';

/** Field paths that hold secrets wherever they appear in a log object. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'connectionString',
  '*.connectionString',
  'secretAccessKey',
  '*.secretAccessKey',
  'adminApiToken',
  '*.adminApiToken',
  'token',
  '*.token',
  'webhookUrl',
  '*.webhookUrl',
  'dsn',
  '*.dsn',
  'encryptionKey',
  '*.encryptionKey',
  'env.PGPASSWORD',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
];

export interface CreateLoggerOptions {
  /** Becomes the `service` field of every line. */
  service: string;
  /** @defaultValue 'info' */
  level?: LoggerOptions['level'];
  /**
   * Secret values (passwords, tokens, webhook URLs) scrubbed from every serialized line, including
   * free text such as error messages from drivers and subprocesses that path redaction cannot reach.
   */
  secrets?: readonly string[];
  /** @defaultValue stdout */
  destination?: DestinationStream;
  /**
   * `json`: one JSON object a line (what log shippers read). `pretty`: readable, coloured lines for a
   * person at a terminal; same fields, same redaction. See {@link resolveLogFormat}.
   * @defaultValue 'json'
   */
  format?: LogFormat;
}

export type LogFormat = 'json' | 'pretty';

/**
 * `LOG_FORMAT` to the format used: `json` and `pretty` are taken as they are; `auto` means pretty
 * lines when the output is a terminal and JSON lines otherwise (a pipe, a file, a container log).
 */
export function resolveLogFormat(setting: 'auto' | LogFormat, outputIsTerminal: boolean): LogFormat {
  if (setting === 'auto') return outputIsTerminal ? 'pretty' : 'json';
  return setting;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 4);
  const jsonSecrets = secrets.map((secret) => JSON.stringify(secret).slice(1, -1));
  const loggerOptions: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: options.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks:
      secrets.length > 0
        ? {
            streamWrite: (line) => {
              let scrubbed = line;
              for (const secret of jsonSecrets) scrubbed = scrubbed.split(secret).join('[redacted]');
              return scrubbed;
            },
          }
        : {},
  };
  if (options.format === 'pretty') {
    // In-process (no worker-thread transport), so it works inside the bundled entry points too. It
    // reads the JSON lines after redaction and secret scrubbing.
    const pretty = PinoPretty({
      colorize: true,
      translateTime: 'SYS:HH:MM:ss.l',
      // One line per event, the process first: `[11:38:53.001] INFO: warden-api api listening {…}`.
      singleLine: true,
      messageFormat: '{service} {msg}',
      ignore: 'pid,hostname,service',
      destination: options.destination ?? 1,
      sync: true,
    });
    return pino(loggerOptions, pretty);
  }
  return options.destination ? pino(loggerOptions, options.destination) : pino(loggerOptions);
}
