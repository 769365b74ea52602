//! The host's own behaviour, through a probe guest (`tests/host/probe`) that uses every
//! capability: routing, Spin headers, key-value, variables, outbound allow-list, a composed
//! dependency, streaming, and two host processes sharing one state dir.
//!
//! Needs the wasm built first (`scripts/test.sh` does it).

use futures::StreamExt;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Host {
    base: String,
    child: Child,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifest() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("probe.spin.toml");
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release/host_probe.wasm");
    assert!(
        wasm.exists(),
        "build the probe first: cargo build --target wasm32-wasip2 --release -p host-probe -p kintone-tools"
    );
    m
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("host-probe-{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn command(state_dir: &Path, envs: &[(&str, &str)]) -> (Command, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spin-test-host"));
    cmd.arg("up")
        .arg("-f")
        .arg(manifest())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state_dir);
    cmd.env_remove("SPIN_VARIABLE_UPSTREAM")
        .env_remove("SPIN_VARIABLE_GREETING");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    (cmd, format!("http://127.0.0.1:{port}"))
}

async fn start(state_dir: &Path, envs: &[(&str, &str)]) -> Host {
    let (mut cmd, base) = command(state_dir, envs);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("host exited: {status}: {err}");
        }
        if reqwest::get(format!("{base}/probe/nothing")).await.is_ok() {
            return Host { base, child };
        }
        assert!(Instant::now() < deadline, "host did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A one-endpoint upstream HTTP server answering `pong` to anything.
fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong");
        }
    });
    format!("http://{addr}")
}

async fn get(host: &Host, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("{}{path}", host.base)).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn missing_required_variable_stops_start_up_with_a_clear_message() {
    let dir = temp_dir("missing");
    let (mut cmd, _) = command(&dir, &[]);
    let output = cmd.output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("no provider resolved required variable(s)") && err.contains("SPIN_VARIABLE_UPSTREAM"),
        "{err}"
    );
}

#[tokio::test]
async fn routing_headers_variables_and_key_value() {
    let up = upstream();
    let dir = temp_dir("basic");
    let host = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &up)]).await;

    assert_eq!(get(&host, "/elsewhere").await.0, 404);

    let client = reqwest::Client::new();
    let headers = client
        .get(format!("{}/probe/headers?x=1", host.base))
        .header("spin-client-addr", "6.6.6.6:1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        headers.contains(&format!("spin-full-url: {}/probe/headers?x=1", host.base)),
        "{headers}"
    );
    assert!(headers.contains("spin-path-info: /headers"), "{headers}");
    assert!(headers.contains("spin-matched-route: /probe/..."), "{headers}");
    assert!(headers.contains("spin-component-route: /probe"), "{headers}");
    assert!(
        headers.contains("spin-client-addr: 127.0.0.1:"),
        "a forged spin-* header must be replaced: {headers}"
    );

    assert_eq!(get(&host, "/probe/var?name=greeting").await, (200, "hello".to_owned()));
    // `upstream` is an application variable but not one of this component's variables.
    let (status, body) = get(&host, "/probe/var?name=upstream").await;
    assert_eq!(status, 404);
    assert!(body.contains("Undefined"), "{body}");

    assert_eq!(get(&host, "/probe/kv?op=get&key=k").await, (200, "<none>".to_owned()));
    assert_eq!(get(&host, "/probe/kv?op=set&key=k&value=v%201").await.0, 200);
    assert_eq!(get(&host, "/probe/kv?op=get&key=k").await, (200, "v 1".to_owned()));
    assert_eq!(get(&host, "/probe/kv?op=keys").await, (200, "k".to_owned()));
    assert_eq!(get(&host, "/probe/kv?op=delete&key=k").await.0, 200);
    assert_eq!(get(&host, "/probe/kv?op=get&key=k").await, (200, "<none>".to_owned()));
    let (status, body) = get(&host, "/probe/kv?op=get&key=k&store=cache").await;
    assert_eq!(status, 403);
    assert!(body.contains("AccessDenied"), "{body}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn variables_come_from_the_environment() {
    let up = upstream();
    let dir = temp_dir("env");
    let host = start(
        &dir,
        &[
            ("SPIN_VARIABLE_UPSTREAM", &up),
            ("SPIN_VARIABLE_GREETING", "こんにちは"),
        ],
    )
    .await;
    assert_eq!(
        get(&host, "/probe/var?name=greeting").await,
        (200, "こんにちは".to_owned())
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn outbound_requests_follow_allowed_outbound_hosts() {
    let allowed = upstream();
    let other = upstream();
    let dir = temp_dir("outbound");
    let host = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &allowed)]).await;
    let (status, body) = get(&host, &format!("/probe/outbound?url={allowed}/ping")).await;
    assert_eq!((status, body.as_str()), (200, "upstream 200: pong"));
    let (status, body) = get(&host, &format!("/probe/outbound?url={other}/ping")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    // Same port, other host name: still refused (matching is exact).
    let localhost = allowed.replace("127.0.0.1", "localhost");
    assert_eq!(
        get(&host, &format!("/probe/outbound?url={localhost}/ping")).await.0,
        502
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_dependency_export_reaches_its_parent() {
    let up = upstream();
    let dir = temp_dir("dep");
    let host = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &up)]).await;
    let (status, names) = get(&host, "/probe/dependency").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = names.split(',').collect();
    assert!(
        names.contains(&"getRecords") && names.contains(&"addRecord"),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_streamed_body_arrives_in_pieces() {
    let up = upstream();
    let dir = temp_dir("stream");
    let host = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &up)]).await;
    let response = reqwest::get(format!("{}/probe/stream", host.base)).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut pieces = Vec::new();
    let mut received = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        received.push_str(std::str::from_utf8(&chunk).unwrap());
        pieces.push((Instant::now(), received.clone()));
    }
    assert_eq!(received, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
    // The guest sleeps between events: a buffering host would deliver everything at once.
    assert!(pieces.len() >= 3, "expected separate pieces, got {}", pieces.len());
    let first_complete = pieces.iter().find(|(_, r)| r.contains("data: 0")).unwrap().0;
    let last = pieces.last().unwrap().0;
    assert!(last.duration_since(first_complete) >= Duration::from_millis(400));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn two_hosts_on_one_state_dir_share_key_value() {
    let up = upstream();
    let dir = temp_dir("shared");
    let a = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &up)]).await;
    let b = start(&dir, &[("SPIN_VARIABLE_UPSTREAM", &up)]).await;
    assert_eq!(get(&a, "/probe/kv?op=set&key=shared&value=from-a").await.0, 200);
    assert_eq!(get(&b, "/probe/kv?op=get&key=shared").await, (200, "from-a".to_owned()));
    assert_eq!(get(&b, "/probe/kv?op=delete&key=shared").await.0, 200);
    assert_eq!(get(&a, "/probe/kv?op=get&key=shared").await, (200, "<none>".to_owned()));
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}
