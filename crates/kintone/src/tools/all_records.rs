//! getAllRecords: every matching record, page by page, up to a cap.
//!
//! kintone's cursor API does not list OAuth among its authentication methods, so this pages by
//! record ID (`$id > last order by $id asc limit 500`), which also has no 10,000-offset ceiling.
//! A query with its own `order by` pages by offset instead, which the 10,000-record cap keeps
//! within kintone's offset limit.

use platform::HttpClient;
use serde_json::{json, Value};

use super::records::{field_codes, fields_schema, MAX_OFFSET, MAX_READ, QUERY_HELP};
use super::spec;
use crate::args::{ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured_with_note, Failure, Outcome};
use crate::query;
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

pub(crate) const DEFAULT_MAX_RECORDS: i64 = 1000;
pub(crate) const MAX_MAX_RECORDS: i64 = 10_000;

pub(super) fn specs() -> Vec<ToolDefinition> {
    vec![spec("getAllRecords", "Get all matching records", Annotations::READ,
        format!("Get every record that matches a query, paging through kintone 500 at a time, up to maxRecords (default 1000, at most 10000). \
Use it for exports, counts by hand and analysis; use getRecords for a quick look. The answer says when it was cut off at maxRecords. \
Without order by, records come in ascending $id order and $id is always included; with order by, pages are read by offset. \
The query must not contain limit or offset. Ask only for the fields you need. {QUERY_HELP}"),
        schema::input(vec![
            ("appId", schema::app_id()),
            ("query", schema::string("Filter (and optional order by) for the records, without limit/offset; omit for all records")),
            ("fields", fields_schema()),
            ("maxRecords", schema::integer("Stop after this many records (default 1000, 1–10000)", 1, MAX_MAX_RECORDS)),
        ], &["appId"]),
        Some(schema::output(vec![
            ("records", out::objects("Records; each maps field code → {type, value}")),
            ("totalCount", json!({"type": "integer", "description": "Number of all matching records"})),
            ("returned", json!({"type": "integer"})),
            ("truncated", json!({"type": "boolean", "description": "True when more records matched than were returned"})),
        ], &["records", "totalCount", "returned", "truncated"])),
    )]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "getAllRecords" => get_all_records(kc, args).await,
        _ => return None,
    })
}

/// The next page in `$id` order: records after `last_id` that match `condition`.
fn page_after_id(condition: &str, last_id: Option<u64>, wanted: usize) -> String {
    let mut filter = match (last_id, condition.is_empty()) {
        (None, true) => String::new(),
        (None, false) => format!("({condition})"),
        (Some(last), true) => format!("$id > {last}"),
        (Some(last), false) => format!("$id > {last} and ({condition})"),
    };
    if !filter.is_empty() {
        filter.push(' ');
    }
    format!("{filter}order by $id asc limit {wanted}")
}

/// The page at `offset` in the caller's own order (kintone caps the offset at 10,000).
fn page_at_offset(condition: &str, order_by: Option<&str>, wanted: usize, offset: usize) -> String {
    let condition = if condition.is_empty() {
        String::new()
    } else {
        format!("{condition} ")
    };
    format!(
        "{condition}order by {} limit {wanted} offset {offset}",
        order_by.unwrap_or("$id asc")
    )
}

async fn get_all_records<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let app = args.id("appId")?;
    let query = args.opt_str("query")?.unwrap_or("");
    let parts = query::split(query).map_err(|e| ArgError::new("query", e))?;
    if parts.limit.is_some() || parts.offset.is_some() {
        return Err(ArgError::new(
            "query",
            "remove limit and offset: getAllRecords pages by itself; use maxRecords to cap the result",
        )
        .into());
    }
    let max = args
        .opt_int("maxRecords", 1, MAX_MAX_RECORDS)?
        .unwrap_or(DEFAULT_MAX_RECORDS) as usize;
    let mut fields = field_codes(args)?;
    let by_id = parts.order_by.is_none();
    if by_id {
        if let Some(fields) = fields.as_mut() {
            if !fields.iter().any(|f| f == "$id") {
                fields.push("$id".to_string());
            }
        }
    }

    let mut records: Vec<Value> = Vec::new();
    let mut total: Option<u64> = None;
    let mut last_id: Option<u64> = None;
    loop {
        let wanted = (max - records.len()).min(MAX_READ as usize);
        let page_query = if by_id {
            page_after_id(parts.condition, last_id, wanted)
        } else {
            let offset = records.len();
            if offset > MAX_OFFSET as usize {
                break;
            }
            page_at_offset(parts.condition, parts.order_by, wanted, offset)
        };
        let mut params = json!({"app": app, "query": page_query, "totalCount": total.is_none()});
        if let Some(fields) = &fields {
            params["fields"] = json!(fields);
        }
        let answer = kc.get("records", params).await?;
        if total.is_none() {
            total = answer
                .get("totalCount")
                .and_then(|t| t.as_str().and_then(|s| s.parse().ok()).or(t.as_u64()));
        }
        let page = match answer.get("records") {
            Some(Value::Array(page)) => page.clone(),
            _ => {
                return Err(Failure::Unavailable(
                    "kintone answered getRecords without a records array".into(),
                ))
            }
        };
        let got = page.len();
        if by_id {
            let last = page.last().and_then(record_id);
            if got > 0 && last.is_none() {
                return Err(Failure::Unavailable(
                    "kintone returned records without $id, so paging cannot continue".into(),
                ));
            }
            last_id = last.or(last_id);
        }
        records.extend(page);
        if got < wanted || records.len() >= max {
            break;
        }
    }

    let returned = records.len() as u64;
    let total = total.unwrap_or(returned).max(returned);
    let truncated = returned < total;
    let note = truncated.then(|| {
        format!("Returned the first {returned} of {total} matching records (maxRecords {max}). Narrow the query, or raise maxRecords (at most 10000).")
    });
    Ok(structured_with_note(
        json!({"records": records, "totalCount": total, "returned": returned, "truncated": truncated}),
        note,
    ))
}

fn record_id(record: &Value) -> Option<u64> {
    let value = record.get("$id")?.get("value")?;
    value.as_str().and_then(|s| s.parse().ok()).or(value.as_u64())
}
