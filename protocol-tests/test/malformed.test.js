// Malformed frames produce pusher:error and keep the connection usable; oversize frames close it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import { RawClient } from '../lib/clients.js';

describe('malformed frames', () => {
  let srv;
  before(async () => {
    srv = await startServer({ server: { max_ws_message_kb: 64 } });
  });
  after(() => srv?.stop());

  const connect = async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    return c;
  };

  const cases = [
    ['not JSON', 'hello there'],
    ['JSON array', '[1,2,3]'],
    ['JSON string', '"pusher:ping"'],
    ['JSON without event', JSON.stringify({ data: {} })],
    ['event not a string', JSON.stringify({ event: 42, data: {} })],
    ['subscribe without data', JSON.stringify({ event: 'pusher:subscribe' })],
    ['subscribe with data of the wrong type', JSON.stringify({ event: 'pusher:subscribe', data: 'my-channel' })],
    ['subscribe with non-string channel', JSON.stringify({ event: 'pusher:subscribe', data: { channel: 123 } })],
    ['unknown pusher:foo event', JSON.stringify({ event: 'pusher:foo', data: {} })],
    ['unknown pusher_internal event from client', JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: 'x', data: '{}' })],
  ];

  for (const [label, text] of cases) {
    test(`${label} -> pusher:error with a code, connection stays usable`, async (t) => {
      const c = await connect(t);
      c.send(text);
      const err = await c.nextEvent('pusher:error');
      assert.equal(typeof err.data.code, 'number', `no numeric code: ${err.raw}`);
      assert.equal(typeof err.data.message, 'string');
      await c.ping();
      await c.subscribeOk('still-works');
      assert.ok(c.isOpen);
    });
  }

  test('binary frame -> pusher:error with a code, connection stays usable', async (t) => {
    const c = await connect(t);
    c.ws.send(Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7b]), { binary: true });
    const err = await c.nextEvent('pusher:error');
    assert.equal(typeof err.data.code, 'number', `no numeric code: ${err.raw}`);
    await c.ping();
    assert.ok(c.isOpen);
  });

  test('several malformed frames in a row do not break the connection', async (t) => {
    const c = await connect(t);
    for (const [, text] of cases) c.send(text);
    for (let i = 0; i < cases.length; i++) await c.nextEvent('pusher:error');
    await c.ping();
  });

  test('frame larger than max_ws_message_kb closes that connection only', async (t) => {
    const bystander = await connect(t);
    await bystander.subscribeOk('bystanders');
    const c = await connect(t);
    c.send(JSON.stringify({ event: 'pusher:ping', data: { pad: 'x'.repeat(100 * 1024) } }));
    const close = await c.waitClosed(5000);
    const errored = c.all((f) => f.event === 'pusher:error').length > 0;
    assert.ok(close.code === 1009 || errored, `close ${JSON.stringify(close)} without pusher:error; frames ${c.describe()}`);
    assert.equal(c.all((f) => f.event === 'pusher:pong').length, 0, 'oversize ping must not be answered');
    await bystander.ping();
    const fresh = await connect(t);
    await fresh.ping();
  });

  test('frame just under max_ws_message_kb is processed', async (t) => {
    const c = await connect(t);
    c.send(JSON.stringify({ event: 'pusher:ping', data: { pad: 'x'.repeat(60 * 1024) } }));
    await c.nextEvent('pusher:pong');
  });
});
