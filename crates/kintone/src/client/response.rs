//! Interpreting kintone's answers: status first, then the body, so HTML maintenance pages and
//! empty bodies become clean errors instead of parse failures.

use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use http::Response;
use serde_json::Value;

use crate::kintone_error::{parse_error_body, ApiError};
use crate::outcome::Failure;

/// A downloaded file.
pub(crate) struct FileDownload {
    pub mime_type: String,
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// The JSON of a successful answer, or the failure the status and body describe.
pub(crate) fn json_answer(response: Response<Vec<u8>>) -> Result<Value, Failure> {
    check_status(&response)?;
    let status = response.status().as_u16();
    serde_json::from_slice(response.body()).map_err(|_| {
        Failure::Unavailable(format!(
            "kintone answered HTTP {status} with a body that is not JSON; is the base URL a kintone site?"
        ))
    })
}

/// The bytes of a successful download, refused above `max_bytes`.
pub(crate) fn file_answer(response: Response<Vec<u8>>, max_bytes: usize) -> Result<FileDownload, Failure> {
    check_status(&response)?;
    let headers = response.headers();
    let mime_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let name = headers
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(file_name);
    let data = response.into_body();
    if data.len() > max_bytes {
        return Err(too_large(Some(data.len()), max_bytes));
    }
    Ok(FileDownload { mime_type, name, data })
}

/// A file over the download limit; its size when kintone declared it (reading stops at the
/// limit otherwise).
pub(crate) fn too_large(size: Option<usize>, max_bytes: usize) -> Failure {
    let size = match size {
        Some(n) => format!("{n} bytes"),
        None => format!("larger than {max_bytes} bytes"),
    };
    Failure::Refused(format!(
        "the file is {size}; downloadFile returns files up to {max_bytes} bytes ({} MiB). Open it in kintone instead.",
        max_bytes / (1024 * 1024)
    ))
}

/// Maps every non-2xx answer to a failure of the right kind.
fn check_status(response: &Response<Vec<u8>>) -> Result<(), Failure> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = parse_error_body(response.body());
    let said = body
        .as_ref()
        .map(|b| format!(" ({}: {})", b.code, b.message))
        .unwrap_or_default();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    match (status, body) {
        (401, _) => Err(Failure::Unauthorized(format!("kintone answered HTTP 401{said}"))),
        // Busy or in maintenance: the model should wait and retry, so it gets a tool error.
        (429 | 503, Some(body)) => Err(Failure::Kintone(Box::new(ApiError::from_body(
            status,
            body,
            retry_after,
        )))),
        (429 | 503, None) => Err(Failure::Kintone(Box::new(ApiError {
            status,
            code: None,
            id: None,
            message: if status == 429 {
                "Too many requests".into()
            } else {
                "Service unavailable".into()
            },
            errors: None,
            retry_after,
        }))),
        // kintone reports some request errors (e.g. duplicated subtable row ids) as 520 with a body.
        (520, Some(body)) => Err(Failure::Kintone(Box::new(ApiError::from_body(status, body, None)))),
        (500..=599, _) => Err(Failure::Unavailable(format!(
            "kintone answered HTTP {status}{said}; try again later"
        ))),
        (_, Some(body)) => Err(Failure::Kintone(Box::new(ApiError::from_body(status, body, None)))),
        (_, None) => Err(Failure::Kintone(Box::new(ApiError {
            status,
            code: None,
            id: None,
            message: "the answer carried no kintone error body; check appId and guestSpaceId".into(),
            errors: None,
            retry_after: None,
        }))),
    }
}

/// The file name from `Content-Disposition`, preferring RFC 5987 `filename*=UTF-8''…`.
pub(crate) fn file_name(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(header) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if key == "filename*" {
            if let Some((charset, rest)) = value.split_once('\'') {
                if let Some((_, encoded)) = rest.split_once('\'') {
                    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
                    if charset.eq_ignore_ascii_case("utf-8") {
                        extended = String::from_utf8(bytes).ok();
                    }
                }
            }
        } else if key == "filename" {
            plain = Some(unquote(value));
        }
    }
    extended.or(plain).filter(|n| !n.is_empty())
}

/// Splits `a; b="x;y"; c` on semicolons outside quotes.
fn split_params(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in header.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn success_bodies_must_be_json() {
        assert_eq!(json_answer(response(200, r#"{"id":"1"}"#)).unwrap()["id"], "1");
        assert!(matches!(
            json_answer(response(200, "<html>")),
            Err(Failure::Unavailable(_))
        ));
    }

    #[test]
    fn status_401_is_unauthorized_with_the_code() {
        let failure = json_answer(response(401, r#"{"code":"CB_OA01","id":"i","message":"expired"}"#)).unwrap_err();
        match failure {
            Failure::Unauthorized(m) => assert_eq!(m, "kintone answered HTTP 401 (CB_OA01: expired)"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_are_kintone_errors() {
        let failure = json_answer(response(404, r#"{"code":"GAIA_RE01","id":"i","message":"not found"}"#)).unwrap_err();
        assert!(
            matches!(failure, Failure::Kintone(ref e) if e.status == 404 && e.code.as_deref() == Some("GAIA_RE01"))
        );
        assert!(matches!(json_answer(response(404, "")), Err(Failure::Kintone(e)) if e.code.is_none()));
    }

    #[test]
    fn maintenance_and_busy_carry_retry_after() {
        let busy = Response::builder()
            .status(503)
            .header("Retry-After", "120")
            .body(b"<html>maintenance".to_vec())
            .unwrap();
        match json_answer(busy).unwrap_err() {
            Failure::Kintone(e) => {
                assert_eq!((e.status, e.retry_after), (503, Some(120)));
                assert!(e.explain().contains("after 120 seconds"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            json_answer(response(429, r#"{"code":"GAIA_TO04","message":"busy"}"#)),
            Err(Failure::Kintone(_))
        ));
    }

    #[test]
    fn server_errors_are_unavailable() {
        assert!(matches!(json_answer(response(500, "oops")), Err(Failure::Unavailable(m)) if m.contains("HTTP 500")));
        assert!(matches!(json_answer(response(502, "")), Err(Failure::Unavailable(_))));
        assert!(matches!(
            json_answer(response(520, r#"{"code":"GAIA_SI01","message":"dup"}"#)),
            Err(Failure::Kintone(_))
        ));
    }

    #[test]
    fn file_names_come_from_content_disposition() {
        assert_eq!(
            file_name("attachment; filename=\"report.pdf\"").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(
            file_name("attachment; filename=plain.txt").as_deref(),
            Some("plain.txt")
        );
        assert_eq!(
            file_name("attachment; filename=\"a;b.txt\"; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.xlsx").as_deref(),
            Some("見積.xlsx")
        );
        assert_eq!(
            file_name("attachment; filename=\"q\\\"x.txt\"").as_deref(),
            Some("q\"x.txt")
        );
        assert_eq!(file_name("attachment"), None);
    }

    #[test]
    fn downloads_over_the_limit_are_refused() {
        let big = Response::builder()
            .status(200)
            .header("Content-Type", "image/png")
            .body(vec![0u8; 11])
            .unwrap();
        match file_answer(big, 10) {
            Err(Failure::Refused(m)) => assert!(m.contains("the file is 11 bytes"), "{m}"),
            _ => panic!("expected a refusal"),
        }
        let ok = Response::builder().status(200).body(vec![1, 2]).unwrap();
        let file = file_answer(ok, 10).unwrap();
        assert_eq!(
            (file.mime_type.as_str(), file.data.len()),
            ("application/octet-stream", 2)
        );
    }
}
