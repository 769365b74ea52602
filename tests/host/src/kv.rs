//! The key-value stores behind `fermyon:spin/key-value@2.0.0`, as `spin up` provides them: by
//! default a SQLite file in the state dir, so two host processes on one state dir share state the
//! way several Spin replicas share a Redis or a hosted store; a label the runtime config gives
//! `type = "spin"` gets its own SQLite database, in memory when it names no `path`, and one it
//! gives `type = "redis"` lives in that Redis server, as Spin's `key-value-redis` keeps it.

use anyhow::{bail, Context, Result};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
    /// Test-only fault injection, when switched on: while this file exists, operations named in
    /// it fail (see `injected_fault`).
    fault_file: Option<PathBuf>,
}

/// Name of the file in the state dir that injects key-value errors, for fault tests: it holds
/// the operations to fail (`get`, `set`, `delete`, or `all`), whitespace-separated. Delete it
/// to heal the store. Spin has no such switch; it only exists in this test host, and only when
/// it starts with [`FAULT_SWITCH_ENV`] set, so no other run pays for looking at the file.
pub const FAULT_FILE: &str = "kv-faults";

/// The environment variable that switches the fault file on (any value).
pub const FAULT_SWITCH_ENV: &str = "SPIN_TEST_HOST_KV_FAULTS";

/// The label every Spin app may use without a runtime config.
const DEFAULT_LABEL: &str = "default";

/// The file Spin's default store lives in, in the state dir.
const DEFAULT_STORE_FILE: &str = "sqlite_key_value.db";

/// Where a store label's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created with its directory if missing).
    File(PathBuf),
    /// A SQLite database in this process's memory, gone when it exits (Spin's `type = "spin"`
    /// without a `path`).
    Memory,
    /// A Redis server, by its `redis://` URL (Spin's `type = "redis"`).
    Redis(String),
}

/// Every store label's store, as Spin 4 defines them: the labels the runtime config names,
/// and `default` — unless the runtime config names it too — in the state dir's file. A label
/// neither defines is no store at all (Spin refuses to start an app whose component lists one).
#[derive(Clone)]
pub struct KvStores {
    stores: HashMap<String, Store>,
}

impl KvStores {
    /// `faults`: honour the state dir's [`FAULT_FILE`] (SQLite stores only).
    pub fn open(state_dir: &Path, configured: &[(String, Location)], faults: bool) -> Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create state dir {}", state_dir.display()))?;
        let fault_file = faults.then(|| state_dir.join(FAULT_FILE));
        let default = (
            DEFAULT_LABEL.to_string(),
            Location::File(state_dir.join(DEFAULT_STORE_FILE)),
        );
        let unless_configured = (!configured.iter().any(|(label, _)| label == DEFAULT_LABEL)).then_some(&default);
        let mut stores = HashMap::new();
        for (label, location) in configured.iter().chain(unless_configured) {
            let store = match location {
                Location::File(path) => {
                    SqliteKv::open_file(path, fault_file.clone()).map(|db| Store::sqlite(db, label))
                }
                Location::Memory => SqliteKv::open_in_memory(fault_file.clone()).map(|db| Store::sqlite(db, label)),
                Location::Redis(url) => RedisKv::new(url).map(Store::Redis),
            }
            .with_context(|| format!("key-value store `{label}`"))?;
            stores.insert(label.clone(), store);
        }
        Ok(KvStores { stores })
    }

    /// Refuses a component that lists a label no store is defined for, in Spin's words
    /// (`factor-key-value`), at start-up rather than on the request that opens it.
    pub fn check_labels(&self, component: &str, labels: &[String]) -> Result<()> {
        match labels.iter().find(|label| !self.stores.contains_key(*label)) {
            Some(label) => bail!("unknown key_value_stores label {label:?} for component {component:?}"),
            None => Ok(()),
        }
    }

    pub fn for_label(&self, label: &str) -> Option<&Store> {
        self.stores.get(label)
    }
}

