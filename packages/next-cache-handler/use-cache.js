'use strict';
// The `'use cache'` handler (`cacheHandlers: { default: ... }` in next.config), Next 16's
// interface: get/set/refreshTags/getExpiration/updateTags. Entries are shared by every Next
// instance through isr's store; the implicit tags Next passes to `get` are checked by isr
// with the entry's own (`getExpiration` answers Infinity to ask for that). An entry a purge
// reached is a miss, so a render after `updateTag`/`revalidateTag` reads fresh data.

const { decode, encode, purgeMode, purgeOnce, sharedClient } = require('./lib/client');

const KEY_PREFIX = 'use-cache:';
const PENDING = Symbol.for('@isr/next-cache-handler/pending-sets');

function streamFromBuffer(buffer) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new Uint8Array(buffer));
      controller.close();
    },
  });
}

async function bufferFromStream(stream) {
  const chunks = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/** A `'use cache'` handler talking to isr (`ISR_URL`, `ISR_ADMIN_TOKEN` unless given). */
function createUseCacheHandler(options) {
  const client = sharedClient(options);
  const pending = (globalThis[PENDING] ??= new Map());
  return {
    async get(cacheKey, softTags = []) {
      const waiting = pending.get(cacheKey);
      if (waiting) await waiting;
      const found = await client.get(KEY_PREFIX + cacheKey, softTags);
      if (!found || found.state === 'purged') return undefined;
      let stored;
      try {
        stored = decode(found.value);
      } catch {
        return undefined;
      }
      if (!Buffer.isBuffer(stored.value)) return undefined;
      return {
        value: streamFromBuffer(stored.value),
        tags: stored.tags || [],
        stale: stored.stale,
        timestamp: stored.timestamp,
        expire: stored.expire,
        revalidate: stored.revalidate,
      };
    },

    async set(cacheKey, pendingEntry) {
      let done = () => {};
      pending.set(cacheKey, new Promise((resolve) => (done = resolve)));
      try {
        const entry = await pendingEntry;
        // `expire: 0` is dynamic in production: never read back, so never stored.
        if (entry.expire === 0) return;
        const value = await bufferFromStream(entry.value);
        const { value: _stream, ...meta } = entry;
        await client.put(KEY_PREFIX + cacheKey, encode({ ...meta, value }), {
          tags: entry.tags || [],
          revalidate: entry.revalidate,
          expire: entry.expire,
          createdAt: entry.timestamp,
        });
      } catch (error) {
        client.failed('storing a use cache entry', error && error.message ? error.message : String(error));
      } finally {
        pending.delete(cacheKey);
        done();
      }
    },

    async refreshTags() {
      // isr judges every read against its purge records: nothing to refresh.
    },

    async getExpiration() {
      // Pass the implicit tags to `get`, where isr checks them.
      return Infinity;
    },

    async updateTags(tags, durations) {
      await purgeOnce(client, tags.filter(Boolean), purgeMode(durations));
    },
  };
}

module.exports = createUseCacheHandler();
module.exports.default = module.exports;
module.exports.createUseCacheHandler = createUseCacheHandler;
