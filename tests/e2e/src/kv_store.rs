//! The app's key-value store as a test sees it from outside: the SQLite file Spin (and the test
//! host) keep at `<state_dir>/sqlite_key_value.db`, table `spin_key_value(store, key, value)`.
//! Read-only except [`rewrite`], which tests use to age a record when time cannot be injected, and
//! [`put`], with which security tests play an attacker who can write the store.

use crate::App;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The store the app uses (spin.toml `key_value_stores = ["default"]`).
pub const DEFAULT_STORE: &str = "default";

fn db_path(app: &App) -> PathBuf {
    app.state_dir.join("sqlite_key_value.db")
}

/// Whether the state dir holds the default store's file at all: Spin creates none when the
/// runtime config defines `default` elsewhere.
pub fn file_exists(app: &App) -> bool {
    db_path(app).exists()
}

fn open(app: &App, flags: OpenFlags) -> Result<Option<Connection>> {
    let path = db_path(app);
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(&path, flags).with_context(|| format!("cannot open {}", path.display()))?;
    // The host writes in WAL mode; wait for it rather than fail on a busy database.
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(Some(conn))
}

/// Every record of every store: `(store, key) → value`. Empty when nothing was ever written.
pub fn snapshot(app: &App) -> Result<BTreeMap<(String, String), Vec<u8>>> {
    let Some(conn) = open(app, OpenFlags::SQLITE_OPEN_READ_ONLY)? else {
        return Ok(BTreeMap::new());
    };
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'spin_key_value'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(BTreeMap::new());
    }
    let mut statement = conn.prepare("SELECT store, key, value FROM spin_key_value ORDER BY store, key")?;
    let rows = statement.query_map([], |r| {
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    rows.collect::<Result<BTreeMap<_, _>, _>>()
        .context("reading the key-value table failed")
}

/// The keys of the default store.
pub fn keys(app: &App) -> Result<Vec<String>> {
    Ok(snapshot(app)?
        .into_keys()
        .filter(|(store, _)| store == DEFAULT_STORE)
        .map(|(_, key)| key)
        .collect())
}

/// Every key and value as text, one record per line, for "nothing in clear" searches.
/// The keys of grant and refresh records (`g:`, `rt:`), leaving out revocation marks and caches.
pub fn grant_keys(app: &App) -> Result<Vec<String>> {
    Ok(keys(app)?
        .into_iter()
        .filter(|k| k.starts_with("g:") || k.starts_with("rt:"))
        .collect())
}

pub fn dump_text(app: &App) -> Result<String> {
    Ok(snapshot(app)?
        .iter()
        .map(|((store, key), value)| format!("{store}/{key}={}\n", String::from_utf8_lossy(value)))
        .collect())
}

/// One record of the default store.
pub fn get(app: &App, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(snapshot(app)?.remove(&(DEFAULT_STORE.to_owned(), key.to_owned())))
}

/// Replace one record of the default store (tests that need an aged record).
pub fn rewrite(app: &App, key: &str, value: &[u8]) -> Result<()> {
    let conn = open(app, OpenFlags::SQLITE_OPEN_READ_WRITE)?.context("the key-value database does not exist yet")?;
    let changed = conn.execute(
        "UPDATE spin_key_value SET value = ?3 WHERE store = ?1 AND key = ?2",
        params![DEFAULT_STORE, key, value],
    )?;
    anyhow::ensure!(changed == 1, "no record {key} to rewrite");
    Ok(())
}

/// Write one record of the default store, creating it if absent: what an attacker who can write
/// the store (an unauthenticated Redis) could do. Security tests plant forged records with it.
pub fn put(app: &App, key: &str, value: &[u8]) -> Result<()> {
    let conn = open(app, OpenFlags::SQLITE_OPEN_READ_WRITE)?.context("the key-value database does not exist yet")?;
    let changed = conn.execute(
        "UPDATE spin_key_value SET value = ?3 WHERE store = ?1 AND key = ?2",
        params![DEFAULT_STORE, key, value],
    )?;
    if changed == 0 {
        conn.execute(
            "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)",
            params![DEFAULT_STORE, key, value],
        )
        .with_context(|| format!("cannot insert {key}"))?;
    }
    Ok(())
}
