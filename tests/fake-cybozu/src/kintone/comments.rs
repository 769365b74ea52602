//! Record comments: read (10 per page, newest first by default), add (with mentions) and
//! delete (only by the person who wrote it; an unknown comment is 400 GAIA_RE02).

use http::StatusCode;
use serde_json::{json, Value};

use super::datetime::format_datetime;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::{find_app, perm, Ctx, Reply};
use crate::state::{Comment, State};

pub const MAX_PER_PAGE: i64 = 10;
pub const MAX_TEXT_CHARS: usize = 65_535;
pub const MAX_MENTIONS: usize = 10;

fn viewable_record(state: &State, ctx: &Ctx, app_id: u64, record_id: u64) -> ApiResult<()> {
    let app = find_app(state, ctx, app_id, false)?;
    let record = app
        .records
        .get(&record_id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, record_id))?;
    if !perm::record_rights(app, &ctx.user, record, ctx.now).viewable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    Ok(())
}

pub fn get_comments(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let record_id = params.id("record")?;
    let order = params.opt_str("order")?.unwrap_or_else(|| "desc".into());
    if order != "asc" && order != "desc" {
        return Err(ApiError::field(
            ctx.lang,
            "order",
            ctx.lang.t(
                "Enum値のいずれかでなければなりません。",
                "must be one of the enum value",
            ),
        ));
    }
    let offset = params.opt_int("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::field(
            ctx.lang,
            "offset",
            ctx.lang.t("最小でも0以上です。", "must be greater than or equal to 0"),
        ));
    }
    let limit = params.opt_int("limit")?.unwrap_or(MAX_PER_PAGE);
    if limit > MAX_PER_PAGE {
        return Err(ApiError::field(
            ctx.lang,
            "limit",
            ctx.lang.t("最大でも10以下です。", "must be less than or equal to 10"),
        ));
    }
    if limit < 0 {
        return Err(ApiError::field(
            ctx.lang,
            "limit",
            ctx.lang.t("最小でも0以上です。", "must be greater than or equal to 0"),
        ));
    }
    viewable_record(state, ctx, app_id, record_id)?;
    let app = find_app(state, ctx, app_id, false)?;
    let Some(record) = app.records.get(&record_id) else {
        return Err(ApiError::record_not_found(ctx.lang, record_id));
    };
    let mut all: Vec<&Comment> = record.comments.iter().collect();
    if order == "desc" {
        all.reverse();
    }
    let (offset, limit) = (offset as usize, limit as usize);
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| {
            json!({
                "id": c.id.to_string(),
                "text": c.text,
                "createdAt": format_datetime(c.created_at),
                "creator": {"code": c.creator, "name": state.user_name(&c.creator)},
                "mentions": c.mentions,
            })
        })
        .collect();
    let before = offset > 0;
    let after = offset + limit < all.len();
    let (older, newer) = if order == "desc" {
        (after, before)
    } else {
        (before, after)
    };
    Ok(Reply::Json(json!({"comments": page, "older": older, "newer": newer})))
}

pub fn add_comment(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let record_id = params.id("record")?;
    let comment = params
        .opt_object("comment")?
        .ok_or_else(|| ApiError::required_param(ctx.lang, "comment"))?;
    let text = match comment.get("text") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ApiError::required_param(ctx.lang, "comment.text"))
        }
        Some(_) => return Err(ApiError::invalid_json(ctx.lang)),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::field(
            ctx.lang,
            "comment.text",
            ctx.lang.t(
                "65535文字より短くなければなりません。",
                "Enter less than 65535 characters.",
            ),
        ));
    }
    let mentions = match comment.get("mentions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => return Err(ApiError::invalid_json(ctx.lang)),
    };
    if mentions.len() > MAX_MENTIONS {
        return Err(ApiError::field(
            ctx.lang,
            "comment.mentions",
            ctx.lang
                .t("最大でも10件です。", "A maximum of 10 mentions can be specified."),
        ));
    }
    let mut stored_mentions = Vec::new();
    for (i, mention) in mentions.iter().enumerate() {
        let code = mention.get("code").and_then(Value::as_str).unwrap_or_default();
        let kind = mention.get("type").and_then(Value::as_str).unwrap_or_default();
        let known = match kind {
            "USER" => state.user(code).is_some(),
            "GROUP" => state.group_name(code).is_some(),
            "ORGANIZATION" => state.organization_name(code).is_some(),
            _ => {
                return Err(ApiError::field(
                    ctx.lang,
                    format!("comment.mentions[{i}].type"),
                    ctx.lang.t(
                        "Enum値のいずれかでなければなりません。",
                        "must be one of the enum value",
                    ),
                ))
            }
        };
        if !known {
            let (error_code, ja, en) = match kind {
                "USER" => ("GAIA_IL26", "ユーザー", "user"),
                "GROUP" => ("GAIA_IL27", "グループ", "group"),
                _ => ("GAIA_IL28", "組織", "organization"),
            };
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                error_code,
                ctx.lang.t(
                    format!("指定した{ja}(code:{code})が見つかりません。"),
                    format!("The specified {en} (code: {code}) not found."),
                ),
            ));
        }
        stored_mentions.push(json!({"code": code, "type": kind}));
    }
    viewable_record(state, ctx, app_id, record_id)?;
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let record = app
        .records
        .get_mut(&record_id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, record_id))?;
    let id = record.next_comment_id;
    record.next_comment_id += 1;
    record.comments.push(Comment {
        id,
        text,
        created_at: ctx.now,
        creator: ctx.user.code.clone(),
        mentions: stored_mentions,
    });
    Ok(Reply::Json(json!({"id": id.to_string()})))
}

pub fn delete_comment(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let app_id = params.id("app")?;
    let record_id = params.id("record")?;
    let comment_id = params.id("comment")?;
    viewable_record(state, ctx, app_id, record_id)?;
    let app = state
        .apps
        .get_mut(&app_id)
        .ok_or_else(|| ApiError::app_not_found(ctx.lang, app_id))?;
    let record = app
        .records
        .get_mut(&record_id)
        .ok_or_else(|| ApiError::record_not_found(ctx.lang, record_id))?;
    let Some(position) = record.comments.iter().position(|c| c.id == comment_id) else {
        return Err(ApiError::comment_not_found(ctx.lang));
    };
    if record.comments[position].creator != ctx.user.code {
        return Err(ApiError::no_permission(ctx.lang));
    }
    record.comments.remove(position);
    Ok(Reply::Json(json!({})))
}
