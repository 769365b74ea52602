//! The public value types the component glue maps one-to-one onto the WIT contract
//! (`kintone:mcp/kintone-tools`).

use serde_json::Value;

/// MCP tool annotations. Hints only, but clients decide from them whether to ask the user
/// before a call, so every one of them must be true of the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl Annotations {
    /// A tool that only reads. kintone is the user's own closed domain, so no tool is
    /// open-world.
    pub const READ: Annotations = Annotations {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    };
    /// A write that only adds (a new record, comment, file, field).
    pub const ADD: Annotations = Annotations {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: false,
    };
    /// A write that overwrites or removes something, and gives the same end state when repeated.
    pub const OVERWRITE: Annotations = Annotations {
        read_only: false,
        destructive: true,
        idempotent: true,
        open_world: false,
    };
    /// A write that changes something each time it runs (a workflow step).
    pub const STEP: Annotations = Annotations {
        read_only: false,
        destructive: true,
        idempotent: false,
        open_world: false,
    };
}

/// The kintone OAuth scope families. A tool needs the read or write scope of the REST family it
/// calls: record data (records, comments, statuses, assignees, record-permission evaluation),
/// files, or app settings (everything else, including the app, record and field permission
/// *settings*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Records,
    Files,
    AppSettings,
}

impl Family {
    /// The scope, under kintone's own name, that a tool of this family needs.
    pub fn scope(self, read_only: bool) -> &'static str {
        match (self, read_only) {
            (Family::Records, true) => "k:app_record:read",
            (Family::Records, false) => "k:app_record:write",
            (Family::Files, true) => "k:file:read",
            (Family::Files, false) => "k:file:write",
            (Family::AppSettings, true) => "k:app_settings:read",
            (Family::AppSettings, false) => "k:app_settings:write",
        }
    }
}

/// One tool of the catalogue (WIT `tool`), fixed at build time: the generated table in
/// `catalogue.rs` holds every one, so neither `tools/list` nor `tools/call` builds anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// JSON Schema (2020-12) of the arguments object, as JSON text.
    pub input_schema: &'static str,
    /// JSON Schema of [`ToolResult::structured`] as JSON text, where the result shape is stable.
    pub output_schema: Option<&'static str>,
    pub annotations: Annotations,
    /// The kintone OAuth scopes a call needs, under kintone's names.
    pub scopes: &'static [&'static str],
}

/// A tool as the code defines it, with its schemas as JSON values: the readable source that
/// `catalogue.rs` is generated from (see [`crate::tool_definitions`]).
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub title: &'static str,
    pub description: String,
    /// JSON Schema (2020-12) of the arguments object.
    pub input_schema: Value,
    /// JSON Schema of [`ToolResult::structured`], where the result shape is stable.
    pub output_schema: Option<Value>,
    pub annotations: Annotations,
    /// The REST family the tool calls, which decides its scope.
    pub family: Family,
}

impl ToolDefinition {
    /// The scopes a call needs.
    pub fn scopes(&self) -> Vec<&'static str> {
        vec![self.family.scope(self.annotations.read_only)]
    }
}

/// Where and as whom to call kintone.
#[derive(Clone)]
pub struct Connection {
    /// The kintone origin, e.g. `https://example.cybozu.com`.
    pub base_url: String,
    /// The user's kintone OAuth access token. Never printed: see the `Debug` impl.
    pub access_token: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("base_url", &self.base_url)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// A file's bytes with what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub mime_type: String,
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// One piece of MCP tool-result content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Image(Blob),
    /// Any other binary, as an embedded resource.
    EmbeddedResource(Blob),
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub content: Vec<Content>,
    /// Structured content conforming to the tool's output schema (never set on errors).
    pub structured: Option<Value>,
    /// True when the tool ran but failed (bad arguments, a kintone error): the model reads
    /// `content` and can correct itself.
    pub is_error: bool,
}

impl ToolResult {
    /// A failure the model can act on, explained in one text block.
    pub fn error(message: impl Into<String>) -> Self {
        ToolResult {
            content: vec![Content::Text(message.into())],
            structured: None,
            is_error: true,
        }
    }

    /// The text of every text block, joined by newlines (handy for tests and logs).
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|c| match c {
                Content::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a call produced no tool result at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No tool of that name is offered (unknown, or hidden by configuration).
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// kintone answered 401: refresh the token and retry once.
    #[error("kintone rejected the access token: {0}")]
    Unauthorized(String),
    /// kintone could not be reached or failed (5xx, timeout, dropped connection).
    #[error("kintone unavailable: {0}")]
    Unavailable(String),
}
