// 16 concurrent greedy streams through `dsv3 serve` each equal the same request run alone
// (text, token logprobs and finish reason), through the official openai client.
import { client, test, done, eq, assert, health } from "../server/common.mjs";

const c = client();
const prompts = Array.from({ length: 16 }, (_, i) =>
  `Request ${i}: ` + "the quick brown fox jumps over the lazy dog ".repeat(1 + (i % 5)));

async function run(prompt, stream) {
  const req = { model: process.env.DSV3_MODEL_NAME, prompt, max_tokens: 20 + (prompt.length % 7),
                temperature: 0, logprobs: 1, ignore_eos: true };
  if (!stream) {
    const r = await c.completions.create(req);
    return { text: r.choices[0].text, lp: r.choices[0].logprobs.token_logprobs, finish: r.choices[0].finish_reason };
  }
  let text = "", lp = [], finish = null;
  for await (const ch of await c.completions.create({ ...req, stream: true })) {
    const choice = ch.choices[0];
    if (!choice) continue;
    text += choice.text;
    if (choice.logprobs) lp.push(...choice.logprobs.token_logprobs);
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  return { text, lp, finish };
}

await test("16 concurrent greedy streams equal each request alone", async () => {
  const alone = [];
  for (const p of prompts) alone.push(await run(p, false));
  const together = await Promise.all(prompts.map((p) => run(p, true)));
  for (let i = 0; i < prompts.length; i++) {
    eq(together[i].text, alone[i].text, `request ${i} text`);
    eq(together[i].finish, alone[i].finish, `request ${i} finish_reason`);
    eq(together[i].lp, alone[i].lp, `request ${i} logprobs (bitwise through JSON)`);
  }
  assert(alone.every((a) => a.text.length > 0), "empty completions");
});

await test("server healthy afterwards", () => health());
done();
