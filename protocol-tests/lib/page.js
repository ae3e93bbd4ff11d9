// A web page origin for browser tests, as a Laravel app would serve it: the page, pusher-js's
// and Laravel Echo's browser builds (unmodified, from node_modules), and a real auth
// endpoint that signs private and presence subscriptions with the pusher Node SDK (what
// Laravel's /broadcasting/auth does). It listens on its own port, so sockwave is another
// origin, as in most deployments.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DEFAULT_APP } from './server.js';
import { makeSdk } from './clients.js';

const require = createRequire(import.meta.url);
const PUSHER_JS = require.resolve('pusher-js/dist/web/pusher.js');
// The same pusher-js with tweetnacl, which end-to-end encrypted channels need.
const PUSHER_WITH_ENCRYPTION_JS = require.resolve('pusher-js/dist/web/pusher-with-encryption.js');
// laravel-echo's exports do not list its browser build; it sits beside the module entry.
const ECHO_JS = path.join(path.dirname(require.resolve('laravel-echo')), 'echo.iife.js');
// sockwave's recovery add-on, from this repository (clients/js), as an app would ship it.
const RECOVERY_JS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'clients', 'js', 'index.js');

/**
 * Starts the page server for a sockwave on `sockwavePort`. `page(name)` is the URL of a page
 * whose <head> runs `headScript` (if any) before pusher-js and Echo load. The auth endpoint
 * `/auth?user=<id>` signs as that user (presence channel_data `{user_id, user_info:{name}}`),
 * and with `encryptionMasterKeyBase64` hands out the shared secret of encrypted channels
 * (the page then loads pusher-js's build with encryption). With `recovery`, the page also
 * loads sockwave's recovery add-on (window.SockwaveRecovery). Closed when the test ends.
 */
export async function startPageServer(t, sockwavePort, { appCfg = DEFAULT_APP, headScript = '', encryptionMasterKeyBase64, recovery = false } = {}) {
  const sdk = makeSdk(sockwavePort, appCfg, encryptionMasterKeyBase64 ? { encryptionMasterKeyBase64 } : {});
  const pusherJs = encryptionMasterKeyBase64 ? PUSHER_WITH_ENCRYPTION_JS : PUSHER_JS;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://page.test');
    if (req.method === 'GET' && url.pathname === '/pusher.js') return sendFile(res, pusherJs);
    if (req.method === 'GET' && url.pathname === '/echo.js') return sendFile(res, ECHO_JS);
    if (req.method === 'GET' && url.pathname === '/sockwave-recovery.js' && recovery) return sendFile(res, RECOVERY_JS);
    if (req.method === 'GET' && url.pathname.startsWith('/page/')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(`<!doctype html><html><head><script>${headScript}</script>`
        + '<script src="/pusher.js"></script><script src="/echo.js"></script>'
        + `${recovery ? '<script src="/sockwave-recovery.js"></script>' : ''}</head><body></body></html>`);
    }
    if (req.method === 'POST' && url.pathname === '/auth') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const socketId = form.get('socket_id');
        const channel = form.get('channel_name');
        const user = url.searchParams.get('user') ?? 'anonymous';
        const auth = channel.startsWith('presence-')
          ? sdk.authorizeChannel(socketId, channel, { user_id: user, user_info: { name: `User ${user}` } })
          : sdk.authorizeChannel(socketId, channel);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(auth));
      });
      return undefined;
    }
    res.writeHead(404);
    return res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  server.closeIdleConnections?.();
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, page: (name = 'test') => `${base}/page/${name}` };
}

function sendFile(res, file) {
  res.writeHead(200, { 'content-type': 'application/javascript' });
  fs.createReadStream(file).pipe(res);
}
