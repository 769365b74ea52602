//! Argument checking before any call to kintone. Every message names the argument and says
//! what to change, because the reader is a model that will retry.

use serde_json::{Map, Value};

/// A problem with the arguments, phrased as `<path>: <what to change>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError(pub String);

impl ArgError {
    pub(crate) fn new(path: &str, problem: impl std::fmt::Display) -> Self {
        ArgError(format!("{path}: {problem}"))
    }
}

pub(crate) type ArgResult<T> = Result<T, ArgError>;

/// The arguments object of one call, checked against the tool's input schema for unknown and
/// missing keys. Typed access goes through the methods, which check values and limits.
#[derive(Debug)]
pub(crate) struct Args {
    map: Map<String, Value>,
}

impl Args {
    /// Parses the JSON text the client sent. A blank text is an empty object; `null` values
    /// count as absent (models often send them for optional arguments).
    pub(crate) fn parse(text: &str, schema: &Value) -> ArgResult<Args> {
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(text)
                .map_err(|e| ArgError(format!("arguments are not valid JSON ({e}); send a JSON object")))?
        };
        let Value::Object(mut map) = value else {
            return Err(ArgError("arguments must be a JSON object of named arguments".into()));
        };
        map.retain(|_, v| !v.is_null());
        let properties = schema.get("properties").and_then(Value::as_object);
        let accepted = || {
            properties
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        if let Some(properties) = properties {
            if let Some(unknown) = map.keys().find(|k| !properties.contains_key(k.as_str())) {
                return Err(ArgError(format!(
                    "unknown argument {unknown:?}; this tool takes: {}",
                    accepted()
                )));
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    let described = properties
                        .and_then(|p| p.get(key))
                        .and_then(|p| p.get("description"))
                        .and_then(Value::as_str)
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    return Err(ArgError(format!("{key}: required{described}")));
                }
            }
        }
        Ok(Args { map })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub(crate) fn id(&self, key: &str) -> ArgResult<u64> {
        id(key, self.required(key)?)
    }

    pub(crate) fn opt_id(&self, key: &str) -> ArgResult<Option<u64>> {
        self.get(key).map(|v| id(key, v)).transpose()
    }

    pub(crate) fn str(&self, key: &str) -> ArgResult<&str> {
        string(key, self.required(key)?)
    }

    pub(crate) fn opt_str(&self, key: &str) -> ArgResult<Option<&str>> {
        self.get(key).map(|v| string(key, v)).transpose()
    }

    /// A string of at most `max` characters that is not blank.
    pub(crate) fn opt_text(&self, key: &str, max: usize) -> ArgResult<Option<&str>> {
        self.get(key).map(|v| text(key, v, max)).transpose()
    }

    pub(crate) fn opt_bool(&self, key: &str) -> ArgResult<Option<bool>> {
        self.get(key).map(|v| boolean(key, v)).transpose()
    }

    pub(crate) fn opt_int(&self, key: &str, min: i64, max: i64) -> ArgResult<Option<i64>> {
        self.get(key).map(|v| int(key, v, min, max)).transpose()
    }

    pub(crate) fn opt_revision(&self, key: &str) -> ArgResult<Option<i64>> {
        self.get(key).map(|v| revision(key, v)).transpose()
    }

    pub(crate) fn opt_enum(&self, key: &str, allowed: &[&'static str]) -> ArgResult<Option<&'static str>> {
        self.get(key).map(|v| one_of(key, v, allowed)).transpose()
    }

    pub(crate) fn object(&self, key: &str) -> ArgResult<&Map<String, Value>> {
        object(key, self.required(key)?)
    }

    pub(crate) fn opt_object(&self, key: &str) -> ArgResult<Option<&Map<String, Value>>> {
        self.get(key).map(|v| object(key, v)).transpose()
    }

    pub(crate) fn array(&self, key: &str, min: usize, max: usize) -> ArgResult<&Vec<Value>> {
        array(key, self.required(key)?, min, max)
    }

    pub(crate) fn opt_array(&self, key: &str, min: usize, max: usize) -> ArgResult<Option<&Vec<Value>>> {
        self.get(key).map(|v| array(key, v, min, max)).transpose()
    }

    fn required(&self, key: &str) -> ArgResult<&Value> {
        self.get(key).ok_or_else(|| ArgError::new(key, "required"))
    }
}

/// Shortened rendering of a bad value for messages.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// A kintone id (app, record, space, comment): a positive integer, as a number or a string of digits.
pub(crate) fn id(path: &str, value: &Value) -> ArgResult<u64> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    };
    match parsed {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(ArgError::new(
            path,
            format!("must be a positive integer id such as 12, got {}", shown(value)),
        )),
    }
}

pub(crate) fn string<'v>(path: &str, value: &'v Value) -> ArgResult<&'v str> {
    value
        .as_str()
        .ok_or_else(|| ArgError::new(path, format!("must be a string, got {}", shown(value))))
}

/// A non-blank string of at most `max` characters.
pub(crate) fn text<'v>(path: &str, value: &'v Value, max: usize) -> ArgResult<&'v str> {
    let s = string(path, value)?;
    if s.trim().is_empty() {
        return Err(ArgError::new(path, "must not be empty"));
    }
    let len = s.chars().count();
    if len > max {
        return Err(ArgError::new(
            path,
            format!("is {len} characters long; the limit is {max}"),
        ));
    }
    Ok(s)
}

pub(crate) fn boolean(path: &str, value: &Value) -> ArgResult<bool> {
    value
        .as_bool()
        .ok_or_else(|| ArgError::new(path, format!("must be true or false, got {}", shown(value))))
}

