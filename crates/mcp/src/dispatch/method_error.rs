//! The JSON-RPC errors dispatch answers with, each with the HTTP status it calls for.

use rmcp::model::{ErrorCode, ErrorData, RequestId};
use serde_json::Value;

use super::Era;
use crate::jsonrpc::{JsonText, Reply};

/// A JSON-RPC error with the HTTP status it calls for.
pub(super) struct MethodError {
    error: ErrorData,
    status: u16,
}

impl MethodError {
    pub(super) fn new(error: ErrorData, status: u16) -> Self {
        MethodError { error, status }
    }

    pub(super) fn into_reply(self, id: RequestId) -> Reply {
        Reply::error(Some(id), self.error, self.status)
    }
}

pub(super) fn invalid_params(message: impl Into<String>) -> MethodError {
    MethodError::new(ErrorData::invalid_params(message.into(), None), 200)
}

pub(super) fn unknown_tool(name: &str) -> MethodError {
    invalid_params(format!("Unknown tool: {}", printable(name)))
}

/// Missing or malformed 2026-07-28 `_meta`: HTTP 400 with -32602.
pub(super) fn bad_meta(message: impl Into<String>) -> MethodError {
    MethodError::new(
        ErrorData::invalid_params(format!("Invalid params: {}", message.into()), None),
        400,
    )
}

/// -32601 for a method this revision does not have. 2026-07-28 answers it with 404, so
/// clients can tell it from a missing endpoint; handshake revisions answer in-band.
pub(super) fn method_not_found(method: &str, era: Era) -> MethodError {
    MethodError::new(
        ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {}", printable(method)),
            None,
        ),
        if era.modern { 404 } else { 200 },
    )
}

/// A mirrored header missing or disagreeing with the body: HTTP 400 with -32020.
pub(super) fn header_mismatch(message: impl Into<String>) -> MethodError {
    MethodError::new(
        ErrorData::header_mismatch(format!("Header mismatch: {}", message.into()), None),
        400,
    )
}

pub(super) fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, MethodError> {
    serde_json::to_value(value).map_err(not_encoded)
}

/// The result written straight to JSON text, for results that need no reshaping as a tree.
pub(super) fn to_json_text<T: serde::Serialize>(value: &T) -> Result<JsonText, MethodError> {
    JsonText::of(value).map_err(not_encoded)
}

fn not_encoded(e: serde_json::Error) -> MethodError {
    MethodError::new(
        ErrorData::internal_error(format!("could not encode the result: {e}"), None),
        200,
    )
}

/// Client-supplied names echoed in error messages: printable ASCII, bounded.
pub(super) fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(128)
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if text.chars().count() > 128 {
        out.push('…');
    }
    out
}
