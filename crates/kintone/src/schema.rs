//! Building blocks of the tools' JSON Schemas, so the same argument reads the same in every tool.

use serde_json::{json, Map, Value};

/// The arguments object of a tool. Every tool also takes `guestSpaceId`.
pub(crate) fn input(properties: Vec<(&'static str, Value)>, required: &[&str]) -> Value {
    let mut props: Map<String, Value> = properties.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    props.insert(
        "guestSpaceId".into(),
        id("Guest space ID, only for apps in a guest space (/k/guest/{id}/ URLs); omit otherwise"),
    );
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// A result object with the listed properties; kintone may add more, so extra keys are allowed.
pub(crate) fn output(properties: Vec<(&'static str, Value)>, required: &[&str]) -> Value {
    let props: Map<String, Value> = properties.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    json!({"type": "object", "properties": props, "required": required})
}

pub(crate) fn id(description: &str) -> Value {
    json!({"type": ["integer", "string"], "description": description, "minimum": 1, "pattern": "^[1-9][0-9]*$"})
}

pub(crate) fn app_id() -> Value {
    id("The kintone app ID (the number in the app URL /k/{appId}/)")
}

pub(crate) fn revision(description: &str) -> Value {
    json!({"type": ["integer", "string"], "description": description, "minimum": -1, "pattern": "^(-1|[0-9]+)$"})
}

pub(crate) fn settings_revision() -> Value {
    revision("Expected revision of the app settings (from the matching get tool); the call fails if the settings changed since. Omit or -1 to skip the check.")
}

pub(crate) fn lang() -> Value {
    json!({"type": "string", "enum": ["default", "ja", "en", "zh", "user"], "description": "Language of names and labels: ja, en, zh, user (the signed-in user's) or default (the app's; also when omitted)"})
}

pub(crate) fn preview() -> Value {
    boolean("true reads the pre-live settings not yet published by deployApp; default false reads the live ones")
}

pub(crate) fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

pub(crate) fn text(description: &str, max: usize) -> Value {
    json!({"type": "string", "description": description, "minLength": 1, "maxLength": max})
}

pub(crate) fn boolean(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

pub(crate) fn integer(description: &str, min: i64, max: i64) -> Value {
    json!({"type": "integer", "description": description, "minimum": min, "maximum": max})
}

pub(crate) fn one_of(description: &str, values: &[&str]) -> Value {
    json!({"type": "string", "description": description, "enum": values})
}

pub(crate) fn array(description: &str, items: Value, min: usize, max: usize) -> Value {
    json!({"type": "array", "description": description, "items": items, "minItems": min, "maxItems": max})
}

/// A free-form object (kintone record data, settings fragments).
pub(crate) fn object(description: &str) -> Value {
    json!({"type": "object", "description": description})
}

pub(crate) fn ids(description: &str, max: usize) -> Value {
    array(description, id("An ID"), 1, max)
}

/// Output pieces shared by several tools.
pub(crate) mod out {
    use serde_json::{json, Value};

    pub(crate) fn revision() -> Value {
        json!({"type": ["string", "integer"], "description": "Revision (pass it back to detect concurrent changes)"})
    }
    pub(crate) fn id() -> Value {
        json!({"type": ["string", "integer"]})
    }
    pub(crate) fn objects(description: &str) -> Value {
        json!({"type": "array", "items": {"type": "object"}, "description": description})
    }
    pub(crate) fn object(description: &str) -> Value {
        json!({"type": "object", "description": description})
    }
}
