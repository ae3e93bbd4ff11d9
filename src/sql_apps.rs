//! Apps from a MySQL/MariaDB or PostgreSQL table in Soketi's schema (Soketi's `mysql` and
//! `postgres` app managers).
//!
//! An app is read by key when a client connects and by id for an HTTP API call, then used
//! for `app_manager_cache_ttl` before it is read again; `refresh` re-reads every app in use
//! on that period, so a changed secret or limit, or `enabled = 0`, reaches the sockets that
//! are already open. When the database cannot be read, the apps already read keep working
//! (the old copy is used), unknown keys are refused with a log line naming the database's
//! error, and the store recovers by itself on the next successful read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, Row, ValueRef};

use crate::app::{App, AppStore, Lookup};
use crate::config::{AppManager, Config};

/// Connections kept open to the database, at most. Lookups are short and cached, so a few
/// serve any rate of connects.
const POOL_SIZE: u32 = 8;
/// How long one query, connecting included, may take before it counts as a failure.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Unknown keys and ids remembered (each for the TTL), so a client retrying a wrong key
/// does not query the database each time; past this many the memory is cleared.
const MAX_MISSES: usize = 10_000;
/// Apps re-read by one query of `refresh`.
const REFRESH_CHUNK: usize = 100;

enum Pool {
    Mysql(MySqlPool),
    Postgres(PgPool),
}

/// What `refresh` found changed for an app in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The app's row now says `enabled = 0`.
    Disabled(String),
    /// The app's row is gone.
    Removed(String),
}

/// The store. `find_*` answer from what was read; `lookup_*` read the table when needed.
pub struct SqlAppStore {
    pool: Pool,
    /// The table, quoted for the driver's SQL.
    table_sql: String,
    table: String,
    ttl: Duration,
    template: App,
    apps: RwLock<Apps>,
    misses: Mutex<HashMap<String, Instant>>,
    /// The database's last error while it is failing; `None` once a read succeeds.
    failing: Mutex<Option<String>>,
    /// Bumped whenever an app held here changes (see `AppStore::generation`).
    generation: AtomicU64,
}

#[derive(Default)]
struct Apps {
    by_id: HashMap<String, (Arc<App>, Instant)>,
    id_by_key: HashMap<String, String>,
}

