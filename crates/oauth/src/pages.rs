//! The two HTML pages a person may see: consent and error, in Japanese or English.
//!
//! No script, inline style only, every dynamic value escaped with `html-escape`, and headers that
//! forbid framing (`frame-ancestors 'none'`, `X-Frame-Options: DENY`) and referrers.

use crate::web::{Reply, Response};
use grants::{is_deceptive_name_char, Scope, Scopes};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use http::{header, StatusCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// Pick Japanese or English from `Accept-Language` by quality (RFC 9110 §12.5.4); English
    /// when neither is asked for.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in accept_language.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ja") => Lang::Ja,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    fn pick(self, ja: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// What the user is told a scope allows.
pub fn scope_label(scope: Scope, lang: Lang) -> &'static str {
    match scope {
        Scope::AppRecordRead => lang.pick("レコードとコメントの閲覧", "Read records and comments"),
        Scope::AppRecordWrite => lang.pick(
            "レコードとコメントの追加・更新・削除、ステータスの更新",
            "Add, update and delete records and comments; change statuses",
        ),
        Scope::AppSettingsRead => lang.pick(
            "アプリ設定の閲覧（フィールド、一覧、プロセス管理、アクセス権、通知など）",
            "Read app settings (fields, views, process management, permissions, notifications)",
        ),
        Scope::AppSettingsWrite => lang.pick(
            "アプリ設定の変更と運用環境への反映",
            "Change app settings and deploy them",
        ),
        Scope::FileRead => lang.pick("添付ファイルのダウンロード", "Download attached files"),
        Scope::FileWrite => lang.pick("ファイルのアップロード", "Upload files"),
    }
}

/// Errors a person can land on. Messages are fixed text; the only dynamic part is a sanitised
/// error code from Cybozu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorPage {
    InvalidRequest,
    UnknownClient,
    RedirectUriMismatch,
    CsrfFailed,
    ConsentExpired,
    SigninUnknown,
    SigninExpired,
    SigninOtherBrowser,
    CybozuDenied,
    CybozuError(String),
    /// A client identified by a metadata document URL that could not be used (the reason).
    ClientMetadata(String),
    CybozuRejected,
    CybozuUnavailable,
    ServerError,
    /// Every sign-in slot holds someone's active grant: nothing was evicted, the sign-in refused.
    ServerFull,
}

