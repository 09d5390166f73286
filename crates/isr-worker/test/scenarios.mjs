// The behaviour scenarios shared by both runtimes: the isr Worker under workerd
// (Miniflare) and the native `isr` proxy. Each is written once against a runtime:
//
//   { base, origin, purge(body) -> Response, advance(ms) -> Promise }
//
// where `base` is the proxy's URL, `origin` the test origin (test/origin.mjs) it caches,
// `purge` posts to its admin API, and `advance` moves the proxy's clock forward. The
// configuration both run with is `sharedConfig`.
//
// Time: the stale scenarios need an entry older than its 1 s revalidate. Each runtime's
// clock is moved by the test, so no real time passes: the Worker's through its
// ISR_TEST_CLOCK binding (test/workerd.mjs), the native binary's through the file its
// ISR_TEST_CLOCK_FILE names (test/native.test.mjs). Everything else waits on the origin's
// counters and holds, never on a sleep, and nothing asserts that something happened
// "in time".

import assert from "node:assert/strict";
import { it } from "node:test";

export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const BYPASS_TOKEN = "test-bypass-token-0123456789";

/** The isr.toml both runtimes use (the origin comes separately). */
export const sharedConfig = `
site = "test"

[cache]
revalidate = 3600
expire = 7200
stale_if_error = 7200
lock_timeout = "20s"
render_timeout = "20s"
retry_min = "60s"
retry_max = "120s"
max_entry_size = "64MiB"

[[route]]
path = "/fresh/[name]"
revalidate = 3600
tags = ["fresh", "page:{name}"]

[[route]]
path = "/swr/[name]"
revalidate = 1
tags = ["swr"]

[[route]]
path = "/bin/[name]"
revalidate = 3600
`;

/** Real time passing, between polls. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns something truthy (bounded: fails after `limitMs`). */
export async function until(check, what, limitMs = 30_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(25);
  }
}

/** `promise`, or a failure naming `what` after `limitMs` (so a test never hangs). */
export function bounded(promise, what, limitMs = 30_000) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), limitMs);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

export async function get(base, path, init = {}) {
  const response = await fetch(base + path, { redirect: "manual", ...init }).catch((error) => {
    // undici's "fetch failed" hides why: say it.
    throw new Error(`GET ${path}: ${error.message} (${error.cause?.code ?? error.cause ?? "no cause"})`, {
      cause: error,
    });
  });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    cache: response.headers.get("x-isr-cache"),
    headers: response.headers,
    body,
    text: body.toString("utf8"),
  };
}

/** How far to move a clock for an entry created before to be stale (revalidate = 1 s). */
export const STALE_AFTER_MS = 1_200;

/**
 * The scenarios, as `it(...)` tests. `rt()` returns the runtime (started in a `before`).
 */
