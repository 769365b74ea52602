//! The end-to-end suite: the built wasm app on the test host (or a real `spin up`, with
//! `KINTONE_MCP_HOST=spin`) against the fake cybozu.com. Each file beside this one is one suite,
//! a module here, so the whole suite is one test binary; run one suite with
//! `cargo test -p e2e --test e2e <suite>::`.

mod mcp_bad_input;
mod mcp_clients;
mod mcp_conformance;
mod mcp_latency;
mod mcp_legacy_sse;
mod mcp_refresh;
mod mcp_rmcp;
mod oauth_browser;
mod oauth_cimd;
mod oauth_refusals;
mod oauth_rmcp;
mod oauth_store;
mod resilience_faults;
mod resilience_load;
mod resilience_replicas;
mod resilience_restart;
mod sandbox;
mod security;
mod smoke;
mod tools_apps;
mod tools_catalogue;
mod tools_common;
mod tools_config;
mod tools_files;
mod tools_policy;
mod tools_records;
