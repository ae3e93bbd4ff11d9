// pusher-js and the pusher SDK through Caddy configured exactly as docs/proxies/Caddyfile
// says: only the site address (a loopback port with Caddy's own local CA instead of a public
// name and Let's Encrypt) and the upstream port are substituted, and a global options block
// keeps Caddy's state in a temp dir and out of the system trust store. Without caddy the test
// says NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1 makes that a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, freePort, REPO_ROOT, DEFAULT_APP } from '../lib/server.js';
import { waitUntil } from '../lib/clients.js';
import { tlsClients } from '../lib/tls.js';

const CADDYFILE = path.join(REPO_ROOT, 'docs', 'proxies', 'Caddyfile');
const required = process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1';

function caddyBinary() {
  try {
    execFileSync('caddy', ['version'], { stdio: 'ignore' });
    return 'caddy';
  } catch {
    return null;
  }
}

function substitute(text, from, to) {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `docs/proxies/Caddyfile must contain "${from}" exactly once`);
  return parts.join(to);
}

test('pusher-js over wss and the SDK over https through Caddy as docs/proxies/Caddyfile configures it', async (t) => {
  const binary = caddyBinary();
  if (!binary) {
    if (required) throw new Error('caddy is not installed (apt-get install -y caddy), and the services are required');
    t.skip('NOT RUN: caddy is not installed (apt-get install -y caddy)');
    return;
  }
  const server = await startServer();
  t.after(() => server.stop());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-caddy-'));
  const port = await freePort();
  const adminPort = await freePort();
  let site = fs.readFileSync(CADDYFILE, 'utf8');
  site = substitute(site, 'ws.example.com {', `https://127.0.0.1:${port} {`);
  site = substitute(site, 'reverse_proxy 127.0.0.1:6001 {', `reverse_proxy 127.0.0.1:${server.port} {`);
  const config = [
    '{',
    `\tadmin 127.0.0.1:${adminPort}`,
    '\tskip_install_trust',
    '\tauto_https disable_redirects',
    `\thttps_port ${port}`,
    '}',
    site,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'Caddyfile'), config);
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  const proc = spawn(binary, ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c) => { output += c; });
  proc.stderr.on('data', (c) => { output += c; });
  t.after(() => {
    proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Caddy's local CA signs the loopback certificate; the clients trust only that root.
  const root = path.join(dir, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');
  await waitUntil(() => {
    if (proc.exitCode !== null) throw new Error(`caddy exited: ${output}`);
    return fs.existsSync(root) && /serving initial configuration|certificate obtained successfully/.test(output);
  }, 20_000, 'caddy serving with its local CA', 100);

  const clients = tlsClients({ port, ca: root, appCfg: DEFAULT_APP, t });
  assert.match(await clients.ready(), /^READY \d+\.\d+$/);
  assert.match(await clients.command('publish through-caddy'), /^GOT through-caddy /);
  assert.match(await clients.command('fresh'), /^FRESH \d+\.\d+$/);
});

test('docs/proxies.md shows the tested Caddyfile verbatim', () => {
  const doc = fs.readFileSync(CADDYFILE, 'utf8');
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'proxies.md'), 'utf8');
  assert.ok(page.includes(doc), 'docs/proxies.md must include docs/proxies/Caddyfile unchanged');
});
