import { EventEmitter } from 'node:events';
import { createSentryReporter, installProcessErrorHandlers, type NotifyLogger } from '@warden/notify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpReceiver, type RecordedRequest, startHttpReceiver } from './helpers/http-receiver.js';

const DB_PASSWORD = 'Sentry-Db-S3cret-pw';
const S3_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';

const silentLogger: NotifyLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Sentry envelopes: newline-separated JSON (envelope header, then item header + payload pairs). */
function eventsOf(requests: RecordedRequest[]): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const request of requests) {
    const lines = request.text.split('\n').filter((line) => line.trim() !== '');
    for (let index = 1; index + 1 < lines.length; index += 2) {
      const header = JSON.parse(lines[index] ?? '{}') as { type?: string };
      if (header.type === 'event') events.push(JSON.parse(lines[index + 1] ?? '{}'));
    }
  }
  return events;
}

describe('Sentry reporter against a local ingest receiver', () => {
  let receiver: HttpReceiver;
  let reporter: ReturnType<typeof createSentryReporter>;

  beforeAll(async () => {
    receiver = await startHttpReceiver({ defaultBody: '{}' });
    reporter = createSentryReporter({
      dsn: `http://public@127.0.0.1:${receiver.port}/1`,
      environment: 'integration-test',
      release: 'warden@9.9.9-test',
      tracesSampleRate: 0,
      serverName: 'test-host',
      secrets: [DB_PASSWORD, S3_SECRET],
      logger: silentLogger,
      tags: { service: 'worker' },
    });
  });
  afterAll(async () => {
    await reporter.close(2_000);
    await receiver.close();
  });

  it('sends a failed job with queue, job id, target and attempt tags and no secret', async () => {
    const cause = new Error(`S3 said: signature mismatch for key ${S3_SECRET}`);
    const error = new Error(
      `pg_dump: connection to postgres://backup:${DB_PASSWORD}@db.internal:5432/app failed`,
      { cause },
    );
    reporter.captureJobFailure(error, { queue: 'backups', jobId: '42', target: 'main', attempt: 2 });
    expect(await reporter.flush(5_000)).toBe(true);

    const envelopes = await receiver.waitFor(1, {
      filter: (request) =>
        request.url.startsWith('/api/1/envelope/') && request.text.includes('"type":"event"'),
    });
    const [event] = eventsOf(envelopes);
    expect(event).toBeDefined();
    expect(event?.tags).toMatchObject({
      queue: 'backups',
      job_id: '42',
      target: 'main',
      attempt: '2',
      service: 'worker',
    });
    expect(event?.environment).toBe('integration-test');
    expect(event?.release).toBe('warden@9.9.9-test');
    expect(event?.server_name).toBe('test-host');
    expect(JSON.stringify(event)).toContain('db.internal:5432/app');
    expect(JSON.stringify(event)).toContain('[redacted]');
    expect(event?.user).toBeUndefined();

    const everything = receiver.requests.map((request) => `${request.url}\n${request.text}`).join('\n');
    expect(everything).not.toContain(DB_PASSWORD);
    expect(everything).not.toContain(S3_SECRET);
    expect(receiver.requests[0]?.method).toBe('POST');
  });

  it('captures an uncaught exception through the process handlers, then calls onFatal', async () => {
    receiver.reset();
    const fakeProcess = new EventEmitter();
    const fatal = new Promise<{ error: unknown; origin: string }>((resolve) => {
      const uninstall = installProcessErrorHandlers({
        reporter,
        logger: silentLogger,
        target: fakeProcess,
        onFatal: (error, origin) => {
          uninstall();
          resolve({ error, origin });
        },
      });
    });
    fakeProcess.emit('uncaughtException', new Error(`boom with ${DB_PASSWORD}`));
    const { origin } = await fatal;
    expect(origin).toBe('uncaughtException');
    expect(fakeProcess.listenerCount('uncaughtException')).toBe(0);

    const envelopes = await receiver.waitFor(1, {
      filter: (request) => request.text.includes('"type":"event"'),
    });
    const [event] = eventsOf(envelopes);
    expect(JSON.stringify(event)).toContain('boom with [redacted]');
    expect(JSON.stringify(event)).toContain('uncaughtException');
    expect(receiver.requests.map((request) => request.text).join('\n')).not.toContain(DB_PASSWORD);
  });

  it('keeps going after an unhandled rejection unless told it is fatal', async () => {
    receiver.reset();
    const fakeProcess = new EventEmitter();
    let fatalCalls = 0;
    const uninstall = installProcessErrorHandlers({
      reporter,
      logger: silentLogger,
      target: fakeProcess,
      onFatal: () => {
        fatalCalls += 1;
      },
    });
    fakeProcess.emit('unhandledRejection', new Error('rejected promise'));
    await reporter.flush(5_000);
    await receiver.waitFor(1, { filter: (request) => request.text.includes('rejected promise') });
    expect(fatalCalls).toBe(0);
    uninstall();
  });
});

describe('Sentry reporter without a DSN', () => {
  it('only logs, scrubbed, and sends nothing', async () => {
    const receiver = await startHttpReceiver();
    const entries: { obj: object; msg?: string | undefined }[] = [];
    const logger: NotifyLogger = { ...silentLogger, error: (obj, msg) => entries.push({ obj, msg }) };
    const reporter = createSentryReporter({
      environment: 'test',
      release: 'x',
      tracesSampleRate: 0,
      secrets: [DB_PASSWORD],
      logger,
    });
    reporter.captureJobFailure(new Error(`bad ${DB_PASSWORD}`), {
      queue: 'backups',
      jobId: '7',
      target: 'main',
    });
    expect(await reporter.flush()).toBe(true);
    await reporter.close();
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries)).toContain('"queue":"backups"');
    expect(JSON.stringify(entries)).not.toContain(DB_PASSWORD);
    expect(receiver.requests).toHaveLength(0);
    await receiver.close();
  });
});
