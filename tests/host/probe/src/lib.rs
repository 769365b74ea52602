//! Exercises the host: key-value, variables, outbound HTTP, streaming and a component
//! dependency (`kintone:mcp/kintone-tools`, plugged in by the host). Routes under `/probe/`.

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

spin_sdk::wit_bindgen::generate!({
    world: "tools-consumer",
    path: "../../../wit",
    runtime_path: "::spin_sdk::wit_bindgen::rt",
});

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path_query = req.path_with_query().unwrap_or_default();
    let (path, query) = path_query.split_once('?').unwrap_or((&path_query, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(decode)
    };
    let headers: Vec<String> = req
        .headers()
        .entries()
        .into_iter()
        .filter(|(k, _)| k.starts_with("spin-"))
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(&v)))
        .collect();
    let (status, body) = match path {
        "/probe/stream" => return stream(out).await,
        "/probe/headers" => (200, headers.join("\n")),
        "/probe/kv" => kv(
            param("op").as_deref(),
            param("store").as_deref().unwrap_or("default"),
            param("key"),
            param("value"),
        ),
        "/probe/var" => match spin_sdk::variables::get(&param("name").unwrap_or_default()) {
            Ok(v) => (200, v),
            Err(e) => (404, format!("{e:?}")),
        },
        "/probe/outbound" => outbound(param("url").unwrap_or_default()).await,
        "/probe/dependency" => {
            let names: Vec<String> = kintone::mcp::kintone_tools::list_tools()
                .into_iter()
                .map(|t| t.name)
                .collect();
            (200, names.join(","))
        }
        _ => (404, "no such probe".into()),
    };
    respond(out, status, body.into_bytes()).await;
}

fn kv(op: Option<&str>, label: &str, key: Option<String>, value: Option<String>) -> (u16, String) {
    let store = match spin_sdk::key_value::Store::open(label) {
        Ok(s) => s,
        Err(e) => return (403, format!("open: {e:?}")),
    };
    let key = key.unwrap_or_default();
    let result = match op {
        Some("set") => store
            .set(&key, value.unwrap_or_default().as_bytes())
            .map(|_| "ok".to_owned()),
        Some("get") => store.get(&key).map(|v| {
            v.map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|| "<none>".into())
        }),
        Some("delete") => store.delete(&key).map(|_| "ok".to_owned()),
        Some("keys") => store.get_keys().map(|k| k.join(",")),
        _ => return (400, "op must be set, get, delete or keys".into()),
    };
    match result {
        Ok(s) => (200, s),
        Err(e) => (500, format!("{e:?}")),
    }
}

async fn outbound(url: String) -> (u16, String) {
    let request = spin_sdk::http::Request::get(url);
    match spin_sdk::http::send::<_, spin_sdk::http::Response>(request).await {
        Ok(r) => (
            200,
            format!("upstream {}: {}", r.status(), String::from_utf8_lossy(r.body())),
        ),
        Err(e) => (502, format!("refused: {e}")),
    }
}

/// Five events, 200 ms apart, so a client can see them arrive one by one.
async fn stream(out: ResponseOutparam) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/event-stream".to_vec())]).unwrap();
    let response = OutgoingResponse::new(headers);
    let mut body = response.take_body();
    out.set(response);
    for i in 0..5 {
        if body.send(format!("data: {i}\n\n").into_bytes()).await.is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

async fn respond(out: ResponseOutparam, status: u16, body: Vec<u8>) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())]).unwrap();
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let mut sink = response.take_body();
    out.set(response);
    let _ = sink.send(body).await;
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
