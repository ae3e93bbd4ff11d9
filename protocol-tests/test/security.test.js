// Security checks against the built binary: no secret in logs or responses (with debug
// logging on), locked-down defaults (CORS, console), signed-request replay window,
// body_md5, body cap before buffering, the peers' crash frames, reserved names, and
// registries that are empty again once pusher-js clients leave.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { startServer, app, BIN } from '../lib/server.js';
import {
  RawClient, signedRequest, privateAuth, presenceAuth, hmacHex, makePusher, waitForState,
  pusherSubscribe, waitUntil,
} from '../lib/clients.js';

// Distinctive, so any occurrence in output is a leak and not a coincidence.
const SECRET = 'sekret-9f1c2e7a5b';
const APP = app({ secret: SECRET, enable_client_messages: true });

describe('security', () => {
  let srv;
  const bodies = [];
  before(async () => {
    srv = await startServer({ apps: [APP], args: ['--debug'], env: { RUST_LOG: 'debug' } });
  });
  after(() => srv?.stop());

  const connect = async (t, key = APP.key) => {
    const c = await RawClient.connect(srv.wsUrl(key), { expectEstablished: key === APP.key });
    t.after(() => c.terminate());
    return c;
  };
  const api = async (...args) => {
    const res = await signedRequest(srv.port, ...args);
    bodies.push(res.text);
    return res;
  };
  const events = `/apps/${APP.id}/events`;
  const event = { name: 'e', channel: 'sec-ch', data: '{}' };

  test('signed requests outside the timestamp window are refused both ways (no replay)', async () => {
    const now = Math.floor(Date.now() / 1000);
    // 610, not 601: the server's clock may tick to the next second before the request
    // arrives, which would turn now + 601 into exactly the 600 s the window allows.
    for (const timestamp of [now - 610, now + 610]) {
      const res = await api('POST', events, { appCfg: APP, body: event, timestamp });
      assert.equal(res.status, 401, res.text);
      assert.match(res.json.error, /timestamp expired/);
    }
    assert.equal((await api('POST', events, { appCfg: APP, body: event, timestamp: now - 500 })).status, 200);
  });

  test('body_md5 must match the body (a missing one is covered by the unit tests)', async () => {
    const empty = await api('POST', events, { appCfg: APP, body: event, bodyMd5: '' });
    assert.equal(empty.status, 401, empty.text);
    const wrong = await api('POST', events, { appCfg: APP, body: event, bodyMd5: 'ec365a775a4cd0599faeb73354201b6f' });
    assert.equal(wrong.status, 401, wrong.text);
    assert.match(wrong.json.error, /body_md5/);
  });

  test('a 100 MB Content-Length is refused before the body is read', async () => {
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    const started = Date.now();
    sock.write(`POST ${events}?auth_key=${APP.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"name":`);
    let response = '';
    sock.on('data', (chunk) => { response += chunk; });
    await waitUntil(() => response.includes('\r\n\r\n') && response.includes('}'), 5000, 'a response without the body');
    sock.destroy();
    assert.match(response, /^HTTP\/1\.1 413/);
    assert.match(response, /larger than the server limit/);
    assert.ok(Date.now() - started < 5000);
    bodies.push(response);
  });

  test('CORS is off by default: no Access-Control-Allow-Origin for any origin', async () => {
    for (const method of ['GET', 'OPTIONS']) {
      const res = await fetch(srv.httpUrl(`/apps/${APP.id}/channels`), {
        method, headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' },
      });
      assert.equal(res.headers.get('access-control-allow-origin'), null, method);
      bodies.push(await res.text());
    }
  });

  test('the console is off by default', async () => {
    const res = await fetch(srv.httpUrl('/console'));
    assert.equal(res.status, 404);
    bodies.push(await res.text());
  });

  test('subscribe without data (the frame that shut Soketi down) -> pusher:error, server fine', async (t) => {
    const c = await connect(t);
    c.send('{"event":"pusher:subscribe"}');
    const error = await c.nextEvent('pusher:error');
    assert.equal(error.data.code, 4300);
    await c.ping();
    assert.equal((await fetch(srv.httpUrl('/up'))).status, 200);
  });

  test('presence subscribe without channel_data (the frame that panicked Sockudo) is refused', async (t) => {
    const c = await connect(t);
    const channel = 'presence-sec';
    c.subscribe(channel, { auth: privateAuth(c.socketId, channel, APP) });
    const refused = await c.next((f) => ['pusher:subscription_error', 'pusher:error'].includes(f.event));
    assert.match(refused.raw, /channel_data missing/);
    await c.ping();
  });

  test('client events only from subscribed members of private/presence channels', async (t) => {
    const member = await connect(t);
    const outsider = await connect(t);
    await member.subscribePrivate('private-sec', APP);
    outsider.send({ event: 'client-x', channel: 'private-sec', data: {} });
    const error = await outsider.nextEvent('pusher:error');
    assert.equal(error.data.code, 4301);
    assert.match(error.data.message, /not subscribed/);
    // The refusal was sent, so the event was handled: a relay would reach member before its pong.
    await member.expectNoneAfterPing((f) => f.event === 'client-x');
  });

  test('reserved names cannot be subscribed: #server-to-user-* of others, # and pusher prefixes', async (t) => {
    const c = await connect(t);
    for (const channel of ['#server-to-user-someone', '#anything']) {
      c.subscribe(channel);
      const refused = await c.next((f) => f.event === 'pusher:subscription_error' && f.channel === channel);
      assert.match(refused.raw, /reserved/);
    }
    c.send({ event: 'pusher_internal:member_added', channel: 'presence-x', data: {} });
    assert.equal((await c.nextEvent('pusher:error')).data.code, 4300);
  });

  test('failures never show the secret: bad signatures, wrong keys, unknown apps', async (t) => {
    const wrongSecret = await api('POST', events, { appCfg: APP, secret: 'not-it', body: event });
    assert.equal(wrongSecret.status, 401);
    assert.equal((await api('POST', events, { appCfg: APP, key: 'other-key', body: event })).status, 401);
    assert.equal((await api('GET', '/apps/nope/channels', { appCfg: APP })).status, 404);
    const c = await connect(t);
    c.subscribe('private-x', { auth: `${APP.key}:${'0'.repeat(64)}` });
    c.subscribe('private-y', { auth: `other-key:${hmacHex('x', 'y')}` });
    const cd = JSON.stringify({ user_id: '1' });
    c.subscribe('presence-z', { auth: presenceAuth('1.1', 'presence-z', cd, APP).auth, channel_data: cd });
    c.send({ event: 'pusher:signin', data: { auth: `${APP.key}:${'a'.repeat(64)}`, user_data: '{"id":"1"}' } });
    await c.next((f) => f.event === 'pusher:error' && /sign-in/.test(f.raw));
    const unknown = await connect(t, 'unknown-key');
    await unknown.waitClosed();
    for (const f of [...c.frames, ...unknown.frames]) bodies.push(f.raw);
  });

  test('the secret is in no response and no log line (debug logging on)', async () => {
    assert.ok(bodies.length > 10, 'the other tests ran first');
    for (const body of bodies) assert.ok(!body.includes(SECRET), `response leaked the secret: ${body}`);
    const logs = srv.logs();
    assert.ok(logs.includes('DEBUG') || logs.includes('debug'), 'debug logging is on');
    assert.ok(logs.includes('rejected') || logs.includes('refused'), 'failures were logged');
    assert.ok(!logs.includes(SECRET), 'a log line contains the secret');
  });
});

