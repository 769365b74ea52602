//! What the transport read from the HTTP request for the dispatcher to check against the body:
//! the protocol-version header and the 2026-07-28 headers that mirror body fields. Built by
//! [`crate::http`], read by [`crate::dispatch`]; kept apart so dispatch needs no HTTP types.

use rmcp::model::ProtocolVersion;

use crate::version;

/// A request header that mirrors a body field (2026-07-28 `Mcp-Method`, `Mcp-Name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MirroredHeader {
    #[default]
    Absent,
    Value(String),
    /// Sent more than once, or not visible ASCII.
    Invalid,
}

impl MirroredHeader {
    pub fn from_headers(headers: &http::HeaderMap, name: &str) -> Self {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            return MirroredHeader::Absent;
        };
        if values.next().is_some() {
            return MirroredHeader::Invalid;
        }
        match first.to_str() {
            Ok(text) => MirroredHeader::Value(text.to_owned()),
            Err(_) => MirroredHeader::Invalid,
        }
    }

    /// Does the header, decoded from the `=?base64?…?=` sentinel form when used, equal `body`?
    pub(crate) fn matches(&self, body: &str) -> bool {
        match self {
            MirroredHeader::Value(raw) => decode_header_value(raw).as_deref() == Some(body),
            _ => false,
        }
    }
}

/// `Mcp-Name` values outside plain header-safe ASCII travel as `=?base64?<b64>?=`.
fn decode_header_value(raw: &str) -> Option<String> {
    use base64::Engine as _;
    match raw.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(raw.to_owned()),
    }
}

/// What the transport read from the HTTP request, for checks against the body.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The `MCP-Protocol-Version` header, already checked to be a supported revision.
    pub protocol_version: Option<ProtocolVersion>,
    pub mcp_method: MirroredHeader,
    pub mcp_name: MirroredHeader,
}

impl RequestContext {
    /// True when the header selects the modern revision.
    pub fn header_is_modern(&self) -> bool {
        self.protocol_version.as_ref().is_some_and(version::is_modern)
    }
}
