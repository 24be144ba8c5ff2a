#!/usr/bin/env node
// bench_serve.mjs: load and latency tool for an OpenAI-compatible server (`goldfinch serve`).
//
// Sends --requests streaming (SSE) requests, --concurrency at a time (closed loop: each worker
// sends its next request when the previous one ends), and reports per-request latency
// percentiles (mean, p50, p90, p99; linear interpolation between ranks) and throughput:
//   TTFT  time to first token: request sent -> first chunk that carries generated text
//   ITL   inter-token latency: gap between consecutive text-carrying chunks
//   TPOT  time per output token: (E2E - TTFT) / (completion_tokens - 1), per request
//   E2E   end-to-end latency: request sent -> [DONE]
//   output tokens/s = sum of usage.completion_tokens / wall time; requests/s = successes / wall
// Token counts come from the server's usage (stream_options.include_usage). A request fails
// when the status is not 200, a data line is not JSON, an error event arrives, or [DONE] is
// missing; failures are counted by reason and do not stop the run.
//
// Usage: node tools/bench_serve.mjs [options]
//   --url URL              server root (default http://127.0.0.1:8000)
//   --endpoint KIND        completions | chat (default completions)
//   --model ID             model id (default: the first one from GET /v1/models)
//   --concurrency N        requests in flight (default 8)
//   --requests N           total requests (default 64)
//   --prompt TEXT          prompt text; each request's prompt is prefixed with its number
//                          ("17 ...") so no two share a prefix, unless --same-prompt
//   --prompt-tokens N      synthetic prompt of N tokens (default 128), sized with POST /tokenize
//                          when the server has it, else N bytes of text
//   --same-prompt          send exactly the same prompt every time
//   --max-tokens N         max_tokens per request (default 128)
//   --temperature T        sampling temperature (default 0)
//   --no-ignore-eos        do not send ignore_eos: true (the vLLM extension; sent by default so
//                          that servers that support it generate exactly --max-tokens tokens)
//   --ban-token ID         also send logit_bias {ID: -100}; with the end-of-text id (0 for the
//                          GoldFinch vocabularies) every request runs to --max-tokens on any
//                          server that implements logit_bias
//   --api-key KEY          bearer key (default $OPENAI_API_KEY when set)
//   --warmup N             requests sent (and not measured) before the run (default 1)
//   --timeout S            per-request timeout in seconds (default 600)
//   --json                 print one JSON object instead of the table
//   --help                 this text
// No npm dependencies (node:http/https only); Node >= 18. Exit status: 0 when every request
// succeeded, 1 when any failed, 2 on bad arguments or when the server is unreachable.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DEFAULTS = {
  url: 'http://127.0.0.1:8000', endpoint: 'completions', model: '', concurrency: 8, requests: 64,
  prompt: '', 'prompt-tokens': 128, 'same-prompt': false, 'max-tokens': 128, temperature: 0,
  'ignore-eos': true, 'ban-token': -1, 'api-key': process.env.OPENAI_API_KEY ?? '', warmup: 1, timeout: 600, json: false,
};
const NUMERIC = new Set(['ban-token', 'concurrency', 'requests', 'prompt-tokens', 'max-tokens', 'temperature', 'warmup', 'timeout']);
const BOOLEAN = new Set(['same-prompt', 'json', 'help']);

function usage() {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  return src.filter((l) => l.startsWith('//')).map((l) => l.replace(/^\/\/ ?/, '')).join('\n');
}

