//! The kintone REST client every tool uses: one request, one interpreted answer.

mod multipart;
pub(crate) mod request;
mod response;

use http::Method;
use platform::HttpClient;
use serde_json::{Map, Value};

use crate::outcome::Failure;
use crate::types::Connection;
pub(crate) use request::Site;
pub(crate) use response::FileDownload;

/// A kintone site as seen by one tool call (one user's token, maybe one guest space).
pub(crate) struct Kintone<'a, H> {
    http: &'a H,
    site: Site<'a>,
}

impl<'a, H: HttpClient> Kintone<'a, H> {
    pub(crate) fn new(http: &'a H, conn: &'a Connection, guest_space: Option<u64>) -> Self {
        Kintone {
            http,
            site: Site {
                base_url: &conn.base_url,
                access_token: &conn.access_token,
                guest_space,
            },
        }
    }

    pub(crate) async fn get(&self, resource: &str, params: Value) -> Result<Value, Failure> {
        self.call(Method::GET, resource, params).await
    }

    pub(crate) async fn post(&self, resource: &str, params: Value) -> Result<Value, Failure> {
        self.call(Method::POST, resource, params).await
    }

    pub(crate) async fn put(&self, resource: &str, params: Value) -> Result<Value, Failure> {
        self.call(Method::PUT, resource, params).await
    }

    pub(crate) async fn delete(&self, resource: &str, params: Value) -> Result<Value, Failure> {
        self.call(Method::DELETE, resource, params).await
    }

    /// One JSON API call; `params` is a JSON object (query string or body, per method).
    async fn call(&self, method: Method, resource: &str, params: Value) -> Result<Value, Failure> {
        let params = match params {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let request = self.site.json_call(method, resource, &params)?;
        let response = self.send(request).await?;
        response::json_answer(response)
    }

    /// Uploads one file; kintone answers `{fileKey}`.
    pub(crate) async fn upload(&self, name: &str, content_type: &str, data: &[u8]) -> Result<Value, Failure> {
        let request = self.site.upload(name, content_type, data)?;
        response::json_answer(self.send(request).await?)
    }

    /// Downloads one file, refusing bodies over `max_bytes` without reading past them.
    pub(crate) async fn download(&self, file_key: &str, max_bytes: usize) -> Result<FileDownload, Failure> {
        let request = self.site.download(file_key)?;
        let response = match self.http.send_capped(request, max_bytes).await {
            Ok(response) => response,
            Err(platform::OutboundError::TooLarge { limit, size }) => return Err(response::too_large(size, limit)),
            Err(e) => return Err(Failure::Unavailable(format!("kintone could not be reached: {e}"))),
        };
        response::file_answer(response, max_bytes)
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Failure> {
        self.http
            .send(request)
            .await
            .map_err(|e| Failure::Unavailable(format!("kintone could not be reached: {e}")))
    }
}
