/**
 * The rules of docs/architecture.md that a change could quietly break: dependencies point one way
 * (apps → packages, never back; the API never reaches the dump machinery), every workspace import
 * is declared, no source file grows past 450 lines, and the sources cite only the repository's own
 * documents.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/processes.js';

const SOURCE_ROOTS = ['apps', 'packages'];
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'test-artifacts']);

function sourceFiles(dir: string, pattern = /\.(ts|mjs)$/): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (SKIPPED_FOLDERS.has(entry)) continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) files.push(...sourceFiles(full, pattern));
    else if (pattern.test(entry) && !entry.endsWith('.d.ts')) files.push(full);
  }
  return files;
}

const files = SOURCE_ROOTS.flatMap((root) => sourceFiles(path.join(REPO_ROOT, root))).map((file) => ({
  file: path.relative(REPO_ROOT, file),
  text: readFileSync(file, 'utf8'),
}));
const isTest = (file: string) => /\.test\.ts$|\/testing\//.test(file);
/** `apps/api` or `packages/catalog`: the workspace a file belongs to. */
const workspaceOf = (file: string) => file.split('/').slice(0, 2).join('/');
const importsOf = (text: string) =>
  [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)'([^']+)'/g)].map((match) => match[1] as string);

describe('architecture', () => {
  it('the API and the probes never import the dump machinery', () => {
    const offenders = files
      .filter(({ file }) => /^(apps\/api|packages\/(probes|catalog))\//.test(file))
      .filter(({ text }) => importsOf(text).some((spec) => spec === '@warden/backup' || spec === 'execa'))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('packages never import from apps, nor reach into another workspace by a relative path', () => {
    const offenders: string[] = [];
    for (const { file, text } of files) {
      for (const spec of importsOf(text)) {
        if (
          spec.startsWith('@warden/') &&
          file.startsWith('packages/') &&
          /^@warden\/(api|worker)\b/.test(spec)
        ) {
          offenders.push(`${file} → ${spec}`);
        }
        if (spec.startsWith('.')) {
          const target = path.relative(REPO_ROOT, path.resolve(REPO_ROOT, path.dirname(file), spec));
          if (workspaceOf(target) !== workspaceOf(file)) offenders.push(`${file} → ${spec}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('every workspace import is declared in the importing package.json', () => {
    const undeclared: string[] = [];
    for (const { file, text } of files) {
      if (isTest(file)) continue;
      const manifest = JSON.parse(
        readFileSync(path.join(REPO_ROOT, workspaceOf(file), 'package.json'), 'utf8'),
      );
      const declared = new Set(Object.keys(manifest.dependencies ?? {}));
      for (const spec of importsOf(text)) {
        const name = spec.match(/^@warden\/[^/]+/)?.[0];
        if (name && name !== manifest.name && !declared.has(name)) undeclared.push(`${file} → ${name}`);
      }
    }
    expect(undeclared).toEqual([]);
  });

  it('no source file is longer than 450 lines', () => {
    const long = files
      .filter(({ file }) => !isTest(file))
      .map(({ file, text }) => ({ file, lines: text.split('\n').length }))
      .filter(({ lines }) => lines > 450);
    expect(long).toEqual([]);
  });

  it('comments cite the repository’s own documents only', () => {
    const outside = /\b(SPEC|STACK|STYLE)(\.md)?\b|\btrap \d+\b|\((?:A|B)\d{1,2}\)/;
    const everything = [
      ...files,
      ...['test', 'scripts', 'docs', 'deploy']
        .flatMap((root) => sourceFiles(path.join(REPO_ROOT, root), /\.(ts|mjs|md|sh)$/))
        .map((file) => ({ file: path.relative(REPO_ROOT, file), text: readFileSync(file, 'utf8') })),
      ...['README.md', '.ci/run', 'Dockerfile', 'docker-compose.yml', '.env.example'].map((file) => ({
        file,
        text: readFileSync(path.join(REPO_ROOT, file), 'utf8'),
      })),
    ].filter(({ file }) => file !== 'test/architecture.test.ts');
    const citing = everything.filter(({ text }) => outside.test(text)).map(({ file }) => file);
    expect(citing).toEqual([]);
  });
});
