// How the tests run a Worker built by worker-build under workerd (Miniflare 4): the one
// set of options for the isr Worker (build/) and for the example app (example-app/build/).

/** workerd of miniflare 4.20260420 accepts compatibility dates up to its own. */
export const COMPATIBILITY_DATE = "2026-04-20";

/**
 * Miniflare options for the Worker built into `buildDir` (a path ending in `/`), with the
 * bindings isr uses (KV, the SQLite Durable Object) and `bindings` (text variables).
 */
export function isrWorker(buildDir, bindings) {
  return {
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
