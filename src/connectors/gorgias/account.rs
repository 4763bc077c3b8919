//! Account-level reads: `GET /api/account` (the credential check behind `tether doctor`) and
//! tickets per customer. Must never write.

use super::dto::{Account, ListPage};
use super::{GorgiasClient, Result, fail};
use reqwest::Method;
use serde_json::Value;

/// A ticket as listed (only what tether shows).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketSummary {
    pub id: i64,
    pub status: Option<String>,
    pub subject: Option<String>,
}

impl GorgiasClient {
    /// Checks the credentials and the account: 200 → the account; 401/403 → typed errors.
    pub async fn check_account(&self) -> Result<Account> {
        let ans = self
            .t
            .send("account", Method::GET, "/api/account", &[], None)
            .await?;
        if !ans.status.is_success() {
            return Err(fail("account", None, &ans));
        }
        ans.json("account")
    }

    /// Every ticket of a customer (trashed ones excluded), paging 100 at a time.
    pub async fn tickets_of(&self, customer_id: i64) -> Result<Vec<TicketSummary>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("customer_id", customer_id.to_string()),
                ("trashed", "false".to_owned()),
                ("limit", "100".to_owned()),
                ("order_by", "created_datetime:desc".to_owned()),
            ];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let ans = self
                .t
                .send("list_tickets", Method::GET, "/api/tickets", &query, None)
                .await?;
            if !ans.status.is_success() {
                return Err(fail("list_tickets", None, &ans));
            }
            let page: ListPage = ans.json("list_tickets")?;
            for t in &page.data {
                if let Some(id) = t.get("id").and_then(Value::as_i64) {
                    out.push(TicketSummary {
                        id,
                        status: t.get("status").and_then(Value::as_str).map(str::to_owned),
                        subject: t.get("subject").and_then(Value::as_str).map(str::to_owned),
                    });
                }
            }
            match page.next_cursor() {
                Some(next) if !page.data.is_empty() => cursor = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