test('`sockwave config check` masks secrets', () => {
  const out = spawnSync(BIN, ['config', 'check'], {
    env: { PATH: process.env.PATH, SOCKWAVE_APP_ID: 'a1', SOCKWAVE_APP_KEY: 'k1', SOCKWAVE_APP_SECRET: SECRET },
    encoding: 'utf8',
  });
  assert.equal(out.status, 0, out.stderr);
  assert.ok(out.stdout.includes('k1'), out.stdout);
  assert.ok(!out.stdout.includes(SECRET) && !out.stderr.includes(SECRET), out.stdout);
});

describe('leaks, as a backend sees them', () => {
  let srv;
  before(async () => { srv = await startServer({ apps: [APP] }); });
  after(() => srv?.stop());

  test('after pusher-js clients in every channel kind leave, GET /channels and /users are empty', async (t) => {
    const clients = [];
    for (const user of ['1', '2']) {
      const pusher = makePusher(srv.port, { t, appCfg: APP, auth: { user: { user_id: user, user_info: { n: user } } } });
      await waitForState(pusher, 'connected');
      for (const name of ['pub-a', 'private-b', 'presence-c', 'cache-d']) await pusherSubscribe(pusher, name);
      clients.push(pusher);
    }
    // A third member on a raw socket that goes away without a close frame.
    const raw = await RawClient.connect(srv.wsUrl(APP.key));
    await raw.subscribePresence('presence-c', { user_id: '3' }, APP);
    await raw.subscribePrivate('private-b', APP);
    const channels = await signedRequest(srv.port, 'GET', `/apps/${APP.id}/channels`, { appCfg: APP });
    assert.equal(Object.keys(channels.json.channels).length, 4, channels.text);
    const users = await signedRequest(srv.port, 'GET', `/apps/${APP.id}/channels/presence-c/users`, { appCfg: APP });
    assert.equal(users.json.users.length, 3, users.text);

    clients[0].unsubscribe('presence-c');
    clients[0].disconnect();
    raw.terminate();
    clients[1].disconnect();

    await waitUntil(async () => {
      const res = await signedRequest(srv.port, 'GET', `/apps/${APP.id}/channels`, { appCfg: APP });
      return Object.keys(res.json.channels).length === 0;
    }, 5000, 'GET /channels empty');
    const after = await signedRequest(srv.port, 'GET', `/apps/${APP.id}/channels/presence-c/users`, { appCfg: APP });
    assert.deepEqual(after.json, { users: [] });
  });
});
