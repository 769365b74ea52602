//! The kintone tool catalogue and every kintone REST call, as plain Rust.
//!
//! The `kintone-tools` component maps this API one-to-one onto the WIT interface
//! `kintone:mcp/kintone-tools`: [`list_tools`] answers `list-tools`, [`call_tool`] answers
//! `call-tool`. Outbound HTTP goes through [`platform::HttpClient`], so the same code runs in a
//! Spin component and in native tests against the fake cybozu.com.

mod args;
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
pub use types::{Annotations, Blob, CallError, Connection, Content, ToolResult, ToolSpec};

use args::Args;
use client::Kintone;
use outcome::{finish, Failure};

/// The tools offered under `config`, in catalogue order (the 28 original tools first).
pub fn list_tools(config: &ToolConfig) -> Vec<ToolSpec> {
    tools::catalogue().into_iter().filter(|t| config.offers(t)).collect()
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
    let Some(spec) = tools::catalogue().into_iter().find(|t| t.name == name && config.offers(t)) else {
        return Err(CallError::UnknownTool(name.to_string()));
    };
    let parsed = Args::parse(arguments, &spec.input_schema).and_then(|args| Ok((args.opt_id("guestSpaceId")?, args)));
    let (guest_space, args) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return finish(spec.name, Err(Failure::from(e))),
    };
    let kintone = Kintone::new(http, conn, guest_space);
    match tools::dispatch(&kintone, spec.name, &args).await {
        Some(outcome) => finish(spec.name, outcome),
        // Unreachable while every catalogue entry has a handler (a unit test checks it).
        None => Err(CallError::UnknownTool(name.to_string())),
    }
}
