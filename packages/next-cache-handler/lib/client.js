'use strict';
// The isr admin API as the cache handlers use it: data entries by key (`/_isr/data`), the
// tags a page carries (`/_isr/tags`) and purges (`/_isr/revalidate`). Configured by
// `ISR_URL` and `ISR_ADMIN_TOKEN` unless given. Every call has a timeout; a failure is
// reported (once per kind until a call succeeds again) and answered as "nothing", so a
// cache handler never breaks a render because isr is away.

const DEFAULT_TIMEOUT_MS = 5000;

/** Serialise a value holding Buffers, typed arrays and Maps as JSON text. */
function encode(value) {
  return JSON.stringify(toJson(value));
}

/** The value `encode` was given, Buffers and Maps restored. */
function decode(text) {
  return fromJson(JSON.parse(text));
}

function toJson(value) {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { __isr_b64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (value instanceof Map) {
    return { __isr_map: Array.from(value, ([k, v]) => [toJson(k), toJson(v)]) };
  }
  if (Array.isArray(value)) return value.map(toJson);
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = toJson(v);
  }
  return out;
}

function fromJson(value) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value.__isr_b64 === 'string') return Buffer.from(value.__isr_b64, 'base64');
  if (Array.isArray(value.__isr_map)) {
    return new Map(value.__isr_map.map(([k, v]) => [fromJson(k), fromJson(v)]));
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = fromJson(v);
  return out;
}

class IsrClient {
  /**
   * @param {{url?: string, token?: string, timeoutMs?: number, log?: (message: string) => void}} [options]
   */
  constructor(options = {}) {
    const url = options.url ?? process.env.ISR_URL;
    const token = options.token ?? process.env.ISR_ADMIN_TOKEN;
    if (!url) throw new Error('@isr/next-cache-handler: set ISR_URL to the address of isr (e.g. http://127.0.0.1:3000)');
    if (!token) throw new Error('@isr/next-cache-handler: set ISR_ADMIN_TOKEN to the admin token isr runs with');
    this.url = url.replace(/\/+$/, '');
    this.token = token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.log = options.log ?? ((message) => console.warn(message));
    this.failing = new Set();
  }

  async call(method, path, body) {
    if (process.env.ISR_CACHE_DEBUG) console.log(`@isr/next-cache-handler: ${method} ${path}${body && body.tags ? ` tags=${body.tags.join(',')}` : ''}${body && body.mode ? ` mode=${body.mode}` : ''}`);
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: response.status, json, text };
  }

  /** `what` failed: say so once until it works again. */
  failed(what, detail) {
    if (!this.failing.has(what)) {
      this.failing.add(what);
      this.log(`@isr/next-cache-handler: ${what} failed: ${detail}`);
    }
  }

  ok(what) {
    this.failing.delete(what);
  }

  async guarded(what, run, fallback) {
    try {
      const result = await run();
      this.ok(what);
      return result;
    } catch (error) {
      this.failed(what, error && error.message ? error.message : String(error));
      return fallback;
    }
  }

  /**
   * The entry under `key`, judged with its own tags and `tags` (the reader's implicit
   * tags); `null` when there is none (absent, hard-purged, expired, or isr unreachable).
   * @returns {Promise<null | {key: string, value: string, tags: string[], created_at: number, revalidate: number | null, expire: number | null, state: 'fresh' | 'stale' | 'purged'}>}
   */
  async get(key, tags = []) {
    return this.guarded('reading from isr', async () => {
      const query = new URLSearchParams({ key });
      for (const tag of tags) query.append('tag', tag);
      const answer = await this.call('GET', `/_isr/data?${query}`);
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      return answer.json;
    }, null);
  }

  /**
   * Store `value` (text) under `key`. `revalidate`/`expire` in seconds (absent: never);
   * `createdAt` in ms since the epoch. Returns whether it was stored.
   */
  async put(key, value, { tags = [], revalidate, expire, createdAt } = {}) {
    return this.guarded('writing to isr', async () => {
      const body = { key, value };
      if (tags.length > 0) body.tags = tags;
      if (Number.isFinite(revalidate) && revalidate >= 0) body.revalidate = Math.ceil(revalidate);
      if (Number.isFinite(expire) && expire >= 0) {
        body.expire = Math.max(Math.ceil(expire), body.revalidate ?? 0);
      }
      if (Number.isFinite(createdAt) && createdAt > 0) body.created_at = Math.floor(createdAt);
      const answer = await this.call('PUT', '/_isr/data', body);
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      return true;
    }, false);
  }

  /** Remove the entry under `key` on every node. */
  async remove(key) {
    return this.guarded('removing from isr', async () => {
      const answer = await this.call('DELETE', `/_isr/data?${new URLSearchParams({ key })}`);
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      return Boolean(answer.json && answer.json.removed);
    }, false);
  }

  /** Tell isr the page at `path` carries `tags`, so purging one of them purges it. */
  async attachTags(path, tags) {
    if (tags.length === 0) return false;
    return this.guarded('telling isr the tags of a page', async () => {
      const answer = await this.call('POST', '/_isr/tags', { path, tags: tags.slice(0, 128) });
      if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      return true;
    }, false);
  }

  /** Purge `tags` on every isr node: `soft` (served stale while one render runs) or `hard`. */
  async purge(tags, mode) {
    if (tags.length === 0) return true;
    return this.guarded('purging in isr', async () => {
      for (let i = 0; i < tags.length; i += 1000) {
        const answer = await this.call('POST', '/_isr/revalidate', { tags: tags.slice(i, i + 1000), mode });
        if (answer.status !== 200) throw new Error(`${answer.status} ${answer.text}`);
      }
      return true;
    }, false);
  }
}

