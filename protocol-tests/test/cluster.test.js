// Three sockwave processes sharing one Redis (then one NATS) behave as one server: pusher-js
// clients spread over the nodes, the pusher Node SDK publishing to different nodes, a real
// webhook receiver. Then chaos: a node killed with -9, the engine stopped and restarted under
// traffic (our own redis-server / nats-server, never the machine's), and a node joining late.
//
// Replication is asynchronous: a member whose join is still in flight may reach a new
// subscriber as member_added right after subscription_succeeded instead of in its list. Tests
// accept either and assert the final state (and that each member is announced exactly once).
//
// "Nothing more arrives" waits on marker events from every node in a steady cluster
// (markersFromEveryNode); only what nodes do on their own timers (declaring a node dead,
// snapshots after a freeze, an outage or a late join) and webhooks get the QUIET_MS window.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_APP, app, sleep } from '../lib/server.js';
import { QUIET_MS, RawClient, makePusher, waitForState, waitUntil, withTimeout } from '../lib/clients.js';
import { Recorder, makeUserPusher, rawSignInOk, signInOk } from '../lib/users.js';
import { startReceiver } from '../lib/webhooks.js';
import {
  SHARED, clusterOptions, converge, needEngineBinary, needSharedEngine, startCluster, startNode, startOwnEngine,
} from '../lib/cluster.js';

const CHAT = app({ enable_client_messages: true });
const uid = (p = 'u-') => `${p}${Math.random().toString(36).slice(2, 9)}`;

/** pusher-js subscribed to `name`, recording `events` on it. */
async function subscribed(t, node, name, events = [], opts = {}) {
  const client = makePusher(node.port, { t, ...opts });
  const channel = client.subscribe(name);
  const got = new Recorder();
  for (const event of events) got.on(channel, event);
  await withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', (err) => reject(new Error(JSON.stringify(err))));
  }), 5000, `subscription to ${name} on :${node.port}`);
  return { client, channel, got };
}

/**
 * pusher-js member of presence channel `name` as `userId`. `initial` are the ids in its
 * subscription_succeeded list; `got` records member_added / member_removed (by user id).
 */
async function member(t, node, name, userId) {
  const client = makePusher(node.port, { t, auth: { user: { user_id: userId, user_info: { name: userId } } } });
  // The channel's frames as the server sent them (pusher-js later mutates what it decoded).
  const frames = [];
  client.connection.bind('message', (m) => { if (m.channel === name) frames.push(`${m.event} ${JSON.stringify(m.data)}`); });
  const channel = client.subscribe(name);
  const got = new Recorder()
    .on(channel, 'pusher:member_added', (m) => m.id)
    .on(channel, 'pusher:member_removed', (m) => m.id);
  // The list is read inside the handler: frames that arrive in the same read are handled
  // before any awaiting code runs, and a member_added among them would already be in it.
  const initial = await withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', (members) => resolve(Object.keys(members.members)));
    channel.bind('pusher:subscription_error', (err) => reject(new Error(JSON.stringify(err))));
  }), 5000, `presence subscription on :${node.port}`);
  const describe = () => frames.join('\n  ');
  return { client, channel, got, userId, initial, describe };
}

/** How often `m` was told `userId` is present: in its initial list or by member_added. */
const announced = (m, userId) => m.initial.filter((id) => id === userId).length
  + m.got.items.filter((i) => i.event === 'pusher:member_added' && i.data === userId).length;
const removedCount = (m, userId) => m.got.items.filter((i) => i.event === 'pusher:member_removed' && i.data === userId).length;
const present = (m) => Object.keys(m.channel.members.members).sort();

/** Waits (bounded) until `m` holds exactly `ids` as members. */
async function waitMembers(m, ids, ms = 5000) {
  const want = [...ids].sort();
  await waitUntil(() => JSON.stringify(present(m)) === JSON.stringify(want), ms,
    `members ${want} on ${m.userId}'s client (has ${present(m)}; events:\n  ${m.describe()})`);
}

async function apiGet(node, path, params = {}, appCfg = DEFAULT_APP) {
  const res = await node.sdk(appCfg).get({ path, params });
  return res.json();
}

const MARKER = 'test-marker';

