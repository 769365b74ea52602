//! Record reads and writes: getRecords, getRecord, addRecord(s), updateRecord(s), deleteRecords,
//! evaluateRecordsAcl.

use platform::HttpClient;
use serde_json::{json, Map, Value};

use super::spec;
use crate::args::{self, ArgError, ArgResult, Args};
use crate::client::Kintone;
use crate::outcome::{structured, structured_with_note, Failure, Outcome};
use crate::query;
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

/// kintone's per-call limits.
pub(crate) const MAX_WRITE: usize = 100;
pub(crate) const MAX_READ: i64 = 500;
pub(crate) const MAX_OFFSET: i64 = 10_000;
pub(crate) const MAX_FIELDS: usize = 1000;

pub(crate) const QUERY_HELP: &str = "kintone query syntax: <field code> <operator> <value>, joined with and / or and parentheses; then optional order by, limit, offset. \
Operators: = != > < >= <= in not in like not like is empty is not empty. Strings go in double quotes. \
Examples: status = \"Open\" | amount >= 1000 and date > \"2024-01-01\" | category in (\"A\", \"B\") | title like \"invoice\" (word match) | \
Created_datetime = TODAY() | date >= FROM_TODAY(-7, DAYS) | assignee in (LOGINUSER()) | order by $id desc limit 50 offset 100. \
Use field codes (getAppFields), not labels; CHECK_BOX, MULTI_SELECT and user fields need in / not in; $id is the record ID.";

pub(super) fn specs() -> Vec<ToolDefinition> {
    vec![
        spec("getRecords", "Get records", Annotations::READ,
            format!("Get up to 500 records of a kintone app that match a query, with the total number of matches. \
Default page: 100 records, newest first. Page with limit/offset (offset at most 10000) or use getAllRecords for larger sets. \
Ask only for the fields you need. {QUERY_HELP}"),
            schema::input(vec![
                ("appId", schema::app_id()),
                ("query", schema::string("Query to filter and sort records (optional), e.g. status = \"Open\" order by $id desc. May end with limit/offset, or use the limit and offset arguments instead.")),
                ("fields", fields_schema()),
                ("limit", schema::integer("Records to return, 1–500 (default 100). Do not combine with a limit in query.", 1, MAX_READ)),
                ("offset", schema::integer("Records to skip, 0–10000 (default 0). Do not combine with an offset in query.", 0, MAX_OFFSET)),
                ("totalCount", schema::boolean("Also return the number of all matching records (default true).")),
            ], &["appId"]),
            Some(records_out()),
        ),
        spec("getRecord", "Get one record", Annotations::READ,
            "Get a single record of a kintone app by its record ID, with every field as {type, value}. Use getRecords to find IDs.",
            schema::input(vec![("appId", schema::app_id()), ("id", schema::id("The record ID ($id)"))], &["appId", "id"]),
            Some(schema::output(vec![("record", out::object("Field code → {type, value}"))], &["record"])),
        ),
        spec("addRecord", "Add a record", Annotations::ADD,
            "Add a new record to a kintone app. `record` maps field codes to {\"value\": ...}, e.g. {\"title\": {\"value\": \"Hello\"}, \"amount\": {\"value\": \"1200\"}, \"tags\": {\"value\": [\"A\", \"B\"]}, \"owner\": {\"value\": [{\"code\": \"sato\"}]}}. \
Omitted fields get their defaults. Field codes and types: getAppFields. For files, uploadFile first and use {\"value\": [{\"fileKey\": \"...\"}]}. Returns the new record ID and revision.",
            schema::input(vec![("appId", schema::app_id()), ("record", record_schema())], &["appId", "record"]),
            Some(schema::output(vec![("id", out::id()), ("revision", out::revision())], &["id", "revision"])),
        ),
        spec("addRecords", "Add records (bulk)", Annotations::ADD,
            "Add up to 100 records to a kintone app in one all-or-nothing call (if one record is invalid, none is added). Each record has addRecord's shape. Split larger sets into calls of 100.",
            schema::input(vec![("appId", schema::app_id()), ("records", schema::array("Records to add, each field code → {\"value\": ...}", record_schema(), 1, MAX_WRITE))], &["appId", "records"]),
            Some(schema::output(vec![("ids", out_ids()), ("revisions", out_ids())], &["ids", "revisions"])),
        ),
        spec("updateRecord", "Update a record", Annotations::OVERWRITE,
            "Update fields of one record, chosen by `id` or by `updateKey` (a unique-valued field). Only the fields given in `record` change. \
Pass `revision` from getRecord to refuse the update if someone changed the record meanwhile. To change the workflow status use updateRecordStatus.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("id", schema::id("The record ID to update (or use updateKey)")),
                ("updateKey", update_key_schema()),
                ("record", record_schema()),
                ("revision", schema::revision("Expected revision of the record; the update fails if it changed. Omit or -1 to skip the check.")),
            ], &["appId", "record"]),
            Some(schema::output(vec![("revision", out::revision())], &["revision"])),
        ),
    ]
}

