//! MCP clients the MCP suites drive, besides the `rmcp` crate's: plain JSON-RPC over HTTP
//! ([`raw`]), a legacy HTTP+SSE session ([`legacy_sse`]), the npm tools ([`node`]: mcp-remote,
//! the MCP Inspector CLI, the conformance suite) and a loopback proxy that adds a bearer header
//! for clients that cannot send one ([`proxy`]).

pub mod legacy_sse;
pub mod node;
pub mod proxy;
pub mod raw;
pub mod sse;

/// The original project's 28 tool names (the TypeScript Cloudflare Worker this project replaces); the endpoint
/// must list every one of them.
pub const ORIGINAL_TOOLS: [&str; 28] = [
    "getRecords",
    "getRecord",
    "addRecord",
    "addRecords",
    "updateRecord",
    "getRecordComments",
    "addRecordComment",
    "evaluateRecordsAcl",
    "getApp",
    "getAppFields",
    "searchApps",
    "getAppSettings",
    "getFormLayout",
    "getViews",
    "getProcessManagement",
    "getAppReports",
    "getAppCustomize",
    "getAppActions",
    "uploadFile",
    "downloadFile",
    "getAppAcl",
    "getRecordAcl",
    "getFieldAcl",
    "getAppNotificationsGeneral",
    "getAppNotificationsPerRecord",
    "getAppNotificationsReminder",
    "updateAppCustomize",
    "deployApp",
];

/// Every original tool that `listed` lacks.
pub fn missing_original_tools<'a>(listed: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let listed: std::collections::BTreeSet<&str> = listed.into_iter().collect();
    ORIGINAL_TOOLS
        .iter()
        .copied()
        .filter(|name| !listed.contains(name))
        .collect()
}
