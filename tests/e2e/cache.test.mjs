// The prefix cache seen by real clients: the official openai SDK reports
// usage.prompt_tokens_details.cached_tokens > 0 for a repeated long prompt (completions, chat,
// streaming) with output identical to an uncached run; tenants never see each other's entries;
// the disk tier serves after a restart; SIGKILL during cache writes (fault-delay hook) never
// leaves a temp file or a wrong hit behind; flipped bits, truncation and zero-filled records are
// detected, deleted, counted and never served.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, MODEL_ID, NO_EOS, sleep } from './lib/server.mjs';
import { scrape, metricSum } from './lib/util.mjs';

let root;
before(() => { root = mkdtempSync(join(tmpdir(), 'gf-e2e-cache-')); });
after(() => { if (root) rmSync(root, { recursive: true, force: true }); });

const WORDS = ['river', 'stone', 'lantern', 'orchard', 'signal', 'harbor', 'meadow', 'copper',
  'whistle', 'garden', 'thunder', 'paper', 'candle', 'window', 'forest', 'silver'];
// A deterministic pseudo-random text of about `chars` characters (the byte model: 1 token/char).
function documentText(seed, chars) {
  let x = seed >>> 0;
  const out = [];
  let n = 0;
  while (n < chars) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = WORDS[(x >>> 16) % WORDS.length];
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ');
}

async function complete(client, prompt, extra = {}) {
  const r = await client.completions.create({
    model: MODEL_ID, prompt, max_tokens: 12, temperature: 0, logit_bias: NO_EOS, ...extra,
  });
  return { text: r.choices[0].text, cached: r.usage.prompt_tokens_details?.cached_tokens, usage: r.usage };
}

// Snapshots are stored in the background after a response: retry until the cache answers.
async function completeUntilCached(client, prompt, extra = {}, { minCached = 1, timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await complete(client, prompt, extra);
    if (r.cached >= minCached || Date.now() > deadline) return r;
    await sleep(100);
  }
}

const tempFiles = (dir) => readdirSync(dir).filter((n) => n.includes('.tmp.'));
const recordFiles = (dir) => readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.gfc$/.test(n));

test('openai SDK: a repeated long prompt reports cached_tokens > 0 and the same output', async () => {
  const server = await startServer({ args: ['--cache-dir', join(root, 'sdk')] });
  try {
    const client = server.client();
    const prompt = `${documentText(1, 600)}\nQuestion: which word comes first?\nAnswer:`;
    const cold = await complete(client, prompt, { cache_prompt: false });
    assert.equal(cold.cached, 0);
    const first = await complete(client, prompt);
    assert.equal(first.text, cold.text);
    const warm = await completeUntilCached(client, prompt);
    assert.equal(warm.cached, warm.usage.prompt_tokens - 1, 'the whole prompt but its last token');
    assert.equal(warm.text, cold.text);

    // Another question about the same document reuses the document.
    const other = `${documentText(1, 600)}\nQuestion: is there a river?\nAnswer:`;
    const coldOther = await complete(client, other, { cache_prompt: false });
    const warmOther = await complete(client, other);
    assert.ok(warmOther.cached >= 560, `cached ${warmOther.cached} of ${warmOther.usage.prompt_tokens}`);
    assert.equal(warmOther.text, coldOther.text);

    // Chat, streaming with include_usage: the system message (a long document) is a boundary.
    const doc = documentText(2, 500);
    const messages = (q) => [{ role: 'system', content: doc }, { role: 'user', content: q }];
    const chat = async (q, extra = {}) => {
      const stream = await client.chat.completions.create({
        model: MODEL_ID, messages: messages(q), max_tokens: 8, temperature: 0, logit_bias: NO_EOS,
        stream: true, stream_options: { include_usage: true }, ...extra,
      });
      let text = '';
      let usage;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
        if (chunk.usage) usage = chunk.usage;
      }
      return { text, cached: usage.prompt_tokens_details.cached_tokens, prompt: usage.prompt_tokens };
    };
    const c1 = await chat('What is the first word?');
    assert.equal(c1.cached, 0);
    let c2;
    for (let i = 0; i < 50; ++i) {
      c2 = await chat('How many words are there?');
      if (c2.cached > 0) break;
      await sleep(100);
    }
    const c2cold = await chat('How many words are there?', { cache_prompt: false });
    assert.ok(c2.cached >= doc.length, `chat cached ${c2.cached}, document ${doc.length} chars`);
    assert.equal(c2.text, c2cold.text);

    const { samples } = await scrape(server);
    assert.ok(metricSum(samples, 'goldfinch_cache_hits_total') >= 3);
    assert.ok(metricSum(samples, 'goldfinch_cache_snapshots_stored_total') > 0);
    assert.ok(metricSum(samples, 'goldfinch_cache_misses_total', { reason: 'disabled' }) >= 3);
  } finally {
    await server.stopAndExpectCleanExit();
  }
});

test('isolation: tenant B never sees tenant A\'s entries; A then A hits; cache_salt narrows', async () => {
  const keyFile = join(root, 'keys.txt');
  writeFileSync(keyFile, 'key-tenant-a-1234 team-a\nkey-tenant-b-5678 team-b\n', { mode: 0o600 });
  const server = await startServer({ args: ['--api-key-file', keyFile, '--cache-dir', join(root, 'iso')] });
  try {
    const a = server.client({ apiKey: 'key-tenant-a-1234' });
    const b = server.client({ apiKey: 'key-tenant-b-5678' });
    const prompt = `${documentText(3, 400)}\nSummary:`;
    const a1 = await complete(a, prompt);
    assert.equal(a1.cached, 0);
    const a2 = await completeUntilCached(a, prompt);
    assert.ok(a2.cached > 0, 'A then A hits');
    const b1 = await complete(b, prompt);
    assert.equal(b1.cached, 0, 'B must not see A\'s prefix');
    assert.equal(b1.text, a1.text);
    const salted = await complete(a, prompt, { cache_salt: 'project-x' });
    assert.equal(salted.cached, 0, 'a client cache_salt narrows sharing');
    const b2 = await completeUntilCached(b, prompt);
    assert.ok(b2.cached > 0, 'B then B hits its own entry');
  } finally {
    await server.stopAndExpectCleanExit();
  }
});

