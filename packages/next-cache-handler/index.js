'use strict';
// The incremental cache handler (`cacheHandler` in next.config): pages, route handlers
// and `fetch` data, shared by every Next instance through isr's store. A page's tags
// (Next's implicit `_N_T_/...` tags included) are reported to isr, so a purge of any of
// them purges isr's copies of that page; `revalidateTag` and `revalidatePath` become isr
// purges on every node.
//
// isr is the stale-while-revalidate layer in front of Next: an entry a purge reached (soft
// or hard) is a miss here, so the render isr asks for is fresh; soft or hard decides only
// what isr serves visitors meanwhile.

const { decode, encode, purgeMode, purgeOnce, sharedClient } = require('./lib/client');

const TAGS_HEADER = 'x-next-cache-tags';
const PAGE_KINDS = new Set(['APP_PAGE', 'APP_ROUTE', 'PAGES']);

/** The request path of a page's cache key (`/route-cache/<kind>/<hash>/$/posts/1`). */
function pagePath(key) {
  const marker = key.indexOf('/$/');
  let path = marker >= 0 ? key.slice(marker + 2) : key;
  if (!path.startsWith('/')) return null;
  if (path === '/index') path = '/';
  return path;
}

function tagsOf(data) {
  const header = data && data.headers && data.headers[TAGS_HEADER];
  if (typeof header !== 'string' || header === '') return [];
  return [...new Set(header.split(',').filter(Boolean))];
}

class IsrCacheHandler {
  /** @param {object} [context] Next's handler context (unused: isr is configured by env). */
  constructor(context, options) {
    this.client = sharedClient(options);
  }

  async get(key, ctx = {}) {
    const tags = ctx.kind === 'FETCH' ? [...(ctx.tags || []), ...(ctx.softTags || [])] : [];
    const found = await this.client.get(key, tags);
    if (!found || found.state === 'purged') return null;
    let stored;
    try {
      stored = decode(found.value);
    } catch {
      return null;
    }
    const entry = { lastModified: found.created_at, value: stored.value ?? null };
    if (stored.cacheControl) entry.cacheControl = stored.cacheControl;
    return entry;
  }

  async set(key, data, ctx = {}) {
    const fetchCache = data && data.kind === 'FETCH';
    const tags = fetchCache ? [...new Set(ctx.tags || [])] : tagsOf(data);
    const cacheControl = fetchCache ? undefined : ctx.cacheControl;
    const revalidate = fetchCache ? (ctx.revalidate ?? data.revalidate) : cacheControl && cacheControl.revalidate;
    const expire = cacheControl && cacheControl.expire;
    const value = encode({ value: data, cacheControl });
    await this.client.put(key, value, {
      tags,
      revalidate: typeof revalidate === 'number' ? revalidate : undefined,
      expire: typeof expire === 'number' ? expire : undefined,
    });
    if (data && PAGE_KINDS.has(data.kind) && tags.length > 0) {
      const path = pagePath(key);
      if (path) await this.client.attachTags(path, tags);
    }
  }

  async revalidateTag(tags, durations) {
    const list = (Array.isArray(tags) ? tags : [tags]).filter(Boolean);
    await purgeOnce(this.client, list, purgeMode(durations));
  }

  resetRequestCache() {}
}

module.exports = IsrCacheHandler;
module.exports.default = IsrCacheHandler;
module.exports.IsrCacheHandler = IsrCacheHandler;
module.exports.pagePath = pagePath;
