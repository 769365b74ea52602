//! The wiring, end to end: every component answers through the host, variables reach them, and
//! `mcp-endpoint` reaches `kintone-tools` through the composed WIT import.

use e2e::{App, Options};
use serde_json::Value;

#[tokio::test]
async fn metadata_issuer_is_the_request_origin_when_public_url_is_unset() {
    let app = App::start().await.unwrap();
    let response = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base_url.as_str());
    assert_eq!(doc["token_endpoint"], format!("{}/token", app.base_url));
}

#[tokio::test]
async fn metadata_issuer_is_public_url_when_set() {
    let options = Options {
        variables: vec![("public_url".into(), "https://mcp.example.com".into())],
        ..Options::default()
    };
    let app = App::start_with(options).await.unwrap();
    let doc: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://mcp.example.com");
    assert_eq!(doc["authorization_endpoint"], "https://mcp.example.com/authorize");
}

#[tokio::test]
async fn unauthenticated_mcp_request_gets_a_bearer_challenge() {
    let app = App::start().await.unwrap();
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            app.base_url
        )),
        "{challenge}"
    );
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = App::start().await.unwrap();
    let response = reqwest::get(app.url("/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn mcp_endpoint_lists_the_tools_of_kintone_tools_through_the_wit_import() {
    let app = App::start().await.unwrap();
    let tokens = e2e::signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let response = reqwest::Client::new()
        .post(app.url("/mcp"))
        .header("authorization", tokens.bearer())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    let tools = reply["result"]["tools"].as_array().expect("a tools array");
    let get_records = tools
        .iter()
        .find(|t| t["name"] == "getRecords")
        .expect("getRecords is listed");
    assert!(
        get_records["inputSchema"]["properties"]["appId"].is_object(),
        "{get_records}"
    );
    assert_eq!(get_records["annotations"]["readOnlyHint"], true);
    // The listing came from the composed component, not from kintone: no kintone call was made.
    let fake = app.fake.as_ref().unwrap();
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
        "tools/list must not call kintone"
    );
}

/// A token granted only read scopes may read, but a writing tool gets 403 `insufficient_scope`
/// naming the missing kintone scope, and nothing reaches kintone.
#[tokio::test]
async fn a_tool_needing_an_ungranted_scope_gets_403_insufficient_scope() {
    let app = App::start().await.unwrap();
    let mut flow = e2e::signin::Flow::new(&app, "/mcp").await.unwrap();
    flow.scope = Some("k:app_record:read".into());
    let code = flow.code_for("alice").await.unwrap();
    let tokens = flow.exchange(&code).await.unwrap();
    assert_eq!(tokens.scope, "k:app_record:read");
    let call = |name: &str, args: &str| {
        reqwest::Client::new()
            .post(app.url("/mcp"))
            .header("authorization", tokens.bearer())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}","arguments":{args}}}}}"#
            ))
            .send()
    };
    let read = call("getRecords", r#"{"appId":1}"#).await.unwrap();
    assert_eq!(read.status(), 200);
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    let write = call("addRecord", r#"{"appId":1,"record":{}}"#).await.unwrap();
    assert_eq!(write.status(), 403);
    let challenge = write.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"k:app_record:write\""),
        "{challenge}"
    );
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/k/")),
        "nothing may reach kintone"
    );
}

