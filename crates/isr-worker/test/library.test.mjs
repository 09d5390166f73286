// isr as a library inside an app's own Rust Worker (example-app/, `isr_worker::handle`),
// under workerd through Miniflare: cacheable requests are cached, rendered by the app's
// own function; the rest fall through to the app.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

import { ADMIN_TOKEN, get, purger, sharedConfig, until } from "./scenarios.mjs";
import { isrWorker } from "./workerd.mjs";

const buildDir = fileURLToPath(new URL("../example-app/build/", import.meta.url));

describe("isr as a library in a Rust Worker", () => {
  let mf;
  let base;
  before(async () => {
    mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      ...isrWorker(buildDir, {
        ISR_CONFIG: sharedConfig,
        ISR_ADMIN_TOKEN: ADMIN_TOKEN,
        ISR_PURGE_CACHE_MS: "0",
      }),
    });
    base = (await mf.ready).origin;
  });
  after(async () => {
    await mf?.dispose();
  });

  it("caches the app's renders: MISS, HIT, purge, STALE, regenerated", async () => {
    const path = "/fresh/library";
    const miss = await get(base, path);
    assert.equal(miss.status, 200);
    assert.equal(miss.cache, "MISS");
    assert.equal(miss.text, `app render #1 of ${path}`);
    const hit = await get(base, path);
    assert.equal(hit.cache, "HIT");
    assert.equal(hit.text, `app render #1 of ${path}`);
    assert.equal((await purger(base)({ paths: [path] })).status, 200);
    const stale = await get(base, path);
    assert.equal(stale.cache, "STALE");
    assert.equal(stale.text, `app render #1 of ${path}`);
    await until(async () => (await get(base, path)).text === `app render #2 of ${path}`, "the regenerated page");
  });

  it("lets the app answer what is not cacheable", async () => {
    const posted = await get(base, "/fresh/library", { method: "POST", body: "x" });
    assert.equal(posted.status, 200);
    assert.equal(posted.headers.get("x-app"), "direct");
    assert.equal(posted.cache, null);
    assert.equal(posted.text, "the app answered /fresh/library itself");
  });
});
