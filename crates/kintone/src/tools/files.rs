//! Files: uploadFile (from base64) and downloadFile (as MCP text, image or embedded resource).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use platform::HttpClient;
use serde_json::{json, Value};

use super::spec;
use crate::args::{self, ArgError, Args};
use crate::client::{FileDownload, Kintone};
use crate::outcome::{structured_with_note, Outcome};
use crate::schema;
use crate::types::{Annotations, Blob, Content, ToolDefinition, ToolResult};

/// Largest file uploadFile accepts (decoded). Its base64 form (~6.7 MB) must also fit in one
/// MCP request.
pub const UPLOAD_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Largest file downloadFile returns. Base64 in the MCP answer makes it ~6.7 MB of JSON.
pub const DOWNLOAD_MAX_BYTES: usize = 5 * 1024 * 1024;
const MAX_FILE_NAME: usize = 255;

/// Standard base64 alphabet; padding optional, because models often drop it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) fn specs() -> Vec<ToolDefinition> {
    vec![
        spec("uploadFile", "Upload a file", Annotations::ADD,
            "Upload one file (base64, at most 5 MiB decoded) to kintone and get a fileKey. Attach it within 3 days with addRecord/updateRecord as {\"<file field code>\": {\"value\": [{\"fileKey\": \"<fileKey>\"}]}} \
(list the field's existing files too, or they are removed), or use it in updateAppCustomize. Unattached uploads are deleted after 3 days.",
            schema::input(vec![("file", json!({
                "type": "object",
                "description": "File to upload",
                "properties": {
                    "name": schema::text("File name, e.g. report.pdf", MAX_FILE_NAME),
                    "content": schema::string("Base64 encoded file content (standard alphabet; at most 5 MiB once decoded)"),
                    "contentType": schema::string("MIME type of the file, e.g. application/pdf (default application/octet-stream)"),
                },
                "required": ["name", "content"],
                "additionalProperties": false,
            }))], &["file"]),
            Some(schema::output(vec![("fileKey", json!({"type": "string", "description": "Temporary key to attach the file"}))], &["fileKey"])),
        ),
        spec("downloadFile", "Download a file", Annotations::READ,
            "Download a file attached to a record, by the fileKey in the record's FILE field value (from getRecord/getRecords, not the key uploadFile returned). \
Text files come back as text, PNG/JPEG/GIF/WebP images as images, anything else as an embedded resource. Files over 5 MiB are refused.",
            schema::input(vec![("fileKey", schema::text("File key from the FILE field value of a record", 1024))], &["fileKey"]),
            Some(schema::output(vec![
                ("name", json!({"type": ["string", "null"]})),
                ("mimeType", json!({"type": "string"})),
                ("size", json!({"type": "integer", "description": "Bytes"})),
                ("returnedAs", json!({"type": "string", "enum": ["text", "image", "resource"]})),
            ], &["mimeType", "size", "returnedAs"])),
        ),
    ]
}

pub(super) async fn call<H: HttpClient>(kc: &Kintone<'_, H>, name: &str, args: &Args) -> Option<Outcome> {
    Some(match name {
        "uploadFile" => upload(kc, args).await,
        "downloadFile" => download(kc, args).await,
        _ => return None,
    })
}

async fn upload<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let file = args.object("file")?;
    if let Some(extra) = file
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "content" | "contentType"))
    {
        return Err(ArgError::new("file", format!("takes name, content and contentType, not {extra:?}")).into());
    }
    let null = Value::Null;
    let name = args::text("file.name", file.get("name").unwrap_or(&null), MAX_FILE_NAME)?;
    if name.chars().any(char::is_control) {
        return Err(ArgError::new("file.name", "must not contain control characters").into());
    }
    let content_type = match file.get("contentType").filter(|v| !v.is_null()) {
        Some(v) => mime_type("file.contentType", args::string("file.contentType", v)?)?,
        None => "application/octet-stream".to_string(),
    };
    let encoded = args::string("file.content", file.get("content").unwrap_or(&null))?;
    // Cheap size check before decoding: 4 base64 characters carry 3 bytes.
    if encoded.len() / 4 * 3 > UPLOAD_MAX_BYTES + 3 {
        return Err(ArgError::new(
            "file.content",
            format!("is over the upload limit of {UPLOAD_MAX_BYTES} bytes (5 MiB); upload a smaller file"),
        )
        .into());
    }
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let data = BASE64.decode(compact.as_bytes()).map_err(|e| {
        ArgError::new(
            "file.content",
            format!("is not valid base64 ({e}); send the file bytes base64-encoded with the standard alphabet"),
        )
    })?;
    if data.len() > UPLOAD_MAX_BYTES {
        return Err(ArgError::new(
            "file.content",
            format!(
                "decodes to {} bytes; the upload limit is {UPLOAD_MAX_BYTES} bytes (5 MiB)",
                data.len()
            ),
        )
        .into());
    }
    let answer = kc.upload(name, &content_type, &data).await?;
    let note = answer.get("fileKey").and_then(Value::as_str).map(|key| {
        format!("Uploaded {name} ({} bytes). Attach it within 3 days, e.g. updateRecord with record {{\"<file field code>\": {{\"value\": [{{\"fileKey\": \"{key}\"}}]}}}}.", data.len())
    });
    Ok(structured_with_note(answer, note))
}