/// A response whose body is known goes out with `content-length`, not chunked: on real Spin a
/// head handed over before its body became a TCP segment of its own, and Nagle's algorithm then
/// held the body for the client's delayed ACK (40 ms on every other keep-alive request). The
/// app's own outbound requests with a body (the Cybozu token exchange, kintone writes) declare
/// their length too: some proxies and WAFs refuse chunked requests.
#[tokio::test]
async fn known_bodies_travel_with_content_length_both_ways() {
    use e2e::clients::raw::Endpoint;
    let app = App::start().await.unwrap();
    let fake = app.fake.as_ref().unwrap();
    fake.clear_requests();
    let tokens = e2e::signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let endpoint = Endpoint::new(app.url("/mcp"), Some(tokens.bearer()));
    // A kintone write (its answer does not matter here: the request is what is checked).
    endpoint
        .call_tool("addRecord", serde_json::json!({"appId": 1, "record": {}}))
        .await
        .unwrap();

    let outbound: Vec<_> = fake.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert!(
        outbound.iter().any(|r| r.path == "/oauth2/token"),
        "the token exchange is logged: {outbound:?}"
    );
    assert!(
        outbound.iter().any(|r| r.path.starts_with("/k/")),
        "the kintone write is logged: {outbound:?}"
    );
    for r in &outbound {
        assert!(!r.chunked, "{} {} went out chunked", r.method, r.path);
        let length = r.content_length.as_deref().and_then(|l| l.parse::<usize>().ok());
        assert!(
            length.is_some_and(|l| l > 0),
            "{} {} has no content-length: {:?}",
            r.method,
            r.path,
            r.content_length
        );
    }

    let http = reqwest::Client::new();
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let requests = [
        ("metadata", http.get(app.url("/.well-known/oauth-authorization-server"))),
        (
            "401 without a token",
            http.post(app.url("/mcp"))
                .header("content-type", "application/json")
                .body(list),
        ),
        (
            "tools/list",
            endpoint.post().header("mcp-method", "tools/list").body(list),
        ),
        (
            "refused refresh",
            http.post(app.url("/token")).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_id", "nobody"),
            ]),
        ),
        ("consent page error", http.get(app.url("/authorize"))),
    ];
    for (what, request) in requests {
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        assert!(headers.get("transfer-encoding").is_none(), "{what}: chunked");
        let length = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        assert_eq!(
            length,
            Some(body.len()),
            "{what}: content-length must state the body's length"
        );
    }
}

/// The same stall, seen from the wire: on a kept-alive connection, a response whose body is known
/// reaches the client in the same write as its head, so the client's first read after its request
/// holds the whole response. A head handed over before its body leaves in a write of its own
/// (the test host does then what Spin's server does when its connection task runs first, see
/// `tests/host/src/hand_over.rs`), the first read returns the head alone, and the body would
/// wait for the delayed ACK. Not timed: a correct server writes each response in one piece, so
/// the check never fails for it; a late body fails it whenever the client reads as soon as the
/// head arrives, as it does here.
#[tokio::test]
async fn known_bodies_leave_with_their_head_on_a_kept_alive_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = App::start().await.unwrap();
    let tokens = e2e::signin::sign_in(&app, "alice", "/mcp").await.unwrap();
    let url = url::Url::parse(&app.url("/")).unwrap();
    let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let json = |id: u32, method: &str, params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
    };
    let post = |path: &str, auth: Option<&str>, content_type: &str, body: String| {
        let auth = auth.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
        format!(
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\n{auth}content-type: {content_type}\r\n\
             accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let bearer = tokens.bearer();
    let requests = [
        (
            "metadata",
            format!("GET /.well-known/oauth-authorization-server HTTP/1.1\r\nhost: {authority}\r\n\r\n"),
        ),
        (
            "401 without a token",
            post("/mcp", None, "application/json", json(1, "ping", "{}")),
        ),
        (
            "refused refresh",
            post(
                "/token",
                None,
                "application/x-www-form-urlencoded",
                "grant_type=refresh_token&refresh_token=nope&client_id=nobody".into(),
            ),
        ),
        (
            "ping",
            post("/mcp", Some(&bearer), "application/json", json(2, "ping", "{}")),
        ),
        (
            "getRecord",
            post(
                "/mcp",
                Some(&bearer),
                "application/json",
                json(
                    3,
                    "tools/call",
                    r#"{"name":"getRecord","arguments":{"appId":1,"recordId":1}}"#,
                ),
            ),
        ),
    ];

    let mut connection = tokio::net::TcpStream::connect(&authority).await.unwrap();
    connection.set_nodelay(true).unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    for round in 0..5 {
        for (what, request) in &requests {
            connection.write_all(request.as_bytes()).await.unwrap();
            let read = connection.read(&mut buffer).await.unwrap();
            let first = &buffer[..read];
            let head_end = first
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or_else(|| panic!("{what}: the head arrived in pieces"))
                + 4;
            let head = String::from_utf8_lossy(&first[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{what}: no content-length in {head}"));
            assert!(length > 0, "{what}: a body is expected");
            assert_eq!(
                read - head_end,
                length,
                "{what} (round {round}): the first read held {} of the body's {length} bytes; the rest \
                 left in a later write",
                read - head_end
            );
            assert!(
                !head.contains("connection: close"),
                "{what}: the connection must stay open"
            );
        }
    }
}
