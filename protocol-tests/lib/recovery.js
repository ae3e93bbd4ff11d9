// Shared by the recovery browser tests (test/recovery-*.test.js): headless Chromium with
// unmodified pusher-js or Laravel Echo and sockwave's add-on (clients/js), a dashboard
// channel with history, and a network that drops for 10 s while 50 events are published (a
// relay between the browser and sockwave is cut and restored; pusher-js reconnects by itself).
import { app } from './server.js';
export { browserFor } from './browser.js';

export const APP = app({ history_channels: ['private-dashboard-*', 'dashboard-*'], history_max_events: 200 });
export const CUT_MS = 10_000;
export const MISSED = 50;

export function pusherOptions(port, transports = ['ws']) {
  return {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, httpHost: '127.0.0.1', httpPort: port,
    forceTLS: false, disableStats: true, enabledTransports: transports,
    channelAuthorization: { endpoint: '/auth?user=1', transport: 'ajax' },
  };
}

/** A page with pusher-js (and the add-on when `recovery`), recording `stats.updated`. */
export async function pusherPage(browser, pages, port, { recovery, channel, transports }) {
  const page = await browser.newPage();
  await page.goto(pages.page('dashboard'));
  await page.evaluate(async ({ options, recovery, channel }) => {
    window.received = [];
    window.everything = [];
    window.gaps = [];
    window.resumes = [];
    const pusher = new Pusher('app-key', options);
    window.pusher = pusher;
    if (recovery) {
      window.recovery = SockwaveRecovery.enableRecovery(pusher, {
        onGap: (name, gap) => window.gaps.push({ name, ...gap }),
        onResumed: (name, info) => window.resumes.push({ name, ...info, at: performance.now() }),
      });
    }
    const subscribed = pusher.subscribe(channel);
    subscribed.bind('stats.updated', (data) => window.received.push(data.n));
    subscribed.bind_global((event, data) => window.everything.push(event));
    await new Promise((resolve, reject) => {
      subscribed.bind('pusher:subscription_succeeded', resolve);
      setTimeout(() => reject(new Error(`not subscribed: ${pusher.connection.state}`)), 15_000);
    });
  }, { options: pusherOptions(port, transports), recovery, channel });
  return page;
}

/** Publishes `n` numbered events through the HTTP API (`from`, `from + 1`, …). */
export async function publish(sdk, channel, from, n) {
  for (let i = from; i < from + n; i += 1) await sdk.trigger(channel, 'stats.updated', { n: i });
}

export async function waitReceived(page, count, ms = 30_000) {
  await page.waitForFunction((count) => window.received.length >= count, count, { timeout: ms });
  return page.evaluate(() => window.received);
}

/** The drop: cut, publish the missed events over `CUT_MS`, restore, wait for pusher-js. */
export async function dropWhilePublishing(page, relay, sdk, channel, from, { restoreTo } = {}) {
  relay.cut();
  await page.waitForFunction(() => window.pusher.connection.state !== 'connected', null, { timeout: 15_000 });
  const started = Date.now();
  for (let i = 0; i < MISSED; i += 1) {
    await publish(sdk, channel, from + i, 1);
    await new Promise((r) => setTimeout(r, CUT_MS / MISSED));
  }
  await new Promise((r) => setTimeout(r, Math.max(0, CUT_MS - (Date.now() - started))));
  relay.restore(restoreTo);
  await page.waitForFunction(() => window.pusher.connection.state === 'connected', null, { timeout: 60_000 });
}

export const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);
