//! The card's HubSpot context ([`CrmCache`]): per contact, reused for the cache period;
//! concurrent requests for one contact wait for one read; and the misses of a short window
//! ([`BATCH_WINDOW`]) are read together, so a burst of cards for many contacts costs one
//! contacts batch read, one associations read per type, one companies and one deals batch
//! read (100 ids per call), plus each owner not cached yet.
//!
//! Owns the cache and the read; calls HubSpot only through `connectors::hubspot`. Must never
//! hold a slot's lock across anything but that contact's own read.

use crate::connectors::hubspot::{
    Associated, Contact, HubspotClient, HubspotError, PRIMARY_COMPANY_TYPE_ID, ReadOutcome,
};
use crate::sidebar::CrmContext;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the first miss waits for others to share its read.
pub const BATCH_WINDOW: Duration = Duration::from_millis(25);
/// Cache entries kept before unused ones are swept.
const SWEEP_AT: usize = 10_000;

/// Contact properties the card reads.
pub const CONTACT_PROPERTIES: &[&str] = &[
    "firstname",
    "lastname",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "createdate",
];
const COMPANY_PROPERTIES: &[&str] = &["name", "domain"];
const DEAL_PROPERTIES: &[&str] = &[
    "dealname",
    "dealstage",
    "amount",
    "closedate",
    "hs_is_closed",
];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Ok(None)` for a 403 (the token lacks the scope for this part), with a warning.
fn optional<T>(r: Result<T, HubspotError>, part: &str) -> Result<Option<T>, String> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(403) => {
            tracing::warn!(
                part,
                category = e.category(),
                "card: HubSpot refused this part; left off the card"
            );
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Option<CrmContext>)>>>;
type OwnerSlot = Arc<tokio::sync::Mutex<Option<(Instant, Option<String>)>>>;
type Answer = Result<Option<CrmContext>, String>;
type Pending = Arc<Mutex<Vec<(String, oneshot::Sender<Answer>)>>>;

fn slot_of<T: Default>(map: &Mutex<HashMap<String, Arc<T>>>, key: &str) -> Arc<T> {
    let mut m = lock(map);
    if m.len() >= SWEEP_AT {
        // Drop entries nobody holds; they are read again on demand.
        m.retain(|_, s| Arc::strong_count(s) > 1);
    }
    m.entry(key.to_owned()).or_default().clone()
}

/// HubSpot context per contact; see the module comment.
pub struct CrmCache {
    reader: Arc<Reader>,
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    pending: Pending,
}

struct Reader {
    hubspot: HubspotClient,
    ttl: Duration,
    owners: Mutex<HashMap<String, OwnerSlot>>,
}

impl CrmCache {
    pub fn new(hubspot: HubspotClient, ttl: Duration) -> Self {
        Self {
            reader: Arc::new(Reader {
                hubspot,
                ttl,
                owners: Mutex::new(HashMap::new()),
            }),
            ttl,
            slots: Mutex::new(HashMap::new()),
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The context of contact `id` and whether it came from the cache.
    pub async fn get(&self, id: &str) -> Result<(Option<CrmContext>, bool), String> {
        let slot = slot_of(&self.slots, id);
        let mut held = slot.lock().await;
        if let Some((at, ctx)) = held.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok((ctx.clone(), true));
        }
        let ctx = self.fetch(id).await?;
        *held = Some((Instant::now(), ctx.clone()));
        Ok((ctx, false))
    }

    /// Joins the current batch (or starts one, read after [`BATCH_WINDOW`] in its own task,
    /// so a caller that gives up does not abandon the others).
    async fn fetch(&self, id: &str) -> Answer {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut p = lock(&self.pending);
            p.push((id.to_owned(), tx));
            p.len() == 1
        };
        if lead {
            let (pending, reader) = (self.pending.clone(), self.reader.clone());
            tokio::spawn(async move {
                tokio::time::sleep(BATCH_WINDOW).await;
                let batch = std::mem::take(&mut *lock(&pending));
                let ids: Vec<String> = batch.iter().map(|(i, _)| i.clone()).collect();
                let result = reader.read_many(&ids).await;
                for (id, tx) in batch {
                    let answer = match &result {
                        Ok(found) => Ok(found.get(&id).cloned().flatten()),
                        Err(e) => Err(e.clone()),
                    };
                    let _ = tx.send(answer);
                }
            });
        }
        rx.await
            .map_err(|_| "the HubSpot read was abandoned".to_owned())?
    }
}

impl Reader {
    async fn owner_name(&self, owner_id: &str) -> Result<Option<String>, HubspotError> {
        let slot = slot_of(&self.owners, owner_id);
        let mut held = slot.lock().await;
        if let Some((at, name)) = held.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(name.clone());
        }
        let name = self
            .hubspot
            .owner(owner_id)
            .await?
            .map(|o| o.display_name());
        *held = Some((Instant::now(), name.clone()));
        Ok(name)
    }

    /// The context of each requested id (`None` when HubSpot has no such contact).
    async fn read_many(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Option<CrmContext>>, String> {
        let reads = self
            .hubspot
            .batch_read(ids, CONTACT_PROPERTIES)
            .await
            .map_err(|e| e.to_string())?;
        let mut contact_of: HashMap<String, Contact> = HashMap::new();
        for r in reads {
            if let ReadOutcome::Found(c) | ReadOutcome::Merged(c) = r.outcome {
                contact_of.insert(r.requested, c);
            }
        }
        let live: Vec<String> = contact_of
            .values()
            .map(|c| c.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (companies, deals) = if live.is_empty() {
            (HashMap::new(), HashMap::new())
        } else {
            let companies = optional(self.primary_companies(&live).await, "companies")?;
            let deals = optional(self.deals(&live).await, "deals")?;
            (companies.unwrap_or_default(), deals.unwrap_or_default())
        };
        let mut owners: HashMap<String, Option<String>> = HashMap::new();
        for c in contact_of.values() {
            if let Some(o) = c.prop("hubspot_owner_id")
                && !owners.contains_key(o)
            {
                let name = optional(self.owner_name(o).await, "owner")?.flatten();
                owners.insert(o.to_owned(), name);
            }
        }
        Ok(ids
            .iter()
            .map(|asked| {
                let ctx = contact_of.get(asked).map(|c| {
                    let company = companies.get(&c.id);
                    CrmContext {
                        contact_id: c.id.clone(),
                        properties: c.properties.clone(),
                        owner_name: c
                            .prop("hubspot_owner_id")
                            .and_then(|o| owners.get(o).cloned().flatten()),
                        company_name: company.and_then(|x| x.prop("name")).map(str::to_owned),
                        company_domain: company.and_then(|x| x.prop("domain")).map(str::to_owned),
                        deals: deals.get(&c.id).cloned().unwrap_or_default(),
                    }
                });
                (asked.clone(), ctx)
            })
            .collect())
    }

    /// Each contact's primary company (association type 1, else the first).
    async fn primary_companies(
        &self,
        contacts: &[String],
    ) -> Result<HashMap<String, Contact>, HubspotError> {
        let assoc = self.hubspot.associations(contacts, "companies").await?;
        let primary: BTreeMap<String, String> = assoc
            .iter()
            .filter_map(|(contact, list)| {
                let pick: Option<&Associated> = list
                    .iter()
                    .find(|a| a.type_ids.contains(&PRIMARY_COMPANY_TYPE_ID))
                    .or(list.first());
                pick.map(|a| (contact.clone(), a.id.clone()))
            })
            .collect();
        let ids: Vec<String> = primary
            .values()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found: HashMap<String, Contact> = self
            .hubspot
            .read_objects("companies", &ids, COMPANY_PROPERTIES)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        Ok(primary
            .into_iter()
            .filter_map(|(contact, company)| found.get(&company).map(|c| (contact, c.clone())))
            .collect())
    }

    /// Each contact's deals (properties), open or not.
    async fn deals(
        &self,
        contacts: &[String],
    ) -> Result<HashMap<String, Vec<BTreeMap<String, String>>>, HubspotError> {
        let assoc = self.hubspot.associations(contacts, "deals").await?;
        let ids: Vec<String> = assoc
            .values()
            .flatten()
            .map(|a| a.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found: HashMap<String, BTreeMap<String, String>> = self
            .hubspot
            .read_objects("deals", &ids, DEAL_PROPERTIES)
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d.properties))
            .collect();
        Ok(assoc
            .into_iter()
            .map(|(contact, list)| {
                let props = list
                    .iter()
                    .filter_map(|a| found.get(&a.id).cloned())
                    .collect();
                (contact, props)
            })
            .collect())
    }
}
