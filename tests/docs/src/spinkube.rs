//! deploy/: the SpinKube `SpinApp` manifest, its ConfigMap/Secret/Ingress, and the Spin runtime
//! configuration for a Redis/Valkey key-value store.
//!
//! Field names come from SpinKube's CRD reference (spinkube-docs `content/en/docs/reference/
//! spin-app.md`, SpinApp `core.spinkube.dev/v1alpha1`) and Spin's runtime-config documentation
//! (`[key_value_store.<label>] type = "redis"`, `url`). A field SpinKube does not document is an
//! error: the operator would reject or silently ignore it.

use crate::manifest::Manifest;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const API_VERSION: &str = "core.spinkube.dev/v1alpha1";
pub const EXECUTOR: &str = "containerd-shim-spin";

/// `SpinApp.spec` fields.
const SPEC_FIELDS: &[&str] = &[
    "executor",
    "image",
    "checks",
    "components",
    "deploymentAnnotations",
    "enableAutoscaling",
    "imagePullSecrets",
    "invocationLimits",
    "podAnnotations",
    "podLabels",
    "replicas",
    "resources",
    "runtimeConfig",
    "serviceAccountName",
    "serviceAnnotations",
    "variables",
    "volumeMounts",
    "volumes",
];
const SPEC_REQUIRED: &[&str] = &["executor", "image"];
const RUNTIME_CONFIG_FIELDS: &[&str] = &["keyValueStores", "llmCompute", "loadFromSecret", "sqliteDatabases"];
const STORE_FIELDS: &[&str] = &["name", "type", "options"];
const OPTION_FIELDS: &[&str] = &["name", "value", "valueFrom"];
const OPTION_VALUE_FROM: &[&str] = &["configMapKeyRef", "secretKeyRef"];
const VARIABLE_FIELDS: &[&str] = &["name", "value", "valueFrom"];
const VARIABLE_VALUE_FROM: &[&str] = &["configMapKeyRef", "fieldRef", "resourceFieldRef", "secretKeyRef"];
const KEY_REF_FIELDS: &[&str] = &["key", "name", "optional"];
const TOP_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

/// Keys of a Redis store in Spin's runtime configuration.
const REDIS_STORE_KEYS: &[&str] = &["type", "url"];

/// A Kubernetes object from one of deploy/'s YAML files.
#[derive(Debug, Clone)]
pub struct Object {
    pub file: String,
    pub value: Value,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn fail(&mut self, message: String) {
        self.problems.push(message);
    }

    /// Every key of `map` is in `allowed`, every key of `required` is present.
    fn fields(&mut self, path: &str, value: &Value, allowed: &[&str], required: &[&str]) -> Option<Mapping> {
        let Some(map) = value.as_mapping() else {
            self.fail(format!("{path} must be a mapping"));
            return None;
        };
        for key in map.keys() {
            match key.as_str() {
                Some(k) if allowed.contains(&k) => {}
                _ => self.fail(format!(
                    "{path}: `{}` is not a field SpinKube documents here (allowed: {})",
                    show(key),
                    allowed.join(", ")
                )),
            }
        }
        for key in required {
            if !map.contains_key(*key) {
                self.fail(format!("{path}: `{key}` is required"));
            }
        }
        Some(map.clone())
    }

    fn list<'a>(&mut self, path: &str, value: Option<&'a Value>) -> &'a [Value] {
        match value {
            None => &[],
            Some(Value::Sequence(items)) => items,
            Some(_) => {
                self.fail(format!("{path} must be a list"));
                &[]
            }
        }
    }

    /// A `valueFrom` with exactly one of `allowed`, each a `{name, key, optional}` reference.
    fn value_from(&mut self, path: &str, value: &Value, allowed: &[&str]) -> Option<Ref> {
        let map = self.fields(path, value, allowed, &[])?;
        if map.len() != 1 {
            self.fail(format!("{path} must hold exactly one source"));
            return None;
        }
        let (kind, reference) = map.iter().next()?;
        let kind = kind.as_str()?.to_owned();
        if kind != "configMapKeyRef" && kind != "secretKeyRef" {
            return None;
        }
        let r = self.fields(&format!("{path}.{kind}"), reference, KEY_REF_FIELDS, &["key", "name"])?;
        Some(Ref {
            kind,
            name: r.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
            key: r.get("key").and_then(Value::as_str).unwrap_or("").to_owned(),
            optional: r.get("optional").and_then(Value::as_bool).unwrap_or(false),
            path: path.to_owned(),
        })
    }
}

