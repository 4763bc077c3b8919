//! `data` subtree writes: read the customer, replace only tether's own key of `data` (other
//! integrations' keys survive), send the whole object with a `version` so a late retry of an
//! older write can never overwrite a newer one. Must never write when nothing changed and
//! never replace a `data` that is not an object.

use super::dto::format_version;
use super::{GorgiasClient, GorgiasError, Result, fail};
use chrono::Utc;
use reqwest::Method;
use serde_json::{Map, Value, json};

/// What [`GorgiasClient::update_data_subtree`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtreeWrite {
    Written,
    Unchanged,
}

/// `data` with `key` set to `value`, others untouched; `None` when `data` is neither null
/// nor an object. Pure.
pub fn with_subtree(data: &Value, key: &str, value: Value) -> Option<Value> {
    let mut obj = match data {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        _ => return None,
    };
    obj.insert(key.to_owned(), value);
    Some(Value::Object(obj))
}

impl GorgiasClient {
    /// Replaces `data[key]` with `value` by read-modify-write. The write is accepted
    /// asynchronously (202): a read right after may still show the old `data`.
    pub async fn update_data_subtree(
        &self,
        id: i64,
        key: &str,
        value: Value,
    ) -> Result<SubtreeWrite> {
        let current = self.get(id).await?;
        if current.data.get(key) == Some(&value) {
            return Ok(SubtreeWrite::Unchanged);
        }
        let data =
            with_subtree(&current.data, key, value).ok_or(GorgiasError::DataNotObject { id })?;
        // One version for every attempt of this write: a retry carries the same date.
        let body = json!({ "data": data, "version": format_version(Utc::now()) });
        let ans = self
            .t
            .send(
                "put_customer_data",
                Method::PUT,
                &format!("/api/customers/{id}/data"),
                &[],
                Some(&body),
            )
            .await?;
        if ans.status.is_success() {
            Ok(SubtreeWrite::Written)
        } else {
            Err(fail("put_customer_data", Some(id), &ans))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_key() {
        let data = json!({"shopify": {"orders": 3}, "tether": {"old": true}});
        let next = with_subtree(&data, "tether", json!({"lifecycle": "customer"})).unwrap();
        assert_eq!(
            next,
            json!({"shopify": {"orders": 3}, "tether": {"lifecycle": "customer"}})
        );
        assert_eq!(
            with_subtree(&Value::Null, "tether", json!(1)).unwrap(),
            json!({"tether": 1})
        );
        assert!(with_subtree(&json!([1]), "tether", json!(1)).is_none());
    }
}
