//! Request parameters: kintone takes them from the query string (`ids[0]=1&ids[1]=2`, as
//! js-sdk's `qs.stringify` writes them) or from a JSON body, for every method. Both are merged
//! into one JSON object, body keys winning.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult, Lang};

/// Parses a query string with bracket notation into a JSON object whose leaves are strings.
/// `a[0]=x&a[1]=y` and `a[]=x&a[]=y` and `a=x&a=y` become arrays; `a[b]=x` becomes an object.
pub fn parse_query_string(query: &str) -> Map<String, Value> {
    let mut root = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let segments = split_key(&key);
        insert(&mut root, &segments, Value::String(value.into_owned()));
    }
    match arrays_from_index_objects(root) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_string()];
    };
    let mut segments = vec![key[..open].to_string()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                segments.push(stripped[..close].to_string());
                rest = &stripped[close + 1..];
            }
            None => break,
        }
    }
    segments
}

/// Inserts into an object tree; arrays are built as objects keyed by index and converted later.
fn insert(node: &mut Value, segments: &[String], value: Value) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let Some(map) = node.as_object_mut() else { return };
    // `a[]` pushes: its index is the next free one.
    let key = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        match map.get_mut(&key) {
            // A repeated plain key (`a=1&a=2`) collects into a list.
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let previous = existing.take();
                *existing = Value::Array(vec![previous, value]);
            }
            None => {
                map.insert(key, value);
            }
        }
    } else {
        let child = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        insert(child, rest, value);
    }
}

fn arrays_from_index_objects(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let is_index_map = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            let converted: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, arrays_from_index_objects(v)))
                .collect();
            if is_index_map {
                let mut entries: Vec<(usize, Value)> = converted
                    .into_iter()
                    .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
                    .collect();
                entries.sort_by_key(|(i, _)| *i);
                Value::Array(entries.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(converted)
            }
        }
        Value::Array(list) => Value::Array(list.into_iter().map(arrays_from_index_objects).collect()),
        other => other,
    }
}

/// The merged parameters of one request, with typed getters that fail the way kintone does.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub map: Map<String, Value>,
    pub lang: Option<Lang>,
}

impl Params {
    pub fn new(map: Map<String, Value>, lang: Lang) -> Self {
        Params { map, lang: Some(lang) }
    }

    fn lang(&self) -> Lang {
        self.lang.unwrap_or(Lang::Ja)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A required positive integer (`app`, `id`, `record`): number or numeric string.
    pub fn id(&self, key: &str) -> ApiResult<u64> {
        match self.get(key) {
            None => Err(ApiError::required_param(self.lang(), key)),
            Some(value) => positive_id(value, key, self.lang()),
        }
    }

    pub fn opt_id(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => positive_id(value, key, self.lang()).map(Some),
        }
    }

    /// An optional integer that may be any value (e.g. `revision`, where -1 means "no check").
    pub fn opt_int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => as_int(value).map(Some).ok_or_else(|| not_a_number(self.lang(), key)),
        }
    }

    pub fn opt_str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::invalid_json(self.lang())),
        }
    }

    pub fn str(&self, key: &str) -> ApiResult<String> {
        self.opt_str(key)?
            .ok_or_else(|| ApiError::required_param(self.lang(), key))
    }

    /// Booleans arrive as JSON booleans or as the strings "true"/"false".
    pub fn opt_bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(ApiError::field(
                self.lang(),
                key,
                self.lang().t("真偽値でなければなりません。", "must be a boolean"),
            )),
        }
    }

    /// An optional list; a single scalar from the query string counts as a one-element list.
    pub fn opt_array(&self, key: &str) -> ApiResult<Option<Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(list)) => Ok(Some(list.clone())),
            Some(Value::Object(map)) if map.is_empty() => Ok(Some(Vec::new())),
            Some(Value::String(_)) | Some(Value::Number(_)) => Ok(Some(vec![self.map[key].clone()])),
            Some(_) => Err(ApiError::invalid_json(self.lang())),
        }
    }

    pub fn opt_string_list(&self, key: &str) -> ApiResult<Option<Vec<String>>> {
        let Some(list) = self.opt_array(key)? else {
            return Ok(None);
        };
        list.iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(ApiError::invalid_json(self.lang())),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    pub fn opt_id_list(&self, key: &str) -> ApiResult<Option<Vec<u64>>> {
        let Some(list) = self.opt_array(key)? else {
            return Ok(None);
        };
        list.iter()
            .enumerate()
            .map(|(i, v)| positive_id(v, &format!("{key}[{i}]"), self.lang()))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    pub fn opt_object(&self, key: &str) -> ApiResult<Option<Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(_) => Err(ApiError::invalid_json(self.lang())),
        }
    }
}

pub fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn not_a_number(lang: Lang, key: &str) -> ApiError {
    ApiError::field(
        lang,
        key,
        lang.t("数字でなければなりません。", "Only numbers are allowed."),
    )
}

pub fn positive_id(value: &Value, key: &str, lang: Lang) -> ApiResult<u64> {
    let n = as_int(value).ok_or_else(|| not_a_number(lang, key))?;
    if n < 1 {
        return Err(ApiError::field(
            lang,
            key,
            lang.t("最小でも1以上です。", "must be greater than or equal to 1"),
        ));
    }
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracket_arrays_and_objects() {
        let map = parse_query_string("app=1&ids%5B0%5D=3&ids%5B1%5D=4&apps[0][app]=7&fields[]=a&fields[]=b&x=1&x=2");
        assert_eq!(
            Value::Object(map),
            json!({
                "app": "1", "ids": ["3", "4"], "apps": [{"app": "7"}], "fields": ["a", "b"], "x": ["1", "2"]
            })
        );
    }

    #[test]
    fn indices_order_numerically() {
        let map = parse_query_string("ids[10]=k&ids[2]=c&ids[0]=a");
        assert_eq!(map["ids"], json!(["a", "c", "k"]));
    }

    #[test]
    fn ids_fail_like_kintone() {
        let params = Params::new(parse_query_string("app=-1&id=x"), Lang::En);
        let err = params.id("app").unwrap_err();
        assert_eq!(err.code, "CB_VA01");
        assert_eq!(
            err.errors.unwrap()["app"]["messages"][0],
            "must be greater than or equal to 1"
        );
        assert!(params.id("id").is_err());
        let missing = params.id("record").unwrap_err();
        assert_eq!(missing.errors.unwrap()["record"]["messages"][0], "Required field.");
    }
}
