//! Bad input at the MCP endpoint gets the precise error and changes nothing: every malformed
//! request below carries (or is built around) an `addRecord` that would write to kintone if it
//! were run, and afterwards the fake cybozu.com has seen no kintone call and app 1 is as seeded.

use e2e::clients::legacy_sse::Session;
use e2e::clients::raw::{self, Endpoint, Reply};
use e2e::signin::sign_in;
use e2e::App;
use serde_json::{json, Value};

/// A write that must never happen.
fn add_record(id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "addRecord", "arguments": {"appId": "1", "record": {"会社名": {"value": "Injected Ltd"}}}}})
}

fn assert_jsonrpc_error(reply: &Reply, status: u16, code: i64, what: &str) {
    assert_eq!(reply.status, status, "{what}: HTTP {} {}", reply.status, reply.text);
    assert_eq!(reply.error_code(), Some(code), "{what}: {}", reply.text);
    assert_eq!(reply.json["jsonrpc"], "2.0", "{what}: {}", reply.text);
    assert!(
        reply.json.get("result").is_none(),
        "{what}: an error with a result: {}",
        reply.text
    );
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: an error without a message");
}

struct Fixture {
    app: App,
    mcp: Endpoint,
    seeded: Vec<Value>,
}

impl Fixture {
    async fn start() -> Fixture {
        let app = App::start().await.unwrap();
        let tokens = sign_in(&app, "alice", "/mcp").await.unwrap();
        let mcp = Endpoint::new(app.url("/mcp"), Some(tokens.bearer()));
        let seeded = app.fake.as_ref().unwrap().records(1).unwrap();
        Fixture { app, mcp, seeded }
    }

    /// Nothing reached kintone and app 1 still holds its seed records.
    fn assert_nothing_changed(&self, what: &str) {
        let fake = self.app.fake.as_ref().unwrap();
        let calls: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/k/"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(calls.is_empty(), "{what}: kintone was called: {calls:?}");
        assert_eq!(fake.records(1).unwrap(), self.seeded, "{what}: app 1 changed");
    }
}

#[tokio::test]
async fn malformed_json_rpc_gets_parse_invalid_request_and_method_errors() {
    let f = Fixture::start().await;

    let cut = serde_json::to_string(&add_record(json!(1))).unwrap();
    let reply = f.mcp.post_body(cut[..cut.len() - 3].to_owned()).await.unwrap();
    assert_jsonrpc_error(&reply, 400, -32700, "truncated JSON");
    assert_eq!(reply.json["id"], Value::Null, "a parse error has a null id");

    let reply = f.mcp.post_body("\u{feff}not json at all").await.unwrap();
    assert_jsonrpc_error(&reply, 400, -32700, "not JSON");

    let mut wrong_version = add_record(json!(2));
    wrong_version["jsonrpc"] = json!("1.0");
    let shapes: Vec<(&str, Value)> = vec![
        ("jsonrpc 1.0", wrong_version),
        ("a JSON string", json!("tools/call")),
        ("a number", json!(42)),
        ("null id", {
            let mut m = add_record(json!(null));
            m["id"] = Value::Null;
            m
        }),
        ("object id", add_record(json!({"n": 1}))),
        ("fractional id", add_record(json!(1.5))),
        (
            "method not a string",
            json!({"jsonrpc": "2.0", "id": 3, "method": ["tools/call"]}),
        ),
        (
            "positional params",
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": ["addRecord", {"appId": "1"}]}),
        ),
        ("request with a result", {
            let mut m = add_record(json!(5));
            m["result"] = json!({});
            m
        }),
        ("neither request nor response", json!({"jsonrpc": "2.0", "id": 6})),
        ("empty batch", json!([])),
    ];
    for (what, body) in shapes {
        let reply = f.mcp.post_body(serde_json::to_vec(&body).unwrap()).await.unwrap();
        assert_jsonrpc_error(&reply, 400, -32600, what);
    }

    // Batches exist only in 2025-03-26; a 2025-11-25 client may not send one.
    let batch = serde_json::to_vec(&json!([add_record(json!(7)), add_record(json!(8))])).unwrap();
    let reply = f.mcp.post_body(batch).await.unwrap();
    assert_jsonrpc_error(&reply, 400, -32600, "a batch in 2025-11-25");

    let reply = f
        .mcp
        .call_raw(json!(9), "records/delete_everything", json!({}))
        .await
        .unwrap();
    assert_jsonrpc_error(&reply, 200, -32601, "unknown method");
    assert_eq!(reply.json["id"], 9);

    let reply = f
        .mcp
        .call_raw(
            json!(10),
            "tools/call",
            json!({"name": "dropDatabase", "arguments": {}}),
        )
        .await
        .unwrap();
    assert_jsonrpc_error(&reply, 200, -32602, "unknown tool");
    let reply = f
        .mcp
        .call_raw(json!(11), "tools/call", json!({"arguments": {"appId": "1"}}))
        .await
        .unwrap();
    assert_jsonrpc_error(&reply, 200, -32602, "tools/call without a name");
    let reply = f
        .mcp
        .call_raw(json!(12), "tools/list", json!({"cursor": "not-a-cursor"}))
        .await
        .unwrap();
    assert_jsonrpc_error(&reply, 200, -32602, "invalid cursor");

    // Arguments the tool refuses are a tool error for the model (SEP-1303), not a protocol
    // error, and still reach nothing.
    let reply = f
        .mcp
        .call_raw(
            json!(13),
            "tools/call",
            json!({"name": "addRecord", "arguments": {"appId": "0", "record": {}}}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
    assert!(
        reply.json["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("appId"),
        "names the bad argument: {}",
        reply.text
    );

    // A notification or a client response is accepted with 202 and no body.
    let note = f
        .mcp
        .post_body(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#)
        .await
        .unwrap();
    assert_eq!((note.status, note.text.as_str()), (202, ""));

    f.assert_nothing_changed("malformed JSON-RPC");
}

/// JSON nested as deep as serde_json allows (127 levels) is parsed by the endpoint, written out
/// again for kintone-tools and parsed there; one level more is a parse error. Either way the
/// client gets an answer, never a trapped instance: this is the deepest recursion the
/// components do, and they run on a 128 KiB stack (`.cargo/config.toml`).
#[tokio::test]
async fn json_nested_to_the_parsers_limit_is_answered_not_trapped() {
    let f = Fixture::start().await;
    // The message, `params` and `arguments` are three levels; `id` nests the rest.
    let get_record = |arrays: usize| {
        let id = format!("{}1{}", "[".repeat(arrays), "]".repeat(arrays));
        format!(
            r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"getRecord","arguments":{{"appId":"1","id":{id}}}}}}}"#
        )
    };

    let reply = f.mcp.post_body(get_record(124)).await.unwrap();
    assert_eq!(reply.status, 200, "127 levels: {}", reply.text);
    assert_eq!(reply.json["result"]["isError"], true, "127 levels: {}", reply.text);
    // kintone-tools parsed the arguments and refused `id` for its type.
    let text = reply.json["result"]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Invalid arguments for getRecord: id: must be a positive integer id"),
        "{text}"
    );

    let reply = f.mcp.post_body(get_record(125)).await.unwrap();
    assert_jsonrpc_error(&reply, 400, -32700, "128 levels");

    f.assert_nothing_changed("deeply nested JSON");
}

