import type { BackupTarget, WardenConfig } from '@warden/config';
import { UsageError } from './cli-args.js';

/** Resolves `--target`, defaulting to the only configured target. */
export function resolveTarget(config: WardenConfig, name: string | undefined): BackupTarget {
  const known = config.targets.map((target) => target.name).join(', ');
  if (name === undefined) {
    if (config.targets.length === 1 && config.targets[0]) return config.targets[0];
    throw new UsageError(`several targets are configured; choose one with --target (known: ${known})`);
  }
  const target = config.targets.find((candidate) => candidate.name === name);
  if (!target) throw new UsageError(`unknown target "${name}" (known: ${known})`);
  return target;
}

/**
 * Runs a CLI body: usage errors exit 2 with a one-line message, other failures exit 1; no stack traces
 * reach the operator (they are in the JSON logs on stderr).
 */
export async function runCli(usage: string, body: () => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await body();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n${usage}\n`);
      code = 2;
    } else {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`error: ${message}\n`);
      code = 1;
    }
  }
  process.exit(code);
}

/** A progress line on stderr: rewritten in place on a terminal, one line every few seconds otherwise. */
export function createProgressLine(stream: NodeJS.WriteStream = process.stderr) {
  let lastWrite = 0;
  let lastText = '';
  return {
    update(text: string) {
      const now = Date.now();
      if (stream.isTTY) {
        if (now - lastWrite < 100) return;
        stream.write(`\r\x1b[K${text}`);
      } else {
        if (now - lastWrite < 2_000 || text === lastText) return;
        stream.write(`${text}\n`);
      }
      lastWrite = now;
      lastText = text;
    },
    done() {
      if (stream.isTTY && lastWrite > 0) stream.write('\n');
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}