/**
 * Barrier for "nothing more arrives" in a steady cluster: every node sends a marker through
 * `send(node, data)` (a publish to the channel, a sendToUser) and each recorder in `seen`
 * (bound before the first marker is sent) waits for all of them. Messages from one node reach
 * the others in the order it sent them (src/adapter/mod.rs), its deltas and broadcasts alike,
 * and the markers go out only once what the test checks has arrived: anything any node sent
 * before — a duplicate, an echo, a delivery to an excluded socket, a member event — is in
 * front of its marker.
 */
async function markersFromEveryNode(nodes, seen, send) {
  const token = uid('marker-');
  for (const node of nodes) await send(node, { token, from: node.port });
  for (const rec of seen) {
    await waitUntil(() => rec.items.filter((i) => i.data?.token === token).length === nodes.length, 5000,
      `a marker from each of the ${nodes.length} nodes (got:\n  ${rec.describe()})`);
  }
}

/** markersFromEveryNode for clients subscribed to `channelName` (`{channel}` as made here). */
function channelMarkers(nodes, channelName, clients, appCfg = DEFAULT_APP) {
  const seen = clients.map((c) => new Recorder().on(c.channel, MARKER));
  return markersFromEveryNode(nodes, seen, (node, data) => node.sdk(appCfg).trigger(channelName, MARKER, data));
}

/** Data values of `event` a recorder got, in order. */
const values = (recorder, event) => recorder.items.filter((i) => i.event === event).map((i) => i.data?.n ?? i.data);

