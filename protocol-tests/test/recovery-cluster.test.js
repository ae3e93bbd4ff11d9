// Recovery across a 3-node Redis cluster: the page drops for 10 s while 50 events are
// published through another node, comes back on a third node, and has all 50 in order, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSdk } from '../lib/clients.js';
import { startPageServer } from '../lib/page.js';
import { startCuttableRelay } from '../lib/cut.js';
import {
  APP, MISSED, browserFor, dropWhilePublishing, publish, pusherPage, range, waitReceived,
} from '../lib/recovery.js';
import { clusterOptions, needSharedEngine, startCluster } from '../lib/cluster.js';

test('3-node Redis cluster: the page comes back on another node and has all 50', async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  if (!(await needSharedEngine(t, 'redis'))) return;
  const nodes = await startCluster(t, 3, { cluster: clusterOptions('redis'), apps: [APP] });
  const [a, b, c] = nodes;
  const relay = await startCuttableRelay(t, a.port);
  const pages = await startPageServer(t, c.port, { appCfg: APP, recovery: true });
  const page = await pusherPage(browser, pages, relay.port, { recovery: true, channel: 'private-dashboard-stats' });
  const sdk = makeSdk(c.port, APP);
  await publish(sdk, 'private-dashboard-stats', 0, 3);
  await waitReceived(page, 3);
  await dropWhilePublishing(page, relay, sdk, 'private-dashboard-stats', 3, { restoreTo: b.port });
  await publish(makeSdk(a.port, APP), 'private-dashboard-stats', 53, 2);
  assert.deepEqual(await waitReceived(page, 55), range(0, 55));
  // The replay holds the 50 missed events, plus the 2 later ones when they were published
  // before the page's resume was read (they then come once, in the replay).
  const resumes = await page.evaluate(() => window.resumes);
  assert.ok(resumes.some((r) => r.replayed >= MISSED), JSON.stringify(resumes));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await page.evaluate(() => window.received.length)), 55);
});