#[derive(Debug, Clone)]
struct Ref {
    kind: String,
    name: String,
    key: String,
    optional: bool,
    path: String,
}

fn show(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default().trim().to_owned()
}

/// Checks the SpinApp(s) among `objects` against SpinKube's documented schema and this app's
/// needs (replicas > 1 on a shared Redis/Valkey store; every required variable bound; secrets
/// from Secrets), and that every ConfigMap/Secret reference resolves within `objects`.
pub fn check(objects: &[Object], manifest: &Manifest) -> Vec<String> {
    let mut c = Checker { problems: Vec::new() };
    let apps: Vec<&Object> = objects.iter().filter(|o| o.kind() == "SpinApp").collect();
    if apps.len() != 1 {
        c.fail(format!("deploy/ must hold exactly one SpinApp, found {}", apps.len()));
    }
    let mut refs = Vec::new();
    for app in &apps {
        let at = format!("{} SpinApp {}", app.file, app.name());
        check_spinapp(&mut c, &at, &app.value, manifest, &mut refs);
    }
    let data = config_data(&mut c, objects);
    for r in refs {
        let want = if r.kind == "secretKeyRef" {
            "Secret"
        } else {
            "ConfigMap"
        };
        let found = data
            .get(&(want.to_owned(), r.name.clone()))
            .is_some_and(|keys| keys.contains(&r.key));
        if !found && !r.optional {
            c.fail(format!(
                "{}: {want} `{}` with key `{}` is not defined in deploy/",
                r.path, r.name, r.key
            ));
        }
    }
    for ingress in objects.iter().filter(|o| o.kind() == "Ingress") {
        check_ingress(&mut c, ingress, apps.first().map(|a| a.name()).unwrap_or_default());
    }
    c.problems
}

