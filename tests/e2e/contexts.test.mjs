// The explicit context API seen by real clients: POST/GET/DELETE /v1/contexts and
// /v1/contexts/{id}/pin with raw fetch; completions and chat completions that name a `context`
// through the official openai SDK produce exactly the output of the full prompt sent without
// the cache and report cached_tokens >= the context's length - 1; errors are OpenAI error
// objects (400 with param, 404 context_not_found, 405, 503 without a prefix cache); tenants
// (API keys) never see each other's contexts; contexts survive a restart on the same cache dir;
// --cache-max-contexts bounds them (429) and /metrics counts them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startServer, MODEL_ID, NO_EOS } from './lib/server.mjs';
import { scrape, metricSum } from './lib/util.mjs';

const KEY_A = 'e2e-ctx-key-a-7Hq2';
const KEY_B = 'e2e-ctx-key-b-Pz91';
let root;
let keyFile;
let server;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'gf-e2e-ctx-'));
  keyFile = join(root, 'keys.txt');
  writeFileSync(keyFile, `${KEY_A} tenant-a\n${KEY_B} tenant-b\n`, { mode: 0o600 });
  server = await startServer({ args: ['--api-key-file', keyFile, '--cache-dir', join(root, 'main')] });
});
after(async () => {
  try {
    if (server) await server.stopAndExpectCleanExit();
  } finally {
    if (root) rmSync(root, { recursive: true, force: true });
  }
});

const DOCUMENT = 'The goldfinch keeps a compressed cache of keys for its attention layers, so a long ' +
  'shared document is cheap to keep and quick to reuse across many questions. ';

