// API keys: a server started with --api-key (and a second key from --api-key-file) answers 401
// (AuthenticationError) without or with a wrong key on every API route, 200 with either key,
// and leaves /health, /ready and /metrics open. Path spellings must not bypass the check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startServer, MODEL_ID } from './lib/server.mjs';
import { rawPost } from './lib/util.mjs';

const KEY = 'e2e-key-Ahx7uZ0q';
const FILE_KEY = 'e2e-file-key-9QmT';
let server;
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gf-e2e-auth-'));
  const keyFile = join(dir, 'keys.txt');
  writeFileSync(keyFile, `${FILE_KEY}\n`, { mode: 0o600 });
  server = await startServer({ args: ['--api-key', KEY, '--api-key-file', keyFile] });
});
after(async () => {
  try {
    if (server) await server.stopAndExpectCleanExit();
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

const completion = { model: MODEL_ID, prompt: 'Hi', max_tokens: 2 };

test('SDK: no key -> 401 AuthenticationError; wrong key -> 401; right keys -> 200', async () => {
  const noKey = server.client({ apiKey: 'unused', defaultHeaders: { Authorization: null } });
  await assert.rejects(noKey.completions.create(completion), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
    assert.equal(e.status, 401);
    assert.equal(typeof e.error?.message, 'string');
    return true;
  });
  await assert.rejects(noKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  const wrong = server.client({ apiKey: `${KEY}x` });
  await assert.rejects(wrong.completions.create(completion), (e) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key');
  const prefix = server.client({ apiKey: KEY.slice(0, -1) });
  await assert.rejects(prefix.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError);

  const good = server.client({ apiKey: KEY });
  const c = await good.completions.create(completion);
  assert.equal(c.choices.length, 1);
  const chat = await good.chat.completions.create({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
  assert.equal(chat.choices[0].message.role, 'assistant');
  const models = await good.models.list();
  assert.ok(models.data.some((m) => m.id === MODEL_ID));
  const fileKey = server.client({ apiKey: FILE_KEY });
  const c2 = await fileKey.completions.create(completion);
  assert.equal(c2.choices.length, 1, 'the key from --api-key-file works');
});

test('raw: 401 body is an OpenAI error; open routes stay open', async () => {
  const r = await server.post('/v1/completions', completion);
  assert.equal(r.status, 401);
  assert.equal(typeof r.json?.error?.message, 'string');
  assert.equal(r.json.error.code, 'invalid_api_key');
  assert.ok('param' in r.json.error && 'type' in r.json.error);
  for (const path of ['/health', '/ready', '/metrics']) {
    const res = await server.get(path);
    assert.equal(res.status, 200, `${path} without a key`);
  }
  for (const path of ['/v1/models', `/v1/models/${MODEL_ID}`]) {
    assert.equal((await server.get(path)).status, 401, `GET ${path} without a key`);
  }
  for (const [path, body] of [['/tokenize', { prompt: 'Hi' }], ['/detokenize', { tokens: [73] }], ['/v1/chat/completions', { model: MODEL_ID, messages: [{ role: 'user', content: 'x' }] }]]) {
    assert.equal((await server.post(path, body)).status, 401, `POST ${path} without a key`);
  }
  // Other schemes and malformed headers are not accepted.
  for (const auth of [`Basic ${KEY}`, `Bearer`, `Bearer  ${KEY}x`, KEY, `bearer ${KEY}x`]) {
    const res = await server.post('/v1/completions', completion, { headers: { authorization: auth } });
    assert.equal(res.status, 401, `Authorization: ${auth}`);
  }
  const ok = await server.post('/v1/completions', completion, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(ok.status, 200, ok.text);
  const tok = await server.post('/tokenize', { prompt: 'Hi' }, { headers: { authorization: `Bearer ${FILE_KEY}` } });
  assert.equal(tok.status, 200, tok.text);
});

test('path spellings do not bypass authentication', async () => {
  const paths = ['/v1//completions', '/v1/completions/', '/V1/completions', '/v1/./completions',
    '/health/../v1/completions', '/v1/completions?x=1', '/%761/completions', '/v1/completions%00', '//v1/completions'];
  for (const path of paths) {
    const res = await rawPost(server.url, path, JSON.stringify(completion));
    assert.ok(res.status !== 200 && res.status < 500, `POST ${path} without a key -> ${res.status}`);
  }
});