/// One POST /mcp over a bare TCP connection: the request line, our headers plus `extra`,
/// then `body` (write errors ignored: the server may answer and close before reading it all);
/// returns the response head.
async fn raw_exchange(f: &Fixture, extra: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = f.app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nAuthorization: {}\r\nContent-Type: application/json\r\n\
         Accept: {}\r\nConnection: close\r\n{extra}\r\n",
        f.mcp.authorization.as_deref().unwrap(),
        raw::ACCEPT_BOTH
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&body).await;
        write
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") && std::time::Instant::now() < deadline {
        match tokio::time::timeout(std::time::Duration::from_secs(30), read.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => answer.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn transport_refusals_size_type_accept_version_origin_host_method() {
    let f = Fixture::start().await;
    let body = serde_json::to_vec(&add_record(json!(1))).unwrap();

    // 8 MiB is the limit. A declared larger body is refused from its Content-Length, before a
    // byte of it is read (so this client sends none: an HTTP client still writing would see
    // the server close on it rather than the answer).
    let head = raw_exchange(&f, &format!("Content-Length: {}\r\n", 8 * 1024 * 1024 + 1), b"").await;
    assert!(head.starts_with("HTTP/1.1 413"), "declared oversized body: {head}");
    assert!(
        head.to_ascii_lowercase().contains("access-control-allow-origin: *"),
        "a 413 browsers cannot read: {head}"
    );
    // Without a Content-Length the body is read up to the limit and refused there.
    let chunk = "x".repeat(1024 * 1024);
    let mut chunked = Vec::new();
    for _ in 0..9 {
        chunked.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).into_bytes());
    }
    chunked.extend(b"0\r\n\r\n");
    let head = raw_exchange(&f, "Transfer-Encoding: chunked\r\n", &chunked).await;
    assert!(head.starts_with("HTTP/1.1 413"), "streamed oversized body: {head}");

    let reply = raw::send(f.mcp.post_with(&[("content-type", "text/plain")]).body(body.clone()))
        .await
        .unwrap();
    assert_jsonrpc_error(&reply, 415, -32600, "text/plain body");
    let reply = raw::send(
        f.mcp
            .post_with(&[("content-type", "application/x-www-form-urlencoded")])
            .body("a=1"),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 415, "form body: {}", reply.text);

    let reply = raw::send(f.mcp.post_with(&[("accept", "text/html")]).body(body.clone()))
        .await
        .unwrap();
    assert_eq!(reply.status, 406, "Accept: text/html: {}", reply.text);

    for version in ["2099-01-01", "2025-13-45", "latest"] {
        let reply = raw::send(f.mcp.post_with(&[("mcp-protocol-version", version)]).body(body.clone()))
            .await
            .unwrap();
        assert_eq!(reply.status, 400, "MCP-Protocol-Version {version}: {}", reply.text);
        let supported = reply.json["error"]["data"]["supported"]
            .as_array()
            .unwrap_or_else(|| panic!("no supported list: {}", reply.text));
        assert!(supported.contains(&json!("2025-11-25")), "{}", reply.text);
    }

    for origin in ["https://evil.example.com", "null", "http://127.0.0.1.evil.example.com"] {
        let reply = raw::send(f.mcp.post().header("origin", origin).body(body.clone()))
            .await
            .unwrap();
        assert_eq!(reply.status, 403, "Origin {origin}: {}", reply.text);
    }
    let reply = raw::send(f.mcp.post().header("host", "evil.example.com").body(body.clone()))
        .await
        .unwrap();
    assert_eq!(reply.status, 403, "Host evil.example.com: {}", reply.text);
    // The server's own loopback origin is a browser client it serves.
    let own = raw::send(
        f.mcp
            .post()
            .header("origin", f.app.base_url.as_str())
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    )
    .await
    .unwrap();
    assert_eq!(own.status, 200, "own origin: {}", own.text);

    for method in [reqwest::Method::GET, reqwest::Method::DELETE, reqwest::Method::PUT] {
        let request = f
            .mcp
            .http
            .request(method.clone(), f.mcp.url.as_str())
            .header("authorization", f.mcp.authorization.clone().unwrap());
        let reply = raw::send(request.header("accept", "text/event-stream")).await.unwrap();
        assert_eq!(reply.status, 405, "{method} /mcp: {}", reply.text);
        assert!(
            reply.header("allow").is_some_and(|a| a.contains("POST")),
            "{method} /mcp: no Allow header"
        );
    }

    // A session id the stateless endpoint never issued is tolerated, not an error.
    let reply = raw::send(
        f.mcp
            .post()
            .header("mcp-session-id", "no-such-session")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "unknown Mcp-Session-Id on /mcp: {}", reply.text);

    f.assert_nothing_changed("transport refusals");
}

