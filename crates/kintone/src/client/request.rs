//! Building kintone REST requests: the path (guest space or not), parameters in a query
//! string or a JSON body, the bearer header.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request};
use serde_json::{Map, Value};

use crate::outcome::Failure;

/// Above this URL length, GET and DELETE go as POST with `X-HTTP-Method-Override` and a JSON
/// body, as @kintone/rest-api-client does (kintone refuses URIs over 8 KB).
pub(crate) const MAX_URL_LEN: usize = 4096;

const AGENT: &str = "kintone-mcp-spin";

/// The kintone site and the guest space (if any) one call is addressed to.
pub(crate) struct Site<'a> {
    pub base_url: &'a str,
    pub access_token: &'a str,
    pub guest_space: Option<u64>,
}

impl Site<'_> {
    /// `https://sub.cybozu.com/k/v1/record.json` or `…/k/guest/7/v1/record.json`.
    pub(crate) fn url(&self, resource: &str) -> Result<String, Failure> {
        let base = self.base_url.trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|_| Failure::Unavailable("the configured kintone base URL is not a valid URL".into()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("https") | Some("http"));
        if !scheme_ok || uri.host().is_none() || !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(Failure::Unavailable(
                "the configured kintone base URL must be an origin such as https://example.cybozu.com".into(),
            ));
        }
        Ok(match self.guest_space {
            Some(space) => format!("{base}/k/guest/{space}/v1/{resource}.json"),
            None => format!("{base}/k/v1/{resource}.json"),
        })
    }

    fn start(&self, method: Method, url: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.access_token))
            .header(USER_AGENT, AGENT)
    }

    /// A JSON API call. GET and DELETE parameters go in the query string when they fit there.
    pub(crate) fn json_call(
        &self,
        method: Method,
        resource: &str,
        params: &Map<String, Value>,
    ) -> Result<Request<Vec<u8>>, Failure> {
        let url = self.url(resource)?;
        if method == Method::GET || method == Method::DELETE {
            if let Some(query) = query_string(params) {
                let full = if query.is_empty() {
                    url.clone()
                } else {
                    format!("{url}?{query}")
                };
                if full.len() <= MAX_URL_LEN {
                    return self
                        .start(method, &full)
                        .header(ACCEPT, "application/json")
                        .body(Vec::new())
                        .map_err(invalid);
                }
            }
            let body = serde_json::to_vec(params).map_err(|e| Failure::Invalid(e.to_string()))?;
            return self
                .start(Method::POST, &url)
                .header("X-HTTP-Method-Override", method.as_str())
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json")
                .body(body)
                .map_err(invalid);
        }
        let body = serde_json::to_vec(params).map_err(|e| Failure::Invalid(e.to_string()))?;
        self.start(method, &url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body)
            .map_err(invalid)
    }

    /// A raw file download: `GET file.json?fileKey=…`.
    pub(crate) fn download(&self, file_key: &str) -> Result<Request<Vec<u8>>, Failure> {
        let url = self.url("file")?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("fileKey", file_key)
            .finish();
        self.start(Method::GET, &format!("{url}?{query}"))
            .body(Vec::new())
            .map_err(invalid)
    }

    /// A multipart upload of one file in the part named `file`.
    pub(crate) fn upload(&self, name: &str, content_type: &str, data: &[u8]) -> Result<Request<Vec<u8>>, Failure> {
        let url = self.url("file")?;
        let form = super::multipart::single_file("file", name, content_type, data)?;
        self.start(Method::POST, &url)
            .header(CONTENT_TYPE, form.content_type)
            .header(ACCEPT, "application/json")
            .body(form.body)
            .map_err(invalid)
    }
}

fn invalid(e: http::Error) -> Failure {
    Failure::Unavailable(format!("could not build the kintone request: {e}"))
}

/// `app=1&ids[0]=5&ids[1]=6` in @kintone/rest-api-client's style, or `None` when a parameter
/// is nested deeper than an array of scalars (those go in a JSON body).
pub(crate) fn query_string(params: &Map<String, Value>) -> Option<String> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        match value {
            Value::Null => {}
            // kintone reads at most 100 indexed values from a query string (`fields[0..99]`).
            Value::Array(items) if items.len() > 100 => return None,
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.append_pair(&format!("{key}[{i}]"), &scalar(item)?);
                }
            }
            other => {
                out.append_pair(key, &scalar(other)?);
            }
        }
    }
    Some(out.finish())
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn site(guest: Option<u64>) -> Site<'static> {
        Site {
            base_url: "https://example.cybozu.com/",
            access_token: "tok-secret",
            guest_space: guest,
        }
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn paths_follow_the_guest_space() {
        assert_eq!(
            site(None).url("record").unwrap(),
            "https://example.cybozu.com/k/v1/record.json"
        );
        assert_eq!(
            site(Some(7)).url("app/form/fields").unwrap(),
            "https://example.cybozu.com/k/guest/7/v1/app/form/fields.json"
        );
    }

    #[test]
    fn base_urls_must_be_origins() {
        for bad in [
            "example.cybozu.com",
            "ftp://x.cybozu.com",
            "https://x.cybozu.com/k/v1",
            "https://x.cybozu.com/?a=1",
            "",
        ] {
            let s = Site {
                base_url: bad,
                access_token: "t",
                guest_space: None,
            };
            assert!(matches!(s.url("record"), Err(Failure::Unavailable(_))), "{bad}");
        }
    }

    #[test]
    fn short_gets_use_a_query_string_with_indexed_arrays() {
        let req = site(None)
            .json_call(
                Method::GET,
                "records",
                &params(json!({"app": 1, "fields": ["a", "$id"], "totalCount": true})),
            )
            .unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri().to_string(),
            "https://example.cybozu.com/k/v1/records.json?app=1&fields%5B0%5D=a&fields%5B1%5D=%24id&totalCount=true"
        );
        assert_eq!(req.headers()["authorization"], "Bearer tok-secret");
        assert!(req.body().is_empty());
    }

    #[test]
    fn long_or_nested_gets_use_the_method_override() {
        let long_query = "a".repeat(MAX_URL_LEN);
        let req = site(None)
            .json_call(Method::GET, "records", &params(json!({"app": 1, "query": long_query})))
            .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers()["x-http-method-override"], "GET");
        assert_eq!(req.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["app"], 1);

        let nested = site(None)
            .json_call(Method::DELETE, "x", &params(json!({"apps": [{"app": 1}]})))
            .unwrap();
        assert_eq!(nested.method(), Method::POST);
        assert_eq!(nested.headers()["x-http-method-override"], "DELETE");
    }

    #[test]
    fn writes_send_json_bodies() {
        let req = site(Some(3))
            .json_call(Method::PUT, "record", &params(json!({"app": 1, "id": 2})))
            .unwrap();
        assert_eq!(req.method(), Method::PUT);
        assert_eq!(req.uri().path(), "/k/guest/3/v1/record.json");
        assert_eq!(
            serde_json::from_slice::<Value>(req.body()).unwrap(),
            json!({"app": 1, "id": 2})
        );
    }

    #[test]
    fn download_keys_are_url_encoded() {
        let req = site(None).download("a b&c").unwrap();
        assert_eq!(req.uri().query(), Some("fileKey=a+b%26c"));
    }
}
