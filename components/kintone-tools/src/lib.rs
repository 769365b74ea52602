//! Spin glue for `kintone:mcp/kintone-tools`: maps the WIT types onto the `kintone` crate,
//! where the tools live. Configuration comes from the parent's variables
//! (`dependencies_inherit_configuration = true`).

use platform::spin::{variable, SpinHttp};

spin_sdk::wit_bindgen::generate!({
    world: "tools-provider",
    path: "../../wit",
    runtime_path: "::spin_sdk::wit_bindgen::rt",
});

use exports::kintone::mcp::kintone_tools::{
    Annotations, Blob, CallError, Connection, Content, Guest, Tool, ToolResult,
};

struct Component;
export!(Component);

/// The tool settings. A bad setting is reported to the model and the operator rather than
/// silently widening what is offered: every tool is then hidden.
///
/// Read once per instance: a `tools/call` asks this component twice (`tool-scopes`, then
/// `call-tool`), and a new request gets a new instance, so a changed variable still applies to
/// the next request.
fn config() -> Result<&'static kintone::ToolConfig, &'static str> {
    static CONFIG: std::sync::OnceLock<Result<kintone::ToolConfig, String>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            kintone::ToolConfig::from_variables(
                variable("read_only").as_deref(),
                variable("tools_allow").as_deref(),
                variable("tools_deny").as_deref(),
            )
            .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(String::as_str)
}

impl Guest for Component {
    fn list_tools() -> Vec<Tool> {
        let config = match config() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kintone-tools: invalid tool configuration, offering no tools: {e}");
                return Vec::new();
            }
        };
        kintone::list_tools(config).map(tool).collect()
    }

    fn tool_scopes(name: String) -> Option<Vec<String>> {
        let config = config().ok()?;
        kintone::find_tool(config, &name).map(|t| t.scopes.iter().map(|s| s.to_string()).collect())
    }

    fn call_tool(conn: Connection, name: String, arguments: String) -> Result<ToolResult, CallError> {
        let config =
            config().map_err(|e| CallError::UnknownTool(format!("{name}: tool configuration is invalid: {e}")))?;
        let conn = kintone::Connection {
            base_url: conn.base_url,
            access_token: conn.access_token,
        };
        // WIT exports are synchronous; the kintone calls are async on Spin's executor.
        let outcome = spin_sdk::http::run(kintone::call_tool(&SpinHttp, &conn, config, &name, &arguments));
        match outcome {
            Ok(result) => Ok(ToolResult {
                content: result.content.into_iter().map(content).collect(),
                structured: result.structured.map(|s| s.to_string()),
                is_error: result.is_error,
            }),
            Err(kintone::CallError::UnknownTool(m)) => Err(CallError::UnknownTool(m)),
            Err(kintone::CallError::Unauthorized(m)) => Err(CallError::Unauthorized(m)),
            Err(kintone::CallError::Unavailable(m)) => Err(CallError::Unavailable(m)),
        }
    }
}

fn tool(t: &kintone::Tool) -> Tool {
    Tool {
        name: t.name.to_owned(),
        title: t.title.to_owned(),
        description: t.description.to_owned(),
        input_schema: t.input_schema.to_owned(),
        output_schema: t.output_schema.map(str::to_owned),
        annotations: Annotations {
            read_only: t.annotations.read_only,
            destructive: t.annotations.destructive,
            idempotent: t.annotations.idempotent,
            open_world: t.annotations.open_world,
        },
        scopes: t.scopes.iter().map(|s| s.to_string()).collect(),
    }
}

fn content(c: kintone::Content) -> Content {
    let blob = |b: kintone::Blob| Blob {
        mime_type: b.mime_type,
        name: b.name,
        data: b.data,
    };
    match c {
        kintone::Content::Text(t) => Content::Text(t),
        kintone::Content::Image(b) => Content::Image(blob(b)),
        kintone::Content::EmbeddedResource(b) => Content::EmbeddedResource(blob(b)),
    }
}
