//! The parts of spin.toml the documentation talks about: application variables and components.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use toml::{Table, Value};

/// One `[variables]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVariable {
    pub required: bool,
    pub secret: bool,
    /// `None` for required variables; may be `Some("")`.
    pub default: Option<String>,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone, Default)]
pub struct Component {
    pub source: String,
    /// `[component.<id>.variables]`: component variable name → template.
    pub variables: BTreeMap<String, String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    /// `[component.<id>.dependencies]`: import name → `path` of the dependency's wasm.
    pub dependencies: BTreeMap<String, String>,
    pub dependencies_inherit_configuration: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub variables: BTreeMap<String, AppVariable>,
    pub components: BTreeMap<String, Component>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest> {
        let doc: Table = text.parse().context("spin.toml is not valid TOML")?;
        let mut manifest = Manifest::default();
        if let Some(vars) = doc.get("variables") {
            let vars = vars.as_table().context("[variables] must be a table")?;
            for (name, spec) in vars {
                let spec = spec
                    .as_table()
                    .with_context(|| format!("variables.{name} must be a table"))?;
                let required = spec.get("required").and_then(Value::as_bool).unwrap_or(false);
                let default = spec
                    .get("default")
                    .map(|d| d.as_str().map(str::to_owned))
                    .transpose_str(name)?;
                if required == default.is_some() {
                    bail!("variables.{name}: exactly one of `required = true` and `default` must be given");
                }
                let secret = spec.get("secret").and_then(Value::as_bool).unwrap_or(false);
                manifest.variables.insert(
                    name.clone(),
                    AppVariable {
                        required,
                        secret,
                        default,
                    },
                );
            }
        }
        if let Some(components) = doc.get("component") {
            let components = components.as_table().context("[component] must be a table")?;
            for (id, spec) in components {
                let spec = spec
                    .as_table()
                    .with_context(|| format!("component.{id} must be a table"))?;
                manifest.components.insert(id.clone(), parse_component(id, spec)?);
            }
        }
        Ok(manifest)
    }

    pub fn required_variables(&self) -> BTreeSet<&str> {
        self.variables
            .iter()
            .filter(|(_, v)| v.required)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The component whose `source` is `<stem>.wasm` (a crate `foo-bar` builds `foo_bar.wasm`).
    pub fn component_by_wasm_stem(&self, stem: &str) -> Option<(&str, &Component)> {
        self.components
            .iter()
            .find(|(_, c)| wasm_stem(&c.source) == Some(stem))
            .map(|(id, c)| (id.as_str(), c))
    }

    /// Components that compose `<stem>.wasm` as a dependency.
    pub fn parents_of_wasm_stem(&self, stem: &str) -> Vec<(&str, &Component)> {
        self.components
            .iter()
            .filter(|(_, c)| c.dependencies.values().any(|path| wasm_stem(path) == Some(stem)))
            .map(|(id, c)| (id.as_str(), c))
            .collect()
    }
}

fn parse_component(id: &str, spec: &Table) -> Result<Component> {
    let strings = |key: &str| -> Result<Vec<String>> {
        match spec.get(key) {
            None => Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .with_context(|| format!("component.{id}.{key} must be a list"))?
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("component.{id}.{key} must hold strings"))
                })
                .collect(),
        }
    };
    let source = spec
        .get("source")
        .and_then(Value::as_str)
        .with_context(|| format!("component.{id}.source must be a path"))?;
    let mut component = Component {
        source: source.to_owned(),
        allowed_outbound_hosts: strings("allowed_outbound_hosts")?,
        key_value_stores: strings("key_value_stores")?,
        dependencies_inherit_configuration: spec
            .get("dependencies_inherit_configuration")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Component::default()
    };
    if let Some(vars) = spec.get("variables").and_then(Value::as_table) {
        for (name, template) in vars {
            let template = template
                .as_str()
                .with_context(|| format!("component.{id}.variables.{name} must be a string"))?;
            component.variables.insert(name.clone(), template.to_owned());
        }
    }
    if let Some(deps) = spec.get("dependencies").and_then(Value::as_table) {
        for (import, dep) in deps {
            let path = dep.get("path").and_then(Value::as_str).unwrap_or_default();
            component.dependencies.insert(import.clone(), path.to_owned());
        }
    }
    Ok(component)
}

trait TransposeStr {
    fn transpose_str(self, name: &str) -> Result<Option<String>>;
}

impl TransposeStr for Option<Option<String>> {
    fn transpose_str(self, name: &str) -> Result<Option<String>> {
        match self {
            None => Ok(None),
            Some(Some(s)) => Ok(Some(s)),
            Some(None) => bail!("variables.{name}.default must be a string"),
        }
    }
}

/// `target/.../oauth_provider.wasm` → `oauth_provider`.
pub fn wasm_stem(path: &str) -> Option<&str> {
    path.rsplit('/').next()?.strip_suffix(".wasm")
}

/// The application variables a Spin template names: `"{{ kintone_base_url }}"` → `kintone_base_url`.
pub fn template_references(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2
[variables]
base = { required = true }
key = { required = true, secret = true }
flag = { default = "false" }
empty = { default = "" }

[component.web]
source = "target/wasm32-wasip2/release/web.wasm"
allowed_outbound_hosts = ["{{ base }}"]
key_value_stores = ["default"]
dependencies_inherit_configuration = true
[component.web.variables]
base = "{{ base }}"
key = "{{key}}"
[component.web.dependencies]
"ns:pkg/iface" = { path = "target/wasm32-wasip2/release/lib_part.wasm" }
"#;

    #[test]
    fn reads_variables_and_components() {
        let m = Manifest::parse(SAMPLE).unwrap();
        assert_eq!(
            m.variables["base"],
            AppVariable {
                required: true,
                secret: false,
                default: None
            }
        );
        assert!(m.variables["key"].secret);
        assert_eq!(m.variables["empty"].default.as_deref(), Some(""));
        assert_eq!(m.required_variables(), BTreeSet::from(["base", "key"]));
        let (id, web) = m.component_by_wasm_stem("web").unwrap();
        assert_eq!(id, "web");
        assert_eq!(web.variables["key"], "{{key}}");
        assert!(web.dependencies_inherit_configuration);
        assert_eq!(m.parents_of_wasm_stem("lib_part").len(), 1);
        assert!(m.parents_of_wasm_stem("web").is_empty());
    }

    #[test]
    fn a_variable_with_both_required_and_default_is_refused() {
        let err = Manifest::parse("[variables]\nx = { required = true, default = \"1\" }\n").unwrap_err();
        assert!(err.to_string().contains("variables.x"), "{err}");
        assert!(Manifest::parse("[variables]\nx = { secret = true }\n").is_err());
    }

    #[test]
    fn templates_name_their_variables() {
        assert_eq!(template_references("{{ a }}"), vec!["a"]);
        assert_eq!(
            template_references("https://{{sub}}.cybozu.com:{{ port }}"),
            vec!["sub", "port"]
        );
        assert!(template_references("plain").is_empty());
    }
}
