// The isr Worker, built by worker-build (build/), run under workerd through Miniflare 4
// on 127.0.0.1 with a KV namespace, the Cache API and a SQLite Durable Object, in front of
// the test origin. The shared scenarios, then what only the Worker has.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

import { startOrigin } from "./origin.mjs";
import { COMPATIBILITY_DATE, isrWorker, testClock } from "./workerd.mjs";
import {
  ADMIN_TOKEN,
  BYPASS_TOKEN,
  get,
  purger,
  sharedConfig,
  sharedScenarios,
  until,
} from "./scenarios.mjs";

const buildDir = fileURLToPath(new URL("../build/", import.meta.url));

/** A Miniflare running the built Worker with `bindings` (text variables) and `options`. */
async function startWorker(bindings, options) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    ...isrWorker(buildDir, bindings, options),
  });
  const url = await mf.ready;
  return { mf, base: url.origin };
}

describe("isr Worker under workerd (Miniflare)", () => {
  let origin;
  let worker;
  const clock = testClock();
  before(async () => {
    origin = await startOrigin();
    worker = await startWorker(
      {
        ISR_CONFIG: sharedConfig,
        ISR_ORIGIN: origin.url,
        ISR_ADMIN_TOKEN: ADMIN_TOKEN,
        ISR_BYPASS_TOKEN: BYPASS_TOKEN,
        ISR_PURGE_CACHE_MS: "0",
      },
      { clock },
    );
  });
  after(async () => {
    await worker?.mf.dispose();
    await origin?.stop();
  });
  const rt = () => ({
    base: worker.base,
    origin,
    purge: purger(worker.base),
    advance: clock.advance,
    // The Worker stores identity only: Cloudflare's edge compresses per client.
    compresses: false,
  });

  sharedScenarios(rt);

  it("GET /_isr/stats counts this isolate's answers and renders", async () => {
    const stats = async () => {
      const answer = await fetch(`${worker.base}/_isr/stats`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(answer.status, 200);
      return answer.json();
    };
    const refused = await fetch(`${worker.base}/_isr/stats`);
    assert.equal(refused.status, 401);
    await refused.arrayBuffer();
    const before = await stats();
    const path = "/fresh/counted";
    assert.equal((await get(worker.base, path)).cache, "MISS");
    assert.equal((await get(worker.base, path)).cache, "HIT");
    const after = await stats();
    assert.equal(after.requests.miss - before.requests.miss, 1);
    assert.equal(after.requests.hit - before.requests.hit, 1);
    assert.equal(after.renders - before.renders, 1);
    assert.equal(after.requests.stale, before.requests.stale);
    assert.equal(after.entries.memory, null, "KV and the Cache API do not say their sizes");
  });

  it("a page over the 25 MiB KV value limit is served, not stored, and reported", async () => {
    const path = "/bin/huge";
    origin.setSize(path, 26 * 1024 * 1024);
    for (const n of [1, 2]) {
      const answer = await get(worker.base, path);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.length, 26 * 1024 * 1024);
      assert.equal(answer.cache, "BYPASS");
      assert.equal(answer.headers.get("x-isr-store"), "too-large");
      assert.equal(origin.count(path), n);
    }
  });

  it("DELETE /_isr/cache hard-purges everything in one write", async () => {
    const path = "/fresh/cleared";
    assert.equal((await get(worker.base, path)).cache, "MISS");
    const cleared = await fetch(`${worker.base}/_isr/cache`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(cleared.status, 200);
    assert.deepEqual(await cleared.json(), { cleared: true });
    const next = await get(worker.base, path);
    assert.equal(next.cache, "MISS");
    assert.equal(next.text, `render #2 of ${path}`);
  });
});

describe("isr Worker: two isolates, one deployment", () => {
  it("a purge sent through one isolate is honoured by another's Cache API reads", async () => {
    const origin = await startOrigin();
    // Both workers see the same KV namespace.
    const sharedKv = { ISR_KV: "shared" };
    const bindings = {
      ISR_CONFIG: sharedConfig,
      ISR_ORIGIN: origin.url,
      ISR_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      workers: [
        {
          // Its copy of the purge records may be up to 200 ms old.
          ...isrWorker(buildDir, { ...bindings, ISR_PURGE_CACHE_MS: "200" }),
          name: "reader",
          kvNamespaces: sharedKv,
        },
        {
          ...isrWorker(buildDir, { ...bindings, ISR_PURGE_CACHE_MS: "0" }),
          name: "purger",
          kvNamespaces: sharedKv,
          // The reader's Durable Object: one per deployment.
          durableObjects: {
            ISR_STATE: { className: "IsrState", scriptName: "reader", useSQLite: true },
          },
        },
      ],
    });
    try {
      const base = (await mf.ready).origin;
      const purgerWorker = await mf.getWorker("purger");
      const path = "/fresh/elsewhere";
      assert.equal((await get(base, path)).cache, "MISS");
      assert.equal((await get(base, path)).cache, "HIT");
      const purged = await purgerWorker.fetch(`http://isr.test/_isr/revalidate`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ paths: [path], mode: "hard" }),
      });
      assert.equal(purged.status, 200);
      // The reader's L1 still holds the page; its copy of the records catches up within
      // ISR_PURGE_CACHE_MS, and from then on the purged page is never served.
      const next = await until(async () => {
        const answer = await get(base, path);
        return answer.cache === "MISS" ? answer : null;
      }, "the purge to reach the reader");
      assert.equal(next.text, `render #2 of ${path}`);
      assert.equal((await get(base, path)).cache, "HIT");
    } finally {
      await mf.dispose();
      await origin.stop();
    }
  });
});

