//! Batch operations (contract §4): read by id (100 per call, 50 with history) with merged-id
//! resolution, and create/update/upsert in chunks of 100 whose per-input results are mapped
//! back through `objectWriteTraceId`; a 409 "Existing ID" becomes a link, not a failure.
//! Must never retry a validation error or let one bad input lose the others.

use super::error::{HubspotError, ItemError};
use super::http::Lane;
use super::types::{BatchResponse, Contact};
use super::wire;
use super::{HubspotClient, Result};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// Largest batch HubSpot accepts.
pub const BATCH_MAX: usize = 100;
/// Largest batch read when history is requested.
pub const BATCH_MAX_WITH_HISTORY: usize = 50;

/// What a batch read found for one requested id.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome {
    /// The record, under the requested id.
    Found(Contact),
    /// The requested id was merged away; this is the survivor (another id).
    Merged(Contact),
    /// No such live record.
    NotFound,
}

/// One requested id and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadResult {
    pub requested: String,
    pub outcome: ReadOutcome,
}

/// What happened to one write input.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Created(Contact),
    Updated(Contact),
    /// The e-mail already belongs to this contact (409 `Existing ID`): link, don't create.
    ExistingContact(String),
    /// The id to update does not exist.
    NotFound,
    /// HubSpot rejected this input (validation, duplicate in the batch, ...). Not retried.
    Failed(ItemError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Update,
    Upsert,
}

impl Op {
    fn path(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Upsert => "upsert",
        }
    }
}

/// One input: its matching key (id for update, lower-cased e-mail for create/upsert) and body.
struct Item {
    key: String,
    body: Value,
}

fn failed(category: &str, message: &str) -> WriteOutcome {
    WriteOutcome::Failed(ItemError::new(category, message))
}

fn with_system(properties: &[&str]) -> Vec<String> {
    let mut p: Vec<String> = properties.iter().map(|s| s.to_string()).collect();
    for s in ["email", "hs_additional_emails", "hs_merged_object_ids"] {
        if !p.iter().any(|x| x == s) {
            p.push(s.into());
        }
    }
    p
}

