//! kintone's error body `{code, id, message, errors}` and the messages it carries, in the
//! caller's language (Japanese by default, English for `Accept-Language: en` or an English user).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use crate::random;

/// The language of error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// Picks the Japanese or English text.
    pub fn t(self, ja: impl Into<String>, en: impl Into<String>) -> String {
        match self {
            Lang::Ja => ja.into(),
            Lang::En => en.into(),
        }
    }

    /// kintone follows `Accept-Language` when the user's setting is "use the browser's";
    /// anything not starting with `en` (including `*`, which Node's fetch sends) means Japanese.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        match header {
            Some(value) if value.trim().to_ascii_lowercase().starts_with("en") => Lang::En,
            _ => Lang::Ja,
        }
    }
}

/// One kintone error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub errors: Option<Map<String, Value>>,
    pub extra_headers: Vec<(&'static str, String)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: String) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message,
            errors: None,
            extra_headers: Vec::new(),
        }
    }

    /// 400 CB_VA01 with per-key messages, e.g. `("app", "必須です。")`.
    pub fn validation(lang: Lang, errors: Vec<(String, String)>) -> Self {
        let mut map = Map::new();
        for (key, message) in errors {
            let entry = map.entry(key).or_insert_with(|| json!({"messages": []}));
            if let Some(list) = entry.get_mut("messages").and_then(Value::as_array_mut) {
                list.push(Value::String(message));
            }
        }
        ApiError {
            errors: Some(map),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "CB_VA01",
                lang.t("入力内容が正しくありません。", "Missing or invalid input."),
            )
        }
    }

    pub fn field(lang: Lang, key: impl Into<String>, message: String) -> Self {
        ApiError::validation(lang, vec![(key.into(), message)])
    }

    /// A request parameter is missing.
    pub fn required_param(lang: Lang, key: &str) -> Self {
        ApiError::field(lang, key, lang.t("必須です。", "Required field."))
    }

    pub fn invalid_json(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "CB_IJ01",
            lang.t("不正なJSON文字列です。", "Invalid JSON string."),
        )
    }

    pub fn no_credentials(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CB_AU01",
            lang.t("ログインしてください。", "Please login."),
        )
    }

    pub fn wrong_password(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CB_WA01",
            lang.t(
                "ユーザーのパスワード認証に失敗しました。",
                "Password authentication failed.",
            ),
        )
    }

    /// 401 CB_OA01: the bearer token is unknown, revoked or expired. Clients refresh on this.
    pub fn invalid_token(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CB_OA01",
            lang.t(
                "OAuthのアクセストークンが無効か、有効期限が切れています。",
                "The OAuth access token is invalid or has expired.",
            ),
        )
    }

    /// 403 CB_OA01: the token lacks the scope this API needs.
    pub fn missing_scope(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "CB_OA01",
            lang.t("Cannot access protected resource.", "Cannot access protected resource."),
        )
    }

    pub fn no_permission(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "CB_NO02",
            lang.t("権限がありません。", "No privilege to proceed."),
        )
    }

    pub fn app_not_found(lang: Lang, app: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "GAIA_AP01",
            lang.t(
                format!("指定したアプリ（id: {app}）が見つかりません。削除されている可能性があります。"),
                format!("The app (ID: {app}) not found. The app may have been deleted."),
            ),
        )
    }

    pub fn record_not_found(lang: Lang, id: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "GAIA_RE01",
            lang.t(
                format!("指定したレコード（id: {id}）が見つかりません。"),
                format!("The specified record (ID: {id}) is not found."),
            ),
        )
    }

    pub fn file_not_found(lang: Lang, key: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "GAIA_BL01",
            lang.t(
                format!("指定したファイル（id: {key}）が見つかりません。"),
                format!("The specified file (id: {key}) not found."),
            ),
        )
    }

    pub fn comment_not_found(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "GAIA_RE02",
            lang.t(
                "指定したコメントが存在しません。削除された可能性があります。",
                "The specified comment does not exist. The comment may have been deleted.",
            ),
        )
    }

    pub fn stale_revision(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::CONFLICT,
            "GAIA_CO02",
            lang.t(
                "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
                "The revision is not the latest. Someone may update a record.",
            ),
        )
    }

    pub fn guest_path_required(lang: Lang) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "GAIA_IL23",
            lang.t(
                "ゲストスペース内のアプリを操作する場合は、リクエストの送信先を「/k/guest/（ゲストスペースのID）/v1/...」にします。",
                "You need to send a request to the URL: \"/k/guest/<Space ID>/v1/...\" to execute apps in Guest Spaces.",
            ),
        )
    }

    pub fn rate_limited(lang: Lang, limit: usize, running: usize) -> Self {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "GAIA_TO04",
            lang.t(
                "APIの同時リクエスト数が上限を超えています。",
                "The number of concurrent API requests exceeds the limit.",
            ),
        );
        error.extra_headers = vec![
            ("X-Cybozu-Error", "GAIA_TO04".to_string()),
            ("X-ConcurrencyLimit-Limit", limit.to_string()),
            ("X-ConcurrencyLimit-Running", running.to_string()),
        ];
        error
    }

    /// An API this fake does not implement. Not a real kintone code: a test that sees it has
    /// found a gap in the fake, not a behaviour of kintone.
    pub fn unsupported(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "FAKE_UNSUPPORTED_API",
            format!("fake-cybozu does not implement {method} {path}"),
        )
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"code": self.code, "id": random::error_id(), "message": self.message});
        if let Some(errors) = &self.errors {
            body["errors"] = Value::Object(errors.clone());
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, json_body(&self.body())).into_response();
        for (name, value) in &self.extra_headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().insert(*name, value);
            }
        }
        response
    }
}

/// kintone answers `application/json;charset=utf-8`.
pub fn json_body(value: &Value) -> ([(http::header::HeaderName, &'static str); 1], String) {
    (
        [(http::header::CONTENT_TYPE, "application/json;charset=utf-8")],
        value.to_string(),
    )
}
