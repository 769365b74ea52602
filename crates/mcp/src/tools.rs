//! The tool seam: a plain-Rust mirror of the `kintone:mcp/kintone-tools` WIT interface, and
//! its translation into MCP wire types (`rmcp::model`).
//!
//! The endpoint component implements [`ToolProvider`] over the WIT import, holding the user's
//! kintone connection. The trait is synchronous because a WIT import call is: the dispatcher
//! never awaits anything. Token refresh, which needs outbound HTTP, stays in the glue: when a
//! call answers [`CallError::Unauthorized`] the dispatcher stops and hands the glue a
//! resumable exchange (see [`crate::dispatch`]).

use base64::Engine as _;
use rmcp::model::{self as wire, ContentBlock, ResourceContents};
use serde_json::Value;

/// MCP tool annotations, as the WIT `annotations` record carries them. Hints only, but true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// One tool of the catalogue (WIT `tool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// Unique, case-sensitive, `[A-Za-z0-9_.-]{1,128}`.
    pub name: String,
    pub title: String,
    pub description: String,
    /// JSON Schema of the arguments object, as JSON text.
    pub input_schema: String,
    /// JSON Schema of `structured`, as JSON text.
    pub output_schema: Option<String>,
    pub annotations: Annotations,
    /// The kintone OAuth scopes a call needs (WIT `tool.scopes`).
    pub scopes: Vec<String>,
}

/// Binary tool output (WIT `blob`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub mime_type: String,
    /// File name, when kintone gave one.
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// One piece of tool-result content (WIT `content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Image(Blob),
    /// Any other binary, as an embedded resource.
    EmbeddedResource(Blob),
}

/// What a tool returned (WIT `tool-result`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolResult {
    pub content: Vec<Content>,
    /// Structured content as JSON text, conforming to the tool's output schema.
    pub structured: Option<String>,
    /// The tool ran but failed; the model reads `content` and can correct itself.
    pub is_error: bool,
}

/// Why a tool call produced no result (WIT `call-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No tool of that name is offered.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// kintone answered 401: refresh the user's kintone token and retry once.
    #[error("kintone refused the user's token: {0}")]
    Unauthorized(String),
    /// kintone could not be reached or failed.
    #[error("kintone is unavailable: {0}")]
    Unavailable(String),
}

/// The tool catalogue and tool calls, as the endpoint reaches them through WIT.
///
/// `call_tool` may answer `Unauthorized` without calling kintone at all, for instance when the
/// glue already knows the stored kintone token has expired: the dispatcher treats both the same
/// way and asks the glue to refresh.
pub trait ToolProvider {
    fn list_tools(&self) -> Vec<Tool>;
    /// The scopes the named tool needs (WIT `tool-scopes`); `None` if no such tool is offered.
    fn tool_scopes(&self, name: &str) -> Option<Vec<String>>;
    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError>;
}

impl<T: ToolProvider + ?Sized> ToolProvider for &T {
    fn list_tools(&self) -> Vec<Tool> {
        (**self).list_tools()
    }
    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        (**self).tool_scopes(name)
    }
    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<ToolResult, CallError> {
        (**self).call_tool(name, arguments_json)
    }
}

/// The catalogue could not be translated: a bug in the tools component, reported as an
/// internal error rather than as a half-empty list.
#[derive(Debug, thiserror::Error)]
#[error("tool `{tool}` has an invalid {what}: {reason}")]
pub struct CatalogueError {
    pub tool: String,
    pub what: &'static str,
    pub reason: String,
}

/// Append the MCP `Tool` JSON for one catalogue entry to `out`, with its schemas spliced in
/// as the tools component wrote them: `tools/list` copies text rather than parsing 80 KB of
/// schemas into trees and serialising them again. Each schema is still checked to be one JSON
/// object (a scan that builds nothing), so a broken catalogue is an error, not a broken
/// response. `object_output_only` drops an output schema whose root `type` is not `object`, as
/// the pre-2026 revisions require (SEP-2106 relaxed it later).
pub fn write_wire_tool(out: &mut String, tool: &Tool, object_output_only: bool) -> Result<(), CatalogueError> {
    schema_root(&tool.name, "input schema", &tool.input_schema)?;
    let output = match &tool.output_schema {
        Some(text) => Some((schema_root(&tool.name, "output schema", text)?, text)),
        None => None,
    };
    let json = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
    let flag = |b: bool| if b { "true" } else { "false" };
    let a = tool.annotations;
    out.push_str("{\"name\":");
    out.push_str(&json(&tool.name));
    out.push_str(",\"title\":");
    out.push_str(&json(&tool.title));
    out.push_str(",\"description\":");
    out.push_str(&json(&tool.description));
    out.push_str(",\"inputSchema\":");
    out.push_str(tool.input_schema.trim());
    if let Some((root, text)) = output {
        if !object_output_only || root.is_object_type() {
            out.push_str(",\"outputSchema\":");
            out.push_str(text.trim());
        }
    }
    out.push_str(",\"annotations\":{\"title\":");
    out.push_str(&json(&tool.title));
    for (name, value) in [
        ("readOnlyHint", a.read_only),
        ("destructiveHint", a.destructive),
        ("idempotentHint", a.idempotent),
        ("openWorldHint", a.open_world),
    ] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        out.push_str(flag(value));
    }
    out.push_str("}}");
    Ok(())
}

