// Drives the isr dashboard in headless Chromium, as a person would: log in with the
// admin token, watch traffic move the figures, purge a page with its button, and check
// that the next request for it is answered STALE or MISS. Saves a screenshot.
//
// Environment: ISR_URL (the proxy, like http://127.0.0.1:8080), ISR_TOKEN (its admin
// token), CHROMIUM (the browser binary), SCREENSHOT (where to save the PNG).
// Exits 0 when every step held; otherwise prints the failed step and exits 1.
import puppeteer from "puppeteer-core";

const { ISR_URL, ISR_TOKEN, CHROMIUM, SCREENSHOT } = process.env;
for (const [name, value] of Object.entries({ ISR_URL, ISR_TOKEN, CHROMIUM, SCREENSHOT })) {
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
}

const WAIT = { timeout: 15000 };
const step = (what) => console.log(`step: ${what}`);
const check = (condition, what) => {
  if (!condition) throw new Error(`failed: ${what}`);
};

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
let failed = null;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));

  step("the dashboard without a session is 401 with a login form");
  const first = await page.goto(`${ISR_URL}/_isr/dashboard`);
  check(first.status() === 401, `401 without a session (got ${first.status()})`);
  await page.waitForSelector("#login input[name=token]", WAIT);

  step("a wrong token is refused");
  await page.type("#token", "not-the-admin-token");
  await Promise.all([page.waitForNavigation(WAIT), page.click("#login button")]);
  const error = await page.$eval("#login-error", (element) => element.textContent);
  check(error.includes("Wrong admin token"), `says the token is wrong (got ${error})`);

  step("log in");
  await page.type("#token", ISR_TOKEN);
  const [landed] = await Promise.all([page.waitForNavigation(WAIT), page.click("#login button")]);
  check(landed.status() === 200, `the dashboard after login (got ${landed.status()})`);
  check(!page.url().includes(ISR_TOKEN), "the token is not in the URL");
  // The two 401 pages before are expected; from here on nothing may fail.
  problems.length = 0;
  await page.waitForFunction(() => document.getElementById("requests-total").textContent !== "–", WAIT);
  const before = Number(await page.$eval("#requests-total", (element) => element.textContent));

  step("traffic moves the figures");
  for (const path of ["/blog/a", "/blog/a", "/blog/a", "/blog/b", "/blog/b"]) {
    const answer = await fetch(`${ISR_URL}${path}`);
    check(answer.ok, `${path} answers`);
  }
  await page.waitForFunction(
    (wanted) => Number(document.getElementById("requests-total").textContent) >= wanted,
    WAIT,
    before + 5,
  );
  await page.waitForFunction(() => document.getElementById("hit-ratio").textContent.endsWith("%"), WAIT);
  await page.waitForFunction(() => document.getElementById("render-latency").textContent.endsWith("ms"), WAIT);
  const ratio = await page.$eval("#hit-ratio", (element) => element.textContent);
  // Three hits of five requests (the page asks for no favicon, so nothing else counts).
  check(ratio === "60.0 %", `three hits of five (got ${ratio})`);

  step("search the pages");
  await page.type("#search", "/blog/a");
  await page.click("#search-form button");
  await page.waitForFunction(
    () => {
      const rows = [...document.querySelectorAll("#entries tbody tr")];
      return rows.length === 1 && rows[0].dataset.path === "/blog/a";
    },
    WAIT,
  );

  step("purge a page from the page");
  const row = 'tr[data-path="/blog/a"]';
  await page.waitForSelector(`${row} .purge-page`, WAIT);
  await page.click(`${row} .purge-page`);
  await page.waitForFunction(
    () => [...document.querySelectorAll("#purges li")].some((item) => item.textContent.includes("path /blog/a")),
    WAIT,
  );
  const next = await fetch(`${ISR_URL}/blog/a`);
  const status = next.headers.get("x-isr-cache");
  check(status === "STALE" || status === "MISS", `the next request is STALE or MISS (got ${status})`);

  step("purge a tag from the page");
  await page.waitForSelector(`${row} .purge-tag[data-tag="blog"]`, WAIT);
  await page.click(`${row} .purge-tag[data-tag="blog"]`);
  await page.waitForFunction(
    () => [...document.querySelectorAll("#purges li")].some((item) => item.textContent.includes("tag blog")),
    WAIT,
  );

  check(problems.length === 0, `no script or policy errors (got ${problems.join("; ")})`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
} catch (error) {
  failed = error;
} finally {
  await browser.close();
}
if (failed) {
  console.error(String(failed.stack || failed));
  process.exit(1);
}
console.log("ok");
