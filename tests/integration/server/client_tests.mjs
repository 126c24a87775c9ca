// Functional tests of `dsv3 serve` through the official openai client: completions, chat,
// streaming equals non-streaming, equality with `dsv3 generate`, usage, n, logprobs, stop
// strings, errors (each with /health still OK after it), and a client that disconnects.
// Env: DSV3_URL, DSV3_KEY, DSV3_MODEL_NAME, DSV3_BIN, DSV3_MODEL_DIR, DSV3_SMALL_URL.
import { execFileSync } from "child_process";
import { OpenAI, URL_, KEY, MODEL_NAME, test, done, assert, eq, client, health, metrics, waitFor, rawPost,
         isErrorObject } from "./common.mjs";

const api = client();
const model = MODEL_NAME;
const ids = [0, 17, 42, 99, 7, 300, 12, 256, 81];  // BOS, then arbitrary ids of the tiny vocabulary
const N = 40;

async function streamCompletion(params) {
  const s = await api.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const out = { text: [], finish: [], usage: null, chunks: 0 };
  for await (const chunk of s) {
    out.chunks++;
    if (chunk.usage) out.usage = chunk.usage;
    for (const c of chunk.choices) {
      out.text[c.index] = (out.text[c.index] ?? "") + c.text;
      if (c.finish_reason) out.finish[c.index] = c.finish_reason;
    }
  }
  return out;
}

async function streamChat(params) {
  const s = await api.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const out = { content: [], reasoning: [], finish: [], roles: [], usage: null };
  for await (const chunk of s) {
    if (chunk.usage) out.usage = chunk.usage;
    for (const c of chunk.choices) {
      const i = c.index;
      if (c.delta.role) out.roles[i] = c.delta.role;
      if (c.delta.content) out.content[i] = (out.content[i] ?? "") + c.delta.content;
      if (c.delta.reasoning_content) out.reasoning[i] = (out.reasoning[i] ?? "") + c.delta.reasoning_content;
      if (c.finish_reason) out.finish[i] = c.finish_reason;
    }
  }
  return out;
}

await test("GET /v1/models lists the served model", async () => {
  const list = await api.models.list();
  eq(list.data.map((m) => m.id), [model], "model ids");
});

let greedyText = "";
await test("greedy completion text equals dsv3 generate --temperature 0", async () => {
  const r = await api.completions.create({ model, prompt: ids, max_tokens: N, temperature: 0 });
  const out = execFileSync(process.env.DSV3_BIN,
    ["generate", "--model", process.env.DSV3_MODEL_DIR, "--ids", ids.join(","), "-n", String(N), "--temperature", "0",
     "--print-ids"], { encoding: "utf8" });
  const idsLine = out.slice(out.lastIndexOf("\n", out.length - 2) + 1).trim();
  const genIds = JSON.parse(idsLine);
  const genText = out.slice(0, out.lastIndexOf("\n", out.length - 2));
  eq(r.choices[0].text, genText, "text");
  eq(r.usage.completion_tokens, genIds.length, "completion_tokens");
  eq(r.usage.prompt_tokens, ids.length, "prompt_tokens");
  eq(r.usage.total_tokens, ids.length + genIds.length, "total_tokens");
  eq(r.choices[0].finish_reason, genIds.length < N ? "stop" : "length", "finish_reason");
  assert(r.id.startsWith("cmpl-") && r.object === "text_completion", "response id/object");
  greedyText = r.choices[0].text;
});

await test("completions: streamed deltas concatenate to the non-streamed text (greedy), usage", async () => {
  const params = { model, prompt: ids, max_tokens: N, temperature: 0 };
  const whole = await api.completions.create(params);
  const s = await streamCompletion(params);
  eq(s.text[0], whole.choices[0].text, "text");
  eq(s.finish[0], whole.choices[0].finish_reason, "finish_reason");
  eq(s.usage.completion_tokens, whole.usage.completion_tokens, "usage.completion_tokens");
  eq(s.usage.prompt_tokens, ids.length, "usage.prompt_tokens");
  assert(s.chunks >= 3, `only ${s.chunks} chunks`);
});

await test("completions: text prompt, ignore_eos gives exactly max_tokens, cached prompt tokens", async () => {
  const r = await api.completions.create({ model, prompt: "Hello, world", max_tokens: 12, ignore_eos: true });
  eq(r.usage.completion_tokens, 12, "completion_tokens");
  eq(r.choices[0].finish_reason, "length", "finish_reason");
  assert(r.usage.prompt_tokens > 0, "prompt_tokens");
  assert(typeof r.usage.prompt_tokens_details.cached_tokens === "number", "cached_tokens");
});

