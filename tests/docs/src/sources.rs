//! Which Spin variables the code reads, found in the source so a new `variable("x")` cannot slip
//! past the documentation.
//!
//! - Component glue (`components/<dir>/src`): every `variable("x")`, `var("x")` or
//!   `variables::get("x")` call, plus all of `grants::VARIABLES` when the component builds a
//!   `grants::Config` (which reads them through `Config::from_lookup`).
//! - Logic crates (`crates/*/src`): every `pub const VAR_…: &str = "x";`.

use crate::manifest::{template_references, wasm_stem, Manifest};
use anyhow::{Context, Result};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Variables read per component directory name (`oauth-provider`, …).
pub type ComponentReads = BTreeMap<String, BTreeSet<String>>;

fn call_pattern() -> Regex {
    Regex::new(r#"\b(?:variable|var|variables::get)\(\s*"([a-z][a-z0-9_]*)"\s*\)"#).expect("valid regex")
}

fn const_pattern() -> Regex {
    Regex::new(r#"pub const VAR_[A-Z0-9_]+\s*:\s*&str\s*=\s*"([a-z][a-z0-9_]*)""#).expect("valid regex")
}

/// The variables one component's source reads.
pub fn reads_in_component_source(source: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = call_pattern().captures_iter(source).map(|c| c[1].to_owned()).collect();
    if source.contains("Config::from_lookup") {
        names.extend(grants::VARIABLES.iter().map(|s| s.to_string()));
    }
    names
}

/// The `VAR_*` constants a crate's source declares.
pub fn declared_in_crate_source(source: &str) -> BTreeSet<String> {
    const_pattern().captures_iter(source).map(|c| c[1].to_owned()).collect()
}

/// Scans `components/*/src/**/*.rs`.
pub fn component_reads(components_dir: &Path) -> Result<ComponentReads> {
    let mut reads = ComponentReads::new();
    for entry in std::fs::read_dir(components_dir).with_context(|| format!("reading {}", components_dir.display()))? {
        let dir = entry?.path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("component directory name")?
            .to_owned();
        let mut names = BTreeSet::new();
        for file in rust_files(&dir.join("src"))? {
            names.extend(reads_in_component_source(&std::fs::read_to_string(&file)?));
        }
        reads.insert(name, names);
    }
    Ok(reads)
}

/// Scans `crates/*/src/**/*.rs` for `VAR_*` constants: crate path → names.
pub fn crate_declarations(crates_dir: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for file in rust_files(crates_dir)? {
        let names = declared_in_crate_source(&std::fs::read_to_string(&file)?);
        if !names.is_empty() {
            out.insert(file.display().to_string(), names);
        }
    }
    Ok(out)
}

fn rust_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Every variable the code reads reaches it through spin.toml, and spin.toml declares nothing
/// unused. Returns the problems found.
pub fn check_against_manifest(
    manifest: &Manifest,
    components: &ComponentReads,
    crate_consts: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, names) in components {
        let stem = dir.replace('-', "_");
        if let Some((id, component)) = manifest.component_by_wasm_stem(&stem) {
            for name in names {
                if !component.variables.contains_key(name) {
                    problems.push(format!(
                        "components/{dir} reads the variable `{name}`, but [component.{id}.variables] in spin.toml does not define it"
                    ));
                }
            }
            continue;
        }
        let parents = manifest.parents_of_wasm_stem(&stem);
        if parents.is_empty() {
            problems.push(format!(
                "components/{dir} is neither a component nor a dependency in spin.toml"
            ));
        }
        for (parent, component) in parents {
            if !names.is_empty() && !component.dependencies_inherit_configuration {
                problems.push(format!(
                    "components/{dir} reads variables as a dependency of `{parent}`, which lacks `dependencies_inherit_configuration = true`"
                ));
            }
            for name in names {
                if !component.variables.contains_key(name) {
                    problems.push(format!(
                        "components/{dir} (a dependency of `{parent}`) reads `{name}`, but [component.{parent}.variables] does not define it"
                    ));
                }
            }
        }
    }
    for (file, names) in crate_consts {
        for name in names {
            if !manifest.variables.contains_key(name) {
                problems.push(format!(
                    "{file} declares the variable `{name}`, but spin.toml's [variables] has no such entry"
                ));
            }
        }
    }
    let mut referenced = BTreeSet::new();
    for (id, component) in &manifest.components {
        let templates = component
            .variables
            .values()
            .chain(component.allowed_outbound_hosts.iter());
        for template in templates {
            for name in template_references(template) {
                if !manifest.variables.contains_key(&name) {
                    problems.push(format!(
                        "component `{id}` uses `{{{{ {name} }}}}`, which [variables] does not declare"
                    ));
                }
                referenced.insert(name);
            }
        }
        if wasm_stem(&component.source).is_none() {
            problems.push(format!("component `{id}` has a source that is not a .wasm file"));
        }
    }
    for name in manifest.variables.keys() {
        if !referenced.contains(name) {
            problems.push(format!("the application variable `{name}` is passed to no component"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[variables]
base = { required = true }
mode = { default = "x" }
[component.web]
source = "target/web.wasm"
allowed_outbound_hosts = ["{{ base }}"]
dependencies_inherit_configuration = true
[component.web.variables]
base = "{{ base }}"
mode = "{{ mode }}"
[component.web.dependencies]
"a:b/c" = { path = "target/lib_part.wasm" }
"#;

    fn reads(pairs: &[(&str, &[&str])]) -> ComponentReads {
        pairs
            .iter()
            .map(|(d, names)| (d.to_string(), names.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_variable_calls_and_grants_config() {
        let src =
            r#"let a = variable("read_only"); let b = var( "sse_max_seconds" ); spin_sdk::variables::get("x_y");"#;
        assert_eq!(
            reads_in_component_source(src),
            BTreeSet::from(["read_only".into(), "sse_max_seconds".into(), "x_y".into()])
        );
        let with_config = reads_in_component_source("grants::Config::from_lookup(variable)");
        assert!(with_config.contains("secret_key") && with_config.contains("kintone_base_url"));
        assert!(reads_in_component_source(r#"let v = my_variable("no");"#).is_empty());
    }

    #[test]
    fn finds_crate_constants() {
        let src = r#"pub const VAR_PUBLIC_URL: &str = "public_url";
pub const OTHER: &str = "nope";"#;
        assert_eq!(declared_in_crate_source(src), BTreeSet::from(["public_url".into()]));
    }

    #[test]
    fn a_consistent_app_has_no_problems() {
        let m = Manifest::parse(MANIFEST).unwrap();
        let problems = check_against_manifest(
            &m,
            &reads(&[("web", &["base"]), ("lib-part", &["mode"])]),
            &BTreeMap::new(),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_variable_read_but_not_wired_is_reported() {
        let m = Manifest::parse(MANIFEST).unwrap();
        let problems = check_against_manifest(
            &m,
            &reads(&[("web", &["base", "new_one"]), ("lib-part", &["other"])]),
            &BTreeMap::new(),
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("components/web reads the variable `new_one`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("dependency of `web`") && p.contains("`other`")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_components_constants_and_unused_variables_are_reported() {
        let m = Manifest::parse(&MANIFEST.replace("mode = \"{{ mode }}\"\n", "")).unwrap();
        let consts = BTreeMap::from([("crates/x.rs".to_string(), BTreeSet::from(["ghost".to_string()]))]);
        let problems = check_against_manifest(&m, &reads(&[("stray", &[])]), &consts);
        let text = problems.join("\n");
        assert!(text.contains("components/stray is neither"), "{text}");
        assert!(text.contains("`ghost`"), "{text}");
        assert!(text.contains("`mode` is passed to no component"), "{text}");
    }
}
