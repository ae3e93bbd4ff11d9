// nginx started on free ports with docs/proxies/nginx.conf: only the ports and the certificate
// paths are substituted (and, for a test that needs nginx's defaults, whole directives can be
// dropped by the caller). Without nginx a test says NOT RUN, unless
// SOCKWAVE_TEST_REQUIRE_SERVICES=1 makes that a failure.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, REPO_ROOT } from './server.js';
import { waitUntil } from './clients.js';

export const TEMPLATE = path.join(REPO_ROOT, 'docs', 'proxies', 'nginx.conf');
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
export function substitute(text, from, to) {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `docs/proxies/nginx.conf must contain "${from}" exactly once`);
  return parts.join(to);
}

export async function startNginx(t, { upstreamPort, pki, edit = (site) => site }) {
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
  fs.writeFileSync(path.join(dir, 'sockwave.conf'), edit(site));
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

