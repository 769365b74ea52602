//! The harness: a fake cybozu.com, a user signed in through its real OAuth flow, and
//! `platform::HttpClient` over reqwest, so the crate's code runs exactly as in the component.

use fake_cybozu::{FakeConfig, FakeCybozu, LoggedRequest};
use kintone::{call_tool, list_tools, CallError, Connection, ToolConfig, ToolResult};
use platform::{HttpClient, OutboundError};
use serde_json::Value;

pub const ALL_SCOPES: &str =
    "k:app_record:read k:app_record:write k:app_settings:read k:app_settings:write k:file:read k:file:write";
const REDIRECT: &str = "http://127.0.0.1:3000/callback";

/// Outbound HTTP through reqwest: no redirects, buffered bodies.
pub struct Reqwest(reqwest::Client);

impl HttpClient for Reqwest {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, OutboundError> {
        let (parts, body) = request.into_parts();
        let host = parts.uri.host().unwrap_or_default().to_string();
        let unreachable = |e: reqwest::Error| OutboundError::Unreachable {
            host: host.clone(),
            reason: e.to_string(),
        };
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
            .map_err(|e| OutboundError::Invalid(e.to_string()))?;
        let mut builder = self.0.request(method, parts.uri.to_string()).body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let response = builder.send().await.map_err(unreachable)?;
        let mut out = http::Response::builder().status(response.status().as_u16());
        for (name, value) in response.headers() {
            out = out.header(name.as_str(), value.as_bytes());
        }
        let bytes = response.bytes().await.map_err(unreachable)?;
        out.body(bytes.to_vec())
            .map_err(|e| OutboundError::Invalid(e.to_string()))
    }
}

pub struct Env {
    pub fake: FakeCybozu,
    pub http: Reqwest,
    pub conn: Connection,
    pub config: ToolConfig,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_as("alice", ALL_SCOPES).await
    }

    pub async fn start_as(user: &str, scopes: &str) -> Env {
        let fake = FakeCybozu::start(FakeConfig::default()).await.unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = sign_in(&fake, &client, user, scopes).await;
        let conn = Connection {
            base_url: fake.base_url(),
            access_token: token,
        };
        Env {
            fake,
            http: Reqwest(client),
            conn,
            config: ToolConfig::default(),
        }
    }

    pub async fn call(&self, name: &str, args: Value) -> Result<ToolResult, CallError> {
        let result = call_tool(&self.http, &self.conn, &self.config, name, &args.to_string()).await;
        // No answer, error or not, may ever carry the user's token.
        let shown = format!("{result:?}");
        assert!(
            !shown.contains(&self.conn.access_token),
            "{name} leaked the access token"
        );
        result
    }

    /// A successful call whose structured content matches the tool's output schema.
    pub async fn ok(&self, name: &str, args: Value) -> ToolResult {
        let result = self.call(name, args).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!result.is_error, "{name} failed: {}", result.text());
        check_output(name, &result);
        result
    }

    /// A call that ends in a tool error; returns its text.
    pub async fn tool_error(&self, name: &str, args: Value) -> String {
        let result = self.call(name, args).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(result.is_error, "{name} unexpectedly succeeded: {}", result.text());
        assert!(result.structured.is_none());
        result.text()
    }

    /// The structured content of a successful call.
    pub async fn data(&self, name: &str, args: Value) -> Value {
        self.ok(name, args).await.structured.unwrap()
    }

    pub fn records(&self, app: u64) -> Vec<Value> {
        self.fake.records(app).unwrap()
    }

    /// The kintone requests (not OAuth) since the last clear.
    pub fn kintone_requests(&self) -> Vec<LoggedRequest> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/k/"))
            .collect()
    }
}

/// The authorization-code flow against the fake, with the user approving at once.
async fn sign_in(fake: &FakeCybozu, client: &reqwest::Client, user: &str, scopes: &str) -> String {
    fake.set_approving_user(Some(user)).unwrap();
    let base = fake.base_url();
    let response = client
        .get(format!("{base}/oauth2/authorization"))
        .query(&[
            ("client_id", "kintone-mcp-test"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", scopes),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("an authorization code");
    let response = client
        .post(format!("{base}/oauth2/token"))
        .basic_auth("kintone-mcp-test", Some("test-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    fake.clear_requests();
    body["access_token"].as_str().unwrap().to_string()
}

pub fn check_output(name: &str, result: &ToolResult) {
    let spec = list_tools(&ToolConfig::default()).find(|t| t.name == name).unwrap();
    if let Some(schema) = spec.output_schema {
        let schema: Value = serde_json::from_str(schema).unwrap();
        let structured = result
            .structured
            .as_ref()
            .unwrap_or_else(|| panic!("{name} returned no structured content"));
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(structured)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} structured content breaks its output schema: {errors:?}"
        );
        // The text block carries the same JSON for clients that ignore structuredContent.
        let first = match &result.content[0] {
            kintone::Content::Text(t) => t,
            other => panic!("{name}: first content is {other:?}"),
        };
        if name != "downloadFile" {
            assert_eq!(&serde_json::from_str::<Value>(first).unwrap(), structured);
        }
    }
}

/// The value of a field in a record as the fake stores it.
pub fn field<'a>(record: &'a Value, code: &str) -> &'a Value {
    &record[code]["value"]
}

pub fn record_by_id(records: &[Value], id: u64) -> Value {
    records
        .iter()
        .find(|r| r["$id"]["value"].as_str() == Some(id.to_string().as_str()))
        .cloned()
        .unwrap_or(Value::Null)
}
