import type { IncomingWebhookSendArguments } from '@slack/webhook';
import type { Alert, AlertLevel } from './types.js';

/** docs/architecture.md#alerts: colour (attachment bar) and emoji per level. */
export const LEVEL_STYLE: Record<AlertLevel, { color: string; emoji: string; label: string }> = {
  error: { color: '#E01E5A', emoji: ':rotating_light:', label: 'Error' },
  warning: { color: '#ECB22E', emoji: ':warning:', label: 'Warning' },
  info: { color: '#36C5F0', emoji: ':information_source:', label: 'Info' },
  success: { color: '#2EB67D', emoji: ':white_check_mark:', label: 'Success' },
};

// Slack's limits: section text 3000 chars, a field 2000, at most 10 fields per section.
const MAX_SECTION_TEXT = 3000;
const MAX_FIELD_TEXT = 2000;
const FIELDS_PER_SECTION = 10;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Slack mrkdwn treats `&`, `<` and `>` as control characters. */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export interface SlackMessageOptions {
  /** Number of identical alerts suppressed by throttling since the last one was sent. */
  suppressed?: number;
  channel?: string;
  botName?: string;
}

/**
 * The webhook payload for an alert: a plain `text` fallback (notifications, screen readers) and a
 * coloured attachment holding Block Kit blocks (header line, body, fields, context).
 */
export function buildSlackMessage(
  alert: Alert,
  options: SlackMessageOptions = {},
): IncomingWebhookSendArguments {
  const style = LEVEL_STYLE[alert.level];
  const title = escapeMrkdwn(alert.title);
  const suppressedNote =
    options.suppressed && options.suppressed > 0
      ? `${options.suppressed} similar alert${options.suppressed === 1 ? '' : 's'} suppressed since the last message`
      : undefined;

  const blocks: NonNullable<IncomingWebhookSendArguments['blocks']> = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(`${style.emoji} *${title}*`, MAX_SECTION_TEXT) },
    },
  ];
  if (alert.text) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(alert.text), MAX_SECTION_TEXT) },
    });
  }
  const fields = Object.entries(alert.fields ?? {})
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== '')
    .map(([name, value]) => ({
      type: 'mrkdwn' as const,
      text: truncate(`*${escapeMrkdwn(name)}*\n${escapeMrkdwn(String(value))}`, MAX_FIELD_TEXT),
    }));
  for (let start = 0; start < fields.length; start += FIELDS_PER_SECTION) {
    blocks.push({ type: 'section', fields: fields.slice(start, start + FIELDS_PER_SECTION) });
  }
  const context = [`${style.label}`, `alert \`${escapeMrkdwn(alert.key)}\``];
  if (suppressedNote) context.push(suppressedNote);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] });

  const fallback = [
    `${style.emoji} ${alert.title}`,
    alert.text,
    suppressedNote ? `(${suppressedNote})` : undefined,
  ]
    .filter(Boolean)
    .join(' — ');

  const message: IncomingWebhookSendArguments = {
    text: truncate(fallback, MAX_SECTION_TEXT),
    attachments: [{ color: style.color, fallback: truncate(fallback, MAX_SECTION_TEXT), blocks }],
  };
  if (options.channel) message.channel = options.channel;
  if (options.botName) message.username = options.botName;
  return message;
}
