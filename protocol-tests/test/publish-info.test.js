// `info` on POST /events and /batch_events: the response carries the requested channel attributes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import { RawClient, makeSdk, makePusher, pusherSubscribe, withTimeout } from '../lib/clients.js';

describe('info on publish', () => {
  let srv;
  let sdk;
  let seq = 0;
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
  /** presence channel with `users` distinct users over `users + 1` sockets; public channel with `subs` sockets. */
  const setup = async (t, users, subs) => {
    const n = ++seq;
    const presence = `presence-room.${n}`;
    const news = `news.${n}`;
    const sockets = [];
    for (let i = 0; i < users; i++) {
      const c = await connect(t);
      await c.subscribePresence(presence, { user_id: `user-${i}` });
      sockets.push(c);
    }
    const dup = await connect(t);
    await dup.subscribePresence(presence, { user_id: 'user-0' }); // a second socket of one user
    for (let i = 0; i < subs; i++) {
      const c = await connect(t);
      await c.subscribeOk(news);
      sockets.push(c);
    }
    return { presence, news, sockets };
  };

  test('trigger with info=user_count,subscription_count: presence answers both (as hosted Pusher), news its subscription_count', async (t) => {
    const { presence, news, sockets } = await setup(t, 2, 3);
    const res = await sdk.trigger([presence, news], 'e', {}, { info: 'user_count,subscription_count' });
    assert.equal(res.status, 200);
    const body = await res.json();
    // Two users over three sockets (user-0 twice).
    assert.deepEqual(body, { channels: { [presence]: { user_count: 2, subscription_count: 3 }, [news]: { subscription_count: 3 } } }, JSON.stringify(body));
    // The events are still delivered.
    for (const c of sockets) await c.nextEvent('e');
  });

  test('pusher-js subscribers are counted', async (t) => {
    const news = `news-js.${++seq}`;
    const presence = `presence-js.${seq}`;
    for (let i = 0; i < 2; i++) {
      const p = makePusher(srv.port, { t, auth: { user: { user_id: `js-${i}` } } });
      await pusherSubscribe(p, news);
      await pusherSubscribe(p, presence);
    }
    const body = await (await sdk.trigger([presence, news], 'e', {}, { info: 'user_count,subscription_count' })).json();
    assert.deepEqual(body.channels, { [presence]: { user_count: 2, subscription_count: 2 }, [news]: { subscription_count: 2 } }, JSON.stringify(body));
  });

  test('a channel nobody is subscribed to reports zero', async () => {
    const news = `empty-news.${++seq}`;
    const presence = `presence-empty.${seq}`;
    const body = await (await sdk.trigger([presence, news], 'e', {}, { info: 'user_count,subscription_count' })).json();
    assert.deepEqual(body, { channels: { [presence]: { user_count: 0, subscription_count: 0 }, [news]: { subscription_count: 0 } } }, JSON.stringify(body));
  });

  test('only the requested attribute is returned', async (t) => {
    const { presence, news } = await setup(t, 1, 1);
    const body = await (await sdk.trigger([presence, news], 'e', {}, { info: 'subscription_count' })).json();
    assert.equal(body.channels?.[news]?.subscription_count, 1, JSON.stringify(body));
    assert.equal(body.channels?.[presence]?.user_count, undefined, `user_count was not requested: ${JSON.stringify(body)}`);
    assert.equal(body.channels?.[presence]?.subscription_count, 2, `one user, two sockets: ${JSON.stringify(body)}`);
    const body2 = await (await sdk.trigger([presence, news], 'e', {}, { info: 'user_count' })).json();
    assert.equal(body2.channels?.[presence]?.user_count, 1, JSON.stringify(body2));
    assert.equal(body2.channels?.[news]?.subscription_count, undefined, `subscription_count was not requested: ${JSON.stringify(body2)}`);
  });

  test('without info the response carries no attributes ({})', async (t) => {
    const { presence, news } = await setup(t, 1, 1);
    const body = await (await sdk.trigger([presence, news], 'e', {})).json();
    assert.deepEqual(body, {}, JSON.stringify(body));
  });

  test('triggerBatch with info: {batch: [...]} aligned by index, {} for items without info', async (t) => {
    const { presence, news, sockets } = await setup(t, 3, 2);
    const res = await sdk.triggerBatch([
      { channel: presence, name: 'b0', data: {}, info: 'user_count' },
      { channel: news, name: 'b1', data: {} },
      { channel: news, name: 'b2', data: {}, info: 'subscription_count' },
      { channel: presence, name: 'b3', data: {}, info: 'user_count' },
    ]);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body, { batch: [{ user_count: 3 }, {}, { subscription_count: 2 }, { user_count: 3 }] }, JSON.stringify(body));
    for (const ev of ['b1', 'b2']) await withTimeout(sockets.at(-1).nextEvent(ev), 5000, ev);
  });

  test('triggerBatch as the PHP SDK acceptance test sends it: presence with user_count,subscription_count', async (t) => {
    const { presence, news } = await setup(t, 1, 1);
    const body = await (await sdk.triggerBatch([
      { channel: news, name: 'x', data: 'test-string', info: 'subscription_count' },
      { channel: `${news}-2`, name: 'x', data: 'test-string' },
      { channel: presence, name: 'x', data: 'test-string', info: 'user_count,subscription_count' },
    ])).json();
    assert.deepEqual(body, { batch: [{ subscription_count: 1 }, {}, { user_count: 1, subscription_count: 2 }] }, JSON.stringify(body));
  });

  test('triggerBatch without any info: no batch attributes ({})', async (t) => {
    const { presence, news } = await setup(t, 1, 1);
    const body = await (await sdk.triggerBatch([
      { channel: presence, name: 'x', data: {} },
      { channel: news, name: 'y', data: {} },
    ])).json();
    assert.deepEqual(body, {}, JSON.stringify(body));
  });
});
