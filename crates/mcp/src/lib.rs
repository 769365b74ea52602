//! MCP protocol logic of the `mcp-endpoint` component, in plain Rust.
//!
//! - [`tools`]: the [`ToolProvider`] seam mirroring the `kintone-tools` WIT interface.
//! - [`dispatch`]: JSON-RPC/MCP methods for every protocol era, resumable for token refresh.
//! - [`http`]: Streamable HTTP decisions as pure functions over `http` requests.
//! - [`mailbox`], [`legacy`], [`sse`]: the legacy HTTP+SSE transport over key-value.
//! - [`log`]: the one log line per request.

pub mod config;
pub mod cursor;
pub mod dispatch;
pub mod http;
pub mod jsonrpc;
pub mod legacy;
pub mod log;
pub mod mailbox;
pub mod sse;
pub mod tools;
pub mod version;

pub use config::{EndpointConfig, StreamConfig};
pub use dispatch::{Exchange, Finished, Progress, RequestContext, Summary};
pub use tools::{Blob, Content, Tool, ToolAnnotations, ToolCallError, ToolProvider, ToolResult};
