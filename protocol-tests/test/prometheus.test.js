// Prometheus (Debian's package) scrapes sockwave with docs/prometheus/prometheus.yml (only the
// target and the scrape interval are substituted), real clients make traffic of every kind
// the dashboard charts, and then every query in docs/grafana/sockwave.json is evaluated with
// Prometheus's HTTP API and must return data. A query naming a metric that does not exist
// returns nothing and fails the test (checked below against a deliberately wrong query).
// Without prometheus the test says NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, freePort, REPO_ROOT, DEFAULT_APP, app } from '../lib/server.js';
import {
  RawClient, makePusher, makeSdk, pusherSubscribe, once, waitUntil, sdkError,
} from '../lib/clients.js';
import { needTool, runTool, substitute, tempDir } from '../lib/tools.js';

const CONFIG = path.join(REPO_ROOT, 'docs', 'prometheus', 'prometheus.yml');
const DASHBOARD = path.join(REPO_ROOT, 'docs', 'grafana', 'sockwave.json');

/** Every `expr` of the dashboard's panels, and the templating queries, with their titles. */
function dashboardQueries() {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const queries = [];
  const walk = (node, title) => {
    if (Array.isArray(node)) { node.forEach((n) => walk(n, title)); return; }
    if (!node || typeof node !== 'object') return;
    const here = node.title ?? title;
    if (typeof node.expr === 'string') queries.push({ title: here, expr: node.expr });
    for (const [key, value] of Object.entries(node)) if (key !== 'templating') walk(value, here);
  };
  walk(dashboard.panels, 'dashboard');
  const variables = dashboard.templating?.list ?? [];
  return { queries, variables };
}

/**
 * What Grafana sends for a query: `${prefix}` from the dashboard's textbox default,
 * `$app_id` as "All" (`.*`), `$__rate_interval` as four scrape intervals (Grafana's rule).
 */
function grafanaExpand(expr, { prefix, rateInterval }) {
  return expr
    .replaceAll('${prefix}', prefix)
    .replaceAll('$prefix', prefix)
    .replaceAll('$app_id', '.*')
    .replaceAll('${app_id}', '.*')
    .replaceAll('$__rate_interval', rateInterval);
}

async function query(promPort, expr) {
  const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await res.json();
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? JSON.stringify(body)}`);
  return body.data.result;
}

async function startPrometheus(t, metricsPort) {
  const binary = needTool(t, ['prometheus'], ['--version'], 'apt-get install -y prometheus');
  if (!binary) return null;
  const dir = tempDir(t, 'prometheus');
  const file = 'docs/prometheus/prometheus.yml';
  let config = fs.readFileSync(CONFIG, 'utf8');
  config = substitute(config, 'targets: ["sockwave:9601"]', `targets: ["127.0.0.1:${metricsPort}"]`, file);
  config = substitute(config, 'scrape_interval: 15s', 'scrape_interval: 1s', file);
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  await runTool(t, binary, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], {
    label: 'prometheus scraping sockwave',
    ready: async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/targets`, { signal: AbortSignal.timeout(500) });
      return (await res.json()).data.activeTargets.some((target) => target.health === 'up');
    },
  });
  return { port };
}

