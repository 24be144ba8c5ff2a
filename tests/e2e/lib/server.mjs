// Starts and stops one `goldfinch serve` process for an end-to-end test file.
//
// Contract:
// - The binary is $GF_GOLDFINCH_BIN (absolute path to the `goldfinch` executable); startServer
//   throws a clear error when it is unset or missing.
// - startServer({args}) spawns `goldfinch serve --port 0 ...args`, waits (bounded) for the log line
//   "listening on http://127.0.0.1:PORT" on stdout (text or JSON log format), then polls
//   GET /ready until 200. On any failure or timeout the process is killed (SIGKILL) before the
//   error is thrown, and the error carries the tail of the server's output.
// - startServer({grpc: true}) also passes `--grpc-port N` with N a port that was free a moment
//   before (freePort(); another process may still take it) and sets server.grpcPort. Without it
//   the gRPC listener is turned off (`--grpc-port 0`, when the binary has that option and args
//   do not set it) so that HTTP-only servers never compete for the default port 50051.
// - Unless args set --cache-dir, each server gets its own fresh temporary --cache-dir (removed
//   when that server exits), so servers started in parallel never share, or fight over the lock
//   of, a prefix-cache directory, and no test reads entries another test left behind.
// - Every started process is also SIGKILLed when the test process exits, so nothing leaks even
//   when a test file crashes or a hook times out.
// - server.stop() sends SIGTERM and waits (bounded) for the exit; stopAndExpectCleanExit() also
//   asserts exit code 0 (the SIGTERM drain contract). Both are idempotent.
// - All waits are bounded; times are milliseconds.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import OpenAI from 'openai';

export const MODEL_ID = 'goldfinch-byte-small';
// logit_bias that bans <|endoftext|> (id 0 in the byte vocabulary): generations run to max_tokens.
export const NO_EOS = Object.freeze({ 0: -100 });

const LISTEN_RE = /listening on http:(?:\\?\/){2}(127\.0\.0\.1|\[::1\]|localhost):(\d+)/;
const live = new Set();
const liveCacheDirs = new Set();  // temporary --cache-dir folders of servers not yet exited

