// Server-sent-event framing seen on the wire (raw fetch, no SDK): content type, "data: " lines,
// ":" comments, one [DONE] at the end, one id per stream, the chat role delta, include_usage,
// and valid UTF-8 in every event even when sampling random bytes from the byte model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL_ID, NO_EOS } from './lib/server.mjs';
import { parseSSE } from './lib/util.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { if (server) await server.stopAndExpectCleanExit(); });

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

async function streamRaw(path, body) {
  const res = await server.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  let text;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    assert.fail(`${path}: the SSE body is not valid UTF-8`);
  }
  return { res, text, sse: parseSSE(text) };
}

function assertWellFormed(sse, text) {
  assert.deepEqual(sse.problems, [], `SSE problems; body starts: ${JSON.stringify(text.slice(0, 300))}`);
  assert.ok(sse.done, 'ends with data: [DONE]');
  for (const c of sse.comments) assert.ok(c.startsWith(':'));
}

test('completions stream: text/event-stream, data lines, one id, [DONE] last', async () => {
  const { res, text, sse } = await streamRaw('/v1/completions', { model: MODEL_ID, prompt: 'And it came to pass', max_tokens: 12, temperature: 0, stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assertWellFormed(sse, text);
  assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the last event is [DONE]');
  assert.ok(sse.events.length >= 2);
  const ids = new Set(sse.events.map((e) => e.id));
  assert.equal(ids.size, 1, 'one id');
  const created = new Set(sse.events.map((e) => e.created));
  assert.equal(created.size, 1, 'one created');
  let finishes = 0;
  for (const e of sse.events) {
    assert.equal(e.object, 'text_completion');
    assert.equal(e.model, MODEL_ID);
    assert.equal(e.usage ?? null, null);
    for (const ch of e.choices) {
      assert.equal(ch.index, 0);
      assert.equal(typeof ch.text, 'string');
      if (ch.finish_reason) finishes++;
    }
  }
  assert.equal(finishes, 1, 'exactly one chunk carries finish_reason');
  const last = sse.events[sse.events.length - 1];
  assert.ok(last.choices[0]?.finish_reason, 'the last chunk carries finish_reason');
});

test('chat stream: first delta is {role: assistant}, chunk object, finish on the last chunk', async () => {
  const { res, text, sse } = await streamRaw('/v1/chat/completions', {
    model: MODEL_ID, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello!' }], max_tokens: 10, temperature: 0, stream: true,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  assertWellFormed(sse, text);
  const first = sse.events[0];
  assert.equal(first.object, 'chat.completion.chunk');
  assert.equal(first.choices[0].delta.role, 'assistant', 'first delta has role assistant');
  assert.ok(first.choices[0].delta.content === '' || first.choices[0].delta.content === undefined || typeof first.choices[0].delta.content === 'string');
  assert.equal(new Set(sse.events.map((e) => e.id)).size, 1);
  let finished = false;
  for (const e of sse.events) {
    assert.equal(e.object, 'chat.completion.chunk');
    for (const ch of e.choices) {
      assert.ok(!finished, 'no chunk for a choice after its finish_reason');
      if (ch.finish_reason) {
        assert.ok(['stop', 'length'].includes(ch.finish_reason));
        finished = true;
      }
    }
  }
  assert.ok(finished);
});

test('chat stream with include_usage: usage chunk last (choices []), null usage before', async () => {
  const { text, sse } = await streamRaw('/v1/chat/completions', {
    model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, stream: true, stream_options: { include_usage: true },
  });
  assertWellFormed(sse, text);
  const last = sse.events[sse.events.length - 1];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  assert.equal(last.usage.prompt_tokens_details.cached_tokens, 0);
  for (const e of sse.events.slice(0, -1)) {
    assert.ok(!('usage' in e) || e.usage === null, 'usage is null or absent on content chunks');
  }
});

test('sampled random bytes never produce invalid UTF-8 in events (stream and non-stream)', async () => {
  for (const seed of [1, 2, 3]) {
    const body = { model: MODEL_ID, prompt: [200, 196, 240, 160], max_tokens: 160, temperature: 1.8, seed, ignore_eos: true, logit_bias: NO_EOS };
    const { res, text, sse } = await streamRaw('/v1/completions', { ...body, stream: true });
    assert.equal(res.status, 200);
    assertWellFormed(sse, text);
    const streamed = sse.events.flatMap((e) => e.choices.map((c) => c.text)).join('');
    const plain = await server.fetch('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bytes = new Uint8Array(await plain.arrayBuffer());
    const json = JSON.parse(strictUtf8.decode(bytes));
    assert.equal(plain.status, 200);
    assert.equal(json.usage.completion_tokens, 160, `seed ${seed}: end-of-text is banned, all tokens generated`);
    assert.equal(json.choices[0].text, streamed, `seed ${seed}: same seed, same text streamed or not`);
  }
});

test('a bad streaming request gets a JSON error, not an event stream', async () => {
  const res = await server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_ID, prompt: 'Hi', stream: true, temperature: -3 }),
  });
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const j = await res.json();
  assert.equal(j.error.param, 'temperature');
});