impl SqlAppStore {
    /// A store for the configured database. The pool connects lazily: the server starts
    /// while the database is down, and says so on the first lookup and on `/ready`.
    pub fn new(config: &Config) -> anyhow::Result<SqlAppStore> {
        let server = &config.server;
        let table = server.app_manager_table.clone();
        let quote = |q: char| -> String {
            table
                .split('.')
                .map(|part| format!("{q}{part}{q}"))
                .collect::<Vec<_>>()
                .join(".")
        };
        let (pool, table_sql) = match server.app_manager {
            AppManager::Mysql => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(QUERY_TIMEOUT)
                    .connect_lazy(&server.app_manager_url)?;
                (Pool::Mysql(pool), quote('`'))
            }
            AppManager::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(QUERY_TIMEOUT)
                    .connect_lazy(&server.app_manager_url)?;
                (Pool::Postgres(pool), quote('"'))
            }
            AppManager::Static => anyhow::bail!("the static app manager has no database"),
        };
        Ok(SqlAppStore {
            pool,
            table_sql,
            table,
            ttl: server.app_manager_cache_ttl,
            template: config.app_template.clone(),
            apps: RwLock::default(),
            misses: Mutex::default(),
            failing: Mutex::default(),
            generation: AtomicU64::new(0),
        })
    }

    /// How often `refresh` should run.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Re-reads every app in use and reports those that were disabled or removed, so their
    /// sockets can be closed. Apps that fail to read keep their last copy.
    pub async fn refresh(&self) -> Vec<Change> {
        let ids: Vec<String> = self
            .apps
            .read()
            .expect("apps lock")
            .by_id
            .keys()
            .cloned()
            .collect();
        let mut changes = Vec::new();
        // One query per chunk of ids, not one per app.
        for chunk in ids.chunks(REFRESH_CHUNK) {
            let Ok(mut found) = self.fetch_ids(chunk).await else {
                continue; // the database is down: the apps keep their last copy
            };
            for id in chunk {
                let before = self.find_by_id(id);
                match found.remove(id.as_str()) {
                    Some(app) => {
                        let was_enabled = before.as_ref().is_some_and(|b| b.enabled);
                        if was_enabled && !app.enabled {
                            changes.push(Change::Disabled(id.clone()));
                        }
                        self.keep(app);
                    }
                    None => {
                        self.forget(id);
                        changes.push(Change::Removed(id.clone()));
                    }
                }
            }
        }
        changes
    }

    async fn lookup(&self, column: &'static str, value: &str) -> Lookup {
        let held = match column {
            "key" => self.held_by_key(value),
            _ => self.held_by_id(value),
        };
        if let Some((app, read_at)) = &held {
            if read_at.elapsed() < self.ttl {
                return Ok(Some(app.clone()));
            }
        }
        let miss = format!("{column}:{value}");
        if held.is_none() && self.missed_recently(&miss) {
            return Ok(None);
        }
        match self.fetch(column, value).await {
            Ok(Some(app)) => Ok(Some(self.keep(app))),
            Ok(None) => {
                if let Some((app, _)) = held {
                    self.forget(&app.id);
                }
                self.remember_miss(miss);
                Ok(None)
            }
            // The copy at hand, however old, beats refusing a known app.
            Err(error) => match held {
                Some((app, _)) => Ok(Some(app)),
                None => Err(error),
            },
        }
    }

    /// The rows of these ids that make usable apps, by id, in one query.
    async fn fetch_ids(&self, ids: &[String]) -> Result<HashMap<String, Arc<App>>, String> {
        let apps = self.select("id", ids).await?;
        Ok(apps
            .into_iter()
            .map(|app| (app.id.as_str().to_string(), app))
            .collect())
    }

    /// One app by `column` (`id` or `key`).
    async fn fetch(&self, column: &'static str, value: &str) -> Result<Option<Arc<App>>, String> {
        let apps = self.select(column, &[value.to_string()]).await?;
        Ok(apps.into_iter().next())
    }

    /// The usable apps whose `column` is one of `values`: one query, bounded by the query
    /// timeout; a failure is recorded (and logged once per outage).
    async fn select(
        &self,
        column: &'static str,
        values: &[String],
    ) -> Result<Vec<Arc<App>>, String> {
        let read = async {
            match &self.pool {
                Pool::Mysql(pool) => {
                    let marks = vec!["?"; values.len()].join(", ");
                    let sql = format!(
                        "SELECT * FROM {} WHERE `{column}` IN ({marks})",
                        self.table_sql
                    );
                    let query = values.iter().fold(sqlx::query(&sql), |q, v| q.bind(v));
                    let rows = query.fetch_all(pool).await;
                    rows.map(|rows| rows.iter().map(mysql_columns).collect::<Vec<_>>())
                }
                Pool::Postgres(pool) => {
                    let marks: Vec<String> = (1..=values.len()).map(|n| format!("${n}")).collect();
                    let sql = format!(
                        "SELECT * FROM {} WHERE \"{column}\" IN ({})",
                        self.table_sql,
                        marks.join(", ")
                    );
                    let query = values.iter().fold(sqlx::query(&sql), |q, v| q.bind(v));
                    let rows = query.fetch_all(pool).await;
                    rows.map(|rows| rows.iter().map(pg_columns).collect::<Vec<_>>())
                }
            }
        };
        let rows = match tokio::time::timeout(QUERY_TIMEOUT, read).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(err)) => return Err(self.failed(err.to_string())),
            Err(_) => return Err(self.failed(format!("no answer within {QUERY_TIMEOUT:?}"))),
        };
        self.recovered();
        Ok(rows
            .into_iter()
            .filter_map(|columns| self.app_from(columns))
            .collect())
    }

    /// A row as an app; a row sockwave cannot use is logged and treated as absent, like an
    /// unknown app.
    fn app_from(&self, columns: Vec<(String, Value)>) -> Option<Arc<App>> {
        match crate::config::app_from_row(&self.template, &self.table, columns) {
            Ok(app) => Some(Arc::new(app)),
            Err(err) => {
                tracing::warn!(table = %self.table, error = %err, "app row refused");
                None
            }
        }
    }

    fn failed(&self, error: String) -> String {
        let mut failing = self.failing.lock().expect("failing lock");
        if failing.is_none() {
            tracing::error!(table = %self.table, %error, "apps database unreachable: apps already read keep working, others are refused until it answers again");
        }
        *failing = Some(error.clone());
        format!("apps database unreachable: {error}")
    }

    fn recovered(&self) {
        if self.failing.lock().expect("failing lock").take().is_some() {
            tracing::info!(table = %self.table, "apps database answers again");
        }
    }

    fn held_by_key(&self, key: &str) -> Option<(Arc<App>, Instant)> {
        let apps = self.apps.read().expect("apps lock");
        let id = apps.id_by_key.get(key)?;
        apps.by_id.get(id).cloned()
    }

    fn held_by_id(&self, id: &str) -> Option<(Arc<App>, Instant)> {
        self.apps.read().expect("apps lock").by_id.get(id).cloned()
    }

    fn keep(&self, app: Arc<App>) -> Arc<App> {
        let mut apps = self.apps.write().expect("apps lock");
        let id = app.id.as_str().to_string();
        let changed = apps.by_id.get(&id).is_none_or(|(old, _)| **old != *app);
        if let Some((old, _)) = apps.by_id.get(&id) {
            let old_key = old.key.as_str().to_string();
            apps.id_by_key.remove(&old_key);
        }
        apps.id_by_key
            .insert(app.key.as_str().to_string(), id.clone());
        apps.by_id.insert(id, (app.clone(), Instant::now()));
        if changed {
            self.generation.fetch_add(1, Ordering::Release);
        }
        app
    }

    fn forget(&self, id: &str) {
        let mut apps = self.apps.write().expect("apps lock");
        if let Some((app, _)) = apps.by_id.remove(id) {
            apps.id_by_key.remove(app.key.as_str());
        }
    }

    fn missed_recently(&self, miss: &str) -> bool {
        let misses = self.misses.lock().expect("misses lock");
        misses.get(miss).is_some_and(|at| at.elapsed() < self.ttl)
    }

    fn remember_miss(&self, miss: String) {
        let mut misses = self.misses.lock().expect("misses lock");
        if misses.len() >= MAX_MISSES {
            misses.clear();
        }
        misses.insert(miss, Instant::now());
    }
}