#[tokio::test]
async fn bad_input_on_the_legacy_message_endpoint() {
    let f = Fixture::start().await;
    let tokens = sign_in(&f.app, "alice", "/sse").await.unwrap();
    let mut session = Session::open(&f.app.url("/sse"), Some(&tokens.bearer())).await.unwrap();
    let url = session.endpoint.to_string();
    let http = session.http.clone();
    let post = |body: &'static str, content_type: &'static str| {
        http.post(url.as_str())
            .header("authorization", tokens.bearer())
            .header("content-type", content_type)
            .body(body)
    };

    let reply = raw::send(post(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"#,
        "application/json",
    ))
    .await
    .unwrap();
    assert_jsonrpc_error(&reply, 400, -32700, "truncated JSON on /sse/message");
    let reply = raw::send(post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, "text/plain"))
        .await
        .unwrap();
    assert_eq!(reply.status, 415, "{}", reply.text);
    // A message whose id can be read is answered like any other: 202, then its -32600 on the
    // stream.
    let reply = raw::send(post(r#"{"id":4,"method":"ping"}"#, "application/json"))
        .await
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text);
    let error = session
        .next_message(std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(4), json!(-32600)),
        "{error}"
    );
    let reply = raw::send(post(
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        "application/json",
    ))
    .await
    .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.text);
    let error = session
        .next_message(std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (Value::Null, json!(-32600)),
        "null id: {error}"
    );
    let reply = raw::send(
        post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, "application/json")
            .header("origin", "https://evil.example.com"),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 403, "{}", reply.text);
    let unknown_session = f.app.url(&format!("/sse/message?sessionId={}", "f".repeat(32)));
    let reply = session.post_to(&unknown_session, &add_record(json!(2))).await.unwrap();
    assert_jsonrpc_error(&reply, 404, -32001, "unknown session");

    // An unknown method is a well-formed request: 202, and its error travels on the stream.
    let accepted = session
        .post(&json!({"jsonrpc": "2.0", "id": 3, "method": "nope"}))
        .await
        .unwrap();
    assert_eq!(accepted.status, 202);
    let error = session
        .next_message(std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(3), json!(-32601)),
        "{error}"
    );

    f.assert_nothing_changed("legacy bad input");
}
