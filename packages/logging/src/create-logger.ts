import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

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
  return options.destination ? pino(loggerOptions, options.destination) : pino(loggerOptions);
}