describe("isr Worker with a service binding as its origin", () => {
  it("renders through the ORIGIN binding to the site's own Worker", async () => {
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      workers: [
        {
          name: "isr",
          ...isrWorker(buildDir, { ISR_CONFIG: sharedConfig }),
          serviceBindings: { ORIGIN: "site" },
        },
        {
          name: "site",
          modules: true,
          compatibilityDate: COMPATIBILITY_DATE,
          script: `
            let renders = 0;
            export default {
              fetch(request) {
                renders++;
                const guarded = request.headers.get("x-isr-render") ? "guarded" : "unguarded";
                const path = new URL(request.url).pathname;
                return new Response(\`site render #\${renders} of \${path} (\${guarded})\`, {
                  headers: { "content-type": "text/html" },
                });
              },
            };`,
        },
      ],
    });
    try {
      const base = (await mf.ready).origin;
      const path = "/fresh/service";
      const miss = await get(base, path);
      assert.equal(miss.cache, "MISS");
      assert.equal(miss.text, `site render #1 of ${path} (guarded)`);
      const hit = await get(base, path);
      assert.equal(hit.cache, "HIT");
      assert.equal(hit.text, miss.text);
    } finally {
      await mf.dispose();
    }
  });
});

describe("isr Worker purge records", () => {
  it("past ISR_MAX_PURGE_RECORDS, the older half is folded into one record for everything", async () => {
    const origin = await startOrigin();
    const worker = await startWorker({
      ISR_CONFIG: sharedConfig,
      ISR_ORIGIN: origin.url,
      ISR_ADMIN_TOKEN: ADMIN_TOKEN,
      ISR_PURGE_CACHE_MS: "0",
      ISR_MAX_PURGE_RECORDS: "4",
    });
    try {
      const path = "/fresh/old";
      assert.equal((await get(worker.base, path)).cache, "MISS");
      const purge = purger(worker.base);
      // Tags no page carries: the page is not reached by any of them...
      for (let i = 1; i <= 4; i++) {
        assert.equal((await purge({ tags: [`unrelated-${i}`] })).status, 200);
        assert.equal((await get(worker.base, path)).cache, "HIT");
      }
      // ...until a fifth record folds the older half into "everything before then": an old
      // page becomes stale (never revived), a page rendered after the fold is untouched.
      assert.equal((await purge({ tags: ["unrelated-5"] })).status, 200);
      assert.equal((await get(worker.base, path)).cache, "STALE");
      await until(() => origin.count(path) === 2, "the regeneration");
      await until(async () => (await get(worker.base, path)).cache === "HIT", "the new page");
    } finally {
      await worker.mf.dispose();
      await origin.stop();
    }
  });
});

