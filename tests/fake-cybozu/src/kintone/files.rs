//! Files: multipart upload to a temporary upload key, and download of an attached file by the
//! download key its record's FILE value carries (an upload key downloads nothing, as in kintone).

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::error::{ApiError, ApiResult, Lang};
use super::params::Params;
use super::{check_space, perm, Ctx, Reply};
use crate::random;
use crate::state::{State, StoredFile};

/// kintone deletes an upload that no record took within three days.
pub const UNATTACHED_LIFETIME: Duration = Duration::from_secs(3 * 24 * 3600);

pub struct Upload {
    pub name: String,
    pub content_type: String,
    pub data: Bytes,
}

fn file_required(lang: Lang) -> ApiError {
    ApiError::required_param(lang, "file")
}

/// Reads the single `file` part of a multipart body.
pub async fn parse_upload(content_type: &str, body: Bytes, lang: Lang) -> ApiResult<Upload> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| file_required(lang))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut upload: Option<Upload> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return Err(file_required(lang)),
        };
        if field.name() != Some("file") {
            continue;
        }
        let Some(name) = field.file_name().map(String::from) else {
            return Err(file_required(lang));
        };
        let part_type = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let data = field.bytes().await.map_err(|_| file_required(lang))?;
        if upload.is_some() {
            return Err(ApiError::field(
                lang,
                "file",
                lang.t(
                    "一度にアップロードできるファイルは1つです。",
                    "Only one file can be uploaded at a time.",
                ),
            ));
        }
        upload = Some(Upload {
            name,
            content_type: part_type,
            data,
        });
    }
    upload.ok_or_else(|| file_required(lang))
}

pub fn store_upload(state: &mut State, _ctx: &Ctx, upload: Upload) -> ApiResult<Reply> {
    let now = Instant::now();
    state
        .files
        .retain(|_, f| f.owner.is_some() || now.duration_since(f.uploaded_at) < UNATTACHED_LIFETIME);
    let hex = random::hex_key::<16>();
    let key = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    state.files.insert(
        key.clone(),
        StoredFile {
            name: upload.name,
            content_type: upload.content_type,
            data: upload.data,
            owner: None,
            uploaded_at: now,
        },
    );
    Ok(Reply::Json(json!({"fileKey": key})))
}

pub fn download(state: &mut State, ctx: &Ctx, params: &Params) -> ApiResult<Reply> {
    let key = params.str("fileKey")?;
    let file = state
        .files
        .get(&key)
        .ok_or_else(|| ApiError::file_not_found(ctx.lang, &key))?;
    let Some(owner) = file.owner.clone() else {
        return Err(ApiError::file_not_found(ctx.lang, &key));
    };
    let app = state
        .apps
        .get(&owner.app)
        .ok_or_else(|| ApiError::file_not_found(ctx.lang, &key))?;
    check_space(state, ctx, app)?;
    let record = app
        .records
        .get(&owner.record)
        .ok_or_else(|| ApiError::file_not_found(ctx.lang, &key))?;
    if !perm::record_rights(app, &ctx.user, record, ctx.now).viewable {
        return Err(ApiError::no_permission(ctx.lang));
    }
    Ok(Reply::File {
        data: file.data.clone(),
        content_type: file.content_type.clone(),
        name: file.name.clone(),
    })
}
