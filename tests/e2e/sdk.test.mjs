// The official `openai` client (npm openai@6) against `goldfinch serve` on the built-in byte
// model: completions and chat, streaming and not, n=2, include_usage, logprobs (+ echo), stop
// strings, token-id prompts, models, tokenize/detokenize, request ids, 400/404 errors.
//
// Byte model facts used for exact checks: token id = byte + 1, so an ASCII prompt of L
// characters is L prompt tokens and, when a choice ends with finish_reason "length" and no stop
// string, its text has exactly completion_tokens bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, MODEL_ID } from './lib/server.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = server.client();
});
after(async () => {
  if (server) await server.stopAndExpectCleanExit();
});

const PROMPT = 'And it came to pass';
const utf8Len = (s) => Buffer.byteLength(s, 'utf8');
const isAscii = (s) => /^[\x01-\x7f]*$/.test(s);

function checkUsage(usage, promptTokens, { maxCompletion } = {}) {
  assert.ok(usage, 'usage present');
  assert.equal(usage.prompt_tokens, promptTokens, 'usage.prompt_tokens');
  assert.ok(Number.isInteger(usage.completion_tokens) && usage.completion_tokens >= 0);
  if (maxCompletion !== undefined) assert.ok(usage.completion_tokens <= maxCompletion, `completion_tokens ${usage.completion_tokens} <= ${maxCompletion}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'total_tokens');
  assert.equal(usage.prompt_tokens_details?.cached_tokens, 0, 'prompt_tokens_details.cached_tokens');
}

// Text/token consistency of one finished choice of the byte model.
function checkLengthChoice(text, finishReason, completionTokens, maxTokens) {
  assert.ok(['stop', 'length'].includes(finishReason), `finish_reason ${finishReason}`);
  if (finishReason === 'length') {
    assert.equal(completionTokens, maxTokens, 'length finish uses all max_tokens');
    if (isAscii(text)) assert.equal(utf8Len(text), maxTokens, `text ${JSON.stringify(text)} has max_tokens bytes`);
  }
  assert.ok(utf8Len(text) <= completionTokens, 'no more text bytes than tokens');
}

test('GET /v1/models lists the built-in model; retrieve works and 404s for unknown ids', async () => {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes(MODEL_ID), `models: ${ids}`);
  const m = list.data.find((x) => x.id === MODEL_ID);
  assert.equal(m.object, 'model');
  assert.equal(typeof m.created, 'number');
  assert.equal(typeof m.owned_by, 'string');
  const one = await client.models.retrieve(MODEL_ID);
  assert.equal(one.id, MODEL_ID);
  assert.equal(one.object, 'model');
  await assert.rejects(client.models.retrieve('no-such-model'), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  const raw = await server.get('/v1/models');
  assert.equal(raw.json.object, 'list');
});

test('completions: non-streaming greedy, shape and usage', async () => {
  const c = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 12, temperature: 0 });
  assert.equal(c.object, 'text_completion');
  assert.equal(typeof c.id, 'string');
  assert.ok(c.id.length > 0);
  assert.equal(typeof c.created, 'number');
  assert.equal(c.model, MODEL_ID);
  assert.equal(c.choices.length, 1);
  const ch = c.choices[0];
  assert.equal(ch.index, 0);
  assert.equal(typeof ch.text, 'string');
  assert.equal(ch.logprobs ?? null, null, 'no logprobs unless asked');
  checkUsage(c.usage, utf8Len(PROMPT), { maxCompletion: 12 });
  checkLengthChoice(ch.text, ch.finish_reason, c.usage.completion_tokens, 12);
  // Greedy is deterministic.
  const again = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 12, temperature: 0 });
  assert.equal(again.choices[0].text, ch.text);
});

test('completions: streaming text equals the non-streaming text (greedy)', async () => {
  const params = { model: MODEL_ID, prompt: 'The Lord said', max_tokens: 16, temperature: 0 };
  const whole = await client.completions.create(params);
  const stream = await client.completions.create({ ...params, stream: true });
  let text = '';
  let finish = null;
  let chunks = 0;
  const ids = new Set();
  for await (const chunk of stream) {
    chunks++;
    ids.add(chunk.id);
    assert.equal(chunk.object, 'text_completion');
    assert.equal(chunk.usage ?? null, null, 'no usage without include_usage');
    for (const ch of chunk.choices) {
      assert.equal(ch.index, 0);
      text += ch.text;
      if (ch.finish_reason) {
        assert.equal(finish, null, 'one finish_reason');
        finish = ch.finish_reason;
      }
    }
  }
  assert.ok(chunks >= 2, `chunks: ${chunks}`);
  assert.equal(ids.size, 1, 'one id for the whole stream');
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, whole.choices[0].finish_reason);
});

test('chat: non-streaming and streaming (greedy) agree; first delta has role assistant', async () => {
  const params = { model: MODEL_ID, messages: [{ role: 'user', content: 'Tell me a fortune.' }], max_tokens: 16, temperature: 0 };
  const c = await client.chat.completions.create(params);
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.model, MODEL_ID);
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].index, 0);
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(typeof c.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.choices[0].finish_reason));
  assert.ok(c.usage.prompt_tokens > utf8Len('Tell me a fortune.') - 1, 'chat prompt includes the message');
  checkUsage(c.usage, c.usage.prompt_tokens, { maxCompletion: 16 });
  checkLengthChoice(c.choices[0].message.content, c.choices[0].finish_reason, c.usage.completion_tokens, 16);

  const stream = await client.chat.completions.create({ ...params, stream: true });
  let content = '';
  let first = true;
  let finish = null;
  const ids = new Set();
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    ids.add(chunk.id);
    assert.equal(chunk.usage ?? null, null);
    for (const ch of chunk.choices) {
      if (first) {
        assert.equal(ch.delta.role, 'assistant', 'first delta carries role assistant');
        first = false;
      }
      content += ch.delta.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.equal(ids.size, 1);
  assert.equal(content, c.choices[0].message.content);
  assert.equal(finish, c.choices[0].finish_reason);
});

test('chat: max_completion_tokens is honoured', async () => {
  const c = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'Hello' }], max_completion_tokens: 3, temperature: 0,
  });
  assert.ok(c.usage.completion_tokens <= 3, `completion_tokens ${c.usage.completion_tokens}`);
  checkLengthChoice(c.choices[0].message.content, c.choices[0].finish_reason, c.usage.completion_tokens, 3);
});

test('n=2: two choices with indices 0 and 1 (completions, chat, streaming)', async () => {
  const c = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 6, n: 2, temperature: 0.9, seed: 7 });
  assert.deepEqual(c.choices.map((x) => x.index).sort(), [0, 1]);
  for (const ch of c.choices) assert.ok(['stop', 'length'].includes(ch.finish_reason));
  checkUsage(c.usage, utf8Len(PROMPT), { maxCompletion: 12 });

  const chat = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, n: 2, temperature: 0.9 });
  assert.deepEqual(chat.choices.map((x) => x.index).sort(), [0, 1]);
  for (const ch of chat.choices) assert.equal(ch.message.role, 'assistant');

  const stream = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 6, n: 2, temperature: 0.9, stream: true });
  const finishes = new Map();
  const texts = ['', ''];
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      assert.ok(ch.index === 0 || ch.index === 1, `index ${ch.index}`);
      assert.ok(!finishes.has(ch.index), `no content after finish for index ${ch.index}`);
      texts[ch.index] += ch.text;
      if (ch.finish_reason) finishes.set(ch.index, ch.finish_reason);
    }
  }
  assert.deepEqual([...finishes.keys()].sort(), [0, 1], 'each index finishes once');
  for (const t of texts) assert.ok(utf8Len(t) <= 6);

  const cstream = await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, n: 2, temperature: 0.9, stream: true });
  const roles = new Map();
  const cfin = new Set();
  for await (const chunk of cstream) {
    for (const ch of chunk.choices) {
      if (!roles.has(ch.index)) roles.set(ch.index, ch.delta.role);
      if (ch.finish_reason) cfin.add(ch.index);
    }
  }
  assert.deepEqual([...roles.keys()].sort(), [0, 1]);
  for (const r of roles.values()) assert.equal(r, 'assistant', 'first delta of each choice has role assistant');
  assert.deepEqual([...cfin].sort(), [0, 1]);
});

test('stream_options.include_usage: final chunk has choices [] and usage; others usage null', async () => {
  for (const kind of ['completions', 'chat']) {
    const stream = kind === 'completions'
      ? await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } })
      : await client.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 2, `${kind}: ${chunks.length} chunks`);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], `${kind}: last chunk has choices []`);
    assert.ok(last.usage, `${kind}: last chunk has usage`);
    if (kind === 'completions') checkUsage(last.usage, utf8Len(PROMPT), { maxCompletion: 8 });
    else checkUsage(last.usage, last.usage.prompt_tokens, { maxCompletion: 8 });
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage ?? null, null, `${kind}: usage null/absent before the last chunk`);
    const ids = new Set(chunks.map((c) => c.id));
    assert.equal(ids.size, 1, `${kind}: usage chunk shares the id`);
    // The tokens streamed agree with usage when the choice ran to length.
    const fin = chunks.flatMap((c) => c.choices).find((ch) => ch.finish_reason)?.finish_reason;
    if (fin === 'length') assert.equal(last.usage.completion_tokens, 8);
  }
});

test('completions logprobs + echo: prompt echoed, one entry per prompt and completion token', async () => {
  const prompt = 'The Lord said';
  const P = utf8Len(prompt);
  const c = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 5, temperature: 0, echo: true, logprobs: 2 });
  const ch = c.choices[0];
  assert.ok(ch.text.startsWith(prompt), `echo text starts with the prompt: ${JSON.stringify(ch.text)}`);
  checkUsage(c.usage, P, { maxCompletion: 5 });
  const lp = ch.logprobs;
  assert.ok(lp, 'logprobs present');
  const n = P + c.usage.completion_tokens;
  // An end-of-text token (finish "stop") may or may not be listed; everything else must be.
  const expected = ch.finish_reason === 'length' ? [n] : [n, n - 1];
  assert.ok(expected.includes(lp.tokens.length), `tokens.length ${lp.tokens.length}, expected ${expected}`);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  assert.equal(lp.text_offset.length, lp.tokens.length);
  assert.equal(lp.token_logprobs[0], null, 'first prompt token has no logprob');
  assert.equal(lp.tokens.slice(0, P).join(''), prompt, 'prompt tokens spell the prompt');
  assert.deepEqual(lp.text_offset.slice(0, P), [...Array(P).keys()], 'text_offset of prompt bytes');
  for (let i = 1; i < lp.tokens.length; i++) {
    assert.equal(typeof lp.token_logprobs[i], 'number', `token_logprobs[${i}]`);
    assert.ok(lp.token_logprobs[i] <= 0 && Number.isFinite(lp.token_logprobs[i]));
    assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1], 'text_offset non-decreasing');
    const top = lp.top_logprobs[i];
    assert.ok(top && typeof top === 'object', `top_logprobs[${i}] is an object`);
    const k = Object.keys(top).length;
    assert.ok(k >= 1 && k <= 3, `top_logprobs[${i}] has ${k} entries`);
    for (const v of Object.values(top)) assert.ok(v <= 0);
  }
  // Greedy: each generated token is the most likely one.
  for (let i = P; i < lp.tokens.length; i++) {
    const best = Math.max(...Object.values(lp.top_logprobs[i]));
    assert.ok(Math.abs(best - lp.token_logprobs[i]) < 1e-4, `greedy token ${i} is the argmax`);
  }

  // Without echo: only the completion tokens.
  const plain = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 5, temperature: 0, logprobs: 1 });
  const pl = plain.choices[0].logprobs;
  if (plain.choices[0].finish_reason === 'length') assert.equal(pl.tokens.length, 5);
  assert.equal(typeof pl.token_logprobs[0], 'number');
  assert.equal(plain.choices[0].text, ch.text.slice(prompt.length), 'same greedy continuation');
});

test('completions echo with max_tokens 0 returns the prompt and its logprobs', async () => {
  const prompt = 'Hello there';
  const c = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 0, echo: true, logprobs: 0 });
  assert.equal(c.choices[0].text, prompt);
  assert.equal(c.usage.completion_tokens, 0);
  assert.equal(c.choices[0].logprobs.tokens.length, utf8Len(prompt));
  assert.equal(c.choices[0].logprobs.token_logprobs[0], null);
});

test('chat logprobs with top_logprobs 2', async () => {
  const c = await client.chat.completions.create({
    model: MODEL_ID, messages: [{ role: 'user', content: 'Say something wise.' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  const ch = c.choices[0];
  const content = ch.logprobs?.content;
  assert.ok(Array.isArray(content), 'logprobs.content is an array');
  const ct = c.usage.completion_tokens;
  const expected = ch.finish_reason === 'length' ? [ct] : [ct, ct - 1];
  assert.ok(expected.includes(content.length), `content.length ${content.length} for completion_tokens ${ct}`);
  const bytes = [];
  for (const e of content) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0 && Number.isFinite(e.logprob));
    assert.ok(e.bytes === null || Array.isArray(e.bytes));
    if (e.bytes) for (const b of e.bytes) { assert.ok(Number.isInteger(b) && b >= 0 && b < 256); bytes.push(b); }
    assert.equal(e.top_logprobs.length, 2, 'two alternatives');
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob, 'alternatives sorted best first');
    for (const t of e.top_logprobs) {
      assert.equal(typeof t.token, 'string');
      assert.ok(t.logprob <= 0);
    }
    assert.ok(Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-4, 'greedy token is the best alternative');
  }
  if (ch.finish_reason === 'length') {
    assert.deepEqual(Buffer.from(bytes), Buffer.from(ch.message.content, 'utf8'), 'token bytes spell the content');
  }
});

test('stop strings end the text before the match with finish_reason stop', async () => {
  const base = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 20, temperature: 0 });
  const text = base.choices[0].text;
  if (base.choices[0].finish_reason !== 'length' || text.length < 10) {
    assert.fail(`greedy continuation too short to test stop strings: ${JSON.stringify(text)}`);
  }
  const stop = text.slice(6, 8);
  const cut = text.indexOf(stop);
  const c = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 20, temperature: 0, stop: [stop, '@@never@@'] });
  assert.equal(c.choices[0].text, text.slice(0, cut));
  assert.equal(c.choices[0].finish_reason, 'stop');
  // Streaming gives the same cut.
  const stream = await client.completions.create({ model: MODEL_ID, prompt: PROMPT, max_tokens: 20, temperature: 0, stop: stop, stream: true });
  let streamed = '';
  let fin = null;
  for await (const chunk of stream) for (const ch of chunk.choices) { streamed += ch.text; fin = ch.finish_reason ?? fin; }
  assert.equal(streamed, text.slice(0, cut));
  assert.equal(fin, 'stop');
});

test('token-id prompts and prompt lists', async () => {
  const hi = await client.completions.create({ model: MODEL_ID, prompt: 'Hi', max_tokens: 8, temperature: 0 });
  const yo = await client.completions.create({ model: MODEL_ID, prompt: 'Yo', max_tokens: 8, temperature: 0 });
  const ids = await client.completions.create({ model: MODEL_ID, prompt: [73, 106], max_tokens: 8, temperature: 0 });
  assert.equal(ids.choices[0].text, hi.choices[0].text, 'int[] prompt = the same text prompt');
  assert.equal(ids.usage.prompt_tokens, 2);
  const many = await client.completions.create({ model: MODEL_ID, prompt: ['Hi', 'Yo'], max_tokens: 8, temperature: 0 });
  assert.equal(many.choices.length, 2);
  const byIndex = [...many.choices].sort((a, b) => a.index - b.index);
  assert.equal(byIndex[0].text, hi.choices[0].text);
  assert.equal(byIndex[1].text, yo.choices[0].text);
  assert.equal(many.usage.prompt_tokens, 4);
  const nested = await client.completions.create({ model: MODEL_ID, prompt: [[73, 106], [90, 112]], max_tokens: 8, temperature: 0 });
  const nb = [...nested.choices].sort((a, b) => a.index - b.index);
  assert.equal(nb[0].text, hi.choices[0].text);
  assert.equal(nb[1].text, yo.choices[0].text);
});

test('POST /tokenize and /detokenize use the byte vocabulary (id = byte + 1)', async () => {
  const t = await server.post('/tokenize', { prompt: 'Hi!' });
  assert.equal(t.status, 200, t.text);
  assert.deepEqual(t.json.tokens, [73, 106, 34]);
  assert.equal(t.json.count, 3);
  assert.ok(Number.isInteger(t.json.max_model_len) && t.json.max_model_len > 0);
  const u = await server.post('/tokenize', { prompt: 'é' });
  assert.deepEqual(u.json.tokens, [0xc3 + 1, 0xa9 + 1]);
  const d = await server.post('/detokenize', { tokens: [73, 106, 34] });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.prompt, 'Hi!');
  const bad = await server.post('/detokenize', { tokens: [300] });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json?.error?.type, 'invalid_request_error');
});

test('x-request-id: echoed when valid, generated otherwise, exposed by the SDK', async () => {
  const body = { model: MODEL_ID, prompt: 'Hi', max_tokens: 1 };
  const mine = await server.post('/v1/completions', body, { headers: { 'x-request-id': 'e2e-req-0123456789' } });
  assert.equal(mine.status, 200, mine.text);
  assert.equal(mine.headers.get('x-request-id'), 'e2e-req-0123456789');
  const none = await server.post('/v1/completions', body);
  const gen = none.headers.get('x-request-id');
  assert.ok(gen && gen.length > 0, 'a request id is generated');
  const other = await server.post('/v1/completions', body);
  assert.notEqual(other.headers.get('x-request-id'), gen, 'generated ids differ');
  const huge = 'x'.repeat(1000);
  const capped = await server.post('/v1/completions', body, { headers: { 'x-request-id': huge } });
  const got = capped.headers.get('x-request-id');
  assert.ok(got && got.length > 0 && got.length < 1000, `an over-long id is not echoed as is (got ${got?.length} chars)`);
  const health = await server.get('/health', { headers: { 'x-request-id': 'e2e-health-1' } });
  assert.equal(health.status, 200);
  const c = await client.completions.create(body, { headers: { 'x-request-id': 'e2e-sdk-42' } });
  assert.equal(c._request_id, 'e2e-sdk-42', 'SDK exposes x-request-id as _request_id');
});

test('400 errors name the offending parameter (BadRequestError.param)', async () => {
  const cases = [
    [{ model: MODEL_ID, prompt: 'Hi', temperature: -1 }, 'temperature'],
    [{ model: MODEL_ID, prompt: 'Hi', max_tokens: 'x' }, 'max_tokens'],
    [{ model: MODEL_ID, prompt: 'Hi', max_tokens: -5 }, 'max_tokens'],
    [{ model: MODEL_ID, prompt: 'Hi', top_p: 1.5 }, 'top_p'],
    [{ model: MODEL_ID, prompt: 'Hi', logprobs: 6 }, 'logprobs'],
    [{ model: MODEL_ID, prompt: 'Hi', n: 0 }, 'n'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(client.completions.create(body), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.status, 400);
      assert.equal(e.param, param, `param for ${JSON.stringify(body)}: ${JSON.stringify(e.error)}`);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(typeof e.error.message, 'string');
      return true;
    });
  }
  const chatCases = [
    [{ model: MODEL_ID, messages: [] }, 'messages'],
    [{ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], top_logprobs: 21, logprobs: true }, 'top_logprobs'],
    [{ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], temperature: -1 }, 'temperature'],
  ];
  for (const [body, param] of chatCases) {
    await assert.rejects(client.chat.completions.create(body), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.param, param, `param for ${JSON.stringify(body)}: ${JSON.stringify(e.error)}`);
      return true;
    });
  }
});

test('unknown model -> 404 NotFoundError with code model_not_found', async () => {
  await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'Hi', max_tokens: 1 }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, String(e));
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'Hi', stream: true }),
    (e) => e instanceof OpenAI.NotFoundError, 'streaming request is validated before the 200');
});

test('/health and /ready answer 200', async () => {
  assert.equal((await server.get('/health')).status, 200);
  assert.equal((await server.get('/ready')).status, 200);
});
