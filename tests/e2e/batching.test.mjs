// Continuous batching must not change results: 32 different greedy (temperature 0) completions
// sent at once (half streamed, half not) return exactly the text, finish_reason and token counts
// each one returns when sent alone, one after another. /metrics must show the requests really
// ran together (more than one running at some point).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL_ID } from './lib/server.mjs';
import { scrape, metricSum } from './lib/util.mjs';

let server;
let client;
before(async () => {
  server = await startServer({ args: ['--max-running', '32', '--max-waiting', '64'] });
  client = server.client();
});
after(async () => { if (server) await server.stopAndExpectCleanExit(); });

const BASES = ['And it came to pass', 'The Lord said unto', 'Q: Why is', 'In the beginning',
  'Fortune favors', 'A man who', 'Blessed are the', 'There is no'];
const PROMPTS = Array.from({ length: 32 }, (_, i) =>
  `${BASES[i % BASES.length]}${' and then'.repeat(Math.floor(i / 8))}${i % 3 === 0 ? ',' : ''}`);
const MAX_TOKENS = 24;

async function complete(prompt, stream) {
  const params = { model: MODEL_ID, prompt, max_tokens: MAX_TOKENS, temperature: 0 };
  if (!stream) {
    const c = await client.completions.create(params);
    return { text: c.choices[0].text, finish: c.choices[0].finish_reason, tokens: c.usage.completion_tokens };
  }
  const s = await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let tokens = null;
  for await (const chunk of s) {
    for (const ch of chunk.choices) { text += ch.text; if (ch.finish_reason) finish = ch.finish_reason; }
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { text, finish, tokens };
}

test('32 concurrent greedy completions equal the same requests sent one by one', { timeout: 240_000 }, async () => {
  assert.equal(new Set(PROMPTS).size, PROMPTS.length, 'prompts are distinct');
  const solo = [];
  for (const p of PROMPTS) solo.push(await complete(p, false));

  let maxRunning = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const v = metricSum((await scrape(server)).samples, 'goldfinch_num_requests_running') ?? 0;
        maxRunning = Math.max(maxRunning, v);
      } catch { /* keep polling */ }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  let together;
  try {
    together = await Promise.all(PROMPTS.map((p, i) => complete(p, i % 2 === 1)));
  } finally {
    polling = false;
    await poller;
  }

  const diffs = [];
  PROMPTS.forEach((p, i) => {
    const a = solo[i];
    const b = together[i];
    if (a.text !== b.text || a.finish !== b.finish || a.tokens !== b.tokens) {
      diffs.push(`#${i} ${JSON.stringify(p)} (${i % 2 ? 'stream' : 'plain'}): solo ${JSON.stringify(a)} vs batched ${JSON.stringify(b)}`);
    }
  });
  assert.deepEqual(diffs, [], `batched results differ from solo results:\n${diffs.join('\n')}`);
  assert.ok(maxRunning > 1, `requests were batched (max goldfinch_num_requests_running seen: ${maxRunning})`);
  // Sanity: the prompts really lead to different continuations somewhere.
  assert.ok(new Set(solo.map((r) => r.text)).size > 1, 'different prompts gave different texts');
});
