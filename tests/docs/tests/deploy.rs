//! deploy/ holds a SpinApp and runtime configuration SpinKube and Spin accept, wired to
//! spin.toml's variables.

use docs_check::blocks::yaml_documents;
use docs_check::manifest::Manifest;
use docs_check::spinkube::{check, check_runtime_config, Object};
use docs_check::{read, workspace_root};
use std::collections::BTreeSet;

const YAML_FILES: [&str; 3] = [
    "deploy/spinapp.yaml",
    "deploy/secret.example.yaml",
    "deploy/ingress.example.yaml",
];

fn objects() -> Vec<Object> {
    YAML_FILES
        .iter()
        .flat_map(|file| {
            let docs = yaml_documents(&read(file).unwrap()).unwrap_or_else(|e| panic!("{file}: invalid YAML: {e}"));
            docs.into_iter().map(|value| Object {
                file: file.to_string(),
                value,
            })
        })
        .collect()
}

#[test]
fn the_deploy_yaml_files_parse_into_the_expected_objects() {
    let kinds: Vec<(String, String)> = objects()
        .iter()
        .map(|o| (o.kind().to_owned(), o.name().to_owned()))
        .collect();
    for expected in [
        ("ConfigMap", "kintone-mcp-config"),
        ("SpinApp", "kintone-mcp"),
        ("Secret", "kintone-mcp-secrets"),
        ("Ingress", "kintone-mcp"),
    ] {
        assert!(
            kinds.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing from {kinds:?}"
        );
    }
}

#[test]
fn the_spinapp_uses_documented_fields_and_binds_spin_toml_variables() {
    let manifest = Manifest::parse(&read("spin.toml").unwrap()).unwrap();
    let problems = check(&objects(), &manifest);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_spin_up_runtime_config_puts_the_default_store_on_redis() {
    let file = "deploy/runtime-config.toml";
    let problems = check_runtime_config(file, &read(file).unwrap());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_secret_command_in_deploy_readme_creates_the_keys_the_spinapp_reads() {
    let readme = read("deploy/README.md").unwrap();
    let from_command: BTreeSet<String> = regex::Regex::new(r"--from-literal=([a-z_]+)=")
        .unwrap()
        .captures_iter(&readme)
        .map(|c| c[1].to_owned())
        .collect();
    let secret = objects().into_iter().find(|o| o.kind() == "Secret").unwrap();
    let in_example: BTreeSet<String> = secret.value["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(from_command, in_example);
    assert!(workspace_root().join("deploy/README.md").is_file());
}
