import { randomBytes } from 'node:crypto';

/**
 * This test run's id: set once by test/global-setup.ts for every test process of a run (a random
 * one when a file runs outside it). Every Redis key a test writes on the shared Redis starts with
 * `warden-test-<run>-`, and the run's teardown deletes what is left under it, so a run leaves
 * nothing behind without touching another run's keys.
 */
export const TEST_RUN = process.env.WARDEN_TEST_RUN ?? randomBytes(3).toString('hex');

/** `warden-test-<run>-<name>-<random>`: a Redis key prefix (and QUEUE_PREFIX) of this run only. */
export function uniquePrefix(name: string): string {
  return `warden-test-${TEST_RUN}-${name}-${randomBytes(4).toString('hex')}`;
}