function parseArgs(argv) {
  const opts = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) { value = arg.slice(eq + 1); arg = arg.slice(0, eq); }
    if (arg === 'no-ignore-eos') { opts['ignore-eos'] = false; continue; }
    if (BOOLEAN.has(arg)) { opts[arg] = true; continue; }
    if (!(arg in DEFAULTS)) throw new Error(`unknown option --${arg}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${arg} needs a value`);
      value = argv[++i];
    }
    if (NUMERIC.has(arg)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--${arg} must be a non-negative number, got ${value}`);
      opts[arg] = n;
    } else {
      opts[arg] = value;
    }
  }
  for (const k of ['concurrency', 'requests', 'max-tokens']) {
    if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  if (!['completions', 'chat'].includes(opts.endpoint)) throw new Error('--endpoint must be completions or chat');
  opts.url = opts.url.replace(/\/+$/, '').replace(/\/v1$/, '');
  return opts;
}

// ---- HTTP -----------------------------------------------------------------------------------

function makeClient(opts) {
  const base = new URL(opts.url);
  const lib = base.protocol === 'https:' ? https : http;
  const agent = new lib.Agent({ keepAlive: true, maxSockets: opts.concurrency + 2 });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (opts['api-key']) headers.authorization = `Bearer ${opts['api-key']}`;
  // Sends one request; onData(chunkString, nowMs) for every body chunk; resolves {status, headers, body}.
  function request(method, path, body, { onData, timeoutMs }) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = lib.request({
        protocol: base.protocol, hostname: base.hostname, port: base.port, method,
        path: `${base.pathname.replace(/\/$/, '')}${path}`, agent,
        headers: payload === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(payload) },
      }, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk) => {
          const now = performance.now();
          if (!onData || res.statusCode !== 200) { text += chunk; return; }
          try {
            onData(chunk, now);
          } catch (e) {
            req.destroy(e);  // a malformed stream fails this request only
          }
        });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
  return { request, close: () => agent.destroy() };
}

// ---- one streamed request -------------------------------------------------------------------

function buildBody(opts, prompt) {
  const common = {
    model: opts.model, max_tokens: opts['max-tokens'], temperature: opts.temperature, stream: true,
    stream_options: { include_usage: true },
  };
  if (opts['ignore-eos']) common.ignore_eos = true;
  if (opts['ban-token'] >= 0) common.logit_bias = { [String(opts['ban-token'])]: -100 };
  if (opts.endpoint === 'chat') return { path: '/v1/chat/completions', body: { ...common, messages: [{ role: 'user', content: prompt }] } };
  return { path: '/v1/completions', body: { ...common, prompt } };
}

async function runOne(client, opts, prompt) {
  const { path, body } = buildBody(opts, prompt);
  const t0 = performance.now();
  const r = { ok: false, ttft: null, e2e: null, itl: [], tokens: 0, promptTokens: null, error: null };
  let buffered = '';
  let done = false;
  let lastTextAt = null;
  let usage = null;
  const handleEvent = (payload, now) => {
    if (payload === '[DONE]') { done = true; return; }
    let ev;
    try { ev = JSON.parse(payload); } catch { throw new Error('malformed event'); }
    if (ev.error) throw new Error(`error event: ${ev.error.message ?? JSON.stringify(ev.error)}`.slice(0, 200));
    if (ev.usage) usage = ev.usage;
    const hasText = (ev.choices ?? []).some((c) => (c.text ?? c.delta?.content ?? '') !== '');
    if (hasText) {
      if (r.ttft === null) r.ttft = now - t0;
      else r.itl.push(now - lastTextAt);
      lastTextAt = now;
    }
  };
  try {
    const res = await client.request('POST', path, body, {
      timeoutMs: opts.timeout * 1000,
      onData: (chunk, now) => {
        buffered += chunk;
        let idx;
        while ((idx = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, idx);
          buffered = buffered.slice(idx + 2);
          for (const line of block.split('\n')) {
            if (line.startsWith('data: ')) handleEvent(line.slice(6), now);
            else if (line !== '' && !line.startsWith(':')) throw new Error('malformed SSE line');
          }
        }
      },
    });
    r.e2e = performance.now() - t0;
    if (res.status !== 200) {
      r.error = `HTTP ${res.status}`;
      return r;
    }
    if (!done) { r.error = 'no [DONE]'; return r; }
    if (!usage) { r.error = 'no usage chunk'; return r; }
    r.tokens = usage.completion_tokens;
    r.promptTokens = usage.prompt_tokens;
    r.ok = true;
  } catch (e) {
    r.error = e.message.startsWith('timeout') ? 'timeout' : e.code ?? e.message;
  }
  return r;
}

// ---- statistics ------------------------------------------------------------------------------

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function summarize(values) {
  const s = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, mean: null, p50: null, p90: null, p99: null, max: null };
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, mean, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] };
}

// ---- prompt ----------------------------------------------------------------------------------

const FILLER = 'the quick brown fox jumps over the lazy dog and then some more words follow here ';

async function makePrompt(client, opts) {
  if (opts.prompt) return opts.prompt;
  const n = opts['prompt-tokens'];
  let text = FILLER.repeat(Math.ceil((n + 1) / FILLER.length) + 1).slice(0, Math.max(1, n));
  // Size with /tokenize when the server offers it (exact for any tokenizer).
  try {
    for (let iter = 0; iter < 8; iter++) {
      const res = await client.request('POST', '/tokenize', { model: opts.model, prompt: text }, { timeoutMs: 10_000 });
      if (res.status !== 200) break;
      const count = JSON.parse(res.body).count;
      if (!Number.isInteger(count) || count === n) break;
      const ratio = text.length / Math.max(1, count);
      const len = Math.max(1, Math.round(n * ratio));
      text = FILLER.repeat(Math.ceil(len / FILLER.length) + 1).slice(0, len);
    }
  } catch { /* keep the byte-sized prompt */ }
  return text;
}

// ---- main ------------------------------------------------------------------------------------

function fmt(v, digits = 1) {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

function printTable(report) {
  const c = report.config;
  const lines = [];
  lines.push(`bench_serve: ${c.requests} requests, concurrency ${c.concurrency}, ${c.endpoint}, model ${c.model}`);
  lines.push(`prompt ${fmt(c.prompt_tokens_mean, 1)} tokens (mean usage.prompt_tokens), max_tokens ${c.max_tokens}, ignore_eos ${c.ignore_eos}, temperature ${c.temperature}`);
  lines.push('');
  const kv = [
    ['successful requests', report.successful],
    ['failed requests', report.failed + (report.failed ? `  (${Object.entries(report.failures).map(([k, v]) => `${k}: ${v}`).join(', ')})` : '')],
    ['duration (s)', fmt(report.duration_s, 2)],
    ['requests/s', fmt(report.requests_per_s, 2)],
    ['output tokens/s', fmt(report.output_tokens_per_s, 1)],
    ['total output tokens', report.total_output_tokens],
  ];
  for (const [k, v] of kv) lines.push(`${k.padEnd(22)}${v}`);
  lines.push('');
  lines.push(`${'latency (ms)'.padEnd(14)}${['mean', 'p50', 'p90', 'p99', 'max'].map((h) => h.padStart(10)).join('')}${'n'.padStart(8)}`);
  for (const [name, s] of [['TTFT', report.ttft_ms], ['ITL', report.itl_ms], ['TPOT', report.tpot_ms], ['E2E', report.e2e_ms]]) {
    lines.push(`${name.padEnd(14)}${[s.mean, s.p50, s.p90, s.p99, s.max].map((v) => fmt(v, 2).padStart(10)).join('')}${String(s.n).padStart(8)}`);
  }
  console.log(lines.join('\n'));
}

async function main() {
  let opts;
  try {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) { console.log(usage()); return 0; }
    opts = parseArgs(argv);
  } catch (e) {
    console.error(`bench_serve: ${e.message} (see --help)`);
    return 2;
  }
  const client = makeClient(opts);
  try {
    if (!opts.model) {
      let res;
      try {
        res = await client.request('GET', '/v1/models', undefined, { timeoutMs: 10_000 });
      } catch (e) {
        console.error(`bench_serve: cannot reach ${opts.url}: ${e.code ?? e.message}`);
        return 2;
      }
      if (res.status !== 200) { console.error(`bench_serve: GET /v1/models -> ${res.status} ${res.body.slice(0, 200)}`); return 2; }
      opts.model = JSON.parse(res.body).data?.[0]?.id;
      if (!opts.model) { console.error('bench_serve: the server lists no model'); return 2; }
    }
    const prompt = await makePrompt(client, opts);

    for (let i = 0; i < opts.warmup; i++) {
      const w = await runOne(client, opts, `${prompt}`);
      if (!w.ok) { console.error(`bench_serve: warm-up request failed: ${w.error}`); return 2; }
    }

    const results = [];
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= opts.requests) return;
        results.push(await runOne(client, opts, opts['same-prompt'] ? prompt : `${i} ${prompt}`));
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.requests) }, worker));
    const duration = (performance.now() - t0) / 1000;

    const ok = results.filter((r) => r.ok);
    const failures = {};
    for (const r of results) if (!r.ok) failures[r.error] = (failures[r.error] ?? 0) + 1;
    const totalTokens = ok.reduce((a, r) => a + r.tokens, 0);
    const report = {
      config: {
        url: opts.url, endpoint: opts.endpoint, model: opts.model, concurrency: opts.concurrency, requests: opts.requests,
        prompt_tokens_mean: summarize(ok.map((r) => r.promptTokens)).mean, max_tokens: opts['max-tokens'], ignore_eos: opts['ignore-eos'], ban_token: opts['ban-token'] >= 0 ? opts['ban-token'] : null, temperature: opts.temperature,
      },
      successful: ok.length,
      failed: results.length - ok.length,
      failures,
      duration_s: duration,
      requests_per_s: ok.length / duration,
      output_tokens_per_s: totalTokens / duration,
      total_output_tokens: totalTokens,
      ttft_ms: summarize(ok.map((r) => r.ttft)),
      itl_ms: summarize(ok.flatMap((r) => r.itl)),
      tpot_ms: summarize(ok.filter((r) => r.tokens > 1 && r.ttft !== null).map((r) => (r.e2e - r.ttft) / (r.tokens - 1))),
      e2e_ms: summarize(ok.map((r) => r.e2e)),
    };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else printTable(report);
    return report.failed === 0 ? 0 : 1;
  } finally {
    client.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then((rc) => { process.exitCode = rc; }, (e) => { console.error(`bench_serve: ${e.stack ?? e}`); process.exitCode = 2; });
}