await test("chat: non-streamed and streamed (greedy) agree; role first; usage", async () => {
  const params = { model, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi there!" }],
                   max_tokens: 30, temperature: 0 };
  const whole = await api.chat.completions.create(params);
  const m = whole.choices[0].message;
  eq(m.role, "assistant", "role");
  assert(whole.object === "chat.completion" && whole.id.startsWith("chatcmpl-"), "object/id");
  const s = await streamChat(params);
  eq(s.roles[0], "assistant", "first chunk role");
  eq(s.content[0] ?? "", m.content ?? "", "content");
  eq(s.reasoning[0] ?? null, m.reasoning_content ?? null, "reasoning_content");
  eq(s.finish[0], whole.choices[0].finish_reason, "finish_reason");
  // Equal but for cached_tokens: the second run finds the prompt in the prefix cache.
  for (const k of ["prompt_tokens", "completion_tokens", "total_tokens"]) eq(s.usage[k], whole.usage[k], `usage.${k}`);
  assert(s.usage.prompt_tokens_details.cached_tokens > 0, "the repeated prompt was not served from the prefix cache");
  eq(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens, "total");
});

await test("n=2: two choices, greedy choices equal, usage sums them", async () => {
  const r = await api.completions.create({ model, prompt: ids, max_tokens: 10, temperature: 0, n: 2, ignore_eos: true });
  eq(r.choices.map((c) => c.index), [0, 1], "indexes");
  eq(r.choices[0].text, r.choices[1].text, "greedy texts");
  eq(r.usage.completion_tokens, 20, "completion_tokens");
  const c = await api.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], max_tokens: 8, n: 2,
                                                 seed: 5, ignore_eos: true });
  eq(c.choices.length, 2, "chat choices");
  const s = await streamChat({ model, messages: [{ role: "user", content: "x" }], max_tokens: 8, n: 2, seed: 5,
                               ignore_eos: true });
  eq(s.content, c.choices.map((x) => x.message.content), "seeded n=2 stream equals non-stream");
});

await test("logprobs: chosen logprob <= 0, top_logprobs sorted, greedy picks the top", async () => {
  const r = await api.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 12,
                                                 temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true });
  const content = r.choices[0].logprobs.content;
  eq(content.length, r.usage.completion_tokens, "one entry per token");
  for (const e of content) {
    assert(e.logprob <= 0, `logprob ${e.logprob} > 0`);
    eq(e.top_logprobs.length, 3, "top_logprobs length");
    for (let i = 1; i < e.top_logprobs.length; i++)
      assert(e.top_logprobs[i - 1].logprob >= e.top_logprobs[i].logprob, "top_logprobs not sorted");
    assert(Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-5, "greedy token is not the most likely");
    assert(Array.isArray(e.bytes), "bytes");
  }
  const c = await api.completions.create({ model, prompt: ids, max_tokens: 6, temperature: 0, logprobs: 2, ignore_eos: true });
  const lp = c.choices[0].logprobs;
  eq(lp.tokens.length, 6, "tokens");
  eq(lp.token_logprobs.length, 6, "token_logprobs");
  assert(lp.token_logprobs.every((x) => x <= 0), "token_logprobs <= 0");
  assert(lp.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2), "top_logprobs size");
});

await test("stop strings: output ends before the first occurrence, streamed and not", async () => {
  // A stop string taken from the middle of the greedy output (spanning several tokens).
  const chars = [...greedyText];
  assert(chars.length >= 12, `greedy text too short: ${JSON.stringify(greedyText)}`);
  const stop = chars.slice(6, 10).join("");
  const expected = greedyText.slice(0, greedyText.indexOf(stop));
  const params = { model, prompt: ids, max_tokens: N, temperature: 0, stop: [stop, "\u0000never"] };
  const r = await api.completions.create(params);
  eq(r.choices[0].text, expected, "text");
  eq(r.choices[0].finish_reason, "stop", "finish_reason");
  const s = await streamCompletion(params);
  eq(s.text[0], expected, "streamed text");
  eq(s.finish[0], "stop", "streamed finish_reason");
});

await test("16 concurrent greedy streams each equal the same request run alone", async () => {
  const prompts = Array.from({ length: 16 }, (_, i) => [0, 10 + i, 50 + 3 * i, 7, 200 + i]);
  const alone = [];
  for (const p of prompts)
    alone.push((await api.completions.create({ model, prompt: p, max_tokens: 24, temperature: 0 })).choices[0].text);
  const together = await Promise.all(prompts.map((p) => streamCompletion({ model, prompt: p, max_tokens: 24, temperature: 0 })));
  eq(together.map((s) => s.text[0]), alone, "texts");
});

// --- errors: status, OpenAI error object, server still healthy -----------------------------
async function expectApiError(fn, status, needle) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof OpenAI.APIError, `not an APIError: ${e}`);
    eq(e.status, status, "status");
    assert(e.error && typeof e.error.message === "string", "error object");
    if (needle) assert(e.error.message.includes(needle), `'${needle}' not in '${e.error.message}'`);
    await health();
    return e;
  }
  throw new Error("no error");
}