impl ErrorPage {
    pub fn status(&self) -> StatusCode {
        match self {
            ErrorPage::CsrfFailed | ErrorPage::SigninOtherBrowser | ErrorPage::CybozuDenied => StatusCode::FORBIDDEN,
            ErrorPage::CybozuRejected | ErrorPage::CybozuError(_) => StatusCode::BAD_GATEWAY,
            ErrorPage::CybozuUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            // Raised when the store fails: nothing was changed and a retry may succeed.
            ErrorPage::ServerError | ErrorPage::ServerFull => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self, lang: Lang) -> (&'static str, &'static str) {
        let l = |ja, en| lang.pick(ja, en);
        match self {
            ErrorPage::InvalidRequest => (
                l("リクエストが正しくありません", "Invalid request"),
                l("認可リクエストに不足または誤りがあります。アプリケーションから接続をやり直してください。",
                  "The authorization request is incomplete or malformed. Start the connection again from the application."),
            ),
            ErrorPage::UnknownClient => (
                l("不明なアプリケーション", "Unknown application"),
                l("このアプリケーションはこのサーバーに登録されていないか、登録が無効になっています。アプリケーションから接続し直してください。",
                  "This application is not registered with this server, or its registration is no longer valid. Reconnect it from the application."),
            ),
            ErrorPage::ClientMetadata(_) => (
                l("アプリケーションを確認できません", "Cannot verify the application"),
                l("このアプリケーションは自身の説明（クライアントメタデータ文書）の URL で名乗っていますが、その文書を取得できないか、内容が正しくありません。何も変更されていません。アプリケーションの提供元か、このサーバーの管理者（許可する取得元 cimd_origin_1〜4）に確認してください。",
                  "This application identifies itself by the web address of its description (a client metadata document), and that document could not be fetched or is not valid. Nothing was changed. Check with the application's provider, or ask this server's administrator (the allowed origins cimd_origin_1 to 4)."),
            ),
            ErrorPage::RedirectUriMismatch => (
                l("戻り先が一致しません", "Return address mismatch"),
                l("アプリケーションの戻り先 (redirect_uri) が登録内容と一致しません。安全のため、アプリケーションには戻りません。",
                  "The application's return address (redirect_uri) does not match its registration. For your safety you are not sent back to it."),
            ),
            ErrorPage::CsrfFailed => (
                l("確認できませんでした", "Could not verify this request"),
                l("この承認フォームはこのブラウザーでは無効です（セキュリティトークンがないか一致しません）。アプリケーションから接続をやり直してください。",
                  "This approval form is not valid in this browser (its security token is missing or wrong). Start the connection again from the application."),
            ),
            ErrorPage::ConsentExpired => (
                l("承認ページの有効期限切れ", "Approval page expired"),
                l("承認ページの有効期限が切れました。アプリケーションから接続をやり直してください。",
                  "The approval page has expired. Start the connection again from the application."),
            ),
            ErrorPage::SigninUnknown => (
                l("サインインを完了できません", "Cannot finish signing in"),
                l("このサインインは無効か、すでに使用されています。アプリケーションから接続をやり直してください。",
                  "This sign-in is invalid or has already been used. Start the connection again from the application."),
            ),
            ErrorPage::SigninExpired => (
                l("サインインの有効期限切れ", "Sign-in expired"),
                l("サインインに時間がかかりすぎました。アプリケーションから接続をやり直してください。",
                  "Signing in took too long. Start the connection again from the application."),
            ),
            ErrorPage::SigninOtherBrowser => (
                l("別のブラウザーで開始されたサインイン", "Sign-in started in another browser"),
                l("このサインインは別のブラウザーで開始されたか、Cookie がブロックされています。開始したブラウザーで完了するか、やり直してください。",
                  "This sign-in was started in another browser, or cookies are blocked. Finish it in the browser where you started, or start again."),
            ),
            ErrorPage::CybozuDenied => (
                l("アクセスが拒否されました", "Access denied"),
                l("Cybozu でアクセスが拒否されました。何も接続されていません。",
                  "Access was denied at Cybozu. Nothing was connected."),
            ),
            ErrorPage::CybozuError(_) => (
                l("Cybozu でエラーが発生しました", "Cybozu reported an error"),
                l("Cybozu がサインインを完了できませんでした。何も接続されていません。",
                  "Cybozu could not complete the sign-in. Nothing was connected."),
            ),
            ErrorPage::CybozuRejected => (
                l("Cybozu がサインインを拒否しました", "Cybozu refused the sign-in"),
                l("Cybozu がサインインの完了を拒否しました。管理者に、このサーバーの OAuth クライアント設定（リダイレクトエンドポイント、クライアント ID とシークレット）と利用者の設定を確認するよう依頼してください。何も接続されていません。",
                  "Cybozu refused to complete the sign-in. Ask your administrator to check this server's OAuth client settings (redirect endpoint, client ID and secret) and that you are an allowed user. Nothing was connected."),
            ),
            ErrorPage::CybozuUnavailable => (
                l("Cybozu に接続できません", "Cannot reach Cybozu"),
                l("サインインを完了するために Cybozu に接続できませんでした。しばらくしてからやり直してください。何も接続されていません。",
                  "Could not reach Cybozu to finish signing in. Try again in a moment. Nothing was connected."),
            ),
            ErrorPage::ServerError => (
                l("一時的に利用できません", "Temporarily unavailable"),
                l("このサーバーで一時的な問題が発生しました。何も変更されていません。しばらくしてからやり直してください。",
                  "This server had a temporary problem; nothing was changed. Try again in a moment."),
            ),
            ErrorPage::ServerFull => (
                l("サインインの上限に達しています", "This server is full"),
                l("このサーバーが保持できるサインインの数（max_grants）に達しているため、他の人をサインアウトさせずにはサインインできません。何も変更されていません。管理者に max_grants を増やすよう依頼するか、使っていない接続を解除してからやり直してください。",
                  "This server holds as many sign-ins as it may (max_grants), and signing you in would sign someone else out. Nothing was changed. Ask the administrator to raise max_grants, or disconnect an unused connection, then try again."),
            ),
        }
    }

    pub fn render(&self, lang: Lang) -> Response {
        let (title, message) = self.message(lang);
        let detail = match self {
            ErrorPage::CybozuError(code) => {
                format!(
                    "<p class=\"detail\">{}: <code>{}</code></p>",
                    lang.pick("エラーコード", "Error code"),
                    text(code)
                )
            }
            ErrorPage::ClientMetadata(reason) => {
                format!(
                    "<p class=\"detail\">{}: <code>{}</code></p>",
                    lang.pick("理由", "Reason"),
                    text(reason)
                )
            }
            _ => String::new(),
        };
        let body = format!("<h1>{}</h1>\n<p>{}</p>\n{detail}", text(title), text(message));
        let response = page(self.status(), lang, title, &body);
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            platform::retry_later(response)
        } else {
            response
        }
    }
}

