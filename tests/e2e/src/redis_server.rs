//! A throwaway Redis server for the suites and the bench that put the app's store on Redis
//! (`[key_value_store.default] type = "redis"`, as SpinKube deployments do; both hosts serve it).
//! Debian's `redis-server` (`.ci/run` installs it), or the binary `E2E_REDIS_SERVER` names, on a
//! free loopback port, keeping nothing on disk; killed when dropped.

use anyhow::{bail, Context, Result};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        let binary = std::env::var_os("E2E_REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        let port = crate::free_port()?;
        // No snapshots and no append-only file: the store lives in the server's memory, as on a
        // cache-style deployment, so a write never waits for a disk.
        let child = Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (Debian: apt-get install redis-server; or set E2E_REDIS_SERVER)",
                    binary.to_string_lossy()
                )
            })?;
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.connection().is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not answer on {} within 30 s", server.url);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`, for the app's runtime config.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn connection(&self) -> Result<redis::Connection> {
        let mut connection = redis::Client::open(self.url.as_str())?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }

    /// Every key and value in the server, sorted by key. A key the app deletes between the
    /// listing and its read (a legacy stream retiring a delivered slot) is left out.
    pub fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut connection = self.connection()?;
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut connection)?;
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut connection)?;
            out.extend(value.map(|value| (key, value)));
        }
        Ok(out)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
