//! Customer merge: `PUT /api/customers/merge?source_id=&target_id=` (ids in the query), a
//! non-empty body, the integration-data conflict as a typed error. Must never send an empty
//! body (the API refuses it).

use super::dto::{Customer, CustomerUpdate};
use super::{GorgiasClient, GorgiasError, Result, fail};
use reqwest::Method;

impl GorgiasClient {
    /// Merges `source` into `target` (the source is deleted) and returns the target. `body`
    /// holds the target's fields after the merge and must not be empty. Safe to retry: a
    /// source already merged into this target (301) counts as done.
    pub async fn merge(&self, source: i64, target: i64, body: &CustomerUpdate) -> Result<Customer> {
        if body.is_empty() {
            return Err(GorgiasError::InvalidInput(
                "a Gorgias merge needs at least one field in the body (e.g. the target's name)"
                    .into(),
            ));
        }
        if source == target {
            return Err(GorgiasError::InvalidInput(
                "cannot merge a customer into itself".into(),
            ));
        }
        let json =
            serde_json::to_value(body).map_err(|e| GorgiasError::InvalidInput(e.to_string()))?;
        let query = [
            ("source_id", source.to_string()),
            ("target_id", target.to_string()),
        ];
        let ans = self
            .t
            .send(
                "merge_customers",
                Method::PUT,
                "/api/customers/merge",
                &query,
                Some(&json),
            )
            .await?;
        if ans.status.is_success() {
            return ans.json("merge_customers");
        }
        match fail("merge_customers", Some(source), &ans) {
            // A retry after a lost answer finds the source already merged into the target:
            // the merge happened, so read the target.
            GorgiasError::Merged { into, .. } if into.is_none_or(|t| t == target) => {
                self.get(target).await
            }
            GorgiasError::Conflict { msg, .. } => Err(GorgiasError::MergeConflict {
                source_id: source,
                target_id: target,
                msg,
            }),
            GorgiasError::Validation { msg, .. }
                if msg.raw().to_ascii_lowercase().contains("integration") =>
            {
                Err(GorgiasError::MergeConflict {
                    source_id: source,
                    target_id: target,
                    msg,
                })
            }
            other => Err(other),
        }
    }
}
