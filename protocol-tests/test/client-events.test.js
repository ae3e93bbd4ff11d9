// Client events (client-*): relay rules, presence user_id, rejections with 4301.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app } from '../lib/server.js';
import {
  RawClient, makePusher, pusherSubscribe, withTimeout,
} from '../lib/clients.js';

const CHATTY = app({ enable_client_messages: true });
const QUIET = app({ id: 'quiet-id', key: 'quiet-key', secret: 'quiet-secret', enable_client_messages: false });

const is4301 = (f) => f.event === 'pusher:error' && f.data?.code === 4301;

describe('client events', () => {
  let srv;
  let seq = 0;
  const fresh = (prefix) => `${prefix}chat.${++seq}`;
  before(async () => {
    srv = await startServer({ apps: [CHATTY, QUIET] });
  });
  after(() => srv?.stop());

  const connect = async (t, appCfg = CHATTY) => {
    const c = await RawClient.connect(srv.wsUrl(appCfg.key));
    t.after(() => c.terminate());
    return c;
  };

  test('private channel: relayed to other subscribers, never to the sender', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t);
    const b = await connect(t);
    const c = await connect(t);
    await a.subscribePrivate(ch, CHATTY);
    await b.subscribePrivate(ch, CHATTY);
    await c.subscribePrivate(ch, CHATTY);
    a.send({ event: 'client-typing', channel: ch, data: { typing: true } });
    const fb = await b.nextEvent('client-typing', ch);
    const fc = await c.nextEvent('client-typing', ch);
    assert.deepEqual(fb.data, { typing: true });
    assert.deepEqual(fc.data, { typing: true });
    assert.equal(fb.msg.user_id, undefined, 'no user_id on private channels');
    // b and c have it, so the server has handled the event: an echo to the sender (or an
    // error) would be in a's queue before the pong.
    await a.expectNoneAfterPing((f) => f.event === 'client-typing', 'echo to sender');
    a.assertNone((f) => f.event === 'pusher:error', 'error to sender');
  });

  test('presence channel: server sets top-level user_id, forged user_id overwritten', async (t) => {
    const ch = fresh('presence-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePresence(ch, { user_id: 'alice', user_info: {} }, CHATTY);
    await b.subscribePresence(ch, { user_id: 'bob', user_info: {} }, CHATTY);
    a.send({ event: 'client-typing', channel: ch, data: { typing: true }, user_id: 'mallory' });
    const f = await b.nextEvent('client-typing', ch);
    assert.equal(f.msg.user_id, 'alice');
    assert.deepEqual(f.data, { typing: true });
    await a.expectNoneAfterPing((fr) => fr.event === 'client-typing', 'echo to sender');
  });

  test('presence channel with numeric user id: user_id relayed', async (t) => {
    const ch = fresh('presence-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePresence(ch, { user_id: 7 }, CHATTY);
    await b.subscribePresence(ch, { user_id: 8 }, CHATTY);
    a.send({ event: 'client-x', channel: ch, data: {} });
    const f = await b.nextEvent('client-x', ch);
    assert.equal(String(f.msg.user_id), '7');
  });

  test('pusher-js trigger on presence: receiver gets metadata.user_id', async (t) => {
    const ch = fresh('presence-');
    const a = makePusher(srv.port, { t, appCfg: CHATTY, auth: { user: { user_id: 'ann', user_info: { n: 1 } } } });
    const b = makePusher(srv.port, { t, appCfg: CHATTY, auth: { user: { user_id: 'ben', user_info: { n: 2 } } } });
    const { channel: ca } = await pusherSubscribe(a, ch);
    const { channel: cb } = await pusherSubscribe(b, ch);
    const got = withTimeout(new Promise((r) => cb.bind('client-wave', (data, metadata) => r({ data, metadata }))), 5000, 'client-wave');
    assert.equal(ca.trigger('client-wave', { hi: 1 }), true);
    const { data, metadata } = await got;
    assert.deepEqual(data, { hi: 1 });
    assert.equal(metadata.user_id, 'ann');
  });

  const refusal = async (c, frame, label) => {
    c.send(frame);
    const err = await c.next(is4301, 5000, `4301 for ${label}`);
    assert.equal(err.data.code, 4301);
    assert.equal(typeof err.data.message, 'string');
    await c.ping(); // connection stays open; the refused frame is fully handled
    assert.ok(c.isOpen);
  };

  test('refused (4301) when the app has client messages disabled', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t, QUIET);
    const b = await connect(t, QUIET);
    await a.subscribePrivate(ch, QUIET);
    await b.subscribePrivate(ch, QUIET);
    await refusal(a, { event: 'client-typing', channel: ch, data: {} }, 'disabled app');
    await b.expectNoneAfterPing((f) => f.event === 'client-typing', 'relay despite disabled');
  });

  test('refused (4301) on a public channel', async (t) => {
    const ch = fresh('');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribeOk(ch);
    await b.subscribeOk(ch);
    await refusal(a, { event: 'client-typing', channel: ch, data: {} }, 'public channel');
    await b.expectNoneAfterPing((f) => f.event === 'client-typing', 'relay on public channel');
  });

  test('refused (4301) when the sender is not subscribed', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t);
    const b = await connect(t);
    await b.subscribePrivate(ch, CHATTY);
    await refusal(a, { event: 'client-typing', channel: ch, data: {} }, 'not subscribed');
    await b.expectNoneAfterPing((f) => f.event === 'client-typing', 'relay from non-member');
  });

  test('refused (4301) when the name does not start with client-', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePrivate(ch, CHATTY);
    await b.subscribePrivate(ch, CHATTY);
    await refusal(a, { event: 'typing', channel: ch, data: {} }, 'bad name');
    await b.expectNoneAfterPing((f) => f.event === 'typing', 'relay of non-client event');
  });

  test('refused (4301) when the payload is over max_event_payload_kb', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePrivate(ch, CHATTY);
    await b.subscribePrivate(ch, CHATTY);
    await refusal(a, { event: 'client-big', channel: ch, data: { blob: 'x'.repeat(110 * 1024) } }, 'oversize payload');
    await b.expectNoneAfterPing((f) => f.event === 'client-big', 'relay of oversize event');
  });

  test('rate limit: 20 events at once -> some relayed, some refused with 4301', async (t) => {
    const ch = fresh('private-');
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribePrivate(ch, CHATTY);
    await b.subscribePrivate(ch, CHATTY);
    for (let i = 0; i < 20; i++) a.send({ event: 'client-burst', channel: ch, data: { i } });
    await a.next(is4301, 5000, '4301 rate limit');
    await b.nextEvent('client-burst', ch);
    // a's pong follows the handling of all 20 events; b's pong then follows every relay.
    await a.ping();
    await b.ping();
    const relayed = b.all((f) => f.event === 'client-burst').length;
    const refused = a.all(is4301).length;
    assert.ok(relayed >= 1 && relayed <= 11, `relayed ${relayed}`);
    assert.ok(refused >= 1, `refused ${refused}`);
    assert.ok(a.isOpen);
  });
});