pub(super) fn specs_acl() -> Vec<ToolDefinition> {
    vec![spec("evaluateRecordsAcl", "Check record permissions", Annotations::READ,
        "Check what the signed-in user may do with up to 100 records: view, edit, delete each record, and view/edit each field.",
        schema::input(vec![("appId", schema::app_id()), ("ids", schema::ids("Record IDs to check (1–100)", MAX_WRITE))], &["appId", "ids"]),
        Some(schema::output(vec![("rights", out::objects("Per record: id, record {viewable, editable, deletable}, fields {code: {viewable, editable}}"))], &["rights"])),
    )]
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    vec![
        spec("updateRecords", "Update or upsert records (bulk)", Annotations::OVERWRITE,
            "Update up to 100 records in one all-or-nothing call. Each entry names its record by `id` or by `updateKey` {field, value} on a unique-valued field, plus `record` with the fields to change and an optional `revision`. \
With upsert: true, every entry uses updateKey and records whose key does not exist yet are added (the answer says INSERT or UPDATE per record).",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("records", schema::array("Records to update", json!({
                    "type": "object",
                    "properties": {
                        "id": schema::id("Record ID (or use updateKey)"),
                        "updateKey": update_key_schema(),
                        "record": record_schema(),
                        "revision": schema::revision("Expected revision; -1 or omitted skips the check"),
                    },
                    "additionalProperties": false,
                }), 1, MAX_WRITE)),
                ("upsert", schema::boolean("Add records whose updateKey value does not exist yet (default false). Requires updateKey on every entry.")),
            ], &["appId", "records"]),
            Some(schema::output(vec![("records", out::objects("Per record: id, revision, and operation (INSERT/UPDATE) in upsert mode"))], &["records"])),
        ),
        spec("deleteRecords", "Delete records", Annotations::OVERWRITE,
            "Permanently delete up to 100 records (all or nothing); kintone has no undo. Confirm with the user first. Pass `revisions` (same order as ids) to refuse if any record changed since it was read.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("ids", schema::ids("Record IDs to delete (1–100)", MAX_WRITE)),
                ("revisions", schema::array("Expected revisions, one per id in the same order (-1 skips the check for that record)", schema::revision("Revision"), 1, MAX_WRITE)),
            ], &["appId", "ids"]),
            Some(schema::output(vec![("deletedIds", out_ids())], &["deletedIds"])),
        ),
    ]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "getRecords" => get_records(kc, args).await,
        "getRecord" => get_record(kc, args).await,
        "addRecord" => add_record(kc, args).await,
        "addRecords" => add_records(kc, args).await,
        "updateRecord" => update_record(kc, args).await,
        "updateRecords" => update_records(kc, args).await,
        "deleteRecords" => delete_records(kc, args).await,
        "evaluateRecordsAcl" => evaluate_acl(kc, args).await,
        _ => return None,
    })
}

pub(crate) fn fields_schema() -> Value {
    schema::array(
        "Field codes to return (optional; default all fields). Fewer fields mean smaller answers.",
        schema::string("Field code"),
        0,
        MAX_FIELDS,
    )
}

fn record_schema() -> Value {
    json!({
        "type": "object",
        "description": "Field code → {\"value\": ...}. Text, number, date, time, drop-down and radio values are strings; check box and multi-select are string arrays; user/organization/group fields are [{\"code\": \"...\"}]; files are [{\"fileKey\": \"...\"}]; subtables are [{\"value\": {<inner field code>: {\"value\": ...}}}].",
        "additionalProperties": {"type": "object", "properties": {"value": {}}, "required": ["value"]},
    })
}

fn update_key_schema() -> Value {
    json!({
        "type": "object",
        "description": "Identify the record by a field whose values are unique (\"Prohibit duplicate values\"), instead of id.",
        "properties": {"field": schema::string("Field code of the unique field"), "value": {"type": ["string", "number"], "description": "The record's value in that field"}},
        "required": ["field", "value"],
        "additionalProperties": false,
    })
}

fn out_ids() -> Value {
    json!({"type": "array", "items": out::id()})
}