/// `type/subtype` with token characters only, so it is safe in a multipart header.
fn mime_type(path: &str, value: &str) -> Result<String, ArgError> {
    let value = value.trim();
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    match value.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => Ok(value.to_ascii_lowercase()),
        _ => Err(ArgError::new(
            path,
            format!("must be a MIME type such as application/pdf, got {value:?}"),
        )),
    }
}

async fn download<H: HttpClient>(kc: &Kintone<'_, H>, args: &Args) -> Outcome {
    let key = args.str("fileKey")?.trim();
    if key.is_empty() || key.len() > 1024 {
        return Err(ArgError::new("fileKey", "must be the non-empty fileKey from a record's FILE field").into());
    }
    let file = kc.download(key, DOWNLOAD_MAX_BYTES).await?;
    Ok(file_result(file))
}

/// The MCP content for a downloaded file, chosen by its MIME type.
pub(crate) fn file_result(file: FileDownload) -> ToolResult {
    let essence = file
        .mime_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let size = file.data.len();
    let label = file.name.clone().unwrap_or_else(|| "file".to_string());
    let (returned_as, body) = if is_textual(&essence) {
        let text = std::str::from_utf8(&file.data)
            .ok()
            .map(|t| t.strip_prefix('\u{feff}').unwrap_or(t).to_string());
        match text {
            Some(text) => ("text", Content::Text(text)),
            // Text in another charset (e.g. a Shift_JIS CSV) is passed on untouched.
            None => ("resource", Content::EmbeddedResource(blob(&file))),
        }
    } else if matches!(
        essence.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    ) {
        ("image", Content::Image(blob(&file)))
    } else {
        ("resource", Content::EmbeddedResource(blob(&file)))
    };
    let info = json!({"name": file.name, "mimeType": file.mime_type, "size": size, "returnedAs": returned_as});
    let mut result = structured_with_note(info, None);
    result.content = vec![
        Content::Text(format!("{label} ({}, {size} bytes):", file.mime_type)),
        body,
    ];
    result
}

fn blob(file: &FileDownload) -> Blob {
    Blob {
        mime_type: file.mime_type.clone(),
        name: file.name.clone(),
        data: file.data.clone(),
    }
}

fn is_textual(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
                | "application/csv"
                | "application/x-ndjson"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mime: &str, data: &[u8]) -> FileDownload {
        FileDownload {
            mime_type: mime.into(),
            name: Some("x".into()),
            data: data.to_vec(),
        }
    }

    #[test]
    fn text_images_and_other_binaries_get_their_content_kind() {
        let text = file_result(file("text/csv; charset=utf-8", "\u{feff}a,b\n1,2".as_bytes()));
        assert_eq!(text.content[1], Content::Text("a,b\n1,2".into()));
        assert_eq!(text.structured.as_ref().unwrap()["returnedAs"], "text");

        let image = file_result(file("image/png", b"\x89PNG"));
        assert!(matches!(&image.content[1], Content::Image(b) if b.data == b"\x89PNG" && b.mime_type == "image/png"));

        let pdf = file_result(file("application/pdf", b"%PDF"));
        assert!(matches!(&pdf.content[1], Content::EmbeddedResource(b) if b.name.as_deref() == Some("x")));

        let sjis = file_result(file("text/csv", b"\x82\xa0"));
        assert!(matches!(&sjis.content[1], Content::EmbeddedResource(_)));
        assert_eq!(sjis.structured.unwrap()["size"], 2);
    }

    #[test]
    fn mime_types_are_checked() {
        assert_eq!(mime_type("t", "Image/PNG").unwrap(), "image/png");
        assert!(mime_type("t", "png").is_err());
        assert!(mime_type("t", "text/plain\r\nX: y").is_err());
    }
}
