//! The tool catalogue, one module per family, and the dispatch from a name to its handler.
//!
//! Each family module offers `specs()` (its tool definitions) and `call()` (its handlers,
//! `None` for names it does not own). The definitions are the source of the generated table in
//! `catalogue.rs`; a unit test checks that every listed name dispatches.

mod all_records;
mod apps;
mod comments;
mod deploy;
pub(crate) mod files;
mod form;
mod reads;
mod records;
mod replace;
mod settings;
mod workflow;

#[cfg(test)]
mod tests;

use platform::HttpClient;
use serde_json::Value;

use crate::args::Args;
use crate::client::Kintone;
use crate::outcome::Outcome;
use crate::types::{Annotations, Family, ToolDefinition};

/// Every tool as the code defines it, offered or not: the 28 original tools first, in the
/// original order. Each family module declares the kintone REST family its tools call, which
/// decides the scope each one needs.
pub(crate) fn definitions() -> Vec<ToolDefinition> {
    use Family::{AppSettings, Files, Records};
    let groups = [
        (Records, records::specs()),
        (Records, comments::specs_original()),
        (Records, records::specs_acl()),
        (AppSettings, reads::specs_original_apps()),
        (AppSettings, apps::specs_original()),
        (Files, files::specs()),
        (AppSettings, reads::specs_original_acl_and_notifications()),
        (AppSettings, settings::specs_original()),
        (AppSettings, deploy::specs_original()),
        // Tools the original did not have.
        (Records, records::specs_more()),
        (Records, all_records::specs()),
        (Records, comments::specs_more()),
        (Records, workflow::specs()),
        (AppSettings, apps::specs_more()),
        (AppSettings, reads::specs_more()),
        (AppSettings, form::specs()),
        (AppSettings, settings::specs_more()),
        (AppSettings, replace::specs()),
        (AppSettings, deploy::specs_more()),
    ];
    groups
        .into_iter()
        .flat_map(|(family, specs)| specs.into_iter().map(move |spec| ToolDefinition { family, ..spec }))
        .collect()
}

/// Runs the named tool; `None` if no family owns the name.
pub(crate) async fn dispatch<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    if let Some(outcome) = records::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = all_records::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = comments::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = workflow::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = apps::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = reads::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = form::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = settings::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = replace::call(kc, name, args).await {
        return Some(outcome);
    }
    if let Some(outcome) = deploy::call(kc, name, args).await {
        return Some(outcome);
    }
    files::call(kc, name, args).await
}

/// One catalogue entry.
pub(crate) fn spec(
    name: &'static str,
    title: &'static str,
    annotations: Annotations,
    description: impl Into<String>,
    input_schema: Value,
    output_schema: Option<Value>,
) -> ToolDefinition {
    // The family is the group's, set by `definitions`.
    ToolDefinition {
        name,
        title,
        description: description.into(),
        input_schema,
        output_schema,
        annotations,
        family: Family::AppSettings,
    }
}
