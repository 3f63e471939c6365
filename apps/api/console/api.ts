/**
 * The console's only way to the server: the documented admin API routes, with the credentials the
 * browser already holds (Basic) and the header that marks a request as the console's: the JSON API
 * takes Basic credentials only with it.
 */
export const CONSOLE_REQUEST_HEADER = 'x-warden-request';

export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiFailure(response.status, 'INVALID_RESPONSE', `the server answered ${response.status}`);
  }
  if (!response.ok && !(response.status === 503 && isHealthReport(body))) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiFailure(
      response.status,
      error?.code ?? 'HTTP_ERROR',
      error?.message ?? `the server answered ${response.status}`,
    );
  }
  return body as T;
}

/** `/health/detailed` answers 503 with a full report when unhealthy: that is data, not an error. */
function isHealthReport(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'services' in body;
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, {
    credentials: 'same-origin',
    headers: { accept: 'application/json', [CONSOLE_REQUEST_HEADER]: 'console' },
  });
  return parse<T>(response);
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      'content-type': 'application/json',
      [CONSOLE_REQUEST_HEADER]: 'console',
    },
    body: JSON.stringify(body),
  });
  return parse<T>(response);
}

export interface JobState {
  id: string;
  queue: string;
  name: string;
  state: string;
  progress?: unknown;
  result?: unknown;
  failedReason?: string;
}

export interface FleetJob {
  id: string;
  kind: 'backup' | 'restore' | 'restore-test';
  state: string;
  phase: string | null;
  percent: number | null;
}

export interface FleetRow {
  name: string;
  environment: string;
  database: string;
  enabled: boolean;
  schedule: string;
  timezone: string;
  status: 'failing' | 'degraded' | 'healthy';
  reasons: string[];
  lastBackup: {
    filename: string;
    finished_at: string;
    bytes: number;
    size_mb: number;
    duration_ms: number;
    sha256: string;
  } | null;
  trend: { finished_at: string; bytes: number }[];
  restoreTest: { status: 'passed' | 'failed'; at: string; file: string } | null;
  nextRun: string | null;
  job: FleetJob | null;
}

export interface Fleet {
  generatedAt: string;
  counts: { failing: number; degraded: number; healthy: number };
  targets: FleetRow[];
}

export interface BackupSummary {
  filename: string;
  finished_at: string;
  bytes: number;
  duration_ms: number;
  sha256: string;
  verification?: { status: 'passed' | 'failed'; at: string; problems?: string[] };
}
