//! The kintone tool catalogue and every kintone REST call, as plain Rust.
//!
//! The `kintone-tools` component maps this API one-to-one onto the WIT interface
//! `kintone:mcp/kintone-tools`: [`list_tools`] answers `list-tools`, [`call_tool`] answers
//! `call-tool`, [`find_tool`] answers `tool-scopes`. Outbound HTTP goes through
//! [`platform::HttpClient`], so the same code runs in a Spin component and in native tests
//! against the fake cybozu.com.

mod args;
mod catalogue;
#[cfg(test)]
mod catalogue_source;
mod client;
mod config;
mod kintone_error;
mod outcome;
mod query;
mod schema;
#[cfg(test)]
mod test_support;
mod tools;
mod types;

pub use config::{ConfigError, ToolConfig};
pub use tools::files::{DOWNLOAD_MAX_BYTES, UPLOAD_MAX_BYTES};
pub use types::{Annotations, Blob, CallError, Connection, Content, Family, Tool, ToolDefinition, ToolResult};

use args::Args;
use client::Kintone;
use outcome::{finish, Failure};

/// The tools offered under `config`, in catalogue order (the 28 original tools first).
pub fn list_tools(config: &ToolConfig) -> impl Iterator<Item = &'static Tool> + '_ {
    catalogue::TOOLS.iter().filter(|t| config.offers(t))
}

/// The named tool, if `config` offers it. A scan of a static table: nothing is built.
pub fn find_tool(config: &ToolConfig, name: &str) -> Option<&'static Tool> {
    catalogue::TOOLS.iter().find(|t| t.name == name && config.offers(t))
}

/// Every tool as the code defines it (schemas as JSON values), offered or not: the readable
/// source of the generated `catalogue.rs`, which a unit test keeps identical to it.
pub fn tool_definitions() -> Vec<ToolDefinition> {
    tools::definitions()
}

/// Runs one tool with the user's kintone connection. `arguments` is the JSON object the
/// client sent, as text. Arguments are checked before anything is sent to kintone.
pub async fn call_tool<H: platform::HttpClient>(
    http: &H,
    conn: &Connection,
    config: &ToolConfig,
    name: &str,
    arguments: &str,
) -> Result<ToolResult, CallError> {
    let Some(tool) = find_tool(config, name) else {
        return Err(CallError::UnknownTool(name.to_string()));
    };
    // Only the called tool's schema is parsed; a unit test checks every schema parses.
    let schema: serde_json::Value = serde_json::from_str(tool.input_schema)
        .map_err(|e| CallError::Unavailable(format!("{name}: the tool's input schema is invalid: {e}")))?;
    let parsed = Args::parse(arguments, &schema).and_then(|args| Ok((args.opt_id("guestSpaceId")?, args)));
    let (guest_space, args) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return finish(tool.name, Err(Failure::from(e))),
    };
    let kintone = Kintone::new(http, conn, guest_space);
    match tools::dispatch(&kintone, tool.name, &args).await {
        Some(outcome) => finish(tool.name, outcome),
        // Unreachable while every catalogue entry has a handler (a unit test checks it).
        None => Err(CallError::UnknownTool(name.to_string())),
    }
}
