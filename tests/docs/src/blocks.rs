//! Fenced blocks in the documentation.
//!
//! Command blocks (```sh) carry an HTML comment on the line above saying who runs them:
//!
//! - `<!-- run-by: ci -->`: every command line appears in `.ci/run` or `scripts/test.sh`.
//! - `<!-- run-by: test tests/e2e/tests/sandbox.rs -->`: that test file exists and contains every
//!   command line verbatim (it runs exactly what the README says).
//! - `<!-- not-run: needs … -->`: cannot run here (an account, a cluster, a real cybozu.com); the
//!   reason is required, and such a block may not hold local-only commands (`cargo …`,
//!   `./scripts/…`), which must be run by a test or CI instead.
//!
//! Samples in other languages (json, toml, yaml) must parse.

use crate::markdown::{code_blocks, CodeBlock};
use std::path::Path;

/// Who runs a command block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    Ci,
    Test(String),
    NotRun(String),
}

const COMMAND_LANGS: [&str; 4] = ["sh", "bash", "shell", "console"];
/// Where CI's commands live: `.ci/run` calls `scripts/test.sh`.
const CI_FILES: [&str; 2] = [".ci/run", "scripts/test.sh"];

pub fn parse_coverage(annotation: &str) -> Result<Coverage, String> {
    if let Some(rest) = annotation.strip_prefix("run-by:") {
        let rest = rest.trim();
        if rest == "ci" {
            return Ok(Coverage::Ci);
        }
        if let Some(path) = rest.strip_prefix("test ") {
            return Ok(Coverage::Test(path.trim().to_owned()));
        }
        return Err(format!(
            "`run-by: {rest}`: expected `run-by: ci` or `run-by: test <path>`"
        ));
    }
    if let Some(reason) = annotation.strip_prefix("not-run:") {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("`not-run:` needs a reason".into());
        }
        return Ok(Coverage::NotRun(reason.to_owned()));
    }
    Err(format!("`{annotation}` is not a run-by/not-run annotation"))
}

/// The lines of a command block that are commands: not blank, not comments, joined across
/// trailing backslashes.
pub fn command_lines(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in content.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        out.push(std::mem::take(&mut pending));
    }
    if !pending.is_empty() {
        out.push(pending.trim_end().to_owned());
    }
    out
}

fn is_local_only(command: &str) -> bool {
    command.starts_with("cargo ") || command.starts_with("./scripts/") || command.contains(" cargo ")
}

/// A command block with its coverage, as found in a document.
#[derive(Debug, Clone)]
pub struct CommandBlock {
    pub line: usize,
    pub commands: Vec<String>,
    pub coverage: Coverage,
}

/// Problems with the command blocks of `doc`; `read` loads a workspace file (None if missing).
pub fn check_commands(
    doc_name: &str,
    doc: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> (Vec<CommandBlock>, Vec<String>) {
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for block in code_blocks(doc) {
        if block.lang.is_empty() {
            problems.push(format!(
                "{doc_name}:{}: a code block without a language; say `sh`, `json`, `text`, …",
                block.line
            ));
            continue;
        }
        if !COMMAND_LANGS.contains(&block.lang.as_str()) {
            continue;
        }
        let where_ = format!("{doc_name}:{}", block.line);
        let coverage = match block.annotation.as_deref().map(parse_coverage) {
            None => {
                problems.push(format!(
                    "{where_}: a command block needs `<!-- run-by: … -->` or `<!-- not-run: … -->` on the line above"
                ));
                continue;
            }
            Some(Err(e)) => {
                problems.push(format!("{where_}: {e}"));
                continue;
            }
            Some(Ok(c)) => c,
        };
        let commands = command_lines(&block.content);
        if commands.is_empty() {
            problems.push(format!("{where_}: an empty command block"));
        }
        match &coverage {
            Coverage::Ci => {
                let ci: String = CI_FILES.iter().filter_map(|f| read(f)).collect::<Vec<_>>().join("\n");
                for command in &commands {
                    if !ci.contains(command.as_str()) {
                        problems.push(format!("{where_}: `{command}` is marked run-by CI, but neither .ci/run nor scripts/test.sh runs it"));
                    }
                }
            }
            Coverage::Test(path) => match read(path) {
                None => problems.push(format!("{where_}: the test {path} does not exist")),
                Some(test) => {
                    for command in &commands {
                        if !test.contains(command.as_str()) {
                            problems.push(format!(
                                "{where_}: {path} does not run `{command}` (the exact text must appear in it)"
                            ));
                        }
                    }
                }
            },
            Coverage::NotRun(_) => {
                for command in commands.iter().filter(|c| is_local_only(c)) {
                    problems.push(format!(
                        "{where_}: `{command}` runs locally, so a test or CI must run it (not `not-run`)"
                    ));
                }
            }
        }
        found.push(CommandBlock {
            line: block.line,
            commands,
            coverage,
        });
    }
    (found, problems)
}

/// Problems with samples that must parse (json, toml, yaml blocks).
pub fn check_samples(doc_name: &str, doc: &str) -> Vec<String> {
    code_blocks(doc)
        .iter()
        .filter_map(|b| sample_problem(b).map(|e| format!("{doc_name}:{}: {e}", b.line)))
        .collect()
}

fn sample_problem(block: &CodeBlock) -> Option<String> {
    match block.lang.as_str() {
        "json" => serde_json::from_str::<serde_json::Value>(&block.content)
            .err()
            .map(|e| format!("invalid JSON: {e}")),
        "toml" => block
            .content
            .parse::<toml::Table>()
            .err()
            .map(|e| format!("invalid TOML: {e}")),
        "yaml" | "yml" => yaml_documents(&block.content)
            .err()
            .map(|e| format!("invalid YAML: {e}")),
        _ => None,
    }
}

/// Every document of a (multi-document) YAML text.
pub fn yaml_documents(text: &str) -> Result<Vec<serde_yaml::Value>, serde_yaml::Error> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(serde_yaml::Value::deserialize)
        .collect()
}

