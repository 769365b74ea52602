//! A recording HttpClient for unit tests: answers with a closure, remembers every request.

use std::cell::RefCell;

use platform::{HttpClient, OutboundError};
use serde_json::Value;

pub(crate) struct Sent {
    pub method: String,
    /// Method after `X-HTTP-Method-Override`.
    pub effective_method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Sent {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Parameters from the query string or the JSON body, as `key → value` text pairs.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }
}

type Answer = Result<http::Response<Vec<u8>>, OutboundError>;

pub(crate) struct Recorder {
    pub sent: RefCell<Vec<Sent>>,
    answer: Box<dyn Fn(&Sent) -> Answer>,
}

impl Recorder {
    pub(crate) fn new(answer: impl Fn(&Sent) -> Answer + 'static) -> Self {
        Recorder {
            sent: RefCell::new(Vec::new()),
            answer: Box::new(answer),
        }
    }

    /// Answers every request with this status and JSON body.
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Recorder::new(move |_| Ok(response(status, &body)))
    }

    pub(crate) fn count(&self) -> usize {
        self.sent.borrow().len()
    }
}

pub(crate) fn response(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

impl HttpClient for Recorder {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Answer {
        let (parts, body) = request.into_parts();
        let effective_method = parts
            .headers
            .get("x-http-method-override")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| parts.method.to_string());
        let sent = Sent {
            method: parts.method.to_string(),
            effective_method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
        };
        let answer = (self.answer)(&sent);
        self.sent.borrow_mut().push(sent);
        answer
    }
}
