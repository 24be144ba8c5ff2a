// SIGTERM drains: with a long streaming request in flight, SIGTERM makes /ready answer 503 (or
// the port stop accepting), refuses new work, lets the running stream finish with every token
// and [DONE], and the process exits 0. Past --shutdown-timeout, unfinished requests are cut: a
// stream gets an error event then [DONE] (the SDK raises APIError), a non-streaming one 503.
//
// Long generations must not end early at end-of-text (id 0): they use greedy prompts whose
// continuation runs past max_tokens on the built-in model (checked with `goldfinch generate`),
// ban id 0 with logit_bias {"0": -100} (NO_EOS), and also send the vLLM extension ignore_eos.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, MODEL_ID, sleep, NO_EOS } from './lib/server.mjs';
import { readSSEStream } from './lib/util.mjs';

let server;
after(() => { server?.kill(); });  // only reached with a live process when the test failed

// GET /ready -> status number, or 'refused' when nothing accepts connections any more.
async function readyState() {
  try {
    const res = await server.fetch('/ready', { timeoutMs: 2000 });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    return 'refused';
  }
}

test('SIGTERM: /ready 503, running stream completes, new work refused, exit 0', { timeout: 120_000 }, async () => {
  server = await startServer({ args: ['--shutdown-timeout', '60'] });
  const MAX = 400;
  const res = await server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, timeoutMs: 100_000,
    body: JSON.stringify({ model: MODEL_ID, prompt: 'And it came to pass', max_tokens: MAX, ignore_eos: true, logit_bias: NO_EOS, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  assert.equal(res.status, 200);

  let chunks = 0;
  let afterSignal = 0;
  let signalled = false;
  let usage = null;
  let finish = null;
  let done = false;
  const observations = [];
  let readyProbe = null;
  const body = readSSEStream(res, async (payload) => {
    if (payload === '[DONE]') { done = true; return; }
    const e = JSON.parse(payload);
    assert.ok(!e.error, `no mid-stream error: ${payload}`);
    if (e.usage) usage = e.usage;
    for (const ch of e.choices) {
      chunks++;
      if (signalled) afterSignal++;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    if (chunks === 3 && !signalled) {
      signalled = true;
      server.signal('SIGTERM');
      // Probe readiness while the stream keeps going (not awaited here: this callback must
      // return so the stream keeps being read).
      readyProbe = (async () => {
        const t0 = Date.now();
        for (;;) {
          const st = await readyState();
          observations.push(st);
          if (st === 503 || st === 'refused') return { st, ms: Date.now() - t0, streamDoneAt: done };
          if (Date.now() - t0 > 3000) return { st, ms: Date.now() - t0, streamDoneAt: done };
          await sleep(50);
        }
      })();
    }
  });
  await body;
  assert.ok(signalled, 'SIGTERM was sent mid-stream');
  const probe = await readyProbe;
  assert.ok(probe.st === 503 || probe.st === 'refused', `/ready after SIGTERM: ${observations.join(',')}`);
  assert.ok(probe.ms <= 3000, `/ready went unready within 3 s (${probe.ms} ms)`);
  assert.ok(!probe.streamDoneAt, 'readiness dropped while the stream was still running');
  assert.ok(done, 'the stream ended with [DONE]');
  assert.equal(finish, 'length', 'the running request finished normally');
  assert.equal(usage?.completion_tokens, MAX, 'all tokens were generated');
  assert.ok(afterSignal > 10, `the stream kept producing after SIGTERM (${afterSignal} chunks)`);

  const info = await server.waitExit({ timeoutMs: 30_000 });
  assert.equal(info.code, 0, `exit code after SIGTERM drain (signal ${info.signal})\n${server.logTail()}`);
});

test('SIGTERM while idle exits 0 promptly', { timeout: 60_000 }, async () => {
  server = await startServer();
  const t0 = Date.now();
  const info = await server.stop({ timeoutMs: 15_000 });
  assert.equal(info.code, 0, server.logTail());
  assert.ok(Date.now() - t0 < 10_000, `idle shutdown took ${Date.now() - t0} ms`);
});

test('new requests during the drain are refused (503 + Retry-After or connection refused)', { timeout: 120_000 }, async () => {
  server = await startServer({ args: ['--shutdown-timeout', '60'] });
  const long = server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, timeoutMs: 100_000,
    body: JSON.stringify({ model: MODEL_ID, prompt: 'The Lord said', max_tokens: 500, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 }),
  }).then(async (r) => ({ status: r.status, json: await r.json() }));
  await sleep(300);
  server.signal('SIGTERM');
  await sleep(200);
  let refused;
  try {
    const r = await server.fetch('/v1/completions', {
      method: 'POST', headers: { 'content-type': 'application/json' }, timeoutMs: 10_000,
      body: JSON.stringify({ model: MODEL_ID, prompt: 'Hi', max_tokens: 2 }),
    });
    const text = await r.text();
    refused = { status: r.status, retryAfter: r.headers.get('retry-after'), text };
  } catch {
    refused = { status: 'refused' };
  }
  if (refused.status !== 'refused') {
    assert.equal(refused.status, 503, `new request during drain: ${JSON.stringify(refused)}`);
    assert.ok(refused.retryAfter !== null, '503 carries Retry-After');
    assert.equal(typeof JSON.parse(refused.text).error.message, 'string');
  }
  const r = await long;
  assert.equal(r.status, 200);
  assert.equal(r.json.usage.completion_tokens, 500, 'the in-flight non-streaming request completed');
  const info = await server.waitExit({ timeoutMs: 30_000 });
  assert.equal(info.code, 0, server.logTail());
});

test('past --shutdown-timeout unfinished requests are cancelled: stream error event + [DONE], 503, exit 0', { timeout: 120_000 }, async () => {
  server = await startServer({ args: ['--shutdown-timeout', '1'] });
  const client = server.client();
  const long = { model: MODEL_ID, max_tokens: 20_000, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 };
  const stream = await client.completions.create({ ...long, prompt: 'And it came to pass', stream: true });
  const plain = server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, timeoutMs: 60_000,
    body: JSON.stringify({ ...long, prompt: 'The Lord said' }),
  }).then(async (r) => ({ status: r.status, text: await r.text() }));
  let chunks = 0;
  let streamError = null;
  const t0 = Date.now();
  try {
    for await (const chunk of stream) {
      chunks += chunk.choices.length;
      if (chunks === 3) server.signal('SIGTERM');
    }
  } catch (e) {
    streamError = e;
  }
  // The SDK turns a mid-stream {"error": ...} event into an APIError.
  assert.ok(streamError instanceof OpenAI.APIError, `the cut stream raises APIError (got ${streamError})`);
  assert.ok(Date.now() - t0 < 20_000, 'cancelled around the shutdown timeout, not run to max_tokens');
  const p = await plain;
  assert.equal(p.status, 503, p.text.slice(0, 300));
  assert.equal(typeof JSON.parse(p.text).error.message, 'string');
  const info = await server.waitExit({ timeoutMs: 30_000 });
  assert.equal(info.code, 0, server.logTail());
});
