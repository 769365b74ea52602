//! Server-Sent Events encoding (WHATWG HTML "server-sent events").

/// One event: `event: <name>` then one `data:` line per line of `data`, then a blank line.
/// Line breaks inside `data` (any of CRLF, CR, LF) become separate `data:` lines, which the
/// client joins back with `\n`, so no payload can end an event early or forge a field.
pub fn event(name: &str, data: &str) -> Vec<u8> {
    let mut out = String::with_capacity(data.len() + name.len() + 16);
    out.push_str("event: ");
    out.extend(name.chars().filter(|c| !matches!(c, '\r' | '\n')));
    out.push('\n');
    for line in split_lines(data) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.into_bytes()
}

/// A JSON-RPC message event (`event: message`).
pub fn message_event(json: &str) -> Vec<u8> {
    event("message", json)
}

/// The legacy transport's first event: where to POST messages.
pub fn endpoint_event(uri: &str) -> Vec<u8> {
    event("endpoint", uri)
}

/// A comment line: ignored by clients, keeps proxies and idle timers from closing the stream,
/// and reveals a departed client at the next write.
pub fn comment(text: &str) -> Vec<u8> {
    let mut out = String::from(":");
    if !text.is_empty() {
        out.push(' ');
        out.extend(text.chars().filter(|c| !matches!(c, '\r' | '\n')));
    }
    out.push_str("\n\n");
    out.into_bytes()
}

fn split_lines(data: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = data;
    loop {
        match rest.find(['\r', '\n']) {
            None => {
                lines.push(rest);
                return lines;
            }
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn message_events() {
        assert_eq!(
            text(message_event(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)),
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
        );
    }

    #[test]
    fn endpoint_event_carries_the_relative_uri() {
        assert_eq!(
            text(endpoint_event("/sse/message?sessionId=abc")),
            "event: endpoint\ndata: /sse/message?sessionId=abc\n\n"
        );
    }

    #[test]
    fn line_breaks_cannot_forge_fields() {
        assert_eq!(
            text(event("message", "a\nevent: x\r\nb\rc\n")),
            "event: message\ndata: a\ndata: event: x\ndata: b\ndata: c\ndata: \n\n"
        );
        assert_eq!(text(event("mes\nsage", "")), "event: message\ndata: \n\n");
    }

    #[test]
    fn comments() {
        assert_eq!(text(comment("keep-alive")), ": keep-alive\n\n");
        assert_eq!(text(comment("")), ":\n\n");
        assert_eq!(text(comment("a\nb")), ": ab\n\n");
    }
}
