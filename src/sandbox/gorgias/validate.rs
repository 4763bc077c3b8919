//! Body validation for customer writes, marshmallow-style: unknown keys, wrong types and
//! missing channel fields become `{field: [messages]}`. Pure; must never touch the state.

use serde_json::{Map, Value, json};

/// Keys the official create schema accepts.
pub const CREATE_KEYS: &[&str] = &[
    "channels",
    "email",
    "external_id",
    "language",
    "name",
    "timezone",
];
/// Keys accepted by `PUT /api/customers/{id}` (create keys plus `note`, `meta`,
/// `custom_fields`, which the contract lists as UNCONFIRMED but accepted in practice).
pub const UPDATE_KEYS: &[&str] = &[
    "channels",
    "email",
    "external_id",
    "language",
    "name",
    "timezone",
    "note",
    "meta",
    "custom_fields",
];
/// Keys of the merge body.
pub const MERGE_KEYS: &[&str] = &[
    "channels",
    "email",
    "external_id",
    "language",
    "name",
    "timezone",
    "note",
    "meta",
    "custom_fields",
    "id",
    "data",
];

const MISSING: &str = "Missing data for required field.";

/// Collected field errors.
#[derive(Debug, Default)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    fn add(&mut self, field: &str, msg: &str) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!(msg));
        }
    }

    fn add_nested(&mut self, field: &str, index: usize, sub: &str, msg: &str) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(obj) = entry.as_object_mut() {
            let item = obj
                .entry(index.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(item) = item.as_object_mut() {
                item.insert(sub.to_owned(), json!([msg]));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

fn nullable_string(errs: &mut FieldErrors, body: &Map<String, Value>, key: &str) {
    if let Some(v) = body.get(key)
        && !(v.is_null() || v.is_string())
    {
        errs.add(key, "Not a valid string.");
    }
}

/// Validates a customer body: only `allowed` keys, each well typed; `channels` required when
/// `require_channels`.
pub fn customer_body(
    body: &Map<String, Value>,
    allowed: &[&str],
    require_channels: bool,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    for key in body.keys() {
        if !allowed.contains(&key.as_str()) {
            errs.add(key, "Unknown field.");
        }
    }
    for key in ["external_id", "name", "note"] {
        nullable_string(&mut errs, body, key);
    }
    if let Some(v) = body.get("email") {
        match v {
            Value::Null => {}
            Value::String(s) if looks_like_email(s) => {}
            _ => errs.add("email", "Not a valid email address."),
        }
    }
    if let Some(v) = body.get("language") {
        match v {
            Value::Null => {}
            Value::String(s) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase()) => {}
            _ => errs.add("language", "Must be one of the ISO 639-1 language codes."),
        }
    }
    if let Some(v) = body.get("timezone") {
        match v {
            Value::Null => {}
            Value::String(s) if valid_timezone(s) => {}
            _ => errs.add("timezone", "Must be a valid IANA timezone."),
        }
    }
    for key in ["meta", "custom_fields"] {
        if let Some(v) = body.get(key)
            && !(v.is_null() || v.is_object())
        {
            errs.add(key, "Not a valid mapping type.");
        }
    }
    match body.get("channels") {
        None if require_channels => errs.add("channels", MISSING),
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(obj) = item.as_object() else {
                    errs.add_nested("channels", i, "_schema", "Invalid input type.");
                    continue;
                };
                match obj.get("type") {
                    Some(Value::String(t)) if valid_channel_type(t) => {}
                    Some(_) => errs.add_nested("channels", i, "type", "Invalid channel type."),
                    None => errs.add_nested("channels", i, "type", MISSING),
                }
                match obj.get("address") {
                    Some(Value::String(a)) if !a.trim().is_empty() => {}
                    Some(_) => errs.add_nested("channels", i, "address", "Invalid address."),
                    None => errs.add_nested("channels", i, "address", MISSING),
                }
                match obj.get("preferred") {
                    Some(Value::Bool(_)) => {}
                    Some(_) => errs.add_nested("channels", i, "preferred", "Not a valid boolean."),
                    None => errs.add_nested("channels", i, "preferred", MISSING),
                }
                for k in obj.keys() {
                    if !["type", "address", "preferred", "id"].contains(&k.as_str()) {
                        errs.add_nested("channels", i, k, "Unknown field.");
                    }
                }
            }
        }
        Some(_) => errs.add("channels", "Not a valid list."),
    }
    errs
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !s.contains(' '),
        None => false,
    }
}

fn valid_timezone(s: &str) -> bool {
    s == "UTC"
        || (s.contains('/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c)))
}

fn valid_channel_type(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn unknown_keys_and_missing_channels() {
        let e = customer_body(
            &obj(json!({"firstname":"A","name":"A B"})),
            CREATE_KEYS,
            true,
        )
        .into_map();
        assert_eq!(e["firstname"], json!(["Unknown field."]));
        assert_eq!(e["channels"], json!([MISSING]));
        assert!(e.get("name").is_none());
    }

    #[test]
    fn channel_items_need_three_fields() {
        let e = customer_body(
            &obj(json!({"channels":[{"type":"email","address":"a@b.co"}]})),
            CREATE_KEYS,
            true,
        )
        .into_map();
        assert_eq!(e["channels"]["0"]["preferred"], json!([MISSING]));
        let ok = customer_body(
            &obj(
                json!({"channels":[{"type":"email","address":"a@b.co","preferred":true}],"email":"a@b.co","language":"en","timezone":"Europe/Paris"}),
            ),
            CREATE_KEYS,
            true,
        );
        assert!(ok.is_empty());
    }

    #[test]
    fn bad_types() {
        let e = customer_body(
            &obj(json!({"email":"nope","language":"english","timezone":"Mars","name":5})),
            UPDATE_KEYS,
            false,
        )
        .into_map();
        for k in ["email", "language", "timezone", "name"] {
            assert!(e.contains_key(k), "{k}");
        }
        assert!(customer_body(&obj(json!({"note":"x"})), UPDATE_KEYS, false).is_empty());
        assert!(!customer_body(&obj(json!({"note":"x"})), CREATE_KEYS, false).is_empty());
    }
}
