//! JSON-RPC 2.0 framing: classify what a client POSTed, and encode what we answer.
//!
//! Classification is done on a `serde_json::Value` rather than by deserializing straight into
//! `rmcp`'s message enum, so each failure gets its own code: bytes that are not JSON are a
//! parse error (-32700), JSON that is not a JSON-RPC message is an invalid request (-32600),
//! and a well-formed request with bad parameters is left to the method (-32602).

use rmcp::model::{ErrorCode, ErrorData, JsonRpcError, RequestId};
use serde_json::{Map, Value};

/// One JSON-RPC message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: RequestId,
        method: String,
        /// The `params` member as sent (methods check its shape).
        params: Option<Value>,
    },
    Notification {
        method: String,
    },
    /// A response or error object from the client. We never send requests, so there is
    /// nothing to match it with; it is accepted and dropped.
    ClientReply,
    /// Not a JSON-RPC message; answered with -32600 (with the id, when one could be read).
    Invalid {
        id: Option<RequestId>,
        reason: String,
    },
}

impl Incoming {
    /// The method name, for logs.
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method } => Some(method),
            _ => None,
        }
    }
}

/// A POST body: one message or a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Single(Incoming),
    Batch(Vec<Incoming>),
}

/// Parse a POST body. `Err` is the single error response the whole body gets.
pub fn parse_body(bytes: &[u8]) -> Result<Body, ErrorData> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ErrorData::parse_error(format!("Parse error: {e}"), None))?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(ErrorData::invalid_request("Invalid Request: empty batch", None))
        }
        Value::Array(items) => Ok(Body::Batch(items.into_iter().map(classify).collect())),
        other => Ok(Body::Single(classify(other))),
    }
}

/// Classify one JSON value as a JSON-RPC message.
pub fn classify(value: Value) -> Incoming {
    let Value::Object(mut object) = value else {
        return invalid(None, "a JSON-RPC message must be a JSON object");
    };
    let id = match object.get("id") {
        None => None,
        Some(raw) => match serde_json::from_value::<RequestId>(raw.clone()) {
            Ok(id) => Some(id),
            // MCP forbids a null id, and JSON-RPC ids are strings or integers.
            Err(_) => return invalid(None, "`id` must be a string or an integer"),
        },
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id, "`jsonrpc` must be \"2.0\"");
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = object.remove("params");
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                // MCP params are always objects; positional arrays are not MCP.
                return invalid(id, "`params` must be an object");
            }
            if object.contains_key("result") || object.contains_key("error") {
                return invalid(id, "a request cannot carry `result` or `error`");
            }
            match id {
                Some(id) => Incoming::Request { id, method, params },
                None => Incoming::Notification { method },
            }
        }
        Some(_) => invalid(id, "`method` must be a string"),
        None => {
            let has_result = object.contains_key("result");
            let has_error = object.contains_key("error");
            if has_result != has_error {
                Incoming::ClientReply
            } else {
                invalid(id, "not a request, notification or response")
            }
        }
    }
}

fn invalid(id: Option<RequestId>, reason: &str) -> Incoming {
    Incoming::Invalid {
        id,
        reason: reason.to_owned(),
    }
}

