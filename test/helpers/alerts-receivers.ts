import { randomBytes } from 'node:crypto';
import { type HttpReceiver, type RecordedRequest, startHttpReceiver } from './http-receiver.js';

/** A Slack message as it arrived at the fake webhook, decoded from the Block Kit payload. */
export interface SlackMessage {
  /** The alert key, from the context block (`alert \`<key>\``). */
  key: string;
  /** The plain-text fallback: emoji, title, text and the suppressed note. */
  text: string;
  /** Slack field name → value, from the fields sections. */
  fields: Record<string, string>;
  /** "N similar alerts suppressed" count from the context block; 0 when absent. */
  suppressed: number;
  color: string | undefined;
  raw: string;
}

export interface SlackReceiver {
  receiver: HttpReceiver;
  /** The random last path segment: what makes an incoming-webhook URL a secret. */
  secretPath: string;
  webhookUrl: string;
  messages(): SlackMessage[];
  /** Waits until `count` messages match `filter`; rejects after `timeoutMs`. */
  waitForMessages(
    filter: (message: SlackMessage) => boolean,
    count: number,
    timeoutMs: number,
  ): Promise<SlackMessage[]>;
}

const unescapeMrkdwn = (text: string) =>
  text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

export function parseSlackMessage(request: RecordedRequest): SlackMessage {
  const body = JSON.parse(request.text) as {
    text?: string;
    attachments?: { color?: string; blocks?: Record<string, unknown>[] }[];
  };
  const attachment = body.attachments?.[0];
  const fields: Record<string, string> = {};
  let key = '';
  let suppressed = 0;
  for (const block of attachment?.blocks ?? []) {
    if (block.type === 'section' && Array.isArray(block.fields)) {
      for (const field of block.fields as { text: string }[]) {
        const match = /^\*(.+?)\*\n([\s\S]*)$/.exec(field.text);
        if (match?.[1] !== undefined) fields[unescapeMrkdwn(match[1])] = unescapeMrkdwn(match[2] ?? '');
      }
    }
    if (block.type === 'context') {
      const text = ((block.elements as { text: string }[] | undefined) ?? []).map((e) => e.text).join(' ');
      key = unescapeMrkdwn(/alert `([^`]+)`/.exec(text)?.[1] ?? '');
      suppressed = Number(/(\d+) similar alerts? suppressed/.exec(text)?.[1] ?? 0);
    }
  }
  return { key, text: body.text ?? '', fields, suppressed, color: attachment?.color, raw: request.text };
}

/** A fake Slack incoming webhook on loopback, with a random "secret" path like a real one. */
export async function startSlackReceiver(): Promise<SlackReceiver> {
  const receiver = await startHttpReceiver();
  const secretPath = `WhSecret${randomBytes(12).toString('hex')}`;
  const webhookUrl = `${receiver.url}/services/T000/B000/${secretPath}`;
  const messages = () =>
    receiver.requests
      .filter((request) => request.method === 'POST')
      .map((request) => parseSlackMessage(request));
  return {
    receiver,
    secretPath,
    webhookUrl,
    messages,
    async waitForMessages(filter, count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages().filter(filter);
        if (found.length >= count) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `expected ${count} matching Slack message(s) within ${timeoutMs} ms, got ${found.length}; all keys: ${messages()
              .map((message) => message.key)
              .join(', ')}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** An event of a Sentry envelope, with its envelope's raw text. */
export interface SentryEvent {
  event: Record<string, unknown> & { tags?: Record<string, string>; exception?: unknown };
  raw: string;
}

export interface SentryReceiver {
  receiver: HttpReceiver;
  /** `http://publickey@127.0.0.1:<port>/1` */
  dsn: string;
  events(): SentryEvent[];
  waitForEvents(
    filter: (event: SentryEvent) => boolean,
    count: number,
    timeoutMs: number,
  ): Promise<SentryEvent[]>;
}

/** Sentry envelopes are newline-separated JSON: the envelope header, then item header + payload pairs. */
export function sentryEventsOf(requests: readonly RecordedRequest[]): SentryEvent[] {
  const events: SentryEvent[] = [];
  for (const request of requests) {
    const lines = request.text.split('\n').filter((line) => line.trim() !== '');
    for (let index = 1; index + 1 < lines.length; index += 2) {
      let header: { type?: string };
      try {
        header = JSON.parse(lines[index] ?? '{}') as { type?: string };
      } catch {
        continue;
      }
      if (header.type === 'event') {
        events.push({ event: JSON.parse(lines[index + 1] ?? '{}'), raw: request.text });
      }
    }
  }
  return events;
}

/** A fake Sentry ingest on loopback; the DSN's public key is not a secret (it is sent with every event). */
export async function startSentryReceiver(): Promise<SentryReceiver> {
  const receiver = await startHttpReceiver({ defaultBody: '{}' });
  const events = () => sentryEventsOf(receiver.requests);
  return {
    receiver,
    dsn: `http://publickey@127.0.0.1:${receiver.port}/1`,
    events,
    async waitForEvents(filter, count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events().filter(filter);
        if (found.length >= count) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `expected ${count} matching Sentry event(s) within ${timeoutMs} ms, got ${found.length}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** Reads the value of a Prometheus sample (first series whose line contains every `parts`). */
export function sampleValue(
  exposition: string,
  name: string,
  parts: readonly string[] = [],
): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (parts.every((part) => line.includes(part))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
