// gRPC client helpers for the end-to-end tests of `goldfinch serve --grpc-port N`.
//
// Contract:
// - The goldfinch.v1 proto is loaded from <repo>/proto (this file's location, not the working
//   directory); grpc.health.v1 and grpc.reflection.v1alpha from Debian's grpc-proto package
//   (/usr/share/grpc-proto, GF_GRPC_PROTO_DIR overrides). When those two files are missing,
//   `health`/`reflection` are null and `optionalMissing` says why (tests skip with it).
// - Messages use the proto field names (keepCase: max_tokens, logit_bias...), enums as strings
//   ("FINISH_REASON_LENGTH"), 64-bit integers as strings, bytes as Buffers, unset scalars as
//   their defaults, unset messages as null; `input`/`message_request` name the set oneof member.
// - Every client made here is tracked; closeAllClients() closes them (call it in after() so the
//   test process can exit). Every call made here has a deadline (default 60 s): nothing waits
//   unboundedly. Times are milliseconds.
// - startGrpcServer() starts a server with a free --grpc-port and waits (bounded) for its
//   "grpc listening on 127.0.0.1:PORT" log line; on failure it kills the process and throws
//   with the server's output.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { startServer, sleep } from './server.mjs';

export { grpc };
export const Status = grpc.status;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PROTO_DIR = join(REPO_ROOT, 'proto');
export const GRPC_PROTO_DIR = process.env.GF_GRPC_PROTO_DIR ?? '/usr/share/grpc-proto';
const HEALTH_PROTO = 'grpc/health/v1/health.proto';
const REFLECTION_PROTO = 'grpc/reflection/v1alpha/reflection.proto';

const LOAD_OPTIONS = { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true };

function load(file, includeDir) {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, { ...LOAD_OPTIONS, includeDirs: [includeDir] }));
}

const goldfinchPkg = load('goldfinch/v1/inference.proto', PROTO_DIR);
export const Inference = goldfinchPkg.goldfinch.v1.Inference;

const missing = [HEALTH_PROTO, REFLECTION_PROTO].filter((f) => !existsSync(join(GRPC_PROTO_DIR, f)));
export const optionalMissing = missing.length
  ? `missing ${missing.map((f) => join(GRPC_PROTO_DIR, f)).join(', ')} (Debian package grpc-proto)`
  : null;
export const Health = optionalMissing ? null : load(HEALTH_PROTO, GRPC_PROTO_DIR).grpc.health.v1.Health;
export const Reflection = optionalMissing
  ? null : load(REFLECTION_PROTO, GRPC_PROTO_DIR).grpc.reflection.v1alpha.ServerReflection;

// ---- clients -------------------------------------------------------------------------------

const clients = new Set();

// A client of `Ctor` (Inference, Health, Reflection) on 127.0.0.1:port, plain text.
export function makeClient(Ctor, port, options = {}) {
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  clients.add(c);
  return c;
}

export function closeAllClients() {
  for (const c of clients) c.close();
  clients.clear();
}

// Metadata carrying "authorization: Bearer KEY" (no key: empty metadata).
export function authMetadata(key) {
  const md = new grpc.Metadata();
  if (key !== undefined) md.set('authorization', `Bearer ${key}`);
  return md;
}

const deadlineIn = (ms) => new Date(Date.now() + ms);

// Promisified unary call: resolves with the response, rejects with the ServiceError
// ({code, details, metadata}).
export function unary(client, method, request, { metadata = new grpc.Metadata(), deadlineMs = 60_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    client[method](request, metadata, { deadline: deadlineIn(deadlineMs) }, (err, res) => (err ? reject(err) : resolvePromise(res)));
  });
}

// Runs a unary call expected to fail; resolves with its ServiceError, throws if it succeeds.
export async function unaryError(client, method, request, options) {
  try {
    const res = await unary(client, method, request, options);
    throw new Error(`${method} succeeded, an error was expected: ${JSON.stringify(res)}`);
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return e;
  }
}

// Summary of a Generate stream's messages.
export function summarize(messages) {
  const tokens = messages.flatMap((m) => m.tokens);
  const last = messages[messages.length - 1];
  return {
    messages,
    text: messages.map((m) => m.text).join(''),
    tokens,
    ids: tokens.map((t) => t.id),
    finish: last?.finish_reason ?? null,
    usage: last?.usage ?? null,
    requestId: messages[0]?.request_id ?? null,
  };
}

// Starts Generate. Returns {call, result}: `result` resolves with summarize(messages) when the
// stream ends OK and rejects with the ServiceError (its `.messages` = what arrived before).
// onMessage(message, call, index) runs for every message as it arrives.
export function generate(client, request, { metadata = new grpc.Metadata(), deadlineMs = 60_000, onMessage } = {}) {
  const call = client.Generate(request, metadata, { deadline: deadlineIn(deadlineMs) });
  const messages = [];
  const result = new Promise((resolvePromise, reject) => {
    let ok = false;
    let ended = false;
    const settle = () => { if (ok && ended) resolvePromise(summarize(messages)); };
    call.on('data', (m) => {
      messages.push(m);
      onMessage?.(m, call, messages.length - 1);
    });
    call.on('error', (e) => { e.messages = messages; reject(e); });
    call.on('status', (s) => { if (s.code === Status.OK) { ok = true; settle(); } });
    call.on('end', () => { ended = true; settle(); });
  });
  return { call, result };
}

// Generate to completion (resolves with the summary, rejects with the ServiceError).
export function generateAll(client, request, options) {
  return generate(client, request, options).result;
}

// Runs a Generate expected to fail; resolves with its ServiceError (`.messages` attached).
export async function generateError(client, request, options) {
  try {
    const r = await generateAll(client, request, options);
    throw new Error(`Generate succeeded, an error was expected: ${JSON.stringify({ text: r.text, finish: r.finish })}`);
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return e;
  }
}

// ---- server --------------------------------------------------------------------------------

const GRPC_LISTEN_RE = /grpc listening on (127\.0\.0\.1|\[::1\]|localhost):(\d+)/;

async function startOnce(options, timeoutMs) {
  const server = await startServer({ ...options, grpc: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = server.stdoutLines().find((l) => GRPC_LISTEN_RE.test(l));
    if (line) {
      const port = Number(GRPC_LISTEN_RE.exec(line)[2]);
      if (port !== server.grpcPort) {
        server.kill();
        throw new Error(`server says "${line}" but was started with --grpc-port ${server.grpcPort}`);
      }
      return server;
    }
    if (!server.isRunning() || Date.now() > deadline) {
      server.kill();
      await Promise.race([server.exited, sleep(5000)]);
      throw new Error(`no "grpc listening on 127.0.0.1:${server.grpcPort}" line within ${timeoutMs} ms ` +
                      `(exit: ${JSON.stringify(server.exitInfo)})\n--- server output ---\n${server.logTail()}`);
    }
    await sleep(50);
  }
}

// startServer({args, ...}) plus a free --grpc-port; resolves with the server once /ready is 200
// and the gRPC listening line was logged (server.grpcPort). Retries once, since the free port
// can be taken between probing and binding.
export async function startGrpcServer(options = {}, { lineTimeoutMs = 10_000 } = {}) {
  try {
    return await startOnce(options, lineTimeoutMs);
  } catch (first) {
    try {
      return await startOnce(options, lineTimeoutMs);
    } catch (second) {
      second.message = `${second.message}\n--- first attempt ---\n${first.message}`;
      throw second;
    }
  }
}
