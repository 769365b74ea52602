//! Everything the fake remembers: users, OAuth grants, apps with their live and pre-live
//! settings, records, comments, files and cursors. One `State` behind one mutex: requests are
//! short and tests want a consistent view, so finer locking would buy nothing.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::kintone::error::Lang;

/// A cybozu.com user, with the groups and organizations ACL entries refer to.
#[derive(Debug, Clone)]
pub struct User {
    pub code: String,
    pub name: String,
    pub email: String,
    /// "ja", "en", or "auto" (follow the browser's `Accept-Language`).
    pub language: String,
    pub utc_offset: FixedOffset,
    pub groups: Vec<String>,
    pub organizations: Vec<String>,
    /// For `X-Cybozu-Authorization` (password authentication); none means it is refused.
    pub password: Option<String>,
}

impl User {
    pub fn lang(&self, accept_language: Option<&str>) -> Lang {
        match self.language.as_str() {
            "ja" => Lang::Ja,
            "en" => Lang::En,
            _ => Lang::from_accept_language(accept_language),
        }
    }

    /// Every user belongs to the built-in group `everyone` (kintone's "Everyone").
    pub fn in_group(&self, group: &str) -> bool {
        group == "everyone" || self.groups.iter().any(|g| g == group)
    }
}

#[derive(Debug, Clone)]
pub struct Space {
    pub id: u64,
    pub name: String,
    pub is_guest: bool,
    pub members: Vec<String>,
}

/// The six Cybozu OAuth scopes for kintone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    AppRecordRead,
    AppRecordWrite,
    AppSettingsRead,
    AppSettingsWrite,
    FileRead,
    FileWrite,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::AppRecordRead,
        Scope::AppRecordWrite,
        Scope::AppSettingsRead,
        Scope::AppSettingsWrite,
        Scope::FileRead,
        Scope::FileWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AppRecordRead => "k:app_record:read",
            Scope::AppRecordWrite => "k:app_record:write",
            Scope::AppSettingsRead => "k:app_settings:read",
            Scope::AppSettingsWrite => "k:app_settings:write",
            Scope::FileRead => "k:file:read",
            Scope::FileWrite => "k:file:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

pub fn scope_string(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Instant,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Instant,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<Scope>,
    pub issued_seq: u64,
}

pub struct OAuthState {
    pub client: OAuthClient,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub token_lifetime: Duration,
    pub code_lifetime: Duration,
    pub approving_user: Option<String>,
    /// Cybozu keeps at most this many refresh tokens per user and client; the oldest goes first.
    pub max_refresh_tokens_per_user: usize,
    pub issue_seq: u64,
}

/// One side of an app's settings: live (operating) or pre-live (preview).
#[derive(Debug, Clone)]
pub struct Settings {
    pub revision: u64,
    /// Field code → field definition, as `app/form/fields.json` returns it.
    pub properties: Map<String, Value>,
    pub layout: Value,
    pub views: Value,
    /// General settings (`app/settings.json`) without `revision`.
    pub general: Map<String, Value>,
    /// Process management (`app/status.json`) without `revision`.
    pub status: Map<String, Value>,
    pub reports: Value,
    pub customize: Map<String, Value>,
    pub actions: Value,
    pub app_acl: Value,
    pub record_acl: Value,
    pub field_acl: Value,
    pub notifications_general: Map<String, Value>,
    pub notifications_per_record: Value,
    pub notifications_reminder: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStatus {
    Processing,
    Success,
    Fail,
    Cancel,
}

impl DeployStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Processing => "PROCESSING",
            DeployStatus::Success => "SUCCESS",
            DeployStatus::Fail => "FAIL",
            DeployStatus::Cancel => "CANCEL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeployState {
    /// What the deploy will end as, once the PROCESSING polls are used up.
    pub outcome: DeployStatus,
    pub processing_polls_left: u32,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub creator: String,
    pub mentions: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub revision: u64,
    /// Field code → raw value (no `type`), only for fields that store data.
    pub values: Map<String, Value>,
    pub status: Option<String>,
    pub assignees: Vec<String>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
    pub modifier: String,
    pub updated_at: DateTime<Utc>,
    pub comments: Vec<Comment>,
    pub next_comment_id: u64,
}

#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub space_id: Option<u64>,
    pub thread_id: Option<u64>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
    pub modifier: String,
    pub modified_at: DateTime<Utc>,
    /// An app added through `preview/app.json` is not live until its first deploy.
    pub deployed: bool,
    pub live: Settings,
    pub preview: Settings,
    pub deploy: Option<DeployState>,
    pub records: BTreeMap<u64, Record>,
    pub next_record_id: u64,
}

/// Where an attached file belongs, so downloads can check record permissions.
#[derive(Debug, Clone)]
pub struct FileOwner {
    pub app: u64,
    pub record: u64,
}

#[derive(Debug, Clone)]
pub struct StoredFile {
    pub name: String,
    pub content_type: String,
    pub data: bytes::Bytes,
    /// None for an upload not yet attached to a record (its key is the upload key).
    pub owner: Option<FileOwner>,
    pub uploaded_at: Instant,
}

#[derive(Debug, Clone)]
pub struct Cursor {
    pub user: String,
    pub app: u64,
    pub fields: Option<Vec<String>>,
    pub record_ids: Vec<u64>,
    pub position: usize,
    pub size: usize,
    pub expires_at: Instant,
}

pub struct State {
    pub users: Vec<User>,
    pub groups: Vec<(String, String)>,
    pub organizations: Vec<(String, String)>,
    pub spaces: Vec<Space>,
    pub oauth: OAuthState,
    pub apps: BTreeMap<u64, App>,
    /// Upload keys (temporary) and download keys (attached) share one table.
    pub files: HashMap<String, StoredFile>,
    pub cursors: HashMap<String, Cursor>,
    pub next_app_id: u64,
    pub next_row_id: u64,
    pub deploy_processing_polls: u32,
}

/// kintone keeps at most 10 live cursors per domain.
pub const MAX_CURSORS: usize = 10;
/// A cursor lives 10 minutes after creation or its last read.
pub const CURSOR_LIFETIME: Duration = Duration::from_secs(600);

impl State {
    pub fn user(&self, code: &str) -> Option<&User> {
        self.users.iter().find(|u| u.code == code)
    }

    pub fn user_name(&self, code: &str) -> String {
        self.user(code)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| code.to_string())
    }

    pub fn space(&self, id: u64) -> Option<&Space> {
        self.spaces.iter().find(|s| s.id == id)
    }

    pub fn group_name(&self, code: &str) -> Option<String> {
        self.groups.iter().find(|(c, _)| c == code).map(|(_, n)| n.clone())
    }

    pub fn organization_name(&self, code: &str) -> Option<String> {
        self.organizations
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, n)| n.clone())
    }

    pub fn next_row_id(&mut self) -> u64 {
        let id = self.next_row_id;
        self.next_row_id += 1;
        id
    }
}