await test("error: malformed JSON -> 400", async () => {
  const r = await rawPost("/v1/chat/completions", '{"messages": [');
  eq(r.status, 400, "status");
  assert(isErrorObject(r.json), `not an error object: ${r.text}`);
  await health();
});

await test("error: negative max_tokens -> 400 naming max_tokens", async () => {
  const e = await expectApiError(() => api.completions.create({ model, prompt: "x", max_tokens: -5 }), 400, "max_tokens");
  eq(e.param, "max_tokens", "param");
});

await test("error: prompt over the context -> 400", async () => {
  const long = Array.from({ length: 5000 }, (_, i) => 5 + (i % 200));
  await expectApiError(() => api.completions.create({ model, prompt: long, max_tokens: 4 }), 400, "context length");
  await expectApiError(() => api.chat.completions.create({ model, messages: [{ role: "user", content: "a ".repeat(5000) }] }),
                       400, "context length");
  await expectApiError(() => api.completions.create({ model, prompt: ids, max_tokens: 5000 }), 400, "max_tokens");
});

await test("error: bad fields -> 400 naming them", async () => {
  await expectApiError(() => api.completions.create({ model, prompt: "x", temperature: 7 }), 400, "temperature");
  await expectApiError(() => api.chat.completions.create({ model, messages: [] }), 400, "messages");
  await expectApiError(() => api.chat.completions.create({ model, messages: [{ role: "user", content: "x" }],
                                                           top_logprobs: 3 }), 400, "top_logprobs");
  await expectApiError(() => api.completions.create({ model: "no-such-model", prompt: "x" }), 404, "no-such-model");
});

await test("error: wrong or missing API key -> 401; /health needs none", async () => {
  await expectApiError(() => client({ apiKey: "wrong" }).models.list(), 401, "API key");
  const r = await fetch(URL_ + "/v1/models");
  eq(r.status, 401, "no key");
  assert(isErrorObject(await r.json()), "error object");
  await health();
});

await test("error: unknown path -> 404, wrong method -> 405", async () => {
  const r = await rawPost("/v1/nothing", "{}");
  eq(r.status, 404, "status");
  assert(isErrorObject(r.json), "error object");
  const g = await fetch(URL_ + "/v1/completions", { headers: { Authorization: `Bearer ${KEY}` } });
  eq(g.status, 405, "GET /v1/completions");
  assert(isErrorObject(await g.json()), "405 error object");
  await health();
});

await test("limits: body over --max-body-bytes -> 413, queue full -> 429 (small server)", async () => {
  const small = process.env.DSV3_SMALL_URL;
  const big = await rawPost("/v1/completions", JSON.stringify({ prompt: "x".repeat(5000) }), {}, small);
  eq(big.status, 413, "413 status");
  assert(isErrorObject(big.json), "413 error object");
  // --max-running 1 --max-queue 1: of 6 simultaneous long requests some must be refused.
  const reqs = Array.from({ length: 6 }, () =>
    rawPost("/v1/completions", JSON.stringify({ prompt: [1, 2, 3], max_tokens: 300, ignore_eos: true }), {}, small));
  const res = await Promise.all(reqs);
  const statuses = res.map((r) => r.status).sort();
  assert(statuses.includes(429), `no 429 among ${statuses}`);
  assert(statuses.includes(200), `no 200 among ${statuses}`);
  for (const r of res) if (r.status === 429) assert(isErrorObject(r.json), "429 error object");
  await health(small);
});

await test("disconnect mid-stream cancels the request and frees its cache blocks", async () => {
  const before = await metrics();
  const ac = new AbortController();
  const r = await fetch(URL_ + "/v1/chat/completions", {
    method: "POST", signal: ac.signal,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "tell me everything" }], max_tokens: 3000,
                           ignore_eos: true, stream: true }),
  });
  eq(r.status, 200, "status");
  const reader = r.body.getReader();
  let got = 0;
  while (got < 5) {
    const { value, done } = await reader.read();
    assert(!done, "stream ended early");
    got += new TextDecoder().decode(value).split("data: ").length - 1;
  }
  ac.abort();
  const after = await waitFor(async () => {
    const m = await metrics();
    return m["dsv3_requests_cancelled_total"] > before["dsv3_requests_cancelled_total"] &&
      m["dsv3_running_sequences"] === 0 && m["dsv3_cache_blocks_used"] === 0 ? m : null;
  }, "cancellation in /metrics");
  assert(after["dsv3_client_disconnects_total"] >= 1, "disconnect not counted");
  assert(after["dsv3_generation_tokens_total"] - before["dsv3_generation_tokens_total"] < 3000, "ran to the end");
  await health();
  // Still serving.
  const c = await api.completions.create({ model, prompt: ids, max_tokens: 4, temperature: 0 });
  eq(c.choices.length, 1, "serves after disconnect");
});

done();