/**
 * Next's durations of a revalidation as an isr purge mode: none (`updateTag`,
 * `revalidatePath`, `revalidateTag(tag)`) or `{ expire: 0 }` is hard; a profile that keeps
 * the entry servable (`'max'`) is soft.
 */
function purgeMode(durations) {
  if (!durations) return 'hard';
  if (typeof durations.expire === 'number' && durations.expire <= 0) return 'hard';
  return 'soft';
}

const PURGES = Symbol.for('@isr/next-cache-handler/purges');

/**
 * Purge `tags` once even when both handlers (`cacheHandler` and `cacheHandlers`) are told
 * of the same revalidation: the second caller joins the first's request.
 */
function purgeOnce(client, tags, mode) {
  const inFlight = (globalThis[PURGES] ??= new Map());
  const id = `${client.url}\n${mode}\n${[...tags].sort().join('\n')}`;
  const running = inFlight.get(id);
  if (running) return running;
  // Joined only while it runs: a revalidation after it finished purges again.
  const purge = client.purge(tags, mode).finally(() => inFlight.delete(id));
  inFlight.set(id, purge);
  return purge;
}

/**
 * Stands in for isr during `next build` when ISR_URL is not set: every read is a miss and
 * nothing is stored (the pages are rendered on their first request instead).
 */
class BuildTimeClient {
  constructor() {
    this.url = '';
  }
  async get() {
    return null;
  }
  async put() {
    return false;
  }
  async remove() {
    return false;
  }
  async attachTags() {
    return false;
  }
  async purge() {
    return true;
  }
  failed() {}
}

const CLIENTS = Symbol.for('@isr/next-cache-handler/clients');

/** One client per configuration, shared by every handler instance of the process. */
function sharedClient(options = {}) {
  const clients = (globalThis[CLIENTS] ??= new Map());
  const id = JSON.stringify([options.url ?? process.env.ISR_URL, options.token ?? process.env.ISR_ADMIN_TOKEN]);
  let client = clients.get(id);
  if (!client) {
    const configured = (options.url ?? process.env.ISR_URL) && (options.token ?? process.env.ISR_ADMIN_TOKEN);
    client = !configured && process.env.NEXT_PHASE === 'phase-production-build' ? new BuildTimeClient() : new IsrClient(options);
    clients.set(id, client);
  }
  return client;
}

module.exports = { IsrClient, BuildTimeClient, encode, decode, purgeMode, purgeOnce, sharedClient };
