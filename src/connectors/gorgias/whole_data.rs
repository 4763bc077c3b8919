//! `PUT /api/customers/{id}/data` with a whole `data` object computed by the caller (the sync
//! engine plans the complete new object from the record it read), in one call: no
//! read-modify-write. Must never send anything but `data` and its `version`.

use super::dto::format_version;
use super::{GorgiasClient, GorgiasError, Result, fail};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

impl GorgiasClient {
    /// Replaces the customer's whole `data` with `data` (an object), stamped with `version`
    /// so that a late retry of an older write never overwrites a newer one. Gorgias answers
    /// 202 and applies it asynchronously.
    pub async fn put_data(&self, id: i64, data: &Value, version: DateTime<Utc>) -> Result<()> {
        if !data.is_object() {
            return Err(GorgiasError::DataNotObject { id });
        }
        let body = json!({ "data": data, "version": format_version(version) });
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
            Ok(())
        } else {
            Err(fail("put_customer_data", Some(id), &ans))
        }
    }
}