for (const kind of ['redis', 'nats']) {
  const { name } = SHARED[kind];

  describe(`cluster over ${name}: three nodes behave as one server`, { concurrency: 1 }, () => {
    test('a publish on any node reaches every subscriber on every node exactly once; socket_id exclusion; client events', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind), apps: [CHAT] });
      const subs = [];
      for (const node of nodes) {
        for (let k = 0; k < 2; k += 1) subs.push(await subscribed(t, node, 'news', ['update'], { appCfg: CHAT }));
      }
      // The subscriptions of the other nodes must be known before counting deliveries, or a
      // fast publish could race them (they are, once every node counts 6 subscribers).
      for (const node of nodes) {
        await waitUntil(async () => (await apiGet(node, '/channels/news', { info: 'subscription_count' }, CHAT)).subscription_count === 6,
          5000, `subscription_count 6 on :${node.port}`);
      }
      for (const [i, node] of nodes.entries()) {
        const res = await node.sdk(CHAT).trigger('news', 'update', { n: i });
        assert.equal(res.status, 200);
      }
      for (const sub of subs) await waitUntil(() => sub.got.items.length >= 3, 5000, 'three deliveries');
      // No duplicate: it would arrive before the markers.
      await channelMarkers(nodes, 'news', subs, CHAT);
      for (const sub of subs) assert.deepEqual(values(sub.got, 'update').sort(), [0, 1, 2]);

      // socket_id exclusion across nodes: published on node 3, excluding a socket on node 2.
      const excluded = subs[2];
      await nodes[2].sdk(CHAT).trigger('news', 'update', { n: 'x' }, { socket_id: excluded.client.connection.socket_id });
      for (const sub of subs.filter((s) => s !== excluded)) await sub.got.next((i) => i.data?.n === 'x', 5000, 'the excluding publish');
      // The excluded socket gets nothing: it would arrive before the markers.
      await excluded.got.expectNoneAfter(() => channelMarkers(nodes, 'news', subs, CHAT), (i) => i.data?.n === 'x', 'delivery to the excluded socket');
      for (const sub of subs) assert.equal(values(sub.got, 'update').filter((n) => n === 'x').length, sub === excluded ? 0 : 1);

      // Client events cross nodes, once, never back to the sender.
      const talkers = [];
      for (const node of nodes) talkers.push(await subscribed(t, node, 'private-chat', ['client-typing'], { appCfg: CHAT }));
      await waitUntil(async () => (await apiGet(nodes[0], '/channels/private-chat', { info: 'subscription_count' }, CHAT)).subscription_count === 3,
        5000, 'three private-chat subscribers');
      assert.equal(talkers[0].channel.trigger('client-typing', { n: 'c' }), true);
      await talkers[1].got.nextEvent('client-typing');
      await talkers[2].got.nextEvent('client-typing');
      // No echo to the sender and no duplicate: either would arrive before the markers.
      await channelMarkers(nodes, 'private-chat', talkers, CHAT);
      assert.deepEqual(talkers.map((x) => x.got.items.length), [0, 1, 1]);
    });

    test('sendToUser and terminateUserConnections reach the user on other nodes', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind) });
      const id = uid('user-');
      const tabs = [];
      for (const node of nodes.slice(0, 2)) {
        const tab = makeUserPusher(node.port, { t, user: { id } });
        await signInOk(tab);
        tabs.push({ tab, got: new Recorder().on(tab.user, 'invoice.paid') });
      }
      // sendToUser goes to every node, each delivering to its own sockets of the user.
      const otherId = uid('other-');
      const other = makeUserPusher(nodes[2].port, { t, user: { id: otherId } });
      await signInOk(other);
      const otherGot = new Recorder().on(other.user, 'invoice.paid');
      const res = await nodes[2].sdk().sendToUser(id, 'invoice.paid', { n: 1 });
      assert.equal(res.status, 200);
      for (const { got } of tabs) await got.nextEvent('invoice.paid');
      // One delivery per socket and none to another user: anything more would arrive before
      // the markers every node sends to both users.
      const seen = [...tabs.map(({ tab }) => tab), other].map((p) => new Recorder().on(p.user, MARKER));
      await markersFromEveryNode(nodes, seen, async (node, data) => {
        await node.sdk().sendToUser(id, MARKER, data);
        await node.sdk().sendToUser(otherId, MARKER, data);
      });
      assert.deepEqual(tabs.map(({ got }) => got.items.length), [1, 1]);
      assert.equal(otherGot.items.length, 0);

      // Terminate from node 3: both sockets, on nodes 1 and 2, close with 4009.
      const victims = [];
      for (const node of nodes.slice(0, 2)) {
        const c = await RawClient.connect(node.wsUrl());
        t.after(() => c.terminate());
        await rawSignInOk(c, { id: `${id}-raw` });
        victims.push(c);
      }
      const bystander = await RawClient.connect(nodes[0].wsUrl());
      t.after(() => bystander.terminate());
      await rawSignInOk(bystander, { id: uid('bystander-') });
      // The terminate goes to every node, each closing its own sockets of the user.
      const term = await nodes[2].sdk().terminateUserConnections(`${id}-raw`);
      assert.equal(term.status, 200);
      for (const c of victims) assert.equal((await c.waitClosed(5000)).code, 4009);
      // The bystander stays connected. Its node closed the victim there, so it has handled the
      // terminate; a socket asked to close answers no more pings, so the pong shows it was not.
      await bystander.ping();
      assert.equal(bystander.isOpen, true);
    });

    test('presence: one member list for the cluster, each join and leave announced once; queries answered from any node', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind) });
      const room = `presence-${uid('room-')}`;
      const ann = await member(t, nodes[0], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      const bobAgain = await member(t, nodes[2], room, 'bob'); // the same user on a second node
      const cat = await member(t, nodes[2], room, 'cat');
      const everyone = [ann, bob, bobAgain, cat];
      for (const m of everyone) await waitMembers(m, ['ann', 'bob', 'cat']);
      // No duplicate member_added still on its way: it would arrive before the markers.
      await channelMarkers(nodes, room, everyone);
      for (const m of everyone) {
        for (const user of ['ann', 'bob', 'cat'].filter((u) => u !== m.userId)) {
          assert.equal(announced(m, user), 1, `${user} announced once to ${m.userId}: initial ${m.initial}; ${m.describe()}`);
        }
      }

      for (const node of nodes) {
        assert.deepEqual(await apiGet(node, `/channels/${room}/users`), { users: [{ id: 'ann' }, { id: 'bob' }, { id: 'cat' }] });
        const info = await apiGet(node, `/channels/${room}`, { info: 'user_count,subscription_count' });
        assert.deepEqual([info.occupied, info.user_count, info.subscription_count], [true, 3, 4]);
        const list = await apiGet(node, '/channels', { filter_by_prefix: 'presence-', info: 'user_count' });
        assert.deepEqual(list.channels[room], { user_count: 3 });
      }

      // bob leaves node 3 but is still on node 2: nobody hears about it.
      bobAgain.client.disconnect();
      await waitUntil(async () => (await apiGet(nodes[0], `/channels/${room}`, { info: 'subscription_count' })).subscription_count === 3,
        5000, 'subscription_count 3');
      // No member_removed for a user still present on another node: node 1 has applied node 3's
      // change (it counts 3), and a member_removed would arrive before the markers.
      await channelMarkers(nodes, room, [ann, bob, cat]);
      for (const m of [ann, cat]) assert.equal(removedCount(m, 'bob'), 0);
      // bob's last socket leaves: member_removed once everywhere.
      bob.client.disconnect();
      for (const m of [ann, cat]) await m.got.next((i) => i.event === 'pusher:member_removed' && i.data === 'bob', 5000, 'bob removed');
      // No duplicate member_removed: it would arrive before the markers.
      await channelMarkers(nodes, room, [ann, cat]);
      for (const m of [ann, cat]) assert.equal(removedCount(m, 'bob'), 1);
      for (const node of nodes) {
        assert.deepEqual(await apiGet(node, `/channels/${room}/users`), { users: [{ id: 'ann' }, { id: 'cat' }] });
      }
    });

    test('max_connections counts the sockets of the whole cluster', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const LIMITED = app({ id: 'limited', key: 'limited-key', secret: 'limited-secret', max_connections: 3 });
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind), apps: [DEFAULT_APP, LIMITED] });
      const held = [];
      for (const node of nodes) {
        const c = await RawClient.connect(node.wsUrl(LIMITED.key));
        t.after(() => c.terminate());
        held.push(c);
      }
      // Other nodes' sockets are known as of their last heartbeat (0.2 s): poll, bounded, until
      // node 1 refuses a 4th socket.
      const attempt = async (node) => {
        const c = await RawClient.connect(node.wsUrl(LIMITED.key), { expectEstablished: false });
        t.after(() => c.terminate());
        if (c.first.event === 'pusher:connection_established') return c;
        c.terminate();
        return c.first;
      };
      let refusal = null;
      await waitUntil(async () => {
        const got = await attempt(nodes[0]);
        if (got instanceof RawClient) { got.terminate(); return false; }
        refusal = got;
        return true;
      }, 5000, 'a 4th connection to be refused', 100);
      assert.equal(refusal.event, 'pusher:error');
      assert.equal(refusal.data.code, 4004);

      // One socket leaves node 2: a new one is accepted on node 3.
      held[1].terminate();
      let accepted = null;
      await waitUntil(async () => {
        const got = await attempt(nodes[2]);
        if (got instanceof RawClient) { accepted = got; return true; }
        return false;
      }, 5000, 'a connection to be accepted again', 100);
      assert.equal(accepted.isOpen, true);
    });

    test('webhooks fire once per cluster: channel_occupied/vacated, member_added/removed', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const rx = await startReceiver();
      t.after(() => rx.close());
      const tag = uid('h');
      const hooks = [{ url: rx.url(), event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed'] }];
      const nodes = await startCluster(t, 3, {
        cluster: clusterOptions(kind),
        apps: [{ ...DEFAULT_APP, webhooks: hooks }],
        server: { webhook_batch_window_ms: 20, webhook_leave_delay_ms: 200 },
      });
      const mine = () => rx.events().filter((e) => e.channel?.includes(tag)).map(({ request, ...e }) => e);
      const pub = `public-${tag}`;
      const room = `presence-${tag}`;
      const subs = [await subscribed(t, nodes[0], pub), await subscribed(t, nodes[1], pub), await subscribed(t, nodes[2], pub)];
      const ann = await member(t, nodes[0], room, 'ann');
      const annAgain = await member(t, nodes[2], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      await rx.waitFor(() => mine().length >= 4, 8000, 'occupied x2 and member_added x2');
      // A duplicate of these from another node is caught by the counts after the quiet window below.
      const count = (eventName, extra = () => true) => mine().filter((e) => e.name === eventName && extra(e)).length;
      assert.equal(count('channel_occupied', (e) => e.channel === pub), 1, JSON.stringify(mine()));
      assert.equal(count('channel_occupied', (e) => e.channel === room), 1, JSON.stringify(mine()));
      assert.equal(count('member_added', (e) => e.user_id === 'ann'), 1, JSON.stringify(mine()));
      assert.equal(count('member_added', (e) => e.user_id === 'bob'), 1, JSON.stringify(mine()));

      for (const x of [...subs, ann, annAgain, bob]) x.client.disconnect();
      await rx.waitFor(() => mine().length >= 8, 8000, 'vacated x2 and member_removed x2');
      // No barrier: each node sends webhooks on its own, so a duplicate from another node can
      // only be waited for (QUIET_MS).
      await sleep(QUIET_MS);
      assert.equal(count('channel_occupied', (e) => e.channel === pub), 1, JSON.stringify(mine()));
      assert.equal(count('channel_occupied', (e) => e.channel === room), 1, JSON.stringify(mine()));
      assert.equal(count('member_added', (e) => e.user_id === 'ann'), 1, JSON.stringify(mine()));
      assert.equal(count('member_added', (e) => e.user_id === 'bob'), 1, JSON.stringify(mine()));
      assert.equal(count('channel_vacated', (e) => e.channel === pub), 1, JSON.stringify(mine()));
      assert.equal(count('channel_vacated', (e) => e.channel === room), 1, JSON.stringify(mine()));
      assert.equal(count('member_removed', (e) => e.user_id === 'ann'), 1, JSON.stringify(mine()));
      assert.equal(count('member_removed', (e) => e.user_id === 'bob'), 1, JSON.stringify(mine()));
      assert.equal(mine().length, 8, JSON.stringify(mine()));
    });

    test('cache channels share their last event: publish on node 1, subscribe on node 3, get the replay', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind) });
      const channel = `cache-${uid('quotes-')}`;
      const marker = await subscribed(t, nodes[2], 'marker', ['done']);
      await nodes[0].sdk().trigger(channel, 'quote', { price: 42 });
      // Messages from one node arrive in order: once node 3 has the marker published after the
      // cache event, it has the cache event too.
      await nodes[0].sdk().trigger('marker', 'done', {});
      await marker.got.nextEvent('done');
      const late = makePusher(nodes[2].port, { t });
      const frames = new Recorder();
      late.connection.bind('message', (m) => frames.push('frame', m));
      late.subscribe(channel);
      const replay = await frames.next((i) => i.data.channel === channel && ['quote', 'pusher:cache_miss'].includes(i.data.event), 5000, 'the replay');
      assert.equal(replay.data.event, 'quote');
      assert.deepEqual(replay.data.data, { price: 42 });
    });
  });

  describe(`cluster over ${name}: chaos`, { concurrency: 1 }, () => {
    test('kill -9 of a node with presence members: the others remove them within node_timeout', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const cluster = clusterOptions(kind, { heartbeat: 0.2, nodeTimeout: 2 });
      const nodes = await startCluster(t, 3, { cluster });
      const room = `presence-${uid('room-')}`;
      const ann = await member(t, nodes[0], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      const cat = await member(t, nodes[1], room, 'cat');
      const dan = await member(t, nodes[2], room, 'dan');
      for (const m of [ann, bob, cat, dan]) await waitMembers(m, ['ann', 'bob', 'cat', 'dan']);

      const killedAt = Date.now();
      await nodes[1].kill();
      for (const m of [ann, dan]) await waitMembers(m, ['ann', 'dan'], 4000);
      const elapsed = Date.now() - killedAt;
      t.diagnostic(`${name}: members of the killed node removed after ${elapsed} ms (node_timeout 2 s)`);
      assert.ok(elapsed >= 1500, `removed after ${elapsed} ms, before node_timeout`);
      // One member_removed per user, no more. No barrier: each node removes a dead node's
      // members on its own timer, so a second removal can only be waited for.
      await sleep(QUIET_MS);
      for (const m of [ann, dan]) {
        assert.equal(removedCount(m, 'bob'), 1);
        assert.equal(removedCount(m, 'cat'), 1);
      }
      for (const node of [nodes[0], nodes[2]]) {
        assert.deepEqual(await apiGet(node, `/channels/${room}/users`), { users: [{ id: 'ann' }, { id: 'dan' }] });
        assert.equal((await apiGet(node, `/channels/${room}`, { info: 'subscription_count' })).subscription_count, 2);
      }
    });

    test('a node frozen (SIGSTOP) for longer than node_timeout comes back with its members; its own clients see no churn', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const nodes = await startCluster(t, 3, { cluster: clusterOptions(kind, { heartbeat: 0.2, nodeTimeout: 2 }) });
      const room = `presence-${uid('room-')}`;
      const ann = await member(t, nodes[0], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      const cat = await member(t, nodes[2], room, 'cat');
      for (const m of [ann, bob, cat]) await waitMembers(m, ['ann', 'bob', 'cat']);

      // Like a long GC pause or a frozen VM: the process keeps its connections but does nothing.
      nodes[1].proc.kill('SIGSTOP');
      t.after(() => { try { nodes[1].proc.kill('SIGCONT'); } catch { /* gone */ } });
      for (const m of [ann, cat]) await waitMembers(m, ['ann', 'cat'], 4000);
      nodes[1].proc.kill('SIGCONT');
      for (const m of [ann, bob, cat]) await waitMembers(m, ['ann', 'bob', 'cat'], 5000);
      for (const node of nodes) {
        await waitUntil(async () => (await apiGet(node, `/channels/${room}/users`)).users.length === 3, 5000, `3 users on :${node.port}`);
      }
      // No further member event on its way. No barrier: the nodes resynchronise with
      // heartbeats and snapshots on their own timers, so it can only be waited for.
      await sleep(QUIET_MS);
      // The others saw bob leave after node_timeout and come back, once each.
      for (const m of [ann, cat]) {
        assert.equal(removedCount(m, 'bob'), 1, m.describe());
        assert.equal(announced(m, 'bob'), 2, m.describe());
      }
      // bob's node must not blame the others for its own silence.
      for (const user of ['ann', 'cat']) {
        assert.equal(removedCount(bob, user), 0, `${user} removed on the frozen node: ${bob.describe()}`);
        assert.equal(announced(bob, user), 1, bob.describe());
      }
    });

    test('the engine stops and restarts under traffic: local delivery goes on, cluster delivery resumes, no duplicate member events', async (t) => {
      const bin = needEngineBinary(t, kind);
      if (!bin) return;
      const engine = await startOwnEngine(kind, bin);
      t.after(() => engine.stop());
      const cluster = clusterOptions(kind, { url: engine.url });
      const nodes = [];
      for (let i = 0; i < 3; i += 1) {
        const node = await startNode({ cluster, readyRequiresEngine: i === 2 });
        t.after(() => node.stop('SIGKILL'));
        nodes.push(node);
      }
      await converge(t, nodes);
      const room = `presence-${uid('room-')}`;
      const ann = await member(t, nodes[0], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      const watcher = await member(t, nodes[2], room, 'watcher');
      for (const m of [ann, bob, watcher]) await waitMembers(m, ['ann', 'bob', 'watcher']);
      const subs = [];
      for (const node of nodes) subs.push(await subscribed(t, node, 'ticks', ['tick']));

      // Traffic: every 50 ms a numbered tick, published to the nodes in turn.
      let n = 0;
      let stopTraffic = false;
      const traffic = (async () => {
        while (!stopTraffic) {
          const node = nodes[n % 3];
          await node.sdk().trigger('ticks', 'tick', { n: n++ }).catch(() => {});
          await sleep(50);
        }
      })();
      t.after(() => { stopTraffic = true; return traffic; });
      await waitUntil(() => subs.every((s) => s.got.items.length > 3), 5000, 'ticks everywhere');

      const downAt = Date.now();
      await engine.stop();
      // The node that requires the engine reports itself not ready; the others stay ready.
      await waitUntil(async () => (await fetch(nodes[2].httpUrl('/ready'))).status === 503, 5000, '/ready 503 on the node requiring the engine');
      assert.equal((await fetch(nodes[0].httpUrl('/ready'))).status, 200);
      // Local delivery during the outage: a publish to node 1 reaches node 1's subscriber.
      const local = new Recorder().on(subs[0].channel, 'during-outage');
      await nodes[0].sdk().trigger('ticks', 'during-outage', { n: 'local' });
      await local.nextEvent('during-outage', 3000);
      // Stay down for longer than node_timeout (2 s): nobody may be declared dead meanwhile.
      await sleep(Math.max(0, 2500 - (Date.now() - downAt)));
      await engine.start();
      const upAt = Date.now();

      // Cluster delivery resumes: a publish on node 1 reaches node 3 (bounded).
      let resumedAfter = null;
      const resumed = new Recorder().on(subs[2].channel, 'after-restart');
      await waitUntil(async () => {
        await nodes[0].sdk().trigger('ticks', 'after-restart', {}).catch(() => {});
        if (resumed.items.length === 0) return false;
        resumedAfter = Date.now() - upAt;
        return true;
      }, 15_000, 'cluster delivery after the engine restart', 250);
      t.diagnostic(`${name}: outage ${upAt - downAt} ms; cross-node delivery resumed ${resumedAfter} ms after the restart`);
      await waitUntil(async () => (await fetch(nodes[2].httpUrl('/ready'))).status === 200, 10_000, '/ready 200 again');
      await converge(t, nodes, { ms: 10_000 });
      stopTraffic = true;
      await traffic;
      // The last ticks and any (unexpected) member event. No barrier: after the outage the
      // nodes resynchronise with snapshots on their own timers, so it can only be waited for.
      await sleep(QUIET_MS);

      for (const node of nodes) assert.equal(node.exitInfo(), null, `node :${node.port} exited`);
      for (const sub of subs) {
        const ticks = values(sub.got, 'tick');
        assert.equal(new Set(ticks).size, ticks.length, `duplicate ticks on a subscriber: ${ticks}`);
      }
      for (const m of [ann, bob, watcher]) {
        for (const user of ['ann', 'bob', 'watcher'].filter((u) => u !== m.userId)) {
          assert.equal(announced(m, user), 1, `${user} announced once to ${m.userId}: ${m.describe()}`);
          assert.equal(removedCount(m, user), 0, `${user} never removed for ${m.userId}: ${m.describe()}`);
        }
      }
      for (const node of nodes) {
        assert.deepEqual(await apiGet(node, `/channels/${room}/users`), { users: [{ id: 'ann' }, { id: 'bob' }, { id: 'watcher' }] });
      }
    });

    test('a node started late sees the existing presence (configured with Soketi variables)', async (t) => {
      if (!(await needSharedEngine(t, kind))) return;
      const cluster = clusterOptions(kind);
      const nodes = await startCluster(t, 2, { cluster });
      const room = `presence-${uid('room-')}`;
      const ann = await member(t, nodes[0], room, 'ann');
      const bob = await member(t, nodes[1], room, 'bob');
      for (const m of [ann, bob]) await waitMembers(m, ['ann', 'bob']);

      const soketi = kind === 'redis'
        ? { SOKETI_ADAPTER_DRIVER: 'redis', SOKETI_DB_REDIS_HOST: '127.0.0.1', SOKETI_DB_REDIS_PORT: '6379', SOKETI_ADAPTER_REDIS_PREFIX: cluster.prefix }
        : { SOKETI_ADAPTER_DRIVER: 'nats', SOKETI_ADAPTER_NATS_SERVERS: '["127.0.0.1:4222"]', SOKETI_ADAPTER_NATS_PREFIX: cluster.prefix };
      const late = await startNode({
        cluster,
        viaEnv: { ...soketi, SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL: '0.2', SOCKWAVE_CLUSTER_NODE_TIMEOUT: '2' },
      });
      t.after(() => late.stop('SIGKILL'));
      const cat = await member(t, late, room, 'cat');
      await waitMembers(cat, ['ann', 'bob', 'cat']);
      for (const m of [ann, bob]) await waitMembers(m, ['ann', 'bob', 'cat']);
      // No duplicate announcements. No barrier: the late node learns the others' members from
      // snapshots sent on heartbeats, so a second one can only be waited for.
      await sleep(QUIET_MS);
      for (const user of ['ann', 'bob']) assert.equal(announced(cat, user), 1, `${user}: ${cat.describe()}`);
      assert.deepEqual(await apiGet(late, `/channels/${room}/users`), { users: [{ id: 'ann' }, { id: 'bob' }, { id: 'cat' }] });
      await converge(t, [...nodes, late]);
      const probe = await subscribed(t, late, 'news', ['update']);
      await waitUntil(async () => (await apiGet(nodes[0], '/channels/news', { info: 'subscription_count' })).subscription_count === 1,
        5000, 'the late node\'s subscriber known to node 1');
      await nodes[0].sdk().trigger('news', 'update', { n: 1 });
      await probe.got.nextEvent('update');
      await waitForState(probe.client, 'connected');
    });
  });
}
