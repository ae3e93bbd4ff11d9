// Watchlists: pusher_internal:watchlist_events as pusher-js's `pusher.user.watchlist` consumes them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEFAULT_APP } from '../lib/server.js';
import { RawClient, pusherPing } from '../lib/clients.js';
import { makeUserPusher, signInOk, rawSignIn, rawSignInOk, Recorder } from '../lib/users.js';

const isWatchlist = (f) => f.event === 'pusher_internal:watchlist_events';

describe('watchlist', () => {
  let srv;
  let seq = 0;
  // Fresh ids per test so tests sharing the server never watch each other's users.
  const ids = (...names) => { seq += 1; return names.map((n) => `w${seq}-${n}`); };
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  const connect = async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    return c;
  };
  /** A pusher-js signed in as `id` with `watchlist`, recording watchlist 'online'/'offline'. */
  const watcherPusher = async (t, id, watchlist) => {
    const p = makeUserPusher(srv.port, { t, user: { id, watchlist } });
    const events = new Recorder().on(p.user.watchlist, 'online').on(p.user.watchlist, 'offline');
    await signInOk(p);
    return { p, events };
  };
  const sorted = (a) => [...a].sort();

  test('pusher-js: initial online/offline, later online when a watched user signs in, offline when it leaves', async (t) => {
    const [watcher, seven, nine] = ids('1', '7', '9');
    const c7 = await connect(t);
    await rawSignInOk(c7, { id: seven });

    const { p, events } = await watcherPusher(t, watcher, [seven, nine]);
    const online = await events.nextEvent('online');
    assert.deepEqual(online.data.user_ids, [seven], JSON.stringify(online.data));
    assert.equal(online.data.name, 'online');
    const offline = await events.nextEvent('offline');
    assert.deepEqual(offline.data.user_ids, [nine], JSON.stringify(offline.data));

    // The wire shape is one frame with data.events (data an object, as pusher-js reads it).
    const first = p.frames.items.find((i) => i.data.event === 'pusher_internal:watchlist_events');
    assert.ok(first, p.frames.describe());
    assert.ok(Array.isArray(first.data.data?.events), JSON.stringify(first.data));

    // 9 signs in elsewhere (pusher-js, to use the real client on both sides).
    const p9 = makeUserPusher(srv.port, { t, user: { id: nine } });
    await signInOk(p9);
    const later = await events.nextEvent('online');
    assert.deepEqual(later.data.user_ids, [nine]);

    // 7's last (only) socket goes away.
    c7.close();
    const gone = await events.nextEvent('offline');
    assert.deepEqual(gone.data.user_ids, [seven]);

    // 9 disconnects with pusher-js.
    p9.disconnect();
    const gone9 = await events.nextEvent('offline');
    assert.deepEqual(gone9.data.user_ids, [nine]);
    // Nothing else (no duplicates) must follow: it would reach p before the pong.
    await events.expectNoneAfter(() => pusherPing(p), () => true, 'extra watchlist event');
  });

  test('initial state when every watched user is online / offline', async (t) => {
    const [w1, w2, a, b] = ids('w1', 'w2', 'a', 'b');
    const ca = await connect(t);
    await rawSignInOk(ca, { id: a });
    const cb = await connect(t);
    await rawSignInOk(cb, { id: b });
    const c = await connect(t);
    await rawSignInOk(c, { id: w1, watchlist: [a, b] });
    const f = await c.next(isWatchlist);
    const byName = Object.fromEntries(f.data.events.map((e) => [e.name, e.user_ids]));
    assert.deepEqual(sorted(byName.online), sorted([a, b]), f.raw);
    assert.ok(!byName.offline || byName.offline.length === 0, f.raw);

    const d = await connect(t);
    await rawSignInOk(d, { id: w2, watchlist: [`${w2}-nobody-1`, `${w2}-nobody-2`] });
    const g = await d.next(isWatchlist);
    const byName2 = Object.fromEntries(g.data.events.map((e) => [e.name, e.user_ids]));
    assert.deepEqual(sorted(byName2.offline), sorted([`${w2}-nobody-1`, `${w2}-nobody-2`]), g.raw);
    assert.ok(!byName2.online || byName2.online.length === 0, g.raw);
  });

  test('raw frame shape: {"event":"pusher_internal:watchlist_events","data":{"events":[…]}}', async (t) => {
    const [w, x] = ids('w', 'x');
    const c = await connect(t);
    const ok = await rawSignInOk(c, { id: w, watchlist: [x] });
    const f = await c.next(isWatchlist);
    assert.ok(f.at >= ok.at, 'watchlist events come after signin_success');
    assert.equal(f.msg.channel, undefined, f.raw);
    assert.equal(typeof f.msg.data, 'object', `data must be an object: ${f.raw}`);
    for (const e of f.msg.data.events) {
      assert.ok(['online', 'offline'].includes(e.name), f.raw);
      assert.ok(Array.isArray(e.user_ids), f.raw);
      assert.ok(e.user_ids.every((u) => typeof u === 'string'), f.raw);
    }
  });

  test('second socket of a watched user: no second online; offline only after its last socket', async (t) => {
    const [w, x] = ids('w', 'x');
    const { p, events } = await watcherPusher(t, w, [x]);
    await events.nextEvent('offline');
    const x1 = await connect(t);
    await rawSignInOk(x1, { id: x });
    assert.deepEqual((await events.nextEvent('online')).data.user_ids, [x]);
    const x2 = await connect(t);
    await rawSignInOk(x2, { id: x });
    x1.close();
    // The server leaves x1's channels and user before it sends the close frame: once x1 is
    // closed, a second 'online' or an early 'offline' would reach p before the pong.
    await x1.waitClosed();
    await events.expectNoneAfter(() => pusherPing(p), () => true, 'watchlist event while another socket of x is still signed in');
    x2.terminate();
    assert.deepEqual((await events.nextEvent('offline')).data.user_ids, [x]);
  });

  test('users not on the watchlist, unsigned sockets and presence members do not produce events', async (t) => {
    const [w, x, stranger] = ids('w', 'x', 'stranger');
    const { p, events } = await watcherPusher(t, w, [x]);
    await events.nextEvent('offline');
    const s = await connect(t);
    await rawSignInOk(s, { id: stranger });
    const anon = await connect(t);
    await anon.subscribeOk(`public-${w}`);
    // Joining a presence channel with user_id x is not signing in as x.
    const pres = await connect(t);
    await pres.subscribePresence(`presence-${w}`, { user_id: x });
    // A failed sign-in as x does not make x online either.
    const bad = await connect(t);
    const f = await rawSignIn(bad, { id: x }, DEFAULT_APP, { secret: 'wrong' });
    assert.equal(f.event, 'pusher:error', f.raw);
    // Every one of those was answered: a watchlist event would reach p before the pong.
    await events.expectNoneAfter(() => pusherPing(p), () => true, 'watchlist event for a non-watched or non-signed-in user');
  });

  test('sign-in without a watchlist gets no watchlist events', async (t) => {
    const [w] = ids('w');
    const c = await connect(t);
    await rawSignInOk(c, { id: w });
    // Absence: it would follow signin_success, before the pong.
    await c.expectNoneAfterPing(isWatchlist, 'watchlist event without a watchlist');
  });

  test('101 ids: sign-in succeeds, pusher:error 4302, the first 100 are kept', async (t) => {
    const [w] = ids('w');
    const list = Array.from({ length: 101 }, (_, i) => `${w}-watched-${i}`);
    const p = makeUserPusher(srv.port, { t, user: { id: w, watchlist: list } });
    const events = new Recorder().on(p.user.watchlist, 'online').on(p.user.watchlist, 'offline');
    const data = await signInOk(p);
    assert.equal(data.id, w);
    const err = await p.frames.next((i) => i.data.event === 'pusher:error', 5000, 'pusher:error 4302');
    assert.equal(err.data.data.code, 4302, JSON.stringify(err.data));
    assert.equal(typeof err.data.data.message, 'string');
    await p.errors.next((i) => i.data?.data?.code === 4302, 1000, '4302 on pusher.connection error');
    assert.equal(p.connection.state, 'connected', 'the socket stays open');
    const offline = await events.nextEvent('offline');
    assert.equal(offline.data.user_ids.length, 100, 'only 100 ids are watched');
    assert.deepEqual(sorted(offline.data.user_ids), sorted(list.slice(0, 100)));

    // The 101st id was dropped: its sign-in produces nothing; one of the first 100 does.
    const dropped = await connect(t);
    await rawSignInOk(dropped, { id: list[100] });
    const kept = await connect(t);
    await rawSignInOk(kept, { id: list[0] });
    assert.deepEqual((await events.nextEvent('online')).data.user_ids, [list[0]]);
    // The dropped id signed in before the kept one: its event would have come first.
    await events.expectNoneAfter(() => pusherPing(p), () => true, 'event for the dropped 101st id');
  });

  test('exactly 100 ids: no 4302', async (t) => {
    const [w] = ids('w');
    const c = await connect(t);
    await rawSignInOk(c, { id: w, watchlist: Array.from({ length: 100 }, (_, i) => `${w}-${i}`) });
    await c.next(isWatchlist);
    // No error: it would come with the sign-in's answers, before the pong.
    await c.expectNoneAfterPing((f) => f.event === 'pusher:error', 'pusher:error for a 100-id watchlist');
  });
});
