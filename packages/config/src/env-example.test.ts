import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { envSchema } from './schema.js';

const exampleFile = new URL('../../../.env.example', import.meta.url);

function readExample(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of readFileSync(exampleFile, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) entries.set(match[1], match[2] ?? '');
  }
  return entries;
}

describe('.env.example', () => {
  it('documents every variable of the schema and no other', () => {
    const documented = [...readExample().keys()].sort();
    expect(documented).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('shows the real defaults: loading it gives the same configuration as an empty environment', () => {
    const env = Object.fromEntries(readExample());
    expect(loadConfig(env, { cwd: '/x', defaultRelease: '1' })).toEqual(
      loadConfig({}, { cwd: '/x', defaultRelease: '1' }),
    );
  });
});
