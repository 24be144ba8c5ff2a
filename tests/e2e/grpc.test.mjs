// The gRPC API (goldfinch.v1.Inference, grpc.health.v1, reflection v1alpha) of
// `goldfinch serve --grpc-port N`, driven by @grpc/grpc-js + @grpc/proto-loader with our proto
// and Debian's grpc-proto health/reflection protos:
// - Generate streams (text, token ids, chat), and greedy output equals the HTTP API's;
//   logprobs/echo agree with HTTP's; Tokenize, Detokenize, ListModels agree with HTTP's.
// - Errors: INVALID_ARGUMENT whose message starts with the field path, NOT_FOUND for an unknown
//   model, DEADLINE_EXCEEDED and client cancel mid-generation take the sequence out of the batch
//   (goldfinch_num_requests_running back to 0 within 2 s); a request over the 16 MiB message
//   limit gets RESOURCE_EXHAUSTED.
// - Health Check/Watch (NOT_SERVING on the Watch during a SIGTERM drain while a running stream
//   completes; exit 0), reflection list_services, API keys as "authorization: Bearer KEY"
//   metadata (health and reflection public), 16 gRPC + 16 HTTP streams at once.
//
// Byte model facts: token id = byte + 1, vocabulary 257 (id 0 = <|endoftext|>). Long
// generations ban id 0 with logit_bias {0: -100} and set ignore_eos, so they run to max_tokens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, MODEL_ID, NO_EOS, sleep, hasGrpcPortOption, goldfinchBin } from './lib/server.mjs';
import { scrape, metricSum, runningRequests, waitFor } from './lib/util.mjs';
import {
  Inference, Health, Reflection, Status, optionalMissing, makeClient, closeAllClients, authMetadata,
  unary, unaryError, generate, generateAll, generateError, startGrpcServer,
} from './lib/grpc.mjs';

const GRPC_BUILT = hasGrpcPortOption(goldfinchBin());
const NO_GRPC = GRPC_BUILT ? false : `${goldfinchBin()} serve has no --grpc-port (built without gRPC)`;
const NO_OPTIONAL = NO_GRPC || optionalMissing || false;

const PROMPT = 'And it came to pass';
const LONG = { max_tokens: 4000, ignore_eos: true, sampling: { temperature: 0, logit_bias: NO_EOS } };

let server;   // the shared server (gRPC on server.grpcPort)
let inf;      // Inference client
before(async () => {
  if (NO_GRPC) return;
  server = await startGrpcServer({ args: ['--max-running', '32', '--max-waiting', '64'] });
  inf = makeClient(Inference, server.grpcPort);
});
after(async () => {
  closeAllClients();
  if (server) await server.stopAndExpectCleanExit();
});

const FINISH = { stop: 'FINISH_REASON_STOP', length: 'FINISH_REASON_LENGTH' };

