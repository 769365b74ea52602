//! Step-up authorization: a `tools/call` whose tool needs a kintone scope the token was not
//! granted gets `403 insufficient_scope` before anything runs, so the client can ask the user
//! for more.

use grants::{Scope, Scopes, Session};

/// The scopes the request's tool calls need but the session lacks (empty: go ahead). Bodies
/// that do not parse are left to the protocol layer, which answers them precisely.
pub fn missing_scopes(body: &[u8], session: &Session, tools: &[(String, bool)]) -> Scopes {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Scopes::default();
    };
    let messages = match &value {
        serde_json::Value::Array(batch) => batch.iter().collect::<Vec<_>>(),
        single => vec![single],
    };
    let mut needed = Scopes::default();
    for message in messages {
        if message["method"] != "tools/call" {
            continue;
        }
        let Some(name) = message["params"]["name"].as_str() else { continue };
        // Unknown names are the protocol layer's to refuse.
        if let Some((_, read_only)) = tools.iter().find(|(n, _)| n == name) {
            needed = needed.with(Scope::for_tool(name, *read_only));
        }
    }
    match session.require(needed) {
        Ok(()) => Scopes::default(),
        Err(missing) => missing,
    }
}
