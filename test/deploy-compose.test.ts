import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

// Static checks of the deployment files. No Docker engine runs here; `docker compose config` is
// used only when a docker CLI with the compose plugin is installed (it needs no engine). The image
// itself is built and run by test/container/smoke.sh in CI.

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Variables the compose file reads for its own services (not Warden settings, so not in .env.example). */
const COMPOSE_ONLY_VARIABLES = [
  'POSTGRES_PASSWORD',
  'POSTGRES_DB',
  'MINIO_ROOT_USER',
  'MINIO_ROOT_PASSWORD',
  'GRAFANA_ADMIN_PASSWORD',
];

interface Healthcheck {
  test: string | string[];
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  ports?: unknown[];
  expose?: unknown[];
  volumes?: string[];
  healthcheck?: Healthcheck;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = read('docker-compose.yml');
// `merge: true` resolves the `<<: *anchor` keys the way docker compose does.
const compose = parseYaml(composeText, { merge: true }) as ComposeFile;
const services = compose.services;
const envExampleNames = new Set(
  [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!),
);

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function environmentOf(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at === -1 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

/**
 * Splits `$` references the way compose does: `${NAME...}` / `$NAME` are substituted by compose from
 * the shell or .env; `$$` is an escaped dollar, so `$$NAME` / `$${NAME}` reach the container's shell.
 */
function variableReferences(text: string): { compose: string[]; container: string[] } {
  const result = { compose: [] as string[], container: [] as string[] };
  const nameAt = (at: number) => {
    const braced = text[at] === '{';
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(braced ? at + 1 : at));
    return match?.[0];
  };
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] !== '$') continue;
    const escaped = text[i + 1] === '$';
    const name = nameAt(escaped ? i + 2 : i + 1);
    if (name) (escaped ? result.container : result.compose).push(name);
    if (escaped) i += 1;
  }
  return result;
}

function dependsOn(svc: Service): Record<string, string | undefined> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([name, spec]) => [name, spec.condition]));
}

/** Dockerfile instructions with continuation lines joined and comment lines dropped (as Docker does). */
function dockerfileInstructions(text: string): { keyword: string; args: string }[] {
  const instructions: { keyword: string; args: string }[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    current += `${continued ? line.replace(/\\\s*$/, '') : line} `;
    if (continued) continue;
    const trimmed = current.trim();
    current = '';
    if (trimmed === '') continue;
    const [keyword = '', ...rest] = trimmed.split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
  }
  return instructions;
}

function workspaceDirs(): string[] {
  return ['apps', 'packages'].flatMap((parent) =>
    readdirSync(path.join(root, parent), { withFileTypes: true })
      .filter(
        (entry) => entry.isDirectory() && existsSync(path.join(root, parent, entry.name, 'package.json')),
      )
      .map((entry) => `${parent}/${entry.name}`),
  );
}

/**
 * The Compose Specification's JSON schema (compose-spec/compose-go's compose_spec.json), as shipped
 * by the npm package dclint, pinned in package.json.
 */
const composeSchemaFile = path.join(root, 'node_modules', 'dclint', 'schemas', 'compose.schema.json');

function composeValidator() {
  const schema = JSON.parse(readFileSync(composeSchemaFile, 'utf8')) as { $schema: string; title: string };
  // strict: false because the schema uses keywords ajv does not define (`deprecated`, and
  // `format: duration`, which ajv leaves unchecked without ajv-formats) — every other keyword applies.
  const ajv = new Ajv({ allErrors: true, strict: false });
  // The schema names draft-07 by its https URI; ajv knows the same meta-schema under http://…#.
  // Registered under that name, the schema itself is checked against draft-07 too.
  const draft07 = JSON.parse(
    readFileSync(path.join(root, 'node_modules', 'ajv', 'dist', 'refs', 'json-schema-draft-07.json'), 'utf8'),
  ) as Record<string, unknown>;
  ajv.addMetaSchema({ ...draft07, $id: schema.$schema }, undefined, false);
  return { schema, validate: ajv.compile(schema) };
}