/// What `tools/list` needs to know of a schema's root: its `type`.
#[derive(serde::Deserialize)]
struct SchemaRoot<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

impl SchemaRoot<'_> {
    fn is_object_type(&self) -> bool {
        self.kind.as_deref() == Some("object")
    }
}

/// Check that `text` is one JSON object (the whole text, every value well-formed) and read
/// its root `type`, without building a tree.
fn schema_root<'a>(tool: &str, what: &'static str, text: &'a str) -> Result<SchemaRoot<'a>, CatalogueError> {
    let error = |reason: String| CatalogueError {
        tool: tool.to_owned(),
        what,
        reason,
    };
    // A struct also deserialises from a JSON array: insist on an object.
    if !text.trim_start().starts_with('{') {
        return Err(error("not a JSON object".to_owned()));
    }
    serde_json::from_str(text).map_err(|e| error(e.to_string()))
}

/// The MCP `CallToolResult` for a tool's answer.
///
/// Structured content is parsed from its JSON text and, as the spec recommends, repeated as a
/// text block unless a text block already carries the same JSON. Structured text that is not
/// JSON is a tools-component bug; it is kept as text so the model still sees it.
pub fn wire_result(result: ToolResult) -> wire::CallToolResult {
    let mut content: Vec<ContentBlock> = result.content.into_iter().map(wire_content).collect();
    let mut structured = None;
    if let Some(text) = result.structured {
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => {
                // The tools component writes both from one value, so the same text is the
                // usual case and needs no second parse.
                let repeated = content
                    .iter()
                    .filter_map(ContentBlock::as_text)
                    .any(|t| t.text == text || serde_json::from_str::<Value>(&t.text).is_ok_and(|v| v == value));
                if !repeated {
                    content.push(ContentBlock::text(text));
                }
                structured = Some(value);
            }
            Err(_) => content.push(ContentBlock::text(text)),
        }
    }
    let mut out = if result.is_error {
        wire::CallToolResult::error(content)
    } else {
        wire::CallToolResult::success(content)
    };
    out.structured_content = structured;
    out
}