/// An integer in `min..=max`; whole numbers given as strings are accepted.
pub(crate) fn int(path: &str, value: &Value, min: i64, max: i64) -> ArgResult<i64> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(ArgError::new(path, format!("must be between {min} and {max}, got {n}"))),
        None => Err(ArgError::new(
            path,
            format!("must be an integer between {min} and {max}, got {}", shown(value)),
        )),
    }
}

/// A settings or record revision: the number kintone returned, or -1 to skip the check.
pub(crate) fn revision(path: &str, value: &Value) -> ArgResult<i64> {
    int(path, value, -1, i64::MAX).map_err(|_| {
        ArgError::new(
            path,
            format!(
                "must be the revision number kintone returned (or -1 to skip the check), got {}",
                shown(value)
            ),
        )
    })
}

pub(crate) fn one_of(path: &str, value: &Value, allowed: &[&'static str]) -> ArgResult<&'static str> {
    let s = string(path, value)?;
    allowed
        .iter()
        .find(|a| **a == s)
        .copied()
        .ok_or_else(|| ArgError::new(path, format!("must be one of {}, got {s:?}", allowed.join(", "))))
}

pub(crate) fn object<'v>(path: &str, value: &'v Value) -> ArgResult<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| ArgError::new(path, format!("must be a JSON object, got {}", shown(value))))
}

pub(crate) fn array<'v>(path: &str, value: &'v Value, min: usize, max: usize) -> ArgResult<&'v Vec<Value>> {
    let items = value
        .as_array()
        .ok_or_else(|| ArgError::new(path, format!("must be an array, got {}", shown(value))))?;
    if items.len() < min {
        return Err(ArgError::new(path, format!("needs at least {min} item(s)")));
    }
    if items.len() > max {
        return Err(ArgError::new(
            path,
            format!(
                "has {} items; the limit per call is {max}, so split it into several calls",
                items.len()
            ),
        ));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"appId": {"description": "The kintone app ID"}, "query": {}}, "required": ["appId"]})
    }

    #[test]
    fn blank_text_is_an_empty_object_and_missing_required_is_named() {
        let err = Args::parse("  ", &schema()).unwrap_err();
        assert_eq!(err.0, "appId: required (The kintone app ID)");
    }

    #[test]
    fn unknown_arguments_are_refused_with_the_accepted_list() {
        let err = Args::parse(r#"{"app": 1}"#, &schema()).unwrap_err();
        assert!(err.0.contains("unknown argument \"app\""), "{}", err.0);
        assert!(err.0.contains("appId, query"), "{}", err.0);
    }

    #[test]
    fn non_objects_and_bad_json_are_refused() {
        assert!(Args::parse("[1]", &schema())
            .unwrap_err()
            .0
            .contains("must be a JSON object"));
        assert!(Args::parse("{", &schema()).unwrap_err().0.contains("not valid JSON"));
    }

    #[test]
    fn nulls_count_as_absent() {
        let args = Args::parse(r#"{"appId": 3, "query": null}"#, &schema()).unwrap();
        assert_eq!(args.opt_str("query").unwrap(), None);
    }

    #[test]
    fn ids_accept_numbers_and_digit_strings_only() {
        assert_eq!(id("appId", &json!(12)).unwrap(), 12);
        assert_eq!(id("appId", &json!("12")).unwrap(), 12);
        for bad in [json!(0), json!(-1), json!("12a"), json!(""), json!(1.5), json!(true)] {
            let err = id("appId", &bad).unwrap_err();
            assert!(
                err.0.starts_with("appId: must be a positive integer id"),
                "{bad}: {}",
                err.0
            );
        }
    }

    #[test]
    fn ints_are_range_checked() {
        assert_eq!(int("limit", &json!(10), 1, 10).unwrap(), 10);
        assert_eq!(int("limit", &json!("3"), 1, 10).unwrap(), 3);
        assert_eq!(
            int("limit", &json!(11), 1, 10).unwrap_err().0,
            "limit: must be between 1 and 10, got 11"
        );
        assert!(int("limit", &json!("x"), 1, 10).is_err());
    }

    #[test]
    fn arrays_are_size_checked_with_a_split_hint() {
        let many = Value::Array(vec![json!(1); 101]);
        let err = array("ids", &many, 1, 100).unwrap_err();
        assert_eq!(
            err.0,
            "ids: has 101 items; the limit per call is 100, so split it into several calls"
        );
        assert!(array("ids", &json!([]), 1, 100).unwrap_err().0.contains("at least 1"));
    }

    #[test]
    fn text_is_length_checked() {
        assert!(text("name", &json!("   "), 64)
            .unwrap_err()
            .0
            .contains("must not be empty"));
        let long = Value::String("あ".repeat(65));
        assert_eq!(
            text("name", &long, 64).unwrap_err().0,
            "name: is 65 characters long; the limit is 64"
        );
    }

    #[test]
    fn enums_list_the_allowed_values() {
        assert_eq!(one_of("order", &json!("asc"), &["asc", "desc"]).unwrap(), "asc");
        assert_eq!(
            one_of("order", &json!("up"), &["asc", "desc"]).unwrap_err().0,
            "order: must be one of asc, desc, got \"up\""
        );
    }

    #[test]
    fn revisions_allow_minus_one() {
        assert_eq!(revision("revision", &json!(-1)).unwrap(), -1);
        assert_eq!(revision("revision", &json!("5")).unwrap(), 5);
        assert!(revision("revision", &json!(-2)).is_err());
    }
}
