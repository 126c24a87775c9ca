// Bounded load test: CLIENTS concurrent streaming clients x REQS requests each, two identical
// rounds. Every stream must end with a finish_reason and the exact token count; the
// server's resident memory (VmRSS of DSV3_PID) must not grow from round 1 to round 2 beyond
// a small tolerance (a leak per request or per connection would show up there). Meant for the
// Release build: under ASan the allocator's quarantine keeps freed memory resident.
// Env: as common.mjs, plus DSV3_PID, LOAD_CLIENTS (32), LOAD_REQS (3), LOAD_TOKENS (24).
import { readFileSync } from "fs";
import { MODEL_NAME, test, done, assert, eq, client, health, metrics } from "./common.mjs";

const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 32), REQS = Number(process.env.LOAD_REQS ?? 3),
      TOKENS = Number(process.env.LOAD_TOKENS ?? 24);
const api = client();

function rssKiB() {
  const m = readFileSync(`/proc/${process.env.DSV3_PID}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

async function oneClient(c) {
  const errors = [];
  for (let r = 0; r < REQS; r++) {
    try {
      const chat = (c + r) % 2 === 0;
      const s = chat
        ? await api.chat.completions.create({ model: MODEL_NAME, messages: [{ role: "user", content: `client ${c} request ${r}` }],
                                              max_tokens: TOKENS, ignore_eos: true, stream: true,
                                              stream_options: { include_usage: true } })
        : await api.completions.create({ model: MODEL_NAME, prompt: `client ${c} request ${r}:`, max_tokens: TOKENS,
                                         ignore_eos: true, stream: true, stream_options: { include_usage: true } });
      let finish = null, usage = null;
      for await (const chunk of s) {
        if (chunk.usage) usage = chunk.usage;
        for (const ch of chunk.choices) if (ch.finish_reason) finish = ch.finish_reason;
      }
      if (finish !== "length") errors.push(`finish_reason ${finish}`);
      if (!usage || usage.completion_tokens !== TOKENS) errors.push(`usage ${JSON.stringify(usage)}`);
    } catch (e) {
      errors.push(String(e));
    }
  }
  return errors;
}

async function round() {
  const t0 = performance.now();
  const errs = (await Promise.all(Array.from({ length: CLIENTS }, (_, c) => oneClient(c)))).flat();
  const sec = (performance.now() - t0) / 1000;
  return { errs, sec };
}

const rss = [rssKiB()];
const results = [];
for (let i = 0; i < 2; i++) {
  results.push(await round());
  rss.push(rssKiB());
}
const m = await metrics();
for (const [i, r] of results.entries()) {
  const n = CLIENTS * REQS;
  console.log(`# round ${i + 1}: ${n} streams x ${TOKENS} tokens in ${r.sec.toFixed(2)} s: ` +
              `${(n / r.sec).toFixed(1)} req/s, ${(n * TOKENS / r.sec).toFixed(0)} tok/s, ${r.errs.length} errors; ` +
              `VmRSS ${(rss[i + 1] / 1024).toFixed(1)} MiB`);
}
console.log(`# VmRSS before ${(rss[0] / 1024).toFixed(1)} MiB; TTFT p50 <= ${quantile(m, "dsv3_time_to_first_token_seconds", 0.5)} s, ` +
            `p99 <= ${quantile(m, "dsv3_time_to_first_token_seconds", 0.99)} s; per-token p50 <= ` +
            `${quantile(m, "dsv3_time_per_output_token_seconds", 0.5)} s, p99 <= ${quantile(m, "dsv3_time_per_output_token_seconds", 0.99)} s`);

function quantile(m, name, q) {
  const buckets = Object.entries(m).filter(([k]) => k.startsWith(name + "_bucket"))
    .map(([k, v]) => [k.match(/le="([^"]+)"/)[1], v]);
  const total = m[name + "_count"];
  for (const [le, v] of buckets) if (v >= q * total) return le;
  return "+Inf";
}

await test(`load: ${CLIENTS} concurrent streaming clients x ${REQS} requests, two rounds, no errors`, async () => {
  for (const r of results) eq(r.errs.slice(0, 3), [], "errors");
});
await test("load: server RSS does not grow from round 1 to round 2", async () => {
  const growth = rss[2] - rss[1], tolerance = Math.max(8 * 1024, rss[1] * 0.05);
  assert(growth <= tolerance, `VmRSS grew by ${growth} KiB (tolerance ${tolerance.toFixed(0)} KiB)`);
});
await test("load: afterwards the engine is idle with no blocks held", async () => {
  eq(m["dsv3_running_sequences"], 0, "running");
  eq(m["dsv3_queue_depth"], 0, "waiting");
  eq(m["dsv3_cache_blocks_used"], 0, "blocks used");
  await health();
});
done();
