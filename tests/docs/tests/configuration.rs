//! The configuration reference cannot drift from spin.toml or from what the code reads.

use docs_check::config_table::{check, language_of};
use docs_check::manifest::Manifest;
use docs_check::sources::{check_against_manifest, component_reads, crate_declarations};
use docs_check::{read, workspace_root, READMES};

fn manifest() -> Manifest {
    Manifest::parse(&read("spin.toml").unwrap()).unwrap()
}

#[test]
fn every_spin_toml_variable_is_documented_in_both_readmes() {
    let manifest = manifest();
    assert!(manifest.variables.len() >= 5, "spin.toml lost its variables?");
    let mut problems = Vec::new();
    for readme in READMES {
        problems.extend(check(readme, &read(readme).unwrap(), language_of(readme), &manifest));
    }
    assert!(
        problems.is_empty(),
        "the configuration tables disagree with spin.toml:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_variable_the_code_reads_is_wired_in_spin_toml() {
    let root = workspace_root();
    let reads = component_reads(&root.join("components")).unwrap();
    // The scan must see the components and what they read, or it proves nothing.
    for component in ["oauth-provider", "cybozu-callback", "mcp-endpoint", "kintone-tools"] {
        assert!(reads.contains_key(component), "components/{component} not scanned");
    }
    assert!(
        reads["kintone-tools"].contains("read_only"),
        "{:?}",
        reads["kintone-tools"]
    );
    assert!(
        reads["oauth-provider"].contains("secret_key"),
        "{:?}",
        reads["oauth-provider"]
    );
    let consts = crate_declarations(&root.join("crates")).unwrap();
    assert!(
        consts.values().any(|names| names.contains("kintone_base_url")),
        "{consts:?}"
    );
    let problems = check_against_manifest(&manifest(), &reads, &consts);
    assert!(
        problems.is_empty(),
        "variables read by the code and spin.toml disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn grants_reads_exactly_its_listed_variables() {
    // sources.rs adds grants::VARIABLES for every component that builds a grants::Config, so
    // that list must name every VAR_* constant the crate declares.
    let root = workspace_root();
    let declared: std::collections::BTreeSet<String> = crate_declarations(&root.join("crates/grants"))
        .unwrap()
        .into_values()
        .flatten()
        .collect();
    let listed: std::collections::BTreeSet<String> = grants::VARIABLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, listed);
}
