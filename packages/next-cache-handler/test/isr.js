'use strict';
// A real isr binary for the tests, on free loopback ports, in front of a small origin that
// counts its renders. The binary is ISR_BIN, or the workspace's target/debug/isr.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const TOKEN = 'handler-test-token-0123456789';

function isrBinary() {
  const bin = process.env.ISR_BIN || path.resolve(__dirname, '../../../target/debug/isr');
  if (!fs.existsSync(bin)) {
    throw new Error(`no isr binary at ${bin}: run \`cargo build -p isr-server\` or set ISR_BIN`);
  }
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** An origin answering every path with a cacheable page naming its render number. */
async function startOrigin() {
  const renders = new Map();
  const server = http.createServer((req, res) => {
    const n = (renders.get(req.url) || 0) + 1;
    renders.set(req.url, n);
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 's-maxage=600' });
    res.end(`${req.url} render #${n}`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    renders: (p) => renders.get(p) || 0,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** isr in front of `originUrl`; `extra` are more `isr serve` flags. Resolves once it answers. */
async function startIsr(originUrl, extra = []) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isr-handler-test-'));
  const child = spawn(
    isrBinary(),
    ['serve', '--origin', originUrl, '--listen', `127.0.0.1:${port}`, '--cache-dir', dir, '--admin-token', TOKEN, ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Until isr answers its admin API (or exits): each try waits for the previous one.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`isr exited: ${stderr}`);
    try {
      const answer = await fetch(`${url}/_isr/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (answer.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (attempt > 2000) throw new Error(`isr did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    url,
    token: TOKEN,
    stderr: () => stderr,
    async get(p) {
      const answer = await fetch(`${url}${p}`);
      return { cache: answer.headers.get('x-isr-cache'), body: await answer.text() };
    },
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startOrigin, startIsr, freePort, TOKEN };
