'use strict';
// End to end: one redis-server, two isr nodes sharing it, and two `next start` instances
// of this app (A behind isr A, B behind isr B), each naming @isr/next-cache-handler in its
// next.config. revalidateTag on instance A: the next request through node B is STALE (or
// a MISS for { expire: 0 }) and then shows the new data; `'use cache'` data stored by one
// instance is read by the other, and a tag purge on one is seen by the other.
//
// Needs `next build` first (npm run build), redis-server on the PATH, and the isr binary
// (ISR_BIN, or the workspace's target/debug/isr).

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');

const { freePort, startIsr, TOKEN } = require('../../test/isr');

const APP = path.resolve(__dirname, '..');
const children = [];

/** The data the app fetches, and how often each path was fetched. */
const data = { posts: 'v1', cached: 'c1' };
const fetched = new Map();
let dataServer;

function spawnTracked(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const tracked = { child, exited, output: () => output };
  children.push(tracked);
  return tracked;
}

/** Try `probe` until it holds, each try after the previous one answered; `what` if never. */
async function until(what, probe, tries = 3000) {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return i + 1;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let redisPort;

/**
 * The states (`fresh`, `purged`) of the `'use cache'` entries in the shared store, as isr
 * answers them. The keys are listed from Redis: a test's look, never the handler's way.
 */
async function useCacheStates() {
  const { execFileSync } = require('node:child_process');
  const keys = execFileSync('redis-cli', ['-p', String(redisPort), '--scan', '--pattern', 'isr:e:{~data|use-cache:*'], { encoding: 'utf8' });
  const states = [];
  for (const redisKey of keys.split('\n').filter(Boolean)) {
    const key = redisKey.slice('isr:e:{~data|'.length, -1);
    const answer = await fetch(`${isrA.url}/_isr/data?${new URLSearchParams({ key })}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    states.push(answer.status === 200 ? (await answer.json()).state : String(answer.status));
  }
  return states;
}

async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isr-e2e-redis-'));
  const redis = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
  await until('redis-server to listen', () => redis.output().includes('Ready to accept connections'));
  redisPort = port;
  return `redis://127.0.0.1:${port}`;
}

async function get(url) {
  const answer = await fetch(url);
  const body = await answer.text();
  const field = (id) => (body.match(new RegExp(`id="${id}">([^<]*)<`)) || [])[1];
  return { status: answer.status, cache: answer.headers.get('x-isr-cache'), data: field('data'), instance: field('instance') };
}

let isrA;
let isrB;
let nextA;
let nextB;

before(async () => {
  dataServer = http.createServer((req, res) => {
    const key = req.url.slice(1);
    fetched.set(key, (fetched.get(key) || 0) + 1);
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end(data[key] ?? 'none');
  });
  await new Promise((resolve) => dataServer.listen(0, '127.0.0.1', resolve));
  dataServer.url = `http://127.0.0.1:${dataServer.address().port}`;

  const redis = await startRedis();
  // Each isr node needs its Next's address, and each Next its isr's: take the ports first.
  const portA = await freePort();
  const portB = await freePort();
  [isrA, isrB] = await Promise.all([
    startIsr(`http://127.0.0.1:${portA}`, ['--redis', redis]),
    startIsr(`http://127.0.0.1:${portB}`, ['--redis', redis]),
  ]);
  [nextA, nextB] = await Promise.all([startNextOn('A', portA, isrA.url), startNextOn('B', portB, isrB.url)]);
});

async function startNextOn(name, port, isrUrl) {
  const next = spawnTracked(process.execPath, [require.resolve('next/dist/bin/next', { paths: [APP] }), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: APP,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ISR_URL: isrUrl, ISR_ADMIN_TOKEN: TOKEN, DATA_URL: dataServer.url, INSTANCE: name },
  });
  const url = `http://127.0.0.1:${port}`;
  await until(`next start (${name}) to answer`, async () => {
    if (next.child.exitCode !== null) throw new Error(`next start exited: ${next.output()}`);
    try {
      await fetch(`${url}/api/revalidate`);
      return true;
    } catch {
      return false;
    }
  });
  return { url, output: next.output };
}

after(async () => {
  if (process.env.E2E_DEBUG) for (const c of children) console.log(c.output());
  for (const node of [isrA, isrB]) if (node) await node.stop();
  for (const { child, exited } of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
  }
  if (dataServer) await new Promise((resolve) => dataServer.close(resolve));
});

/**
 * Until isr knows the tags of the page at `path`: Next's handler reports them just after
 * the render (a purge landing before is applied when they arrive, see the Rust tests).
 */
async function tagsKnown(node, path) {
  await until(`isr to know the tags of ${path}`, async () => {
    const answer = await fetch(`${node.url}/_isr/tags?${new URLSearchParams({ path })}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const tags = answer.ok ? (await answer.json()).tags : [];
    return tags.includes('posts') && tags.includes(`_N_T_${path}`);
  });
}

/**
 * The first answer from `url` that is not a HIT, and how many polls it took. Next runs a
 * route handler's revalidations just after it answers, so the purge lands a moment after
 * the revalidating request returns; until then the old copy is a HIT.
 */
async function firstChange(url) {
  for (let polls = 1; polls <= 3000; polls++) {
    const answer = await get(url);
    if (answer.cache !== 'HIT') return { ...answer, polls };
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`${url} stayed a HIT`);
}

async function revalidate(next, query) {
  const answer = await fetch(`${next.url}/api/revalidate?${query}`, { method: 'POST' });
  assert.equal(answer.status, 200, await answer.text());
}

test("revalidateTag on instance A reaches node B's copy: STALE, then the new data", async () => {
  const first = await get(`${isrB.url}/posts/1`);
  assert.equal(first.status, 200);
  assert.equal(first.cache, 'MISS');
  assert.equal(first.data, 'posts=v1');
  assert.equal(first.instance, 'instance=B');
  // Node A shares node B's copy through Redis.
  assert.equal((await get(`${isrA.url}/posts/1`)).cache, 'HIT');
  assert.equal(fetched.get('posts'), 1);
  await tagsKnown(isrA, '/posts/1');

  // Instance A revalidates with 'max': a soft purge on every node.
  data.posts = 'v2';
  await revalidate(nextA, 'tag=posts&profile=max');
  const stale = await firstChange(`${isrB.url}/posts/1`);
  console.log(`the soft purge from instance A reached node B after ${stale.polls} polls`);
  assert.equal(stale.cache, 'STALE', 'served stale while one render runs');
  assert.equal(stale.data, 'posts=v1');
  // The render isr asked instance B for was fresh: the shared fetch entry was purged too.
  const polls = await until('node B to show the new data', async () => (await get(`${isrB.url}/posts/1`)).data === 'posts=v2');
  console.log(`node B showed the new data after ${polls} polls`);
  const fresh = await get(`${isrA.url}/posts/1`);
  assert.equal(fresh.data, 'posts=v2', 'and node A, from the same store');

  // { expire: 0 } from instance B: a hard purge, the next request through node A renders.
  data.posts = 'v3';
  await revalidate(nextB, 'tag=posts');
  const missed = await firstChange(`${isrA.url}/posts/1`);
  assert.equal(missed.cache, 'MISS');
  assert.equal(missed.data, 'posts=v3');
  assert.equal(missed.instance, 'instance=A');
});

test('revalidatePath on one instance purges the page on the other node', async () => {
  assert.equal((await get(`${isrA.url}/posts/2`)).cache, 'MISS');
  assert.equal((await get(`${isrB.url}/posts/2`)).cache, 'HIT');
  await tagsKnown(isrB, '/posts/2');
  data.posts = 'v4';
  await revalidate(nextA, 'path=/posts/2');
  const answer = await firstChange(`${isrB.url}/posts/2`);
  assert.equal(answer.cache, 'MISS', 'revalidatePath is a hard purge of the path');
  assert.equal(answer.data, 'posts=v4');
});

test("'use cache' data is shared by the instances, and a tag purge on one is seen by the other", async () => {
  const onA = await get(`${nextA.url}/cached`);
  assert.equal(onA.data, 'cached=c1');
  assert.equal(fetched.get('cached'), 1);
  // A stores its entry after answering: wait until it is in the shared store.
  await until("A's 'use cache' entry to be stored", async () => (await useCacheStates()).join() === 'fresh');
  const onB = await get(`${nextB.url}/cached`);
  assert.equal(onB.data, 'cached=c1');
  assert.equal(onB.instance, 'instance=B');
  assert.equal(fetched.get('cached'), 1, "B read A's entry: no second fetch");

  data.cached = 'c2';
  await revalidate(nextA, 'tag=cached&profile=max');
  await until('the purge to reach the shared entry', async () => (await useCacheStates()).join() === 'purged');
  const after = await get(`${nextB.url}/cached`);
  assert.equal(after.data, 'cached=c2');
  assert.equal(fetched.get('cached'), 2);
  await until("B's new entry to be stored", async () => (await useCacheStates()).join() === 'fresh');
  assert.equal((await get(`${nextA.url}/cached`)).data, 'cached=c2');
  assert.equal(fetched.get('cached'), 2, "A read B's new entry");
});
