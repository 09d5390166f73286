// A test origin on 127.0.0.1 (port chosen by the system) that counts renders per path,
// can fail on demand, can hold a render open until the test releases it, and serves
// binary bodies. Everything it does is driven from the test process (no sleeps).
//
//   GET /bin/<name>   -> `size` deterministic bytes covering every byte value
//   GET /big/<name>   -> about 20 KB of text/html, `bigPage(N, path)`, that compresses well
//   GET /<anything>   -> text/html "render #N of <path>"
//
// Per path, the test can set: tags (sent as x-isr-tags), other response headers, a
// failure status, a body size, and a hold (a promise the render waits for).

import http from "node:http";

/** Bytes 0..255 repeated, then mixed, `size` long: every byte value, not valid UTF-8. */
export function binaryBody(size) {
  const body = Buffer.alloc(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    if (i < 256) {
      body[i] = i;
    } else {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      body[i] = x & 0xff;
    }
  }
  return body;
}

/** The body of render `n` of `path` under /big/: about 20 KB of HTML, uncompressed. */
export function bigPage(n, path) {
  const items = Array.from({ length: 300 }, (_, i) => `<li>item ${i} of a long list</li>`);
  return `<!doctype html><h1>render #${n} of ${path}</h1><ul>${items.join("\n")}</ul>`;
}

export async function startOrigin() {
  const counts = new Map();
  const tags = new Map();
  const extraHeaders = new Map();
  const failures = new Map();
  const sizes = new Map();
  const holds = new Map();
  const lastHeaders = new Map();
  const waiting = new Map(); // path -> resolvers waiting for a render to arrive (held)

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://origin");
    const path = url.pathname;
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    lastHeaders.set(path, req.headers);
    for (const resolve of waiting.get(path) ?? []) resolve();
    waiting.delete(path);
    // Drain the request body (bypassed POSTs).
    for await (const _ of req) {
      // discard
    }
    const hold = holds.get(path);
    if (hold) await hold.promise;
    const headers = { ...extraHeaders.get(path) };
    const tag = tags.get(path);
    if (tag) headers["x-isr-tags"] = tag;
    const failure = failures.get(path);
    if (failure) {
      res.writeHead(failure, { "content-type": "text/plain" });
      res.end(`failure #${n} of ${path}`);
      return;
    }
    if (path.startsWith("/bin/") || sizes.has(path)) {
      const body = binaryBody(sizes.get(path) ?? 300_000);
      res.writeHead(200, {
        ...headers,
        "content-type": "application/octet-stream",
        "content-length": body.length,
      });
      res.end(body);
      return;
    }
    res.writeHead(200, { ...headers, "content-type": "text/html; charset=utf-8" });
    res.end(path.startsWith("/big/") ? bigPage(n, path) : `render #${n} of ${path}`);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}`,
    /** Renders of `path` so far. */
    count: (path) => counts.get(path) ?? 0,
    /** The headers of the last render of `path`. */
    headersOf: (path) => lastHeaders.get(path),
    setTags: (path, value) => tags.set(path, value),
    /** Answer `path` with these headers too (or without them again with `null`). */
    setHeaders: (path, headers) =>
      headers ? extraHeaders.set(path, headers) : extraHeaders.delete(path),
    /** Answer `path` with `status` (or normally again with `null`). */
    fail: (path, status) => (status ? failures.set(path, status) : failures.delete(path)),
    setSize: (path, size) => sizes.set(path, size),
    /** Hold renders of `path` open until the returned function is called. */
    hold(path) {
      let release;
      const promise = new Promise((resolve) => (release = resolve));
      holds.set(path, { promise });
      return () => {
        holds.delete(path);
        release();
      };
    },
    /** Resolves when the next render of `path` arrives (even if it is held). */
    nextRender(path) {
      return new Promise((resolve) => {
        const list = waiting.get(path) ?? [];
        list.push(resolve);
        waiting.set(path, list);
      });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