fn records_out() -> Value {
    schema::output(
        vec![
            ("records", out::objects("Records; each maps field code → {type, value}")),
            (
                "totalCount",
                json!({"type": ["string", "null"], "description": "Number of all matching records (null unless totalCount was requested)"}),
            ),
        ],
        &["records"],
    )
}

pub(crate) fn field_codes(args: &Args) -> ArgResult<Option<Vec<String>>> {
    let Some(items) = args.opt_array("fields", 0, MAX_FIELDS)? else {
        return Ok(None);
    };
    let codes = items
        .iter()
        .enumerate()
        .map(|(i, v)| args::text(&format!("fields[{i}]"), v, 128).map(str::to_string))
        .collect::<ArgResult<Vec<_>>>()?;
    Ok(if codes.is_empty() { None } else { Some(codes) })
}

/// Checks `{"code": {"value": ...}}`, the only shape kintone takes.
pub(crate) fn record_data(path: &str, value: &Value) -> ArgResult<()> {
    let fields = args::object(path, value)?;
    for (code, field) in fields {
        if !field.as_object().is_some_and(|f| f.contains_key("value")) {
            return Err(ArgError::new(
                &format!("{path}.{code}"),
                format!(
                    "must be {{\"value\": ...}}, for example {{\"{code}\": {{\"value\": {}}}}}",
                    field
                ),
            ));
        }
    }
    Ok(())
}

fn update_key(path: &str, value: &Value) -> ArgResult<Value> {
    let key = args::object(path, value)?;
    if let Some(extra) = key.keys().find(|k| *k != "field" && *k != "value") {
        return Err(ArgError::new(
            path,
            format!("takes only field and value, not {extra:?}"),
        ));
    }
    let field = args::text(&format!("{path}.field"), key.get("field").unwrap_or(&Value::Null), 128)?;
    let value = match key.get("value") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => {
            return Err(ArgError::new(
                &format!("{path}.value"),
                "must be the unique value as a string or number",
            ))
        }
    };
    Ok(json!({"field": field, "value": value}))
}

async fn get_records<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let query = args.opt_str("query")?.unwrap_or("");
    let parts = query::split(query).map_err(|e| ArgError::new("query", e))?;
    let limit_arg = args.opt_int("limit", 1, MAX_READ)?;
    let offset_arg = args.opt_int("offset", 0, MAX_OFFSET)?;
    if limit_arg.is_some() && parts.limit.is_some() {
        return Err(ArgError::new(
            "limit",
            "the query already ends with a limit clause; give the limit in one place only",
        )
        .into());
    }
    if offset_arg.is_some() && parts.offset.is_some() {
        return Err(ArgError::new(
            "offset",
            "the query already has an offset clause; give the offset in one place only",
        )
        .into());
    }
    if parts.limit.is_some_and(|l| l > MAX_READ as u64) {
        return Err(ArgError::new("query", "limit may be at most 500; use getAllRecords for more").into());
    }
    if parts.offset.is_some_and(|o| o > MAX_OFFSET as u64) {
        return Err(ArgError::new(
            "query",
            "offset may be at most 10000; narrow the query (e.g. $id < N) or use getAllRecords",
        )
        .into());
    }
    let mut full_query = query.trim().to_string();
    if let Some(limit) = limit_arg {
        full_query.push_str(&format!(" limit {limit}"));
    }
    if let Some(offset) = offset_arg {
        full_query.push_str(&format!(" offset {offset}"));
    }
    let want_total = args.opt_bool("totalCount")?.unwrap_or(true);
    let mut params = json!({"app": app, "totalCount": want_total});
    if !full_query.trim().is_empty() {
        params["query"] = json!(full_query.trim());
    }
    if let Some(fields) = field_codes(args)? {
        params["fields"] = json!(fields);
    }
    let answer = kc.get("records", params).await?;
    let returned = answer.get("records").and_then(Value::as_array).map_or(0, Vec::len) as u64;
    let offset = offset_arg.map(|o| o as u64).or(parts.offset).unwrap_or(0);
    let total = answer
        .get("totalCount")
        .and_then(|t| t.as_str().and_then(|s| s.parse::<u64>().ok()).or(t.as_u64()));
    let note = match total {
        Some(total) if offset + returned < total && returned > 0 => Some(format!(
            "Returned records {}–{} of {total} matches. For the next page call getRecords again with offset {} (at most 10000), or use getAllRecords.",
            offset + 1,
            offset + returned,
            offset + returned
        )),
        _ => None,
    };
    Ok(structured_with_note(answer, note))
}

async fn get_record<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let (app, id) = (args.id("appId")?, args.id("id")?);
    Ok(structured(kc.get("record", json!({"app": app, "id": id})).await?))
}

