//! Keeps what a newcomer reads in step with what the code does.
//!
//! - [`manifest`]: spin.toml's variables and components.
//! - [`sources`]: which Spin variables the components and crates actually read.
//! - [`markdown`]: sections, tables and fenced blocks of the READMEs.
//! - [`config_table`]: the READMEs' configuration tables against spin.toml.
//! - [`tool_table`]: the READMEs' tool tables, generated from the `kintone` crate's catalogue.
//! - [`blocks`]: every command block says which test or CI step runs it; code samples parse.
//! - [`spinkube`]: deploy/'s SpinApp manifest and runtime configs against SpinKube's documented fields.
//!
//! Each check returns the list of problems it found (empty = fine), so the tests in `tests/`
//! run them on the real files and the unit tests here show each one catching a broken input.

pub mod blocks;
pub mod config_table;
pub mod manifest;
pub mod markdown;
pub mod sources;
pub mod spinkube;
pub mod tool_table;

use std::path::{Path, PathBuf};

/// The workspace root (where spin.toml and the READMEs are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("../.."))
}

/// Reads a file under the workspace root, naming it in the error.
pub fn read(relative: &str) -> anyhow::Result<String> {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// The two READMEs, which must say the same things in English and Japanese.
pub const READMES: [&str; 2] = ["README.md", "README.ja.md"];