/// Matches requested ids to returned records (pure).
pub fn match_reads(
    requested: &[String],
    found: Vec<Contact>,
    missing: &HashSet<String>,
) -> Vec<ReadResult> {
    let mut used = vec![false; found.len()];
    let mut out: Vec<ReadResult> = requested
        .iter()
        .map(|r| ReadResult {
            requested: r.clone(),
            outcome: ReadOutcome::NotFound,
        })
        .collect();
    for res in out.iter_mut() {
        if let Some((i, c)) = found
            .iter()
            .enumerate()
            .find(|(_, c)| c.id == res.requested)
        {
            res.outcome = ReadOutcome::Found(c.clone());
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
    }
    for res in out
        .iter_mut()
        .filter(|r| r.outcome == ReadOutcome::NotFound)
    {
        if let Some((i, c)) = found
            .iter()
            .enumerate()
            .find(|(_, c)| c.merged_ids.contains(&res.requested))
        {
            res.outcome = ReadOutcome::Merged(c.clone());
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
    }
    // Survivor not listing the old id (UNCONFIRMED content of hs_merged_object_ids): pair a
    // lone unmatched request with a lone unused record if HubSpot did not report it missing.
    let unmatched: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == ReadOutcome::NotFound && !missing.contains(&r.requested))
        .map(|(i, _)| i)
        .collect();
    let unused: Vec<usize> = used
        .iter()
        .enumerate()
        .filter(|(_, u)| !**u)
        .map(|(i, _)| i)
        .collect();
    if let ([r], [f]) = (unmatched.as_slice(), unused.as_slice())
        && let (Some(res), Some(c)) = (out.get_mut(*r), found.get(*f))
    {
        res.outcome = ReadOutcome::Merged(c.clone());
    }
    out
}

impl HubspotClient {
    /// Reads contacts by id, 100 per call. Each requested id gets an outcome (in request
    /// order); a merged-away id yields [`ReadOutcome::Merged`] with the survivor.
    pub async fn batch_read(&self, ids: &[String], properties: &[&str]) -> Result<Vec<ReadResult>> {
        self.batch_read_with_history(ids, properties, &[]).await
    }

    /// As [`HubspotClient::batch_read`], with `propertiesWithHistory` (50 per call).
    pub async fn batch_read_with_history(
        &self,
        ids: &[String],
        properties: &[&str],
        history: &[&str],
    ) -> Result<Vec<ReadResult>> {
        let size = if history.is_empty() {
            BATCH_MAX
        } else {
            BATCH_MAX_WITH_HISTORY
        };
        let mut unique: Vec<String> = vec![];
        let mut seen = HashSet::new();
        for id in ids {
            if seen.insert(id.clone()) {
                unique.push(id.clone());
            }
        }
        let props = with_system(properties);
        let url = self
            .t
            .url(&self.paths().contacts(&["batch", "read"]), &[])?;
        let mut by_id: BTreeMap<String, ReadResult> = BTreeMap::new();
        for chunk in unique.chunks(size) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            let mut body = json!({"inputs": inputs, "properties": props});
            if !history.is_empty()
                && let Some(o) = body.as_object_mut()
            {
                o.insert("propertiesWithHistory".into(), json!(history));
            }
            let a = self
                .t
                .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                .await?;
            let resp = wire::batch("contacts/batch/read", a.body)?;
            let missing: HashSet<String> = resp
                .errors
                .iter()
                .flat_map(|e| e.context.get("ids").cloned().unwrap_or_default())
                .collect();
            let found: Vec<Contact> = resp.results.into_iter().map(Contact::from).collect();
            for r in match_reads(chunk, found, &missing) {
                by_id.insert(r.requested.clone(), r);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    /// Reads contacts by e-mail (`idProperty=email`), 100 per call: not subject to search
    /// index lag. One entry per distinct lower-cased e-mail, `None` when no contact has it.
    pub async fn batch_read_by_email(
        &self,
        emails: &[String],
        properties: &[&str],
    ) -> Result<Vec<(String, Option<Contact>)>> {
        let mut unique: Vec<String> = vec![];
        let mut seen = HashSet::new();
        for e in emails {
            let e = e.trim().to_lowercase();
            if !e.is_empty() && seen.insert(e.clone()) {
                unique.push(e);
            }
        }
        let props = with_system(properties);
        let url = self
            .t
            .url(&self.paths().contacts(&["batch", "read"]), &[])?;
        let mut out = vec![];
        for chunk in unique.chunks(BATCH_MAX) {
            let inputs: Vec<Value> = chunk.iter().map(|e| json!({"id": e})).collect();
            let body = json!({"inputs": inputs, "properties": props, "idProperty": "email"});
            let a = self
                .t
                .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                .await?;
            let resp = wire::batch("contacts/batch/read", a.body)?;
            let found: Vec<Contact> = resp.results.into_iter().map(Contact::from).collect();
            for e in chunk {
                let hit = found.iter().find(|c| c.emails().contains(e)).cloned();
                out.push((e.clone(), hit));
            }
        }
        Ok(out)
    }

    /// Creates contacts, 100 per call. One outcome per input, in input order. An e-mail that
    /// already exists gives [`WriteOutcome::ExistingContact`]; duplicates inside `inputs`
    /// (same lower-cased e-mail) fail after the first.
    pub async fn batch_create(
        &self,
        inputs: &[BTreeMap<String, String>],
    ) -> Result<Vec<WriteOutcome>> {
        let items = inputs
            .iter()
            .map(|p| Item {
                key: p
                    .get("email")
                    .map(|e| e.trim().to_lowercase())
                    .unwrap_or_default(),
                body: json!({"properties": p}),
            })
            .collect();
        self.write(Op::Create, items).await
    }

    /// Updates contacts by id, 100 per call. A merged-away id updates the survivor
    /// ([`WriteOutcome::Updated`] carries the survivor's id).
    pub async fn batch_update(
        &self,
        inputs: &[(String, BTreeMap<String, String>)],
    ) -> Result<Vec<WriteOutcome>> {
        let items = inputs
            .iter()
            .map(|(id, p)| Item {
                key: id.clone(),
                body: json!({"id": id, "properties": p}),
            })
            .collect();
        self.write(Op::Update, items).await
    }

    /// Creates or updates contacts by e-mail, 100 per call. HubSpot does not support partial
    /// upserts by e-mail: pass every property the record should hold.
    pub async fn batch_upsert(
        &self,
        inputs: &[(String, BTreeMap<String, String>)],
    ) -> Result<Vec<WriteOutcome>> {
        let items = inputs
            .iter()
            .map(|(email, p)| Item {
                key: email.trim().to_lowercase(),
                body: json!({"id": email, "idProperty": "email", "properties": p}),
            })
            .collect();
        self.write(Op::Upsert, items).await
    }

    async fn write(&self, op: Op, items: Vec<Item>) -> Result<Vec<WriteOutcome>> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; items.len()];
        let mut pending_all: Vec<usize> = vec![];
        let mut seen = HashSet::new();
        for (i, it) in items.iter().enumerate() {
            if !it.key.is_empty() && !seen.insert(it.key.clone()) {
                outcomes[i] = Some(failed(
                    "DUPLICATE_INPUT",
                    "the same id or e-mail appears earlier in this batch",
                ));
            } else {
                pending_all.push(i);
            }
        }
        let url = self
            .t
            .url(&self.paths().contacts(&["batch", op.path()]), &[])?;
        for chunk in pending_all.chunks(BATCH_MAX) {
            let mut pending: Vec<usize> = chunk.to_vec();
            // Each round either finishes the chunk or removes at least one input.
            for _round in 0..=chunk.len() {
                if pending.is_empty() {
                    break;
                }
                let inputs: Vec<Value> = pending
                    .iter()
                    .filter_map(|i| {
                        let mut b = items.get(*i)?.body.clone();
                        b.as_object_mut()?
                            .insert("objectWriteTraceId".into(), json!(i.to_string()));
                        Some(b)
                    })
                    .collect();
                let body = json!({ "inputs": inputs });
                match self
                    .t
                    .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                    .await
                {
                    Ok(a) => {
                        let resp = wire::batch("contacts/batch", a.body)?;
                        apply_batch_answer(op, &items, &pending, resp, &mut outcomes);
                        pending.clear();
                    }
                    Err(e) if op == Op::Create && e.existing_id().is_some() => {
                        let existing = e.existing_id().unwrap_or_default();
                        let emails = self
                            .get(&existing, &["email", "hs_additional_emails"])
                            .await?
                            .map(|c| c.emails())
                            .unwrap_or_default();
                        let hit: Vec<usize> = pending
                            .iter()
                            .copied()
                            .filter(|i| items.get(*i).is_some_and(|it| emails.contains(&it.key)))
                            .collect();
                        if hit.is_empty() {
                            self.create_singly(&items, &pending, &mut outcomes).await?;
                            pending.clear();
                        } else {
                            for i in &hit {
                                outcomes[*i] =
                                    Some(WriteOutcome::ExistingContact(existing.clone()));
                            }
                            pending.retain(|i| !hit.contains(i));
                        }
                    }
                    Err(e @ HubspotError::Api { .. })
                        if e.status().is_some_and(|s| (400..500).contains(&s)) && !e.is_auth() =>
                    {
                        let err = ItemError::from(&e);
                        for i in &pending {
                            outcomes[*i] = Some(WriteOutcome::Failed(err.clone()));
                        }
                        pending.clear();
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    failed("NO_RESULT", "HubSpot returned no result for this input")
                })
            })
            .collect())
    }

    /// Fallback when a batch 409 cannot be pinned on an input: one create per input.
    async fn create_singly(
        &self,
        items: &[Item],
        pending: &[usize],
        outcomes: &mut [Option<WriteOutcome>],
    ) -> Result<()> {
        let url = self.t.url(&self.paths().contacts(&[]), &[])?;
        for i in pending {
            let Some(it) = items.get(*i) else { continue };
            let o = match self
                .t
                .send(Method::POST, url.clone(), Some(&it.body), Lane::Burst)
                .await
            {
                Ok(a) => WriteOutcome::Created(wire::contact("contacts", a.body)?),
                Err(e) => match e.existing_id() {
                    Some(id) => WriteOutcome::ExistingContact(id),
                    None if matches!(e, HubspotError::Api { .. }) && !e.is_auth() => {
                        WriteOutcome::Failed(ItemError::from(&e))
                    }
                    None => return Err(e),
                },
            };
            if let Some(slot) = outcomes.get_mut(*i) {
                *slot = Some(o);
            }
        }
        Ok(())
    }
}

