// bench/compression.mjs: what permessage-deflate and TLS cost per delivery. N subscribers
// (Node's `ws`, offering compression as browsers do) on one channel of a fresh release
// server; a publisher sends a typical ~1 KB dashboard event R times a second for D seconds
// through the HTTP API. Runs the server once per variant, for the given rounds:
// VARIANTS=plain,deflate (the default: compression declined with `ws_compression = false`,
// then on), or any of plain, deflate, tls, tls-deflate (`wss` with a throw-away ECDSA
// certificate from the protocol tests' PKI helper). Reports per delivery: bytes on the wire
// (what the subscribers' sockets read, TLS records included), server CPU (utime + stime from
// /proc), delivery latency as the subscribers see it (Node's `ws` inflates every message on
// libuv's thread pool, so with compression this includes the generator's own decompression)
// and the server's `fanout_seconds` p99 (publish accepted to the last subscriber's frame
// written, from its metrics).
//   [VARIANTS=...] node bench/compression.mjs [subscribers=1000] [events_per_s=20] [seconds=20] [rounds=2] [out.jsonl]
// (after `npm ci` in protocol-tests and `cargo build --release`). One JSON line per run.
import fs from 'node:fs';
import https from 'node:https';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(new URL('../protocol-tests/package.json', import.meta.url));
const WebSocket = require('ws');
const Pusher = require('pusher');
const { freePort } = await import(new URL('../protocol-tests/lib/server.js', import.meta.url));
const { makePki } = await import(new URL('../protocol-tests/lib/tls.js', import.meta.url));

const [N, RATE, SECONDS, ROUNDS] = [1000, 20, 20, 2].map((d, i) => Number(process.argv[2 + i] ?? d));
const OUT = process.argv[6];
const BIN = new URL('../target/release/sockwave', import.meta.url).pathname;
// SOKETI_DIR=<dir with node_modules/@soketi/soketi> measures Soketi instead (plain and tls
// variants; its own TLS from SOKETI_SSL_CERT/KEY; no fan-out histogram).
const SOKETI = process.env.SOKETI_DIR
  ? `${process.env.SOKETI_DIR}/node_modules/@soketi/soketi/bin/server.js`
  : null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuS = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // clock ticks (USER_HZ = 100)
};

/** ~1 KB of router stats, as a dashboard broadcasts them. */
function stats(n) {
  return {
    n, t: performance.now(),
    routers: Array.from({ length: 10 }, (_, i) => ({
      name: `edge-${i + 1}`, status: i === 3 ? 'degraded' : 'up',
      rx_bytes: 1_234_567 + i * 977 * (n + 1), tx_bytes: 7_654_321 - i * 613 * (n + 1),
      cpu: Number((0.3 + ((i * 7 + n) % 10) / 20).toFixed(2)), memory: 0.61,
    })),
  };
}

