'use strict';
// The handlers against a real isr binary: what one Next instance stores another reads;
// a page's tags reach isr's copies of it; revalidateTag / revalidatePath / updateTags
// become isr purges (soft for 'max', hard for { expire: 0 } and for no profile); a purged
// entry is a miss; isr away is a miss, never an error in the render.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const { startIsr, startOrigin, freePort } = require('./isr');
const { IsrClient, decode, encode, purgeMode } = require('../lib/client');

let origin;
let isr;
let IsrCacheHandler;
let useCache;

before(async () => {
  origin = await startOrigin();
  isr = await startIsr(origin.url);
  process.env.ISR_URL = isr.url;
  process.env.ISR_ADMIN_TOKEN = isr.token;
  IsrCacheHandler = require('..');
  useCache = require('../use-cache');
});

after(async () => {
  await isr.stop();
  await origin.close();
});

const MAX = { expire: 4294967294 };
const EXPIRE_NOW = { expire: 0 };

function fetchValue(body) {
  return { kind: 'FETCH', data: { headers: { 'content-type': 'application/json' }, body, status: 200, url: 'http://api/posts' }, revalidate: 60 };
}

describe('values', () => {
  test('Buffers and Maps survive the trip', () => {
    const value = { kind: 'APP_PAGE', html: '<p>', rscData: Buffer.from([0, 1, 255]), segmentData: new Map([['/_tree', Buffer.from('t')]]), gone: undefined };
    const back = decode(encode(value));
    assert.deepEqual(back, { kind: 'APP_PAGE', html: '<p>', rscData: Buffer.from([0, 1, 255]), segmentData: new Map([['/_tree', Buffer.from('t')]]) });
  });

  test("Next's durations are purge modes", () => {
    assert.equal(purgeMode(undefined), 'hard');
    assert.equal(purgeMode({ expire: 0 }), 'hard');
    assert.equal(purgeMode(MAX), 'soft');
    assert.equal(purgeMode({ expire: 60 }), 'soft');
    assert.equal(purgeMode({}), 'soft');
  });
});

describe('the incremental cache handler', () => {
  test('what one instance stores, another reads; a tag purge makes it a miss', async () => {
    const a = new IsrCacheHandler({});
    const b = new IsrCacheHandler({});
    await a.set('fetch-key-1', fetchValue('{"n":1}'), { fetchCache: true, tags: ['posts'], revalidate: 60 });
    const read = await b.get('fetch-key-1', { kind: 'FETCH', tags: ['posts'], softTags: ['_N_T_/layout'] });
    assert.equal(read.value.data.body, '{"n":1}');
    assert.equal(read.value.kind, 'FETCH');
    assert.ok(Math.abs(read.lastModified - Date.now()) < 60_000, 'lastModified is when it was stored');

    await a.revalidateTag('posts', MAX);
    assert.equal(await b.get('fetch-key-1', { kind: 'FETCH', tags: ['posts'] }), null, 'soft-purged: a miss, so the render is fresh');
  });

  test("a page's implicit tags purge it through the reader's soft tags and through isr's copy", async () => {
    const a = new IsrCacheHandler({});
    await a.set('fetch-key-2', fetchValue('{"n":2}'), { fetchCache: true, tags: [], revalidate: 60 });
    assert.ok(await a.get('fetch-key-2', { kind: 'FETCH', softTags: ['_N_T_/blog/1'] }));
    await a.revalidateTag(['_N_T_/blog/1']);
    assert.equal(await a.get('fetch-key-2', { kind: 'FETCH', softTags: ['_N_T_/blog/1'] }), null);
    assert.ok(await a.get('fetch-key-2', { kind: 'FETCH', softTags: ['_N_T_/blog/2'] }), 'another page still reads it');
  });

  test('setting a page tells isr its tags: revalidateTag is STALE, revalidatePath a render', async () => {
    assert.equal((await isr.get('/posts/1')).cache, 'MISS');
    assert.equal((await isr.get('/posts/1')).cache, 'HIT');
    const handler = new IsrCacheHandler({});
    const page = {
      kind: 'APP_PAGE',
      html: '<h1>post</h1>',
      rscData: Buffer.from('rsc'),
      headers: { 'x-next-cache-tags': '_N_T_/layout,_N_T_/posts/layout,_N_T_/posts/[id]/page,_N_T_/posts/1,posts' },
      status: 200,
      postponed: undefined,
      segmentData: new Map(),
    };
    await handler.set('/route-cache/APP_PAGE/0123abcd/$/posts/1', page, { cacheControl: { revalidate: 60, expire: 3600 } });
    const read = await handler.get('/route-cache/APP_PAGE/0123abcd/$/posts/1', { kind: 'APP_PAGE' });
    assert.equal(read.value.html, '<h1>post</h1>');
    assert.deepEqual(read.value.rscData, Buffer.from('rsc'));
    assert.deepEqual(read.cacheControl, { revalidate: 60, expire: 3600 });

    // revalidateTag('posts', 'max'): isr serves its copy stale while it renders again.
    await handler.revalidateTag(['posts'], MAX);
    assert.equal((await isr.get('/posts/1')).cache, 'STALE');
    assert.equal(await handler.get('/route-cache/APP_PAGE/0123abcd/$/posts/1', { kind: 'APP_PAGE' }), null);
    // revalidatePath('/posts/[id]', 'page') (no profile: hard): the next request renders.
    await handler.set('/route-cache/APP_PAGE/0123abcd/$/posts/1', page, { cacheControl: { revalidate: 60, expire: 3600 } });
    const renders = origin.renders('/posts/1');
    await handler.revalidateTag(['_N_T_/posts/[id]/page']);
    assert.equal((await isr.get('/posts/1')).cache, 'MISS');
    assert.equal(origin.renders('/posts/1'), renders + 1);
    assert.equal(await handler.get('/route-cache/APP_PAGE/0123abcd/$/posts/1', { kind: 'APP_PAGE' }), null);
  });

  test('the root page is known by its path', () => {
    assert.equal(IsrCacheHandler.pagePath('/route-cache/APP_PAGE/ab/$/index'), '/');
    assert.equal(IsrCacheHandler.pagePath('/route-cache/APP_ROUTE/ab/$/api/posts'), '/api/posts');
    assert.equal(IsrCacheHandler.pagePath('/blog/a'), '/blog/a');
    assert.equal(IsrCacheHandler.pagePath('0f3a9c'), null);
  });
});

