// Admission control: with --max-running 1 --max-waiting 2, twelve requests fired at once (raw
// fetch: the SDK would retry 429s) are either admitted and complete with 200, or rejected at
// once with 429, a Retry-After header and an OpenAI error body. Rejections are counted in
// goldfinch_rejected_requests_total, and the server is idle and healthy afterwards. The server
// runs with --log-format json: every stdout line is a JSON object, requests are logged with
// their status and request id, and no prompt text reaches the log.
//
// Long generations must not end early at end-of-text (id 0): they use greedy prompts whose
// continuation runs past max_tokens on the built-in model (checked with `goldfinch generate`),
// ban id 0 with logit_bias {"0": -100} (NO_EOS), and also send the vLLM extension ignore_eos.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL_ID, NO_EOS } from './lib/server.mjs';
import { scrape, metricSum, waitFor } from './lib/util.mjs';

let server;
before(async () => {
  server = await startServer({ args: ['--max-running', '1', '--max-waiting', '2', '--log-format', 'json'] });
});
after(async () => { if (server) await server.stopAndExpectCleanExit(); });

const MAX_TOKENS = 64;

async function fire(i, stream) {
  const t0 = Date.now();
  const body = { model: MODEL_ID, prompt: `Request number ${i} says`, max_tokens: MAX_TOKENS, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 };
  if (stream) body.stream = true;
  const res = await server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs: 120_000,
  });
  const headersAt = Date.now() - t0;
  const text = await res.text();
  return { i, stream, status: res.status, retryAfter: res.headers.get('retry-after'), contentType: res.headers.get('content-type'), text, headersAt, ms: Date.now() - t0 };
}

test('queue full -> 429 with Retry-After; admitted requests complete', { timeout: 180_000 }, async () => {
  const before = (await scrape(server)).samples;
  const rejectedBefore = metricSum(before, 'goldfinch_rejected_requests_total') ?? 0;
  const results = await Promise.all(Array.from({ length: 12 }, (_, i) => fire(i, i % 3 === 2)));

  const ok = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  const other = results.filter((r) => r.status !== 200 && r.status !== 429);
  assert.deepEqual(other.map((r) => `${r.status} ${r.text.slice(0, 200)}`), [], 'only 200 or 429');
  assert.ok(limited.length >= 1, `some requests were rejected (statuses: ${results.map((r) => r.status)})`);
  // Two always fit in the waiting queue; the third fits when the first has already been moved to
  // running by the engine when it arrives (usually, but timing-dependent).
  assert.ok(ok.length >= 2, `at least max-waiting = 2 were admitted (got ${ok.length})`);

  for (const r of limited) {
    assert.ok(r.retryAfter !== null, `#${r.i}: 429 has Retry-After`);
    assert.match(r.retryAfter, /^\d+$/, `#${r.i}: Retry-After is delay-seconds (${r.retryAfter})`);
    const j = JSON.parse(r.text);
    assert.equal(typeof j.error?.message, 'string', `#${r.i}: OpenAI error body`);
    assert.ok('type' in j.error && 'param' in j.error && 'code' in j.error, `#${r.i}: error has type/param/code: ${r.text}`);
    assert.ok(r.ms < 5000, `#${r.i}: rejected promptly (${r.ms} ms)`);
  }
  for (const r of ok) {
    if (r.stream) {
      assert.match(r.contentType ?? '', /^text\/event-stream/);
      assert.ok(r.text.trimEnd().endsWith('data: [DONE]'), `#${r.i}: stream completed`);
      const texts = r.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
      const fin = texts.flatMap((e) => e.choices).find((c) => c.finish_reason);
      assert.equal(fin?.finish_reason, 'length', `#${r.i}: ran to max_tokens`);
    } else {
      const j = JSON.parse(r.text);
      assert.equal(j.choices[0].finish_reason, 'length', `#${r.i}`);
      assert.equal(j.usage.completion_tokens, MAX_TOKENS, `#${r.i}`);
    }
  }

  const after = await waitFor(async () => {
    const s = (await scrape(server)).samples;
    return metricSum(s, 'goldfinch_num_requests_running') === 0 && metricSum(s, 'goldfinch_num_requests_waiting') === 0 ? s : null;
  }, { timeoutMs: 5000, message: 'running and waiting back to 0' });
  assert.equal((metricSum(after, 'goldfinch_rejected_requests_total') ?? 0) - rejectedBefore, limited.length,
    'goldfinch_rejected_requests_total counts every 429');

  // Healthy afterwards: a request goes through at once.
  const again = await fire(99, false);
  assert.equal(again.status, 200, again.text);
  assert.equal((await server.get('/ready')).status, 200, '/ready does not flap on queue depth');
});

test('a request arriving while 1 runs and 2 wait is rejected with 429', { timeout: 120_000 }, async () => {
  // Three long requests fill the 1 running + 2 waiting slots; a fourth must see 429 at once.
  const long = (i) => server.fetch('/v1/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_ID, prompt: `Long story number ${i}`, max_tokens: 250, ignore_eos: true, logit_bias: NO_EOS, temperature: 0 }), timeoutMs: 120_000,
  }).then((r) => r.text().then((t) => ({ status: r.status, t })));
  const gauges = async () => {
    const s = (await scrape(server)).samples;
    return [metricSum(s, 'goldfinch_num_requests_running'), metricSum(s, 'goldfinch_num_requests_waiting')];
  };
  const busy = [long(1)];
  await waitFor(async () => (await gauges())[0] === 1, { timeoutMs: 10_000, intervalMs: 20, message: 'the first request running' });
  busy.push(long(2), long(3));
  await waitFor(async () => {
    const [running, waiting] = await gauges();
    return running === 1 && waiting === 2;
  }, { timeoutMs: 10_000, intervalMs: 20, message: '1 running and 2 waiting' });
  const r = await fire(100, false);
  assert.equal(r.status, 429, r.text);
  const j = JSON.parse(r.text);
  assert.equal(typeof j.error.message, 'string');
  const done = await Promise.all(busy);
  assert.deepEqual(done.map((d) => d.status), [200, 200, 200]);
});

test('--log-format json: one JSON object per stdout line, request lines, no prompt text', async () => {
  const lines = server.stdoutLines();
  assert.ok(lines.length > 0);
  const records = [];
  for (const line of lines) {
    let rec;
    try { rec = JSON.parse(line); } catch { assert.fail(`stdout line is not JSON: ${line.slice(0, 300)}`); }
    assert.equal(typeof rec.ts, 'string', line);
    assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, `RFC 3339 ts: ${line}`);
    assert.equal(typeof rec.level, 'string', line);
    assert.equal(typeof rec.msg, 'string', line);
    records.push(rec);
  }
  assert.ok(records.some((r) => /listening on http:\/\/127\.0\.0\.1:\d+/.test(r.msg)), 'the listening line is logged as JSON');
  const reqs = records.filter((r) => r.route === '/v1/completions');
  assert.ok(reqs.some((r) => r.status === 200 && typeof r.request_id === 'string' && r.request_id.length > 0), 'a 200 request line with request_id');
  assert.ok(reqs.some((r) => r.status === 429), 'a 429 request line');
  for (const line of lines) {
    assert.ok(!line.includes('Request number') && !line.includes('Long story number'), `prompt text in the log: ${line.slice(0, 300)}`);
  }
});
