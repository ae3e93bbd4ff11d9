// TLS helpers: a throw-away CA and localhost certificates made with `openssl` (Node's crypto
// cannot write X.509), an https probe that trusts only that CA, certificate fingerprints, and a
// child process that runs pusher-js and the pusher SDK with NODE_EXTRA_CA_CERTS (Node reads
// extra CAs only at start, so the clients that must trust the test CA live in a child).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './clients.js';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A temp dir with ca.pem and a first localhost certificate (cert.pem, key.pem). */
export function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-pki-'));
  openssl(dir, ['req', '-x509', ...EC, '-days', '2', '-subj', '/CN=sockwave test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  const pki = {
    dir,
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'cert.pem'),
    key: path.join(dir, 'key.pem'),
    /** Issues a new localhost certificate and moves it over cert.pem / key.pem. */
    issue() {
      openssl(dir, ['req', ...EC, '-subj', '/CN=localhost', '-keyout', 'new.key', '-out', 'new.csr']);
      openssl(dir, ['x509', '-req', '-in', 'new.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-days', '2', '-extfile', 'ext.cnf', '-out', 'new.pem']);
      fs.renameSync(path.join(dir, 'new.key'), pki.key);
      fs.renameSync(path.join(dir, 'new.pem'), pki.cert);
    },
    remove() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
  pki.issue();
  return pki;
}

/** GET https://127.0.0.1:port/up trusting only `ca`; resolves the status or null. */
export function httpsStatus(port, ca, pathName = '/up') {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathName, ca: fs.readFileSync(ca), timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => { req.destroy(); resolve(null); });
  });
}

/** The SHA-256 fingerprint of the certificate a TLS handshake on `port` shows. */
export function peerFingerprint(port, ca) {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca), servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  }), 5000, `TLS handshake on port ${port}`);
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tls-child.js');

/**
 * Starts `tls-child.js`: pusher-js (forceTLS) and the SDK (useTLS) against `port`, trusting
 * `ca` through NODE_EXTRA_CA_CERTS. Returns {command(line) → reply line, stop()}.
 */
export function tlsClients({ port, ca, appCfg, t, transport = 'ws' }) {
  const child = spawn(process.execPath, [CHILD], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca, TLS_PORT: String(port), APP: JSON.stringify(appCfg), TRANSPORT: transport },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let buffer = '';
  let stderr = '';
  const waiting = [];
  const lines = [];
  child.stdout.on('data', (chunk) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line); else lines.push(line);
    }
  });
  child.stderr.on('data', (chunk) => { stderr += chunk.toString(); });
  const nextLine = () => withTimeout(new Promise((resolve) => {
    if (lines.length) resolve(lines.shift()); else waiting.push(resolve);
  }), 10_000, 'a reply from the TLS client process').catch((err) => {
    throw new Error(`${err.message}\nchild stderr:\n${stderr}`);
  });
  const handle = {
    ready: nextLine,
    async command(line) {
      child.stdin.write(`${line}\n`);
      return nextLine();
    },
    stop() { child.kill('SIGKILL'); },
  };
  if (t) t.after(() => handle.stop());
  return handle;
}
