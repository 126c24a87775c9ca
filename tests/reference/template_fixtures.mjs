// Chat-template fixtures from @huggingface/jinja (an independent JS implementation of
// transformers' chat-template rendering: trim_blocks + lstrip_blocks, Python-like values).
// For each template under tests/fixtures/template/<name>.jinja it renders many conversations
// (system prompts, multi-turn, tool calls and outputs, <think> content, empty content,
// unicode, add_generation_prompt true/false, V3.1's `thinking`) and writes
// tests/fixtures/template/<name>.jsonl: {"id", "request", "output"} per line, where request
// is what `dsv3 template` reads and output the exact prompt. bos/eos are DeepSeek's.
//   node tests/reference/template_fixtures.mjs   (after bash scripts/fetch_test_assets.sh)
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cache = process.env.DSV3_CACHE || path.join(root, ".cache");
const require = createRequire(path.join(cache, "npm", "package.json"));
const { Template } = require("@huggingface/jinja");

const BOS = "<｜begin▁of▁sentence｜>";
const EOS = "<｜end▁of▁sentence｜>";
const dir = path.join(root, "tests/fixtures/template");

const sys = (content) => ({ role: "system", content });
const user = (content) => ({ role: "user", content });
const asst = (content) => ({ role: "assistant", content });
const call = (name, args) => ({ type: "function", function: { name, arguments: JSON.stringify(args) } });
const asstTools = (content, calls) => ({ role: "assistant", content, tool_calls: calls });
const tool = (content) => ({ role: "tool", content });

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const unicode = [
  "héllo wörld", "你好，世界！", "こんにちは", "안녕하세요", "Привет", "مرحبا بالعالم", "שלום",
  "emoji 😀👍🏽👨‍👩‍👧", "e\u0301 combining", "tab\tand\nnewline", "  leading and trailing  ", "\n\n",
  "quotes ' \" \\ backslash", "{{ not a tag }} {% nor this %}", "<｜User｜> special-looking", "\u0000nul",
];

// Conversations shared by all templates.
function conversations() {
  const c = [];
  c.push(["user_only", [user("Hello!")]]);
  c.push(["system_user", [sys("You are a helpful assistant."), user("What is 2+2?")]]);
  c.push(["two_systems", [sys("First rule."), sys("Second rule."), user("Go.")]]);
  c.push(["system_late", [user("Hi"), sys("Late system."), user("Again")]]);
  c.push(["multi_turn", [sys("Be brief."), user("Hi"), asst("Hello! How can I help?"), user("Tell me a joke."),
    asst("Why did the chicken cross the road?"), user("Why?")]]);
  c.push(["ends_with_assistant", [user("Hi"), asst("Hello")]]);
  c.push(["think_content", [user("Solve x+1=2"), asst("<think>\nx = 2-1 = 1\n</think>\n\nx = 1"), user("And x+2=4?")]]);
  c.push(["think_twice", [user("q"), asst("<think>a</think>b</think>c"), user("next")]]);
  c.push(["think_no_close", [user("q"), asst("<think>unfinished thought"), user("next")]]);
  c.push(["empty_contents", [sys(""), user(""), asst(""), user("")]]);
  c.push(["empty_messages", []]);
  c.push(["only_system", [sys("Only a system prompt.")]]);
  c.push(["tool_single", [sys("Use tools."), user("Weather in Paris?"),
    asstTools(null, [call("get_weather", { city: "Paris" })]), tool("{\"temp\": 21}"), asst("It is 21°C in Paris.")]]);
  c.push(["tool_double_call", [user("Weather in Paris and Rome?"),
    asstTools(null, [call("get_weather", { city: "Paris" }), call("get_weather", { city: "Rome" })]),
    tool("{\"temp\": 21}"), tool("{\"temp\": 25}"), asst("Paris 21°C, Rome 25°C.")]]);
  c.push(["tool_pending", [user("Weather in Oslo?"), asstTools(null, [call("get_weather", { city: "Oslo" })]),
    tool("{\"temp\": -3}")]]);
  c.push(["tool_then_user", [user("Weather?"), asstTools(null, [call("get_weather", { city: "Lima" })]),
    tool("sunny"), asst("Sunny."), user("Thanks"), asst("You're welcome."), user("Bye")]]);
  c.push(["tool_unicode_args", [user("天气?"), asstTools(null, [call("get_weather", { city: "北京", note: "\"q\" \\ \n" })]),
    tool("晴 ☀️"), asst("北京晴。")]]);
  c.push(["tool_three_calls", [user("three"), asstTools(null, [call("a", {}), call("b", { x: 1 }), call("c", { y: [1, 2] })]),
    tool("1"), tool("2"), tool("3"), asst("done")]]);
  for (let i = 0; i < unicode.length; ++i) {
    c.push([`unicode_${i}`, [sys(unicode[(i + 3) % unicode.length]), user(unicode[i]),
      asst(unicode[(i + 1) % unicode.length]), user(unicode[(i + 2) % unicode.length])]]);
  }
  const long = [];
  for (let i = 0; i < 12; ++i) {
    long.push(user(`question ${i}`));
    long.push(asst(i % 3 == 0 ? `<think>thinking ${i}</think>answer ${i}` : `answer ${i}`));
  }
  long.push(user("last"));
  c.push(["long_conversation", long]);
  return c;
}

// V3.1 tool calls may carry content; assistant prefix continuation.
function v31Extra() {
  return [
    ["tool_with_content", [user("Weather?"), asstTools("Let me check. ", [call("get_weather", { city: "Paris" })]),
      tool("rain"), asst("Rainy.")]],
    ["prefix_continuation", [user("Write a poem"), { role: "assistant", content: "Roses are", prefix: true }]],
    ["prefix_false", [user("Write"), { role: "assistant", content: "Sure", prefix: false }]],
    ["tool_calls_null", [user("hi"), { role: "assistant", content: "plain", tool_calls: null }, user("again")]],
  ];
}

const templates = {
  deepseek_v3: { extra: [], kwargs: [{}] },
  deepseek_r1: { extra: [], kwargs: [{}] },
  deepseek_v3_1: { extra: v31Extra(), kwargs: [{}, { thinking: true }, { thinking: false }] },
};

let total = 0;
for (const [name, spec] of Object.entries(templates)) {
  const source = fs.readFileSync(path.join(dir, `${name}.jinja`), "utf8");
  const tmpl = new Template(source);
  const lines = [];
  const convs = [...conversations(), ...spec.extra];
  for (const [id, messages] of convs) {
    for (const kw of spec.kwargs) {
      for (const agp of [false, true]) {
        for (const withTools of id.startsWith("tool") ? [false, true] : [false]) {
          const request = { messages, add_generation_prompt: agp, ...kw };
          if (withTools) request.tools = [weatherTool];
          const vars = { tools: null, documents: null, ...request, bos_token: BOS, eos_token: EOS };
          let output;
          try {
            output = tmpl.render(vars);
          } catch (e) {
            console.error(`${name}/${id}: @huggingface/jinja failed: ${e.message}`);
            continue;
          }
          const tag = [id, agp ? "gen" : "nogen", ...Object.entries(kw).map(([k, v]) => `${k}=${v}`), withTools ? "tools" : ""]
            .filter(Boolean).join("/");
          lines.push(JSON.stringify({ id: tag, request, output }));
        }
      }
    }
  }
  fs.writeFileSync(path.join(dir, `${name}.jsonl`), lines.join("\n") + "\n");
  console.log(`${name}: ${lines.length} cases`);
  total += lines.length;
}
console.log(`total: ${total} cases`);
