//! How a tool run ends: a result for the model, or a typed error for the endpoint.

use serde_json::Value;

use crate::args::ArgError;
use crate::kintone_error::ApiError;
use crate::types::{CallError, Content, ToolResult};

/// Why a tool run did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The arguments cannot work; nothing was sent to kintone.
    Invalid(String),
    /// The tool declines on its own terms (a file over the size limit, an unusable answer).
    Refused(String),
    /// kintone answered with an error the model can act on.
    Kintone(Box<ApiError>),
    /// kintone answered 401.
    Unauthorized(String),
    /// kintone could not be reached or failed on its side.
    Unavailable(String),
}

impl From<ArgError> for Failure {
    fn from(e: ArgError) -> Self {
        Failure::Invalid(e.0)
    }
}

pub(crate) type Outcome = Result<ToolResult, Failure>;

/// Turns a tool run into what `call_tool` returns.
pub(crate) fn finish(tool: &str, outcome: Outcome) -> Result<ToolResult, CallError> {
    match outcome {
        Ok(result) => Ok(result),
        Err(Failure::Invalid(message)) => Ok(ToolResult::error(format!(
            "Invalid arguments for {tool}: {message}. Nothing was sent to kintone."
        ))),
        Err(Failure::Refused(message)) => Ok(ToolResult::error(format!("{tool}: {message}"))),
        Err(Failure::Kintone(error)) => Ok(ToolResult::error(error.explain())),
        Err(Failure::Unauthorized(message)) => Err(CallError::Unauthorized(message)),
        Err(Failure::Unavailable(message)) => Err(CallError::Unavailable(message)),
    }
}

/// A success carrying structured content and the same JSON as text for clients that do not
/// read `structuredContent`.
pub(crate) fn structured(value: Value) -> ToolResult {
    ToolResult {
        content: vec![Content::Text(value.to_string())],
        structured: Some(value),
        is_error: false,
    }
}

/// A structured success with a note for the model (paging hints, truncation, next steps).
pub(crate) fn structured_with_note(value: Value, note: Option<String>) -> ToolResult {
    let mut result = structured(value);
    if let Some(note) = note {
        result.content.push(Content::Text(note));
    }
    result
}
