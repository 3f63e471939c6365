#!/usr/bin/env node
// Container health check: `node scripts/healthcheck.mjs api` asks the API's /health,
// `node scripts/healthcheck.mjs worker` the worker's /metrics, on the ports the process was given.
// Exit 0 when the answer is 2xx within 4 s, 1 otherwise (what HEALTHCHECK and compose expect).
const role = process.argv[2] ?? 'api';
const urls = {
  api: () => `http://127.0.0.1:${process.env.PORT || 3000}/health`,
  worker: () => `http://127.0.0.1:${process.env.WORKER_METRICS_PORT || 9464}/metrics`,
};
if (!(role in urls)) {
  console.error(`usage: node scripts/healthcheck.mjs api|worker (got "${role}")`);
  process.exit(2);
}
try {
  const response = await fetch(urls[role](), { signal: AbortSignal.timeout(4000) });
  if (!response.ok) console.error(`${role}: HTTP ${response.status}`);
  process.exit(response.ok ? 0 : 1);
} catch (err) {
  console.error(`${role}: ${err.cause?.code ?? err.cause?.message ?? err.message}`);
  process.exit(1);
}
