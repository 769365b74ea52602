//! Grows the app's key-value store with grant-shaped rows, straight in the test host's SQLite
//! file, to show that no request path scans the store.
//!
//! Grants live in a slot table (`g:<slot hex>` plus `rt:<slot hex>`, crates/grants) of at most
//! `max_grants` ≤ 4,096 slots, so a real deployment never holds more than 8,192 grant rows. To
//! see whether the store's size matters at all, filler goes beyond that: `g:`/`rt:` pairs in the
//! whole 16-bit slot space (up to 131,072 rows), each a copy of a real grant's value so rows
//! have a real record's size.

use anyhow::{Context, Result};
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

const STORE: &str = "default";

pub struct Filler {
    conn: Connection,
    grant_template: Vec<u8>,
    refresh_template: Vec<u8>,
}

impl Filler {
    pub fn open(state_dir: &Path) -> Result<Filler> {
        let path = state_dir.join("sqlite_key_value.db");
        let conn = Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let template = |prefix: &str| -> Result<Vec<u8>> {
            let value: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT value FROM spin_key_value WHERE store = ?1 AND key LIKE ?2 LIMIT 1",
                    params![STORE, format!("{prefix}%")],
                    |row| row.get(0),
                )
                .ok();
            value.with_context(|| format!("no `{prefix}` row to copy: sign in before filling"))
        };
        let grant_template = template("g:")?;
        let refresh_template = template("rt:")?;
        Ok(Filler {
            conn,
            grant_template,
            refresh_template,
        })
    }

    /// How many grant rows (`g:`) the store holds.
    pub fn grants(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM spin_key_value WHERE store = ?1 AND key LIKE 'g:%'",
            params![STORE],
            |r| r.get(0),
        )?)
    }

    /// How many rows of any kind the store holds.
    pub fn rows(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM spin_key_value WHERE store = ?1",
            params![STORE],
            |r| r.get(0),
        )?)
    }

    /// Add filler grants (each a `g:` and an `rt:` row) in free slots until the store holds
    /// `target_rows` rows.
    pub fn fill_to_rows(&mut self, target_rows: u64) -> Result<()> {
        let taken: HashSet<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT key FROM spin_key_value WHERE store = ?1 AND key LIKE 'g:%'")?;
            let keys = stmt
                .query_map(params![STORE], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?;
            keys
        };
        let mut missing = target_rows.saturating_sub(self.rows()?).div_ceil(2);
        let tx = self.conn.transaction()?;
        {
            let mut insert =
                tx.prepare("INSERT OR IGNORE INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)")?;
            for slot in 0..=u16::MAX {
                if missing == 0 {
                    break;
                }
                let grant_key = format!("g:{slot:x}");
                if taken.contains(&grant_key) {
                    continue;
                }
                insert.execute(params![STORE, grant_key, self.grant_template])?;
                insert.execute(params![STORE, format!("rt:{slot:x}"), self.refresh_template])?;
                missing -= 1;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
