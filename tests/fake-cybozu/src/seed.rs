//! The fixture file: users, groups, organizations, spaces and apps with their settings and
//! records, in a readable JSON form. Records give plain values (`"会社名": "…"`, users as
//! login names, subtable rows as objects, files with inline text or base64 content) and go
//! through the same validation as records added over the API.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::kintone::apps::{default_general, default_layout, system_properties};
use crate::kintone::datetime::parse_datetime;
use crate::kintone::error::Lang;
use crate::kintone::fields::{self, field_type, WriteEnv, WriteMode};
use crate::kintone::process;
use crate::state::{App, Comment, OAuthClient, OAuthState, Record, Settings, Space, State, StoredFile, User};

/// The fixture bundled with the crate.
pub const BUNDLED: &str = include_str!("../data/seed.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default, rename = "$comment")]
    _comment: Option<Value>,
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub groups: Vec<SeedNamed>,
    #[serde(default)]
    pub organizations: Vec<SeedNamed>,
    #[serde(default)]
    pub spaces: Vec<SeedSpace>,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedUser {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default = "auto")]
    pub language: String,
    #[serde(default = "tokyo")]
    pub utc_offset: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub organizations: Vec<String>,
    #[serde(default)]
    pub password: Option<String>,
}

fn auto() -> String {
    "auto".into()
}

