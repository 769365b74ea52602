//! Component dependencies, composed at load time with `wac-graph` the way Spin does ("plug"):
//! each dependency's exports are plugged into the matching imports of the parent.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wac_graph::{types::Package, CompositionGraph, EncodeOptions};

/// Reads a component and plugs its dependencies into it. Every dependency key must name an
/// import of the parent that the dependency satisfies; anything else is a start-up error.
pub fn load_composed(source: &Path, dependencies: &BTreeMap<String, PathBuf>) -> Result<Vec<u8>> {
    let main_bytes = read_component(source)?;
    if dependencies.is_empty() {
        return Ok(main_bytes);
    }
    let mut graph = CompositionGraph::new();
    let main_pkg = Package::from_bytes("app:main", None, main_bytes, graph.types_mut())?;
    let imports: Vec<String> = graph.types()[main_pkg.ty()].imports.keys().cloned().collect();
    let main = graph.register_package(main_pkg)?;
    let mut plugs = Vec::new();
    for (i, (key, path)) in dependencies.iter().enumerate() {
        if !imports.iter().any(|name| import_matches(key, name)) {
            bail!(
                "dependency `{key}`: {} has no such import (it imports: {})",
                source.display(),
                imports.join(", ")
            );
        }
        let bytes = read_component(path)?;
        let pkg = Package::from_bytes(&format!("app:dep{i}"), None, bytes, graph.types_mut())
            .with_context(|| format!("dependency `{key}`: {}", path.display()))?;
        let exports_it = graph.types()[pkg.ty()]
            .exports
            .keys()
            .any(|name| import_matches(key, name));
        if !exports_it {
            bail!("dependency `{key}`: {} does not export it", path.display());
        }
        plugs.push(graph.register_package(pkg)?);
    }
    wac_graph::plug(&mut graph, plugs, main).map_err(|e| anyhow!("composing {}: {e}", source.display()))?;
    let composed = graph
        .encode(EncodeOptions::default())
        .map_err(|e| anyhow!("encoding composed {}: {e}", source.display()))?;
    Ok(composed)
}

fn read_component(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!("cannot read component {} (build the app first: see README, `cargo build --target wasm32-wasip2 --release`)", path.display())
    })
}

/// Spin's rule: a key is a full interface name with or without version, or a package name.
fn import_matches(key: &str, import: &str) -> bool {
    let unversioned = |s: &str| s.split('@').next().unwrap_or(s).to_owned();
    if key.contains('@') {
        return key == import;
    }
    let import_base = unversioned(import);
    import_base == key || import_base.split('/').next() == Some(key)
}

#[cfg(test)]
mod tests {
    use super::import_matches;

    #[test]
    fn dependency_keys_match_like_spin() {
        let import = "kintone:mcp/kintone-tools@0.1.0";
        assert!(import_matches("kintone:mcp/kintone-tools", import));
        assert!(import_matches("kintone:mcp/kintone-tools@0.1.0", import));
        assert!(import_matches("kintone:mcp", import));
        assert!(!import_matches("kintone:mcp/kintone-tools@0.2.0", import));
        assert!(!import_matches("kintone:mcp/other", import));
    }
}