/// A tool-level error the model can read (`isError: true`), for failures that are not the
/// client's protocol mistake: kintone down, or still refusing a freshly refreshed token.
pub fn error_result(message: impl Into<String>) -> wire::CallToolResult {
    wire::CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn wire_content(content: Content) -> ContentBlock {
    let b64 = base64::engine::general_purpose::STANDARD;
    match content {
        Content::Text(text) => ContentBlock::text(text),
        Content::Image(blob) => ContentBlock::image(b64.encode(&blob.data), blob.mime_type),
        Content::EmbeddedResource(blob) => {
            let uri = resource_uri(blob.name.as_deref());
            ContentBlock::resource(ResourceContents::blob(b64.encode(&blob.data), uri).with_mime_type(blob.mime_type))
        }
    }
}

/// Embedded resources need a URI; kintone files have none of their own, so name them under a
/// `kintone:` scheme with the (percent-encoded) file name.
fn resource_uri(name: Option<&str>) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let name = name.filter(|n| !n.is_empty()).unwrap_or("file");
    format!("kintone:file/{}", utf8_percent_encode(name, NON_ALPHANUMERIC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool() -> Tool {
        Tool {
            name: "getRecords".into(),
            title: "Get records".into(),
            description: "Get records from an app".into(),
            input_schema: r#"{"type":"object","properties":{"appId":{"type":"integer"}}}"#.into(),
            output_schema: Some(r#"{"type":"object"}"#.into()),
            annotations: Annotations {
                read_only: true,
                destructive: false,
                idempotent: true,
                open_world: true,
            },
            scopes: vec!["k:app_record:read".into()],
        }
    }

    /// The tool as `tools/list` writes it, parsed back.
    fn wire_tool(tool: &Tool, object_output_only: bool) -> Result<Value, CatalogueError> {
        let mut text = String::new();
        write_wire_tool(&mut text, tool, object_output_only)?;
        Ok(serde_json::from_str(&text).expect("valid JSON"))
    }

    #[test]
    fn tool_translates_every_field() {
        let wire = wire_tool(&tool(), true).unwrap();
        // rmcp's own model reads it back (the wire shape clients parse).
        let _: wire::Tool = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(
            wire,
            json!({
                "name": "getRecords",
                "title": "Get records",
                "description": "Get records from an app",
                "inputSchema": {"type":"object","properties":{"appId":{"type":"integer"}}},
                "outputSchema": {"type":"object"},
                "annotations": {
                    "title": "Get records",
                    "readOnlyHint": true,
                    "destructiveHint": false,
                    "idempotentHint": true,
                    "openWorldHint": true
                }
            })
        );
    }

    #[test]
    fn invalid_schema_names_the_tool() {
        let mut t = tool();
        t.input_schema = "[1]".into();
        let err = wire_tool(&t, false).unwrap_err();
        assert_eq!(err.tool, "getRecords");
        assert_eq!(err.what, "input schema");
        t.input_schema = r#"{"type":"object"} trailing"#.into();
        assert_eq!(wire_tool(&t, false).unwrap_err().what, "input schema");
        t.input_schema = "{}".into();
        t.output_schema = Some("not json".into());
        assert_eq!(wire_tool(&t, false).unwrap_err().what, "output schema");
    }

    #[test]
    fn names_and_descriptions_are_escaped_and_non_object_output_schemas_dropped_for_old_revisions() {
        let mut t = tool();
        t.description = "quote \" backslash \\ newline \n 日本語".into();
        t.output_schema = Some(r#"{"type":"array"}"#.into());
        let old = wire_tool(&t, true).unwrap();
        assert_eq!(old["description"], t.description.as_str());
        assert!(old.get("outputSchema").is_none());
        let new = wire_tool(&t, false).unwrap();
        assert_eq!(new["outputSchema"], json!({"type": "array"}));
    }

    #[test]
    fn structured_content_is_repeated_as_text() {
        let result = wire_result(ToolResult {
            content: vec![],
            structured: Some(r#"{"records":[]}"#.into()),
            is_error: false,
        });
        let v = serde_json::to_value(&result).unwrap();
        assert_eq!(v["structuredContent"], json!({"records": []}));
        assert_eq!(v["content"], json!([{"type":"text","text":"{\"records\":[]}"}]));
        assert_eq!(v["isError"], json!(false));
    }

    #[test]
    fn structured_content_already_in_text_is_not_repeated() {
        let result = wire_result(ToolResult {
            content: vec![Content::Text("{ \"a\" : 1 }".into())],
            structured: Some(r#"{"a":1}"#.into()),
            is_error: false,
        });
        assert_eq!(result.content.len(), 1);
        assert_eq!(result.structured_content, Some(json!({"a": 1})));
    }

    #[test]
    fn invalid_structured_text_is_kept_as_text_only() {
        let result = wire_result(ToolResult {
            content: vec![],
            structured: Some("{broken".into()),
            is_error: true,
        });
        assert_eq!(result.structured_content, None);
        assert_eq!(result.content[0].as_text().unwrap().text, "{broken");
        assert_eq!(result.is_error, Some(true));
    }

    #[test]
    fn binary_content_is_base64_with_mime_type() {
        let result = wire_result(ToolResult {
            content: vec![
                Content::Image(Blob {
                    mime_type: "image/png".into(),
                    name: None,
                    data: vec![0, 1, 2, 255],
                }),
                Content::EmbeddedResource(Blob {
                    mime_type: "application/pdf".into(),
                    name: Some("見積 1.pdf".into()),
                    data: b"%PDF".to_vec(),
                }),
            ],
            structured: None,
            is_error: false,
        });
        let v = serde_json::to_value(&result).unwrap();
        assert_eq!(
            v["content"][0],
            json!({"type":"image","data":"AAEC/w==","mimeType":"image/png"})
        );
        assert_eq!(v["content"][1]["type"], "resource");
        assert_eq!(v["content"][1]["resource"]["blob"], "JVBERg==");
        assert_eq!(v["content"][1]["resource"]["mimeType"], "application/pdf");
        assert_eq!(
            v["content"][1]["resource"]["uri"],
            "kintone:file/%E8%A6%8B%E7%A9%8D%201%2Epdf"
        );
    }

    #[test]
    fn unnamed_resource_gets_a_generic_uri() {
        assert_eq!(resource_uri(None), "kintone:file/file");
        assert_eq!(resource_uri(Some("")), "kintone:file/file");
    }
}