fn tokyo() -> String {
    "+09:00".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedNamed {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedSpace {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub is_guest: bool,
    pub members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedApp {
    pub app_id: u64,
    #[serde(default)]
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub space_id: Option<u64>,
    #[serde(default)]
    pub thread_id: Option<u64>,
    pub creator: String,
    pub created_at: String,
    pub properties: Map<String, Value>,
    #[serde(default)]
    pub layout: Option<Value>,
    #[serde(default)]
    pub views: Option<Value>,
    #[serde(default)]
    pub settings: Option<Map<String, Value>>,
    #[serde(default)]
    pub status: Option<Map<String, Value>>,
    #[serde(default)]
    pub reports: Option<Value>,
    #[serde(default)]
    pub customize: Option<Map<String, Value>>,
    #[serde(default)]
    pub actions: Option<Value>,
    #[serde(default)]
    pub app_acl: Option<Value>,
    #[serde(default)]
    pub record_acl: Option<Value>,
    #[serde(default)]
    pub field_acl: Option<Value>,
    #[serde(default)]
    pub notifications: Option<Map<String, Value>>,
    #[serde(default)]
    pub records: Vec<Map<String, Value>>,
}

impl Seed {
    pub fn parse(text: &str) -> anyhow::Result<Seed> {
        serde_json::from_str(text).context("the fixture is not valid fake-cybozu seed JSON")
    }
}

fn parse_offset(text: &str) -> anyhow::Result<FixedOffset> {
    let dt = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{text}"))
        .with_context(|| format!("bad utcOffset {text:?}"))?;
    Ok(*dt.offset())
}

fn parse_time(text: &str, what: &str) -> anyhow::Result<DateTime<Utc>> {
    parse_datetime(text).ok_or_else(|| anyhow!("bad {what} {text:?}"))
}

/// The OAuth settings the state starts with.
pub struct OAuthSetup {
    pub client: OAuthClient,
    pub token_lifetime: Duration,
    pub code_lifetime: Duration,
    pub approving_user: Option<String>,
}

pub fn build_state(seed: Seed, oauth: OAuthSetup, deploy_processing_polls: u32) -> anyhow::Result<State> {
    let users = seed
        .users
        .iter()
        .map(|u| {
            Ok(User {
                code: u.code.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                language: u.language.clone(),
                utc_offset: parse_offset(&u.utc_offset)?,
                groups: u.groups.clone(),
                organizations: u.organizations.clone(),
                password: u.password.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(user) = &oauth.approving_user {
        if !users.iter().any(|u| &u.code == user) {
            bail!("the auto-approving user {user:?} is not in the fixture");
        }
    }
    let mut state = State {
        users,
        groups: seed.groups.iter().map(|g| (g.code.clone(), g.name.clone())).collect(),
        organizations: seed
            .organizations
            .iter()
            .map(|o| (o.code.clone(), o.name.clone()))
            .collect(),
        spaces: seed
            .spaces
            .iter()
            .map(|s| Space {
                id: s.id,
                name: s.name.clone(),
                is_guest: s.is_guest,
                members: s.members.clone(),
            })
            .collect(),
        oauth: OAuthState {
            client: oauth.client,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            token_lifetime: oauth.token_lifetime,
            code_lifetime: oauth.code_lifetime,
            approving_user: oauth.approving_user,
            max_refresh_tokens_per_user: 10,
            issue_seq: 0,
        },
        apps: BTreeMap::new(),
        files: HashMap::new(),
        cursors: HashMap::new(),
        next_app_id: 1,
        next_row_id: 1,
        deploy_processing_polls,
    };
    for app in seed.apps {
        let id = app.app_id;
        load_app(&mut state, app).with_context(|| format!("app {id} in the fixture"))?;
    }
    state.next_app_id = state.apps.keys().max().copied().unwrap_or(0) + 1;
    Ok(state)
}

fn load_app(state: &mut State, seed: SeedApp) -> anyhow::Result<()> {
    if state.apps.contains_key(&seed.app_id) {
        bail!("duplicate app id");
    }
    if let Some(space) = seed.space_id {
        if state.space(space).is_none() {
            bail!("unknown space {space}");
        }
    }
    let mut properties = Map::new();
    // The system fields kintone always has, unless the fixture names them itself.
    for (code, def) in system_properties() {
        let t = field_type(&def).to_string();
        if !seed
            .properties
            .values()
            .any(|d| d.get("type").and_then(Value::as_str) == Some(t.as_str()))
        {
            properties.insert(code, def);
        }
    }
    for (code, def) in &seed.properties {
        properties.insert(
            code.clone(),
            fields::normalize_definition(code, def).map_err(|m| anyhow!(m))?,
        );
    }
    let status = seed.status.unwrap_or_else(|| {
        serde_json::from_value(json!({"enable": false, "states": null, "actions": null})).unwrap_or_default()
    });
    let enabled = status.get("enable").and_then(Value::as_bool).unwrap_or(false);
    for def in properties.values_mut() {
        if matches!(field_type(def), "STATUS" | "STATUS_ASSIGNEE") {
            def["enabled"] = json!(enabled);
        }
    }
    let mut general = default_general(&seed.name, &seed.description);
    general.extend(seed.settings.unwrap_or_default());
    let mut customize: Map<String, Value> = serde_json::from_value(
        json!({"scope": "ALL", "desktop": {"js": [], "css": []}, "mobile": {"js": [], "css": []}}),
    )
    .unwrap_or_default();
    customize.extend(seed.customize.unwrap_or_default());
    let notifications = seed.notifications.unwrap_or_default();
    let pick = |key: &str, default: Value| notifications.get(key).cloned().unwrap_or(default);
    let created_at = parse_time(&seed.created_at, "createdAt")?;
    let settings = Settings {
        revision: 5,
        layout: seed.layout.unwrap_or_else(|| default_layout(&properties)),
        views: seed.views.unwrap_or_else(|| json!({})),
        general,
        status,
        reports: seed.reports.unwrap_or_else(|| json!({})),
        customize,
        actions: seed.actions.unwrap_or_else(|| json!({})),
        app_acl: seed.app_acl.unwrap_or_else(|| {
            json!([{"entity": {"type": "GROUP", "code": "everyone"}, "includeSubs": false, "appEditable": true,
                    "recordViewable": true, "recordAddable": true, "recordEditable": true, "recordDeletable": true,
                    "recordImportable": true, "recordExportable": true}])
        }),
        record_acl: seed.record_acl.unwrap_or_else(|| json!([])),
        field_acl: seed.field_acl.unwrap_or_else(|| json!([])),
        notifications_general: serde_json::from_value(pick(
            "general",
            json!({"notifications": [], "notifyToCommenter": true}),
        ))
        .context("notifications.general")?,
        notifications_per_record: pick("perRecord", json!([])),
        notifications_reminder: serde_json::from_value(pick(
            "reminder",
            json!({"notifications": [], "timezone": "Asia/Tokyo"}),
        ))
        .context("notifications.reminder")?,
        properties,
    };
    let app = App {
        id: seed.app_id,
        code: seed.code,
        name: seed.name,
        description: seed.description,
        space_id: seed.space_id,
        thread_id: seed.thread_id.or(seed.space_id),
        creator: seed.creator.clone(),
        created_at,
        modifier: seed.creator,
        modified_at: created_at,
        deployed: true,
        live: settings.clone(),
        preview: settings,
        deploy: None,
        records: BTreeMap::new(),
        next_record_id: 1,
    };
    let app_id = app.id;
    state.apps.insert(app_id, app);
    for (index, record) in seed.records.into_iter().enumerate() {
        load_record(state, app_id, record).with_context(|| format!("record #{}", index + 1))?;
    }
    Ok(())
}

/// Converts a fixture value to the API's `{value: …}` input shape for its field type.
fn to_input(state: &mut State, def: &Value, value: &Value) -> anyhow::Result<Value> {
    let t = field_type(def);
    let converted = match t {
        t if fields::is_entity_type(t) => Value::Array(
            value
                .as_array()
                .ok_or_else(|| anyhow!("{t} values are lists of codes"))?
                .iter()
                .map(|c| json!({"code": c}))
                .collect(),
        ),
        "FILE" => {
            let mut keys = Vec::new();
            for file in value.as_array().ok_or_else(|| anyhow!("FILE values are lists"))? {
                let name = file
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("a file needs a name"))?;
                let content_type = file
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream");
                let data = match (
                    file.get("text").and_then(Value::as_str),
                    file.get("base64").and_then(Value::as_str),
                ) {
                    (Some(text), _) => text.as_bytes().to_vec(),
                    (None, Some(b64)) => STANDARD.decode(b64).context("file base64")?,
                    _ => bail!("file {name} needs text or base64 content"),
                };
                let key = crate::random::hex_key::<16>();
                state.files.insert(
                    key.clone(),
                    StoredFile {
                        name: name.into(),
                        content_type: content_type.into(),
                        data: data.into(),
                        owner: None,
                        uploaded_at: Instant::now(),
                    },
                );
                keys.push(json!({"fileKey": key}));
            }
            Value::Array(keys)
        }
        "SUBTABLE" => {
            let inner = def
                .get("fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut rows = Vec::new();
            for row in value
                .as_array()
                .ok_or_else(|| anyhow!("SUBTABLE values are lists of rows"))?
            {
                let row = row.as_object().ok_or_else(|| anyhow!("a subtable row is an object"))?;
                let mut cells = Map::new();
                for (code, cell) in row {
                    let inner_def = inner
                        .get(code)
                        .ok_or_else(|| anyhow!("unknown subtable field {code}"))?;
                    cells.insert(code.clone(), to_input(state, inner_def, cell)?);
                }
                rows.push(json!({"value": cells}));
            }
            Value::Array(rows)
        }
        _ => value.clone(),
    };
    Ok(json!({"value": converted}))
}

fn load_record(state: &mut State, app_id: u64, mut seed: Map<String, Value>) -> anyhow::Result<()> {
    let take_str =
        |seed: &mut Map<String, Value>, key: &str| seed.remove(key).and_then(|v| v.as_str().map(String::from));
    let creator = take_str(&mut seed, "$creator").ok_or_else(|| anyhow!("$creator is required"))?;
    let created_at = parse_time(
        &take_str(&mut seed, "$createdAt").ok_or_else(|| anyhow!("$createdAt is required"))?,
        "$createdAt",
    )?;
    let modifier = take_str(&mut seed, "$modifier").unwrap_or_else(|| creator.clone());
    let updated_at = match take_str(&mut seed, "$updatedAt") {
        Some(t) => parse_time(&t, "$updatedAt")?,
        None => created_at,
    };
    let status = take_str(&mut seed, "$status");
    let assignees: Option<Vec<String>> = seed
        .remove("$assignees")
        .map(|v| serde_json::from_value(v).context("$assignees"))
        .transpose()?;
    let comments = seed
        .remove("$comments")
        .map(|v| v.as_array().cloned().unwrap_or_default())
        .unwrap_or_default();
    let caller = state
        .user(&creator)
        .cloned()
        .ok_or_else(|| anyhow!("unknown $creator {creator}"))?;
    let props = state
        .apps
        .get(&app_id)
        .map(|a| a.live.properties.clone())
        .unwrap_or_default();
    let mut input = Map::new();
    for (code, value) in &seed {
        let def = props.get(code).ok_or_else(|| anyhow!("unknown field {code}"))?;
        input.insert(code.clone(), to_input(state, def, value)?);
    }
    let id = state.apps.get(&app_id).map(|a| a.next_record_id).unwrap_or(1);
    let everything = |_: &str| true;
    let State {
        users,
        groups,
        organizations,
        files,
        next_row_id,
        apps,
        ..
    } = state;
    let app = apps.get(&app_id).ok_or_else(|| anyhow!("app vanished"))?;
    let mut env = WriteEnv {
        lang: Lang::En,
        now: created_at,
        caller: &caller,
        users,
        groups,
        organizations,
        files,
        next_row_id,
        app: app_id,
        record_id: id,
        others: &app.records,
        field_editable: &everything,
        key_prefix: "record".into(),
    };
    let values = fields::apply_input(&mut env, &props, None, &input, WriteMode::Add).map_err(|e| {
        anyhow!(
            "{} {}",
            e.message,
            e.errors.map(|e| Value::Object(e).to_string()).unwrap_or_default()
        )
    })?;
    let mut record = Record {
        id,
        revision: 1,
        values,
        status: None,
        assignees: Vec::new(),
        creator,
        created_at,
        modifier,
        updated_at,
        comments: Vec::new(),
        next_comment_id: 1,
    };
    for comment in comments {
        let text = comment
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("a comment needs text"))?;
        let author = comment
            .get("creator")
            .and_then(Value::as_str)
            .unwrap_or(&record.creator)
            .to_string();
        let at = match comment.get("createdAt").and_then(Value::as_str) {
            Some(t) => parse_time(t, "comment createdAt")?,
            None => created_at,
        };
        record.comments.push(Comment {
            id: record.next_comment_id,
            text: text.into(),
            created_at: at,
            creator: author,
            mentions: vec![],
        });
        record.next_comment_id += 1;
    }
    let users = state.users.clone();
    let app = state.apps.get_mut(&app_id).ok_or_else(|| anyhow!("app vanished"))?;
    process::start(app, &users, &mut record);
    if let Some(status) = status {
        record.status = Some(status);
        record.assignees = assignees.unwrap_or_default();
    }
    app.records.insert(id, record);
    app.next_record_id = id + 1;
    Ok(())
}