/// What the consent page shows and posts back.
pub struct Consent<'a> {
    /// What the client calls itself (its own, unverified claim).
    pub client_name: Option<&'a str>,
    /// For a client identified by its metadata document URL: that URL's host, which this server
    /// did verify (it fetched the document from there over https). Shown first.
    pub verified_host: Option<&'a str>,
    /// The full redirect URI the code goes to, not only its host: two clients on one host
    /// (`https://host/a/cb`, `https://host/b/cb`) must look different.
    pub redirect_uri: &'a str,
    pub redirect_is_loopback: bool,
    pub kintone_host: &'a str,
    pub scopes: Scopes,
    /// The sealed request and the CSRF token, as hidden fields.
    pub sealed_request: &'a str,
    pub csrf_token: &'a str,
}

pub fn consent_page(lang: Lang, c: &Consent<'_>) -> Response {
    let l = |ja, en| lang.pick(ja, en);
    // The name is whatever the client registered: say so, and show it as its claim.
    let name = c.client_name.map(displayable_name);
    if let Some(host) = c.verified_host {
        return consent_page_for_document_client(lang, c, host, name.as_deref());
    }
    let title = l("kintone へのアクセスを許可しますか？", "Allow access to kintone?");
    let intro = match (lang, &name) {
        (Lang::Ja, Some(name)) => format!(
            "「<strong class=\"client\">{}</strong>」と名乗るアプリケーションが、あなたの代わりに kintone（<strong>{}</strong>）を利用しようとしています。",
            text(name),
            text(c.kintone_host)
        ),
        (Lang::Ja, None) => format!(
            "名前を名乗っていないアプリケーションが、あなたの代わりに kintone（<strong>{}</strong>）を利用しようとしています。",
            text(c.kintone_host)
        ),
        (Lang::En, Some(name)) => format!(
            "An application that says its name is “<strong class=\"client\">{}</strong>” wants to use kintone (<strong>{}</strong>) on your behalf.",
            text(name),
            text(c.kintone_host)
        ),
        (Lang::En, None) => format!(
            "An application that gives no name wants to use kintone (<strong>{}</strong>) on your behalf.",
            text(c.kintone_host)
        ),
    };
    let claim = text(l(
        "名前はアプリケーション自身が登録したもので、このサーバーは確認していません。下の戻り先で見分けてください。",
        "The application chose this name itself; this server has not verified it. Tell applications apart by the return address below.",
    ));
    consent_body(lang, c, title, &text(title), &intro, &claim)
}