async fn add_record<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let record = args.get("record").cloned().unwrap_or(Value::Null);
    record_data("record", &record)?;
    Ok(structured(
        kc.post("record", json!({"app": app, "record": record})).await?,
    ))
}

async fn add_records<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let records = args.array("records", 1, MAX_WRITE)?;
    for (i, record) in records.iter().enumerate() {
        record_data(&format!("records[{i}]"), record)?;
    }
    let answer = kc.post("records", json!({"app": app, "records": records})).await?;
    Ok(structured(answer))
}

async fn update_record<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let mut body = json!({"app": app});
    match (args.opt_id("id")?, args.get("updateKey")) {
        (Some(id), None) => body["id"] = json!(id),
        (None, Some(key)) => body["updateKey"] = update_key("updateKey", key)?,
        (Some(_), Some(_)) => return Err(ArgError::new("id", "give either id or updateKey, not both").into()),
        (None, None) => return Err(ArgError::new("id", "required (or identify the record with updateKey)").into()),
    }
    let record = args.get("record").cloned().unwrap_or(Value::Null);
    record_data("record", &record)?;
    body["record"] = record;
    if let Some(revision) = args.opt_revision("revision")? {
        body["revision"] = json!(revision);
    }
    Ok(structured(kc.put("record", body).await?))
}

async fn update_records<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let upsert = args.opt_bool("upsert")?.unwrap_or(false);
    let entries = args.array("records", 1, MAX_WRITE)?;
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("records[{i}]");
        let entry = args::object(&path, entry)?;
        if let Some(extra) = entry
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "updateKey" | "record" | "revision"))
        {
            return Err(ArgError::new(
                &path,
                format!("unknown key {extra:?}; entries take id or updateKey, record, revision"),
            )
            .into());
        }
        let mut out = Map::new();
        match (entry.get("id"), entry.get("updateKey")) {
            (Some(_), Some(_)) => return Err(ArgError::new(&path, "give either id or updateKey, not both").into()),
            (Some(_), None) if upsert => {
                return Err(ArgError::new(&path, "upsert needs updateKey on every entry instead of id").into())
            }
            (Some(id), None) => {
                out.insert("id".into(), json!(args::id(&format!("{path}.id"), id)?));
            }
            (None, Some(key)) => {
                out.insert("updateKey".into(), update_key(&format!("{path}.updateKey"), key)?);
            }
            (None, None) => return Err(ArgError::new(&path, "needs id or updateKey").into()),
        }
        if let Some(record) = entry.get("record") {
            record_data(&format!("{path}.record"), record)?;
            out.insert("record".into(), record.clone());
        }
        if let Some(revision) = entry.get("revision") {
            out.insert(
                "revision".into(),
                json!(args::revision(&format!("{path}.revision"), revision)?),
            );
        }
        records.push(Value::Object(out));
    }
    let mut body = json!({"app": app, "records": records});
    if upsert {
        body["upsert"] = json!(true);
    }
    Ok(structured(kc.put("records", body).await?))
}

async fn delete_records<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let ids = ids_arg(args, "ids")?;
    let mut params = json!({"app": app, "ids": ids});
    if let Some(revisions) = args.opt_array("revisions", 1, MAX_WRITE)? {
        if revisions.len() != ids.len() {
            return Err(ArgError::new(
                "revisions",
                format!(
                    "has {} entries but ids has {}; give one revision per id",
                    revisions.len(),
                    ids.len()
                ),
            )
            .into());
        }
        let revisions = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| args::revision(&format!("revisions[{i}]"), r))
            .collect::<ArgResult<Vec<_>>>()?;
        params["revisions"] = json!(revisions);
    }
    kc.delete("records", params).await?;
    Ok(structured(
        json!({"deletedIds": ids.iter().map(u64::to_string).collect::<Vec<_>>()}),
    ))
}

async fn evaluate_acl<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let ids = ids_arg(args, "ids")?;
    Ok(structured(
        kc.get("records/acl/evaluate", json!({"app": app, "ids": ids})).await?,
    ))
}

/// 1–100 distinct ids.
pub(crate) fn ids_arg(args: &Args, key: &str) -> Result<Vec<u64>, Failure> {
    let items = args.array(key, 1, MAX_WRITE)?;
    let mut ids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = args::id(&format!("{key}[{i}]"), item)?;
        if ids.contains(&id) {
            return Err(ArgError::new(&format!("{key}[{i}]"), format!("id {id} is listed twice")).into());
        }
        ids.push(id);
    }
    Ok(ids)
}