fn check_spinapp(c: &mut Checker, at: &str, app: &Value, manifest: &Manifest, refs: &mut Vec<Ref>) {
    let Some(top) = c.fields(at, app, TOP_FIELDS, TOP_FIELDS) else {
        return;
    };
    if top.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
        c.fail(format!("{at}: apiVersion must be {API_VERSION}"));
    }
    if app
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        c.fail(format!("{at}: metadata.name is required"));
    }
    let Some(spec_value) = top.get("spec") else { return };
    let Some(spec) = c.fields(&format!("{at} spec"), spec_value, SPEC_FIELDS, SPEC_REQUIRED) else {
        return;
    };
    if spec.get("executor").and_then(Value::as_str) != Some(EXECUTOR) {
        c.fail(format!("{at}: spec.executor must be {EXECUTOR}"));
    }
    if spec.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
        c.fail(format!("{at}: spec.image must name the app's OCI image"));
    }
    match spec.get("replicas").and_then(Value::as_i64) {
        Some(n) if n >= 2 => {}
        other => c.fail(format!(
            "{at}: spec.replicas must be an integer of at least 2 (found {other:?}): one pod is no failover"
        )),
    }
    if spec.get("enableAutoscaling").and_then(Value::as_bool) == Some(true) {
        c.fail(format!(
            "{at}: spec.enableAutoscaling cannot be combined with spec.replicas"
        ));
    }

    // The key-value store: one shared Redis/Valkey for label `default` (the default SQLite
    // store is per pod, so replicas would not see each other's grants).
    let mut has_default_redis = false;
    if let Some(rc) = spec.get("runtimeConfig") {
        if let Some(rc) = c.fields(&format!("{at} spec.runtimeConfig"), rc, RUNTIME_CONFIG_FIELDS, &[]) {
            if rc.contains_key("loadFromSecret") {
                c.fail(format!("{at}: spec.runtimeConfig.loadFromSecret makes SpinKube ignore keyValueStores; keep the store inline"));
            }
            for (i, store) in c
                .list(&format!("{at} keyValueStores"), rc.get("keyValueStores"))
                .to_vec()
                .iter()
                .enumerate()
            {
                let path = format!("{at} spec.runtimeConfig.keyValueStores[{i}]");
                let Some(s) = c.fields(&path, store, STORE_FIELDS, &["name", "type"]) else {
                    continue;
                };
                let mut has_url = false;
                for (j, option) in c.list(&path, s.get("options")).to_vec().iter().enumerate() {
                    let opath = format!("{path}.options[{j}]");
                    let Some(o) = c.fields(&opath, option, OPTION_FIELDS, &["name"]) else {
                        continue;
                    };
                    match (o.get("value"), o.get("valueFrom")) {
                        (Some(_), None) => {}
                        (None, Some(from)) => {
                            refs.extend(c.value_from(&format!("{opath}.valueFrom"), from, OPTION_VALUE_FROM))
                        }
                        _ => c.fail(format!("{opath}: give exactly one of value and valueFrom")),
                    }
                    has_url |= o.get("name").and_then(Value::as_str) == Some("url");
                }
                if s.get("name").and_then(Value::as_str) == Some("default") {
                    has_default_redis = s.get("type").and_then(Value::as_str) == Some("redis") && has_url;
                }
            }
        }
    }
    if !has_default_redis {
        c.fail(format!(
            "{at}: spec.runtimeConfig.keyValueStores needs the store `default` of type `redis` with a `url` option"
        ));
    }

    // Variables: every required one bound, nothing unknown, secrets from Secrets.
    let mut bound = BTreeSet::new();
    for (i, variable) in c
        .list(&format!("{at} variables"), spec.get("variables"))
        .to_vec()
        .iter()
        .enumerate()
    {
        let path = format!("{at} spec.variables[{i}]");
        let Some(v) = c.fields(&path, variable, VARIABLE_FIELDS, &["name"]) else {
            continue;
        };
        let name = v.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
        if !bound.insert(name.clone()) {
            c.fail(format!("{path}: `{name}` is bound twice"));
        }
        let Some(declared) = manifest.variables.get(&name) else {
            c.fail(format!("{path}: `{name}` is not a variable of spin.toml"));
            continue;
        };
        match (v.get("value"), v.get("valueFrom")) {
            (Some(_), None) if declared.secret => c.fail(format!(
                "{path}: the secret `{name}` must come from a Secret, not a literal value"
            )),
            (Some(_), None) => {}
            (None, Some(from)) => {
                if let Some(r) = c.value_from(&format!("{path}.valueFrom"), from, VARIABLE_VALUE_FROM) {
                    if declared.secret && r.kind != "secretKeyRef" {
                        c.fail(format!(
                            "{path}: the secret `{name}` must come from a Secret (secretKeyRef)"
                        ));
                    }
                    refs.push(r);
                }
            }
            _ => c.fail(format!("{path}: give exactly one of value and valueFrom")),
        }
    }
    for name in manifest.required_variables() {
        if !bound.contains(name) {
            c.fail(format!(
                "{at}: spin.toml requires `{name}`, but spec.variables does not bind it"
            ));
        }
    }
    if !bound.contains("public_url") {
        c.fail(format!(
            "{at}: bind `public_url`: behind an Ingress the request origin is not the public URL"
        ));
    }
}

