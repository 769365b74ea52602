//! The app-settings reads, all alike: `GET <resource>.json {app, lang?}`, live or pre-live.
//! One table row per tool keeps their behaviour identical.

use platform::HttpClient;
use serde_json::{json, Value};

use super::spec;
use crate::args::Args;
use crate::client::Kintone;
use crate::outcome::{structured, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Preview {
    /// The API has no pre-live variant.
    Never,
    /// A `preview` argument chooses.
    Optional,
    /// The tool always reads pre-live settings.
    Always,
}

struct Read {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    resource: &'static str,
    /// getApp names the app `id`; every other API `app`.
    app_key: &'static str,
    lang: bool,
    preview: Preview,
    output: fn() -> Value,
}

const ORIGINAL_APPS: &[Read] = &[
    Read { name: "getApp", title: "Get app info",
        description: "Get an app's general information: name, code, description, space, creator and modification times. For field definitions use getAppFields.",
        resource: "app", app_key: "id", lang: false, preview: Preview::Never, output: app_out },
    Read { name: "getAppFields", title: "Get app fields",
        description: "Get the live (deployed) field definitions of an app: for each field code its type, label, required/unique flags, options and lookups. Use it before writing records or queries: records and queries use field codes, not labels.",
        resource: "app/form/fields", app_key: "app", lang: true, preview: Preview::Never, output: fields_out },
    Read { name: "getAppSettings", title: "Get app settings",
        description: "Get an app's general settings: name, description, icon, theme, title field, enabled features (comments, thumbnails, bulk deletion, duplicate record, inline editing), number precision and fiscal year start.",
        resource: "app/settings", app_key: "app", lang: true, preview: Preview::Optional, output: settings_out },
    Read { name: "getFormLayout", title: "Get form layout",
        description: "Get the layout of an app's record form: rows, groups and subtables with the fields placed in them and their sizes.",
        resource: "app/form/layout", app_key: "app", lang: false, preview: Preview::Optional, output: layout_out },
    Read { name: "getViews", title: "Get views",
        description: "Get an app's record list views (list, calendar, custom): their IDs, shown fields, filter conditions (as queries) and sort orders.",
        resource: "app/views", app_key: "app", lang: true, preview: Preview::Optional, output: views_out },
    Read { name: "getProcessManagement", title: "Get process management",
        description: "Get an app's workflow (process management): whether it is enabled, its statuses with assignees, and the actions (buttons) that move records between statuses. updateRecordStatus needs these action names.",
        resource: "app/status", app_key: "app", lang: true, preview: Preview::Optional, output: status_out },
    Read { name: "getAppReports", title: "Get graphs",
        description: "Get an app's graph and report settings: chart types, groupings, aggregations, filters and periodic reports.",
        resource: "app/reports", app_key: "app", lang: true, preview: Preview::Optional, output: reports_out },
    Read { name: "getAppCustomize", title: "Get JavaScript/CSS customization",
        description: "Get an app's JavaScript and CSS customization: files and URLs for desktop and mobile, and who they apply to (scope).",
        resource: "app/customize", app_key: "app", lang: false, preview: Preview::Optional, output: customize_out },
    Read { name: "getAppActions", title: "Get app actions",
        description: "Get an app's action settings: the buttons that create a record in another app from this one, with their field mappings.",
        resource: "app/actions", app_key: "app", lang: true, preview: Preview::Optional, output: actions_out },
];

const ORIGINAL_ACL_AND_NOTIFICATIONS: &[Read] = &[
    Read { name: "getAppAcl", title: "Get app permissions",
        description: "Get app-level permissions: for each user, group, organization or the record creator, whether they may manage the app and view, add, edit, delete, import or export records.",
        resource: "app/acl", app_key: "app", lang: false, preview: Preview::Optional, output: rights_out },
    Read { name: "getRecordAcl", title: "Get record permissions",
        description: "Get record-level permission settings: for records matching each filter condition, who may view, edit and delete them.",
        resource: "record/acl", app_key: "app", lang: true, preview: Preview::Optional, output: rights_out },
    Read { name: "getFieldAcl", title: "Get field permissions",
        description: "Get field-level permission settings: for each restricted field, who may read or write it.",
        resource: "field/acl", app_key: "app", lang: false, preview: Preview::Optional, output: rights_out },
    Read { name: "getAppNotificationsGeneral", title: "Get general notifications",
        description: "Get an app's general notification settings: who is notified when records are added or edited, comments posted, statuses changed or files imported.",
        resource: "app/notifications/general", app_key: "app", lang: false, preview: Preview::Optional, output: general_notifications_out },
    Read { name: "getAppNotificationsPerRecord", title: "Get per-record notifications",
        description: "Get an app's per-record notification settings: conditions (as queries), notification titles and recipients.",
        resource: "app/notifications/perRecord", app_key: "app", lang: true, preview: Preview::Optional, output: notifications_out },
    Read { name: "getAppNotificationsReminder", title: "Get reminder notifications",
        description: "Get an app's reminder notification settings: date fields and timing, conditions, titles, recipients and time zone.",
        resource: "app/notifications/reminder", app_key: "app", lang: true, preview: Preview::Optional, output: notifications_out },
];

const MORE: &[Read] = &[
    Read { name: "getFormFields", title: "Get pre-live form fields",
        description: "Get the pre-live (preview) field definitions of an app: what addFormFields, updateFormFields and deleteFormFields changed but deployApp has not published yet. Use its revision for those tools. For the live fields use getAppFields.",
        resource: "preview/app/form/fields", app_key: "app", lang: true, preview: Preview::Always, output: fields_out },
];

fn to_spec(read: &Read) -> ToolDefinition {
    let mut props = vec![("appId", schema::app_id())];
    if read.lang {
        props.push(("lang", schema::lang()));
    }
    if read.preview == Preview::Optional {
        props.push(("preview", schema::preview()));
    }
    spec(
        read.name,
        read.title,
        Annotations::READ,
        read.description,
        schema::input(props, &["appId"]),
        Some((read.output)()),
    )
}

pub(super) fn specs_original_apps() -> Vec<ToolDefinition> {
    ORIGINAL_APPS.iter().map(to_spec).collect()
}

pub(super) fn specs_original_acl_and_notifications() -> Vec<ToolDefinition> {
    ORIGINAL_ACL_AND_NOTIFICATIONS.iter().map(to_spec).collect()
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    MORE.iter().map(to_spec).collect()
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    let read = ORIGINAL_APPS
        .iter()
        .chain(ORIGINAL_ACL_AND_NOTIFICATIONS)
        .chain(MORE)
        .find(|r| r.name == name)?;
    Some(run(kc, read, args).await)
}

async fn run<H: HttpClient>(kc: &Kintone<'_, H>, read: &Read, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let mut params = json!({ read.app_key: app });
    if read.lang {
        if let Some(lang) = args.opt_enum("lang", &["default", "ja", "en", "zh", "user"])? {
            params["lang"] = json!(lang);
        }
    }
    let preview = read.preview == Preview::Optional && args.opt_bool("preview")?.unwrap_or(false);
    let resource = if preview {
        format!("preview/{}", read.resource)
    } else {
        read.resource.to_string()
    };
    Ok(structured(kc.get(&resource, params).await?))
}

fn app_out() -> Value {
    schema::output(
        vec![
            ("appId", out::id()),
            ("code", json!({"type": "string"})),
            ("name", json!({"type": "string"})),
            ("description", json!({"type": "string"})),
            ("spaceId", json!({"type": ["string", "integer", "null"]})),
            ("threadId", json!({"type": ["string", "integer", "null"]})),
            ("createdAt", json!({"type": "string"})),
            ("creator", out::object("{code, name}")),
            ("modifiedAt", json!({"type": "string"})),
            ("modifier", out::object("{code, name}")),
        ],
        &["appId", "name"],
    )
}

fn fields_out() -> Value {
    schema::output(
        vec![
            ("properties", out::object("Field code → field definition")),
            ("revision", out::revision()),
        ],
        &["properties"],
    )
}

fn settings_out() -> Value {
    schema::output(
        vec![
            ("name", json!({"type": "string"})),
            ("description", json!({"type": "string"})),
            ("icon", out::object("{type FILE|PRESET, key?, file?}")),
            ("theme", json!({"type": "string"})),
            ("revision", out::revision()),
        ],
        &["name"],
    )
}

fn layout_out() -> Value {
    schema::output(
        vec![
            ("layout", out::objects("Rows, subtables and groups")),
            ("revision", out::revision()),
        ],
        &["layout"],
    )
}

fn views_out() -> Value {
    schema::output(
        vec![
            ("views", out::object("View name → view settings")),
            ("revision", out::revision()),
        ],
        &["views"],
    )
}

fn status_out() -> Value {
    schema::output(
        vec![
            ("enable", json!({"type": "boolean"})),
            (
                "states",
                json!({"type": ["object", "null"], "description": "Status name → {name, index, assignee}"}),
            ),
            (
                "actions",
                json!({"type": ["array", "null"], "items": {"type": "object"}, "description": "Actions: name, from, to, filterCond"}),
            ),
            ("revision", out::revision()),
        ],
        &["enable"],
    )
}

fn reports_out() -> Value {
    schema::output(
        vec![
            ("reports", out::object("Graph name → graph settings")),
            ("revision", out::revision()),
        ],
        &["reports"],
    )
}

fn customize_out() -> Value {
    schema::output(
        vec![
            ("scope", json!({"type": "string", "enum": ["ALL", "ADMIN", "NONE"]})),
            ("desktop", out::object("{js: [...], css: [...]}")),
            ("mobile", out::object("{js: [...], css: [...]}")),
            ("revision", out::revision()),
        ],
        &["desktop", "mobile"],
    )
}

fn actions_out() -> Value {
    schema::output(
        vec![
            ("actions", out::object("Action name → action settings")),
            ("revision", out::revision()),
        ],
        &["actions"],
    )
}

fn rights_out() -> Value {
    schema::output(
        vec![
            ("rights", out::objects("Permission entries")),
            ("revision", out::revision()),
        ],
        &["rights"],
    )
}

fn general_notifications_out() -> Value {
    schema::output(
        vec![
            (
                "notifications",
                out::objects("Recipients and the events they are notified of"),
            ),
            ("notifyToCommenter", json!({"type": "boolean"})),
            ("revision", out::revision()),
        ],
        &["notifications"],
    )
}

fn notifications_out() -> Value {
    schema::output(
        vec![
            ("notifications", out::objects("Notification settings")),
            ("revision", out::revision()),
        ],
        &["notifications"],
    )
}
