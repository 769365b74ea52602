//! Keeps the generated `catalogue.rs` identical to the tool definitions in code.
//!
//! The definitions (`tools::*::specs`) are readable Rust building JSON values; the app serves
//! a static table of JSON text instead, so no request builds or serialises the catalogue.
//! After changing a definition, regenerate the table with
//! `UPDATE_CATALOGUE=1 cargo test -p kintone --lib catalogue_source`.

use std::fmt::Write as _;

use crate::types::ToolDefinition;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/catalogue.rs");

/// The Rust source of `catalogue.rs` for these definitions. Strings are written with `{:?}`,
/// which escapes them as valid Rust literals.
fn render(definitions: &[ToolDefinition]) -> String {
    let mut out = String::from(
        "// @generated from the tool definitions in src/tools/ by\n\
         // `UPDATE_CATALOGUE=1 cargo test -p kintone --lib catalogue_source`. Do not edit by hand.\n\n\
         use crate::types::{Annotations, Tool};\n\n\
         /// Every tool, offered or not, in catalogue order.\n\
         pub(crate) static TOOLS: &[Tool] = &[\n",
    );
    for d in definitions {
        let a = d.annotations;
        let output = match &d.output_schema {
            Some(schema) => format!("Some({:?})", schema.to_string()),
            None => "None".to_owned(),
        };
        let _ = write!(
            out,
            "    Tool {{\n        name: {:?},\n        title: {:?},\n        description: {:?},\n        \
             input_schema: {:?},\n        output_schema: {output},\n        \
             annotations: Annotations {{ read_only: {}, destructive: {}, idempotent: {}, open_world: {} }},\n        \
             scopes: &{:?},\n    }},\n",
            d.name,
            d.title,
            d.description,
            d.input_schema.to_string(),
            a.read_only,
            a.destructive,
            a.idempotent,
            a.open_world,
            d.scopes(),
        );
    }
    out.push_str("];\n");
    out
}

#[test]
fn catalogue_is_generated_from_the_definitions() {
    let expected = render(&crate::tool_definitions());
    let current = std::fs::read_to_string(PATH).unwrap_or_default();
    if current == expected {
        return;
    }
    if std::env::var_os("UPDATE_CATALOGUE").is_some() {
        std::fs::write(PATH, &expected).unwrap();
        return;
    }
    panic!("src/catalogue.rs is out of date: run `UPDATE_CATALOGUE=1 cargo test -p kintone --lib catalogue_source`");
}

#[test]
fn the_static_table_matches_the_definitions_field_by_field() {
    let definitions = crate::tool_definitions();
    assert_eq!(definitions.len(), crate::catalogue::TOOLS.len());
    for (d, t) in definitions.iter().zip(crate::catalogue::TOOLS) {
        assert_eq!(d.name, t.name);
        assert_eq!(d.description, t.description);
        assert_eq!(
            d.input_schema,
            serde_json::from_str::<serde_json::Value>(t.input_schema).unwrap(),
            "{}",
            t.name
        );
        let output = t
            .output_schema
            .map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap());
        assert_eq!(d.output_schema, output, "{}", t.name);
        assert_eq!(d.annotations, t.annotations);
        assert_eq!(d.scopes(), t.scopes);
    }
}
