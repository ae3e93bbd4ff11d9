// Slow consumer: a socket that stops reading is closed with 4100; others keep receiving everything.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import { RawClient, makeSdk, waitUntil } from '../lib/clients.js';

describe('slow consumer', () => {
  test('stalled socket is closed with 4100 while a normal client receives every event', async (t) => {
    const srv = await startServer({ server: { socket_queue_capacity: 4 } });
    t.after(() => srv.stop());
    const sdk = makeSdk(srv.port);
    const slow = await RawClient.connect(srv.wsUrl());
    const normal = await RawClient.connect(srv.wsUrl());
    t.after(() => { slow.terminate(); normal.terminate(); });
    await slow.subscribeOk('firehose');
    await normal.subscribeOk('firehose');

    // Stop reading from the TCP socket: the kernel buffers fill, then the server-side queue.
    slow.ws.pause(); // ws's pause() = _socket.pause() plus keeping ws from resuming it itself

    const payload = 'x'.repeat(90 * 1024);
    const subscriptionCount = async () =>
      (await (await sdk.get({ path: '/channels/firehose', params: { info: 'subscription_count' } })).json()).subscription_count;

    let published = 0;
    let dropped = false;
    const MAX = 600; // 600 × 90 KB ≈ 54 MB: far more than loopback socket buffers can absorb
    while (published < MAX && !dropped) {
      await sdk.trigger('firehose', 'bulk', payload);
      published += 1;
      if (published % 10 === 0) dropped = (await subscriptionCount()) === 1;
      // Keep the normal client from lagging too far behind (it must not become a slow consumer).
      if (published % 20 === 0) {
        const target = published;
        await waitUntil(() => normal.all((f) => f.event === 'bulk').length >= target, 10_000, `normal client at ${target}`);
      }
    }
    // Server-side view: the stalled socket was dropped from the channel.
    await waitUntil(async () => (await subscriptionCount()) === 1, 10_000, 'slow socket removed from the channel');

    await waitUntil(() => normal.all((f) => f.event === 'bulk').length === published, 15_000, `normal client received all ${published}`);
    assert.ok(normal.isOpen);
    for (const f of normal.all((fr) => fr.event === 'bulk')) assert.equal(f.msg.data.length, payload.length);

    // Resume reading: the slow client must observe close code 4100.
    slow.ws.resume();
    const close = await slow.waitClosed(15_000);
    assert.equal(close.code, 4100, `close ${JSON.stringify(close)}`);
    assert.ok(slow.all((f) => f.event === 'bulk').length < published, 'slow client cannot have received everything');
  });
});
