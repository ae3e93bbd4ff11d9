// A Soketi user's configuration, as a Soketi user brings it, against the built binary:
// Soketi's defaults spelled out load as they are; every setting sockwave cannot use is
// reported in one run; `sockwave config migrate` writes a sockwave file that serves the same
// apps; a ./.env with SOKETI_* lines (which Soketi loaded) is said to be ignored at startup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, REPO_ROOT, startServer } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';

const DEFAULTS = path.join(REPO_ROOT, 'src', 'config', 'soketi', 'soketi-defaults.json');

function sockwave(args, { env = {}, cwd } = {}) {
  const result = spawnSync(BIN, args, { env: { PATH: process.env.PATH, ...env }, cwd, encoding: 'utf8', timeout: 15_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-soketi-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a Soketi config that spells out Soketi's defaults is accepted", () => {
  const result = sockwave(['config', 'check', '--config', DEFAULTS]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /max_request_body_kb = 102400 +# 'httpApi\.requestLimitInMb'/);
});

test('every setting sockwave cannot use is reported in one run, file and variables together', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'soketi.json');
  fs.writeFileSync(file, JSON.stringify({
    port: 6001,
    metrics: { driver: 'statsd' },
    adapter: { driver: 'cluster' },
    eventLimits: { maxPayloadInKB: 10 },
  }));
  const result = sockwave(['config', 'check', '--config', file], { env: { SOKETI_SSL_PASS: 'x', SOKETI_DEBUGG: '1' } });
  assert.equal(result.code, 2);
  const lines = result.stderr.trim().split('\n');
  assert.match(lines[0], /^error: 5 settings cannot be used; fix them all/);
  const expected = [
    /'metrics\.driver' in .* is not supported yet \(sockwave accepts only "prometheus"\)/,
    /'adapter\.driver' .*use "redis" or "nats"/,
    /unknown key 'eventLimits\.maxPayloadInKB' .*did you mean 'eventLimits\.maxPayloadInKb'/,
    /SOKETI_DEBUGG \(did you mean 'SOKETI_DEBUG'\?\)/,
    /SOKETI_SSL_PASS is not supported yet/,
  ];
  for (const re of expected) assert.ok(lines.some((l) => re.test(l)), `${re} in:\n${result.stderr}`);
});

test('config migrate: the TOML it prints serves the same app to pusher-js and the SDK', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'soketi.json');
  const soketiApp = { id: 'legacy-id', key: 'legacy-key', secret: 'legacy-secret', enableClientMessages: true, maxConnections: 50 };
  fs.writeFileSync(file, JSON.stringify({ appManager: { array: { apps: [soketiApp] } }, eventLimits: { maxPayloadInKb: 20 } }));
  const migrated = sockwave(['config', 'migrate', file]);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.match(migrated.stdout, /^secret = "legacy-secret" +# 'appManager\.array\.apps\.0\.secret' in /m);
  assert.match(migrated.stdout, /^max_event_payload_kb = 20 +# 'eventLimits\.maxPayloadInKb' in /m);

  const app = { id: soketiApp.id, key: soketiApp.key, secret: soketiApp.secret };
  const server = await startServer({ configText: migrated.stdout, configName: 'sockwave.toml' });
  t.after(() => server.stop());
  const pusher = makePusher(server.port, { t, appCfg: app });
  const { channel } = await pusherSubscribe(pusher, 'private-orders');
  const received = once(channel, 'created');
  assert.equal((await makeSdk(server.port, app).trigger('private-orders', 'created', { id: 7 })).status, 200);
  const payload = await received;
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { id: 7 });
  // The translated limit holds: 21 KB of data is refused.
  const big = await makeSdk(server.port, app).trigger('private-orders', 'big', 'x'.repeat(21 * 1024)).catch((e) => e);
  assert.equal(big.status, 413);

  // The SOKETI_* variables translate too.
  const fromEnv = sockwave(['config', 'migrate', '--env'], { env: { SOKETI_PORT: '7001', SOKETI_DEFAULT_APP_ID: 'env-id' } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.match(fromEnv.stdout, /^port = 7001 +# SOKETI_PORT$/m);
  assert.match(fromEnv.stdout, /^id = "env-id" +# SOKETI_DEFAULT_APP_ID$/m);
});

test('./.env with SOKETI_* variables: startup says it is not read', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, '.env'), 'APP_NAME=Laravel\nSOKETI_DEFAULT_APP_ID=from-dotenv\nexport SOKETI_DEBUG=1\n');
  const server = await startServer({ cwd: dir });
  t.after(() => server.stop());
  await waitUntil(() => /SOKETI_\* variables/.test(server.logs()), 5000, 'the .env warning');
  assert.match(server.logs(), /WARN .*\.\/\.env sets SOKETI_\* variables: Soketi loaded that file, sockwave does not read it.* variables=SOKETI_DEFAULT_APP_ID,SOKETI_DEBUG/);
});
