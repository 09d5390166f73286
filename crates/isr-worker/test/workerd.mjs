// How the tests run a Worker built by worker-build under workerd (Miniflare 4): the one
// set of options for the isr Worker (build/) and for the example app (example-app/build/),
// and the clock a test moves.

import { Response } from "miniflare";

/** workerd of miniflare 4.20260420 accepts compatibility dates up to its own. */
export const COMPATIBILITY_DATE = "2026-04-20";

/**
 * A clock the test moves: bound to a Worker as ISR_TEST_CLOCK (`isrWorker(..., { clock })`),
 * it adds `advance`d milliseconds to the Worker's time and its Durable Object's. Nothing
 * else can move a Worker's clock: a deployment without the binding keeps the platform's.
 */
export function testClock() {
  let offsetMs = 0;
  return {
    /** Move the Worker's clock `ms` forward (no real time passes). */
    advance: async (ms) => {
      offsetMs += ms;
    },
    binding: () => new Response(String(offsetMs)),
  };
}

/**
 * Miniflare options for the Worker built into `buildDir` (a path ending in `/`), with the
 * bindings isr uses (KV, the SQLite Durable Object), `bindings` (text variables) and, if
 * given, a `clock` from `testClock()`.
 */
export function isrWorker(buildDir, bindings, { clock } = {}) {
  return {
    ...(clock ? { serviceBindings: { ISR_TEST_CLOCK: clock.binding } } : {}),
    modules: true,
    scriptPath: `${buildDir}index.js`,
    modulesRoot: buildDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: ["ISR_KV"],
    durableObjects: { ISR_STATE: { className: "IsrState", useSQLite: true } },
    bindings,
  };
}