function hasComposeCli(): boolean {
  const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  return probe.status === 0;
}

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification JSON schema', () => {
    const { schema, validate } = composeValidator();
    expect(schema.title).toBe('Compose Specification');
    // Anchors and `<<` merges resolved, as compose reads the file.
    const valid = validate(compose);
    expect(validate.errors ?? [], 'schema errors').toEqual([]);
    expect(valid).toBe(true);
  });

  it('has a schema check that rejects what compose would reject', () => {
    const { validate } = composeValidator();
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.api!.restart_policy = 'always';
    broken.services.worker!.healthcheck = { test: 'x', interval: 30 };
    expect(validate(broken)).toBe(false);
    const messages = (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
    expect(messages.join('\n')).toMatch(/\/services\/api must NOT have additional properties/);
    expect(messages.join('\n')).toMatch(/\/services\/worker\/healthcheck\/interval must be string/);
  });

  it('publishes every port on 127.0.0.1 only, the API included', () => {
    const published = Object.entries(services).flatMap(([name, svc]) =>
      (svc.ports ?? []).map((port) => ({ name, port: String(port) })),
    );
    expect(published.map(({ name }) => name)).toContain('api');
    for (const { name, port } of published) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(service('api').ports?.map(String)).toEqual(['127.0.0.1:3000:3000']);
  });

  it('states the Compose version it needs', () => {
    expect(composeText).toMatch(/Needs Docker Compose 2\.24 or newer/);
    expect(read('deploy/README.md')).toMatch(/Compose (v)?2\.24 or newer/);
  });

  it('runs api and worker from the built bundles with a read-only root filesystem', () => {
    for (const name of ['api', 'worker']) {
      const svc = service(name) as Service & { read_only?: boolean; tmpfs?: string[] };
      expect(svc.read_only, name).toBe(true);
      expect(svc.tmpfs, name).toEqual(['/tmp']);
    }
    expect(service('worker').command).toEqual(['node', 'dist/worker.mjs']);
  });

  it('defines every service of the stack, each with an image or a build', () => {
    for (const name of [
      'redis',
      'postgres',
      'minio',
      'minio-init',
      'api',
      'worker',
      'prometheus',
      'grafana',
    ]) {
      const svc = service(name);
      expect(svc.image ?? svc.build, `${name} needs image or build`).toBeTruthy();
    }
    expect(service('api').build).toBeDefined();
    // Both processes run the same image; only the command differs.
    expect(service('worker').image).toBe(service('api').image);
  });

  it('runs Redis with an append-only file and without eviction (BullMQ must never lose keys)', () => {
    const command = stringsIn(service('redis').command).join(' ');
    expect(command).toMatch(/--appendonly\s+yes/);
    expect(command).toMatch(/--maxmemory-policy\s+noeviction/);
    expect(service('redis').volumes?.some((volume) => volume.endsWith(':/data'))).toBe(true);
  });

  it('has healthchecks on the services others wait for', () => {
    for (const name of ['redis', 'postgres', 'minio']) {
      expect(service(name).healthcheck?.test, `${name} healthcheck`).toBeDefined();
    }
    for (const name of ['api', 'worker']) {
      expect(dependsOn(service(name))).toMatchObject({
        redis: 'service_healthy',
        postgres: 'service_healthy',
        'minio-init': 'service_completed_successfully',
      });
    }
    expect(dependsOn(service('minio-init'))).toMatchObject({ minio: 'service_healthy' });
  });

  it('runs two workers that expose metrics on 9464 without a host port, checked by their own healthcheck', () => {
    const worker = service('worker');
    expect(worker.deploy?.replicas).toBe(2);
    expect(worker.ports ?? []).toEqual([]);
    expect((worker.expose ?? []).map(String)).toContain('9464');
    expect(worker.healthcheck?.test).toEqual(['CMD', 'node', 'scripts/healthcheck.mjs', 'worker']);
  });

  it('gives api and worker the same environment, every name documented in .env.example', () => {
    const apiEnv = environmentOf(service('api'));
    expect(environmentOf(service('worker'))).toEqual(apiEnv);
    for (const key of ['REDIS_URL', 'DATABASE_URL', 'BACKUP_S3_BUCKET', 'S3_ENDPOINT', 'ADMIN_API_TOKEN']) {
      expect(apiEnv, key).toHaveProperty(key);
    }
    expect(apiEnv.REDIS_URL).toBe('redis://redis:6379');
    expect(apiEnv.S3_ENDPOINT).toContain('http://minio:9000');
    // Empty or unset must stop `docker compose up`, not start an API without a token.
    expect(apiEnv.ADMIN_API_TOKEN).toMatch(/^\$\{ADMIN_API_TOKEN:\?.+\}$/);

    const undocumentedKeys = Object.keys(apiEnv).filter((key) => !envExampleNames.has(key));
    expect(undocumentedKeys, 'environment keys missing from .env.example').toEqual([]);
  });

  it('reads only variables that are documented or listed as compose-only', () => {
    const allowed = new Set([...envExampleNames, ...COMPOSE_ONLY_VARIABLES]);
    const used = new Set(stringsIn(compose).flatMap((text) => variableReferences(text).compose));
    expect([...used].filter((name) => !allowed.has(name))).toEqual([]);
    // The api/worker ones must be Warden settings or one of the listed compose-only names.
    const apiWorkerVars = ['api', 'worker'].flatMap((name) =>
      stringsIn(service(name)).flatMap((text) => variableReferences(text).compose),
    );
    expect(apiWorkerVars).toContain('ADMIN_API_TOKEN');
    expect(apiWorkerVars.filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('escapes container-side variables ($$NAME) and defines them in that service', () => {
    for (const [name, svc] of Object.entries(services)) {
      const env = environmentOf(svc);
      const texts = [...stringsIn(svc.command), ...stringsIn(svc.entrypoint), ...stringsIn(svc.healthcheck)];
      const assignedInScript = new Set(
        texts.flatMap((text) => [...text.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!)),
      );
      const container = texts.flatMap((text) => variableReferences(text).container);
      const undefinedVars = container.filter(
        (variable) => !(variable in env) && !assignedInScript.has(variable),
      );
      expect(undefinedVars, `${name}: container variables not set in its environment`).toEqual([]);
    }
    const initScript = stringsIn(service('minio-init').command).join('\n');
    expect(initScript).toMatch(/mc mb --ignore-existing/);
    expect(variableReferences(initScript).container).toEqual(expect.arrayContaining(['BUCKET']));
  });

  it('mounts files and volumes that exist', () => {
    const missing: string[] = [];
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of svc.volumes ?? []) {
        const [source = ''] = volume.split(':');
        if (source.startsWith('./') || source.startsWith('../')) {
          if (!existsSync(path.join(root, source))) missing.push(`${name}: ${source}`);
        } else {
          expect(compose.volumes ?? {}, `${name}: named volume ${source} is not declared`).toHaveProperty(
            source,
          );
        }
      }
    }
    expect(missing, 'bind-mounted paths missing from the repository').toEqual([]);
    const mounts = ['prometheus', 'grafana'].flatMap((name) => service(name).volumes ?? []);
    for (const source of [
      './deploy/prometheus/prometheus.yml',
      './deploy/prometheus/alerts.yml',
      './deploy/grafana/provisioning',
      './deploy/grafana/dashboards',
    ]) {
      expect(
        mounts.some((volume) => volume.startsWith(`${source}:`)),
        source,
      ).toBe(true);
    }
  });

  it.skipIf(!hasComposeCli())(
    'passes `docker compose config` and refuses to start without ADMIN_API_TOKEN',
    () => {
      const base = { ...process.env };
      delete base.ADMIN_API_TOKEN;
      execFileSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: root,
        env: { ...base, ADMIN_API_TOKEN: 'compose-config-test-token' },
        stdio: 'pipe',
      });
      const withoutToken = spawnSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: root,
        env: base,
        encoding: 'utf8',
      });
      expect(withoutToken.status).not.toBe(0);
      expect(withoutToken.stderr).toContain('ADMIN_API_TOKEN');
    },
  );
});

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions(read('Dockerfile'));
  const of = (keyword: string) => instructions.filter((ins) => ins.keyword === keyword);
  const runs = of('RUN')
    .map((ins) => ins.args)
    .join('\n');

  it('is multi-stage on node:24-bookworm-slim', () => {
    const globalArgs = new Map(
      instructions
        .slice(
          0,
          instructions.findIndex((ins) => ins.keyword === 'FROM'),
        )
        .filter((ins) => ins.keyword === 'ARG')
        .map((ins) => {
          const [name = '', value = ''] = ins.args.split('=');
          return [name, value];
        }),
    );
    const froms = of('FROM').map((ins) =>
      ins.args.replace(/\$\{(\w+)\}/g, (_, name) => globalArgs.get(name) ?? ''),
    );
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms.some((from) => /\sAS\s+\S+/i.test(from))).toBe(true);
    const bases = froms.filter((from) => from.startsWith('node:'));
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const from of bases) expect(from).toMatch(/^node:24-bookworm-slim\b/);
    // The other stages build on those.
    const stageNames = froms.map((from) => /\sAS\s+(\S+)/i.exec(from)?.[1]);
    for (const from of froms.filter((f) => !f.startsWith('node:'))) {
      expect(stageNames).toContain(from.split(/\s/)[0]);
    }
    expect(of('COPY').some((ins) => ins.args.startsWith('--from='))).toBe(true);
    expect(runs).toMatch(/npm ci/);
  });

  it('copies the manifest of every workspace before `npm ci`', () => {
    const copied = of('COPY')
      .map((ins) => /^(\S+)\/package\.json\s/.exec(ins.args)?.[1])
      .filter((dir): dir is string => dir !== undefined);
    expect(copied.sort()).toEqual(workspaceDirs().sort());
  });

  it('installs PostgreSQL client 18 from PGDG by default, a Debian major from Debian alone, plus igzip (isal), pigz, zstd and tini', () => {
    expect(of('ARG').map((ins) => ins.args)).toContain('PG_MAJOR=18');
    expect(runs).toMatch(/postgresql-client-\$\{PG_MAJOR\}/);
    // Debian's package is looked up before any other repository is added.
    expect(runs.indexOf('apt-cache show')).toBeLessThan(runs.indexOf('apt.postgresql.org.sh'));
    expect(runs).toMatch(/error: \$client is not available/);
    // No repository file stays behind.
    expect(runs).toMatch(/rm -f \/etc\/apt\/sources\.list\.d\/pgdg\.sources/);
    for (const binary of ['isal', 'pigz', 'zstd', 'tini', 'ca-certificates']) expect(runs).toContain(binary);
  });

  it('ships the bundles and production dependencies only, checked at build time', () => {
    expect(runs).toMatch(/npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    expect(runs).toMatch(/rm -rf node_modules\/typescript/);
    expect(runs).toMatch(/node scripts\/build\.mjs --check/);
    const lastFrom = instructions.map((ins) => ins.keyword).lastIndexOf('FROM');
    const runtimeCopies = instructions
      .slice(lastFrom)
      .filter((ins) => ins.keyword === 'COPY')
      .map((ins) => ins.args);
    expect(runtimeCopies).toContain('--from=build /app/dist /app/dist');
    // Sources never reach the runtime stage.
    expect(runtimeCopies.filter((args) => /\b(apps|packages)\//.test(args))).toEqual([]);
    for (const args of runtimeCopies.filter((a) => !a.startsWith('--from='))) {
      for (const file of args.split(/\s+/).slice(0, -1))
        expect(existsSync(path.join(root, file)), file).toBe(true);
    }
  });

  it('runs as a non-root user with the spool and backup directories writable', () => {
    const users = of('USER').map((ins) => ins.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(runs).toMatch(/--uid 10001/);
    expect(runs).toMatch(/-o warden[^\n]*\/var\/lib\/warden\/spool[^\n]*\/var\/lib\/warden\/backups/);
  });

  it('sets only documented variables in the runtime stage and points the app at its directories', () => {
    const lastFrom = instructions.map((ins) => ins.keyword).lastIndexOf('FROM');
    const env = instructions
      .slice(lastFrom)
      .filter((ins) => ins.keyword === 'ENV')
      .map((ins) => ins.args)
      .join(' ');
    const names = [...env.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
    expect(names).toEqual(
      expect.arrayContaining(['BACKUP_SPOOL_DIR', 'BACKUP_DIR', 'HOST', 'PG_DUMP_PATH', 'PSQL_PATH']),
    );
    // Node's own variables are not Warden's configuration.
    const nodeVariables = new Set(['NODE_ENV', 'NODE_OPTIONS']);
    expect(names.filter((name) => !nodeVariables.has(name) && !envExampleNames.has(name))).toEqual([]);
    expect(env).toMatch(/NODE_OPTIONS=--max-semi-space-size=1/);
    expect(env).toMatch(/BACKUP_SPOOL_DIR=\/var\/lib\/warden\/spool/);
    expect(env).toMatch(/BACKUP_DIR=\/var\/lib\/warden\/backups/);
    expect(env).toMatch(/HOST=0\.0\.0\.0/);
  });

  it('starts the built API under tini and checks /health with node', () => {
    const [healthcheck] = of('HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/CMD \["node", "scripts\/healthcheck\.mjs", "api"\]/);
    expect(JSON.parse(of('ENTRYPOINT').at(-1)?.args ?? '[]')).toEqual(['tini', '--']);
    const cmd = JSON.parse(of('CMD').at(-1)?.args ?? '[]') as string[];
    expect(cmd).toEqual(['node', 'dist/api.mjs']);
    // dist/api.mjs is what `npm run build` makes of the entry point `npm run start:api` runs.
    const manifest = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(manifest.scripts['start:api']).toContain('scripts/run.mjs apps/api/src/main.ts');
    expect(manifest.scripts.build).toBe('node scripts/build.mjs');
  });
});

describe('.dockerignore and deploy/README.md', () => {
  it('keeps host artefacts and secrets out of the build context', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    for (const entry of ['node_modules', 'dist', 'backups', 'spool', '.git', '.env', 'test-artifacts']) {
      expect(lines, entry).toContain(entry);
    }
  });

  it('documents running, scaling, Redis HA and the dumpable server versions', () => {
    const readme = read('deploy/README.md');
    expect(readme).toContain('docker compose up');
    expect(readme).toMatch(/--scale worker=|replicas/);
    for (const name of ['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'REDIS_CLUSTER_NODES', 'QUEUE_PREFIX']) {
      expect(readme).toContain(name);
      expect(envExampleNames.has(name), `${name} in .env.example`).toBe(true);
    }
    expect(readme).toContain('{warden}');
    expect(readme).toMatch(/9\.2/);
  });
});
