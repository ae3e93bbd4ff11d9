// bench/tls-idle.mjs: server memory per idle subscribed connection, plain `ws` next to `wss`
// (native TLS, an ECDSA P-256 certificate), and the TLS handshake rate, against fresh release
// servers, two rounds. Uses the protocol tests' `ws` package and PKI helper:
//   node bench/tls-idle.mjs [connections=2000] [out.jsonl]   (after `npm ci` in protocol-tests
//   and `cargo build --release`)
// Prints one JSON line per transport and appends it to the file given. SOKETI_DIR=<dir with
// node_modules/@soketi/soketi> measures Soketi instead (its own TLS: SOKETI_SSL_CERT/KEY).
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

// The protocol tests' packages and helpers (`npm ci` in protocol-tests first).
const require = createRequire(new URL('../protocol-tests/package.json', import.meta.url));
const WebSocket = require('ws');
const { makePki } = await import(new URL('../protocol-tests/lib/tls.js', import.meta.url));
const { freePort } = await import(new URL('../protocol-tests/lib/server.js', import.meta.url));

const N = Number(process.argv[2] ?? 2000);
const OUT = process.argv[3];
const BIN = new URL('../target/release/sockwave', import.meta.url).pathname;
const SOKETI = process.env.SOKETI_DIR
  ? `${process.env.SOKETI_DIR}/node_modules/@soketi/soketi/bin/server.js`
  : null;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid) => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const cpuS = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

async function run(tls, pki) {
  const port = await freePort();
  let server;
  if (SOKETI) {
    const env = {
      ...process.env, SOKETI_HOST: '127.0.0.1', SOKETI_PORT: String(port), SOKETI_DEFAULT_APP_ID: 'app-id',
      SOKETI_DEFAULT_APP_KEY: 'app-key', SOKETI_DEFAULT_APP_SECRET: 'app-secret',
      ...(tls ? { SOKETI_SSL_CERT: pki.cert, SOKETI_SSL_KEY: pki.key } : {}),
    };
    server = spawn('node', [SOKETI, 'start'], { stdio: 'ignore', env });
    await sleep(3000);
  } else {
    const args = ['--host', '127.0.0.1', '--port', String(port)];
    if (tls) args.push('--tls-cert', pki.cert, '--tls-key', pki.key);
    server = spawn(BIN, args, { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } });
    await sleep(800);
  }
  const ca = tls ? fs.readFileSync(pki.ca) : undefined;
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/app/app-key?protocol=7&client=js&version=8.4.0`;
  const before = rssKb(server.pid);
  const cpuBefore = cpuS(server.pid);
  const started = Date.now();
  const sockets = [];
  const connectOne = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, perMessageDeflate: false });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.event === 'pusher:connection_established') {
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'idle' } }));
      } else if (frame.event === 'pusher_internal:subscription_succeeded') resolve(ws);
    });
    ws.on('error', reject);
  });
  for (let i = 0; i < N; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, connectOne))));
  }
  const elapsed = (Date.now() - started) / 1000;
  const cpu = cpuS(server.pid) - cpuBefore;
  await sleep(2000);
  const after = rssKb(server.pid);
  for (const ws of sockets) ws.terminate();
  server.kill('SIGTERM');
  const line = {
    server: SOKETI ? 'soketi' : 'sockwave', transport: tls ? 'wss' : 'ws', connections: N,
    rss_before_kb: before, rss_after_kb: after,
    bytes_per_connection: Math.round(((after - before) * 1024) / N),
    connect_subscribe_per_s: Math.round(N / elapsed),
    server_cpu_ms_per_connection: Number(((cpu * 1000) / N).toFixed(3)),
    unix_time: Math.floor(Date.now() / 1000),
  };
  console.log(JSON.stringify(line));
  if (OUT) fs.appendFileSync(OUT, JSON.stringify(line) + '\n');
  await sleep(500);
}

const pki = makePki();
try {
  await run(false, pki);
  await run(true, pki);
  await run(false, pki);
  await run(true, pki);
} finally {
  pki.remove();
}
process.exit(0);
