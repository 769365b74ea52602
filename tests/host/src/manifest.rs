//! The subset of Spin's manifest v2 (spin.toml) this host runs, parsed strictly: anything Spin
//! supports but this host does not is refused at start-up, so a test never passes by ignoring a
//! manifest feature.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<RawHttpTrigger>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    trigger: Option<toml::Table>,
}

/// An application variable (`[variables]`). `secret` and `description` are accepted for fidelity;
/// like Spin, the host treats secrets no differently (it never logs variable values at all).
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(default)]
    executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<toml::Table>,
    #[serde(default)]
    dependencies: BTreeMap<String, RawDependency>,
    #[serde(default)]
    dependencies_inherit_configuration: bool,
    // Accepted by Spin but not by this host: named so the refusal can say which.
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
    #[serde(default)]
    sqlite_databases: Option<toml::Value>,
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    tool: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Remote { url: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    export: Option<String>,
    #[serde(default)]
    inherit_configuration: Option<toml::Value>,
}

/// A parsed, validated application.
#[derive(Debug)]
pub struct App {
    pub name: String,
    pub variables: BTreeMap<String, Variable>,
    pub routes: Vec<Route>,
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Clone)]
pub struct Route {
    /// As written in the manifest, e.g. `/mcp` or `/.well-known/oauth-protected-resource/...`.
    pub pattern: String,
    pub component: String,
}

#[derive(Debug)]
pub struct Component {
    pub source: PathBuf,
    /// Templates, resolved per instance against the application variables.
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    /// Component variable name → template.
    pub variables: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    /// Import name (`ns:pkg/iface[@ver]`) → dependency component file.
    pub dependencies: BTreeMap<String, PathBuf>,
}

impl App {
    pub fn load(path: &Path) -> Result<App> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        App::parse(&text, base).with_context(|| format!("invalid manifest {}", path.display()))
    }

    pub fn parse(text: &str, base: &Path) -> Result<App> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        let _ = (
            &raw.application.version,
            &raw.application.description,
            &raw.application.authors,
        );
        if let Some(trigger) = &raw.application.trigger {
            for (kind, settings) in trigger {
                let base_is_root = settings.get("base").and_then(|b| b.as_str()).map(|b| b == "/");
                if kind != "http" || base_is_root == Some(false) {
                    bail!(
                        "[application.trigger.{kind}] is not supported by this test host (only the default base \"/\")"
                    );
                }
            }
        }
        for (name, var) in &raw.variables {
            check_variable_name(name)?;
            if var.required && var.default.is_some() {
                bail!("variable `{name}`: `required` and `default` are mutually exclusive");
            }
            if !var.required && var.default.is_none() {
                bail!("variable `{name}`: needs either `default` or `required = true`");
            }
        }

        let mut routes = Vec::new();
        for (kind, triggers) in &raw.trigger {
            if kind != "http" {
                bail!("trigger type `{kind}` is not supported by this test host (only `http`)");
            }
            for t in triggers {
                if t.executor.is_some() {
                    bail!(
                        "trigger for `{}`: `executor` is not supported by this test host",
                        t.component
                    );
                }
                if !raw.component.contains_key(&t.component) {
                    bail!("trigger refers to unknown component `{}`", t.component);
                }
                match &t.route {
                    RawRoute::Path(p) => {
                        if !p.starts_with('/') {
                            bail!("route `{p}` must start with `/`");
                        }
                        if routes.iter().any(|r: &Route| r.pattern == *p) {
                            bail!("duplicate route `{p}`");
                        }
                        routes.push(Route {
                            pattern: p.clone(),
                            component: t.component.clone(),
                        });
                    }
                    RawRoute::Private { private: true } => {}
                    RawRoute::Private { private: false } => bail!("route `{{ private = false }}` is not valid"),
                }
            }
        }

        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let unsupported = [
                ("files", c.files.is_some()),
                ("exclude_files", c.exclude_files.is_some()),
                ("sqlite_databases", c.sqlite_databases.is_some()),
                ("ai_models", c.ai_models.is_some()),
                ("allowed_http_hosts", c.allowed_http_hosts.is_some()),
                ("tool", c.tool.is_some()),
            ];
            for (key, present) in unsupported {
                if present {
                    bail!("component `{id}`: `{key}` is not supported by this test host");
                }
            }
            let _ = (&c.description, &c.build);
            let source = match c.source {
                RawSource::Path(p) => base.join(p),
                RawSource::Remote { url } => {
                    bail!("component `{id}`: remote source {url} is not supported by this test host")
                }
            };
            for store in &c.key_value_stores {
                if store != "default" {
                    bail!("component `{id}`: key-value store `{store}` needs runtime config, which this test host does not support (only `default`)");
                }
            }
            let mut dependencies = BTreeMap::new();
            for (import, dep) in c.dependencies {
                if dep.inherit_configuration.is_some() {
                    bail!("component `{id}`: per-dependency `inherit_configuration` needs Spin 4.0 (SpinKube runs 3.6); use `dependencies_inherit_configuration`");
                }
                if dep.url.is_some() || dep.version.is_some() || dep.component.is_some() || dep.export.is_some() {
                    bail!("component `{id}`: dependency `{import}`: only the `{{ path = \"...\" }}` form is supported by this test host");
                }
                let Some(path) = dep.path else {
                    bail!("component `{id}`: dependency `{import}` has no source");
                };
                dependencies.insert(import, base.join(path));
            }
            if !dependencies.is_empty() && !c.dependencies_inherit_configuration {
                // Spin wraps such dependencies in a deny-all adapter; this host cannot, so it refuses
                // rather than silently granting them the parent's capabilities.
                bail!("component `{id}`: dependencies without `dependencies_inherit_configuration = true` are not supported by this test host");
            }
            for var in c.variables.keys() {
                check_variable_name(var)?;
            }
            components.insert(
                id,
                Component {
                    source,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    key_value_stores: c.key_value_stores,
                    variables: c.variables,
                    environment: c.environment,
                    dependencies,
                },
            );
        }
        Ok(App {
            name: raw.application.name,
            variables: raw.variables,
            routes,
            components,
        })
    }
}