/// The consent page of a client identified by its metadata document URL: the verified host
/// first ("claude.ai wants …"), the name it gives itself second, as its claim.
fn consent_page_for_document_client(lang: Lang, c: &Consent<'_>, host: &str, name: Option<&str>) -> Response {
    let (title, heading) = match lang {
        Lang::Ja => (
            format!("{host} が kintone へのアクセスを求めています"),
            format!(
                "<span class=\"verified-host\">{}</span> が kintone へのアクセスを求めています",
                text(host)
            ),
        ),
        Lang::En => (
            format!("{host} wants access to kintone"),
            format!(
                "<span class=\"verified-host\">{}</span> wants access to kintone",
                text(host)
            ),
        ),
    };
    let intro = match (lang, name) {
        (Lang::Ja, Some(name)) => format!(
            "<strong class=\"verified-host\">{}</strong> のアプリケーション（自称「<strong class=\"client\">{}</strong>」）が、あなたの代わりに kintone（<strong>{}</strong>）を利用しようとしています。",
            text(host),
            text(name),
            text(c.kintone_host)
        ),
        (Lang::Ja, None) => format!(
            "<strong class=\"verified-host\">{}</strong> のアプリケーションが、あなたの代わりに kintone（<strong>{}</strong>）を利用しようとしています。",
            text(host),
            text(c.kintone_host)
        ),
        (Lang::En, Some(name)) => format!(
            "An application from <strong class=\"verified-host\">{}</strong>, which says its name is “<strong class=\"client\">{}</strong>”, wants to use kintone (<strong>{}</strong>) on your behalf.",
            text(host),
            text(name),
            text(c.kintone_host)
        ),
        (Lang::En, None) => format!(
            "An application from <strong class=\"verified-host\">{}</strong> wants to use kintone (<strong>{}</strong>) on your behalf.",
            text(host),
            text(c.kintone_host)
        ),
    };
    let claim = match lang {
        Lang::Ja => format!(
            "このサーバーはアプリケーションの説明を {} から https で取得して確認しました。名前はアプリケーション自身の申告です。",
            text(host)
        ),
        Lang::En => format!(
            "This server fetched the application's description from {} over https. The name is the application's own claim.",
            text(host)
        ),
    };
    consent_body(lang, c, &title, &heading, &intro, &claim)
}

/// The consent page around its introduction: where the user returns, permissions, the form.
fn consent_body(lang: Lang, c: &Consent<'_>, title: &str, heading_html: &str, intro: &str, claim: &str) -> Response {
    let l = |ja, en| lang.pick(ja, en);
    let next = match lang {
        Lang::Ja => format!(
            "許可すると Cybozu にサインインし、その後次のアドレスに戻ります: <code class=\"redirect\">{}</code>",
            text(c.redirect_uri)
        ),
        Lang::En => format!(
            "If you allow, you sign in with Cybozu and are then sent back to <code class=\"redirect\">{}</code>.",
            text(c.redirect_uri)
        ),
    };
    let loopback = if c.redirect_is_loopback {
        format!(
            "<p class=\"note\">{}</p>",
            text(l(
                "戻り先はこのコンピューター上のアプリケーションです（Claude Desktop などの MCP クライアント）。自分で起動したものでなければ拒否してください。",
                "The return address is an application on this computer (an MCP client such as Claude Desktop). Deny if you did not start it yourself."
            ))
        )
    } else {
        String::new()
    };
    let permissions: String = c
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<li>{} <code>{}</code></li>",
                text(scope_label(s, lang)),
                text(s.name())
            )
        })
        .collect();
    let body = format!(
        r#"<h1>{heading_html}</h1>
<p>{intro}</p>
<p class="claim">{claim}</p>
<p>{next}</p>
{loopback}
<h2>{perm_title}</h2>
<ul class="scopes">{permissions}</ul>
<form method="post" action="/authorize">
<input type="hidden" name="request" value="{request}">
<input type="hidden" name="csrf_token" value="{csrf}">
<button type="submit" name="decision" value="approve" class="approve">{approve}</button>
<button type="submit" name="decision" value="deny">{deny}</button>
</form>"#,
        perm_title = text(l("許可する権限", "Permissions requested")),
        request = attr(c.sealed_request),
        csrf = attr(c.csrf_token),
        approve = text(l("許可する", "Allow")),
        deny = text(l("拒否する", "Deny")),
    );
    page(StatusCode::OK, lang, title, &body)
}

