// HTTP API through the Node `pusher` SDK and raw signed requests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEFAULT_APP } from '../lib/server.js';
import {
  RawClient, makeSdk, signedRequest, sdkError, parseJson, md5Hex,
} from '../lib/clients.js';

const assertJsonError = (status, text, re) => {
  const body = parseJson(text);
  assert.ok(body && typeof body === 'object', `status ${status}: body is not JSON: ${text}`);
  assert.equal(typeof body.error, 'string', `status ${status}: no error string in ${text}`);
  if (re) assert.match(body.error, re);
  return body;
};

describe('HTTP API', () => {
  let srv;
  let sdk;
  let seq = 0;
  const fresh = (prefix = '') => `${prefix}api-ch.${++seq}`;
  before(async () => {
    srv = await startServer();
    sdk = makeSdk(srv.port);
  });
  after(() => srv?.stop());

  const connect = async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    return c;
  };

  test('health: GET / -> 200 OK, /up -> 200, /ready -> 200', async () => {
    const root = await fetch(srv.httpUrl('/'));
    assert.equal(root.status, 200);
    assert.equal((await root.text()).trim(), 'OK');
    assert.equal((await fetch(srv.httpUrl('/up'))).status, 200);
    assert.equal((await fetch(srv.httpUrl('/ready'))).status, 200);
  });

  test('trigger to one channel: frame {event, channel, data} with data verbatim', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    await c.subscribeOk(ch);
    const res = await sdk.trigger(ch, 'stats.updated', { cpu: 12, mem: [1, 2] });
    assert.equal(res.status, 200);
    assert.equal(typeof (await res.json()), 'object');
    const f = await c.nextEvent('stats.updated', ch);
    assert.equal(f.msg.data, JSON.stringify({ cpu: 12, mem: [1, 2] }));
    assert.equal(f.channel, ch);
  });

  test('trigger with a plain (non-JSON) string data is relayed verbatim', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    await c.subscribeOk(ch);
    await sdk.trigger(ch, 'plain', 'just text');
    const f = await c.nextEvent('plain', ch);
    assert.equal(f.msg.data, 'just text');
  });

  test('trigger to several channels: all arrive', async (t) => {
    const ch1 = fresh();
    const ch2 = fresh();
    const ch3 = fresh('private-');
    const c = await connect(t);
    await c.subscribeOk(ch1);
    await c.subscribeOk(ch2);
    await c.subscribePrivate(ch3);
    await sdk.trigger([ch1, ch2, ch3], 'multi', { m: true });
    for (const ch of [ch1, ch2, ch3]) {
      const f = await c.nextEvent('multi', ch);
      assert.deepEqual(f.data, { m: true });
    }
  });

  test('triggerBatch with 10 events: all arrive', async (t) => {
    const chs = [fresh(), fresh()];
    const c = await connect(t);
    for (const ch of chs) await c.subscribeOk(ch);
    const batch = Array.from({ length: 10 }, (_, i) => ({ channel: chs[i % 2], name: `batch-${i}`, data: { i } }));
    const res = await sdk.triggerBatch(batch);
    assert.equal(res.status, 200);
    for (let i = 0; i < 10; i++) {
      const f = await c.nextEvent(`batch-${i}`, chs[i % 2]);
      assert.deepEqual(f.data, { i });
    }
  });

  test('socket_id exclusion: excluded socket does not receive, others do', async (t) => {
    const ch = fresh();
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribeOk(ch);
    await b.subscribeOk(ch);
    await sdk.trigger(ch, 'to-others', { x: 1 }, { socket_id: a.socketId });
    await b.nextEvent('to-others', ch);
    // The excluded socket does NOT receive it: it would arrive before the pong.
    await a.expectNoneAfterPing((f) => f.event === 'to-others', 'event to excluded socket');
  });

  test('socket_id exclusion in triggerBatch', async (t) => {
    const ch = fresh();
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribeOk(ch);
    await b.subscribeOk(ch);
    await sdk.triggerBatch([{ channel: ch, name: 'batch-others', data: {}, socket_id: a.socketId }]);
    await b.nextEvent('batch-others', ch);
    await a.expectNoneAfterPing((f) => f.event === 'batch-others', 'event to excluded socket');
  });

  test('trigger with info param is accepted', async (t) => {
    const ch = fresh();
    const pres = fresh('presence-');
    const c = await connect(t);
    await c.subscribeOk(ch);
    await c.subscribePresence(pres, { user_id: 'u1' });
    const res = await sdk.trigger(ch, 'with-info', {}, { info: 'subscription_count' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(typeof body, 'object');
    if (body.channels) assert.equal(body.channels[ch].subscription_count, 1);
    const res2 = await sdk.trigger(pres, 'with-info', {}, { info: 'user_count' });
    assert.equal(res2.status, 200);
    const body2 = await res2.json();
    if (body2.channels) assert.equal(body2.channels[pres].user_count, 1);
  });

  test('GET /channels lists occupied channels, filter_by_prefix works', async (t) => {
    const pub = fresh('listing-');
    const pres = fresh('presence-listing-');
    const c = await connect(t);
    await c.subscribeOk(pub);
    await c.subscribePresence(pres, { user_id: 'u1' });
    const all = await (await sdk.get({ path: '/channels' })).json();
    assert.ok(all.channels[pub], JSON.stringify(all));
    assert.ok(all.channels[pres], JSON.stringify(all));
    const filtered = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'listing-' } })).json();
    assert.deepEqual(Object.keys(filtered.channels), [pub]);
  });

  test('GET /channels?filter_by_prefix=presence-&info=user_count', async (t) => {
    const pres = fresh('presence-count-');
    const a = await connect(t);
    const b = await connect(t);
    const b2 = await connect(t);
    await a.subscribePresence(pres, { user_id: 'u1' });
    await b.subscribePresence(pres, { user_id: 'u2' });
    await b2.subscribePresence(pres, { user_id: 'u2' });
    const body = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
    assert.equal(body.channels[pres].user_count, 2, JSON.stringify(body));
  });

  test('GET /channels?info=user_count without presence- prefix -> 400', async () => {
    const err = await sdkError(sdk.get({ path: '/channels', params: { info: 'user_count' } }));
    assert.equal(err.status, 400);
    assertJsonError(400, err.body);
  });

  test('GET /channels/{name}: occupied and subscription_count', async (t) => {
    const ch = fresh();
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribeOk(ch);
    await b.subscribeOk(ch);
    const body = await (await sdk.get({ path: `/channels/${ch}`, params: { info: 'subscription_count' } })).json();
    assert.equal(body.occupied, true);
    assert.equal(body.subscription_count, 2);
    const empty = await (await sdk.get({ path: `/channels/${fresh()}` })).json();
    assert.equal(empty.occupied, false);
  });

  test('GET /channels/{presence}: user_count', async (t) => {
    const pres = fresh('presence-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePresence(pres, { user_id: 1 });
    await b.subscribePresence(pres, { user_id: 1 });
    const body = await (await sdk.get({ path: `/channels/${pres}`, params: { info: 'user_count' } })).json();
    assert.equal(body.occupied, true);
    assert.equal(body.user_count, 1);
  });

  test('GET /channels/{presence}/users: distinct ids', async (t) => {
    const pres = fresh('presence-');
    const socks = [];
    for (const id of [1, 2, 2, 'three']) {
      const c = await connect(t);
      await c.subscribePresence(pres, { user_id: id, user_info: { id } });
      socks.push(c);
    }
    const body = await (await sdk.get({ path: `/channels/${pres}/users` })).json();
    assert.ok(Array.isArray(body.users), JSON.stringify(body));
    const ids = body.users.map((u) => u.id);
    assert.deepEqual([...ids].sort(), ['1', '2', 'three'], JSON.stringify(body));
  });

  test('GET /channels/{public}/users -> 400', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    await c.subscribeOk(ch);
    const err = await sdkError(sdk.get({ path: `/channels/${ch}/users` }));
    assert.equal(err.status, 400);
    assertJsonError(400, err.body);
  });

  test('wrong secret -> 401 JSON error mentioning the signature', async () => {
    const bad = makeSdk(srv.port, { ...DEFAULT_APP, secret: 'not-the-secret' });
    const err = await sdkError(bad.trigger('x', 'y', {}));
    assert.equal(err.status, 401);
    assertJsonError(401, err.body, /signature/i);
    const err2 = await sdkError(bad.get({ path: '/channels' }));
    assert.equal(err2.status, 401);
  });

  test('stale auth_timestamp (1000 s old) -> 401 mentioning the timestamp', async () => {
    const body = { name: 'e', channels: ['x'], data: '{}' };
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body, timestamp: Math.floor(Date.now() / 1000) - 1000 });
    assert.equal(res.status, 401);
    assertJsonError(401, res.text, /timestamp/i);
    const ok = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body });
    assert.equal(ok.status, 200, ok.text);
  });

  test('unknown app id -> 404 JSON error', async () => {
    const res = await signedRequest(srv.port, 'POST', '/apps/no-such-app/events', {
      body: { name: 'e', channels: ['x'], data: '{}' },
    });
    assert.equal(res.status, 404);
    assertJsonError(404, res.text);
    const res2 = await signedRequest(srv.port, 'GET', '/apps/no-such-app/channels');
    assert.equal(res2.status, 404);
  });

  test('body_md5 mismatch -> 401 or 400 with a message', async () => {
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, {
      body: { name: 'e', channels: ['x'], data: '{}' },
      bodyMd5: md5Hex('something else'),
    });
    assert.ok([400, 401].includes(res.status), `status ${res.status}`);
    assertJsonError(res.status, res.text);
  });

  test('missing auth params -> 401 JSON error', async () => {
    const res = await fetch(srv.httpUrl(`/apps/${DEFAULT_APP.id}/channels`));
    assert.ok([400, 401].includes(res.status), `status ${res.status}`);
    assertJsonError(res.status, await res.text());
  });

  test('data over 100 KB -> 413, worded as hosted Pusher words it', async () => {
    const err = await sdkError(sdk.trigger('big', 'e', 'x'.repeat(101 * 1024)));
    assert.equal(err.status, 413);
    assertJsonError(413, err.body);
    // The pusher-http-php acceptance tests match 'content of this event'.
    assert.match(JSON.parse(err.body).error, /^The data content of this event exceeds the allowed maximum \(102400 bytes\): event data is \d+ bytes/);
  });

  test('data just under 100 KB is accepted', async (t) => {
    const c = await connect(t);
    await c.subscribeOk('almost-big');
    await sdk.trigger('almost-big', 'e', 'x'.repeat(99 * 1024));
    const f = await c.nextEvent('e', 'almost-big');
    assert.equal(f.msg.data.length, 99 * 1024);
  });

  test('101 channels -> 400', async () => {
    const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body: { name: 'e', channels, data: '{}' } });
    assert.equal(res.status, 400);
    assertJsonError(400, res.text);
  });

  test('100 channels is accepted', async () => {
    const channels = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const res = await sdk.trigger(channels, 'e', {});
    assert.equal(res.status, 200);
  });

  test('batch of 11 -> 400, starting with hosted Pusher\'s "Batch too large"', async () => {
    const batch = Array.from({ length: 11 }, (_, i) => ({ channel: 'b', name: `e${i}`, data: {} }));
    const err = await sdkError(sdk.triggerBatch(batch));
    assert.equal(err.status, 400);
    assertJsonError(400, err.body);
    assert.match(JSON.parse(err.body).error, /^Batch too large: a batch may hold at most 10 events, this one holds 11/);
  });

  test('event name over 200 characters -> 400', async () => {
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body: { name: 'e'.repeat(201), channels: ['x'], data: '{}' } });
    assert.equal(res.status, 400);
    assertJsonError(400, res.text);
  });

  test('invalid channel name in trigger -> 400', async () => {
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body: { name: 'e', channels: ['bad name'], data: '{}' } });
    assert.equal(res.status, 400);
    assertJsonError(400, res.text);
  });

  test('malformed JSON body -> 400', async () => {
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body: '{"name": ' });
    assert.equal(res.status, 400);
    assertJsonError(400, res.text);
  });

  test('missing name -> 400', async () => {
    const res = await signedRequest(srv.port, 'POST', `/apps/${DEFAULT_APP.id}/events`, { body: { channels: ['x'], data: '{}' } });
    assert.equal(res.status, 400);
    assertJsonError(400, res.text);
  });
});