/// Maps a 200/201/207 batch answer back onto the inputs (pure).
fn apply_batch_answer(
    op: Op,
    items: &[Item],
    pending: &[usize],
    resp: BatchResponse,
    outcomes: &mut [Option<WriteOutcome>],
) {
    let set = |outcomes: &mut [Option<WriteOutcome>], i: usize, o: WriteOutcome| {
        if let Some(slot) = outcomes.get_mut(i) {
            *slot = Some(o);
        }
    };
    for r in resp.results {
        let trace = r
            .object_write_trace_id
            .as_deref()
            .and_then(|t| t.parse::<usize>().ok())
            .filter(|i| pending.contains(i));
        let is_new = r.new;
        let c = Contact::from(r);
        let idx = trace.or_else(|| {
            pending.iter().copied().find(|i| {
                items.get(*i).is_some_and(|it| match op {
                    Op::Update => c.answers_to(&it.key),
                    Op::Create | Op::Upsert => c.emails().contains(&it.key),
                })
            })
        });
        let Some(i) = idx else { continue };
        let o = match (op, is_new) {
            (Op::Create, _) | (Op::Upsert, Some(true)) => WriteOutcome::Created(c),
            _ => WriteOutcome::Updated(c),
        };
        set(outcomes, i, o);
    }
    for e in resp.errors {
        let err = ItemError::from_body(
            &e.category,
            e.message.as_str().into(),
            &json!({ "errors": e.errors }),
        );
        for t in e.context.get("objectWriteTraceId").into_iter().flatten() {
            if let Some(i) = t.parse::<usize>().ok().filter(|i| pending.contains(i)) {
                set(outcomes, i, WriteOutcome::Failed(err.clone()));
            }
        }
        if e.category == "OBJECT_NOT_FOUND" {
            for id in e.context.get("ids").into_iter().flatten() {
                for i in pending {
                    if items.get(*i).is_some_and(|it| &it.key == id) {
                        set(outcomes, *i, WriteOutcome::NotFound);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, merged: &[&str]) -> Contact {
        Contact {
            id: id.into(),
            properties: BTreeMap::new(),
            created_at: None,
            updated_at: None,
            archived: false,
            history: BTreeMap::new(),
            merged_ids: merged.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn reads_match_by_id_then_merged_ids() {
        let req = vec!["1".to_string(), "2".to_string(), "3".to_string()];
        let missing: HashSet<String> = ["3".to_string()].into();
        let out = match_reads(
            &req,
            vec![contact("9", &["2"]), contact("1", &[])],
            &missing,
        );
        assert_eq!(out[0].outcome, ReadOutcome::Found(contact("1", &[])));
        assert_eq!(out[1].outcome, ReadOutcome::Merged(contact("9", &["2"])));
        assert_eq!(out[2].outcome, ReadOutcome::NotFound);
    }

    #[test]
    fn batch_answer_maps_by_trace_id_and_errors() {
        let items: Vec<Item> = (0..3)
            .map(|i| Item {
                key: format!("{i}@x.com"),
                body: json!({}),
            })
            .collect();
        let resp: BatchResponse = serde_json::from_value(json!({
            "results": [
                {"id": "50", "properties": {"email": "2@x.com"}, "objectWriteTraceId": "2"},
                {"id": "51", "properties": {"email": "0@x.com"}}
            ],
            "errors": [{"category": "VALIDATION_ERROR", "message": "bad",
                        "context": {"objectWriteTraceId": ["1"]}}]
        }))
        .unwrap();
        let mut out = vec![None, None, None];
        apply_batch_answer(Op::Create, &items, &[0, 1, 2], resp, &mut out);
        assert!(matches!(&out[0], Some(WriteOutcome::Created(c)) if c.id == "51"));
        assert!(
            matches!(&out[1], Some(WriteOutcome::Failed(e)) if e.category == "VALIDATION_ERROR")
        );
        assert!(matches!(&out[2], Some(WriteOutcome::Created(c)) if c.id == "50"));
    }
}
