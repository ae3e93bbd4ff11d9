// Backpressure across nodes: two nodes over Redis, subscribers on node A, a flood of
// publishes sent to node B. A falls behind (here: its fan-outs take longer than the
// configured 1 ms); B must push back (429 with Retry-After and a JSON error naming the node)
// instead of accepting what A cannot deliver, so every accepted publish reaches every
// subscriber on A, no healthy subscriber is cut as a slow consumer, and publishes are
// accepted again once A caught up. A flood also starts slowly: B admits deliveries on A at a
// rate that doubles every 100 ms while A keeps up (refusals that say B is ramping up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app } from '../lib/server.js';
import { RawClient, signedRequest, waitUntil } from '../lib/clients.js';
import { clusterOptions, needSharedEngine, startCluster } from '../lib/cluster.js';

const SUBSCRIBERS = 400;

test('a flooded node makes the others refuse publishes until it caught up, and nothing accepted is lost', async (t) => {
  if (!(await needSharedEngine(t, 'redis'))) return;
  const apps = [app()];
  // A fan-out slower than 1 ms counts as behind: with 400 subscribers every fan-out on A
  // is, so the test does not depend on how fast this machine is today.
  const [a, b] = await startCluster(t, 2, {
    cluster: clusterOptions('redis'), apps, server: { backpressure_fanout_ms: 1 },
  });
  const clients = [];
  for (let i = 0; i < SUBSCRIBERS; i += 1) {
    const client = await RawClient.connect(`ws://127.0.0.1:${a.port}/app/app-key?protocol=7`);
    t.after(() => client.terminate());
    await client.subscribeOk('flood');
    clients.push(client);
  }
  // B must know A's channel before the flood (the cluster view), like any real deployment.
  await waitUntil(async () => (await signedRequest(b.port, 'GET', '/apps/app-id/channels/flood', { params: { info: 'subscription_count' } })).json?.subscription_count === SUBSCRIBERS, 10_000, 'B sees A\'s subscribers');
  let accepted = 0;
  let refused = 0;
  let refusal = null; // the first refusal that names A
  let ramped = 0; // refused while B ramps up to the flood (it starts slowly)
  let sequence = 0;
  const deadline = Date.now() + 4000;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (Date.now() < deadline) {
      // Batches of 10 events: the flood outruns A's fan-out even in a debug build.
      const batch = Array.from({ length: 10 }, () => {
        sequence += 1;
        return { name: 'tick', channel: 'flood', data: JSON.stringify({ n: sequence }) };
      });
      const res = await signedRequest(b.port, 'POST', '/apps/app-id/batch_events', { body: { batch } });
      if (res.status === 200) accepted += batch.length;
      else if (res.status === 429) {
        refused += 1;
        assert.ok(Number(res.headers.get('retry-after')) >= 1, 'with Retry-After');
        if (/^this node is behind ramping up/.test(res.json.error)) ramped += 1;
        else refusal ??= res;
      } else assert.fail(`unexpected ${res.status}: ${res.text}`);
    }
  }));
  assert.ok(refused > 0, `B pushed back (accepted ${accepted}, refused ${refused})`);
  t.diagnostic(`accepted ${accepted} events, refused ${refused} batches (${ramped} while ramping up)`);
  assert.ok(refusal, 'a refusal names the node that is behind');
  assert.match(refusal.json.error, /^node [0-9a-f]+ is behind delivering/, 'the refusal names node A');
  // And A's log says why, for the operator who sees the 429s.
  assert.match(a.logs(), /WARN .*this node is behind delivering: .*why=/, 'A logs why it is behind');
  // Everything accepted arrives at every subscriber on A, and nobody was cut.
  await waitUntil(() => clients.every((c) => c.all((f) => f.event === 'tick').length === accepted), 60_000, `${accepted} events at each of ${SUBSCRIBERS} subscribers`);
  assert.ok(clients.every((c) => c.isOpen && !c.closeInfo), 'no subscriber cut as a slow consumer');
  // Once A caught up, publishes are accepted again.
  await waitUntil(async () => (await signedRequest(b.port, 'POST', '/apps/app-id/events', {
    body: { name: 'after', channel: 'flood', data: '{}' },
  })).status === 200, 10_000, 'publishes accepted again');
});

// A node that stands still for a moment (a stalled VM, a CPU quota's pause) finds every sign
// of falling behind at once when it resumes: late messages, slow fan-outs, a deep queue. It
// catches up within milliseconds, so nobody may be refused for it; a flood (above) lasts.
test('a node that stood still for 400 ms does not make the others refuse publishes, and gets every event', async (t) => {
  if (!(await needSharedEngine(t, 'redis'))) return;
  const apps = [app()];
  const [a, b] = await startCluster(t, 2, { cluster: clusterOptions('redis'), apps });
  const watchers = [];
  for (const node of [a, b]) {
    const client = await RawClient.connect(`ws://127.0.0.1:${node.port}/app/app-key?protocol=7`);
    t.after(() => client.terminate());
    await client.subscribeOk('steady');
    watchers.push(client);
  }
  await waitUntil(async () => (await signedRequest(b.port, 'GET', '/apps/app-id/channels/steady', { params: { info: 'subscription_count' } })).json?.subscription_count === 2, 10_000, 'B sees A\'s subscriber');
  let accepted = 0;
  const refusals = [];
  const stall = (async () => {
    await new Promise((r) => setTimeout(r, 300));
    a.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 400));
    a.proc.kill('SIGCONT');
  })();
  const deadline = Date.now() + 1500;
  // Two publishers, each waiting for its answer: hundreds of events a second, all through B.
  await Promise.all([0, 1].map(async () => {
    while (Date.now() < deadline) {
      const res = await signedRequest(b.port, 'POST', '/apps/app-id/events', {
        body: { name: 'tick', channel: 'steady', data: '{}' },
      });
      if (res.status === 200) accepted += 1;
      else refusals.push(`${res.status} ${res.text}`);
    }
  }));
  await stall;
  const said = a.logs().split('\n').filter((line) => /this node is behind/.test(line)).join('\n');
  assert.deepEqual(refusals.slice(0, 3), [], `no publish refused (${refusals.length} of ${accepted + refusals.length}); A said:\n${said}`);
  assert.ok(accepted > 100, `publishes went on while A stood still (${accepted})`);
  await waitUntil(() => watchers.every((c) => c.all((f) => f.event === 'tick').length === accepted), 10_000, `${accepted} events on both nodes`);
  assert.doesNotMatch(a.logs(), /this node is behind/, 'A never said it was behind');
});
