//! A stand-in for a person at a browser, for MCP clients that open the authorization URL with
//! `$BROWSER` (mcp-remote, the MCP Inspector): `headless-browser URL` follows the redirects,
//! approves our consent page (its CSRF field and `__Host-` cookies, as a browser would), lets
//! the fake cybozu.com approve, and finally delivers the code to the client's loopback
//! callback — retrying that one for a while, because mcp-remote starts its callback listener
//! only after it has launched the browser.
//!
//! Prints each hop (paths only, no query: codes stay out of logs) on stderr; exits non-zero
//! when the flow does not reach the client.

use anyhow::{bail, Context, Result};
use e2e::browser::{excerpt, Browser, Page};
use e2e::signin::{Consent, CONSENT_CSRF_FIELD, CONSENT_REQUEST_FIELD};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use url::Url;

const MAX_HOPS: usize = 12;
/// How long the client's callback listener may take to come up.
const CALLBACK_PATIENCE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: headless-browser URL");
        return ExitCode::from(2);
    };
    match follow(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("headless-browser: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn follow(start: &str) -> Result<()> {
    let mut browser = Browser::new();
    let mut url = Url::parse(start).context("the authorization URL does not parse")?;
    for _ in 0..MAX_HOPS {
        let page = get_with_patience(&mut browser, &url).await?;
        eprintln!(
            "headless-browser: GET {}{} -> {}",
            origin(&url),
            url.path(),
            page.status
        );
        match page.status {
            300..=399 => url = page.redirect()?,
            200 if page.body.contains(&format!("name=\"{CONSENT_CSRF_FIELD}\"")) => {
                let consent = Consent::parse(&page)?;
                let action = url.join("/authorize")?;
                let answer = browser
                    .post_form(
                        action.as_str(),
                        &[
                            (CONSENT_REQUEST_FIELD, &consent.request),
                            (CONSENT_CSRF_FIELD, &consent.csrf_token),
                            ("decision", "approve"),
                        ],
                    )
                    .await?;
                eprintln!(
                    "headless-browser: POST {}{} (approve) -> {}",
                    origin(&action),
                    action.path(),
                    answer.status
                );
                url = answer.redirect()?;
            }
            200 => return Ok(()),
            status => bail!("{} answered {status}: {}", url.path(), excerpt(&page.body)),
        }
    }
    bail!("more than {MAX_HOPS} hops")
}

/// GET, retrying connection failures (a callback listener not up yet) for a while.
async fn get_with_patience(browser: &mut Browser, url: &Url) -> Result<Page> {
    let deadline = Instant::now() + CALLBACK_PATIENCE;
    loop {
        match browser.get(url.as_str()).await {
            Ok(page) => return Ok(page),
            Err(e) if Instant::now() < deadline => {
                eprintln!(
                    "headless-browser: {}{} not reachable yet ({e}); retrying",
                    origin(url),
                    url.path()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}
