// /metrics and client cancellation: counters move by exactly one request's usage, promtool
// accepts the exposition, and a client that goes away (stream aborted after the first chunk,
// non-streaming request aborted while generating or during a long prefill) stops its request:
// goldfinch_num_requests_running returns to 0 within 2 s.
//
// Long generations must not end early at end-of-text (id 0): they use greedy prompts whose
// continuation runs past max_tokens on the built-in model (checked with `goldfinch generate`),
// ban id 0 with logit_bias {"0": -100} (NO_EOS), and also send the vLLM extension ignore_eos.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import { startServer, MODEL_ID, NO_EOS } from './lib/server.mjs';
import { scrape, metricSum, runningRequests, waitFor } from './lib/util.mjs';

let server;
let client;
before(async () => {
  server = await startServer();
  client = server.client();
});
after(async () => { if (server) await server.stopAndExpectCleanExit(); });

const REQUIRED = [
  'goldfinch_num_requests_running',
  'goldfinch_num_requests_waiting',
  'goldfinch_request_success_total',
  'goldfinch_prompt_tokens_total',
  'goldfinch_generation_tokens_total',
  'goldfinch_time_to_first_token_seconds_bucket',
  'goldfinch_time_to_first_token_seconds_sum',
  'goldfinch_time_to_first_token_seconds_count',
];

async function assertBackToIdle(what) {
  const t0 = Date.now();
  await waitFor(async () => (await runningRequests(server)) === 0, {
    timeoutMs: 2000, intervalMs: 50, message: `goldfinch_num_requests_running == 0 after ${what}`,
  });
  return Date.now() - t0;
}

test('counters move by exactly one request; series are named goldfinch_*', async () => {
  const before = (await scrape(server)).samples;
  for (const s of before) assert.ok(s.name.startsWith('goldfinch_'), `series ${s.name} lacks the goldfinch_ prefix`);
  assert.equal(metricSum(before, 'goldfinch_num_requests_running'), 0);
  assert.equal(metricSum(before, 'goldfinch_num_requests_waiting'), 0);

  const c = await client.completions.create({ model: MODEL_ID, prompt: 'The Lord said', max_tokens: 7, temperature: 0 });
  const fr = c.choices[0].finish_reason;
  const d = (samples, name, labels) => (metricSum(samples, name, labels) ?? 0) - (metricSum(before, name, labels) ?? 0);
  // Counters may be updated a moment after the response is written (engine totals are copied at
  // scrape time): poll up to 2 s for every expected value, then assert on the last scrape.
  const settled = (s) => d(s, 'goldfinch_request_success_total', { finished_reason: fr }) >= 1 &&
    d(s, 'goldfinch_prompt_tokens_total') >= c.usage.prompt_tokens &&
    d(s, 'goldfinch_generation_tokens_total') >= c.usage.completion_tokens &&
    d(s, 'goldfinch_time_to_first_token_seconds_count') >= 1;
  let after;
  try {
    await waitFor(async () => { after = (await scrape(server)).samples; return settled(after); }, { timeoutMs: 2000 });
  } catch { /* the asserts below report what is off */ }
  // Labelled families may be absent until their first sample; after a request all must be there.
  for (const name of REQUIRED) assert.ok(after.some((s) => s.name === name), `${name} is exported`);
  for (const s of after) assert.ok(s.name.startsWith('goldfinch_'), `series ${s.name} lacks the goldfinch_ prefix`);
  assert.equal(d(after, 'goldfinch_request_success_total', { finished_reason: fr }), 1);
  assert.equal(d(after, 'goldfinch_request_success_total'), 1, 'one success in all');
  assert.equal(d(after, 'goldfinch_prompt_tokens_total'), c.usage.prompt_tokens);
  assert.equal(d(after, 'goldfinch_generation_tokens_total'), c.usage.completion_tokens);
  assert.equal(d(after, 'goldfinch_time_to_first_token_seconds_count'), 1);
  assert.ok(d(after, 'goldfinch_time_to_first_token_seconds_sum') > 0);

  // Histogram buckets are cumulative and the +Inf bucket equals _count.
  const buckets = after.filter((s) => s.name === 'goldfinch_time_to_first_token_seconds_bucket')
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]).sort((a, b) => a[0] - b[0]);
  assert.ok(buckets.length >= 2);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'cumulative buckets');
  assert.equal(buckets[buckets.length - 1][0], Infinity);
  assert.equal(buckets[buckets.length - 1][1], metricSum(after, 'goldfinch_time_to_first_token_seconds_count'));
});

