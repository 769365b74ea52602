//! The README's one-line sandbox, tried as a newcomer would: start it, read what it prints, point
//! an MCP client at the printed URL, sign in through the real consent page and the fake
//! cybozu.com's sign-in page in headless Chromium, call a tool, press Ctrl-C.
//!
//! `cargo run -p e2e --bin sandbox` builds and then runs the `sandbox` binary of this package;
//! this test runs that same binary (cargo builds it for the test), with `--port` so it cannot
//! collide with anything on port 3000 and `--no-build` because `scripts/test.sh` has built the
//! wasm and the test host already.
//!
//! Needs `chromium` and `chromedriver` on PATH (Debian: `apt-get install chromium chromium-driver`).

use anyhow::{bail, ensure, Context, Result};
use e2e::signin::{random_b64, Pkce};
use fantoccini::{ClientBuilder, Locator};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

/// The command the READMEs print; `tests/docs` checks that this file names it.
const README_COMMAND: &str = "cargo run -p e2e --bin sandbox";

/// The sandbox process, its output so far, and a reader thread feeding it.
struct Sandbox {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
}

impl Sandbox {
    fn start(port: u16) -> Result<Sandbox> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
            .args(["--port", &port.to_string(), "--no-build"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the sandbox")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Sandbox {
            child,
            lines,
            output: Vec::new(),
        })
    }

    /// Reads output until a line contains `marker`.
    fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    let done = line.contains(marker);
                    self.output.push(line);
                    if done {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("the sandbox exited before printing {marker:?}:\n{}", self.text())
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => {
                    bail!("no {marker:?} from the sandbox within {timeout:?}:\n{}", self.text())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn text(&self) -> String {
        self.output.join("\n")
    }

    /// The value after `label` on the line holding it.
    fn printed(&self, label: &str) -> Result<String> {
        let line = self
            .output
            .iter()
            .find(|l| l.contains(label))
            .with_context(|| format!("no {label:?} line in:\n{}", self.text()))?;
        Ok(line[line.find(label).unwrap_or(0) + label.len()..].trim().to_owned())
    }

    /// Ctrl-C, as a terminal sends it (to this process only: the sandbox must stop its host itself).
    fn interrupt(&mut self) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        ensure!(status.success(), "kill -INT failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.output.push(line);
            }
            if let Some(status) = self.child.try_wait()? {
                // Drain what the reader thread still holds.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.output.push(line);
                }
                return Ok(status);
            }
            ensure!(
                Instant::now() < deadline,
                "the sandbox did not stop within 30 s of Ctrl-C:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port, killed on drop.
struct ChromeDriver {
    process: Child,
    url: String,
}

impl ChromeDriver {
    async fn start() -> Result<ChromeDriver> {
        let port = e2e::free_port()?;
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver is not on PATH (Debian: apt-get install chromium chromium-driver)")?;
        let driver = ChromeDriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{}/status", driver.url)).await.is_err() {
            ensure!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(driver)
    }

    async fn headless_chromium(&self) -> Result<fantoccini::Client> {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=ja"],
                "prefs": {"intl.accept_languages": "ja"},
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS connector needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        Ok(ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await?)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A native MCP client's loopback redirect endpoint: answers the browser and hands over the query.
async fn loopback_redirect() -> Result<(String, tokio::sync::oneshot::Receiver<Url>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let redirect_uri = format!("http://127.0.0.1:{}/oauth/callback", listener.local_addr()?.port());
    let (send, receive) = tokio::sync::oneshot::channel();
    let base = redirect_uri.clone();
    tokio::spawn(async move {
        let mut send = Some(send);
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 8192];
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..n]).to_string();
            let target = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nsigned in\n")
                .await;
            if let Ok(url) = Url::parse(&base).and_then(|b| b.join(&target)) {
                if url.path() == "/oauth/callback" {
                    if let Some(s) = send.take() {
                        let _ = s.send(url);
                    }
                }
            }
        }
    });
    Ok((redirect_uri, receive))
}

/// What an MCP client learns from the URL alone: the 401 challenge, then the metadata.
struct Discovered {
    resource: String,
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    registration_endpoint: String,
}

