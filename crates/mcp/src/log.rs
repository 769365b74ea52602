//! The one log line per request: what was asked, how it ended, how long it took.
//!
//! Only names and numbers: never a token, an argument, a record or a session id. Everything
//! that comes from the client is reduced to a safe alphabet and a bounded length, so a line
//! cannot be forged (no line breaks) or made to carry content.

use crate::dispatch::{is_tool_name, Summary};

/// The facts of one request, gathered by the glue.
#[derive(Debug, Clone, Default)]
pub struct RequestLog<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The request path; any query string (it holds the legacy session id) is dropped.
    pub path: &'a str,
    /// What dispatch learnt (JSON-RPC method, tool), when the body got that far.
    pub summary: Option<&'a Summary>,
    pub status: u16,
    pub duration_ms: u64,
    /// The client's `User-Agent`, which tells clients apart when one misbehaves.
    pub user_agent: Option<&'a str>,
}

/// Format the line, e.g.
/// `mcp POST /mcp rpc=tools/call tool=getRecords status=200 duration_ms=87 ua="mcp-remote/0.15"`.
pub fn format_line(log: &RequestLog<'_>) -> String {
    let mut line = format!(
        "mcp {} {}",
        token(log.method, 10, "?"),
        token(log.path.split('?').next().unwrap_or(""), 64, "/?")
    );
    if let Some(summary) = log.summary {
        if let Some(method) = &summary.method {
            line.push_str(" rpc=");
            line.push_str(&token(method, 48, "other"));
        }
        if let Some(tool) = summary.tool.as_deref().filter(|t| is_tool_name(t)) {
            line.push_str(" tool=");
            line.push_str(tool);
        }
        if let Some(count) = summary.batch {
            line.push_str(&format!(" batch={count}"));
        }
    }
    line.push_str(&format!(" status={} duration_ms={}", log.status, log.duration_ms));
    if let Some(agent) = log.user_agent {
        let agent: String = agent
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
            .take(100)
            .collect();
        line.push_str(&format!(" ua=\"{agent}\""));
    }
    line
}

/// `text` if it is short and made of `[A-Za-z0-9/_.-]` only, else `fallback`.
fn token(text: &str, max: usize, fallback: &str) -> String {
    if !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'))
    {
        text.to_owned()
    } else {
        fallback.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_line() {
        let summary = Summary {
            method: Some("tools/call".into()),
            tool: Some("getRecords".into()),
            batch: None,
        };
        let line = format_line(&RequestLog {
            method: "POST",
            path: "/mcp",
            summary: Some(&summary),
            status: 200,
            duration_ms: 87,
            user_agent: Some("mcp-remote/0.15.1"),
        });
        assert_eq!(
            line,
            "mcp POST /mcp rpc=tools/call tool=getRecords status=200 duration_ms=87 ua=\"mcp-remote/0.15.1\""
        );
    }

    #[test]
    fn session_ids_and_client_junk_never_reach_the_line() {
        let summary = Summary {
            method: Some("tools/call\nFAKE status=200".into()),
            tool: Some("x y".into()),
            batch: Some(3),
        };
        let line = format_line(&RequestLog {
            method: "POST",
            path: "/sse/message?sessionId=0123456789abcdef0123456789abcdef",
            summary: Some(&summary),
            status: 202,
            duration_ms: 5,
            user_agent: Some("evil\"\nagent\\"),
        });
        assert_eq!(
            line,
            "mcp POST /sse/message rpc=other batch=3 status=202 duration_ms=5 ua=\"evilagent\""
        );
        assert!(!line.contains("0123456789abcdef"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_bare_line_without_summary_or_agent() {
        let line = format_line(&RequestLog {
            method: "GET",
            path: "/sse",
            status: 200,
            duration_ms: 25_000,
            ..RequestLog::default()
        });
        assert_eq!(line, "mcp GET /sse status=200 duration_ms=25000");
    }

    #[test]
    fn long_or_strange_paths_are_masked() {
        let long = format!("/{}", "a".repeat(100));
        let line = format_line(&RequestLog {
            method: "POST",
            path: &long,
            status: 404,
            ..RequestLog::default()
        });
        assert!(line.starts_with("mcp POST /? status=404"));
    }
}
