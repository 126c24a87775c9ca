// Shared helpers of the server integration scripts: the official openai client (from
// .cache/npm, see scripts/fetch_test_assets.sh), PASS/FAIL reporting, /metrics parsing.
import { createRequire } from "module";

const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
export const OpenAI = require("openai");

export const URL_ = process.env.DSV3_URL;  // http://127.0.0.1:PORT
export const KEY = process.env.DSV3_KEY;
export const MODEL_NAME = process.env.DSV3_MODEL_NAME;

let passed = 0, failed = 0;
export async function test(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
    failed++;
  }
}
export function done() {
  console.log(`# ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
export function eq(a, b, what) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${what}: ${sa.slice(0, 300)} != ${sb.slice(0, 300)}`);
}

export function client(opts = {}) {
  return new OpenAI({ baseURL: URL_ + "/v1", apiKey: KEY, maxRetries: 0, timeout: 120000, ...opts });
}

export async function health(url = URL_) {
  const r = await fetch(url + "/health");
  assert(r.status === 200, `/health status ${r.status}`);
  eq(await r.json(), { status: "ok" }, "/health body");
}

// {name{labels}: value}
export async function metrics(url = URL_) {
  const r = await fetch(url + "/metrics", { headers: { Authorization: `Bearer ${KEY}` } });
  assert(r.status === 200, `/metrics status ${r.status}`);
  const m = {};
  for (const line of (await r.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}

export async function waitFor(pred, what, ms = 10000) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Raw POST, for requests the client would refuse to send.
export async function rawPost(path, body, headers = {}, url = URL_) {
  const r = await fetch(url + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${KEY}`, ...headers },
    body,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, text };
}

export function isErrorObject(j) {
  return j && j.error && typeof j.error.message === "string" && typeof j.error.type === "string" &&
    "param" in j.error && "code" in j.error;
}
