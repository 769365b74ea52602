//! Record comments: getRecordComments, addRecordComment, deleteRecordComment.

use platform::HttpClient;
use serde_json::{json, Value};

use super::spec;
use crate::args::{self, ArgError, Args};
use crate::client::Kintone;
use crate::outcome::{structured, structured_with_note, Outcome};
use crate::schema::{self, out};
use crate::types::{Annotations, ToolDefinition};

const MAX_COMMENTS_PER_CALL: i64 = 10;
const MAX_COMMENT_TEXT: usize = 65_535;
const MAX_MENTIONS: usize = 10;

pub(super) fn specs_original() -> Vec<ToolDefinition> {
    vec![
        spec("getRecordComments", "Get record comments", Annotations::READ,
            "Get up to 10 comments of a record, newest first by default, with their IDs, authors, times and mentions. The answer's older/newer flags say whether more comments exist: page with offset.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("recordId", schema::id("The record ID")),
                ("order", schema::one_of("Comment order: desc = newest first (default), asc = oldest first", &["asc", "desc"])),
                ("offset", schema::integer("Comments to skip (default 0)", 0, 1_000_000)),
                ("limit", schema::integer("Comments to return, 1–10 (default 10)", 1, MAX_COMMENTS_PER_CALL)),
            ], &["appId", "recordId"]),
            Some(schema::output(vec![
                ("comments", out::objects("Comments: id, text, createdAt, creator {code, name}, mentions [{code, type}]")),
                ("older", json!({"type": "boolean"})),
                ("newer", json!({"type": "boolean"})),
            ], &["comments"])),
        ),
        spec("addRecordComment", "Add a record comment", Annotations::ADD,
            "Post a comment on a record, optionally mentioning up to 10 users, groups or organizations (they get notified). Returns the new comment ID.",
            schema::input(vec![
                ("appId", schema::app_id()),
                ("recordId", schema::id("The record ID")),
                ("comment", json!({
                    "type": "object",
                    "description": "Comment details",
                    "properties": {
                        "text": schema::text("Comment text (plain text, up to 65535 characters)", MAX_COMMENT_TEXT),
                        "mentions": schema::array("People to mention (up to 10)", json!({
                            "type": "object",
                            "properties": {
                                "code": schema::string("User code or organization/group code"),
                                "type": schema::one_of("Mention type", &["USER", "ORGANIZATION", "GROUP"]),
                            },
                            "required": ["code", "type"],
                            "additionalProperties": false,
                        }), 0, MAX_MENTIONS),
                    },
                    "required": ["text"],
                    "additionalProperties": false,
                })),
            ], &["appId", "recordId", "comment"]),
            Some(schema::output(vec![("id", out::id())], &["id"])),
        ),
    ]
}

pub(super) fn specs_more() -> Vec<ToolDefinition> {
    vec![spec("deleteRecordComment", "Delete a record comment", Annotations::OVERWRITE,
        "Permanently delete one comment from a record. Only its author (or an administrator) may. Comment IDs come from getRecordComments.",
        schema::input(vec![
            ("appId", schema::app_id()),
            ("recordId", schema::id("The record ID")),
            ("commentId", schema::id("The comment ID to delete")),
        ], &["appId", "recordId", "commentId"]),
        Some(schema::output(vec![("deletedCommentId", out::id())], &["deletedCommentId"])),
    )]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "getRecordComments" => get_comments(kc, args).await,
        "addRecordComment" => add_comment(kc, args).await,
        "deleteRecordComment" => delete_comment(kc, args).await,
        _ => return None,
    })
}

async fn get_comments<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let (app, record) = (args.id("appId")?, args.id("recordId")?);
    let order = args.opt_enum("order", &["asc", "desc"])?.unwrap_or("desc");
    let offset = args.opt_int("offset", 0, 1_000_000)?.unwrap_or(0);
    let limit = args
        .opt_int("limit", 1, MAX_COMMENTS_PER_CALL)?
        .unwrap_or(MAX_COMMENTS_PER_CALL);
    let answer = kc
        .get(
            "record/comments",
            json!({"app": app, "record": record, "order": order, "offset": offset, "limit": limit}),
        )
        .await?;
    // In desc order "older" means more comments further on; in asc order it is "newer".
    let more_key = if order == "desc" { "older" } else { "newer" };
    let returned = answer.get("comments").and_then(Value::as_array).map_or(0, Vec::len) as i64;
    let note = (answer.get(more_key).and_then(Value::as_bool) == Some(true)).then(|| {
        format!(
            "More comments exist: call getRecordComments again with offset {}.",
            offset + returned
        )
    });
    Ok(structured_with_note(answer, note))
}

async fn add_comment<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let (app, record) = (args.id("appId")?, args.id("recordId")?);
    let comment = args.object("comment")?;
    if let Some(extra) = comment.keys().find(|k| *k != "text" && *k != "mentions") {
        return Err(ArgError::new("comment", format!("takes text and mentions, not {extra:?}")).into());
    }
    let text = args::text(
        "comment.text",
        comment.get("text").unwrap_or(&Value::Null),
        MAX_COMMENT_TEXT,
    )?;
    let mut body = json!({"text": text});
    if let Some(mentions) = comment.get("mentions") {
        let mentions = args::array("comment.mentions", mentions, 0, MAX_MENTIONS)?;
        let checked = mentions
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let path = format!("comment.mentions[{i}]");
                let m = args::object(&path, m)?;
                let code = args::text(&format!("{path}.code"), m.get("code").unwrap_or(&Value::Null), 128)?;
                let kind = args::one_of(
                    &format!("{path}.type"),
                    m.get("type").unwrap_or(&Value::Null),
                    &["USER", "ORGANIZATION", "GROUP"],
                )?;
                Ok(json!({"code": code, "type": kind}))
            })
            .collect::<Result<Vec<_>, ArgError>>()?;
        body["mentions"] = json!(checked);
    }
    Ok(structured(
        kc.post("record/comment", json!({"app": app, "record": record, "comment": body}))
            .await?,
    ))
}

async fn delete_comment<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let (app, record, comment) = (args.id("appId")?, args.id("recordId")?, args.id("commentId")?);
    kc.delete(
        "record/comment",
        json!({"app": app, "record": record, "comment": comment}),
    )
    .await?;
    Ok(structured(json!({"deletedCommentId": comment.to_string()})))
}
