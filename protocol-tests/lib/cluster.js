// Multi-node helpers: sockwave processes that share a Redis or a NATS (`[cluster]` in their
// TOML, or Soketi/sockwave variables), engine processes of our own for the chaos tests (never
// the machine's shared ones), a convergence probe, and the skip-or-fail rule for services:
// without an engine the test says "NOT RUN", unless CI requires the services
// (SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { DEFAULT_APP, freePort, startServer } from './server.js';
import { RawClient, makeSdk, waitUntil } from './clients.js';
import { webhookToml } from './webhooks.js';

/** The machine's shared engines (used as they are; never stopped by tests). */
export const SHARED = Object.freeze({
  redis: { name: 'Redis', port: 6379, url: 'redis://127.0.0.1:6379/0' },
  nats: { name: 'NATS', port: 4222, url: 'nats://127.0.0.1:4222' },
});

export const servicesRequired = () => process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1';

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** Whether something accepts TCP on 127.0.0.1:`port`. */
export function portOpen(port, ms = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Marks the test skipped with a "NOT RUN: …" reason and returns false, or throws when CI
 * requires the services.
 */
/** Skips the test with NOT RUN and `reason` (false), or fails it when CI requires services. */
export function notRun(t, reason) {
  if (servicesRequired()) throw new Error(`${reason}, and CI (SOCKWAVE_TEST_REQUIRE_SERVICES=1) requires it`);
  t.skip(`NOT RUN: ${reason}`);
  return false;
}

/** True when the shared engine is reachable; otherwise skips (or fails under CI). */
export async function needSharedEngine(t, kind) {
  const { name, port } = SHARED[kind];
  if (await portOpen(port)) return true;
  return notRun(t, `${name} is not reachable at 127.0.0.1:${port} (start it to run the cluster tests)`);
}

const ENGINE_BINARIES = { redis: ['redis-server'], nats: ['nats-server', '/usr/sbin/nats-server'] };

function findBinary(candidates) {
  for (const candidate of candidates) {
    if (candidate.includes('/')) {
      if (fs.existsSync(candidate)) return candidate;
      continue;
    }
    try {
      const found = execFileSync('sh', ['-c', `command -v ${candidate}`], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch { /* not on PATH */ }
  }
  return null;
}

/** Path of the engine's server binary, or null after skipping (or throws under CI). */
export function needEngineBinary(t, kind) {
  const bin = findBinary(ENGINE_BINARIES[kind]);
  if (bin) return bin;
  notRun(t, `${ENGINE_BINARIES[kind][0]} is not installed (the chaos tests start their own ${SHARED[kind].name})`);
  return null;
}

/**
 * Starts a private redis-server or nats-server on a free port. The handle can `stop()` it
 * (SIGKILL, like a crash) and `start()` it again on the same port, empty.
 */
export async function startOwnEngine(kind, bin) {
  const port = await freePort();
  const args = kind === 'redis'
    ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    : ['-a', '127.0.0.1', '-p', String(port)];
  let proc = null;
  let exited = null;
  const engine = {
    kind,
    port,
    url: kind === 'redis' ? `redis://127.0.0.1:${port}/0` : `nats://127.0.0.1:${port}`,
    logs: '',
    async start() {
      proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(proc);
      proc.stdout.on('data', (c) => { engine.logs = (engine.logs + c).slice(-20_000); });
      proc.stderr.on('data', (c) => { engine.logs = (engine.logs + c).slice(-20_000); });
      exited = new Promise((resolve) => proc.on('exit', () => { running.delete(proc); resolve(); }));
      await waitUntil(() => portOpen(port, 200), 5000, `${kind} on port ${port}\n${engine.logs}`, 50);
    },
    async stop() {
      if (!proc) return;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      await exited;
      proc = null;
    },
  };
  await engine.start();
  return engine;
}

const randomPrefix = () => `t-${Math.random().toString(36).slice(2, 10)}`;

/** A cluster's shared settings: one engine and one fresh prefix (so runs never meet). */
export function clusterOptions(kind, { url, heartbeat = 0.2, nodeTimeout = 2, prefix = randomPrefix() } = {}) {
  const address = url ?? SHARED[kind].url;
  return { kind, address, heartbeat, nodeTimeout, prefix };
}

function tomlString(value) {
  return JSON.stringify(value);
}

/** The `[cluster]` table for these settings. */
export function clusterToml({ kind, address, heartbeat, nodeTimeout, prefix }, { readyRequiresEngine = false } = {}) {
  const lines = ['[cluster]', `driver = ${tomlString(kind)}`];
  if (kind === 'redis') lines.push(`redis_url = ${tomlString(address)}`);
  else lines.push(`nats_servers = [${tomlString(address)}]`);
  lines.push(
    `prefix = ${tomlString(prefix)}`,
    `heartbeat_interval = ${heartbeat}`,
    `node_timeout = ${nodeTimeout}`,
    `ready_requires_engine = ${readyRequiresEngine}`,
  );
  return lines.join('\n') + '\n';
}

/**
 * Starts one node. `cluster` comes from clusterOptions(); `apps` may carry webhooks (as in
 * lib/webhooks.js). With `viaEnv`, the cluster is configured through `viaEnv` variables
 * instead of the TOML table (e.g. Soketi's names). Returns startServer's handle plus `sdk()`.
 */
export async function startNode({
  cluster, apps = [DEFAULT_APP], server = {}, env = {}, viaEnv = null, readyRequiresEngine = false, readyTimeout = 10_000,
}) {
  const toml = webhookToml(server, apps) + (viaEnv ? '' : `\n${clusterToml(cluster, { readyRequiresEngine })}`);
  const node = await startServer({ env: { ...env, ...(viaEnv ?? {}) }, readyTimeout, configText: toml });
  return { ...node, sdk: (appCfg = DEFAULT_APP) => makeSdk(node.port, appCfg) };
}

/** Starts `n` nodes (killed at the end of the test) and waits until they see each other. */
export async function startCluster(t, n, options) {
  const nodes = [];
  for (let i = 0; i < n; i += 1) {
    const node = await startNode(options);
    t.after(() => node.stop('SIGKILL'));
    nodes.push(node);
  }
  await converge(t, nodes);
  return nodes;
}

/** Occupied channels of the probe app, as a node reports them. */
async function probeChannels(node, appCfg = DEFAULT_APP) {
  const res = await node.sdk(appCfg).get({ path: '/channels', params: { filter_by_prefix: 'probe-' } });
  return Object.keys((await res.json()).channels ?? {});
}

/**
 * Waits (bounded) until every node lists every node's probe channel: each node then receives
 * the others' state and its own reaches them, so the engine connects all of them both ways.
 * Each node gets one probe socket (kept until the test ends) on `probe-<port>`.
 */
export async function converge(t, nodes, { ms = 8000, appCfg = DEFAULT_APP } = {}) {
  for (const node of nodes) {
    if (node.probe) continue;
    node.probe = await RawClient.connect(node.wsUrl(appCfg.key));
    t.after(() => node.probe.terminate());
    await node.probe.subscribeOk(`probe-${node.port}`);
  }
  const expected = nodes.map((node) => `probe-${node.port}`).sort();
  let last = [];
  await waitUntil(async () => {
    last = await Promise.all(nodes.map((node) => probeChannels(node, appCfg).then((list) => list.sort())));
    return last.every((list) => JSON.stringify(list) === JSON.stringify(expected));
  }, ms, `the nodes to see each other (expected ${expected.join(', ')} everywhere; got ${JSON.stringify(last)})`, 50);
}

/** One RESP reply parsed from `text` at `at`: [value, next index], or null while incomplete. */
function parseResp(text, at = 0) {
  const eol = text.indexOf('\r\n', at);
  if (eol < 0) return null;
  const kind = text[at];
  const line = text.slice(at + 1, eol);
  const next = eol + 2;
  if (kind === '+') return [line, next];
  if (kind === '-') return [new Error(line), next];
  if (kind === ':') return [Number(line), next];
  if (kind === '$') {
    const length = Number(line);
    if (length < 0) return [null, next];
    // Bulk lengths count bytes; the tests only read ASCII replies.
    if (text.length < next + length + 2) return null;
    return [text.slice(next, next + length), next + length + 2];
  }
  if (kind === '*') {
    const items = [];
    let cursor = next;
    for (let i = 0; i < Number(line); i += 1) {
      const item = parseResp(text, cursor);
      if (!item) return null;
      items.push(item[0]);
      cursor = item[1];
    }
    return [items, cursor];
  }
  throw new Error(`unexpected RESP reply: ${JSON.stringify(text.slice(at, at + 80))}`);
}

/**
 * Sends one command to the Redis on `port` over a fresh connection (after AUTH with
 * `password`, if given) and resolves with its reply; an error reply rejects.
 */
export function redisCommand(port, args, { password } = {}) {
  const encode = (parts) => `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(String(p))}\r\n${p}\r\n`).join('')}`;
  const commands = password ? [['AUTH', password], args] : [args];
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(commands.map(encode).join('')));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
      const replies = [];
      let at = 0;
      while (replies.length < commands.length) {
        const parsed = parseResp(text, at);
        if (!parsed) return;
        replies.push(parsed[0]);
        at = parsed[1];
      }
      socket.end();
      const failed = replies.find((reply) => reply instanceof Error);
      if (failed) reject(failed);
      else resolve(replies[replies.length - 1]);
    });
    socket.on('error', reject);
    socket.setTimeout(2000, () => { socket.destroy(); reject(new Error(`no reply to ${args[0]} from port ${port}`)); });
  });
}

/**
 * Runs redis-server (or redis-server --sentinel) with `args` until the test ends (then
 * SIGKILL). The handle keeps the last 50 kB of its output in `logs`.
 */
export function spawnRedis(t, bin, args, label) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { proc, label, logs: '' };
  proc.stdout.on('data', (c) => { handle.logs = (handle.logs + c).slice(-50_000); });
  proc.stderr.on('data', (c) => { handle.logs = (handle.logs + c).slice(-50_000); });
  t.after(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } });
  return handle;
}
