// The same scenarios against the native `isr` proxy (target/debug/isr of this repository,
// or ISR_NATIVE_BIN), so both runtimes are held to one behaviour. Skipped, saying why, when
// the binary has not been built (ci.sh builds it).

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import { fileURLToPath } from "node:url";

import { startOrigin } from "./origin.mjs";
import {
  ADMIN_TOKEN,
  BYPASS_TOKEN,
  purger,
  sharedConfig,
  sharedScenarios,
  until,
} from "./scenarios.mjs";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const binary = process.env.ISR_NATIVE_BIN ?? join(repo, "target", "debug", "isr");
// Skipped only on request (ISR_SKIP_NATIVE=1, as ci.sh passes it on); a missing binary
// otherwise fails the suite rather than passing it silently.
const skip = process.env.ISR_SKIP_NATIVE === "1" ? "ISR_SKIP_NATIVE=1" : false;

describe("native isr proxy", { skip }, () => {
  let origin;
  let child;
  let base;
  let dir;
  // The binary's clock: the system's plus the milliseconds in this file (its
  // ISR_TEST_CLOCK_FILE), replaced whole by a rename so it is never read half-written.
  let clockFile;
  let offsetMs = 0;
  const advance = async (ms) => {
    offsetMs += ms;
    writeFileSync(`${clockFile}.next`, String(offsetMs));
    renameSync(`${clockFile}.next`, clockFile);
  };
  before(async () => {
    if (!existsSync(binary)) {
      throw new Error(`no native binary at ${binary}: run cargo build -p isr-server`);
    }
    origin = await startOrigin();
    dir = mkdtempSync(join(tmpdir(), "isr-native-"));
    const config = join(dir, "isr.toml");
    writeFileSync(config, sharedConfig);
    clockFile = join(dir, "clock-offset-ms");
    child = spawn(
      binary,
      [
        "serve",
        "--config", config,
        "--origin", origin.url,
        "--listen", "127.0.0.1:0",
        "--cache-dir", join(dir, "cache"),
        "--admin-token", ADMIN_TOKEN,
        "--bypass-token", BYPASS_TOKEN,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", RUST_LOG_STYLE: "never", ISR_TEST_CLOCK_FILE: clockFile } },
    );
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    base = await until(
      async () => {
        const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ""));
        if (found) return found[1];
        if (child.exitCode !== null) throw new Error(`isr exited: ${output}`);
        return null;
      },
      "the native isr to listen",
      60_000,
    );
    void exited;
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  sharedScenarios(() => ({ base, origin, purge: purger(base), advance }));
});
