// Drives Debian's chromium (playwright-core, no browser download) through examples/astro
// behind isr; called twice by ci/astro.sh: `first` (pages with their CSS, login and
// logout under the catch-all route, the webhook purge) and `second` (after a rebuild
// and the build switch: the new build's HTML, whose assets load).
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(`${process.env.APP}/package.json`);
const { chromium } = require('playwright-core');

const phase = process.argv[2];
const isr = process.env.ISR;
const artifacts = process.env.ARTIFACTS;

function check(condition, message) {
  if (!condition) {
    console.error(`FAILED: ${message}`);
    process.exit(1);
  }
  console.log(`ok: ${message}`);
}

// A fresh profile each run (playwright passes it as --user-data-dir).
const profile = mkdtempSync(join(tmpdir(), 'isr-astro-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = browser.pages()[0] ?? (await browser.newPage());
const failed = [];
page.on('response', (response) => {
  if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
});
page.on('requestfailed', (request) => failed.push(`failed ${request.url()}`));

async function visit(path) {
  const response = await page.goto(`${isr}${path}`, { waitUntil: 'load' });
  return response;
}

async function h1Colour() {
  return page.evaluate(() => getComputedStyle(document.querySelector('h1')).color);
}

async function fetchThroughIsr(path, init) {
  const answer = await fetch(`${isr}${path}`, init);
  return { cache: answer.headers.get('x-isr-cache'), text: await answer.text(), status: answer.status };
}

try {
  if (phase === 'first') {
    let response = await visit('/');
    check(response.status() === 200, 'the home page loads through isr');
    check((await h1Colour()) === 'rgb(0, 0, 255)', 'its stylesheet (/_astro/*.css) applies');
    const host = await page.textContent('#host');
    check(host === new URL(isr).host, `Astro.url shows the visitor's host (${host})`);
    response = await visit('/');
    check(response.headers()['x-isr-cache'] === 'HIT', 'the second visit is a HIT');
    await page.screenshot({ path: `${artifacts}/astro-home.png` });

    // Login and logout under the catch-all route.
    await visit('/account');
    check((await page.textContent('#who')) === 'Not signed in', 'anonymous: not signed in');
    await Promise.all([page.waitForURL('**/account'), page.click('#login')]);
    check((await page.textContent('#who')) === 'Signed in as alice', 'logged in: the private page');
    response = await visit('/account');
    check(response.headers()['x-isr-cache'] === 'BYPASS', 'a logged-in request bypasses the cache');
    check((await page.textContent('#who')) === 'Signed in as alice', 'still signed in on a reload');
    await page.screenshot({ path: `${artifacts}/astro-account.png` });
    await Promise.all([page.waitForURL('**/account'), page.click('#logout')]);
    check((await page.textContent('#who')) === 'Not signed in', 'logged out: the public page');
    response = await visit('/account');
    check(['HIT', 'MISS', 'STALE'].includes(response.headers()['x-isr-cache']), 'logged out: from the cache again');

    // The webhook: new content, a purge from the app, then the new page.
    const content = `${process.env.APP}/data/content.json`;
    const before = JSON.parse(readFileSync(content, 'utf8')).message;
    writeFileSync(content, JSON.stringify({ message: 'Updated through the webhook' }));
    let answer = await fetchThroughIsr('/');
    check(answer.cache === 'HIT' && answer.text.includes(before), 'before the purge: the cached page');
    answer = await fetchThroughIsr('/api/revalidate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: process.env.WEBHOOK_SECRET, tags: ['astro'] }),
    });
    check(answer.status === 200, `the webhook purges through isr's admin API (${answer.text})`);
    answer = await fetchThroughIsr('/');
    check(['STALE', 'MISS'].includes(answer.cache), `the next request is ${answer.cache}`);
    let fresh = answer.cache === 'MISS' && answer.text.includes('Updated through the webhook');
    for (let i = 0; i < 200 && !fresh; i++) {
      answer = await fetchThroughIsr('/');
      fresh = answer.text.includes('Updated through the webhook');
      if (!fresh) await new Promise((r) => setTimeout(r, 25));
    }
    check(fresh, 'then the new content');
  } else if (phase === 'second') {
    const response = await visit('/');
    check(response.status() === 200, 'the home page loads after the deploy');
    check((await page.textContent('#build')) === process.env.BUILD, `the page is the new build's (${process.env.BUILD})`);
    check((await h1Colour()) === 'rgb(255, 0, 0)', "the new build's stylesheet applies");
    await page.screenshot({ path: `${artifacts}/astro-after-deploy.png` });
  } else {
    throw new Error(`unknown phase ${phase}`);
  }
  check(failed.length === 0, `no request failed or answered 4xx/5xx (${failed.join(', ')})`);
} finally {
  await browser.close();
}