test('promtool check metrics accepts GET /metrics', async (t) => {
  const which = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (which.error) {
    t.skip('promtool not found (Debian package "prometheus" provides it)');
    return;
  }
  await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
  const { text, headers } = await scrape(server);
  assert.match(headers.get('content-type') ?? '', /^text\/plain/);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `promtool check metrics failed (rc ${r.status}):\n${r.stdout}${r.stderr}`);
});

test('streaming request aborted after the first chunk stops running within 2 s', async () => {
  const ac = new AbortController();
  const stream = await client.completions.create(
    { model: MODEL_ID, prompt: 'And it came to pass', max_tokens: 4000, ignore_eos: true, logit_bias: NO_EOS, temperature: 0, stream: true },
    { signal: ac.signal });
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.ok(chunk.choices.length <= 1);
    if (chunks === 1) ac.abort();
  }
  assert.ok(chunks < 50, `the stream stopped after the abort (${chunks} chunks)`);
  await assertBackToIdle('a stream aborted after its first chunk');
  // The server still serves.
  const ok = await client.completions.create({ model: MODEL_ID, prompt: 'Hi', max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test('non-streaming request aborted while generating stops running within 2 s', async () => {
  const base = metricSum((await scrape(server)).samples, 'goldfinch_generation_tokens_total') ?? 0;
  const ac = new AbortController();
  const pending = client.completions.create(
    { model: MODEL_ID, prompt: 'The Lord said', max_tokens: 4000, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 },
    { signal: ac.signal });
  pending.catch(() => {});
  // Abort once tokens are being generated (the request is in decode).
  await waitFor(async () => {
    const s = (await scrape(server)).samples;
    return (metricSum(s, 'goldfinch_generation_tokens_total') ?? 0) - base >= 5;
  }, { timeoutMs: 20_000, intervalMs: 20, message: 'generation to start' });
  assert.equal(await runningRequests(server), 1, 'the request is running before the abort');
  ac.abort();
  await assert.rejects(pending, (e) => e instanceof OpenAI.APIUserAbortError || e?.name === 'AbortError');
  await assertBackToIdle('a non-streaming request aborted while generating');
  const generated = (metricSum((await scrape(server)).samples, 'goldfinch_generation_tokens_total') ?? 0) - base;
  assert.ok(generated < 4000, `generation stopped early (${generated} tokens)`);
});

test('non-streaming request with a long prompt aborted early (prefill) stops within 2 s', async () => {
  const prompt = 'In the beginning God created the heaven and the earth. '.repeat(300);  // 16.5k tokens
  const ac = new AbortController();
  const pending = client.completions.create(
    { model: MODEL_ID, prompt, max_tokens: 2000, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 }, { signal: ac.signal });
  pending.catch(() => {});
  await waitFor(async () => (await runningRequests(server)) >= 1 || (await scrape(server)).samples.some(
    (s) => s.name === 'goldfinch_num_requests_waiting' && s.value >= 1), { timeoutMs: 20_000, intervalMs: 20, message: 'the request to be admitted' });
  ac.abort();
  await assert.rejects(pending, (e) => e instanceof OpenAI.APIUserAbortError || e?.name === 'AbortError');
  await assertBackToIdle('a long-prompt request aborted in prefill');
  const s = (await scrape(server)).samples;
  assert.equal(metricSum(s, 'goldfinch_num_requests_waiting'), 0);
});
