//! A server-sent events reader (the WHATWG `text/event-stream` format) that also reports
//! comment lines: the legacy stream's keep-alives and its closing comment are part of what the
//! suites check, and the `sse-stream` crate drops comments.

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A dispatched event: its `event` field (`message` when absent) and joined `data`.
    Event {
        event: String,
        data: String,
        id: Option<String>,
    },
    /// A `: …` comment line (text after the colon, one leading space removed).
    Comment(String),
}

/// Incremental parser: feed bytes as they arrive, take complete items out.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    id: Option<String>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feed a chunk; returns the items it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Item> {
        self.pending.extend_from_slice(chunk);
        let mut items = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(item) = self.line(&line) {
                items.push(item);
            }
        }
        items
    }

    fn line(&mut self, line: &str) -> Option<Item> {
        if line.is_empty() {
            if self.data.is_empty() && self.event.is_none() {
                return None;
            }
            let item = Item::Event {
                event: self.event.take().unwrap_or_else(|| "message".to_owned()),
                data: std::mem::take(&mut self.data).join("\n"),
                id: self.id.take(),
            };
            return Some(item);
        }
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Item::Comment(comment.strip_prefix(' ').unwrap_or(comment).to_owned()));
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// Every `data` payload of the events in a complete SSE body.
pub fn data_of_body(body: &str) -> Vec<String> {
    let mut parser = Parser::new();
    let mut items = parser.feed(body.as_bytes());
    items.extend(parser.feed(b"\n\n"));
    items
        .into_iter()
        .filter_map(|item| match item {
            Item::Event { data, .. } if !data.is_empty() => Some(data),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_comments_and_split_chunks() {
        let mut p = Parser::new();
        assert!(p.feed(b"event: endpoint\r\ndata: /sse/mes").is_empty());
        let items = p.feed(b"sage?sessionId=ab\r\n\r\n: keep-alive\n\ndata: {\"a\":1}\ndata: 2\n\n");
        assert_eq!(
            items,
            vec![
                Item::Event {
                    event: "endpoint".into(),
                    data: "/sse/message?sessionId=ab".into(),
                    id: None
                },
                Item::Comment("keep-alive".into()),
                Item::Event {
                    event: "message".into(),
                    data: "{\"a\":1}\n2".into(),
                    id: None
                },
            ]
        );
    }

    #[test]
    fn data_of_a_whole_body() {
        assert_eq!(
            data_of_body("id: 1\ndata:\n\nevent: message\ndata: {}\n"),
            vec!["{}".to_owned()]
        );
    }
}
