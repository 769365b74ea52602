//! Every command block in the documentation is run by a test or by CI, or says why it cannot
//! be; the English and Japanese READMEs stay in step; samples parse.

use docs_check::blocks::{check_commands, check_samples, CommandBlock, Coverage};
use docs_check::markdown::{code_blocks, tables};
use docs_check::{read, READMES};

const DOCS: [&str; 3] = ["README.md", "README.ja.md", "deploy/README.md"];

fn load(relative: &str) -> Option<String> {
    read(relative).ok()
}

fn blocks(doc: &str) -> Vec<CommandBlock> {
    let (blocks, problems) = check_commands(doc, &read(doc).unwrap(), &load);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    blocks
}

#[test]
fn every_command_block_is_run_or_says_why_not() {
    let mut problems = Vec::new();
    for doc in DOCS {
        let (blocks, found) = check_commands(doc, &read(doc).unwrap(), &load);
        problems.extend(found);
        // The coverage report the README promises: which test runs each block.
        for b in blocks {
            println!("{doc}:{} {:?} {:?}", b.line, b.coverage, b.commands);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_runs_the_sandbox_and_the_test_command() {
    let covered: Vec<(Coverage, Vec<String>)> = blocks("README.md")
        .into_iter()
        .map(|b| (b.coverage, b.commands))
        .collect();
    assert!(
        covered.contains(&(Coverage::Ci, vec!["./scripts/test.sh".to_string()])),
        "{covered:?}"
    );
    assert!(covered.contains(&(
        Coverage::Test("tests/e2e/tests/sandbox.rs".into()),
        vec!["cargo run -p e2e --bin sandbox".to_string()]
    )));
    // Few blocks that run locally, each run by something.
    let local = covered
        .iter()
        .filter(|(c, _)| !matches!(c, Coverage::NotRun(_)))
        .count();
    assert_eq!(local, 2, "{covered:?}");
}

#[test]
fn english_and_japanese_readmes_stay_in_step() {
    let [en, ja] = READMES.map(|r| read(r).unwrap());
    let commands = |doc: &str| {
        blocks(doc)
            .into_iter()
            .map(|b| (b.coverage, b.commands))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        commands("README.md"),
        commands("README.ja.md"),
        "command blocks differ between the READMEs"
    );
    let langs = |doc: &str| {
        code_blocks(doc)
            .into_iter()
            .map(|b| {
                let sample = if b.lang_is_sample() {
                    b.content.clone()
                } else {
                    String::new()
                };
                (b.lang, sample)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        langs(&en),
        langs(&ja),
        "code blocks (or their JSON samples) differ between the READMEs"
    );
    let headings = |doc: &str, prefix: &str| doc.lines().filter(|l| l.starts_with(prefix)).count();
    for prefix in ["## ", "### "] {
        assert_eq!(
            headings(&en, prefix),
            headings(&ja, prefix),
            "`{prefix}` headings differ in number"
        );
    }
    let shapes = |doc: &str| {
        tables(doc)
            .into_iter()
            .map(|t| (t.header.len(), t.rows.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shapes(&en), shapes(&ja), "tables differ in shape between the READMEs");
}

#[test]
fn json_toml_and_yaml_samples_parse() {
    let mut problems = Vec::new();
    for doc in DOCS {
        problems.extend(check_samples(doc, &read(doc).unwrap()));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The Claude Desktop sample is real mcp-remote configuration for the /mcp URL.
    let readme = read("README.md").unwrap();
    let desktop = code_blocks(&readme)
        .into_iter()
        .find(|b| b.content.contains("mcpServers"))
        .expect("the Claude Desktop sample");
    let config: serde_json::Value = serde_json::from_str(&desktop.content).unwrap();
    let server = &config["mcpServers"]["kintone"];
    assert_eq!(server["command"], "npx");
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[..2], ["-y", "mcp-remote"]);
    assert!(args[2].starts_with("https://") && args[2].ends_with("/mcp"), "{args:?}");
}