/// Whether a workspace file exists (for annotations naming tests).
pub fn exists(root: &Path, relative: &str) -> bool {
    root.join(relative).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> Option<String> {
        match name {
            ".ci/run" => Some("rustup target add wasm32-wasip2\n./scripts/test.sh\n".into()),
            "scripts/test.sh" => Some("cargo test --no-fail-fast\n".into()),
            "tests/x.rs" => Some("const COMMAND: &str = \"cargo run -p e2e --bin sandbox\";".into()),
            _ => None,
        }
    }

    fn problems(doc: &str) -> Vec<String> {
        check_commands("R", doc, &files).1
    }

    #[test]
    fn covered_blocks_pass() {
        let doc = "<!-- run-by: ci -->\n```sh\n./scripts/test.sh\n```\n\n<!-- run-by: test tests/x.rs -->\n```sh\ncargo run -p e2e --bin sandbox\n```\n\
<!-- not-run: needs a Fermyon Cloud account -->\n```sh\n# deploy\nspin cloud deploy \\\n  --variable a=b\n```\n";
        let (blocks, problems) = check_commands("R", doc, &files);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[2].commands, vec!["spin cloud deploy --variable a=b"]);
        assert_eq!(blocks[1].coverage, Coverage::Test("tests/x.rs".into()));
    }

    #[test]
    fn unannotated_and_untested_blocks_fail() {
        assert!(problems("```sh\nls\n```\n")[0].contains("needs `<!-- run-by"));
        assert!(problems("<!-- run-by: ci -->\n```sh\n./scripts/other.sh\n```\n")[0].contains("neither .ci/run"));
        assert!(
            problems("<!-- run-by: test tests/x.rs -->\n```sh\ncargo run -p e2e --bin other\n```\n")[0]
                .contains("does not run")
        );
        assert!(problems("<!-- run-by: test tests/missing.rs -->\n```sh\nls\n```\n")[0].contains("does not exist"));
        assert!(problems("<!-- not-run: lazy -->\n```sh\ncargo run -p x\n```\n")[0].contains("runs locally"));
        assert!(problems("<!-- not-run: -->\n```sh\nls\n```\n")[0].contains("needs a reason"));
        assert!(problems("```\nplain\n```\n")[0].contains("without a language"));
    }

    #[test]
    fn samples_must_parse() {
        assert!(check_samples(
            "R",
            "```json\n{\"a\": [1, 2]}\n```\n```toml\n[a]\nb = 1\n```\n```yaml\na: 1\n---\nb: 2\n```\n"
        )
        .is_empty());
        let bad = check_samples(
            "R",
            "```json\n{\"a\": 1,}\n```\n```toml\n[a\n```\n```yaml\na: [1\n```\n",
        );
        assert_eq!(bad.len(), 3, "{bad:?}");
    }

    #[test]
    fn continued_lines_are_joined() {
        assert_eq!(
            command_lines("# c\n\nexport A=1\nspin up \\\n  --build\n"),
            vec!["export A=1", "spin up --build"]
        );
    }
}
