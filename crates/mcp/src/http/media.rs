//! `Accept` and `Content-Type` as the Streamable HTTP transport reads them.

use http::HeaderMap;

pub const JSON: &str = "application/json";
pub const EVENT_STREAM: &str = "text/event-stream";

/// Which response formats the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub json: bool,
    pub event_stream: bool,
}

/// Read `Accept`. The spec says clients list both JSON and SSE; real clients are looser
/// (curl sends `*/*`, some send nothing), so a missing header or a wildcard accepts both,
/// and media ranges with `q=0` are excluded.
pub fn accepts(headers: &HeaderMap) -> Accepts {
    let mut seen = false;
    let mut out = Accepts {
        json: false,
        event_stream: false,
    };
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if essence.is_empty() {
                continue;
            }
            seen = true;
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            if refused {
                continue;
            }
            match essence.as_str() {
                "*/*" => {
                    out.json = true;
                    out.event_stream = true;
                }
                "application/*" | JSON => out.json = true,
                "text/*" | EVENT_STREAM => out.event_stream = true,
                _ => {}
            }
        }
    }
    if !seen {
        return Accepts {
            json: true,
            event_stream: true,
        };
    }
    out
}

/// Is the body declared as JSON (`application/json`, any parameters, any case)?
pub fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSON))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn accept_variants() {
        let both = Accepts {
            json: true,
            event_stream: true,
        };
        assert_eq!(accepts(&HeaderMap::new()), both);
        assert_eq!(accepts(&with("accept", "application/json, text/event-stream")), both);
        assert_eq!(accepts(&with("accept", "*/*")), both);
        assert_eq!(
            accepts(&with("accept", "Application/JSON; charset=utf-8")),
            Accepts {
                json: true,
                event_stream: false
            }
        );
        assert_eq!(
            accepts(&with("accept", "text/event-stream")),
            Accepts {
                json: false,
                event_stream: true
            }
        );
        assert_eq!(
            accepts(&with("accept", "text/html")),
            Accepts {
                json: false,
                event_stream: false
            }
        );
        assert_eq!(
            accepts(&with("accept", "application/json;q=0, text/event-stream")),
            Accepts {
                json: false,
                event_stream: true
            }
        );
    }

    #[test]
    fn content_type_variants() {
        assert!(is_json_content(&with("content-type", "application/json")));
        assert!(is_json_content(&with(
            "content-type",
            "Application/Json; charset=UTF-8"
        )));
        assert!(!is_json_content(&with("content-type", "text/plain")));
        assert!(!is_json_content(&with("content-type", "application/jsonx")));
        assert!(!is_json_content(&HeaderMap::new()));
    }
}
