//! The READMEs' tool tables are exactly what the `kintone` crate's catalogue generates.

use docs_check::tool_table::{catalogue, current, render, Lang, ORIGINAL_TOOLS};
use docs_check::{read, READMES};

#[test]
fn readme_tool_tables_are_generated_from_the_catalogue() {
    for readme in READMES {
        let doc = read(readme).unwrap();
        let expected = render(Lang::of_readme(readme)).unwrap();
        let found = current(&doc).unwrap();
        assert!(
            found == expected.trim_end(),
            "{readme}: the tool table is stale; run `cargo run -p docs-check --bin tool-table`"
        );
    }
}

#[test]
fn the_first_rows_are_the_original_tools() {
    // The READMEs say the first 28 rows are the original project's tools.
    let names: Vec<&str> = catalogue().iter().map(|t| t.name).collect();
    assert!(names.len() > ORIGINAL_TOOLS);
    for original in [
        "getRecords",
        "getRecord",
        "addRecord",
        "uploadFile",
        "downloadFile",
        "updateAppCustomize",
        "deployApp",
    ] {
        let at = names.iter().position(|n| *n == original).unwrap();
        assert!(at < ORIGINAL_TOOLS, "{original} is row {}", at + 1);
    }
    for newer in ["deleteRecords", "getAllRecords", "updateRecords", "getDeployStatus"] {
        let at = names.iter().position(|n| *n == newer).unwrap();
        assert!(at >= ORIGINAL_TOOLS, "{newer} is row {}", at + 1);
    }
}
