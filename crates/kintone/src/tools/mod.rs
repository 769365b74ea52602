//! The tool catalogue, one module per family, and the dispatch from a name to its handler.
//!
//! Each family module offers `specs()` (its `tools/list` entries) and `call()` (its handlers,
//! `None` for names it does not own). A unit test checks that every listed name dispatches.

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
use crate::types::{Annotations, ToolSpec};

/// Every tool, offered or not: the 28 original tools first, in the original order.
pub(crate) fn catalogue() -> Vec<ToolSpec> {
    let mut all = Vec::new();
    all.extend(records::specs());
    all.extend(comments::specs_original());
    all.extend(records::specs_acl());
    all.extend(reads::specs_original_apps());
    all.extend(apps::specs_original());
    all.extend(files::specs());
    all.extend(reads::specs_original_acl_and_notifications());
    all.extend(settings::specs_original());
    all.extend(deploy::specs_original());
    // Tools the original did not have.
    all.extend(records::specs_more());
    all.extend(all_records::specs());
    all.extend(comments::specs_more());
    all.extend(workflow::specs());
    all.extend(apps::specs_more());
    all.extend(reads::specs_more());
    all.extend(form::specs());
    all.extend(settings::specs_more());
    all.extend(replace::specs());
    all.extend(deploy::specs_more());
    all
}

pub(crate) fn all_names() -> Vec<&'static str> {
    catalogue().iter().map(|t| t.name).collect()
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
) -> ToolSpec {
    ToolSpec { name, title, description: description.into(), input_schema, output_schema, annotations }
}