/// Spin variable names: lower-case letters, digits and underscores, starting with a letter.
fn check_variable_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!("invalid variable name `{name}`: use lower_snake_case");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
base = { required = true }
opt = { default = "" }
[[trigger.http]]
route = "/a/..."
component = "c"
[component.c]
source = "c.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["{{ base }}"]
[component.c.variables]
base = "{{ base }}"
"#;

    #[test]
    fn parses_a_minimal_app() {
        let app = App::parse(MINIMAL, Path::new("/app")).unwrap();
        assert_eq!(app.routes.len(), 1);
        let c = &app.components["c"];
        assert_eq!(c.source, Path::new("/app/c.wasm"));
        assert_eq!(c.variables["base"], "{{ base }}");
        assert!(app.variables["base"].required);
    }

    #[test]
    fn refuses_unsupported_features_by_name() {
        let with_files = MINIMAL.replace("key_value_stores = [\"default\"]", "files = [\"x\"]");
        let err = format!("{:#}", App::parse(&with_files, Path::new(".")).unwrap_err());
        assert!(err.contains("`files` is not supported"), "{err}");

        let other_store = MINIMAL.replace("[\"default\"]", "[\"cache\"]");
        let err = format!("{:#}", App::parse(&other_store, Path::new(".")).unwrap_err());
        assert!(err.contains("`cache`"), "{err}");

        let redis = MINIMAL.replace("[[trigger.http]]", "[[trigger.redis]]");
        assert!(App::parse(&redis, Path::new(".")).is_err());
    }

    #[test]
    fn refuses_unknown_keys_and_bad_variables() {
        let typo = MINIMAL.replace("source = \"c.wasm\"", "source = \"c.wasm\"\nallowed_outbound_host = []");
        assert!(App::parse(&typo, Path::new(".")).is_err());
        let both = MINIMAL.replace("{ required = true }", "{ required = true, default = \"x\" }");
        assert!(App::parse(&both, Path::new(".")).is_err());
        let upper = MINIMAL.replace("opt = ", "Opt = ");
        assert!(App::parse(&upper, Path::new(".")).is_err());
    }

    #[test]
    fn dependencies_need_inherited_configuration() {
        let dep = format!("{MINIMAL}\n[component.c.dependencies]\n\"a:b/c\" = {{ path = \"d.wasm\" }}\n");
        let err = format!("{:#}", App::parse(&dep, Path::new(".")).unwrap_err());
        assert!(err.contains("dependencies_inherit_configuration"), "{err}");
        let ok = dep.replace(
            "[component.c.variables]",
            "dependencies_inherit_configuration = true\n[component.c.variables]",
        );
        let app = App::parse(&ok, Path::new("/x")).unwrap();
        assert_eq!(app.components["c"].dependencies["a:b/c"], Path::new("/x/d.wasm"));
    }
}
