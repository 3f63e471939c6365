import { describe, expect, it } from 'vitest';
import { buildSlackMessage, LEVEL_STYLE } from './slack-message.js';

describe('buildSlackMessage', () => {
  it('builds a coloured attachment with title, text, fields and context', () => {
    const message = buildSlackMessage(
      {
        key: 'backup-failed:main',
        level: 'error',
        title: 'Backup <main> failed',
        text: 'a & b',
        fields: { Target: 'main', Size: 12.5, Empty: undefined },
      },
      { suppressed: 3, channel: '#ops', botName: 'Warden' },
    );
    expect(message.channel).toBe('#ops');
    expect(message.username).toBe('Warden');
    expect(message.text).toBe(
      ':rotating_light: Backup <main> failed — a & b — (3 similar alerts suppressed since the last message)',
    );
    const attachment = message.attachments?.[0];
    expect(attachment?.color).toBe(LEVEL_STYLE.error.color);
    expect(attachment?.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: ':rotating_light: *Backup &lt;main&gt; failed*' } },
      { type: 'section', text: { type: 'mrkdwn', text: 'a &amp; b' } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*Target*\nmain' },
          { type: 'mrkdwn', text: '*Size*\n12.5' },
        ],
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: 'Error · alert `backup-failed:main` · 3 similar alerts suppressed since the last message',
          },
        ],
      },
    ]);
  });

  it('splits more than ten fields into several sections and truncates long text', () => {
    const fields = Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`F${index}`, index]));
    const message = buildSlackMessage({
      key: 'k',
      level: 'info',
      title: 't',
      text: 'x'.repeat(5000),
      fields,
    });
    const blocks = message.attachments?.[0]?.blocks as { fields?: unknown[]; text?: { text: string } }[];
    expect(blocks[1]?.text?.text.length).toBe(3000);
    expect(blocks[2]?.fields).toHaveLength(10);
    expect(blocks[3]?.fields).toHaveLength(2);
    expect(message.channel).toBeUndefined();
  });

  it('has a distinct colour and emoji per level', () => {
    const colours = new Set(Object.values(LEVEL_STYLE).map((style) => style.color));
    const emoji = new Set(Object.values(LEVEL_STYLE).map((style) => style.emoji));
    expect(colours.size).toBe(4);
    expect(emoji.size).toBe(4);
  });
});
