//! Reads and writes of one customer: get (full, with channels), partial update, channel list
//! keeping what tether does not manage, create with the "already used" recovery (409 per the
//! docs, 400 as observed), delete, lookup by e-mail. Must never send a field that did not
//! change and never create when the e-mail already exists.

use super::dto::{Channel, Customer, CustomerUpdate, ListPage, NewChannel, NewCustomer};
use super::error::says_already_used;
use super::{GorgiasClient, GorgiasError, Result, fail, wire};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// What `create` ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Customer),
    /// The e-mail was already used: this is the customer that holds it.
    Existing(Customer),
}

impl CreateOutcome {
    pub fn customer(&self) -> &Customer {
        match self {
            CreateOutcome::Created(c) | CreateOutcome::Existing(c) => c,
        }
    }
}

/// The channel list to write: the current channels whose type tether does not manage, kept
/// as they are, followed by the wanted ones. Pure.
pub fn merged_channels(
    current: &[Channel],
    managed_types: &[&str],
    wanted: &[NewChannel],
) -> Vec<NewChannel> {
    current
        .iter()
        .filter(|c| !managed_types.contains(&c.kind.as_str()))
        .map(NewChannel::from)
        .chain(wanted.iter().cloned())
        .collect()
}

fn path(id: i64) -> String {
    format!("/api/customers/{id}")
}

impl GorgiasClient {
    /// The full customer (with channels and integrations). Counted as `get_customer`: the
    /// list has no channels, so call this only when a mapped field needs them.
    pub async fn get(&self, id: i64) -> Result<Customer> {
        let ans = self
            .t
            .send("get_customer", Method::GET, &path(id), &[], None)
            .await?;
        if ans.status != StatusCode::OK {
            return Err(fail("get_customer", Some(id), &ans));
        }
        ans.json("get_customer")
    }

    /// Partial update with only the given fields; `None` when there was nothing to send.
    pub async fn update(&self, id: i64, fields: &CustomerUpdate) -> Result<Option<Customer>> {
        if fields.is_empty() {
            return Ok(None);
        }
        let body =
            serde_json::to_value(fields).map_err(|e| GorgiasError::InvalidInput(e.to_string()))?;
        let ans = self
            .t
            .send("update_customer", Method::PUT, &path(id), &[], Some(&body))
            .await?;
        if !ans.status.is_success() {
            return Err(fail("update_customer", Some(id), &ans));
        }
        ans.json("update_customer").map(Some)
    }

    /// Writes the channels of the `managed_types` (e.g. `["phone"]`) as `wanted`, keeping
    /// every other channel: reads the customer (channels are not in the list), then sends
    /// the whole list (Gorgias replaces it). No write when nothing would change.
    pub async fn set_channels(
        &self,
        id: i64,
        managed_types: &[&str],
        wanted: &[NewChannel],
    ) -> Result<Customer> {
        let current = self.get(id).await?;
        let existing = current.channels.clone().unwrap_or_default();
        let next = merged_channels(&existing, managed_types, wanted);
        let unchanged: Vec<NewChannel> = existing.iter().map(NewChannel::from).collect();
        if next == unchanged {
            return Ok(current);
        }
        let update = CustomerUpdate {
            channels: Some(next),
            ..Default::default()
        };
        match self.update(id, &update).await? {
            Some(c) => Ok(c),
            None => Ok(current),
        }
    }

    /// Creates a customer. An e-mail already used (409, or 400 saying "already") is not an
    /// error: the customer holding it is looked up and returned as `Existing`. Retrying a
    /// create whose first answer was lost therefore never makes a second customer.
    pub async fn create(&self, new: &NewCustomer) -> Result<CreateOutcome> {
        let mut new = new.clone();
        if new.channels.is_empty() {
            match &new.email {
                Some(e) => new.channels.push(NewChannel::email(e, true)),
                None => {
                    return Err(GorgiasError::InvalidInput(
                        "a Gorgias customer needs at least one channel".into(),
                    ));
                }
            }
        }
        let body =
            serde_json::to_value(&new).map_err(|e| GorgiasError::InvalidInput(e.to_string()))?;
        let ans = self
            .t
            .send(
                "create_customer",
                Method::POST,
                "/api/customers",
                &[],
                Some(&body),
            )
            .await?;
        if ans.status.is_success() {
            return ans.json("create_customer").map(CreateOutcome::Created);
        }
        let err = fail("create_customer", None, &ans);
        let already = match &err {
            GorgiasError::Conflict { .. } => true,
            GorgiasError::Validation { msg, fields, .. } => says_already_used(msg, fields),
            _ => false,
        };
        if !already {
            return Err(err);
        }
        let email = new
            .email
            .clone()
            .or_else(|| {
                new.channels
                    .iter()
                    .find(|c| c.kind == "email")
                    .map(|c| c.address.clone())
            })
            .ok_or(GorgiasError::ExistingNotFound)?;
        match self.find_by_email(&email).await? {
            Some(c) => Ok(CreateOutcome::Existing(c)),
            None => Err(GorgiasError::ExistingNotFound),
        }
    }

