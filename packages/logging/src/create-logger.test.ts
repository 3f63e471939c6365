import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from './create-logger.js';

function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('resolveLogFormat', () => {
  it('prints readable lines on a terminal and JSON lines elsewhere, unless told', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });
});

describe('createLogger formats', () => {
  it('writes one JSON object a line by default', () => {
    const out = collector();
    const logger = createLogger({ service: 'warden-test', destination: out.stream });
    logger.info({ target: 'shop' }, 'backup done');
    const line = JSON.parse(out.text().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', service: 'warden-test', target: 'shop', msg: 'backup done' });
  });

  it('writes a readable single line in pretty format, with secrets still scrubbed', async () => {
    const out = collector();
    const logger = createLogger({
      service: 'warden-test',
      destination: out.stream,
      format: 'pretty',
      secrets: ['s3cr3t-token-value'],
    });
    logger.info({ target: 'shop', note: 'token s3cr3t-token-value' }, 'backup done');
    logger.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Colour codes aside, what a person reads at a terminal.
    const text = out.text().replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(text).toMatch(
      /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: warden-test backup done \{.*"target":"shop".*\}\n$/,
    );
    expect(text).not.toContain('s3cr3t-token-value');
    expect(text).toContain('[redacted]');
    expect(() => JSON.parse(text)).toThrow();
  });
});