describe("the 'use cache' handler", () => {
  async function text(stream) {
    return Buffer.from(await new Response(stream).arrayBuffer()).toString();
  }

  function entry(body, tags) {
    return {
      value: new Response(body).body,
      tags,
      stale: 300,
      timestamp: Date.now(),
      expire: 4294967294,
      revalidate: 900,
    };
  }

  test('stores, reads back, and a get waits for a pending set', async () => {
    const handler = useCache.createUseCacheHandler();
    let resolve;
    const pendingEntry = new Promise((r) => (resolve = r));
    const setting = handler.set('k1', pendingEntry);
    const getting = handler.get('k1', []);
    resolve(entry('hello', ['greeting']));
    await setting;
    const read = await getting;
    assert.equal(await text(read.value), 'hello');
    assert.deepEqual(read.tags, ['greeting']);
    assert.equal(read.revalidate, 900);
    // Another instance of the handler (another Next process) reads it too.
    const other = useCache.createUseCacheHandler();
    assert.equal(await text((await other.get('k1', [])).value), 'hello');
    assert.equal(await other.getExpiration(['_N_T_/x']), Infinity);
  });

  test('updateTags and implicit tags purge entries; expire 0 is never stored', async () => {
    const handler = useCache;
    await handler.set('k2', Promise.resolve(entry('two', ['cached-posts'])));
    assert.ok(await handler.get('k2', ['_N_T_/a']));
    await handler.updateTags(['cached-posts'], MAX);
    assert.equal(await handler.get('k2', ['_N_T_/a']), undefined);

    await handler.set('k3', Promise.resolve(entry('three', [])));
    await handler.updateTags(['_N_T_/page-a']);
    assert.ok(await handler.get('k3', ['_N_T_/page-b']));
    assert.equal(await handler.get('k3', ['_N_T_/page-a']), undefined);

    await handler.set('k4', Promise.resolve({ ...entry('dynamic', []), expire: 0 }));
    assert.equal(await handler.get('k4', []), undefined);
  });
});

describe('one revalidation, one purge', () => {
  test('both handlers told of the same tags purge once', async () => {
    const client = require('../lib/client').sharedClient();
    const original = client.purge;
    let purges = 0;
    client.purge = async (...args) => {
      purges++;
      return original.apply(client, args);
    };
    try {
      const incremental = new IsrCacheHandler({});
      await Promise.all([incremental.revalidateTag(['once'], MAX), useCache.updateTags(['once'], MAX)]);
      assert.equal(purges, 1);
      await incremental.revalidateTag(['once'], MAX);
      assert.equal(purges, 2, 'a later revalidation purges again');
    } finally {
      client.purge = original;
    }
  });
});

describe('isr away', () => {
  test('reads are misses, writes and purges do not throw, and it is said once', async () => {
    const logged = [];
    const port = await freePort();
    const client = new IsrClient({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 500, log: (m) => logged.push(m) });
    assert.equal(await client.get('k'), null);
    assert.equal(await client.get('k'), null);
    assert.equal(await client.put('k', 'v'), false);
    assert.equal(await client.purge(['t'], 'hard'), false);
    assert.equal(logged.filter((m) => m.includes('reading')).length, 1, logged.join('\n'));
    assert.equal(logged.length, 3);
  });

  test('a missing setting is a clear error', () => {
    assert.throws(() => new IsrClient({ url: '', token: 't' }), /ISR_URL/);
    assert.throws(() => new IsrClient({ url: 'http://127.0.0.1:1', token: '' }), /ISR_ADMIN_TOKEN/);
  });

  test('a bad token is reported, not thrown', async () => {
    const logged = [];
    const client = new IsrClient({ url: isr.url, token: 'wrong', log: (m) => logged.push(m) });
    assert.equal(await client.get('k'), null);
    assert.match(logged[0], /401/);
  });
});
