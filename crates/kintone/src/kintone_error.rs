//! kintone's error answers (`{code, id, message, errors}`), turned into text a model can act on.

use serde_json::Value;

/// An error answer from kintone that the model can do something about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: u16,
    /// kintone's error code, e.g. `CB_VA01`; absent when the body was not kintone JSON.
    pub code: Option<String>,
    /// kintone's error id, for support requests.
    pub id: Option<String>,
    pub message: String,
    /// Field errors: `{"record.title.value": {"messages": ["Required."]}}`.
    pub errors: Option<Value>,
    /// Seconds to wait, from `Retry-After`, on 429 and 503.
    pub retry_after: Option<u64>,
}

/// The parts of a kintone error body, when the body is one.
pub(crate) struct ErrorBody {
    pub code: String,
    pub id: Option<String>,
    pub message: String,
    pub errors: Option<Value>,
}

/// Reads `{code, id, message, errors}`; `None` for anything else (HTML maintenance pages, empty bodies).
pub(crate) fn parse_error_body(body: &[u8]) -> Option<ErrorBody> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value.get("code")?.as_str()?.to_string();
    let message = value.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    let id = value.get("id").and_then(Value::as_str).map(str::to_string);
    let errors = value
        .get("errors")
        .filter(|e| e.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    Some(ErrorBody {
        code,
        id,
        message,
        errors,
    })
}

impl ApiError {
    pub(crate) fn from_body(status: u16, body: ErrorBody, retry_after: Option<u64>) -> Self {
        ApiError {
            status,
            code: Some(body.code),
            id: body.id,
            message: body.message,
            errors: body.errors,
            retry_after,
        }
    }

    /// The model-facing explanation: what kintone said, which fields are wrong, what to do.
    pub(crate) fn explain(&self) -> String {
        let mut out = match &self.code {
            Some(code) => format!(
                "kintone returned an error (HTTP {}, {code}): {}",
                self.status, self.message
            ),
            None => format!("kintone returned HTTP {}: {}", self.status, self.message),
        };
        if let Some(errors) = self.errors.as_ref().and_then(Value::as_object) {
            out.push_str("\nField errors:");
            for (key, detail) in errors {
                let messages = detail
                    .get("messages")
                    .and_then(Value::as_array)
                    .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
                    .unwrap_or_else(|| detail.to_string());
                out.push_str(&format!("\n- {key}: {messages}"));
            }
        }
        if let Some(hint) = self.hint() {
            out.push_str("\nWhat to do: ");
            out.push_str(&hint);
        }
        if let Some(id) = &self.id {
            out.push_str(&format!("\n(kintone error id {id})"));
        }
        out
    }

    fn hint(&self) -> Option<String> {
        if self.status == 429 || self.status == 503 {
            let wait = self.retry_after.unwrap_or(if self.status == 429 { 5 } else { 60 });
            let why = if self.status == 429 {
                "kintone is handling too many requests for this domain at once"
            } else {
                "kintone is temporarily unavailable (maintenance or overload)"
            };
            return Some(format!(
                "{why}; nothing was changed. Retry the same call after {wait} seconds."
            ));
        }
        let code = self.code.as_deref()?;
        let hint = match (self.status, code) {
            (403, "CB_OA01") => "the kintone sign-in of this connection lacks the OAuth scope this tool needs. Ask the user to reconnect the kintone connector and grant the requested access.",
            (_, "CB_NO02") => "the signed-in kintone user has no permission for this app, record or field (or guestSpaceId names the wrong space). Use another app or ask a kintone administrator for access.",
            (_, "GAIA_CO02") => "the record or settings changed since their revision was read. Read them again and retry with the new revision, or omit revision to overwrite.",
            (_, "GAIA_RE01") => "no record with that id exists in this app (it may have been deleted). Check appId and the id; getRecords lists record ids.",
            (_, "GAIA_AP01") => "no app with that id exists or it is not visible. Check appId (searchApps lists apps); an app in a guest space needs guestSpaceId.",
            (_, "GAIA_IL23") | (_, "GAIA_IL01") => "the app and the guest space do not match. Pass guestSpaceId for apps in a guest space, and omit it for all other apps.",
            (_, "GAIA_BL01") => "the file was not found. Download with the fileKey from the record's FILE field value (getRecord), not the key uploadFile returned.",
            (_, "GAIA_RE02") => "no comment with that id exists on this record. getRecordComments lists the comment ids.",
            (_, "GAIA_LO04") => "a lookup field's key value matches no record in the source app. Use a value that exists there.",
            (_, "GAIA_QU01") => "a query may return at most 500 records per call: use limit 500 or less, or getAllRecords.",
            (_, "GAIA_QU02") => "offset may not exceed 10000. Narrow the query (for example by $id ranges) or use getAllRecords.",
            (_, "GAIA_IQ11") => "the query names a field code the app does not have. Field codes (not labels) are listed by getAppFields.",
            (_, "GAIA_IQ03") => "that operator is not allowed for the field's type (for example like on a NUMBER, or = on a CHECK_BOX: use in). See getAppFields for field types.",
            (_, "CB_IJ01") => "the JSON has a wrong shape. Records are {\"<field code>\": {\"value\": ...}} with values in the field type's format (see getAppFields).",
            (_, "GAIA_OF02") => "this feature is not enabled on the kintone domain.",
            (_, "CB_VA01") if self.errors.as_ref().and_then(|e| e.get("query")).is_some() => "fix the query syntax, e.g. status in (\"Open\") and amount > 100 order by $id desc limit 100. Strings go in double quotes.",
            (_, "CB_VA01") => "correct the listed fields and call again; field codes and types are listed by getAppFields.",
            _ => return None,
        };
        Some(hint.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_errors_and_codes_reach_the_model() {
        let body = json!({"code": "CB_VA01", "id": "abc123", "message": "Missing or invalid input.",
            "errors": {"record.title.value": {"messages": ["Required."]}}});
        let parsed = parse_error_body(body.to_string().as_bytes()).unwrap();
        let text = ApiError::from_body(400, parsed, None).explain();
        assert!(
            text.starts_with("kintone returned an error (HTTP 400, CB_VA01): Missing or invalid input."),
            "{text}"
        );
        assert!(text.contains("- record.title.value: Required."), "{text}");
        assert!(text.contains("getAppFields"), "{text}");
        assert!(text.contains("(kintone error id abc123)"), "{text}");
    }

    #[test]
    fn busy_answers_say_when_to_retry() {
        let parsed = parse_error_body(br#"{"code":"GAIA_TO04","id":"x","message":"busy"}"#).unwrap();
        let text = ApiError::from_body(429, parsed, Some(7)).explain();
        assert!(text.contains("Retry the same call after 7 seconds"), "{text}");
        let maintenance = ApiError {
            status: 503,
            code: None,
            id: None,
            message: "maintenance".into(),
            errors: None,
            retry_after: None,
        };
        assert!(maintenance.explain().contains("after 60 seconds"));
    }

    #[test]
    fn non_kintone_bodies_are_not_error_bodies() {
        assert!(parse_error_body(b"<html>maintenance</html>").is_none());
        assert!(parse_error_body(br#"{"message":"no code"}"#).is_none());
        assert!(parse_error_body(b"").is_none());
    }

    #[test]
    fn missing_scope_is_explained() {
        let parsed =
            parse_error_body(br#"{"code":"CB_OA01","id":"x","message":"Cannot access protected resource."}"#).unwrap();
        assert!(ApiError::from_body(403, parsed, None).explain().contains("OAuth scope"));
    }
}
