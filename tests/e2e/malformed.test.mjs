// Malformed and hostile requests (raw HTTP, no SDK): broken JSON, wrong types, negative and huge
// numbers, unknown model, empty messages, out-of-vocabulary token ids, oversized bodies and
// oversized prompts. Each must get the documented status and an OpenAI error object naming the
// parameter (error.param) or the code, and the server must keep serving afterwards.
//
// Two servers: one with --max-body-bytes 1048576 (the table and the 413 case) and one with
// default limits (a 10 MB prompt is under the 16 MiB default body limit, so it must reach
// validation and fail with context_length_exceeded).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL_ID } from './lib/server.mjs';
import { rawPost } from './lib/util.mjs';

const MiB = 1024 * 1024;
let small;  // --max-body-bytes 1 MiB
let dflt;   // default limits

before(async () => {
  small = await startServer({ args: ['--max-body-bytes', String(MiB)] });
  dflt = await startServer();
});
after(async () => {
  const results = await Promise.allSettled([small?.stopAndExpectCleanExit(), dflt?.stopAndExpectCleanExit()]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

const C = '/v1/completions';
const CHAT = '/v1/chat/completions';
const base = { model: MODEL_ID, prompt: 'Hi', max_tokens: 2 };
const chatBase = { model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 };
const j = (o) => JSON.stringify(o);

// [name, path, raw body, expected status, expected param (string, RegExp, null = don't care), code]
const TABLE = [
  ['broken JSON', C, '{"model": "goldfinch-byte-small", "prompt": "hi"', 400, null],
  ['empty body', C, '', 400, null],
  ['body is an array', C, '[1, 2, 3]', 400, null],
  ['body is a string', C, '"hello"', 400, null],
  ['invalid UTF-8 inside a string', C, Buffer.concat([Buffer.from('{"model":"goldfinch-byte-small","prompt":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 400, null],
  ['nesting 10000 deep', C, `{"model":"${MODEL_ID}","prompt":${'['.repeat(10000)}${']'.repeat(10000)}}`, 400, null],
  ['missing prompt', C, j({ model: MODEL_ID }), 400, 'prompt'],
  ['prompt is a number', C, j({ ...base, prompt: 5 }), 400, 'prompt'],
  ['prompt is an object', C, j({ ...base, prompt: { a: 1 } }), 400, 'prompt'],
  ['prompt token 300 (vocab 257)', C, j({ ...base, prompt: [300] }), 400, 'prompt'],
  ['prompt token 257 (one past the vocab)', C, j({ ...base, prompt: [72, 257] }), 400, 'prompt'],
  ['prompt token -1', C, j({ ...base, prompt: [-1] }), 400, 'prompt'],
  ['prompt token 1.5', C, j({ ...base, prompt: [1.5] }), 400, 'prompt'],
  ['nested prompt with a bad id', C, j({ ...base, prompt: [[73, 106], [300]] }), 400, 'prompt'],
  ['empty token list', C, j({ ...base, prompt: [] }), 400, 'prompt'],
  ['max_tokens is a string', C, j({ ...base, max_tokens: 'x' }), 400, 'max_tokens'],
  ['max_tokens is fractional', C, j({ ...base, max_tokens: 1.5 }), 400, 'max_tokens'],
  ['max_tokens negative', C, j({ ...base, max_tokens: -1 }), 400, 'max_tokens'],
  ['max_tokens 1e999', C, `{"model":"${MODEL_ID}","prompt":"Hi","max_tokens":1e999}`, 400, /^(max_tokens)?$/],
  ['max_tokens 2^63', C, `{"model":"${MODEL_ID}","prompt":"Hi","max_tokens":9223372036854775808}`, 400, /^(max_tokens|prompt)?$/],
  ['temperature 1e999', C, `{"model":"${MODEL_ID}","prompt":"Hi","temperature":1e999}`, 400, /^(temperature)?$/],
  ['temperature -1e999', C, `{"model":"${MODEL_ID}","prompt":"Hi","temperature":-1e999}`, 400, /^(temperature)?$/],
  ['temperature 1e300', C, j({ ...base, temperature: 1e300 }), 400, 'temperature'],
  ['temperature negative', C, j({ ...base, temperature: -1 }), 400, 'temperature'],
  ['temperature is a string', C, j({ ...base, temperature: 'hot' }), 400, 'temperature'],
  ['top_p negative', C, j({ ...base, top_p: -0.5 }), 400, 'top_p'],
  ['top_p above 1', C, j({ ...base, top_p: 1.5 }), 400, 'top_p'],
  ['n zero', C, j({ ...base, n: 0 }), 400, 'n'],
  ['n 1e30', C, j({ ...base, n: 1e30 }), 400, 'n'],
  ['n 1000', C, j({ ...base, n: 1000 }), 400, 'n'],
  ['stream is a string', C, j({ ...base, stream: 'yes' }), 400, 'stream'],
  ['stop is a number', C, j({ ...base, stop: 5 }), 400, 'stop'],
  ['five stop strings', C, j({ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }), 400, 'stop'],
  ['logprobs 6', C, j({ ...base, logprobs: 6 }), 400, 'logprobs'],
  ['logprobs negative', C, j({ ...base, logprobs: -1 }), 400, 'logprobs'],
  ['frequency_penalty 3', C, j({ ...base, frequency_penalty: 3 }), 400, 'frequency_penalty'],
  ['presence_penalty -3', C, j({ ...base, presence_penalty: -3 }), 400, 'presence_penalty'],
  ['logit_bias token 300', C, j({ ...base, logit_bias: { 300: 1 } }), 400, 'logit_bias'],
  ['logit_bias token -1', C, j({ ...base, logit_bias: { '-1': 1 } }), 400, 'logit_bias'],
  ['logit_bias value 1000', C, j({ ...base, logit_bias: { 66: 1000 } }), 400, 'logit_bias'],
  ['seed is a string', C, j({ ...base, seed: 'abc' }), 400, 'seed'],
  ['model is a number', C, j({ ...base, model: 123 }), 400, 'model'],
  ['unknown model', C, j({ ...base, model: 'gpt-9' }), 404, null, 'model_not_found'],
  ['chat: unknown model', CHAT, j({ ...chatBase, model: 'gpt-9' }), 404, null, 'model_not_found'],
  ['chat: empty messages', CHAT, j({ ...chatBase, messages: [] }), 400, 'messages'],
  ['chat: missing messages', CHAT, j({ model: MODEL_ID }), 400, 'messages'],
  ['chat: messages is a string', CHAT, j({ ...chatBase, messages: 'hi' }), 400, 'messages'],
  ['chat: unknown role', CHAT, j({ ...chatBase, messages: [{ role: 'wizard', content: 'x' }] }), 400, /^messages/],
  ['chat: content is a number', CHAT, j({ ...chatBase, messages: [{ role: 'user', content: 5 }] }), 400, /^messages/],
  ['chat: message is null', CHAT, j({ ...chatBase, messages: [null] }), 400, /^messages/],
  ['chat: top_logprobs 21', CHAT, j({ ...chatBase, logprobs: true, top_logprobs: 21 }), 400, 'top_logprobs'],
  ['chat: top_logprobs -1', CHAT, j({ ...chatBase, logprobs: true, top_logprobs: -1 }), 400, 'top_logprobs'],
  ['chat: max_completion_tokens negative', CHAT, j({ ...chatBase, max_completion_tokens: -1 }), 400, 'max_completion_tokens'],
  ['chat: temperature 1e999', CHAT, `{"model":"${MODEL_ID}","messages":[{"role":"user","content":"x"}],"temperature":1e999}`, 400, /^(temperature)?$/],
  ['chat: stream_options.include_usage not a bool', CHAT, j({ ...chatBase, stream: true, stream_options: { include_usage: 'yes' } }), 400, /^stream_options/],
  ['tokenize: prompt is a number', '/tokenize', j({ prompt: 5 }), 400, 'prompt'],
  ['detokenize: token -1', '/detokenize', j({ tokens: [-1] }), 400, 'tokens'],
  ['detokenize: token 300', '/detokenize', j({ tokens: [300] }), 400, 'tokens'],
  ['detokenize: tokens is a string', '/detokenize', j({ tokens: 'x' }), 400, 'tokens'],
];

function checkError(name, res, status, param, code) {
  const where = `${name}: got ${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, where);
  const err = res.json?.error;
  assert.ok(err && typeof err === 'object', `${where}: body is {"error": {...}}`);
  assert.equal(typeof err.message, 'string', `${where}: error.message`);
  assert.ok(err.message.length > 0 && err.message.length < 2000, `${where}: short error.message`);
  for (const k of ['type', 'param', 'code']) assert.ok(k in err, `${where}: error.${k} present (may be null)`);
  if (status === 400) assert.equal(err.type, 'invalid_request_error', where);
  if (typeof param === 'string') assert.equal(err.param, param, where);
  else if (param instanceof RegExp) assert.match(err.param ?? '', param, where);
  if (code) assert.equal(err.code, code, where);
}

test('malformed request table: status, error object and param/code for each row', { timeout: 120_000 }, async () => {
  const failures = [];
  for (const [name, path, body, status, param, code] of TABLE) {
    try {
      const res = await small.post(path, body, { timeoutMs: 20_000 });
      checkError(name, res, status, param, code);
      if (res.status >= 400) assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${name}: JSON error`);
    } catch (e) {
      failures.push(e.message.split('\n')[0]);
    }
    assert.ok(small.isRunning(), `server still running after "${name}"\n${small.logTail()}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${TABLE.length} rows failed:\n${failures.join('\n')}`);
});

test('body over --max-body-bytes -> 413; just under it reaches validation', { timeout: 60_000 }, async () => {
  const over = j({ model: MODEL_ID, prompt: 'a'.repeat(MiB + 4096), max_tokens: 1 });
  const res = await rawPost(small.url, C, over, { timeoutMs: 20_000 });
  assert.equal(res.status, 413, res.text.slice(0, 300));
  if (res.text.length > 0) {
    assert.equal(typeof res.json?.error?.message, 'string', `413 body is an OpenAI error: ${res.text.slice(0, 300)}`);
  }
  const under = j({ model: MODEL_ID, prompt: 'a'.repeat(MiB - 1024), max_tokens: 1 });
  const ok = await small.post(C, under, { timeoutMs: 30_000 });
  checkError('1 MiB - 1 KiB prompt', ok, 400, null, 'context_length_exceeded');
});

test('a 10 MB prompt under the default body limit -> 400 context_length_exceeded', { timeout: 120_000 }, async () => {
  const big = 'And it came to pass. '.repeat(Math.ceil(10e6 / 21)).slice(0, 10e6);
  const res = await dflt.post(C, { model: MODEL_ID, prompt: big, max_tokens: 4 }, { timeoutMs: 60_000 });
  checkError('10 MB completion prompt', res, 400, /^(prompt)?$/, 'context_length_exceeded');
  const chat = await dflt.post(CHAT, { model: MODEL_ID, messages: [{ role: 'user', content: big }], max_tokens: 4 }, { timeoutMs: 60_000 });
  checkError('10 MB chat message', chat, 400, /^(messages.*)?$/, 'context_length_exceeded');
});

test('prompt + max_tokens over max_model_len -> 400 context_length_exceeded', { timeout: 60_000 }, async () => {
  const t = await dflt.post('/tokenize', { prompt: 'x' });
  const maxLen = t.json.max_model_len;
  assert.ok(Number.isInteger(maxLen) && maxLen > 0);
  const prompt = 'a'.repeat(maxLen - 10);
  const res = await dflt.post(C, { model: MODEL_ID, prompt, max_tokens: 20 });
  checkError('prompt fits, prompt + max_tokens does not', res, 400, null, 'context_length_exceeded');
  const res2 = await dflt.post(C, { model: MODEL_ID, prompt: 'Hi', max_tokens: maxLen });
  checkError('max_tokens alone over max_model_len', res2, 400, /^(max_tokens|prompt)?$/, null);
});

test('unknown routes and methods', async () => {
  const r = await small.get('/v1/nope');
  assert.equal(r.status, 404);
  const m = await small.get(C);
  assert.ok([404, 405].includes(m.status), `GET ${C} -> ${m.status}`);
});

test('after the table a normal request still succeeds on both servers', async () => {
  for (const s of [small, dflt]) {
    assert.ok(s.isRunning());
    const res = await s.post(C, { model: MODEL_ID, prompt: 'And it came to pass', max_tokens: 4 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices.length, 1);
    const chat = await s.post(CHAT, chatBase);
    assert.equal(chat.status, 200, chat.text);
    assert.equal((await s.get('/health')).status, 200);
  }
});
