/**
 * Keeps the README's configuration table in step with `.env.example` (which a test keeps in step
 * with the config schema): `npm run docs:config` rewrites the table, `--check` fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BEGIN = '<!-- config-table:begin (generated from .env.example by `npm run docs:config`) -->';
const END = '<!-- config-table:end -->';

export function renderConfigTable(envExample: string): string {
  const out: string[] = [];
  let comment: string[] = [];
  for (const line of envExample.split('\n')) {
    const section = /^# -+ (.+?) -+$/.exec(line);
    if (section) {
      out.push('', `**${section[1]}**`, '', '| Variable | Default | Meaning |', '| --- | --- | --- |');
      comment = [];
      continue;
    }
    if (line.startsWith('#')) {
      comment.push(line.slice(1).trim());
      continue;
    }
    const variable = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (variable) {
      const defaultValue = variable[2] ? `\`${variable[2]}\`` : '(unset)';
      const meaning = comment.join(' ').replaceAll('|', '\\|');
      out.push(`| \`${variable[1]}\` | ${defaultValue} | ${meaning} |`);
    }
    comment = [];
  }
  return out.join('\n').trim();
}

export function replaceConfigTable(readme: string, table: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error('README.md has no config-table markers');
  return `${readme.slice(0, start + BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const readmePath = `${root}README.md`;
  const readme = readFileSync(readmePath, 'utf8');
  const updated = replaceConfigTable(readme, renderConfigTable(readFileSync(`${root}.env.example`, 'utf8')));
  if (process.argv.includes('--check')) {
    if (updated !== readme) {
      console.error('README.md configuration table is stale: run `npm run docs:config`');
      process.exit(1);
    }
  } else {
    writeFileSync(readmePath, updated);
  }
}