/// One label's store, as a guest's `open` resolves it.
#[derive(Clone)]
pub enum Store {
    /// Spin's `key-value-spin`: the rows of one SQLite database that carry the label.
    Sqlite { db: SqliteKv, label: String },
    /// Spin's `key-value-redis`: the whole Redis database, keys as the app names them.
    Redis(RedisKv),
}

/// Runs a SQLite operation as Spin's store does (`crates/key-value-spin`): inside
/// `tokio::task::block_in_place`, so while it waits for the disk the worker's other tasks move
/// to another thread. Without it, a task woken by this instance — the connection task that
/// writes a stream's last event to the client — waits until the instance next yields.
fn blocking<T>(op: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(op)
}

impl Store {
    fn sqlite(db: SqliteKv, label: &str) -> Store {
        Store::Sqlite {
            db,
            label: label.to_owned(),
        }
    }

    /// What a guest's `open` costs: a Redis store connects on its first (Spin's
    /// `StoreManager::get`), failing the `open` if the server cannot be reached, and on every
    /// one sends a `PING` whose answer it ignores (`RedisStore::after_open`).
    pub async fn open(&self) -> Result<(), String> {
        match self {
            Store::Sqlite { .. } => Ok(()),
            Store::Redis(redis) => {
                let mut connection = redis.connection().await?;
                // As in Spin: a failed ping leaves the manager reconnecting in the background.
                let _ = connection.ping::<()>().await;
                Ok(())
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Store::Sqlite { db, label } => blocking(|| db.get(label, key)),
            Store::Redis(redis) => redis.run(|mut c| async move { c.get(key).await }).await,
        }
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        match self {
            Store::Sqlite { db, label } => blocking(|| db.set(label, key, value)),
            Store::Redis(redis) => redis.run(|mut c| async move { c.set(key, value).await }).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        match self {
            Store::Sqlite { db, label } => blocking(|| db.delete(label, key)),
            Store::Redis(redis) => redis.run(|mut c| async move { c.del(key).await }).await,
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        match self {
            Store::Sqlite { db, label } => blocking(|| db.exists(label, key)),
            Store::Redis(redis) => redis.run(|mut c| async move { c.exists(key).await }).await,
        }
    }

    pub async fn keys(&self) -> Result<Vec<String>, String> {
        match self {
            Store::Sqlite { db, label } => blocking(|| db.keys(label)),
            Store::Redis(redis) => redis.run(|mut c| async move { c.keys("*").await }).await,
        }
    }
}

/// A Redis store as Spin's `key-value-redis` keeps one: the URL checked at start-up, one
/// connection manager (a multiplexed connection that reconnects) made on the first `open`.
#[derive(Clone)]
pub struct RedisKv {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
}

impl RedisKv {
    fn new(url: &str) -> Result<Self> {
        // Neither message repeats the URL: it may carry the server's password.
        let parsed = redis::parse_redis_url(url).context("Invalid Redis URL")?;
        if parsed.scheme() == "rediss" {
            bail!("this test host has no TLS for Redis (`rediss://`); use `redis://`");
        }
        let client = redis::Client::open(parsed).context("Invalid Redis URL")?;
        Ok(RedisKv {
            client,
            connection: Arc::new(OnceCell::new()),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        self.connection
            .get_or_try_init(|| self.client.get_connection_manager())
            .await
            .cloned()
            .map_err(|e| e.to_string())
    }

    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Result<T, String>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        op(self.connection().await?).await.map_err(|e| e.to_string())
    }
}

impl SqliteKv {
    fn open_file(path: &Path, fault_file: Option<PathBuf>) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        SqliteKv::new(conn, fault_file)
    }

    fn open_in_memory(fault_file: Option<PathBuf>) -> Result<Self> {
        SqliteKv::new(
            Connection::open_in_memory().context("cannot open an in-memory database")?,
            fault_file,
        )
    }

    fn new(conn: Connection, fault_file: Option<PathBuf>) -> Result<Self> {
        // Opened as Spin's `key-value-spin` opens it: no pragmas, so SQLite's defaults hold — a
        // rollback journal and `synchronous = FULL`, so every write to a file waits for the
        // disk, as on `spin up` — and rusqlite's 5 s busy timeout, which makes two processes
        // sharing the file (the replica tests) wait for each other's writes instead of failing.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (store, key))",
            [],
        )?;
        Ok(SqliteKv {
            conn: Arc::new(Mutex::new(conn)),
            fault_file,
        })
    }

    fn injected_fault(&self, op: &str) -> Result<(), String> {
        let Some(fault_file) = &self.fault_file else {
            return Ok(());
        };
        match std::fs::read_to_string(fault_file) {
            Ok(ops) if ops.split_whitespace().any(|o| o == op || o == "all") => {
                Err(format!("injected key-value fault on {op}"))
            }
            _ => Ok(()),
        }
    }

    /// Runs `f` on the connection. Statements go through `prepare_cached`, as in Spin's
    /// `key-value-spin`: parsing the SQL again for every operation was 2% of the host's CPU under
    /// load, a cost `spin up` does not have.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "key-value store lock poisoned".to_string())?;
        f(&conn).map_err(|e| e.to_string())
    }

    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.injected_fault("get")?;
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![store, key], |r| r.get(0))
                .optional()
        })
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), String> {
        self.injected_fault("set")?;
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])
            .map(|_| ())
        })
    }

    pub fn delete(&self, store: &str, key: &str) -> Result<(), String> {
        self.injected_fault("delete")?;
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])
                .map(|_| ())
        })
    }

    pub fn exists(&self, store: &str, key: &str) -> Result<bool, String> {
        self.get(store, key).map(|v| v.is_some())
    }

    pub fn keys(&self, store: &str) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let rows = stmt.query_map(params![store], |r| r.get(0))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_isolation_between_stores() {
        let dir = tempdir();
        let kv = state_dir_store(&dir, false);
        assert_eq!(kv.get("default", "k").unwrap(), None);
        kv.set("default", "k", b"v1").unwrap();
        kv.set("default", "k", b"v2").unwrap();
        kv.set("other", "k", b"x").unwrap();
        assert_eq!(kv.get("default", "k").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(kv.keys("default").unwrap(), vec!["k".to_string()]);
        kv.delete("default", "k").unwrap();
        assert!(!kv.exists("default", "k").unwrap());
        assert!(kv.exists("other", "k").unwrap());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn two_openers_of_one_state_dir_see_each_others_writes() {
        let dir = tempdir();
        let a = state_dir_store(&dir, false);
        let b = state_dir_store(&dir, false);
        a.set("default", "shared", b"from a").unwrap();
        assert_eq!(b.get("default", "shared").unwrap().as_deref(), Some(&b"from a"[..]));
        b.delete("default", "shared").unwrap();
        assert_eq!(a.get("default", "shared").unwrap(), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn fault_file_fails_the_named_operations_until_removed() {
        let dir = tempdir();
        let kv = state_dir_store(&dir, true);
        kv.set("default", "k", b"v").unwrap();
        std::fs::write(dir.join(FAULT_FILE), "set").unwrap();
        assert!(kv.set("default", "k", b"w").unwrap_err().contains("injected"));
        assert_eq!(kv.get("default", "k").unwrap().as_deref(), Some(&b"v"[..]));
        std::fs::write(dir.join(FAULT_FILE), "all").unwrap();
        assert!(kv.get("default", "k").is_err());
        std::fs::remove_file(dir.join(FAULT_FILE)).unwrap();
        assert!(kv.get("default", "k").is_ok());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_configured_label_has_its_own_database_and_memory_keeps_nothing_on_disk() {
        let dir = tempdir();
        let file = dir.join("sub/other.db");
        let stores = KvStores::open(
            &dir,
            &[
                ("memory".to_string(), Location::Memory),
                ("filed".to_string(), Location::File(file.clone())),
            ],
            false,
        )
        .unwrap();
        db(&stores, "memory").set("memory", "k", b"m").unwrap();
        db(&stores, "filed").set("filed", "k", b"f").unwrap();
        db(&stores, "default").set("default", "k", b"d").unwrap();
        assert!(file.exists(), "a configured path is created");
        let state_file = state_dir_store(&dir, false);
        assert_eq!(state_file.keys("default").unwrap(), vec!["k".to_string()]);
        assert!(
            state_file.keys("memory").unwrap().is_empty(),
            "memory wrote to the state dir's file"
        );
        assert!(state_file.keys("filed").unwrap().is_empty());
        // Reopened, the file keeps its data; memory starts empty, as after a restart.
        let reopened = KvStores::open(
            &dir,
            &[
                ("memory".to_string(), Location::Memory),
                ("filed".to_string(), Location::File(file)),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            db(&reopened, "filed").get("filed", "k").unwrap().as_deref(),
            Some(&b"f"[..])
        );
        assert_eq!(db(&reopened, "memory").get("memory", "k").unwrap(), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_configured_default_replaces_the_state_dir_file_and_undefined_labels_are_refused() {
        let dir = tempdir();
        let stores = KvStores::open(&dir, &[("default".to_string(), Location::Memory)], false).unwrap();
        db(&stores, "default").set("default", "k", b"v").unwrap();
        assert!(
            !dir.join(DEFAULT_STORE_FILE).exists(),
            "the state dir's file was created though the runtime config defines `default`"
        );
        assert!(stores.for_label("other").is_none());
        stores.check_labels("web", &["default".to_string()]).unwrap();
        let refusal = stores
            .check_labels("web", &["default".to_string(), "other".to_string()])
            .unwrap_err()
            .to_string();
        assert_eq!(refusal, r#"unknown key_value_stores label "other" for component "web""#);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_redis_url_is_checked_at_start_up_without_repeating_it() {
        let dir = tempdir();
        for (url, why) in [
            ("http://:hunter2-password@localhost", "Invalid Redis URL"),
            ("redis://:hunter2-password@localhost:port", "Invalid Redis URL"),
            ("rediss://:hunter2-password@localhost:6380", "no TLS"),
        ] {
            let stores = KvStores::open(&dir, &[("default".to_string(), Location::Redis(url.into()))], false);
            let err = format!("{:#}", stores.err().unwrap_or_else(|| panic!("accepted {url}")));
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("hunter2"), "the URL's password is in the error");
        }
        // A well-formed URL needs no server yet: Spin connects on the first `open`.
        let stores = KvStores::open(
            &dir,
            &[("default".to_string(), Location::Redis("redis://127.0.0.1:1".into()))],
            false,
        );
        assert!(matches!(stores.unwrap().for_label("default"), Some(Store::Redis(_))));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_fault_file_is_ignored_unless_switched_on() {
        let dir = tempdir();
        std::fs::write(dir.join(FAULT_FILE), "all").unwrap();
        let kv = state_dir_store(&dir, false);
        kv.set("default", "k", b"v").unwrap();
        assert_eq!(kv.get("default", "k").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(state_dir_store(&dir, true).get("default", "k").is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    /// The state dir's default store, as the host opens it without a runtime config.
    fn state_dir_store(dir: &Path, faults: bool) -> SqliteKv {
        db(&KvStores::open(dir, &[], faults).unwrap(), "default")
    }

    /// The SQLite database behind a label.
    fn db(stores: &KvStores, label: &str) -> SqliteKv {
        match stores.for_label(label) {
            Some(Store::Sqlite { db, .. }) => db.clone(),
            _ => panic!("`{label}` is no SQLite store"),
        }
    }

    pub(crate) fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spin-test-host-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64)
    }
}
