// The machine's MariaDB (127.0.0.1:3306, root without a password) and PostgreSQL
// (127.0.0.1:5432, trust) for the SQL app manager tests: a database of the test's own, created
// and dropped by it, holding an apps table in Soketi's documented schema; and a TCP relay in
// front of the database that a test can cut and restore, to play a database outage without
// touching the machine's server.
import net from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** Soketi 1.x's documented apps tables (docs.soketi.app, SQL drivers). */
const SCHEMA = {
  mysql: `CREATE TABLE apps (
    id varchar(255) NOT NULL, \`key\` varchar(255) NOT NULL, secret varchar(255) NOT NULL,
    max_connections integer(10) NOT NULL, enable_client_messages tinyint(1) NOT NULL,
    \`enabled\` tinyint(1) NOT NULL, max_backend_events_per_sec integer(10) NOT NULL,
    max_client_events_per_sec integer(10) NOT NULL, max_read_req_per_sec integer(10) NOT NULL,
    webhooks json, max_presence_members_per_channel tinyint(1) NULL,
    max_presence_member_size_in_kb tinyint(1) NULL, max_channel_name_length tinyint(1) NULL,
    max_event_channels_at_once tinyint(1) NULL, max_event_name_length tinyint(1) NULL,
    max_event_payload_in_kb tinyint(1) NULL, max_event_batch_size tinyint(1) NULL,
    enable_user_authentication tinyint(1) NOT NULL, PRIMARY KEY (id))`,
  postgres: `CREATE TABLE apps (
    id varchar(255) PRIMARY KEY, "key" varchar(255) NOT NULL, secret varchar(255) NOT NULL,
    max_connections integer NOT NULL, enable_client_messages smallint NOT NULL,
    "enabled" smallint NOT NULL, max_backend_events_per_sec integer NOT NULL,
    max_client_events_per_sec integer NOT NULL, max_read_req_per_sec integer NOT NULL,
    webhooks json, max_presence_members_per_channel integer DEFAULT NULL,
    max_presence_member_size_in_kb integer DEFAULT NULL, max_channel_name_length integer DEFAULT NULL,
    max_event_channels_at_once integer DEFAULT NULL, max_event_name_length integer DEFAULT NULL,
    max_event_payload_in_kb integer DEFAULT NULL, max_event_batch_size integer DEFAULT NULL,
    enable_user_authentication smallint NOT NULL)`,
};

export const DATABASES = Object.freeze({
  mysql: { name: 'MariaDB', port: 3306 },
  postgres: { name: 'PostgreSQL', port: 5432 },
});

/** A fresh database with an empty apps table; `query(sql, params)` with `?` placeholders. */
export async function createAppsDatabase(t, kind) {
  const database = `sockwave_test_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  let query;
  let close;
  if (kind === 'mysql') {
    const admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    await admin.query(`CREATE DATABASE \`${database}\``);
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database });
    query = async (sql, params = []) => (await conn.query(sql.replaceAll('"key"', '`key`').replaceAll('"enabled"', '`enabled`'), params))[0];
    close = async () => {
      await conn.end();
      await admin.query(`DROP DATABASE \`${database}\``);
      await admin.end();
    };
  } else {
    const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const conn = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database });
    await conn.connect();
    query = async (sql, params = []) => {
      let n = 0;
      return (await conn.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows;
    };
    close = async () => {
      await conn.end();
      await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
      await admin.end();
    };
  }
  t.after(close);
  await query(SCHEMA[kind]);
  return { database, query };
}

/** One app row with Soketi's column names; `overrides` per column. */
export async function insertApp(db, { id, key, secret, ...overrides }) {
  const row = {
    id, key, secret,
    max_connections: -1, enable_client_messages: 1, enabled: 1,
    max_backend_events_per_sec: -1, max_client_events_per_sec: -1, max_read_req_per_sec: -1,
    webhooks: '[]', enable_user_authentication: 0,
    ...overrides,
  };
  const columns = Object.keys(row).map((c) => `"${c}"`.replace(/^"(?!key"|enabled")(.*)"$/, '$1'));
  const marks = columns.map(() => '?').join(', ');
  await db.query(`INSERT INTO apps (${columns.join(', ')}) VALUES (${marks})`, Object.values(row));
}

/** A TCP relay to 127.0.0.1:`target` on a port of its own; `cut()` drops it, `restore()` brings it back. */
export async function startRelay(t, target) {
  const sockets = new Set();
  let server = null;
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address();
      probe.close(() => resolve(p));
    });
  });
  const open = () => new Promise((resolve, reject) => {
    server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const cut = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  await open();
  t.after(() => cut().catch(() => {}));
  return { port, cut, restore: open };
}