/** Traffic of every kind a dashboard panel charts. */
async function makeTraffic(t, port) {
  const pusher = makePusher(port, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats');
  const sdk = makeSdk(port);
  for (let i = 0; i < 5; i += 1) {
    const received = once(channel, 'stats.updated');
    assert.equal((await sdk.trigger('private-dashboard-stats', 'stats.updated', { i })).status, 200);
    await received;
  }
  // Presence members.
  const member = await RawClient.connect(`ws://127.0.0.1:${port}/app/${DEFAULT_APP.key}?protocol=7`);
  t.after(() => member.terminate());
  await member.subscribePresence('presence-online', { user_id: 'u1', user_info: { name: 'Ada' } });
  // A refused subscription (bad signature), a rejected API request (wrong secret).
  const intruder = await RawClient.connect(`ws://127.0.0.1:${port}/app/${DEFAULT_APP.key}?protocol=7`);
  t.after(() => intruder.terminate());
  intruder.subscribe('private-admin', { auth: `${DEFAULT_APP.key}:${'0'.repeat(64)}` });
  await intruder.nextEvent('pusher:subscription_error', 'private-admin').catch(() => intruder.ping());
  const wrong = makeSdk(port, { ...DEFAULT_APP, secret: 'not-the-secret' });
  assert.equal((await sdkError(wrong.trigger('news', 'x', {}))).status, 401);
  // A rate limit: the limited app takes one backend event per second.
  const limited = makeSdk(port, LIMITED);
  const statuses = [];
  for (let i = 0; i < 3; i += 1) {
    statuses.push(await limited.trigger('news', 'x', {}).then((r) => r.status, (e) => e.status));
  }
  assert.ok(statuses.includes(429), `rate limit hit: ${statuses}`);
  // A disconnect.
  const leaver = await RawClient.connect(`ws://127.0.0.1:${port}/app/${DEFAULT_APP.key}?protocol=7`);
  leaver.close();
  await leaver.waitClosed();
  return { pusher, member, intruder };
}

const LIMITED = app({ id: 'limited-id', key: 'limited-key', secret: 'limited-secret', max_backend_events_per_second: 1 });

test('Prometheus scrapes sockwave with the documented config; every Grafana dashboard query returns data', async (t) => {
  const metricsPort = await freePort();
  const server = await startServer({
    apps: [DEFAULT_APP, LIMITED],
    server: { metrics_enabled: true, metrics_port: metricsPort },
  });
  t.after(() => server.stop());
  const prometheus = await startPrometheus(t, metricsPort);
  if (!prometheus) return;

  await makeTraffic(t, server.port);

  const { queries, variables } = dashboardQueries();
  assert.ok(queries.length > 20, `the dashboard has ${queries.length} queries`);
  const prefixVar = variables.find((v) => v.name === 'prefix');
  const prefix = prefixVar?.query ?? prefixVar?.current?.value;
  assert.equal(prefix, 'sockwave_');
  const expand = (expr) => grafanaExpand(expr, { prefix, rateInterval: '4s' });

  // The check itself: a query for a metric that does not exist returns nothing.
  assert.deepEqual(await query(prometheus.port, expand('sum by (app_id) (rate(${prefix}no_such_metric_total[$__rate_interval]))')), []);

  // Every panel query, once the traffic above has been scraped twice (rates need two samples).
  const empty = async () => {
    const missing = [];
    for (const { title, expr } of queries) {
      if ((await query(prometheus.port, expand(expr))).length === 0) missing.push(`${title}: ${expr}`);
    }
    return missing;
  };
  let missing = [];
  await waitUntil(async () => {
    missing = await empty();
    return missing.length === 0;
  }, 15_000, 'every dashboard query returning data', 500).catch((err) => {
    throw new Error(`${err.message}; still empty:\n  ${missing.join('\n  ')}`);
  });

  // The app_id variable's query (label_values) lists the apps that had traffic.
  const appVar = variables.find((v) => v.name === 'app_id');
  const labelQuery = typeof appVar.query === 'string' ? appVar.query : appVar.query.query;
  const match = labelQuery.match(/^label_values\((.+),\s*(\w+)\)$/);
  assert.ok(match, `label_values query: ${labelQuery}`);
  const [, selector, label] = match;
  const url = `http://127.0.0.1:${prometheus.port}/api/v1/label/${label}/values?match[]=${encodeURIComponent(expand(selector))}`;
  const values = (await (await fetch(url)).json()).data;
  assert.ok(values.includes(DEFAULT_APP.id) && values.includes(LIMITED.id), JSON.stringify(values));
});

test('docs/metrics.md shows the tested scrape config verbatim', () => {
  const doc = fs.readFileSync(CONFIG, 'utf8');
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
  assert.ok(page.includes(doc), 'docs/metrics.md must include docs/prometheus/prometheus.yml unchanged');
});
