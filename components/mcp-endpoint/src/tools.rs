//! The `mcp` crate's [`mcp::ToolProvider`] over the composed `kintone-tools` WIT import, bound
//! to one user's kintone connection.

use crate::kintone::mcp::kintone_tools as wit;

pub struct KintoneTools {
    connection: wit::Connection,
}

impl KintoneTools {
    pub fn new(base_url: &str, access_token: &str) -> Self {
        KintoneTools {
            connection: wit::Connection {
                base_url: base_url.to_owned(),
                access_token: access_token.to_owned(),
            },
        }
    }
}

impl mcp::ToolProvider for KintoneTools {
    fn list_tools(&self) -> Vec<mcp::Tool> {
        wit::list_tools()
            .into_iter()
            .map(|t| mcp::Tool {
                name: t.name,
                title: t.title,
                description: t.description,
                input_schema: t.input_schema,
                output_schema: t.output_schema,
                annotations: mcp::Annotations {
                    read_only: t.annotations.read_only,
                    destructive: t.annotations.destructive,
                    idempotent: t.annotations.idempotent,
                    open_world: t.annotations.open_world,
                },
                scopes: t.scopes,
            })
            .collect()
    }

    fn tool_scopes(&self, name: &str) -> Option<Vec<String>> {
        wit::tool_scopes(name)
    }

    fn call_tool(&self, name: &str, arguments_json: &str) -> Result<mcp::ToolResult, mcp::CallError> {
        match wit::call_tool(&self.connection, name, arguments_json) {
            Ok(result) => Ok(mcp::ToolResult {
                content: result.content.into_iter().map(content).collect(),
                structured: result.structured,
                is_error: result.is_error,
            }),
            Err(wit::CallError::UnknownTool(m)) => Err(mcp::CallError::UnknownTool(m)),
            Err(wit::CallError::Unauthorized(m)) => Err(mcp::CallError::Unauthorized(m)),
            Err(wit::CallError::Unavailable(m)) => Err(mcp::CallError::Unavailable(m)),
        }
    }
}

fn content(c: wit::Content) -> mcp::Content {
    let blob = |b: wit::Blob| mcp::Blob {
        mime_type: b.mime_type,
        name: b.name,
        data: b.data,
    };
    match c {
        wit::Content::Text(t) => mcp::Content::Text(t),
        wit::Content::Image(b) => mcp::Content::Image(blob(b)),
        wit::Content::EmbeddedResource(b) => mcp::Content::EmbeddedResource(blob(b)),
    }
}
