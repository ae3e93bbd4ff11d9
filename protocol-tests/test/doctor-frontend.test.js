// `sockwave doctor` reads the built frontend: a real Vite build (Vite 6 with
// laravel-vite-plugin, as a Laravel 11 app has it) of the README's Echo options, then the
// doctor against the project's `.env`. Asserted: a fresh build passes; a `.env` changed
// after the build fails with "rebuild the frontend" naming what differs; a build that points
// the browser at a docker compose service name fails even when every other check would pass;
// and `--browser-url` no longer gives an all-clear for a built page that connects elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, REPO_ROOT } from '../lib/server.js';
import { tempDir } from '../lib/tools.js';

const MODULES = path.join(REPO_ROOT, 'protocol-tests', 'node_modules');
const VITE = path.join(MODULES, 'vite', 'bin', 'vite.js');

/** The README's Echo options, as resources/js/echo.js has them. */
const ECHO_JS = `import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
window.Pusher = Pusher;

window.Echo = new Echo({
    broadcaster: 'pusher',
    key: import.meta.env.VITE_PUSHER_APP_KEY,
    cluster: import.meta.env.VITE_PUSHER_APP_CLUSTER,
    wsHost: import.meta.env.VITE_PUSHER_HOST,
    wsPort: import.meta.env.VITE_PUSHER_PORT ?? 80,
    wssPort: import.meta.env.VITE_PUSHER_PORT ?? 443,
    forceTLS: (import.meta.env.VITE_PUSHER_SCHEME ?? 'https') === 'https',
    httpHost: import.meta.env.VITE_PUSHER_HOST,
    httpPort: import.meta.env.VITE_PUSHER_PORT ?? 80,
    httpsPort: import.meta.env.VITE_PUSHER_PORT ?? 443,
});
`;

function dotenv({ key = 'app-key', browserHost = 'localhost' } = {}) {
  return [
    'APP_URL=http://localhost',
    'BROADCAST_CONNECTION=pusher',
    'PUSHER_APP_ID=app-id',
    `PUSHER_APP_KEY=${key}`,
    'PUSHER_APP_SECRET=app-secret',
    'PUSHER_HOST=127.0.0.1',
    'PUSHER_PORT=6001',
    'PUSHER_SCHEME=http',
    'PUSHER_APP_CLUSTER=mt1',
    '',
    'VITE_PUSHER_APP_KEY="${PUSHER_APP_KEY}"',
    `VITE_PUSHER_HOST=${browserHost}`,
    'VITE_PUSHER_PORT="${PUSHER_PORT}"',
    'VITE_PUSHER_SCHEME="${PUSHER_SCHEME}"',
    'VITE_PUSHER_APP_CLUSTER="${PUSHER_APP_CLUSTER}"',
    '',
  ].join('\n');
}

/** A Laravel project's frontend part: vite.config.js, resources/js, .env. */
function project(t, env) {
  const dir = tempDir(t, 'laravel-frontend');
  fs.mkdirSync(path.join(dir, 'resources', 'js'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'resources', 'js', 'app.js'), ECHO_JS);
  fs.writeFileSync(path.join(dir, 'vite.config.js'), [
    "import { defineConfig } from 'vite';",
    "import laravel from 'laravel-vite-plugin';",
    "export default defineConfig({ plugins: [laravel({ input: ['resources/js/app.js'], refresh: false })] });",
    '',
  ].join('\n'));
  fs.symlinkSync(MODULES, path.join(dir, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(dir, '.env'), env);
  return dir;
}

function build(dir) {
  execFileSync(process.execPath, [VITE, 'build', '--logLevel', 'error'], { cwd: dir, stdio: 'pipe', timeout: 120_000 });
  assert.ok(fs.existsSync(path.join(dir, 'public', 'build', 'manifest.json')), 'vite wrote public/build/manifest.json');
}

/** Runs the doctor offline (no server needed for these checks); returns its exit code and output. */
function doctor(dir, extra = []) {
  const run = spawnSync(BIN, ['doctor', '--env', path.join(dir, '.env'), '--offline', ...extra], { encoding: 'utf8', timeout: 30_000 });
  return { code: run.status, out: run.stdout + run.stderr };
}

/** The doctor's line for `name` (and its fix line, if any). */
function line(out, name) {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.includes(name));
  assert.ok(at >= 0, `a '${name}' line in:\n${out}`);
  return lines.slice(at, at + 2).join('\n');
}

test('doctor: a fresh build passes; a .env changed after the build says to rebuild', { timeout: 120_000 }, async (t) => {
  const dir = project(t, dotenv());
  build(dir);
  let { code, out } = doctor(dir);
  assert.match(line(out, 'built frontend'), /✔ built frontend .*public\/build\/assets\/app-[\w-]+\.js was built with the values \.env has now \(broadcaster pusher, key app-key, wsHost localhost, ports 6001\/6001, forceTLS false\)/);
  assert.equal(code, 0, out);

  // The key rotated in .env, the frontend not rebuilt: the browser still uses the old key.
  fs.writeFileSync(path.join(dir, '.env'), dotenv({ key: 'rotated-key' }));
  ({ code, out } = doctor(dir));
  const stale = line(out, 'built frontend');
  assert.match(stale, /✘ built frontend .*key 'app-key' where VITE_PUSHER_APP_KEY is now 'rotated-key'/);
  assert.match(stale, /fix: rebuild the frontend \(npm run build\)/);
  assert.equal(code, 1);

  build(dir);
  ({ code } = doctor(dir));
  assert.equal(code, 0);
});

test('doctor: a build for a docker service name fails, and --browser-url is no all-clear for a page built for another host', { timeout: 120_000 }, async (t) => {
  const dir = project(t, dotenv({ browserHost: 'sockwave' }));
  build(dir);
  let { code, out } = doctor(dir);
  assert.match(line(out, 'built frontend'), /✘ built frontend .*connects the browser to wsHost 'sockwave', a docker compose service name/);
  assert.equal(code, 1);
  // The fix the doctor gives elsewhere is --browser-url; with it the built page still points
  // at the service name, and the doctor says so instead of passing.
  ({ code, out } = doctor(dir, ['--browser-url', 'http://localhost:6001']));
  assert.match(line(out, 'built frontend'), /✘ built frontend .*wsHost 'sockwave', a docker compose service name/);
  assert.equal(code, 1);

  // A page built for a real host name while --browser-url checks another server: the browser
  // checks do not cover the built page.
  fs.writeFileSync(path.join(dir, '.env'), dotenv({ browserHost: 'ws.example.com' }));
  build(dir);
  ({ code, out } = doctor(dir, ['--browser-url', 'http://localhost:6001']));
  assert.match(line(out, 'built frontend'), /✘ built frontend .*the browser checks ran against http:\/\/localhost:6001 \(--browser-url\), but .* connects the browser to 'ws\.example\.com'/);
  assert.equal(code, 1);

  // Rebuilt for localhost: --browser-url and the built page agree.
  fs.writeFileSync(path.join(dir, '.env'), dotenv({ browserHost: 'localhost' }));
  build(dir);
  ({ code, out } = doctor(dir, ['--browser-url', 'http://127.0.0.1:6001']));
  assert.match(line(out, 'built frontend'), /✔ built frontend/);
  assert.equal(code, 0, out);
});
