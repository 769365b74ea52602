//! Property tests: every tool, called with arguments of any shape (the schema's own property
//! names with odd values, kintone query text full of operators and quotes, non-objects, broken
//! JSON) and answered by kintone with any status and body, returns a result or a typed error —
//! never a panic. Arguments that are not a JSON object never reach kintone.

use kintone::{call_tool, list_tools, CallError, Connection, ToolConfig};
use platform::{HttpClient, OutboundError};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};
use std::cell::RefCell;

/// Answers every request with one canned response and records the requests.
struct CannedKintone {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    sent: RefCell<Vec<String>>,
}

impl HttpClient for CannedKintone {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        self.sent.borrow_mut().push(request.uri().to_string());
        if self.status == 0 {
            return Err(OutboundError::Unreachable {
                host: "kintone".into(),
                reason: "dropped".into(),
            });
        }
        Ok(http::Response::builder()
            .status(self.status)
            .header("content-type", self.content_type)
            .body(self.body.clone())
            .unwrap())
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        kintone_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![Just("value".to_owned()), Just("type".to_owned()), "[a-zA-Z_]{0,8}"],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings that stress ids, field codes and kintone queries.
fn kintone_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,20}",
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        "[a-zA-Z0-9_ =<>!\"'()\\\\,]{0,40}",
        "(status|ランク|\\$id) (=|!=|in|not in|like|>=) (\"[^\"]{0,6}\"|\\(\"a\", \"b\"\\)|[0-9]{1,4})( (and|or) )?( order by \\$id (asc|desc))?( limit [0-9]{1,6})?( offset [0-9]{1,6})?",
        ".{0,30}",
    ]
}

/// The tools and, for each, the names of its schema's properties.
fn tools() -> Vec<(&'static str, Vec<String>)> {
    let config = ToolConfig::from_variables(None, None, None).unwrap();
    list_tools(&config)
        .map(|t| {
            let schema: serde_json::Value = serde_json::from_str(t.input_schema).unwrap();
            let names = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (t.name, names)
        })
        .collect()
}

/// A tool name and its arguments as text: mostly objects over the schema's property names.
fn call() -> impl Strategy<Value = (&'static str, String)> {
    prop::sample::select(tools()).prop_flat_map(|(name, properties)| {
        let value = prop_oneof![3 => kintone_text().prop_map(Value::String), 2 => any_json(), 1 => any::<u32>().prop_map(Value::from)];
        let object = if properties.is_empty() {
            Just(json!({})).boxed()
        } else {
            prop::collection::btree_map(prop::sample::select(properties), value, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())).boxed()
        };
        let text = prop_oneof![
            6 => object.prop_map(|v| v.to_string()),
            1 => any_json().prop_map(|v| v.to_string()),
            1 => ".{0,40}",
        ];
        (Just(name), text)
    })
}

fn kintone_answer() -> impl Strategy<Value = (u16, Vec<u8>, &'static str)> {
    let status = prop::sample::select(vec![0u16, 200, 200, 200, 400, 401, 403, 404, 409, 429, 500, 502, 503]);
    let body = prop_oneof![
        Just(b"{}".to_vec()),
        Just(br#"{"records":[],"totalCount":"0"}"#.to_vec()),
        Just(br#"{"code":"GAIA_IL23","id":"x","message":"bad"}"#.to_vec()),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let content_type = prop::sample::select(vec![
        "application/json; charset=utf-8",
        "text/html",
        "application/octet-stream",
    ]);
    (status, body, content_type)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn any_arguments_and_any_answer_give_a_result_or_a_typed_error((name, arguments) in call(), (status, body, content_type) in kintone_answer()) {
        let config = ToolConfig::from_variables(None, None, None).unwrap();
        let conn = Connection { base_url: "https://example.cybozu.com".into(), access_token: "token".into() };
        let http = CannedKintone { status, body, content_type, sent: RefCell::new(Vec::new()) };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let outcome = runtime.block_on(call_tool(&http, &conn, &config, name, &arguments));
        // Empty arguments text means "no arguments" ({}), as MCP clients may omit them.
        let is_object = arguments.trim().is_empty() || serde_json::from_str::<Value>(&arguments).is_ok_and(|v| v.is_object());
        if !is_object {
            prop_assert!(http.sent.borrow().is_empty(), "{} with {:?} reached kintone", name, arguments);
            prop_assert!(matches!(&outcome, Ok(r) if r.is_error), "{:?}", outcome);
        }
        match outcome {
            Ok(result) => prop_assert!(!result.content.is_empty() || result.structured.is_some(), "empty result from {}", name),
            Err(CallError::UnknownTool(t)) => prop_assert!(false, "{} became unknown", t),
            Err(CallError::Unauthorized(_)) => prop_assert_eq!(status, 401, "unauthorized without a 401"),
            Err(CallError::Unavailable(_)) => {}
        }
        // Every request went to the connection's origin.
        for uri in http.sent.borrow().iter() {
            prop_assert!(uri.starts_with("https://example.cybozu.com/k/"), "request to {}", uri);
        }
    }
}
