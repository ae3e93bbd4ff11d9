// Laravel Echo (broadcaster 'pusher') against the server, with a locally signing authorizer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app } from '../lib/server.js';
import { makeEcho, makeSdk, pusherPing, withTimeout, waitUntil } from '../lib/clients.js';

const APP = app({ enable_client_messages: true });

const connected = (echo) => waitUntil(() => echo.connectionStatus() === 'connected', 8000, 'Echo connected');
const waitCb = (register, label, ms = 5000) => withTimeout(new Promise((resolve) => register(resolve)), ms, label);

describe('Laravel Echo', () => {
  let srv;
  let sdk;
  before(async () => {
    srv = await startServer({ apps: [APP] });
    sdk = makeSdk(srv.port, APP);
  });
  after(() => srv?.stop());

  const user = (id, name) => ({ user_id: id, user_info: { id, name } });

  test("Echo.channel(...).listen('.stats.updated') receives an SDK publish", async (t) => {
    const echo = makeEcho(srv.port, { t, appCfg: APP });
    await connected(echo);
    const ch = echo.channel('router-telemetry');
    await waitCb((r) => ch.subscribed(r), 'subscribed');
    const got = waitCb((r) => ch.listen('.stats.updated', r), 'stats.updated');
    await sdk.trigger('router-telemetry', 'stats.updated', { rx: 1, tx: 2 });
    assert.deepEqual(await got, { rx: 1, tx: 2 });
  });

  test('Echo namespaced event name (App\\Events\\...) is delivered', async (t) => {
    const echo = makeEcho(srv.port, { t, appCfg: APP });
    const ch = echo.channel('orders');
    await waitCb((r) => ch.subscribed(r), 'subscribed');
    const got = waitCb((r) => ch.listen('OrderShipped', r), 'OrderShipped');
    await sdk.trigger('orders', 'App\\Events\\OrderShipped', { id: 5 });
    assert.deepEqual(await got, { id: 5 });
  });

  test("Echo.private('dashboard-stats') subscribes to private-dashboard-stats", async (t) => {
    const echo = makeEcho(srv.port, { t, appCfg: APP });
    const ch = echo.private('dashboard-stats');
    await waitCb((r) => ch.subscribed(r), 'private subscribed');
    const got = waitCb((r) => ch.listen('.stats.updated', r), 'private stats.updated');
    await sdk.trigger('private-dashboard-stats', 'stats.updated', { load: 0.5 });
    assert.deepEqual(await got, { load: 0.5 });
  });

  test("Echo.join('room.1'): here, joining, leaving with three clients", async (t) => {
    const e1 = makeEcho(srv.port, { t, appCfg: APP, auth: { user: user(1, 'Ann') } });
    const e2 = makeEcho(srv.port, { t, appCfg: APP, auth: { user: user(2, 'Bo') } });
    const e3 = makeEcho(srv.port, { t, appCfg: APP, auth: { user: user(3, 'Cy') } });

    const joined1 = [];
    const left1 = [];
    const room1 = e1.join('room.1');
    const here1 = waitCb((r) => room1.here(r), 'here #1');
    room1.joining((u) => joined1.push(u)).leaving((u) => left1.push(u));
    assert.deepEqual(await here1, [{ id: 1, name: 'Ann' }]);

    const room2 = e2.join('room.1');
    const here2 = await waitCb((r) => room2.here(r), 'here #2');
    assert.deepEqual(here2.map((u) => u.id).sort(), [1, 2]);
    await waitUntil(() => joined1.length === 1, 5000, 'joining on #1');
    assert.deepEqual(joined1[0], { id: 2, name: 'Bo' });

    const joined2 = [];
    room2.joining((u) => joined2.push(u));
    const room3 = e3.join('room.1');
    const here3 = await waitCb((r) => room3.here(r), 'here #3');
    assert.deepEqual(here3.map((u) => u.id).sort(), [1, 2, 3]);
    await waitUntil(() => joined1.length === 2 && joined2.length === 1, 5000, 'joining of #3');
    assert.deepEqual(joined2[0], { id: 3, name: 'Cy' });

    e3.leave('room.1');
    await waitUntil(() => left1.length === 1, 5000, 'leaving on #1');
    assert.deepEqual(left1[0], { id: 3, name: 'Cy' });
    e2.disconnect();
    await waitUntil(() => left1.length === 2, 5000, 'leaving of #2 on disconnect');
    assert.deepEqual(left1[1], { id: 2, name: 'Bo' });
  });

  test('whisper reaches the other client via listenForWhisper, not the sender', async (t) => {
    const e1 = makeEcho(srv.port, { t, appCfg: APP });
    const e2 = makeEcho(srv.port, { t, appCfg: APP });
    const c1 = e1.private('chat');
    const c2 = e2.private('chat');
    // Bind both callbacks before awaiting: the second subscription may succeed first.
    await Promise.all([waitCb((r) => c1.subscribed(r), 'c1 subscribed'), waitCb((r) => c2.subscribed(r), 'c2 subscribed')]);
    const self = [];
    c1.listenForWhisper('typing', (d) => self.push(d));
    const got = waitCb((r) => c2.listenForWhisper('typing', r), 'whisper');
    c1.whisper('typing', { name: 'Ann', typing: true });
    assert.deepEqual(await got, { name: 'Ann', typing: true });
    // e2 has it, so the server has handled the whisper: an echo to the sender would reach
    // e1 before the pong of a ping sent now.
    await pusherPing(e1.connector.pusher);
    assert.deepEqual(self, []);
  });

  test('whisper on a presence channel (Echo.join)', async (t) => {
    const e1 = makeEcho(srv.port, { t, appCfg: APP, auth: { user: user(11, 'A') } });
    const e2 = makeEcho(srv.port, { t, appCfg: APP, auth: { user: user(12, 'B') } });
    const r1 = e1.join('whisper-room');
    await waitCb((r) => r1.here(r), 'here 1');
    const r2 = e2.join('whisper-room');
    await waitCb((r) => r2.here(r), 'here 2');
    const got = waitCb((r) => r2.listenForWhisper('typing', r), 'presence whisper');
    r1.whisper('typing', { who: 11 });
    assert.deepEqual(await got, { who: 11 });
  });

  test('.error() fires when the private subscription is refused (bad signature)', async (t) => {
    const echo = makeEcho(srv.port, { t, appCfg: APP, auth: { secret: 'wrong-secret' } });
    const ch = echo.private('dashboard-stats');
    const err = await waitCb((r) => ch.error(r), '.error()');
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
  });

  test('toOthers: socket_id exclusion with echo.socketId()', async (t) => {
    const e1 = makeEcho(srv.port, { t, appCfg: APP });
    const e2 = makeEcho(srv.port, { t, appCfg: APP });
    const c1 = e1.channel('feed');
    const c2 = e2.channel('feed');
    await Promise.all([waitCb((r) => c1.subscribed(r), 'c1'), waitCb((r) => c2.subscribed(r), 'c2')]);
    const mine = [];
    c1.listen('.posted', (d) => mine.push(d));
    const got = waitCb((r) => c2.listen('.posted', r), 'posted on other');
    await sdk.trigger('feed', 'posted', { p: 1 }, { socket_id: e1.socketId() });
    assert.deepEqual(await got, { p: 1 });
    // The publish was answered and e2 has it: a delivery to the excluded socket would reach
    // e1 before the pong of a ping sent now.
    await pusherPing(e1.connector.pusher);
    assert.deepEqual(mine, []);
  });
});