function killAllLive() {
  for (const proc of live) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  for (const dir of liveCacheDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  liveCacheDirs.clear();
}
process.on('exit', killAllLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAllLive(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function goldfinchBin() {
  const bin = process.env.GF_GOLDFINCH_BIN;
  if (!bin) throw new Error('GF_GOLDFINCH_BIN is not set (path to the goldfinch binary)');
  if (!existsSync(bin)) throw new Error(`GF_GOLDFINCH_BIN=${bin} does not exist`);
  return bin;
}

class ServerProcess {
  constructor(proc, argv) {
    this.proc = proc;
    this.argv = argv;
    this.port = 0;
    this.grpcPort = 0;
    this.url = '';
    this.lines = [];        // last output lines (stdout and stderr), for diagnostics
    this.exitInfo = null;   // {code, signal} once exited
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        live.delete(proc);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    this._stdoutListeners = [];
    const collect = (stream, tag) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts) this._line(tag, line);
        if (partial.length > 65536) { this._line(tag, partial); partial = ''; }
      });
      stream.on('end', () => { if (partial) this._line(tag, partial); });
    };
    collect(proc.stdout, 'out');
    collect(proc.stderr, 'err');
  }

  _line(tag, line) {
    this.lines.push(`[${tag}] ${line.length > 65536 ? line.slice(0, 65536) + '...' : line}`);
    if (this.lines.length > 300) this.lines.splice(0, this.lines.length - 300);
    if (tag === 'out') for (const fn of this._stdoutListeners) fn(line);
  }

  get pid() { return this.proc.pid; }
  get baseURL() { return `${this.url}/v1`; }

  // The stdout lines kept so far (the last few hundred), without the [out] tag.
  stdoutLines() {
    return this.lines.filter((l) => l.startsWith('[out] ')).map((l) => l.slice(6));
  }

  logTail(n = 60) {
    return this.lines.slice(-n).join('\n');
  }

  // An OpenAI client for this server. maxRetries 0 so errors surface at once (the SDK would
  // retry 429/5xx twice); pass options to override.
  client(options = {}) {
    return new OpenAI({ baseURL: this.baseURL, apiKey: 'no-key', maxRetries: 0, timeout: 120_000, ...options });
  }

  // fetch() relative to the server root, with a bounded timeout.
  fetch(path, init = {}) {
    const { timeoutMs = 60_000, ...rest } = init;
    return fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(timeoutMs), ...rest });
  }

  // POST JSON (an object, or a raw string/Buffer sent as is); returns {status, headers, text, json}.
  async post(path, body, { headers = {}, timeoutMs = 60_000 } = {}) {
    const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const res = await this.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: payload,
      timeoutMs,
    });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  async get(path, { headers = {}, timeoutMs = 30_000 } = {}) {
    const res = await this.fetch(path, { headers, timeoutMs });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  isRunning() { return this.exitInfo === null; }

  signal(sig) {
    if (this.exitInfo === null) this.proc.kill(sig);
  }

  // SIGTERM, then wait up to timeoutMs for the exit; SIGKILL and throw when it does not exit.
  async stop({ timeoutMs = 30_000 } = {}) {
    if (this.exitInfo) return this.exitInfo;
    this.proc.kill('SIGTERM');
    return this.waitExit({ timeoutMs });
  }

  async waitExit({ timeoutMs = 30_000 } = {}) {
    let timer;
    const info = await Promise.race([
      this.exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (info) return info;
    this.proc.kill('SIGKILL');
    await this.exited;
    throw new Error(`server pid ${this.pid} did not exit within ${timeoutMs} ms after SIGTERM ` +
                    `(killed)\n--- server output ---\n${this.logTail()}`);
  }

  // stop() and require exit code 0 (a clean drain).
  async stopAndExpectCleanExit({ timeoutMs = 30_000 } = {}) {
    const info = await this.stop({ timeoutMs });
    if (info.code !== 0) {
      throw new Error(`server exited with code ${info.code} signal ${info.signal} ` +
                      `(expected 0 after SIGTERM)\n--- server output ---\n${this.logTail()}`);
    }
    return info;
  }

  kill() {
    if (this.exitInfo === null) this.proc.kill('SIGKILL');
  }
}

// A TCP port on 127.0.0.1 that was free when probed (bound to port 0, then closed).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// `goldfinch serve --help` of a binary ('' when it fails), cached.
const helpCache = new Map();
function serveHelp(bin) {
  if (!helpCache.has(bin)) {
    const r = spawnSync(bin, ['serve', '--help'], { encoding: 'utf8', timeout: 30_000 });
    helpCache.set(bin, r.status === 0 ? r.stdout : '');
  }
  return helpCache.get(bin);
}

// Whether `goldfinch serve --help` lists --grpc-port (binaries built without gRPC may not).
export function hasGrpcPortOption(bin = goldfinchBin()) {
  return /--grpc-port\b/.test(serveHelp(bin));
}

// Whether the binary has the prefix cache options (--cache-dir).
export function hasCacheDirOption(bin = goldfinchBin()) {
  return /--cache-dir\b/.test(serveHelp(bin));
}

// Starts `goldfinch serve --port 0 ...args` and resolves when /ready answers 200.
export async function startServer({ args = [], env = {}, startTimeoutMs = 60_000, grpc = false } = {}) {
  const bin = goldfinchBin();
  let grpcArgs = [];
  let grpcPort = 0;
  if (grpc) {
    if (!hasGrpcPortOption(bin)) throw new Error(`${bin} serve has no --grpc-port option (built without gRPC?)`);
    grpcPort = await freePort();
    grpcArgs = ['--grpc-port', String(grpcPort)];
  } else if (!args.some((a) => String(a).startsWith('--grpc-port')) && hasGrpcPortOption(bin)) {
    grpcArgs = ['--grpc-port', '0'];
  }
  let cacheArgs = [];
  let cacheDir = '';
  if (!args.some((a) => String(a).startsWith('--cache-dir')) && hasCacheDirOption(bin)) {
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'gf-e2e-cache-'));
    cacheArgs = ['--cache-dir', cacheDir];
  }
  const argv = ['serve', '--port', '0', ...grpcArgs, ...cacheArgs, ...args];
  const proc = spawn(bin, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  live.add(proc);
  const server = new ServerProcess(proc, argv);
  server.cacheDir = cacheDir;
  if (cacheDir) {
    liveCacheDirs.add(cacheDir);
    server.exited.then(() => {
      liveCacheDirs.delete(cacheDir);
      rmSync(cacheDir, { recursive: true, force: true });
    });
  }
  server.grpcPort = grpcPort;
  const deadline = Date.now() + startTimeoutMs;
  const fail = async (why) => {
    server.kill();
    await Promise.race([server.exited, sleep(5000)]);
    throw new Error(`goldfinch ${argv.join(' ')}: ${why}\n--- server output ---\n${server.logTail()}`);
  };

  // 1. The listening line.
  const port = await new Promise((resolve) => {
    for (const line of server.lines) {
      const m = LISTEN_RE.exec(line);
      if (m && line.startsWith('[out]')) { resolve(Number(m[2])); return; }
    }
    const timer = setTimeout(() => resolve(-1), Math.max(0, deadline - Date.now()));
    server._stdoutListeners.push((line) => {
      const m = LISTEN_RE.exec(line);
      if (m) { clearTimeout(timer); resolve(Number(m[2])); }
    });
    server.exited.then(() => { clearTimeout(timer); resolve(-2); });
    proc.on('error', () => { clearTimeout(timer); resolve(-3); });
  });
  if (port === -1) await fail(`no "listening on http://127.0.0.1:PORT" line on stdout within ${startTimeoutMs} ms`);
  if (port === -2) await fail(`exited early (${JSON.stringify(server.exitInfo)}) before listening`);
  if (port === -3) await fail('could not be spawned');
  if (!(port > 0 && port < 65536)) await fail(`bad port ${port}`);
  server.port = port;
  server.url = `http://127.0.0.1:${port}`;

  // 2. /ready == 200.
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (server.exitInfo) await fail(`exited (${JSON.stringify(server.exitInfo)}) while waiting for /ready`);
    try {
      const res = await server.fetch('/ready', { timeoutMs: 5000 });
      await res.arrayBuffer();
      if (res.status === 200) return server;
      last = `status ${res.status}`;
    } catch (e) {
      last = String(e?.cause?.code ?? e?.message ?? e);
    }
    await sleep(100);
  }
  return fail(`GET /ready did not return 200 within ${startTimeoutMs} ms (last: ${last})`);
}