/// One JSON value as text. Made only by serde, or by a writer of this crate that assembles it
/// from pieces each already checked or escaped (`tools/list`), so it is not scanned again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    pub fn of(value: &impl serde::Serialize) -> serde_json::Result<JsonText> {
        serde_json::to_string(value).map(JsonText)
    }

    /// Text the caller built from checked pieces (see the type's docs).
    pub(crate) fn assembled(text: String) -> JsonText {
        JsonText(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Our answer to one request, before framing. A result is kept as JSON text: the large one
/// (`tools/list`) is written as text from the catalogue and never becomes a `Value` tree.
#[derive(Debug, Clone)]
pub struct Reply {
    pub id: Option<RequestId>,
    pub outcome: Result<JsonText, ErrorData>,
    /// The HTTP status this reply calls for when it is the only one in the response:
    /// 200 for results and in-band errors; 400/404 where the transport spec says so.
    pub status: u16,
}

impl Reply {
    pub fn result(id: RequestId, result: Value) -> Self {
        match JsonText::of(&result) {
            Ok(text) => Self::raw_result(id, text),
            Err(e) => Self::error(
                Some(id),
                ErrorData::internal_error(format!("could not encode the result: {e}"), None),
                200,
            ),
        }
    }

    /// A result already written as JSON text.
    pub fn raw_result(id: RequestId, result: JsonText) -> Self {
        Reply {
            id: Some(id),
            outcome: Ok(result),
            status: 200,
        }
    }

    pub fn error(id: Option<RequestId>, error: ErrorData, status: u16) -> Self {
        Reply {
            id,
            outcome: Err(error),
            status,
        }
    }

    /// The JSON-RPC error code, if this is an error.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.outcome.as_ref().err().map(|e| e.code)
    }

    /// The framed JSON-RPC response as a value, for tests.
    #[cfg(test)]
    pub fn to_json(&self, modern: bool) -> Value {
        serde_json::from_str(&self.clone().into_text(modern)).unwrap_or_else(|_| fallback_internal_error())
    }

    /// The framed JSON-RPC response as text: a result is spliced in as it is. An error without
    /// an id carries `"id": null` for the handshake revisions (JSON-RPC 2.0) and no `id` member for
    /// modern ones (2026-07-28 schema).
    pub fn into_text(self, modern: bool) -> String {
        match (self.outcome, self.id) {
            (Ok(result), Some(id)) => {
                let id = serde_json::to_string(&id).unwrap_or_else(|_| "null".to_owned());
                let result = result.as_str();
                let mut text = String::with_capacity(result.len() + id.len() + 40);
                text.push_str(r#"{"jsonrpc":"2.0","id":"#);
                text.push_str(&id);
                text.push_str(r#","result":"#);
                text.push_str(result);
                text.push('}');
                text
            }
            // Never built: results always answer a request with an id.
            (Ok(_), None) => error_text(
                None,
                ErrorData::internal_error("result without a request id", None),
                modern,
            ),
            (Err(error), id) => error_text(id, error, modern),
        }
    }
}

fn error_text(id: Option<RequestId>, error: ErrorData, modern: bool) -> String {
    let no_id = id.is_none();
    let mut framed = serde_json::to_value(JsonRpcError::new(id, error)).unwrap_or_else(|_| fallback_internal_error());
    if no_id && !modern {
        if let Value::Object(map) = &mut framed {
            map.insert("id".to_owned(), Value::Null);
        }
    }
    framed.to_string()
}

/// Replies framed as one JSON text: the reply itself, or a batch array.
pub fn frame(replies: Vec<Reply>, in_batch: bool, modern: bool) -> String {
    let texts: Vec<String> = replies.into_iter().map(|r| r.into_text(modern)).collect();
    if in_batch {
        format!("[{}]", texts.join(","))
    } else {
        texts.into_iter().next().unwrap_or_default()
    }
}

fn fallback_internal_error() -> Value {
    let mut error = Map::new();
    error.insert("code".into(), Value::from(ErrorCode::INTERNAL_ERROR.0));
    error.insert("message".into(), Value::from("Internal error"));
    let mut map = Map::new();
    map.insert("jsonrpc".into(), Value::from("2.0"));
    map.insert("error".into(), Value::Object(error));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;
    use serde_json::json;

    fn one(v: Value) -> Incoming {
        classify(v)
    }

    #[test]
    fn non_json_is_a_parse_error() {
        let err = parse_body(b"{not json").unwrap_err();
        assert_eq!(err.code, ErrorCode::PARSE_ERROR);
        assert_eq!(parse_body(b"").unwrap_err().code, ErrorCode::PARSE_ERROR);
    }

    #[test]
    fn empty_batch_is_an_invalid_request() {
        assert_eq!(parse_body(b"[]").unwrap_err().code, ErrorCode::INVALID_REQUEST);
    }

    #[test]
    fn batch_items_are_classified_separately() {
        let body = parse_body(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, 5]"#).unwrap();
        let Body::Batch(items) = body else {
            panic!("not a batch")
        };
        assert!(matches!(items[0], Incoming::Request { .. }));
        assert!(matches!(items[1], Incoming::Invalid { id: None, .. }));
    }

    #[test]
    fn requests_notifications_and_replies() {
        assert_eq!(
            one(json!({"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"x"}})),
            Incoming::Request {
                id: NumberOrString::String("a".into()),
                method: "tools/list".into(),
                params: Some(json!({"cursor":"x"})),
            }
        );
        assert_eq!(
            one(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Incoming::Notification {
                method: "notifications/initialized".into()
            }
        );
        assert_eq!(one(json!({"jsonrpc":"2.0","id":3,"result":{}})), Incoming::ClientReply);
        assert_eq!(
            one(json!({"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}})),
            Incoming::ClientReply
        );
    }

    #[test]
    fn malformed_messages_are_invalid_and_keep_a_readable_id() {
        let cases = [
            (json!({"id":1,"method":"ping"}), Some(1)),
            (json!({"jsonrpc":"1.0","id":1,"method":"ping"}), Some(1)),
            (json!({"jsonrpc":"2.0","id":1,"method":7}), Some(1)),
            (json!({"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}), Some(1)),
            (json!({"jsonrpc":"2.0","id":null,"method":"ping"}), None),
            (json!({"jsonrpc":"2.0","id":true,"method":"ping"}), None),
            (json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}), None),
            (json!({"jsonrpc":"2.0","id":1,"result":{},"error":{}}), Some(1)),
            (json!({"jsonrpc":"2.0","id":1}), Some(1)),
            (json!({"jsonrpc":"2.0","id":1,"method":"ping","result":{}}), Some(1)),
            (json!("ping"), None),
        ];
        for (value, id) in cases {
            match one(value.clone()) {
                Incoming::Invalid { id: got, .. } => {
                    assert_eq!(got, id.map(NumberOrString::Number), "{value}")
                }
                other => panic!("{value} classified as {other:?}"),
            }
        }
    }

    #[test]
    fn replies_frame_results_and_errors() {
        let ok = Reply::result(NumberOrString::Number(7), json!({"a":1}));
        assert_eq!(ok.to_json(false), json!({"jsonrpc":"2.0","id":7,"result":{"a":1}}));
        let err = Reply::error(
            Some(NumberOrString::String("x".into())),
            ErrorData::invalid_params("bad", None),
            200,
        );
        assert_eq!(
            err.to_json(true),
            json!({"jsonrpc":"2.0","id":"x","error":{"code":-32602,"message":"bad"}})
        );
    }

    #[test]
    fn id_less_errors_carry_null_id_only_for_handshake_revisions() {
        let err = Reply::error(None, ErrorData::parse_error("Parse error", None), 400);
        assert_eq!(err.to_json(false)["id"], Value::Null);
        assert!(err.to_json(false).as_object().unwrap().contains_key("id"));
        assert!(!err.to_json(true).as_object().unwrap().contains_key("id"));
    }
}
