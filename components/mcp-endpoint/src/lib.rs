//! Spin glue for the MCP endpoint: routes a request with the `mcp` crate, authenticates it with
//! `grants`, hands tool calls to the composed `kintone-tools` component, refreshes the user's
//! kintone token when it has expired, and writes one log line per request.

mod auth;
mod tools;

use auth::{Authenticated, Endpoint};
use futures::SinkExt;
use mcp::{MessageOutcome, PostOutcome, Route, StreamStep};
use platform::spin::{read_request, send_response};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use std::time::Instant;

spin_sdk::wit_bindgen::generate!({
    world: "tools-consumer",
    path: "../../wit",
    runtime_path: "::spin_sdk::wit_bindgen::rt",
});

type Response = http::Response<Vec<u8>>;

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let started = Instant::now();
    let mut endpoint = match Endpoint::from_variables() {
        Ok(e) => e,
        Err(response) => return send_response(out, response).await,
    };
    let request = match read_request(incoming, endpoint.mcp.max_body_bytes).await {
        Ok(r) => r,
        // 413 or 400 before routing: still readable by browser clients.
        Err(refusal) => return send_response(out, mcp::with_cors(refusal)).await,
    };
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (response, summary) = match mcp::route(&request, &endpoint.mcp) {
        Route::Respond(response) => (response, None),
        Route::StreamablePost => streamable_post(&mut endpoint, &request).await,
        Route::LegacyMessage => legacy_message(&mut endpoint, &request).await,
        Route::LegacyStream => {
            let status = legacy_stream(&mut endpoint, &request, out).await;
            log(&request, None, status, started, user_agent.as_deref());
            return;
        }
    };
    log(
        &request,
        summary.as_ref(),
        response.status().as_u16(),
        started,
        user_agent.as_deref(),
    );
    send_response(out, response).await;
}

/// `POST /mcp` and `POST /sse`: Streamable HTTP.
async fn streamable_post(
    endpoint: &mut Endpoint,
    request: &http::Request<Vec<u8>>,
) -> (Response, Option<mcp::Summary>) {
    let Authenticated { mut session, tools } = match endpoint.authenticate(request).await {
        Ok(a) => a,
        Err(refusal) => return (refusal, None),
    };
    let granted = auth::scope_names(&session);
    let handled = match mcp::handle_post(request, &endpoint.mcp, &tools, &granted) {
        PostOutcome::Respond(handled) => handled,
        PostOutcome::InsufficientScope(missing) => return (endpoint.insufficient_scope(request, &missing), None),
        PostOutcome::NeedsRefresh(pending) => match endpoint.refresh(request, &mut session).await {
            Ok(tools) => pending.resume(&endpoint.mcp, &tools),
            Err(refusal) => return (refusal, None),
        },
    };
    (handled.response, Some(handled.summary))
}

/// `POST /sse/message?sessionId=…`: the reply travels over the session's open stream.
async fn legacy_message(endpoint: &mut Endpoint, request: &http::Request<Vec<u8>>) -> (Response, Option<mcp::Summary>) {
    let Authenticated { mut session, tools } = match endpoint.authenticate(request).await {
        Ok(a) => a,
        Err(refusal) => return (refusal, None),
    };
    let owner = session.grant.to_string();
    let granted = auth::scope_names(&session);
    let handled = match mcp::handle_message_post(
        request,
        &endpoint.kv,
        &endpoint.mcp,
        &owner,
        &tools,
        &granted,
        platform::now_unix(),
    ) {
        MessageOutcome::Respond(handled) => handled,
        MessageOutcome::InsufficientScope(missing) => return (endpoint.insufficient_scope(request, &missing), None),
        MessageOutcome::NeedsRefresh(pending) => match endpoint.refresh(request, &mut session).await {
            Ok(tools) => pending.resume(&endpoint.kv, &endpoint.mcp, &tools, platform::now_unix()),
            Err(refusal) => return (refusal, None),
        },
    };
    (handled.response, Some(handled.summary))
}

/// `GET /sse`: the legacy stream. Returns the status sent, for the log line.
async fn legacy_stream(endpoint: &mut Endpoint, request: &http::Request<Vec<u8>>, out: ResponseOutparam) -> u16 {
    let session = match endpoint.authenticate(request).await {
        Ok(a) => a.session,
        Err(refusal) => {
            let status = refusal.status().as_u16();
            send_response(out, refusal).await;
            return status;
        }
    };
    let (mut stream, first) = match mcp::SseStream::open(
        &endpoint.kv,
        &endpoint.mcp,
        &session.grant.to_string(),
        platform::now_ms(),
    ) {
        Ok(opened) => opened,
        Err(e) => {
            let response = platform::unavailable_response(&e.to_string());
            send_response(out, response).await;
            return 503;
        }
    };
    let head = mcp::SseStream::response_head();
    let Ok(fields) = Fields::from_list(&platform::spin::header_list(head.headers())) else {
        stream.abandon(&endpoint.kv);
        send_response(
            out,
            platform::unavailable_response("the stream's headers could not be built"),
        )
        .await;
        return 503;
    };
    let response = OutgoingResponse::new(fields);
    let mut body = response.take_body();
    out.set(response);
    if body.send(first).await.is_err() {
        stream.abandon(&endpoint.kv);
        return 200;
    }
    loop {
        match stream.next(&endpoint.kv, platform::now_ms()) {
            StreamStep::Send(bytes) => {
                if body.send(bytes).await.is_err() {
                    // The client went away; its session closes with it.
                    stream.abandon(&endpoint.kv);
                    return 200;
                }
            }
            // One request per instance: blocking the instance while idle costs nothing.
            StreamStep::Wait(pause) => std::thread::sleep(pause),
            StreamStep::Finish(bytes) => {
                if !bytes.is_empty() {
                    let _ = body.send(bytes).await;
                }
                return 200;
            }
        }
    }
}

fn log(
    request: &http::Request<Vec<u8>>,
    summary: Option<&mcp::Summary>,
    status: u16,
    started: Instant,
    user_agent: Option<&str>,
) {
    let line = mcp::format_line(&mcp::RequestLog {
        method: request.method().as_str(),
        path: request.uri().path(),
        summary,
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        user_agent,
    });
    eprintln!("{line}");
}