test('disk tier: entries survive a restart and give the same output', async () => {
  const dir = join(root, 'restart');
  const prompt = `${documentText(4, 700)}\nThe end:`;
  let cold;
  let server = await startServer({ args: ['--cache-dir', dir] });
  try {
    cold = await complete(server.client(), prompt, { cache_prompt: false });
    await complete(server.client(), prompt);
  } finally {
    await server.stopAndExpectCleanExit();  // the drain finishes queued cache writes
  }
  assert.ok(recordFiles(dir).length > 0, 'records on disk');
  server = await startServer({ args: ['--cache-dir', dir] });
  try {
    const warm = await complete(server.client(), prompt);
    assert.equal(warm.cached, warm.usage.prompt_tokens - 1);
    assert.equal(warm.text, cold.text);
    const { samples } = await scrape(server);
    assert.equal(metricSum(samples, 'goldfinch_cache_hits_total', { tier: 'disk' }), 1);
  } finally {
    await server.stopAndExpectCleanExit();
  }
});

test('crash safety: SIGKILL during cache writes, 20 rounds', async () => {
  const dir = join(root, 'crash');
  const env = { GOLDFINCH_CACHE_FAULT_DELAY_MS: '150' };
  const history = [];  // {prompt, text (uncached output)}
  let killedMidWrite = 0;
  for (let round = 0; round < 20; ++round) {
    const server = await startServer({ args: ['--cache-dir', dir], env });
    try {
      assert.deepEqual(tempFiles(dir), [], `round ${round}: temp files left after start-up`);
      // Every earlier prompt: whatever the cache holds must give the uncached output.
      const client = server.client();
      for (const h of history.slice(-4)) {
        const r = await complete(client, h.prompt);
        assert.equal(r.text, h.text, `round ${round}: cached output differs (cached ${r.cached})`);
      }
      const prompt = `${documentText(100 + round, 300 + 10 * round)}\nNext:`;
      const cold = await complete(client, prompt, { cache_prompt: false });
      history.push({ prompt, text: cold.text });
      await complete(client, prompt);  // its snapshots are written in the background
      await sleep((round * 37) % 120);
      server.kill();
      await server.exited;
      if (tempFiles(dir).length > 0) ++killedMidWrite;
    } finally {
      server.kill();
    }
  }
  // The kill landed inside a write (a temp file existed) in a good share of the rounds.
  assert.ok(killedMidWrite >= 5, `only ${killedMidWrite} kills landed mid-write`);
  const server = await startServer({ args: ['--cache-dir', dir] });
  try {
    assert.deepEqual(tempFiles(dir), []);
    let hits = 0;
    for (const h of history) {
      const r = await complete(server.client(), h.prompt);
      assert.equal(r.text, h.text);
      if (r.cached > 0) ++hits;
    }
    assert.ok(hits > 0, 'some entries survived the crashes');
  } finally {
    await server.stopAndExpectCleanExit();
  }
});

for (const [name, damage] of [
  ['flipped bit', (path) => {
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] ^= 0x10;
    writeFileSync(path, bytes);
  }],
  ['truncation', (path) => truncateSync(path, Math.floor(statSync(path).size * 0.7))],
  ['zero fill', (path) => writeFileSync(path, Buffer.alloc(statSync(path).size))],
]) {
  test(`corruption (${name}): detected, deleted, counted, never served`, async () => {
    const dir = join(root, `corrupt-${name.replace(' ', '-')}`);
    const prompt = `${documentText(7, 500)}\nAnswer:`;
    let server = await startServer({ args: ['--cache-dir', dir] });
    let cold;
    try {
      cold = await complete(server.client(), prompt, { cache_prompt: false });
      await complete(server.client(), prompt);
    } finally {
      await server.stopAndExpectCleanExit();
    }
    const files = recordFiles(dir);
    assert.ok(files.length >= 2, `records on disk: ${files.length}`);
    const damaged = new Map();  // file -> damaged bytes
    for (const f of files) {
      damage(join(dir, f));
      damaged.set(f, readFileSync(join(dir, f)));
    }
    server = await startServer({ args: ['--cache-dir', dir] });
    try {
      const r = await complete(server.client(), prompt);
      assert.equal(r.cached, 0, 'a damaged record must never be served');
      assert.equal(r.text, cold.text);
      const { samples } = await scrape(server);
      assert.ok(metricSum(samples, 'goldfinch_cache_corrupt_records_total', { tier: 'disk' }) >= 1);
      assert.ok(metricSum(samples, 'goldfinch_cache_misses_total', { reason: 'corrupt' }) >= 1);
      // The damaged records that were read are gone: deleted, or (the same prompt is stored
      // again in the background under the same keys) replaced by a good record.
      const left = new Set(recordFiles(dir));
      const gone = files.filter((f) => !left.has(f) || !readFileSync(join(dir, f)).equals(damaged.get(f)));
      assert.ok(gone.length >= 1, 'corrupt records deleted');
    } finally {
      await server.stopAndExpectCleanExit();
    }
  });
}
