//! MCP protocol logic of the `mcp-endpoint` component, in plain Rust.
//!
//! - [`tools`]: the [`ToolProvider`] seam mirroring the `kintone-tools` WIT interface.
//! - [`dispatch`]: JSON-RPC/MCP methods for every protocol era, resumable for a token refresh.
//! - [`http`]: Streamable HTTP decisions as pure functions over `http` requests.
//! - [`mailbox`], [`legacy`], [`sse`]: the legacy HTTP+SSE transport over key-value.
//! - [`log`]: the one log line per request.
//!
//! # Wiring (the glue in `components/mcp-endpoint`)
//!
//! ```text
//! match mcp::route(&req, &config) {
//!     Route::Respond(resp) => resp,                       // preflight, 403, 404, 405: no token
//!     Route::StreamablePost => {                          // POST /mcp, POST /sse
//!         authenticate (grants) or answer 401/403 (pass it through mcp::with_cors);
//!         match mcp::handle_post(&req, &config, &tools) {
//!             PostOutcome::Respond(handled) => handled.response,
//!             PostOutcome::NeedsRefresh(pending) => {
//!                 refresh the kintone token (grants); on invalid_grant answer 401;
//!                 pending.resume(&config, &tools_with_new_token).response
//!             }
//!         }
//!     }
//!     Route::LegacyStream => {                            // GET /sse, streaming handler
//!         authenticate; owner = the grant id;
//!         let (stream, first) = SseStream::open(&kv, &config, owner, now_ms)?;
//!         send SseStream::response_head(), then `first`, then loop on stream.next(&kv, now_ms)
//!     }
//!     Route::LegacyMessage => {                           // POST /sse/message?sessionId=
//!         authenticate; same owner;
//!         match mcp::handle_message_post(&req, &kv, &config, owner, &tools, now_unix) {
//!             MessageOutcome::Respond(handled) => handled.response,
//!             MessageOutcome::NeedsRefresh(pending) => refresh, then
//!                 pending.resume(&kv, &config, &tools_with_new_token, now_unix).response
//!         }
//!     }
//! }
//! then one line: mcp::format_line(&RequestLog { method, path, summary, status, duration_ms, user_agent })
//! ```

mod config;
mod context;
mod cursor;
mod dispatch;
mod http;
mod jsonrpc;
mod legacy;
mod log;
mod mailbox;
mod owner_sessions;
mod sse;
mod tools;
mod version;

pub use config::{EndpointConfig, StreamConfig};
pub use context::RequestContext;
pub use dispatch::{Exchange, Finished, Progress, Summary};
pub use http::streamable::{handle_post, Handled, PendingPost, PostOutcome};
pub use http::{route, with_cors, Route};
pub use legacy::{handle_message_post, MessageOutcome, PendingMessage, SseStream, StreamStep};
pub use log::{format_line, RequestLog};
pub use tools::{Annotations, Blob, CallError, Content, Tool, ToolProvider, ToolResult};