impl AppStore for SqlAppStore {
    fn find_by_id(&self, id: &str) -> Option<Arc<App>> {
        self.held_by_id(id).map(|(app, _)| app)
    }

    fn find_by_key(&self, key: &str) -> Option<Arc<App>> {
        self.held_by_key(key).map(|(app, _)| app)
    }

    fn lookup_by_key<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Lookup> {
        Box::pin(self.lookup("key", key))
    }

    fn lookup_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Lookup> {
        Box::pin(self.lookup("id", id))
    }

    fn unreachable(&self) -> Option<String> {
        self.failing.lock().expect("failing lock").clone()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Decodes one column of whatever type the table gives it into JSON, trying the types the
/// driver can produce; `NULL` is JSON null.
macro_rules! decode_column {
    ($row:expr, $index:expr, [$($ty:ty),*]) => {{
        let row = $row;
        let index = $index;
        if row.try_get_raw(index).map(|raw| raw.is_null()).unwrap_or(true) {
            Value::Null
        } else {
            None
                $(.or_else(|| row.try_get::<$ty, _>(index).ok().map(|v| Value::from(v))))*
                .or_else(|| row.try_get::<Value, _>(index).ok())
                .or_else(|| row.try_get::<String, _>(index).ok().map(Value::String))
                .or_else(|| {
                    row.try_get::<Vec<u8>, _>(index)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .map(Value::String)
                })
                .unwrap_or(Value::Null)
        }
    }};
}

fn mysql_columns(row: &MySqlRow) -> Vec<(String, Value)> {
    (0..row.columns().len())
        .map(|i| {
            let name = row.columns()[i].name().to_string();
            let value = decode_column!(
                row,
                i,
                [i64, i32, i16, i8, u64, u32, u16, u8, bool, f64, f32]
            );
            (name, value)
        })
        .collect()
}

fn pg_columns(row: &PgRow) -> Vec<(String, Value)> {
    (0..row.columns().len())
        .map(|i| {
            let name = row.columns()[i].name().to_string();
            let value = decode_column!(row, i, [i64, i32, i16, bool, f64, f32]);
            (name, value)
        })
        .collect()
}