/// (kind, name) → keys, for the ConfigMaps and Secrets in deploy/.
fn config_data(c: &mut Checker, objects: &[Object]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for o in objects.iter().filter(|o| matches!(o.kind(), "ConfigMap" | "Secret")) {
        let at = format!("{} {} {}", o.file, o.kind(), o.name());
        if o.value.get("apiVersion").and_then(Value::as_str) != Some("v1") {
            c.fail(format!("{at}: apiVersion must be v1"));
        }
        if o.name().is_empty() {
            c.fail(format!("{at}: metadata.name is required"));
        }
        let fields: &[&str] = if o.kind() == "Secret" {
            &["stringData", "data"]
        } else {
            &["data"]
        };
        let mut keys = BTreeSet::new();
        for field in fields {
            let Some(map) = o.value.get(*field) else { continue };
            let Some(map) = map.as_mapping() else {
                c.fail(format!("{at}: {field} must be a mapping"));
                continue;
            };
            for (k, v) in map {
                // Kubernetes rejects non-string values (`max_grants: 256` must be quoted).
                if !v.is_string() {
                    c.fail(format!("{at}: {field}.{} must be a string (quote it)", show(k)));
                }
                keys.extend(k.as_str().map(str::to_owned));
            }
        }
        out.insert((o.kind().to_owned(), o.name().to_owned()), keys);
    }
    out
}

fn check_ingress(c: &mut Checker, ingress: &Object, app_name: &str) {
    let at = format!("{} Ingress {}", ingress.file, ingress.name());
    if ingress.value.get("apiVersion").and_then(Value::as_str) != Some("networking.k8s.io/v1") {
        c.fail(format!("{at}: apiVersion must be networking.k8s.io/v1"));
    }
    let rules = ingress
        .value
        .get("spec")
        .and_then(|s| s.get("rules"))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let backends: Vec<&Value> = rules
        .iter()
        .filter_map(|r| r.get("http")?.get("paths")?.as_sequence())
        .flatten()
        .filter_map(|p| p.get("backend")?.get("service"))
        .collect();
    if backends.is_empty() {
        c.fail(format!("{at}: no service backend"));
    }
    for service in backends {
        // The Spin operator creates a Service named after the SpinApp, on port 80.
        if service.get("name").and_then(Value::as_str) != Some(app_name) {
            c.fail(format!(
                "{at}: the backend service must be the SpinApp's Service `{app_name}`"
            ));
        }
        if service
            .get("port")
            .and_then(|p| p.get("number"))
            .and_then(Value::as_i64)
            != Some(80)
        {
            c.fail(format!(
                "{at}: the backend port must be 80 (the SpinApp Service's port)"
            ));
        }
    }
}

