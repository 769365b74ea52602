//! `cargo run -p docs-check --bin tool-table`: rewrites the tool tables of README.md and
//! README.ja.md from the `kintone` crate's catalogue. `--check` only reports whether they differ.

use docs_check::tool_table::{render, replace, Lang};
use docs_check::{workspace_root, READMES};
use std::process::ExitCode;

fn main() -> ExitCode {
    let check_only = std::env::args().skip(1).any(|a| a == "--check");
    let mut stale = false;
    for readme in READMES {
        let path = workspace_root().join(readme);
        let result = std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|doc| Ok((render(Lang::of_readme(readme))?, doc)))
            .and_then(|(table, doc)| Ok((replace(&doc, &table)?, doc)));
        let (updated, doc) = match result {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("{readme}: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        if updated == doc {
            println!("{readme}: tool table up to date");
        } else if check_only {
            println!("{readme}: tool table is stale");
            stale = true;
        } else if let Err(e) = std::fs::write(&path, updated) {
            eprintln!("{readme}: cannot write: {e}");
            return ExitCode::FAILURE;
        } else {
            println!("{readme}: tool table rewritten");
        }
    }
    if stale {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