async function httpTokenize(srv, text) {
  const r = await srv.post('/tokenize', { prompt: text });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function httpCompletion(srv, body) {
  const r = await srv.post('/v1/completions', { model: MODEL_ID, temperature: 0, ...body });
  assert.equal(r.status, 200, r.text);
  const ch = r.json.choices[0];
  return { text: ch.text, finish: FINISH[ch.finish_reason], tokens: r.json.usage.completion_tokens, json: r.json };
}

// Asserts the stream-level invariants of a finished Generate and returns its summary.
function checkStream(r, { maxTokens, promptTokens }) {
  assert.ok(r.messages.length >= 1);
  const last = r.messages.length - 1;
  r.messages.forEach((m, i) => {
    if (i < last) {
      assert.equal(m.finish_reason, 'FINISH_REASON_UNSPECIFIED', `message ${i} has no finish_reason`);
      assert.equal(m.usage, null, `message ${i} has no usage`);
    }
    if (i > 0) assert.equal(m.request_id, '', `message ${i} carries no request_id`);
  });
  assert.ok(['FINISH_REASON_STOP', 'FINISH_REASON_LENGTH'].includes(r.finish), `finish ${r.finish}`);
  assert.ok(r.usage, 'the last message carries the usage');
  assert.equal(r.usage.completion_tokens, r.tokens.length, 'usage.completion_tokens = tokens streamed');
  if (promptTokens !== undefined) assert.equal(r.usage.prompt_tokens, promptTokens, 'usage.prompt_tokens');
  // The prefix cache is on: a prompt sent before (over HTTP or gRPC) may be partly restored.
  assert.ok(Number.isInteger(r.usage.cached_tokens) && r.usage.cached_tokens >= 0);
  assert.ok(r.usage.cached_tokens < r.usage.prompt_tokens, 'at least one prompt token is run');
  if (r.finish === 'FINISH_REASON_LENGTH') assert.equal(r.tokens.length, maxTokens, 'length finish uses max_tokens');
  else assert.ok(r.tokens.length <= maxTokens);
  for (const t of r.tokens) assert.ok(Number.isInteger(t.id) && t.id >= 0 && t.id < 257, `token id ${t.id}`);
  return r;
}

test('Generate streams text input: tokens, bytes, text, request id and usage agree', { skip: NO_GRPC }, async () => {
  const tok = await httpTokenize(server, PROMPT);
  const r = checkStream(await generateAll(inf, {
    model: MODEL_ID, text: PROMPT, max_tokens: 30, sampling: { temperature: 0 }, request_id: 'grpc-e2e.stream-1',
  }), { maxTokens: 30, promptTokens: tok.count });
  assert.equal(r.requestId, 'grpc-e2e.stream-1', 'the first message echoes request_id');
  assert.ok(r.messages.length >= 5, `streamed in pieces (${r.messages.length} messages for 30 tokens)`);
  assert.equal(r.finish, 'FINISH_REASON_LENGTH');
  // Byte model: every token is one byte, the bytes are the text (no stop strings here).
  const bytes = Buffer.concat(r.tokens.map((t) => t.token));
  assert.equal(bytes.length, 30);
  assert.equal(bytes.toString('utf8'), r.text);
  for (const t of r.tokens) assert.equal(t.id, t.token[0] + 1, 'byte model: id = byte + 1');
  // Without logprobs, no logprob fields.
  for (const t of r.tokens) { assert.equal(t.logprob ?? null, null); assert.deepEqual(t.top_logprobs, []); }

  // Empty model = the served model; no request_id = a server-generated one.
  const r2 = await generateAll(inf, { text: PROMPT, max_tokens: 30, sampling: { temperature: 0 } });
  assert.equal(r2.text, r.text);
  assert.match(r2.requestId, /^[A-Za-z0-9._:-]{1,128}$/, `generated request id ${r2.requestId}`);
});

test('Generate streams token-id input; same output as the same prompt as text', { skip: NO_GRPC }, async () => {
  const { token_ids: ids, max_model_len: maxLen } = await unary(inf, 'Tokenize', { model: MODEL_ID, text: PROMPT });
  assert.ok(maxLen > 0);
  const byIds = checkStream(await generateAll(inf, { model: MODEL_ID, tokens: { ids }, max_tokens: 25, sampling: { temperature: 0 } }),
    { maxTokens: 25, promptTokens: ids.length });
  const byText = await generateAll(inf, { model: MODEL_ID, text: PROMPT, max_tokens: 25, sampling: { temperature: 0 } });
  assert.deepEqual(byIds.ids, byText.ids);
  assert.equal(byIds.text, byText.text);
  assert.ok(byIds.text.length > 0);
  // Detokenize(generated ids) is the streamed text.
  const { text } = await unary(inf, 'Detokenize', { token_ids: byIds.ids });
  assert.equal(text, byIds.text);
});

test('greedy Generate equals HTTP /v1/completions and /v1/chat/completions (text, token count, finish)', { skip: NO_GRPC }, async () => {
  const cases = [
    { prompt: PROMPT, max_tokens: 40 },
    { prompt: 'The Lord said unto', max_tokens: 33 },
    { prompt: 'Q: Why is the sky blue?\nA:', max_tokens: 48 },
    { prompt: PROMPT, max_tokens: 60, stop: ['the'] },
  ];
  for (const c of cases) {
    const http = await httpCompletion(server, c);
    const g = checkStream(await generateAll(inf, {
      model: MODEL_ID, text: c.prompt, max_tokens: c.max_tokens, stop: c.stop ?? [], sampling: { temperature: 0 },
    }), { maxTokens: c.max_tokens, promptTokens: http.json.usage.prompt_tokens });
    const what = JSON.stringify(c);
    assert.equal(g.text, http.text, `text for ${what}`);
    assert.equal(g.usage.completion_tokens, http.tokens, `completion tokens for ${what}`);
    assert.equal(g.finish, http.finish, `finish for ${what}`);
  }
  // The stop case did stop (so the comparison covered stop strings).
  const stopped = await httpCompletion(server, cases[3]);
  assert.equal(stopped.finish, 'FINISH_REASON_STOP', `the stop case stops: ${JSON.stringify(stopped.text)}`);

  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Who was Moses?' }];
  const r = await server.post('/v1/chat/completions', { model: MODEL_ID, messages, max_tokens: 24, temperature: 0 });
  assert.equal(r.status, 200, r.text);
  const g = checkStream(await generateAll(inf, { model: MODEL_ID, chat: { messages }, max_tokens: 24, sampling: { temperature: 0 } }),
    { maxTokens: 24, promptTokens: r.json.usage.prompt_tokens });
  assert.equal(g.text, r.json.choices[0].message.content, 'chat text');
  assert.equal(g.usage.completion_tokens, r.json.usage.completion_tokens, 'chat completion tokens');
  assert.equal(g.finish, FINISH[r.json.choices[0].finish_reason], 'chat finish');
});

test('logprobs + echo agree with HTTP completions logprobs', { skip: NO_GRPC }, async () => {
  const prompt = 'In the beginning';
  const http = await httpCompletion(server, { prompt, max_tokens: 5, echo: true, logprobs: 3 });
  const lp = http.json.choices[0].logprobs;
  const g = await generateAll(inf, { model: MODEL_ID, text: prompt, max_tokens: 5, sampling: { temperature: 0 }, logprobs: true, top_logprobs: 3, echo: true });
  const promptTokens = g.messages[0].prompt;
  assert.equal(promptTokens.length, prompt.length, 'first message echoes every prompt token');
  g.messages.slice(1).forEach((m, i) => assert.deepEqual(m.prompt, [], `message ${i + 1} has no prompt`));
  assert.equal(Buffer.concat(promptTokens.map((p) => p.token)).toString(), prompt);
  assert.equal(promptTokens[0].logprob ?? null, null, 'the first prompt token has no logprob');
  const grpcLogprobs = [...promptTokens.map((p) => p.logprob ?? null), ...g.tokens.map((t) => t.logprob)];
  assert.equal(grpcLogprobs.length, lp.token_logprobs.length);
  grpcLogprobs.forEach((v, i) => {
    if (i === 0) return;
    assert.ok(Math.abs(v - lp.token_logprobs[i]) < 1e-4, `logprob ${i}: grpc ${v} http ${lp.token_logprobs[i]}`);
  });
  for (const t of g.tokens) {
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].id, t.id, 'greedy token is the most likely one');
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-5);
    for (let k = 1; k < 3; k++) assert.ok(t.top_logprobs[k].logprob <= t.top_logprobs[k - 1].logprob, 'best first');
  }
  assert.equal(g.text, http.text.slice(prompt.length), 'echo does not change the generated text');
});