    /// The customer using this e-mail: by the `email` filter, then by the e-mail channel
    /// filter (the address may be a secondary channel). Compact item (no channels).
    pub async fn find_by_email(&self, email: &str) -> Result<Option<Customer>> {
        let by_email = vec![("email", email.to_owned()), ("limit", "2".to_owned())];
        if let Some(c) = self.first_listed(&by_email).await? {
            return Ok(Some(c));
        }
        let by_channel = vec![
            ("channel_type", "email".to_owned()),
            ("channel_address", email.to_owned()),
            ("limit", "2".to_owned()),
        ];
        self.first_listed(&by_channel).await
    }

    /// One call: the customer holding `email` as an e-mail channel. The primary `email`
    /// mirrors an e-mail channel (contract `gorgias.md` §4.1), so this finds primary and
    /// secondary addresses alike; the rare customer whose primary e-mail has no channel
    /// (UNCONFIRMED) is not found here, and a create of that e-mail is then answered 409,
    /// which [`GorgiasClient::create`] resolves to it ([`Self::find_by_email`], both
    /// filters). For the read's "is this new contact in Gorgias?" question, where the second
    /// filter doubled the calls of every contact that is not.
    pub async fn find_candidate_by_email(&self, email: &str) -> Result<Option<Customer>> {
        let by_channel = vec![
            ("channel_type", "email".to_owned()),
            ("channel_address", email.to_owned()),
            ("limit", "2".to_owned()),
        ];
        self.first_listed(&by_channel).await
    }

    async fn first_listed(&self, query: &[(&str, String)]) -> Result<Option<Customer>> {
        let ans = self
            .t
            .send("find_customer", Method::GET, "/api/customers", query, None)
            .await?;
        if !ans.status.is_success() {
            return Err(fail("find_customer", None, &ans));
        }
        let page: ListPage = ans.json("find_customer")?;
        Ok(page.data.iter().find_map(|v| wire::list_item(v).ok()))
    }

    /// Deletes a customer (204). Idempotent: a customer already gone (404, e.g. a retry whose
    /// first answer was lost) counts as deleted; a merged one (301) is an error.
    pub async fn delete(&self, id: i64) -> Result<()> {
        let ans = self
            .t
            .send("delete_customer", Method::DELETE, &path(id), &[], None)
            .await?;
        if ans.status.is_success() || ans.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(fail("delete_customer", Some(id), &ans))
        }
    }

    /// Deletes several customers in one call (`{"ids":[…]}`, 204).
    pub async fn delete_many(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let body = json!({ "ids": ids });
        let ans = self
            .t
            .send(
                "delete_customers",
                Method::DELETE,
                "/api/customers",
                &[],
                Some(&body),
            )
            .await?;
        if ans.status.is_success() {
            Ok(())
        } else {
            Err(fail("delete_customers", None, &ans))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unmanaged_channels() {
        let current = vec![
            Channel {
                id: Some(1),
                kind: "email".into(),
                address: "a@x.test".into(),
                preferred: true,
            },
            Channel {
                id: Some(2),
                kind: "phone".into(),
                address: "+15550001".into(),
                preferred: true,
            },
            Channel {
                id: Some(3),
                kind: "instagram".into(),
                address: "@a".into(),
                preferred: false,
            },
        ];
        let next = merged_channels(
            &current,
            &["phone"],
            &[NewChannel::phone("+15550002", true)],
        );
        assert_eq!(
            next,
            vec![
                NewChannel::email("a@x.test", true),
                NewChannel {
                    kind: "instagram".into(),
                    address: "@a".into(),
                    preferred: false
                },
                NewChannel::phone("+15550002", true),
            ]
        );
    }
}
