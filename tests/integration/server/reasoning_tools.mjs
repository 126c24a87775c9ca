// Chat plumbing on a model whose chat template is DeepSeek-R1's (tests/fixtures/template):
// the prompt opens <think>, so the output is split into reasoning_content / content, and
// tools plus a tool-call history go through the template. The tiny model's text is random,
// so this checks structure and that streaming and non-streaming agree, not content.
import { MODEL_NAME, test, done, assert, eq, client, health } from "./common.mjs";

const api = client();
const model = MODEL_NAME;

async function both(params) {
  const whole = await api.chat.completions.create(params);
  const s = await api.chat.completions.create({ ...params, stream: true });
  const got = { content: "", reasoning: "", calls: [], finish: null };
  for await (const chunk of s)
    for (const c of chunk.choices) {
      got.content += c.delta.content ?? "";
      got.reasoning += c.delta.reasoning_content ?? "";
      for (const t of c.delta.tool_calls ?? []) got.calls.push([t.function.name, t.function.arguments]);
      if (c.finish_reason) got.finish = c.finish_reason;
    }
  return { whole, got };
}

await test("R1 template: reasoning_content split, streamed equals non-streamed (greedy)", async () => {
  const { whole, got } = await both({ model, messages: [{ role: "user", content: "What is 2+2?" }], max_tokens: 48,
                                      temperature: 0 });
  const m = whole.choices[0].message;
  assert("reasoning_content" in m, "no reasoning_content field");
  eq(got.reasoning, m.reasoning_content ?? "", "reasoning_content");
  eq(got.content, m.content ?? "", "content");
  eq(got.finish, whole.choices[0].finish_reason, "finish_reason");
  assert((m.reasoning_content ?? "").length + (m.content ?? "").length > 0, "no output at all");
});

await test("tools and a tool-call history go through the template", async () => {
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
                                                  parameters: { type: "object", properties: { city: { type: "string" } } } } }];
  const messages = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "{\"temp\": 21}" },
  ];
  const { whole, got } = await both({ model, messages, tools, max_tokens: 24, temperature: 0 });
  const m = whole.choices[0].message;
  eq(got.content, m.content ?? "", "content");
  eq(got.reasoning, m.reasoning_content ?? "", "reasoning_content");
  eq(got.calls, (m.tool_calls ?? []).map((t) => [t.function.name, t.function.arguments]), "tool_calls");
  assert(["stop", "length", "tool_calls"].includes(whole.choices[0].finish_reason), "finish_reason");
  await health();
});

done();
