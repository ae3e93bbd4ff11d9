// `sockwave doctor` against a real Laravel application (Laravel 8 from Debian's
// php-laravel-framework, served by `php -S`; see protocol-tests/laravel-app/README.md), healthy
// and broken in the ways users break it: broadcast routes not registered, a CSRF-protected
// route of their own, an auth redirect, a channel callback that refuses the user, an
// exception in the callback, and an app whose running secret is not the server's. Each run
// asserts the `auth endpoint` line and the exit code. Then queued broadcast events
// (ShouldBroadcast) fired through the app into a Redis, MariaDB or PostgreSQL queue with no
// worker: the `broadcast queue` line counts them. Without PHP or Laravel: NOT RUN (a
// failure when SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, REPO_ROOT, freePort, startServer } from '../lib/server.js';
import { waitUntil } from '../lib/clients.js';
import { needTool, tempDir } from '../lib/tools.js';
import { notRun, redisCommand } from '../lib/cluster.js';

const redisCommandDel = (key) => redisCommand(6379, ['DEL', key]).catch(() => {});

const SKELETON = path.join(REPO_ROOT, 'protocol-tests', 'laravel-app');
const LARAVEL = '/usr/share/php/Illuminate/autoload.php';

/** PHP with Debian's Laravel and the extensions the test app's queues use, or NOT RUN. */
function needPhp(t) {
  if (!needTool(t, ['php'], ['--version'], 'apt-get install -y php-cli')) return false;
  if (!fs.existsSync(LARAVEL)) return notRun(t, 'Laravel is not installed (apt-get install -y php-laravel-framework)');
  const modules = spawnSync('php', ['-m'], { encoding: 'utf8' }).stdout.split('\n').map((m) => m.trim());
  const absent = ['redis', 'pdo_mysql', 'pdo_pgsql'].filter((m) => !modules.includes(m));
  if (absent.length) return notRun(t, `PHP lacks ${absent.join(', ')} (apt-get install -y php-redis php-mysql php-pgsql)`);
  return true;
}

/** The sockwave both the app and the doctor use. */
async function sockwave(t) {
  const server = await startServer();
  t.after(() => server.stop());
  return server;
}

function dotenv(port, { secret = 'app-secret' } = {}) {
  return [
    'APP_URL=http://localhost',
    'APP_KEY=base64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    'APP_DEBUG=true',
    'BROADCAST_DRIVER=pusher',
    'PUSHER_APP_ID=app-id',
    'PUSHER_APP_KEY=app-key',
    `PUSHER_APP_SECRET=${secret}`,
    'PUSHER_HOST=127.0.0.1',
    `PUSHER_PORT=${port}`,
    'PUSHER_SCHEME=http',
    'PUSHER_APP_CLUSTER=mt1',
    '',
    'VITE_PUSHER_APP_KEY="${PUSHER_APP_KEY}"',
    'VITE_PUSHER_HOST=localhost',
    'VITE_PUSHER_PORT="${PUSHER_PORT}"',
    'VITE_PUSHER_SCHEME="${PUSHER_SCHEME}"',
    'VITE_PUSHER_APP_CLUSTER="${PUSHER_APP_CLUSTER}"',
    '',
  ].join('\n');
}

/** A copy of the skeleton with `edits` ({file: (text) => text}) applied, served by php -S. */
async function laravel(t, env, edits = {}) {
  const dir = tempDir(t, 'laravel');
  fs.cpSync(SKELETON, dir, { recursive: true });
  for (const sub of ['storage/framework/sessions', 'storage/framework/views', 'storage/framework/cache', 'storage/logs', 'bootstrap/cache']) {
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
  }
  for (const [file, edit] of Object.entries(edits)) {
    const full = path.join(dir, file);
    const before = fs.readFileSync(full, 'utf8');
    const after = edit(before);
    assert.notEqual(after, before, `the edit of ${file} changed it`);
    fs.writeFileSync(full, after);
  }
  fs.writeFileSync(path.join(dir, '.env'), env);
  const port = await freePort();
  const php = spawn('php', ['-S', `127.0.0.1:${port}`, '-t', path.join(dir, 'public')], { cwd: dir, stdio: 'ignore' });
  t.after(() => php.kill('SIGKILL'));
  await waitUntil(async () => {
    try { return (await fetch(`http://127.0.0.1:${port}/login`)).status === 200; } catch { return false; }
  }, 10_000, 'php -S serving the Laravel app', 100);
  return { dir, url: `http://127.0.0.1:${port}` };
}

