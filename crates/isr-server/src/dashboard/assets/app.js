// The isr dashboard: polls the admin API (the session cookie stands for the token; the
// x-isr-dashboard header marks these requests as the dashboard's own) and draws the
// figures. Every value from the cache (paths, tags) is written as text, never as HTML.
"use strict";

const HEADERS = { "x-isr-dashboard": "1" };
const byId = (id) => document.getElementById(id);
const rates = [];
let previous = null;
const window_ = [];
let search = "/";

async function call(url, init = {}) {
  const response = await fetch(url, {
    ...init,
    credentials: "same-origin",
    headers: { ...HEADERS, ...(init.headers || {}) },
  });
  if (response.status === 401) {
    window.location.reload();
    throw new Error("the session ended");
  }
  if (!response.ok) {
    throw new Error(`${url}: ${response.status} ${await response.text()}`);
  }
  return response;
}

/** The value of the Prometheus sample `name` whose labels include `labels`, or 0. */
function sample(text, name, labels = {}) {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const series = line.slice(0, space);
    const brace = series.indexOf("{");
    const seriesName = brace < 0 ? series : series.slice(0, brace);
    if (seriesName !== name) continue;
    const have = brace < 0 ? "" : series.slice(brace + 1, -1);
    const all = Object.entries(labels).every(([k, v]) => have.split(",").includes(`${k}="${v}"`));
    if (all) return Number(line.slice(space + 1));
  }
  return 0;
}

function drawRates() {
  const max = Math.max(1, ...rates);
  const step = 600 / Math.max(1, rates.length - 1);
  const points = rates.map((rate, i) => `${(i * step).toFixed(1)},${(58 - (rate / max) * 56).toFixed(1)}`);
  byId("rate-line").setAttribute("points", points.join(" "));
}

async function refreshFigures() {
  const stats = await (await call("/_isr/stats")).json();
  const requests = stats.requests;
  const total = requests.hit + requests.stale + requests.miss + requests.bypass;
  const now = performance.now();
  const served = requests.hit + requests.stale;
  byId("requests-total").textContent = String(total);
  // The hit ratio of the last minute (of everything so far, while the minute is quiet).
  window_.push({ at: now, served, total });
  while (window_.length > 1 && now - window_[0].at > 60_000) window_.shift();
  const oldest = window_[0];
  const [dServed, dTotal] =
    total > oldest.total ? [served - oldest.served, total - oldest.total] : [served, total];
  byId("hit-ratio").textContent = dTotal === 0 ? "–" : `${((dServed / dTotal) * 100).toFixed(1)} %`;
  if (previous) {
    const rate = (total - previous.total) / ((now - previous.at) / 1000);
    byId("request-rate").textContent = rate.toFixed(1);
    rates.push(rate);
    if (rates.length > 60) rates.shift();
    drawRates();
  }
  previous = { total, at: now };
  byId("entries-count").textContent = String(stats.entries.memory ?? 0);

  const metrics = await (await call("/_isr/dashboard/metrics")).text();
  const count = sample(metrics, "isr_origin_render_duration_seconds_count");
  const sum = sample(metrics, "isr_origin_render_duration_seconds_sum");
  byId("render-latency").textContent = count === 0 ? "–" : `${((sum / count) * 1000).toFixed(1)} ms`;
  byId("in-flight").textContent = String(sample(metrics, "isr_origin_renders_in_flight"));
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function purge(body) {
  await call("/_isr/revalidate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await refreshAll();
}

async function refreshEntries() {
  const query = new URLSearchParams({ prefix: search, limit: "100" });
  const page = await (await call(`/_isr/entries?${query}`)).json();
  const body = byId("entries").tBodies[0];
  body.replaceChildren();
  for (const entry of page.entries) {
    const row = body.insertRow();
    row.dataset.path = entry.path;
    cell(row, entry.path, "path");
    cell(row, entry.state, "state");
    cell(row, `${entry.age} s`);
    cell(row, `${entry.size} B`);
    const tags = row.insertCell();
    for (const tag of entry.tags) {
      const button = document.createElement("button");
      button.className = "purge-tag";
      button.dataset.tag = tag;
      button.title = `Purge every page tagged ${tag}`;
      button.textContent = tag;
      button.addEventListener("click", () => purge({ tags: [tag] }));
      tags.append(button);
    }
    const actions = row.insertCell();
    const button = document.createElement("button");
    button.className = "purge-page";
    button.textContent = "Purge";
    button.addEventListener("click", () => purge({ paths: [entry.path.split("?")[0]] }));
    actions.append(button);
  }
}

async function refreshPurges() {
  const purges = await (await call("/_isr/dashboard/purges")).json();
  const list = byId("purges");
  list.replaceChildren();
  for (const purge of purges) {
    const item = document.createElement("li");
    const at = new Date(purge.at).toLocaleTimeString();
    item.textContent = `${at} ${purge.mode} ${purge.kind} ${purge.target}`;
    list.append(item);
  }
}

async function refreshAll() {
  const status = byId("status");
  try {
    await Promise.all([refreshFigures(), refreshEntries(), refreshPurges()]);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = "status";
  } catch (error) {
    status.textContent = String(error.message || error);
    status.className = "status error";
  }
}

byId("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = byId("search").value.trim();
  search = typed.startsWith("/") ? typed : `/${typed}`;
  refreshEntries().catch(() => {});
});

refreshAll();
setInterval(refreshAll, 1000);