/** The `fanout_seconds` bucket counts from the server's metrics: {le: count}. */
async function fanoutBuckets(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const buckets = {};
  for (const m of text.matchAll(/^sockwave_fanout_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
    buckets[m[1]] = (buckets[m[1]] ?? 0) + Number(m[2]);
  }
  return buckets;
}

/** The p99 (a bucket's upper bound, in ms) of the broadcasts between two bucket snapshots. */
function fanoutP99(before, after) {
  const les = Object.keys(after).filter((le) => le !== '+Inf').sort((a, b) => Number(a) - Number(b));
  const total = (after['+Inf'] ?? 0) - (before['+Inf'] ?? 0);
  const le = les.find((le) => (after[le] - (before[le] ?? 0)) >= 0.99 * total);
  return le === undefined ? null : Number(le) * 1000;
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

async function run(variant, pki) {
  const tls = variant.startsWith('tls');
  const compression = variant.endsWith('deflate');
  const [port, metricsPort] = [await freePort(), await freePort()];
  const env = {
    ...process.env, RUST_LOG: 'warn', SOCKWAVE_WS_COMPRESSION: String(compression),
    SOCKWAVE_METRICS_ENABLED: 'true', SOCKWAVE_METRICS_HOST: '127.0.0.1', SOCKWAVE_METRICS_PORT: String(metricsPort),
  };
  let server;
  if (SOKETI) {
    server = spawn('node', [SOKETI, 'start'], {
      stdio: 'ignore',
      env: {
        ...process.env, SOKETI_HOST: '127.0.0.1', SOKETI_PORT: String(port), SOKETI_DEFAULT_APP_ID: 'app-id',
        SOKETI_DEFAULT_APP_KEY: 'app-key', SOKETI_DEFAULT_APP_SECRET: 'app-secret',
        ...(tls ? { SOKETI_SSL_CERT: pki.cert, SOKETI_SSL_KEY: pki.key } : {}),
      },
    });
    await sleep(3000);
  } else {
    const args = ['--host', '127.0.0.1', '--port', String(port)];
    if (tls) args.push('--tls-cert', pki.cert, '--tls-key', pki.key);
    server = spawn(BIN, args, { stdio: 'ignore', env });
    await sleep(800);
  }
  const ca = tls ? fs.readFileSync(pki.ca) : undefined;
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/app/app-key?protocol=7&client=js&version=8.4.0`;
  const latencies = [];
  let deliveries = 0;
  const connectOne = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, perMessageDeflate: true });
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.includes('"stats.updated"')) {
        deliveries += 1;
        const payload = JSON.parse(JSON.parse(text).data);
        latencies.push(performance.now() - payload.t);
        return;
      }
      const frame = JSON.parse(text);
      if (frame.event === 'pusher:connection_established') {
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'dashboard' } }));
      } else if (frame.event === 'pusher_internal:subscription_succeeded') resolve(ws);
    });
    ws.on('error', reject);
  });
  const sockets = [];
  for (let i = 0; i < N; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, connectOne))));
  }
  const negotiated = sockets[0].extensions;
  const sdk = new Pusher({
    appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port: String(port), useTLS: tls,
    ...(tls ? { agent: new https.Agent({ ca, keepAlive: true }) } : {}),
  });
  await sleep(1000);
  // With TLS, `_socket` is the TLSSocket: count what its underlying TCP socket read.
  const bytesRead = () => sockets.reduce((sum, ws) => sum + (ws._socket._parent ?? ws._socket).bytesRead, 0);
  const fanoutBefore = SOKETI ? null : await fanoutBuckets(metricsPort);
  const [bytesBefore, cpuBefore] = [bytesRead(), cpuS(server.pid)];
  const events = RATE * SECONDS;
  const started = performance.now();
  for (let n = 0; n < events; n += 1) {
    const due = started + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await sdk.trigger('dashboard', 'stats.updated', stats(n));
  }
  const expected = events * N;
  const deadline = performance.now() + 30_000;
  while (deliveries < expected && performance.now() < deadline) await sleep(50);
  const [bytes, cpu] = [bytesRead() - bytesBefore, cpuS(server.pid) - cpuBefore];
  const serverFanoutP99 = SOKETI ? null : fanoutP99(fanoutBefore, await fanoutBuckets(metricsPort));
  for (const ws of sockets) ws.terminate();
  server.kill('SIGTERM');
  latencies.sort((a, b) => a - b);
  const line = {
    scenario: 'compression', server: SOKETI ? 'soketi' : 'sockwave', variant, tls, compression, negotiated, subscribers: N, events_per_s: RATE, seconds: SECONDS,
    payload_bytes: JSON.stringify(stats(1)).length,
    deliveries, lost: expected - deliveries,
    wire_bytes_per_delivery: Math.round(bytes / Math.max(1, deliveries)),
    server_cpu_us_per_delivery: Number(((cpu * 1e6) / Math.max(1, deliveries)).toFixed(3)),
    deliveries_per_server_cpu_s: Math.round(deliveries / cpu),
    p50_ms: Number(percentile(latencies, 50).toFixed(2)), p99_ms: Number(percentile(latencies, 99).toFixed(2)),
    server_fanout_p99_ms: serverFanoutP99,
    unix_time: Math.floor(Date.now() / 1000),
  };
  console.log(JSON.stringify(line));
  if (OUT) fs.appendFileSync(OUT, JSON.stringify(line) + '\n');
  await sleep(500);
}

const variants = (process.env.VARIANTS ?? 'plain,deflate').split(',');
const pki = variants.some((v) => v.startsWith('tls')) ? makePki() : null;
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const variant of variants) await run(variant, pki);
  }
} finally {
  pki?.remove();
}
process.exit(0);