function doctor(app, args) {
  const run = spawnSync(BIN, ['doctor', '--env', path.join(app.dir, '.env'), '--app-url', app.url, ...args], { encoding: 'utf8', timeout: 60_000 });
  const out = run.stdout + run.stderr;
  const lines = out.split('\n');
  const at = lines.findIndex((l) => /^\S auth endpoint /.test(l));
  assert.ok(at >= 0, `an auth endpoint line in:\n${out}`);
  return { code: run.status, line: lines.slice(at, at + 2).join('\n'), out };
}

const user = (id) => ['--header', `X-Test-User: ${id}`];

test('doctor and a healthy Laravel app: the auth endpoint signs, the server accepts', async (t) => {
  if (!needPhp(t)) return;
  const server = await sockwave(t);
  const app = await laravel(t, dotenv(server.port));
  // The channel comes from routes/channels.php: orders.{id} → private-orders.1.
  const run = doctor(app, user(1));
  assert.match(run.line, /✔ auth endpoint .*POST http:\/\/127\.0\.0\.1:\d+\/broadcasting\/auth for private-orders\.1 signed the subscription and the server accepted it/);
  assert.equal(run.code, 0, run.out);
});

test('doctor and broken Laravel apps: each failure named with its fix', async (t) => {
  if (!needPhp(t)) return;
  const server = await sockwave(t);
  const env = dotenv(server.port);
  const cases = [
    {
      label: 'broadcast routes not registered',
      edits: { 'config/app.php': (php) => php.replace('        App\\Providers\\BroadcastServiceProvider::class,', '        // App\\Providers\\BroadcastServiceProvider::class,') },
      args: user(1),
      expect: [/✘ auth endpoint .*answered 404: the broadcasting routes are not registered/, /fix: uncomment App\\Providers\\BroadcastServiceProvider::class in the providers of config\/app\.php/],
    },
    {
      label: 'a CSRF-protected route of its own',
      edits: {
        'config/app.php': (php) => php.replace('        App\\Providers\\BroadcastServiceProvider::class,', ''),
        'routes/web.php': (php) => `${php}\nRoute::post('/broadcasting/auth', fn (Illuminate\\Http\\Request $request) => Illuminate\\Support\\Facades\\Broadcast::auth($request));\nrequire base_path('routes/channels.php');\n`,
      },
      args: user(1),
      expect: [/✘ auth endpoint .*answered 419: CSRF token mismatch/, /fix: Echo sends X-CSRF-TOKEN/],
    },
    {
      label: 'auth middleware and a cookie that is no logged-in session',
      edits: { 'app/Providers/BroadcastServiceProvider.php': (php) => php.replace('Broadcast::routes();', "Broadcast::routes(['middleware' => ['web', 'auth']]);") },
      args: ['--cookie', 'laravel_session=expired'],
      expect: [/✘ auth endpoint .*was redirected to http:\/\/127\.0\.0\.1:\d+\/login: the request is not authenticated/, /fix: Echo's auth request must carry the user's session cookie/],
    },
    {
      label: 'the channel callback refuses this user',
      edits: {},
      args: [...user(8), '--channel', 'private-orders.7'],
      expect: [/✘ auth endpoint .*answered 403: the route works and the app refused this user \(the callback of Broadcast::channel\('orders\.\{id\}'\) in routes\/channels\.php/],
    },
    {
      label: 'a catch-all page route answers instead',
      edits: {
        'config/app.php': (php) => php.replace('        App\\Providers\\BroadcastServiceProvider::class,', ''),
        'routes/web.php': (php) => `${php}\nRoute::any('/{any}', fn () => '<!DOCTYPE html><html><body>the SPA</body></html>')->where('any', '.*')->withoutMiddleware(App\\Http\\Middleware\\VerifyCsrfToken::class);\n`,
      },
      args: user(1),
      expect: [/✘ auth endpoint .*answered 200 without an auth signature \(the body starts with '<!DOCTYPE html>/, /fix: make sure Echo's auth path is Laravel's \/broadcasting\/auth/],
    },
    {
      label: 'an exception in the callback',
      edits: { 'routes/channels.php': (php) => php.replace("fn ($user, $id) => (string) $user->id === (string) $id", "function ($user, $id) { throw new RuntimeException('database connection lost'); }") },
      args: user(1),
      expect: [/✘ auth endpoint .*answered 500: RuntimeException: database connection lost/, /fix: the app threw while authorizing/],
    },
  ];
  // The same refusal without credentials is what any guest gets: a warning, not a failure.
  {
    const app = await laravel(t, env);
    const run = doctor(app, []);
    assert.match(run.line, /! auth endpoint .*answered 403 to a guest: the route works; whether a logged-in user may join is not checked/);
    assert.equal(run.code, 0, run.out);
  }
  for (const c of cases) {
    const app = await laravel(t, env, c.edits);
    const run = doctor(app, c.args);
    for (const pattern of c.expect) assert.match(run.line, pattern, `${c.label}:\n${run.out}`);
    assert.equal(run.code, 1, `${c.label} fails the run`);
  }
});

test("doctor and a Laravel app whose secret is not the server's: the signature is checked by the server", async (t) => {
  if (!needPhp(t)) return;
  const server = await sockwave(t);
  const app = await laravel(t, dotenv(server.port, { secret: 'stale-secret' }));
  const run = doctor(app, user(1));
  assert.match(run.line, /✘ auth endpoint .*signed it, but the server refused the auth/);
  assert.match(run.line, /fix: the app signs with another key or secret than the server's app/);
  assert.equal(run.code, 1);
});

const JOBS_TABLE = {
  mysql: `CREATE TABLE jobs (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, queue varchar(255) NOT NULL,
    payload longtext NOT NULL, attempts tinyint unsigned NOT NULL, reserved_at int unsigned NULL,
    available_at int unsigned NOT NULL, created_at int unsigned NOT NULL, KEY jobs_queue_index (queue))`,
  postgres: `CREATE TABLE jobs (id bigserial PRIMARY KEY, queue varchar(255) NOT NULL, payload text NOT NULL,
    attempts smallint NOT NULL, reserved_at integer NULL, available_at integer NOT NULL, created_at integer NOT NULL)`,
};

/** Fires `n` queued broadcast events through the app (GET /fire/{id}). */
async function fire(app, n) {
  for (let id = 1; id <= n; id += 1) {
    const res = await fetch(`${app.url}/fire/${id}`);
    assert.equal(res.status, 200, await res.text());
  }
}

function queueLine(out) {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => /^\S broadcast queue /.test(l));
  assert.ok(at >= 0, `a broadcast queue line in:\n${out}`);
  return lines.slice(at, at + 2).join('\n');
}

test('doctor: ShouldBroadcast events stuck in a Redis queue with no worker', async (t) => {
  if (!needPhp(t)) return;
  const server = await sockwave(t);
  const prefix = `doctor_${process.pid}_${Math.floor(Math.random() * 1e6)}_`;
  const env = `${dotenv(server.port)}QUEUE_CONNECTION=redis\nREDIS_HOST=127.0.0.1\nREDIS_PORT=6379\nREDIS_PREFIX=${prefix}\n`;
  const app = await laravel(t, env);
  // Nothing queued yet: the events are queued, the queue is empty.
  let run = doctor(app, user(1));
  assert.match(queueLine(run.out), /✔ broadcast queue .*App\\Events\\OrderShipped are queued \(QUEUE_CONNECTION=redis\); no broadcast job waits in the Redis list/);
  await fire(app, 3);
  t.after(() => redisCommandDel(`${prefix}queues:default`));
  run = doctor(app, user(1));
  const line = queueLine(run.out);
  assert.match(line, new RegExp(`✘ broadcast queue — 3 broadcast jobs are waiting in the Redis list ${prefix}queues:default, and none was taken within 3.5 s: no worker consumes this queue`));
  assert.match(line, /fix: run a worker: php artisan queue:work redis --queue=default/);
  assert.equal(run.code, 1);
});

for (const kind of ['mysql', 'postgres']) {
  test(`doctor: ShouldBroadcast events stuck in a ${kind === 'mysql' ? 'MariaDB' : 'PostgreSQL'} database queue with no worker`, async (t) => {
    if (!needPhp(t)) return;
    const { createAppsDatabase } = await import('../lib/sql.js');
    const server = await sockwave(t);
    const db = await createAppsDatabase(t, kind);
    await db.query(JOBS_TABLE[kind]);
    const user_ = kind === 'mysql' ? 'root' : 'postgres';
    const env = `${dotenv(server.port)}QUEUE_CONNECTION=database\nDB_CONNECTION=${kind === 'mysql' ? 'mysql' : 'pgsql'}\nDB_HOST=127.0.0.1\nDB_PORT=${kind === 'mysql' ? 3306 : 5432}\nDB_DATABASE=${db.database}\nDB_USERNAME=${user_}\n`;
    const app = await laravel(t, env);
    await fire(app, 2);
    // The oldest job's age is read from created_at.
    const run = doctor(app, user(1));
    const line = queueLine(run.out);
    assert.match(line, /✘ broadcast queue — 2 broadcast jobs are waiting in the jobs table \(queue 'default'\), the oldest for \d+ s, and none was taken within 3.5 s/);
    assert.equal(run.code, 1);
  });
}
