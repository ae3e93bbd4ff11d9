// pusher-js and the pusher SDK through nginx configured exactly as docs/proxies/nginx.conf
// says (only ports and certificate paths are substituted), over plain ws/http and with TLS
// terminated at nginx. Without nginx the test says NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1
// (or SOCKWAVE_TEST_REQUIRE_SERVICES=1), which makes that a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freePort, REPO_ROOT, DEFAULT_APP } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { makePki, tlsClients } from '../lib/tls.js';

const TEMPLATE = path.join(REPO_ROOT, 'docs', 'proxies', 'nginx.conf');
const required = process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1';

function nginxBinary() {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch { /* not this one */ }
  }
  return null;
}

/** Replaces `from` with `to`, failing when the doc no longer contains `from` exactly once. */
function substitute(text, from, to) {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `docs/proxies/nginx.conf must contain "${from}" exactly once`);
  return parts.join(to);
}

async function startNginx(t, { upstreamPort, pki }) {
  const binary = nginxBinary();
  if (!binary) {
    if (required) throw new Error('nginx is not installed (apt-get install -y nginx), and the services are required');
    t.skip('NOT RUN: nginx is not installed (apt-get install -y nginx)');
    return null;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-nginx-'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  let site = fs.readFileSync(TEMPLATE, 'utf8');
  site = substitute(site, 'server 127.0.0.1:6001;', `server 127.0.0.1:${upstreamPort};`);
  site = substitute(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`);
  site = substitute(site, 'listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`);
  site = substitute(site, '/etc/ssl/certs/ws.example.com.pem', pki.cert);
  site = substitute(site, '/etc/ssl/private/ws.example.com.key', pki.key);
  fs.writeFileSync(path.join(dir, 'sockwave.conf'), site);
  // The wrapper only moves nginx's own files into the temp dir; the site is the doc's.
  fs.writeFileSync(path.join(dir, 'nginx.conf'), [
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 256; }',
    'http {',
    '    access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${dir}/${kind}_temp;`),
    `    include ${dir}/sockwave.conf;`,
    '}',
    '',
  ].join('\n'));
  const proc = spawn(binary, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c) => { output += c; });
  proc.stderr.on('data', (c) => { output += c; });
  t.after(() => {
    proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await waitUntil(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${output}\n${fs.readFileSync(`${dir}/error.log`, 'utf8')}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/up`, { signal: AbortSignal.timeout(500) });
      return res.status === 200;
    } catch {
      return false;
    }
  }, 10_000, 'nginx proxying /up');
  return { httpPort, httpsPort };
}

test('pusher-js and the SDK through nginx as docs/proxies/nginx.conf configures it', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startServer();
  t.after(() => server.stop());
  const proxy = await startNginx(t, { upstreamPort: server.port, pki });
  if (!proxy) return;

  // Plain ws and http through the proxy.
  const pusher = makePusher(proxy.httpPort, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-orders');
  const sdk = makeSdk(proxy.httpPort);
  const received = once(channel, 'created');
  const res = await sdk.trigger('private-orders', 'created', { id: 1 });
  assert.equal(res.status, 200);
  const payload = await received; // pusher-js passes (data, metadata)
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { id: 1 });
  const channels = await (await sdk.get({ path: '/channels' })).json();
  assert.ok('private-orders' in channels.channels, JSON.stringify(channels));

  // TLS terminated at nginx: pusher-js forceTLS and the SDK useTLS, trusting the test CA.
  const clients = tlsClients({ port: proxy.httpsPort, ca: pki.ca, appCfg: DEFAULT_APP, t });
  assert.match(await clients.ready(), /^READY \d+\.\d+$/);
  assert.match(await clients.command('publish through-tls'), /^GOT through-tls /);
});

test('docs/proxies.md shows the tested file verbatim, with timeouts above the activity timeout', () => {
  const doc = fs.readFileSync(TEMPLATE, 'utf8');
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'proxies.md'), 'utf8');
  assert.ok(page.includes(doc), 'docs/proxies.md must include docs/proxies/nginx.conf unchanged');
  for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const match = doc.match(new RegExp(`${directive} (\\d+)s;`));
    assert.ok(match, `${directive} is set`);
    assert.ok(Number(match[1]) > 120 + 30, `${directive} ${match[1]}s > activity_timeout + pong_timeout`);
  }
});
