// Helpers shared by the end-to-end tests: Prometheus text parsing, server-sent-event parsing,
// bounded polling and a raw HTTP POST that tolerates the server closing early.
//
// Contract: pure functions except waitFor/readSSEStream/rawPost, which are bounded by the
// timeouts they are given (milliseconds) and never leave sockets open after they settle.
import http from 'node:http';
import { sleep } from './server.mjs';

// ---- Prometheus text format --------------------------------------------------------------

// Parses the Prometheus text exposition format into [{name, labels, value}] (comments skipped).
export function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[2])) !== null) labels[lm[1]] = lm[2];
    }
    const v = m[3];
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

// Sum of the samples named `name` whose labels include `filter`; undefined when none match.
export function metricSum(samples, name, filter = {}) {
  let sum;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(filter).every(([k, v]) => s.labels[k] === v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

export async function scrape(server) {
  const res = await server.get('/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics -> ${res.status}: ${res.text.slice(0, 500)}`);
  return { text: res.text, samples: parseMetrics(res.text), headers: res.headers };
}

export async function runningRequests(server) {
  const { samples } = await scrape(server);
  const v = metricSum(samples, 'goldfinch_num_requests_running');
  if (v === undefined) throw new Error('goldfinch_num_requests_running missing from /metrics');
  return v;
}

// ---- polling -----------------------------------------------------------------------------

// Polls fn() until it returns a truthy value; returns that value. Throws after timeoutMs with
// `message` and the last value seen.
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

// ---- server-sent events --------------------------------------------------------------------

// Checks a complete SSE body against the OpenAI framing: every non-empty line is a comment
// (":...") or "data: <payload>"; events are separated by a blank line; each event has one
// data line; payloads are JSON except a final "[DONE]". Returns {events (parsed JSON),
// comments, done, problems (strings; empty when the body is well formed)}.
export function parseSSE(body) {
  const problems = [];
  const events = [];
  const comments = [];
  let done = false;
  if (body.includes('\r')) problems.push('body contains CR characters');
  if (!body.endsWith('\n\n')) problems.push(`body does not end with a blank line: ${JSON.stringify(body.slice(-40))}`);
  const blocks = body.split('\n\n');
  for (const block of blocks) {
    if (block === '') continue;
    const dataLines = [];
    for (const line of block.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) { comments.push(line); continue; }
      if (!line.startsWith('data: ')) { problems.push(`line is neither "data: " nor a comment: ${JSON.stringify(line.slice(0, 200))}`); continue; }
      dataLines.push(line.slice(6));
    }
    if (dataLines.length === 0) continue;  // a comment-only block
    if (dataLines.length > 1) problems.push(`event with ${dataLines.length} data lines`);
    const payload = dataLines.join('\n');
    if (done) problems.push(`event after [DONE]: ${payload.slice(0, 200)}`);
    if (payload === '[DONE]') { done = true; continue; }
    try {
      events.push(JSON.parse(payload));
    } catch {
      problems.push(`data is not JSON: ${payload.slice(0, 200)}`);
    }
  }
  if (!done) problems.push('no data: [DONE] at the end');
  return { events, comments, done, problems };
}

// Reads an SSE response body incrementally; calls onEvent(payloadString) for every data line
// as it arrives (payload "[DONE]" included). Resolves with the whole body text.
export async function readSSEStream(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let all = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    all += text;
    buffered += text;
    let idx;
    while ((idx = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, idx);
      buffered = buffered.slice(idx + 2);
      for (const line of block.split('\n')) {
        if (line.startsWith('data: ')) await onEvent(line.slice(6));
      }
    }
  }
  return all;
}

// ---- raw HTTP ------------------------------------------------------------------------------

// POSTs `body` with node:http and resolves with {status, headers, text, json} as soon as a
// response arrives, even if the server closes the connection while the body is still being
// sent (the 413 case). `path` is sent exactly as given. Rejects only when no response arrives
// within timeoutMs.
export function rawPost(url, path, body, { headers = {}, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({
      host: u.hostname, port: u.port, path, method: 'POST',  // path sent verbatim (not normalised)
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      agent: false,
    });
    let settled = false;
    let writeError = null;
    const timer = setTimeout(() => {
      if (!settled) { settled = true; req.destroy(); reject(new Error(`no response within ${timeoutMs} ms`)); }
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
        req.destroy();
      };
      res.on('end', finish);
      res.on('error', finish);
      res.on('close', finish);
    });
    req.on('error', (e) => {
      writeError = e;
      // A response may still be parsed after EPIPE/ECONNRESET on the write side; give it a moment.
      setTimeout(() => {
        if (!settled) { settled = true; clearTimeout(timer); reject(new Error(`request failed without a response: ${writeError.code ?? writeError.message}`)); }
      }, 1000);
    });
    req.end(body);
  });
}

export function utf8Bytes(s) {
  return Buffer.byteLength(s, 'utf8');
}
