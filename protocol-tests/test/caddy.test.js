// pusher-js (over WebSocket, then over its HTTP fallback transports) and the pusher SDK
// through Caddy configured exactly as docs/proxies/Caddyfile says: only the site address (a loopback port with Caddy's own local CA instead of a public
// name and Let's Encrypt) and the upstream port are substituted, and a global options block
// keeps Caddy's state in a temp dir and out of the system trust store. Without caddy the test
// says NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1 makes that a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, freePort, REPO_ROOT, DEFAULT_APP } from '../lib/server.js';
import { tlsClients } from '../lib/tls.js';
import { needTool, runTool, substitute, tempDir } from '../lib/tools.js';

const CADDYFILE = path.join(REPO_ROOT, 'docs', 'proxies', 'Caddyfile');

/** Caddy with the documented site block on fresh ports and its own local CA, in a temp dir. */
async function startCaddy(t, binary, upstreamPort) {
  const dir = tempDir(t, 'caddy');
  const port = await freePort();
  const adminPort = await freePort();
  let site = fs.readFileSync(CADDYFILE, 'utf8');
  site = substitute(site, 'ws.example.com {', `https://127.0.0.1:${port} {`, 'docs/proxies/Caddyfile');
  site = substitute(site, 'reverse_proxy 127.0.0.1:6001 {', `reverse_proxy 127.0.0.1:${upstreamPort} {`, 'docs/proxies/Caddyfile');
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
  // Caddy's local CA signs the loopback certificate; the clients trust only that root.
  const root = path.join(dir, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');
  await runTool(t, binary, ['run', '--config', path.join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    env,
    label: 'caddy serving with its local CA',
    ready: (output) => fs.existsSync(root) && /serving initial configuration|certificate obtained successfully/.test(output),
  });
  return { port, root };
}

test('pusher-js over wss and the SDK over https through Caddy as docs/proxies/Caddyfile configures it', async (t) => {
  const binary = needTool(t, ['caddy'], ['version'], 'apt-get install -y caddy');
  if (!binary) return;
  const server = await startServer();
  t.after(() => server.stop());
  // A free port can be taken by a concurrent test before Caddy binds it (Caddy binds every
  // interface): start again on new ports then.
  let caddy;
  for (let attempt = 1; !caddy; attempt += 1) {
    caddy = await startCaddy(t, binary, server.port).catch((err) => {
      if (attempt >= 3 || !/address already in use/.test(err.message)) throw err;
      return null;
    });
  }
  const { port, root } = caddy;

  const clients = tlsClients({ port, ca: root, appCfg: DEFAULT_APP, t });
  assert.match(await clients.ready(), /^READY \d+\.\d+$/);
  assert.match(await clients.command('publish through-caddy'), /^GOT through-caddy /);
  assert.match(await clients.command('fresh'), /^FRESH \d+\.\d+$/);
  // pusher-js's HTTP fallback through the same site block: the stream must not be buffered.
  for (const transport of ['xhr_streaming', 'xhr_polling']) {
    const fallback = tlsClients({ port, ca: root, appCfg: DEFAULT_APP, t, transport });
    assert.match(await fallback.ready(), new RegExp(`^READY \\d+\\.\\d+ via ${transport}$`));
    assert.match(await fallback.command(`publish via-${transport}`), new RegExp(`^GOT via-${transport} `));
  }
});

test('docs/proxies.md shows the tested Caddyfile verbatim', () => {
  const doc = fs.readFileSync(CADDYFILE, 'utf8');
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'proxies.md'), 'utf8');
  assert.ok(page.includes(doc), 'docs/proxies.md must include docs/proxies/Caddyfile unchanged');
});