test('Tokenize, Detokenize and ListModels agree with the HTTP routes', { skip: NO_GRPC }, async () => {
  for (const text of [PROMPT, 'héllo <|endoftext|> wörld']) {
    const h = await httpTokenize(server, text);
    const g = await unary(inf, 'Tokenize', { model: MODEL_ID, text });
    assert.deepEqual(g.token_ids, h.tokens, `Tokenize(${JSON.stringify(text)})`);
    assert.equal(g.max_model_len, h.max_model_len);
    assert.ok(!g.token_ids.includes(0), 'user text never yields <|endoftext|>');
    const back = await unary(inf, 'Detokenize', { token_ids: g.token_ids });
    assert.equal(back.text, text, 'Detokenize(Tokenize(text)) = text');
  }
  // Empty text is refused, as by POST /tokenize.
  const empty = await unaryError(inf, 'Tokenize', { text: '' });
  assert.equal(empty.code, Status.INVALID_ARGUMENT, `${Status[empty.code]} ${empty.details}`);
  assert.match(empty.details, /^text: /);
  assert.equal((await server.post('/tokenize', { prompt: '' })).status, 400);
  // Half a character (the first byte of "é" = 0xC3, id 0xC4) becomes U+FFFD, as over HTTP.
  const half = await unary(inf, 'Detokenize', { model: MODEL_ID, token_ids: [0x42, 0xc4] });
  const hHalf = await server.post('/detokenize', { tokens: [0x42, 0xc4] });
  assert.equal(half.text, 'A\uFFFD');
  assert.equal(half.text, hHalf.json.prompt);

  const { models } = await unary(inf, 'ListModels', {});
  const hm = (await server.get('/v1/models')).json.data;
  assert.equal(models.length, hm.length);
  assert.equal(models[0].id, MODEL_ID);
  assert.equal(Number(models[0].created), hm[0].created);
  assert.equal(models[0].owned_by, hm[0].owned_by);
  assert.equal(models[0].max_model_len, hm[0].max_model_len);
});

