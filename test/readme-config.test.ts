import { readFileSync } from 'node:fs';
import { envSchema } from '@warden/config';
import { describe, expect, it } from 'vitest';
import { renderConfigTable, replaceConfigTable } from '../scripts/config-docs.js';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

describe('README configuration table', () => {
  it('is generated from .env.example and up to date (run `npm run docs:config`)', () => {
    const readme = read('README.md');
    expect(replaceConfigTable(readme, renderConfigTable(read('.env.example')))).toBe(readme);
  });

  it('lists every variable of the config schema with a meaning', () => {
    const table = renderConfigTable(read('.env.example'));
    for (const name of Object.keys(envSchema.shape)) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      expect(row?.split('|')[3]?.trim().length, `${name} needs a meaning in .env.example`).toBeGreaterThan(3);
    }
  });
});