describe("isr Worker configuration errors", () => {
  it("a bad config is a 500 naming the problem, not a crash", async () => {
    const origin = await startOrigin();
    const worker = await startWorker({ ISR_CONFIG: "bogus = 1\n", ISR_ORIGIN: origin.url });
    try {
      const answer = await get(worker.base, "/fresh/x");
      assert.equal(answer.status, 500);
      assert.match(answer.text, /ISR_CONFIG:1:1: .*bogus/);
      const short = await startWorker({
        ISR_CONFIG: sharedConfig,
        ISR_ORIGIN: origin.url,
        ISR_ADMIN_TOKEN: "short",
      });
      try {
        const refused = await get(short.base, "/fresh/x");
        assert.equal(refused.status, 500);
        assert.match(refused.text, /ISR_ADMIN_TOKEN: is too short/);
      } finally {
        await short.mf.dispose();
      }
      assert.equal(origin.count("/fresh/x"), 0);
    } finally {
      await worker.mf.dispose();
      await origin.stop();
    }
  });
});

describe("isr Worker clock", () => {
  it("only the ISR_TEST_CLOCK binding moves it, never a client", async () => {
    const origin = await startOrigin();
    const worker = await startWorker({ ISR_CONFIG: sharedConfig, ISR_ORIGIN: origin.url });
    try {
      const path = "/fresh/clock";
      assert.equal((await get(worker.base, path)).cache, "MISS");
      // A day on (past `expire`), if a client could move the clock: sent, and ignored.
      const forged = await get(worker.base, path, {
        headers: { "x-isr-clock-offset": "86400000" },
      });
      assert.equal(forged.cache, "HIT");
      assert.equal(origin.count(path), 1);
    } finally {
      await worker.mf.dispose();
      await origin.stop();
    }
  });
});

describe("isr Worker with key_host = true", () => {
  it("tells a URL origin the client's host, rendered or bypassed (as X-Forwarded-Host)", async () => {
    // The platform sends a fetch to a URL with that URL's authority as Host.
    const origin = await startOrigin();
    const worker = await startWorker({
      ISR_CONFIG: `key_host = true\n${sharedConfig}`,
      ISR_ORIGIN: origin.url,
    });
    try {
      const host = new URL(worker.base).host;
      const path = "/fresh/host";
      assert.equal((await get(worker.base, path)).cache, "MISS");
      assert.equal(origin.headersOf(path)["x-forwarded-host"], host);
      const posted = await get(worker.base, path, { method: "POST", body: "x" });
      assert.equal(posted.cache, "BYPASS");
      assert.equal(origin.count(path), 2);
      assert.equal(origin.headersOf(path)["x-forwarded-host"], host);
    } finally {
      await worker.mf.dispose();
      await origin.stop();
    }
  });

  it("passes Host on through a service binding, rendered or bypassed", async () => {
    const mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      workers: [
        {
          name: "isr",
          // Requests are addressed to the origin's own name: Host says otherwise only if
          // isr sends it.
          ...isrWorker(buildDir, {
            ISR_CONFIG: `key_host = true\n${sharedConfig}`,
            ISR_ORIGIN: "http://site.invalid",
          }),
          serviceBindings: { ORIGIN: "site" },
        },
        {
          name: "site",
          modules: true,
          compatibilityDate: COMPATIBILITY_DATE,
          script: `
            export default {
              fetch(request) {
                const forwarded = request.headers.get("x-forwarded-host");
                return new Response(\`host \${request.headers.get("host")}, forwarded \${forwarded}\`);
              },
            };`,
        },
      ],
    });
    try {
      const base = (await mf.ready).origin;
      const host = new URL(base).host;
      const rendered = await get(base, "/fresh/host");
      assert.equal(rendered.cache, "MISS");
      assert.equal(rendered.text, `host ${host}, forwarded null`);
      const posted = await get(base, "/fresh/host", { method: "POST", body: "x" });
      assert.equal(posted.cache, "BYPASS");
      assert.equal(posted.text, `host ${host}, forwarded null`);
    } finally {
      await mf.dispose();
    }
  });
});

describe("isr Worker behind a CDN", () => {
  it("answers from the cache carry their tags (tags_header)", async () => {
    const origin = await startOrigin();
    const worker = await startWorker({
      ISR_CONFIG: `${sharedConfig}\n[cdn]\ntags_header = "Cache-Tag"\n`,
      ISR_ORIGIN: origin.url,
    });
    try {
      const path = "/fresh/tagged";
      const miss = await get(worker.base, path);
      assert.equal(miss.cache, "MISS");
      assert.equal(miss.headers.get("cache-tag"), "fresh,page:tagged");
      const hit = await get(worker.base, path);
      assert.equal(hit.cache, "HIT");
      assert.equal(hit.headers.get("cache-tag"), "fresh,page:tagged");
    } finally {
      await worker.mf.dispose();
      await origin.stop();
    }
  });
});