test('INVALID_ARGUMENT names the bad field first; nothing is streamed', { skip: NO_GRPC }, async () => {
  const base = { model: MODEL_ID, text: PROMPT, max_tokens: 4 };
  const cases = [
    [{ ...base, sampling: { temperature: 5 } }, 'sampling.temperature'],
    [{ ...base, sampling: { temperature: -0.5 } }, 'sampling.temperature'],
    [{ ...base, sampling: { top_p: 0 } }, 'sampling.top_p'],
    [{ ...base, sampling: { min_p: 1.5 } }, 'sampling.min_p'],
    [{ ...base, sampling: { presence_penalty: 3 } }, 'sampling.presence_penalty'],
    [{ ...base, sampling: { repetition_penalty: 0 } }, 'sampling.repetition_penalty'],
    [{ ...base, sampling: { logit_bias: { 999: 1 } } }, 'sampling.logit_bias'],
    [{ ...base, sampling: { logit_bias: { 5: 101 } } }, 'sampling.logit_bias'],
    [{ model: MODEL_ID, tokens: { ids: [66, 300] }, max_tokens: 4 }, 'tokens.ids'],
    [{ model: MODEL_ID, tokens: { ids: [66, -1] }, max_tokens: 4 }, 'tokens.ids'],
    [{ ...base, top_logprobs: 21, logprobs: true }, 'top_logprobs'],
    [{ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    [{ ...base, stop: ['x'.repeat(257)] }, 'stop'],
    [{ ...base, stop: [''] }, 'stop'],
    [{ ...base, top_logprobs: 2 }, 'top_logprobs'],
    [{ ...base, max_tokens: 40_000 }, 'max_tokens'],
    [{ model: MODEL_ID, chat: { messages: [] }, max_tokens: 4 }, 'chat.messages'],
    [{ model: MODEL_ID, chat: { messages: [{ role: 'wizard', content: 'hi' }] }, max_tokens: 4 }, 'chat.messages'],
    [{ ...base, request_id: 'bad id!' }, 'request_id'],
    [{ model: MODEL_ID, max_tokens: 4 }, 'input'],
  ];
  const problems = [];
  for (const [req, field] of cases) {
    const e = await generateError(inf, req);
    const what = `${JSON.stringify(req).slice(0, 120)} -> ${Status[e.code] ?? e.code} ${JSON.stringify(e.details)}`;
    if (e.code !== Status.INVALID_ARGUMENT) problems.push(`code: ${what}`);
    else if (field && !(e.details.startsWith(`${field}:`) || e.details.startsWith(`${field}[`) || e.details.startsWith(`${field}.`))) {
      problems.push(`message does not start with "${field}": ${what}`);
    }
    if (e.messages.length !== 0) problems.push(`${e.messages.length} messages streamed before the error: ${what}`);
  }
  const tokErr = await unaryError(inf, 'Detokenize', { model: MODEL_ID, token_ids: [66, 300] });
  if (tokErr.code !== Status.INVALID_ARGUMENT || !tokErr.details.startsWith('token_ids')) {
    problems.push(`Detokenize [66, 300] -> ${Status[tokErr.code]} ${JSON.stringify(tokErr.details)}`);
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('NOT_FOUND for an unknown model (Generate, Tokenize, Detokenize)', { skip: NO_GRPC }, async () => {
  const e = await generateError(inf, { model: 'no-such-model', text: PROMPT, max_tokens: 4 });
  assert.equal(e.code, Status.NOT_FOUND, `${Status[e.code]} ${e.details}`);
  assert.match(e.details, /^model\b/);
  assert.equal(e.messages.length, 0);
  for (const [method, req] of [['Tokenize', { model: 'no-such-model', text: 'x' }], ['Detokenize', { model: 'no-such-model', token_ids: [66] }]]) {
    const u = await unaryError(inf, method, req);
    assert.equal(u.code, Status.NOT_FOUND, `${method}: ${Status[u.code]} ${u.details}`);
    assert.match(u.details, /^model\b/);
  }
});

test('a request over the 16 MiB message limit -> RESOURCE_EXHAUSTED; the server still serves', { skip: NO_GRPC }, async () => {
  // The client's own send limit is unlimited by default, so the server's limit is what refuses it.
  const e = await generateError(inf, { model: MODEL_ID, text: 'a'.repeat(17 * 1024 * 1024), max_tokens: 2 });
  assert.equal(e.code, Status.RESOURCE_EXHAUSTED, `${Status[e.code]} ${e.details}`);
  assert.equal(e.messages.length, 0);
  const ok = await generateAll(inf, { text: 'Hi', max_tokens: 2 });
  assert.ok(ok.finish === 'FINISH_REASON_LENGTH' || ok.finish === 'FINISH_REASON_STOP');
});

// Runs a long greedy Generate that `stopIt(call, index)` ends after its first message; asserts
// the request was running then, and that it leaves the batch within 2 s (and that it did not
// run on to max_tokens).
async function stoppedMidGeneration({ deadlineMs, stopIt, expectCode }) {
  // A request that just finished may still count for a moment (the gauge follows engine steps).
  await waitFor(async () => (await runningRequests(server)) === 0, { timeoutMs: 2000, message: 'idle before' });
  const before = (await scrape(server)).samples;
  const genBefore = metricSum(before, 'goldfinch_generation_tokens_total') ?? 0;
  const callsLabel = { method: 'Generate', code: Status[expectCode] };
  const callsBefore = metricSum(before, 'goldfinch_grpc_requests_total', callsLabel) ?? 0;
  let runningSeen = null;
  let firstAt = null;
  const t0 = Date.now();
  const { result } = generate(inf, { model: MODEL_ID, text: PROMPT, ...LONG }, {
    deadlineMs,
    onMessage: (m, call, i) => {
      if (i !== 0) return;
      firstAt = Date.now() - t0;
      runningRequests(server).then((v) => { runningSeen = v; }, (e) => { runningSeen = e; })
        .finally(() => stopIt?.(call));
    },
  });
  const err = await result.then((r) => { throw new Error(`Generate completed (${r.tokens.length} tokens)`); }, (e) => e);
  assert.equal(err.code, expectCode, `${Status[err.code]}: ${err.details}`);
  assert.ok(err.messages.length >= 1, 'the call ended mid-generation (tokens had arrived)');
  await waitFor(() => runningSeen !== null, { timeoutMs: 2000, message: 'the metrics scrape' });
  assert.equal(runningSeen, 1, `goldfinch_num_requests_running while streaming (first message at ${firstAt} ms)`);
  const t1 = Date.now();
  await waitFor(async () => (await runningRequests(server)) === 0, {
    timeoutMs: 2000, intervalMs: 50, message: `goldfinch_num_requests_running == 0 after ${Status[expectCode]}`,
  });
  const idleMs = Date.now() - t1;
  await sleep(200);
  const after = (await scrape(server)).samples;
  const genAfter = metricSum(after, 'goldfinch_generation_tokens_total') ?? 0;
  assert.ok(genAfter - genBefore < 2000, `generation stopped (${genAfter - genBefore} tokens generated of 4000)`);
  assert.equal((metricSum(after, 'goldfinch_grpc_requests_total', callsLabel) ?? 0) - callsBefore, 1,
    `goldfinch_grpc_requests_total${JSON.stringify(callsLabel)} counted the call`);
  // The server still serves.
  const ok = await generateAll(inf, { text: 'Hi', max_tokens: 2 });
  assert.equal(ok.tokens.length <= 2, true);
  return { idleMs, streamed: err.messages.length };
}

test('a deadline passing mid-generation -> DEADLINE_EXCEEDED; the sequence leaves the batch within 2 s', { skip: NO_GRPC }, async (t) => {
  const r = await stoppedMidGeneration({ deadlineMs: 300, expectCode: Status.DEADLINE_EXCEEDED });
  t.diagnostic(`${r.streamed} messages before the deadline; idle ${r.idleMs} ms after it`);
});

test('client cancel after the first message -> CANCELLED; the sequence leaves the batch within 2 s', { skip: NO_GRPC }, async (t) => {
  const r = await stoppedMidGeneration({ deadlineMs: 60_000, stopIt: (call) => call.cancel(), expectCode: Status.CANCELLED });
  t.diagnostic(`${r.streamed} messages before the cancel; idle ${r.idleMs} ms after it`);
});

test('health Check: "" and goldfinch.v1.Inference SERVING, unknown service NOT_FOUND', { skip: NO_OPTIONAL }, async () => {
  const health = makeClient(Health, server.grpcPort);
  for (const service of ['', 'goldfinch.v1.Inference']) {
    const r = await unary(health, 'Check', { service });
    assert.equal(r.status, 'SERVING', `Check(${JSON.stringify(service)})`);
  }
  const e = await unaryError(health, 'Check', { service: 'no.such.Service' });
  assert.equal(e.code, Status.NOT_FOUND, `${Status[e.code]} ${e.details}`);
});

// ServerReflectionInfo: the given requests, then half-close; resolves with every response.
function reflect(client, requests, metadata = authMetadata()) {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo(metadata, { deadline: new Date(Date.now() + 20_000) });
    const responses = [];
    call.on('data', (m) => responses.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(responses));
    for (const r of requests) call.write(r);
    call.end();
  });
}

async function checkReflection(port, metadata) {
  const client = makeClient(Reflection, port);
  const [list, file] = await reflect(client, [
    { host: '', list_services: '' },
    { host: '', file_containing_symbol: 'goldfinch.v1.Inference' },
  ], metadata);
  assert.equal(list.message_response, 'list_services_response', JSON.stringify(list));
  const names = list.list_services_response.service.map((s) => s.name);
  for (const want of ['goldfinch.v1.Inference', 'grpc.health.v1.Health']) assert.ok(names.includes(want), `services: ${names}`);
  assert.equal(file.message_response, 'file_descriptor_response', JSON.stringify(file).slice(0, 300));
  const blobs = file.file_descriptor_response.file_descriptor_proto;
  assert.ok(blobs.some((b) => b.includes('goldfinch/v1/inference.proto') && b.includes('GenerateRequest')),
    'the descriptor of goldfinch/v1/inference.proto is served');
}

test('reflection v1alpha: list_services includes goldfinch.v1.Inference and grpc.health.v1.Health', { skip: NO_OPTIONAL }, async () => {
  await checkReflection(server.grpcPort);
});

test('16 gRPC streams + 16 HTTP streams at once all complete; greedy ones equal their solo results', { skip: NO_GRPC, timeout: 120_000 }, async (t) => {
  const BASES = ['And it came to pass', 'The Lord said unto', 'Q: Why is', 'In the beginning',
    'Fortune favors', 'A man who', 'Blessed are the', 'There is no'];
  const MAX = 24;
  const jobs = Array.from({ length: 32 }, (_, i) => ({
    i,
    grpc: i % 2 === 0,
    prompt: `${BASES[i % 8]}${' and then'.repeat(Math.floor(i / 8))}`,
    seeded: i % 4 === 3,   // sampled with a seed (and no end-of-text) instead of greedy
  }));
  const http = server.client();
  async function run(job) {
    if (job.grpc) {
      const sampling = job.seeded ? { temperature: 0.9, top_p: 0.95, seed: String(100 + job.i), logit_bias: NO_EOS } : { temperature: 0 };
      const r = await generateAll(inf, { model: MODEL_ID, text: job.prompt, max_tokens: MAX, sampling });
      return { text: r.text, finish: r.finish, tokens: r.usage.completion_tokens, streamed: r.tokens.length };
    }
    const params = { model: MODEL_ID, prompt: job.prompt, max_tokens: MAX, stream: true, stream_options: { include_usage: true },
      ...(job.seeded ? { temperature: 0.9, top_p: 0.95, seed: 100 + job.i, logit_bias: NO_EOS } : { temperature: 0 }) };
    const s = await http.completions.create(params);
    let text = '';
    let finish = null;
    let tokens = null;
    for await (const chunk of s) {
      for (const ch of chunk.choices) { text += ch.text; if (ch.finish_reason) finish = FINISH[ch.finish_reason]; }
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
    return { text, finish, tokens, streamed: tokens };
  }
  const solo = [];
  for (const job of jobs) solo.push(await run(job));

  let maxRunning = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try { maxRunning = Math.max(maxRunning, await runningRequests(server)); } catch { /* keep polling */ }
      await sleep(10);
    }
  })();
  let together;
  try {
    together = await Promise.all(jobs.map(run));
  } finally {
    polling = false;
    await poller;
  }
  const problems = [];
  let seededSame = 0;
  for (const job of jobs) {
    const a = solo[job.i];
    const b = together[job.i];
    const what = `#${job.i} ${job.grpc ? 'grpc' : 'http'} ${job.seeded ? 'seeded' : 'greedy'} ${JSON.stringify(job.prompt)}`;
    if (!b.finish || b.tokens !== b.streamed || b.tokens > MAX) problems.push(`${what}: incomplete ${JSON.stringify(b)}`);
    if (job.seeded) {
      if (b.finish !== 'FINISH_REASON_LENGTH' || b.tokens !== MAX) problems.push(`${what}: seeded run did not reach max_tokens ${JSON.stringify(b)}`);
      if (a.text === b.text) seededSame++;
    } else if (a.text !== b.text || a.finish !== b.finish || a.tokens !== b.tokens) {
      problems.push(`${what}: solo ${JSON.stringify(a)} vs together ${JSON.stringify(b)}`);
    }
  }
  t.diagnostic(`max running ${maxRunning}; seeded runs equal to their solo runs: ${seededSame}/8`);
  assert.deepEqual(problems, [], problems.join('\n'));
  assert.ok(maxRunning > 1, `requests ran together (max goldfinch_num_requests_running ${maxRunning})`);
});

test('API keys: Generate needs "authorization: Bearer KEY"; health and reflection stay public', { skip: NO_GRPC, timeout: 60_000 }, async () => {
  const srv = await startGrpcServer({ args: ['--api-key', 'k-grpc-1'] });
  try {
    const client = makeClient(Inference, srv.grpcPort);
    const req = { model: MODEL_ID, text: PROMPT, max_tokens: 3, sampling: { temperature: 0 } };
    for (const [label, md] of [['no metadata', authMetadata()], ['a wrong key', authMetadata('k-grpc-2')]]) {
      const e = await generateError(client, req, { metadata: md });
      assert.equal(e.code, Status.UNAUTHENTICATED, `Generate with ${label}: ${Status[e.code]} ${e.details}`);
      assert.equal(e.messages.length, 0);
    }
    const md = authMetadata('k-grpc-1');
    const ok = await generateAll(client, req, { metadata: md });
    assert.equal(ok.tokens.length, 3);
    for (const [method, r] of [['Tokenize', { text: 'x' }], ['Detokenize', { token_ids: [66] }], ['ListModels', {}]]) {
      const e = await unaryError(client, method, r);
      assert.equal(e.code, Status.UNAUTHENTICATED, `${method} without a key: ${Status[e.code]} ${e.details}`);
      await unary(client, method, r, { metadata: authMetadata('k-grpc-1') });
    }
    if (!NO_OPTIONAL) {
      const health = makeClient(Health, srv.grpcPort);
      assert.equal((await unary(health, 'Check', { service: '' })).status, 'SERVING', 'health Check without a key');
      await checkReflection(srv.grpcPort);
    }
  } finally {
    await srv.stopAndExpectCleanExit();
  }
});

test('SIGTERM drain: health Watch goes NOT_SERVING, the running stream completes, new calls UNAVAILABLE, exit 0', { skip: NO_GRPC, timeout: 90_000 }, async (t) => {
  const srv = await startGrpcServer({ args: ['--shutdown-timeout', '60'] });
  try {
    const client = makeClient(Inference, srv.grpcPort);
    const MAX = 400;
    let streamDone = false;
    let afterSignal = 0;
    let signalled = false;
    let refused = null;   // the result of a new Generate sent during the drain
    const watches = [];
    if (!NO_OPTIONAL) {
      const health = makeClient(Health, srv.grpcPort);
      for (const service of ['', 'goldfinch.v1.Inference']) {
        const w = { service, seen: [], ended: null };
        const call = health.Watch({ service }, { deadline: new Date(Date.now() + 60_000) });
        call.on('data', (m) => w.seen.push({ status: m.status, streamRunning: !streamDone }));
        call.on('error', (e) => { w.ended = Status[e.code]; });  // the server going away ends it
        call.on('end', () => { w.ended ??= 'end'; });
        watches.push(w);
      }
      await waitFor(() => watches.every((w) => w.seen.some((s) => s.status === 'SERVING')), {
        timeoutMs: 5000, message: 'Watch reports SERVING',
      });
    } else {
      t.diagnostic(`health Watch not checked: ${optionalMissing}`);
    }
    const { result } = generate(client, { model: MODEL_ID, text: PROMPT, max_tokens: MAX, ignore_eos: true, sampling: { temperature: 0, logit_bias: NO_EOS } }, {
      onMessage: (m, call, i) => {
        if (signalled) afterSignal += m.tokens.length;
        if (i === 2) { signalled = true; srv.signal('SIGTERM'); }
        if (i === 40) {
          refused = generateAll(client, { model: MODEL_ID, text: 'Hi', max_tokens: 2 }, { deadlineMs: 10_000 })
            .then((x) => ({ ok: x.text, streamRunning: !streamDone }), (e) => ({ code: e.code, details: e.details, streamRunning: !streamDone }));
        }
      },
    });
    const r = await result.finally(() => { streamDone = true; });
    assert.ok(signalled, 'SIGTERM was sent mid-stream');
    assert.equal(r.finish, 'FINISH_REASON_LENGTH', 'the running stream finished normally');
    assert.equal(r.usage.completion_tokens, MAX, 'all tokens were generated');
    assert.ok(afterSignal > 10, `the stream kept producing after SIGTERM (${afterSignal} tokens)`);
    for (const w of watches) {
      const notServing = w.seen.find((s) => s.status === 'NOT_SERVING');
      assert.ok(notServing, `Watch(${JSON.stringify(w.service)}) saw NOT_SERVING: ${JSON.stringify(w.seen)} (ended: ${w.ended})`);
      assert.ok(notServing.streamRunning, `NOT_SERVING arrived while the stream was still running: ${JSON.stringify(w.seen)}`);
    }
    // New work during the drain is refused as UNAVAILABLE (a closed listener also reads UNAVAILABLE).
    const nr = await refused;
    assert.equal(nr?.code, Status.UNAVAILABLE, `new Generate during the drain: ${JSON.stringify(nr)}`);
    const info = await srv.waitExit({ timeoutMs: 30_000 });
    assert.equal(info.code, 0, `exit code after the drain (signal ${info.signal})\n${srv.logTail()}`);
  } finally {
    srv.kill();
  }
});

test('--request-timeout bounds a call without a shorter deadline (DEADLINE_EXCEEDED); past --shutdown-timeout running calls end UNAVAILABLE, exit 0', { skip: NO_GRPC, timeout: 60_000 }, async () => {
  const srv = await startGrpcServer({ args: ['--request-timeout', '1.5', '--shutdown-timeout', '0.2'] });
  try {
    const client = makeClient(Inference, srv.grpcPort);
    const long = { model: MODEL_ID, text: PROMPT, ...LONG, max_tokens: 20_000 };
    const t0 = Date.now();
    const e = await generateError(client, long, { deadlineMs: 30_000 });
    const ms = Date.now() - t0;
    assert.equal(e.code, Status.DEADLINE_EXCEEDED, `${Status[e.code]} ${e.details}`);
    assert.ok(e.messages.length > 0, 'it was generating');
    assert.ok(ms >= 1400 && ms < 10_000, `ended by the 1.5 s request timeout (${ms} ms)`);
    await waitFor(async () => (await runningRequests(srv)) === 0, { timeoutMs: 2000, message: 'idle after the request timeout' });

    // SIGTERM with a 0.2 s shutdown timeout cuts a running call long before its request timeout.
    let signalledAt = 0;
    const cut = await generateError(client, long, {
      deadlineMs: 30_000,
      onMessage: (m, call, i) => { if (i === 0) { signalledAt = Date.now(); srv.signal('SIGTERM'); } },
    });
    const cutMs = Date.now() - signalledAt;
    assert.ok(signalledAt > 0, 'SIGTERM was sent mid-stream');
    assert.equal(cut.code, Status.UNAVAILABLE, `${Status[cut.code]} ${cut.details} (${cutMs} ms after SIGTERM)`);
    assert.ok(cutMs < 1300, `cut by the shutdown timeout (${cutMs} ms after SIGTERM)`);
    const info = await srv.waitExit({ timeoutMs: 30_000 });
    assert.equal(info.code, 0, `exit code (signal ${info.signal})\n${srv.logTail()}`);
  } finally {
    srv.kill();
  }
});