// fetch with a key; returns {status, json, text}.
async function api(srv, method, path, { body, key = KEY_A } = {}) {
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await srv.fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    timeoutMs: 120_000,
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

async function createContext(srv, fields, key = KEY_A) {
  const r = await api(srv, 'POST', '/v1/contexts', { body: { model: MODEL_ID, ...fields }, key });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

const greedy = { max_tokens: 12, temperature: 0, logit_bias: NO_EOS };

test('create, list, get, pin and delete a context over HTTP', async () => {
  const t0 = Math.floor(Date.now() / 1000);
  const ctx = await createContext(server, { prompt: DOCUMENT, ttl_seconds: 900, name: 'doc' });
  assert.match(ctx.id, /^ctx_[0-9a-f]{24}$/);
  assert.equal(ctx.object, 'context');
  assert.equal(ctx.model, MODEL_ID);
  assert.equal(ctx.tokens, DOCUMENT.length);  // byte vocabulary: one token per byte
  assert.equal(ctx.name, 'doc');
  assert.ok(ctx.created >= t0 - 1 && ctx.created <= t0 + 60, String(ctx.created));
  assert.equal(ctx.expires_at, ctx.created + 900);

  const list = await api(server, 'GET', '/v1/contexts');
  assert.equal(list.status, 200);
  assert.equal(list.json.object, 'list');
  assert.ok(list.json.data.some((c) => c.id === ctx.id));
  const got = await api(server, 'GET', `/v1/contexts/${ctx.id}`);
  assert.deepEqual(got.json, ctx);

  const pinned = await api(server, 'POST', `/v1/contexts/${ctx.id}/pin`, { body: { ttl_seconds: 60 } });
  assert.equal(pinned.status, 200, pinned.text);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(pinned.json.expires_at >= now + 58 && pinned.json.expires_at <= now + 61);

  const del = await api(server, 'DELETE', `/v1/contexts/${ctx.id}`);
  assert.equal(del.status, 200);
  assert.deepEqual(del.json, { id: ctx.id, object: 'context.deleted', deleted: true });
  const gone = await api(server, 'GET', `/v1/contexts/${ctx.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'context_not_found');
  assert.equal(gone.json.error.type, 'not_found_error');
});

test('openai SDK: a completion naming a context equals the full prompt without the cache', async () => {
  const ctx = await createContext(server, { prompt: DOCUMENT });
  const client = server.client({ apiKey: KEY_A });
  for (const question of ['Question: what is cheap to keep?\nAnswer:', 'Q: and why?\nA:']) {
    const withContext = await client.completions.create({ model: MODEL_ID, prompt: question, context: ctx.id, ...greedy });
    const reference = await client.completions.create({
      model: MODEL_ID, prompt: DOCUMENT + question, cache_prompt: false, ...greedy,
    });
    assert.equal(withContext.choices[0].text, reference.choices[0].text);
    assert.equal(withContext.usage.prompt_tokens, ctx.tokens + question.length);
    assert.equal(reference.usage.prompt_tokens_details.cached_tokens, 0);
    assert.ok(withContext.usage.prompt_tokens_details.cached_tokens >= ctx.tokens - 1,
      JSON.stringify(withContext.usage));
  }
  // Streaming works the same way.
  const stream = await client.completions.create({
    model: MODEL_ID, prompt: 'Q: again?', context: ctx.id, stream: true, stream_options: { include_usage: true }, ...greedy,
  });
  let text = '';
  let usage;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text.length > 0, true);
  assert.ok(usage.prompt_tokens_details.cached_tokens >= ctx.tokens - 1, JSON.stringify(usage));
});

test('openai SDK: chat continues a context made from messages', async () => {
  const history = [
    { role: 'system', content: 'You answer questions about birds, briefly and kindly.' },
    { role: 'user', content: 'Which finch is golden?' },
    { role: 'assistant', content: 'The American goldfinch, in summer.' },
  ];
  const ctx = await createContext(server, { messages: history });
  const rendered = 'System: You answer questions about birds, briefly and kindly.\n\n' +
    'User: Which finch is golden?\n\nAssistant: The American goldfinch, in summer.\n\n';
  assert.equal(ctx.tokens, rendered.length, 'rendered as chat renders it, without "Assistant:"');
  const client = server.client({ apiKey: KEY_A });
  const next = { role: 'user', content: 'And in winter?' };
  const withContext = await client.chat.completions.create({
    model: MODEL_ID, messages: [next], context: ctx.id, ...greedy, max_tokens: 10,
  });
  const reference = await client.chat.completions.create({
    model: MODEL_ID, messages: [...history, next], cache_prompt: false, ...greedy, max_tokens: 10,
  });
  assert.equal(withContext.choices[0].message.content, reference.choices[0].message.content);
  assert.equal(withContext.usage.prompt_tokens, reference.usage.prompt_tokens);
  assert.ok(withContext.usage.prompt_tokens_details.cached_tokens >= ctx.tokens - 1);
});

test('errors are OpenAI error objects; tenants are isolated', async () => {
  const bad = [
    [{ model: MODEL_ID }, 'prompt'],
    [{ model: MODEL_ID, prompt: 'too short' }, 'prompt'],
    [{ model: MODEL_ID, prompt: DOCUMENT, ttl_seconds: 0 }, 'ttl_seconds'],
    [{ model: MODEL_ID, prompt: DOCUMENT, ttl_seconds: 30 * 86400 + 1 }, 'ttl_seconds'],
    [{ model: MODEL_ID, prompt: DOCUMENT, name: 'n'.repeat(257) }, 'name'],
    [{ model: MODEL_ID, prompt: DOCUMENT, cache_salt: '' }, 'cache_salt'],
  ];
  for (const [body, param] of bad) {
    const r = await api(server, 'POST', '/v1/contexts', { body });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(r.json.error.param, param, r.text);
  }
  assert.equal((await api(server, 'POST', '/v1/contexts', { body: { model: 'nope', prompt: DOCUMENT } })).status, 404);
  assert.equal((await api(server, 'PATCH', '/v1/contexts')).status, 405);
  assert.equal((await api(server, 'GET', '/v1/contexts', { key: 'wrong-key' })).status, 401);

  const ctx = await createContext(server, { prompt: DOCUMENT + 'A only.' });
  const b = server.client({ apiKey: KEY_B });
  await assert.rejects(
    b.completions.create({ model: MODEL_ID, prompt: 'x', context: ctx.id, ...greedy }),
    (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError, String(e));
      assert.equal(e.status, 404);
      assert.equal(e.code, 'context_not_found');
      assert.equal(e.param, 'context');
      return true;
    });
  assert.equal((await api(server, 'GET', `/v1/contexts/${ctx.id}`, { key: KEY_B })).status, 404);
  assert.equal((await api(server, 'DELETE', `/v1/contexts/${ctx.id}`, { key: KEY_B })).status, 404);
  const listB = await api(server, 'GET', '/v1/contexts', { key: KEY_B });
  assert.ok(!listB.json.data.some((c) => c.id === ctx.id));
  // A cache_salt is a namespace too.
  const salted = await createContext(server, { prompt: `${DOCUMENT}salted`, cache_salt: 'user-7' });
  assert.equal((await api(server, 'GET', `/v1/contexts/${salted.id}`)).status, 404);
  assert.equal((await api(server, 'GET', `/v1/contexts/${salted.id}?cache_salt=user-7`)).status, 200);
  assert.equal((await api(server, 'DELETE', `/v1/contexts/${salted.id}?cache_salt=user-7`)).status, 200);
  assert.equal((await api(server, 'DELETE', `/v1/contexts/${ctx.id}`)).status, 200);
});

test('contexts survive a restart on the same cache directory', async () => {
  const dir = join(root, 'persist');
  let first = await startServer({ args: ['--api-key-file', keyFile, '--cache-dir', dir] });
  let ctx;
  try {
    ctx = await createContext(first, { prompt: DOCUMENT + 'Kept across restarts.', ttl_seconds: 3600, name: 'kept' });
  } finally {
    await first.stopAndExpectCleanExit();
  }
  assert.ok(readdirSync(join(dir, 'contexts')).includes(`${ctx.id}.ctx`));
  const second = await startServer({ args: ['--api-key-file', keyFile, '--cache-dir', dir] });
  try {
    const got = await api(second, 'GET', `/v1/contexts/${ctx.id}`);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json, ctx);
    const client = second.client({ apiKey: KEY_A });
    const r = await client.completions.create({ model: MODEL_ID, prompt: 'Q:', context: ctx.id, ...greedy });
    assert.ok(r.usage.prompt_tokens_details.cached_tokens >= ctx.tokens - 1, JSON.stringify(r.usage));
  } finally {
    await second.stopAndExpectCleanExit();
  }
});

test('--cache-max-contexts bounds live contexts; /metrics counts them', async () => {
  const small = await startServer({ args: ['--cache-dir', 'none', '--cache-max-contexts', '2'] });
  try {
    const create = (suffix) => small.post('/v1/contexts', { model: MODEL_ID, prompt: DOCUMENT + suffix }, { timeoutMs: 120_000 });
    const first = await create('One.');
    const second = await create('Two.');
    assert.equal(first.status, 200, first.text);
    assert.equal(second.status, 200, second.text);
    const third = await create('Three.');
    assert.equal(third.status, 429, third.text);
    assert.equal(third.json.error.code, 'context_limit_reached');
    let { samples } = await scrape(small);
    assert.equal(metricSum(samples, 'goldfinch_contexts'), 2);
    assert.equal(metricSum(samples, 'goldfinch_contexts_created_total'), 2);
    assert.equal(metricSum(samples, 'goldfinch_contexts_deleted_total'), 0);

    const del = await small.fetch(`/v1/contexts/${first.json.id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    const unpin = await small.post(`/v1/contexts/${second.json.id}/pin`, { ttl_seconds: 0 });
    assert.equal(unpin.status, 200, unpin.text);
    assert.equal((await create('Three.')).status, 200);  // room again
    ({ samples } = await scrape(small));
    assert.equal(metricSum(samples, 'goldfinch_contexts'), 1);
    assert.equal(metricSum(samples, 'goldfinch_contexts_created_total'), 3);
    assert.equal(metricSum(samples, 'goldfinch_contexts_deleted_total'), 1);
    assert.equal(metricSum(samples, 'goldfinch_contexts_expired_total'), 1);
  } finally {
    await small.stopAndExpectCleanExit();
  }
});

test('without a prefix cache the context routes answer 503', async () => {
  const plain = await startServer({ args: ['--cache=false'] });
  try {
    const r = await plain.post('/v1/contexts', { model: MODEL_ID, prompt: DOCUMENT });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.type, 'service_unavailable');
    assert.equal((await plain.get('/v1/contexts')).status, 503);
    const use = await plain.post('/v1/completions', { model: MODEL_ID, prompt: 'x', context: 'ctx_000000000000000000000000' });
    assert.equal(use.status, 503, use.text);
  } finally {
    await plain.stopAndExpectCleanExit();
  }
});
