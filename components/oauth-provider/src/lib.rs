//! Spin glue for the OAuth 2.1 authorization server; the logic is in the `oauth` crate.

use platform::spin::{read_request, send_response, variable, SpinHttp, SpinStore};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// Registration documents and token requests are small; anything larger is refused unread.
const MAX_BODY: usize = 64 * 1024;

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let response = match read_request(request, MAX_BODY).await {
        Ok(request) => respond(&request).await,
        Err(refusal) => refusal,
    };
    send_response(out, response).await;
}

async fn respond(request: &oauth::Request) -> oauth::Response {
    let config = match grants::Config::from_lookup(variable) {
        Ok(c) => c,
        Err(e) => return oauth::misconfigured(e),
    };
    // The origins client metadata documents may come from (`cimd_origin_*`, also the
    // templates of this component's allowed_outbound_hosts).
    let cimd = match grants::CimdPolicy::from_lookup(variable) {
        Ok(p) => p,
        Err(e) => return oauth::misconfigured(e),
    };
    match SpinStore::open_default() {
        Ok(kv) => oauth::handle_provider(&config, &cimd, &kv, &SpinHttp, request, platform::now_unix()).await,
        Err(e) => platform::unavailable_response(&e.to_string()),
    }
}