async fn discover(mcp_url: &str) -> Result<Discovered> {
    let http = reqwest::Client::new();
    let challenge = http
        .post(mcp_url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await?;
    ensure!(
        challenge.status() == 401,
        "an unauthenticated POST got {}",
        challenge.status()
    );
    let header = challenge
        .headers()
        .get("www-authenticate")
        .context("no WWW-Authenticate")?
        .to_str()?
        .to_owned();
    let prm_url = header
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("no resource_metadata")?;
    let prm: Value = http.get(prm_url).send().await?.json().await?;
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .context("no authorization server")?
        .to_owned();
    let meta: Value = http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await?
        .json()
        .await?;
    let field = |name: &str| {
        meta[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in the metadata"))
    };
    Ok(Discovered {
        resource: prm["resource"].as_str().context("no resource")?.to_owned(),
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        registration_endpoint: field("registration_endpoint")?,
        issuer,
    })
}

/// Registers, sends headless Chromium through consent and the fake's sign-in as `user`, and
/// exchanges the code: the access token.
async fn sign_in_with_chromium(mcp_url: &str, user: &str) -> Result<String> {
    let found = discover(mcp_url).await?;
    let (redirect_uri, code_arrives) = loopback_redirect().await?;
    let http = reqwest::Client::new();
    let registration: Value = http
        .post(&found.registration_endpoint)
        .json(&json!({
            "client_name": "Sandbox test client",
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .send()
        .await?
        .json()
        .await?;
    let client_id = registration["client_id"]
        .as_str()
        .with_context(|| format!("registration failed: {registration}"))?
        .to_owned();
    let pkce = Pkce::new()?;
    let state = random_b64::<16>()?;
    let mut authorize = Url::parse(&found.authorization_endpoint)?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("resource", &found.resource);

    let driver = ChromeDriver::start().await?;
    let browser = driver.headless_chromium().await?;
    let outcome = async {
        browser.goto(authorize.as_str()).await?;
        // Our consent page (Japanese for this browser), then Cybozu's sign-in page at the fake.
        let page = browser.source().await?;
        ensure!(
            page.contains("kintone へのアクセスを許可しますか"),
            "not the consent page: {}",
            excerpt(&page)
        );
        browser.find(Locator::Css("button.approve")).await?.click().await?;
        browser
            .wait()
            .for_element(Locator::Css("select[name=login]"))
            .await?
            .select_by_value(user)
            .await?;
        browser
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(&format!("{user}-password"))
            .await?;
        browser.find(Locator::Css("button[value=allow]")).await?.click().await?;
        anyhow::Ok(())
    }
    .await;
    let landed = tokio::time::timeout(Duration::from_secs(30), code_arrives).await;
    let final_url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    let _ = browser.close().await;
    outcome?;
    let callback =
        landed.with_context(|| format!("the browser never reached the client's redirect URI (at {final_url})"))??;
    let params: std::collections::BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    ensure!(
        params.get("state") == Some(&state),
        "state did not come back: {params:?}"
    );
    ensure!(
        params.get("iss") == Some(&found.issuer),
        "iss is {:?}",
        params.get("iss")
    );
    let code = params.get("code").context("no code")?;

    let tokens: Value = http
        .post(&found.token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &pkce.verifier),
            ("client_id", &client_id),
            ("resource", &found.resource),
        ])
        .send()
        .await?
        .json()
        .await?;
    tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no access token: error {}", tokens["error"]))
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_sandbox_lets_a_browser_sign_in_and_a_client_call_tools_then_stops_on_ctrl_c() {
    for readme in ["README.md", "README.ja.md"] {
        let text = std::fs::read_to_string(e2e::workspace_root().join(readme)).unwrap();
        assert!(
            text.contains(README_COMMAND),
            "{readme} no longer shows `{README_COMMAND}`"
        );
    }
    let port = e2e::free_port().unwrap();
    let mut sandbox = Sandbox::start(port).unwrap();
    sandbox
        .wait_for("Press Ctrl-C to stop.", Duration::from_secs(180))
        .unwrap();

    // What it prints: the MCP URL, the users, the next step.
    let mcp_url = sandbox.printed("MCP URL (Streamable HTTP):").unwrap();
    assert_eq!(mcp_url, format!("http://127.0.0.1:{port}/mcp"));
    let fake_url = sandbox.printed("fake cybozu.com:").unwrap();
    let text = sandbox.text();
    for user in ["alice", "bob", "carol"] {
        assert!(
            text.contains(&format!("{user}-password")),
            "user {user} not printed:\n{text}"
        );
    }
    assert!(text.contains("npx @modelcontextprotocol/inspector"), "{text}");
    assert!(text.contains(&format!("URL {mcp_url}")), "{text}");

    // A person signs in through the printed URL; an independent MCP client (rmcp) calls tools.
    let access_token = sign_in_with_chromium(&mcp_url, "bob").await.unwrap();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.clone()).auth_header(access_token),
    );
    let client = ().serve(transport).await.expect("initialize through the printed URL");
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "getRecords"),
        "no getRecords among {} tools",
        tools.len()
    );
    let arguments = json!({"appId": "2", "fields": ["案件名"]});
    let result = client
        .call_tool(CallToolRequestParams::new("getRecords").with_arguments(arguments.as_object().unwrap().clone()))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "getRecords failed: {:?}", result.content);
    let answer = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .expect("no text");
    let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|_| panic!("not JSON: {answer}"));
    let deals: Vec<&str> = answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["案件名"]["value"].as_str().unwrap())
        .collect();
    // bob's own kintone permissions apply: the confidential deal is for managers only.
    assert!(deals.contains(&"基幹システム刷新"), "{deals:?}");
    assert!(
        !deals.iter().any(|d| d.contains("機密")),
        "bob sees a confidential deal: {deals:?}"
    );
    client.cancel().await.unwrap();

    // Ctrl-C stops both servers cleanly.
    let status = sandbox.interrupt().unwrap();
    assert!(
        status.success(),
        "the sandbox exited with {status}:\n{}",
        sandbox.text()
    );
    assert!(sandbox.text().contains("stopped."), "{}", sandbox.text());
    let fake_port = Url::parse(&fake_url).unwrap().port().unwrap();
    // The sandbox has exited; its host may take a moment more to release the port (a real
    // `spin up` shuts down gracefully): wait for it, with a bound.
    for p in [port, fake_port] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_ok() {
            assert!(Instant::now() < deadline, "port {p} still answers 10 s after Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