/// The client's name as shown: characters that hide or reorder text (bidi controls, zero-width
/// characters) become U+FFFD. Registration refuses them; ids registered before that rule still
/// verify, so the page does not rely on it.
fn displayable_name(name: &str) -> String {
    name.chars()
        .map(|c| if is_deceptive_name_char(c) { '\u{FFFD}' } else { c })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.6;color:#222}\
h1{font-size:1.4rem}h2{font-size:1.1rem}code{font-size:.85em;color:#555}code.redirect{word-break:break-all;color:#222}.claim{color:#555;font-size:.9em}.note{background:#fff6e0;padding:.5rem .75rem;border-radius:4px}\
button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.75rem;border-radius:4px;border:1px solid #888;background:#fff;cursor:pointer}\
button.approve{background:#1a73e8;color:#fff;border-color:#1a73e8}.detail{color:#555}";

fn page(status: StatusCode, lang: Lang, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        lang.code(),
        text(title)
    );
    // No `form-action`: browsers apply it to every redirect after the consent post, and that
    // chain runs through Cybozu's sign-in, which may hop to a company's SAML identity provider
    // whose origin we cannot know. The pages have no script and escape every value, so there is
    // no injected form for `form-action` to stop.
    let csp = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";
    Reply::new(status)
        .no_store()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, csp)
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(html)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_accept_language_quality() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("ja")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("ja-JP,ja;q=0.9,en;q=0.8")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9,ja;q=0.8")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, ja;q=0.5")), Lang::Ja);
        assert_eq!(Lang::negotiate(Some("de, fr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("ja;q=0, en;q=0.1")), Lang::En);
    }

    fn consent(name: Option<&str>, lang: Lang) -> String {
        let r = consent_page(
            lang,
            &Consent {
                client_name: name,
                verified_host: None,
                redirect_uri: "https://claude.ai/api/mcp/auth_callback",
                redirect_is_loopback: false,
                kintone_host: "example.cybozu.com",
                scopes: Scopes::parse_lenient("k:app_record:read k:file:read"),
                sealed_request: "sealed\"><x",
                csrf_token: "csrf",
            },
        );
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(r.headers()["cache-control"], "no-store");
        String::from_utf8(r.into_body()).unwrap()
    }

    #[test]
    fn consent_page_escapes_the_client_name_and_lists_permissions() {
        let html = consent(Some("<script>alert('x')</script>"), Lang::En);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Read records and comments"));
        assert!(html.contains("Download attached files"));
        assert!(!html.contains("Upload files"));
        assert!(
            html.contains("https://claude.ai/api/mcp/auth_callback"),
            "the full redirect URI"
        );
        assert!(html.contains("example.cybozu.com"));
        assert!(!html.contains("sealed\"><x"));
        let ja = consent(None, Lang::Ja);
        assert!(ja.contains("lang=\"ja\""));
        assert!(ja.contains("名前を名乗っていないアプリケーション"));
        assert!(ja.contains("許可する"));
        assert!(ja.contains("https://claude.ai/api/mcp/auth_callback"));
    }

    #[test]
    fn the_client_name_is_shown_as_its_own_claim_without_hidden_characters() {
        let en = consent(Some("Claude\u{202E}edualC\u{200B}"), Lang::En);
        assert!(
            en.contains("says its name is “<strong class=\"client\">Claude\u{FFFD}edualC\u{FFFD}</strong>”"),
            "{en}"
        );
        assert!(en.contains("has not verified it"));
        let ja = consent(Some("Claude"), Lang::Ja);
        assert!(
            ja.contains("「<strong class=\"client\">Claude</strong>」と名乗るアプリケーション"),
            "{ja}"
        );
        assert!(ja.contains("確認していません"));
        assert!(consent(None, Lang::En).contains("An application that gives no name"));
    }

    #[test]
    fn a_full_server_says_so_and_names_the_setting_to_raise() {
        for lang in [Lang::En, Lang::Ja] {
            let r = ErrorPage::ServerFull.render(lang);
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(String::from_utf8_lossy(r.body()).contains("max_grants"));
        }
    }

    #[test]
    fn error_pages_escape_codes_and_have_both_languages() {
        let r = ErrorPage::CybozuError("<b>x</b>".into()).render(Lang::Ja);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let html = String::from_utf8(r.into_body()).unwrap();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.contains("Cybozu でエラーが発生しました"));
        let en = String::from_utf8(ErrorPage::UnknownClient.render(Lang::En).into_body()).unwrap();
        assert!(en.contains("Unknown application"));
    }
}