export function sharedScenarios(rt) {
  it("MISS, then HIT, then STALE while one regeneration runs, then the regenerated page", async () => {
    const { base, origin, advance } = rt();
    const path = "/swr/cycle";
    const first = await get(base, path);
    assert.equal(first.status, 200);
    assert.equal(first.cache, "MISS");
    assert.equal(first.text, `render #1 of ${path}`);
    const hit = await get(base, path);
    if (hit.cache === "HIT") {
      assert.equal(hit.text, `render #1 of ${path}`);
    } else {
      // The machine took over a second between the two requests: the entry is stale.
      assert.equal(hit.cache, "STALE");
    }
    await advance(STALE_AFTER_MS);
    const stale = await get(base, path);
    assert.equal(stale.cache, "STALE");
    assert.equal(stale.text, `render #1 of ${path}`);
    assert.match(stale.headers.get("cache-control"), /s-maxage=1, stale-while-revalidate=7199/);
    assert.ok(Number(stale.headers.get("age")) >= 1);
    await until(() => origin.count(path) === 2, "the regeneration");
    const regenerated = await until(async () => {
      const answer = await get(base, path);
      return answer.text === `render #2 of ${path}` ? answer : null;
    }, "the regenerated page");
    assert.ok(["HIT", "STALE"].includes(regenerated.cache));
  });

  it("N = 60 concurrent stale requests cause exactly one regeneration", async () => {
    // Made stale by a soft purge rather than by time, so that the regenerated page is
    // certainly fresh when it is read back (a 1 s revalidate can pass while 60 requests
    // are answered on a loaded machine, and a stale read would rightly regenerate again).
    const { base, origin, purge } = rt();
    const path = "/fresh/stampede";
    assert.equal((await get(base, path)).cache, "MISS");
    assert.equal((await purge({ paths: [path] })).status, 200);
    const release = origin.hold(path);
    const arrived = origin.nextRender(path);
    const answers = await Promise.all(Array.from({ length: 60 }, () => get(base, path)));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.cache, "STALE");
      assert.equal(answer.text, `render #1 of ${path}`);
    }
    await bounded(arrived, "the regeneration to reach the origin"); // held there
    release();
    const done = await until(async () => {
      const answer = await get(base, path);
      return answer.text === `render #2 of ${path}` ? answer : null;
    }, "the regenerated page");
    assert.equal(done.cache, "HIT");
    assert.equal(origin.count(path), 2, "exactly one regeneration");
  });

  it("a failed regeneration keeps the last good page", async () => {
    const { base, origin, advance } = rt();
    const path = "/swr/failing";
    assert.equal((await get(base, path)).cache, "MISS");
    origin.fail(path, 500);
    try {
      await advance(STALE_AFTER_MS);
      const stale = await get(base, path);
      assert.equal(stale.cache, "STALE");
      assert.equal(stale.text, `render #1 of ${path}`);
      await until(() => origin.count(path) === 2, "the failed regeneration");
      // The failure was not stored: the old page is still served, and the key backs off.
      for (let i = 0; i < 3; i++) {
        const again = await get(base, path);
        assert.equal(again.status, 200);
        assert.equal(again.cache, "STALE");
        assert.equal(again.text, `render #1 of ${path}`);
      }
      assert.equal(origin.count(path), 2, "backing off: no other regeneration");
    } finally {
      origin.fail(path, null);
    }
  });

  it("N = 30 concurrent requests for a page nobody rendered cause one render", async () => {
    const { base, origin } = rt();
    const path = "/fresh/crowd";
    const release = origin.hold(path);
    const arrived = origin.nextRender(path);
    const pending = Promise.all(Array.from({ length: 30 }, () => get(base, path)));
    await bounded(arrived, "the render to reach the origin");
    release();
    const answers = await pending;
    // Requests that reached the proxy after the render was stored are hits; every other
    // one waited for the one render.
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.ok(["MISS", "HIT"].includes(answer.cache), answer.cache);
      assert.equal(answer.text, `render #1 of ${path}`);
    }
    assert.ok(answers.filter((a) => a.cache === "MISS").length >= 1);
    assert.equal(origin.count(path), 1);
  });

  it("after a render that may not be shared, requests skip single flight until one is stored", async () => {
    const { base, origin } = rt();
    const path = "/fresh/pass";
    origin.setHeaders(path, { "cache-control": "private" });
    const first = await get(base, path);
    assert.equal(first.cache, "BYPASS");
    assert.equal(first.text, `render #1 of ${path}`);
    // Hit-for-pass: two requests at once each go to the origin; neither waits for the other.
    const release = origin.hold(path);
    const pending = Promise.all([get(base, path), get(base, path)]);
    await until(() => origin.count(path) === 3, "both renders to reach the origin at once");
    release();
    for (const answer of await pending) {
      assert.equal(answer.cache, "BYPASS");
    }
    // Shareable again: the next render is stored, and the key is cached as before.
    origin.setHeaders(path, null);
    const stored = await get(base, path);
    assert.equal(stored.cache, "MISS");
    assert.equal(stored.text, `render #4 of ${path}`);
    assert.equal((await get(base, path)).cache, "HIT");
    assert.equal(origin.count(path), 4);
  });

  it("a page the origin stops letting be cached is removed by its regeneration", async () => {
    const { base, origin, purge } = rt();
    const path = "/fresh/turns-private";
    assert.equal((await get(base, path)).cache, "MISS");
    origin.setHeaders(path, { "cache-control": "private" });
    const purged = await purge({ paths: [path], regenerate: true });
    assert.equal(purged.status, 200);
    // Watched through the listing, which renders nothing.
    await until(async () => {
      const listed = await fetch(`${base}/_isr/entries?prefix=${path}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      return (await listed.json()).entries.length === 0;
    }, "the entry to be removed");
    assert.equal(origin.count(path), 2);
    const next = await get(base, path);
    assert.equal(next.cache, "BYPASS");
    assert.equal(next.text, `render #3 of ${path}`);
  });

  for (const [kind, body] of [
    ["path", (name) => ({ paths: [`/fresh/${name}`] })],
    ["tag", (name) => ({ tags: [`page:${name}`] })],
  ]) {
    it(`a soft purge by ${kind} makes the page stale on the next read`, async () => {
      const { base, origin, purge } = rt();
      const name = `soft-${kind}`;
      const path = `/fresh/${name}`;
      assert.equal((await get(base, path)).cache, "MISS");
      assert.equal((await get(base, path)).cache, "HIT");
      const purged = await purge({ ...body(name), mode: "soft" });
      assert.equal(purged.status, 200);
      const stale = await get(base, path);
      assert.equal(stale.cache, "STALE");
      assert.equal(stale.text, `render #1 of ${path}`);
      await until(() => origin.count(path) === 2, "the regeneration");
      await until(async () => (await get(base, path)).text === `render #2 of ${path}`, "the new page");
      assert.equal((await get(base, path)).cache, "HIT");
    });

    it(`a hard purge by ${kind} is never served again`, async () => {
      const { base, origin, purge } = rt();
      const name = `hard-${kind}`;
      const path = `/fresh/${name}`;
      assert.equal((await get(base, path)).cache, "MISS");
      assert.equal((await get(base, path)).cache, "HIT");
      const purged = await purge({ ...body(name), mode: "hard" });
      assert.equal(purged.status, 200);
      const next = await get(base, path);
      assert.equal(next.cache, "MISS");
      assert.equal(next.text, `render #2 of ${path}`);
      assert.equal((await get(base, path)).cache, "HIT");
      assert.equal(origin.count(path), 2);
    });
  }

  it("a purge with regenerate re-renders the page without waiting for a visitor", async () => {
    const { base, origin, purge } = rt();
    const path = "/fresh/regen";
    assert.equal((await get(base, path)).cache, "MISS");
    const purged = await purge({ paths: [path], regenerate: true });
    assert.equal(purged.status, 200);
    const answer = await purged.json();
    assert.deepEqual(answer.regenerating, [path]);
    await until(() => origin.count(path) === 2, "the regeneration");
    const next = await until(async () => {
      const got = await get(base, path);
      return got.text === `render #2 of ${path}` ? got : null;
    }, "the regenerated page");
    assert.equal(next.cache, "HIT");
    const skipped = await purge({ paths: ["/fresh/never-rendered"], regenerate: true, if_cached: true });
    assert.deepEqual((await skipped.json()).skipped, [{ path: "/fresh/never-rendered", reason: "not cached" }]);
    assert.equal(origin.count("/fresh/never-rendered"), 0);
  });

  it("a purge by tag reaches every page with the tag and no other", async () => {
    const { base, origin, purge } = rt();
    const tagged = "/fresh/tag-a";
    origin.setTags("/fresh/tag-b", "origin-tag");
    assert.equal((await get(base, tagged)).cache, "MISS");
    assert.equal((await get(base, "/fresh/tag-b")).cache, "MISS");
    assert.equal((await purge({ tags: ["origin-tag"], mode: "hard" })).status, 200);
    assert.equal((await get(base, tagged)).cache, "HIT");
    assert.equal((await get(base, "/fresh/tag-b")).cache, "MISS");
    assert.equal(origin.count("/fresh/tag-b"), 2);
  });

  it("a bypassed request is answered by the origin and never stored", async () => {
    const { base, origin } = rt();
    const path = "/fresh/draft";
    const headers = { "x-isr-bypass": BYPASS_TOKEN };
    const draft = await get(base, path, { headers });
    assert.equal(draft.cache, "BYPASS");
    assert.equal(draft.headers.get("cache-control"), "private, no-store");
    assert.equal((await get(base, path, { headers })).text, `render #2 of ${path}`);
    const posted = await get(base, path, { method: "POST", body: "x" });
    assert.equal(posted.cache, "BYPASS");
    // Nothing was stored by any of them: the first cacheable request renders.
    const first = await get(base, path);
    assert.equal(first.cache, "MISS");
    assert.equal(first.text, `render #4 of ${path}`);
    // A wrong token is no token: served from the cache.
    const wrong = await get(base, path, { headers: { "x-isr-bypass": "nope" } });
    assert.equal(wrong.cache, "HIT");
  });

  it("a binary body round-trips byte for byte (MISS and HIT)", async () => {
    const { base, origin } = rt();
    const path = "/bin/blob";
    const { binaryBody } = await import("./origin.mjs");
    const expected = binaryBody(300_000);
    const miss = await get(base, path);
    assert.equal(miss.cache, "MISS");
    assert.ok(miss.body.equals(expected), "MISS body differs");
    const hit = await get(base, path);
    assert.equal(hit.cache, "HIT");
    assert.ok(hit.body.equals(expected), "HIT body differs");
    assert.equal(origin.count(path), 1);
  });

  it("HEAD and a matching If-None-Match are answered from the cache", async () => {
    const { base, origin } = rt();
    const path = "/fresh/conditional";
    const miss = await get(base, path);
    const etag = miss.headers.get("etag");
    assert.ok(etag);
    const head = await get(base, path, { method: "HEAD" });
    assert.equal(head.cache, "HIT");
    assert.equal(head.body.length, 0);
    const notModified = await get(base, path, { headers: { "if-none-match": etag } });
    assert.equal(notModified.status, 304);
    assert.equal(origin.count(path), 1);
  });

  it("a request carrying the recursion guard of this deployment is refused with 508", async () => {
    const { base, origin } = rt();
    const path = "/fresh/guard";
    await get(base, path);
    const guard = origin.headersOf(path)["x-isr-render"];
    assert.ok(guard && guard.length >= 16, "renders carry the secret");
    const loop = await get(base, "/fresh/other", { headers: { "x-isr-render": guard } });
    assert.equal(loop.status, 508);
    // A guard that is not the secret is ignored (and never forwarded).
    const forged = await get(base, "/fresh/forged", { headers: { "x-isr-render": "forged" } });
    assert.equal(forged.status, 200);
    assert.notEqual(origin.headersOf("/fresh/forged")["x-isr-render"], "forged");
  });

  it("GET /_isr/entries lists pages under a prefix with their state, a page at a time", async () => {
    const { base, purge } = rt();
    for (const path of ["/fresh/list-a", "/fresh/list-b"]) {
      assert.equal((await get(base, path)).cache, "MISS");
    }
    const purged = await purge({ paths: ["/fresh/list-b"], mode: "hard" });
    assert.equal(purged.status, 200);
    const list = (query, token = ADMIN_TOKEN) =>
      fetch(`${base}/_isr/entries?${query}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    const whole = await list("prefix=/fresh/list-");
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("cache-control"), "no-store");
    const page = await whole.json();
    const byPath = Object.fromEntries(page.entries.map((entry) => [entry.path, entry]));
    assert.deepEqual(Object.keys(byPath).sort(), ["/fresh/list-a", "/fresh/list-b"]);
    assert.equal(byPath["/fresh/list-a"].state, "fresh");
    assert.equal(byPath["/fresh/list-b"].state, "purged");
    assert.equal(byPath["/fresh/list-a"].revalidate, 3600);
    assert.deepEqual(byPath["/fresh/list-a"].tags, ["fresh", "page:list-a"]);
    assert.equal(byPath["/fresh/list-a"].size, "render #1 of /fresh/list-a".length);

    // One at a time: the cursor leads to the other page, and then to the end.
    const seen = [];
    let query = "prefix=/fresh/list-&limit=1";
    for (let calls = 0; calls < 10; calls++) {
      const answer = await (await list(query)).json();
      assert.ok(answer.entries.length <= 1);
      seen.push(...answer.entries.map((entry) => entry.path));
      if (!answer.next_cursor) break;
      query = `prefix=/fresh/list-&limit=1&cursor=${answer.next_cursor}`;
    }
    assert.deepEqual(seen.sort(), ["/fresh/list-a", "/fresh/list-b"]);

    assert.equal((await list("prefix=/fresh/", null)).status, 401);
    for (const bad of ["limit=0", "limit=ten", "cursor=zz", "order=desc"]) {
      const refused = await list(bad);
      assert.equal(refused.status, 400, bad);
      assert.ok((await refused.json()).error, bad);
    }
  });

  it("the admin API wants the token and valid input", async () => {
    const { base } = rt();
    const post = (body, token) =>
      fetch(`${base}/_isr/revalidate`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
    assert.equal((await post(JSON.stringify({ paths: ["/x"] }), null)).status, 401);
    assert.equal((await post(JSON.stringify({ paths: ["/x"] }), "wrong-token-0123456789")).status, 401);
    const malformed = await post("{", ADMIN_TOKEN);
    assert.equal(malformed.status, 400);
    assert.ok((await malformed.json()).error);
    const empty = await post(JSON.stringify({ paths: [] }), ADMIN_TOKEN);
    assert.equal(empty.status, 400);
    assert.match((await empty.json()).error, /paths/);
    const unknown = await post(JSON.stringify({ nope: 1 }), ADMIN_TOKEN);
    assert.equal(unknown.status, 400);
  });
}

/** `purge` for a runtime at `base`. */
export function purger(base) {
  return (body) =>
    fetch(`${base}/_isr/revalidate`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(body),
    });
}