/// Checks a Spin runtime-config file: exactly a Redis store for label `default`.
pub fn check_runtime_config(file: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) => return vec![format!("{file}: invalid TOML: {e}")],
    };
    for key in doc.keys() {
        if key != "key_value_store" {
            problems.push(format!(
                "{file}: unexpected table `{key}` (only key_value_store is needed)"
            ));
        }
    }
    let Some(store) = doc
        .get("key_value_store")
        .and_then(|s| s.get("default"))
        .and_then(toml::Value::as_table)
    else {
        problems.push(format!("{file}: [key_value_store.default] is missing"));
        return problems;
    };
    if store.get("type").and_then(toml::Value::as_str) != Some("redis") {
        problems.push(format!(
            "{file}: [key_value_store.default] type must be \"redis\" (Valkey speaks the same protocol)"
        ));
    }
    match store.get("url").and_then(toml::Value::as_str) {
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {}
        _ => problems.push(format!("{file}: [key_value_store.default] url must be a redis:// URL")),
    }
    for key in store.keys() {
        if !REDIS_STORE_KEYS.contains(&key.as_str()) {
            problems.push(format!("{file}: `{key}` is not a key of a redis store (type, url)"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse("[variables]\nbase = { required = true }\nkey = { required = true, secret = true }\npublic_url = { default = \"\" }\n").unwrap()
    }

    const GOOD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: { name: cfg }
data: { base: "https://example.cybozu.com", public_url: "https://mcp.example.com" }
---
apiVersion: v1
kind: Secret
metadata: { name: sec }
type: Opaque
stringData: { key: "x", redis_url: "redis://valkey:6379" }
---
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: app }
spec:
  image: ghcr.io/x/app:1
  executor: containerd-shim-spin
  replicas: 2
  variables:
    - name: base
      valueFrom: { configMapKeyRef: { name: cfg, key: base } }
    - name: public_url
      valueFrom: { configMapKeyRef: { name: cfg, key: public_url } }
    - name: key
      valueFrom: { secretKeyRef: { name: sec, key: key } }
  runtimeConfig:
    keyValueStores:
      - name: default
        type: redis
        options:
          - name: url
            valueFrom: { secretKeyRef: { name: sec, key: redis_url } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ing }
spec:
  rules:
    - host: mcp.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: { service: { name: app, port: { number: 80 } } }
"#;

    fn objects(text: &str) -> Vec<Object> {
        crate::blocks::yaml_documents(text)
            .unwrap()
            .into_iter()
            .map(|value| Object {
                file: "f.yaml".into(),
                value,
            })
            .collect()
    }

    fn problems(text: &str) -> String {
        check(&objects(text), &manifest()).join("\n")
    }

    #[test]
    fn a_documented_spinapp_passes() {
        assert_eq!(problems(GOOD), "");
    }

    #[test]
    fn undocumented_fields_and_wrong_values_fail() {
        let text = GOOD
            .replace("replicas: 2", "replicas: 1\n  ports: [80]")
            .replace("executor: containerd-shim-spin", "executor: wasmtime");
        let p = problems(&text);
        assert!(p.contains("`ports` is not a field SpinKube documents"), "{p}");
        assert!(p.contains("spec.replicas must be an integer of at least 2"), "{p}");
        assert!(p.contains("spec.executor must be containerd-shim-spin"), "{p}");
    }

    #[test]
    fn missing_or_leaky_variables_fail() {
        let text = GOOD
            .replace(
                "    - name: base\n      valueFrom: { configMapKeyRef: { name: cfg, key: base } }\n",
                "",
            )
            .replace(
                "valueFrom: { secretKeyRef: { name: sec, key: key } }",
                "value: plain-secret",
            );
        let p = problems(&text);
        assert!(p.contains("spin.toml requires `base`"), "{p}");
        assert!(p.contains("the secret `key` must come from a Secret"), "{p}");
    }

    #[test]
    fn dangling_references_and_unquoted_values_fail() {
        let p = problems(
            &GOOD
                .replace("key: redis_url }", "key: redis }")
                .replace("redis_url: \"redis://valkey:6379\"", "port: 6379"),
        );
        assert!(p.contains("Secret `sec` with key `redis` is not defined"), "{p}");
        assert!(p.contains("stringData.port must be a string"), "{p}");
    }

    #[test]
    fn the_store_must_be_a_shared_redis() {
        let p = problems(&GOOD.replace("type: redis", "type: spin"));
        assert!(p.contains("store `default` of type `redis`"), "{p}");
    }

    #[test]
    fn the_ingress_must_reach_the_spinapp_service() {
        let p = problems(&GOOD.replace("name: app, port: { number: 80 }", "name: other, port: { number: 3000 }"));
        assert!(p.contains("backend service must be the SpinApp's Service `app`"), "{p}");
        assert!(p.contains("backend port must be 80"), "{p}");
    }

    #[test]
    fn runtime_config_needs_a_redis_default_store() {
        assert!(check_runtime_config(
            "r",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n"
        )
        .is_empty());
        let p = check_runtime_config("r", "[key_value_store.default]\ntype = \"spin\"\npath = \"x.db\"\n").join("\n");
        assert!(
            p.contains("type must be \"redis\"") && p.contains("url must be") && p.contains("`path`"),
            "{p}"
        );
        assert!(check_runtime_config("r", "[key_value_store.other]\ntype = \"redis\"\n")[0].contains("missing"));
    }
}
