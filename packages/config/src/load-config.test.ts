// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests write ${VAR} references into targets files.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { scrubSecrets } from '@warden/errors';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import { loadConfig } from './load-config.js';
import { collectSecrets, redactConfig } from './redact-config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives working defaults with a single local target named after the database', () => {
    const config = loadConfig({}, { cwd: '/srv/warden' });
    expect(config.targets).toHaveLength(1);
    expect(config.targets[0]).toMatchObject({
      name: 'postgres',
      database: 'postgres',
      environment: 'development',
      schedule: '0 3 * * *',
      timezone: 'UTC',
      retentionDays: 30,
    });
    expect(config.storage).toEqual({ kind: 'local', dir: '/srv/warden/backups', groupReadable: false });
    expect(config.backup.uploadRetryAttempts).toBe(3);
    expect(config.backup.uploadRetryDelayMs).toBe(300_000);
    expect(config.redis.queuePrefix).toBe('warden');
    expect(config.http).toMatchObject({ port: 3000, host: '127.0.0.1' });
    expect(config.alerts).toMatchObject({ throttleSeconds: 600, queueLengthThreshold: 100 });
  });

  it('parses "false" as false', () => {
    expect(loadConfig({ BACKUP_ENABLED: 'false' }).backup.enabled).toBe(false);
    expect(loadConfig({ BACKUP_ENABLED: 'true' }).backup.enabled).toBe(true);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({
      DATABASE_URL: 'not a url',
      BACKUP_S3_BUCKET: 'backups',
      PORT: 'eighty',
      BACKUP_TIMEZONE: 'Mars/Olympus',
      BACKUP_SCHEDULE: 'nightly',
    });
    expect(problems.some((p) => p.startsWith('DATABASE_URL:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('AWS_REGION: required'))).toBe(true);
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('BACKUP_TIMEZONE:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('BACKUP_SCHEDULE:'))).toBe(true);
  });

  it('configures S3 with path style and relaxed checksums for a custom endpoint', () => {
    const config = loadConfig({
      BACKUP_S3_BUCKET: 'b',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret-key-value',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_PREFIX: 'warden',
    });
    expect(config.storage).toMatchObject({
      kind: 's3',
      forcePathStyle: true,
      checksumWhenRequired: true,
      prefix: 'warden/',
    });
  });

  it('reads several targets from a YAML file with ${VAR} interpolation', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-config-'));
    const file = path.join(dir, 'targets.yml');
    writeFileSync(
      file,
      [
        'targets:',
        '  - name: app',
        '    environment: production',
        '    url: postgres://app:${APP_DB_PASSWORD}@db:5432/app',
        '    schedule: "30 2 * * *"',
        '    retentionDays: 7',
        '  - name: app2',
        '    url: postgres://postgres@db:5432/app2',
      ].join('\n'),
    );
    const config = loadConfig({ WARDEN_CONFIG: file, APP_DB_PASSWORD: 's3cr3t!' });
    expect(config.targets.map((t) => t.name)).toEqual(['app', 'app2']);
    expect(config.targets[0]).toMatchObject({
      environment: 'production',
      schedule: '30 2 * * *',
      retentionDays: 7,
    });
    expect(config.targets[1]).toMatchObject({
      environment: 'development',
      schedule: '0 3 * * *',
      retentionDays: 30,
    });
    expect(collectSecrets(config)).toContain('s3cr3t!');
  });

  it('substitutes ${VAR} after parsing, in string values only: a value cannot add a target', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-config-'));
    const injection = 'x"\n  - name: injected\n    url: postgres://evil/injected';
    const passwords = [
      injection,
      'it\'s "quoted"',
      'has#hash',
      'a:b:c',
      'line\nbreak',
      'p@ss/w%rd?&=',
      ' spaced ',
    ];
    for (const format of ['yml', 'json'] as const) {
      for (const password of passwords) {
        const file = path.join(dir, `targets.${format}`);
        const url = 'postgres://app:${APP_DB_PASSWORD}@db:5432/app';
        writeFileSync(
          file,
          format === 'json'
            ? JSON.stringify({ targets: [{ name: 'app', url }] })
            : ['targets:', '  - name: app', `    url: ${url}`, '    environment: "${APP_ENV}"'].join('\n'),
        );
        const config = loadConfig({ WARDEN_CONFIG: file, APP_DB_PASSWORD: password, APP_ENV: 'production' });
        expect(config.targets.map((target) => target.name)).toEqual(['app']);
        const parsed = new URL(config.targets[0]?.databaseUrl ?? '');
        expect(decodeURIComponent(parsed.password)).toBe(password);
        expect(parsed.username).toBe('app');
        expect(parsed.hostname).toBe('db');
        expect(config.targets[0]?.database).toBe('app');
        if (format === 'yml') expect(config.targets[0]?.environment).toBe('production');
        expect(collectSecrets(config)).toContain(password);
      }
    }
  });

  it('uses a ${VAR} that is a whole value as it is, and never substitutes in keys', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-config-'));
    const file = path.join(dir, 'targets.yml');
    writeFileSync(file, ['targets:', '  - name: app', '    url: ${APP_URL}', '    ${EXTRA}: 1'].join('\n'));
    expect(
      problemsOf({ WARDEN_CONFIG: file, APP_URL: 'postgres://u:p%23w@db/app', EXTRA: 'keepLast' }),
    ).toEqual([expect.stringMatching(/Unrecognized key: "\$\{EXTRA\}"/)]);
    writeFileSync(file, ['targets:', '  - name: app', '    url: ${APP_URL}'].join('\n'));
    const config = loadConfig({ WARDEN_CONFIG: file, APP_URL: 'postgres://u:p%23w@db/app' });
    expect(config.targets[0]?.databaseUrl).toBe('postgres://u:p%23w@db/app');
    expect(problemsOf({ WARDEN_CONFIG: file })).toEqual([
      expect.stringContaining('references ${APP_URL} which is not set'),
      expect.any(String),
    ]);
  });

  it('refuses a targets file with duplicates, bad names and unknown keys', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-config-'));
    const file = path.join(dir, 'targets.json');
    writeFileSync(
      file,
      JSON.stringify({
        targets: [
          { name: 'a', url: 'postgres://h/a' },
          { name: 'a', url: 'postgres://h/b' },
          { name: '../evil', url: 'postgres://h/c' },
          { name: 'c', url: 'postgres://h/c', color: 'red' },
        ],
      }),
    );
    const problems = problemsOf({ WARDEN_CONFIG: file });
    expect(problems.join('\n')).toMatch(/targets\.2\.name/);
    expect(problems.join('\n')).toMatch(/color/);
    expect(problems.length).toBeGreaterThanOrEqual(2);
  });

  it('names a missing targets file', () => {
    expect(problemsOf({ WARDEN_CONFIG: '/nonexistent/targets.yml' })).toEqual([
      'WARDEN_CONFIG: /nonexistent/targets.yml file not found',
    ]);
  });

  it('redacts every secret when printed', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app:hunter2-password@db:5432/app',
      BACKUP_S3_BUCKET: 'b',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'very-secret-key',
      ADMIN_API_TOKEN: 'token-token-token-token',
      VIEWER_API_TOKEN: 'viewer-viewer-viewer-viewer',
      SLACK_WEBHOOK_URL: 'https://hooks.example.test/services/T000/B000/XXXX',
      SENTRY_DSN: 'https://public@sentry.example.test/1',
    });
    const printed = JSON.stringify(redactConfig(config));
    for (const secret of collectSecrets(config)) expect(printed).not.toContain(secret);
    expect(collectSecrets(config)).toEqual(
      expect.arrayContaining([
        'hunter2-password',
        'very-secret-key',
        'token-token-token-token',
        'viewer-viewer-viewer-viewer',
      ]),
    );
    expect(scrubSecrets('connect failed for hunter2-password', collectSecrets(config))).toBe(
      'connect failed for [redacted]',
    );
  });

  it('takes a viewer token only beside a different admin token', () => {
    const admin = 'admin-admin-admin-admin';
    const viewer = 'viewer-viewer-viewer-viewer';
    expect(loadConfig({ ADMIN_API_TOKEN: admin, VIEWER_API_TOKEN: viewer }).http).toMatchObject({
      adminApiToken: admin,
      viewerApiToken: viewer,
    });
    expect(problemsOf({ VIEWER_API_TOKEN: viewer })).toEqual([
      expect.stringMatching(/^VIEWER_API_TOKEN: needs ADMIN_API_TOKEN/),
    ]);
    expect(problemsOf({ ADMIN_API_TOKEN: admin, VIEWER_API_TOKEN: admin })).toEqual([
      'VIEWER_API_TOKEN: must differ from ADMIN_API_TOKEN',
    ]);
    expect(problemsOf({ ADMIN_API_TOKEN: admin, VIEWER_API_TOKEN: 'short' })).toEqual([
      'VIEWER_API_TOKEN: must be at least 16 characters',
    ]);
  });

  it('reads TRUST_PROXY as addresses, CIDRs and keywords, naming every bad entry', () => {
    expect(loadConfig({}).http.trustProxy).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.0.0.0/8,fd00::/8 , loopback' }).http.trustProxy).toEqual([
      '10.0.0.1',
      '10.0.0.0/8',
      'fd00::/8',
      'loopback',
    ]);
    expect(problemsOf({ TRUST_PROXY: 'proxy.internal,10.0.0.0/33,::1/129,10.0.0.1' })).toEqual([
      expect.stringContaining('"proxy.internal" is not an IP address'),
      expect.stringContaining('"10.0.0.0/33"'),
      expect.stringContaining('"::1/129"'),
    ]);
  });

  it('reads the HTTP limits and timeouts', () => {
    expect(loadConfig({}).http).toMatchObject({
      rateLimitPerMinute: 600,
      authFailuresPerMinute: 30,
      requestTimeoutMs: 10_000,
      connectionTimeoutMs: 60_000,
    });
    expect(
      loadConfig({ HTTP_REQUEST_TIMEOUT_SECONDS: '5', API_AUTH_FAILURES_PER_MINUTE: '3' }).http,
    ).toMatchObject({ requestTimeoutMs: 5_000, authFailuresPerMinute: 3 });
  });
});

describe('database names in DATABASE_URL', () => {
  it.each([
    ['My%20Shop%20DB', 'My Shop DB'],
    ['pay%24roll', 'pay$roll'],
    ['pay$roll', 'pay$roll'],
    ['donn%C3%A9es', 'données'],
    ['with-hyphen', 'with-hyphen'],
  ])('reads /%s as the database "%s" and names the target with a valid slug', (path, database) => {
    const config = loadConfig({ DATABASE_URL: `postgres://u@db:5432/${path}` });
    const target = config.targets[0];
    expect(target?.database).toBe(database);
    expect(target?.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/);
  });

  it('names the problem of a database name PostgreSQL refuses', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://u@db:5432/' })).toEqual([
      'DATABASE_URL: the URL must name a database',
    ]);
    expect(problemsOf({ DATABASE_URL: `postgres://u@db:5432/${'%C3%A9'.repeat(32)}` })[0]).toMatch(
      /64 bytes long/,
    );
  });
});
