// nginx started on free ports with docs/proxies/nginx.conf: only the ports and the certificate
// paths are substituted (and, for a test that needs nginx's defaults, whole directives can be
// dropped by the caller). Without nginx a test says NOT RUN, unless
// SOCKWAVE_TEST_REQUIRE_SERVICES=1 makes that a failure.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, REPO_ROOT } from './server.js';
import { needTool, runTool, substitute as substituteIn, tempDir } from './tools.js';

export const TEMPLATE = path.join(REPO_ROOT, 'docs', 'proxies', 'nginx.conf');

/** Replaces `from` with `to`, failing when the doc no longer contains `from` exactly once. */
export function substitute(text, from, to) {
  return substituteIn(text, from, to, 'docs/proxies/nginx.conf');
}

export async function startNginx(t, { upstreamPort, pki, edit = (site) => site }) {
  const binary = needTool(t, ['nginx', '/usr/sbin/nginx'], ['-v'], 'apt-get install -y nginx');
  if (!binary) return null;
  const dir = tempDir(t, 'nginx');
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
  await runTool(t, binary, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], {
    label: 'nginx proxying /up',
    ms: 10_000,
    ready: async () => (await fetch(`http://127.0.0.1:${httpPort}/up`, { signal: AbortSignal.timeout(500) })).status === 200,
  }).catch((err) => {
    const log = path.join(dir, 'error.log');
    throw new Error(`${err.message}\n${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''}`);
  });
  return { httpPort, httpsPort };
}

