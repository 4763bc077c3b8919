//! Sending the HubSpot writes of the outbox: batch updates and creates (100 a call), a
//! 409 "Existing ID" resolved to a link, and resuming creates by e-mail lookup.
//! Must never send a write that is not in the outbox first.

use super::*;

pub(super) async fn set_bases_follow_up(
    ctx: &Cycle,
    h: &HubspotId,
    p: &Payload,
) -> Result<Vec<FollowUp>, CycleError> {
    Ok(match ctx.store.link_by_hubspot(h).await? {
        Some(l) => vec![FollowUp::SetBases {
            link: l.id,
            bases: json_bases(bases_of(p)),
        }],
        None => vec![],
    })
}

pub(super) async fn hubspot_updates(ctx: &Cycle, chunk: &[Item]) -> Result<Applied, CycleError> {
    let inputs: Vec<(String, BTreeMap<String, String>)> = chunk
        .iter()
        .filter_map(|it| match &it.payload {
            Payload::HubspotUpdate { id, properties, .. } => {
                Some((id.as_str().to_owned(), properties.clone()))
            }
            _ => None,
        })
        .collect();
    let mut applied = Applied::default();
    let outcomes = match ctx.hubspot.batch_update(&inputs).await {
        Ok(o) => o,
        Err(e) => return hubspot_call_failed(ctx, chunk, &e).await,
    };
    let mut confirmed = Vec::with_capacity(chunk.len());
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotUpdate { id, .. } = &it.payload else {
            continue;
        };
        match outcome {
            WriteOutcome::Updated(c) | WriteOutcome::Created(c) => {
                let f = set_bases_follow_up(ctx, id, &it.payload).await?;
                confirmed.push(Success::new(it, json!({"id": c.id}), f));
            }
            WriteOutcome::NotFound => {
                applied.add(failed(ctx, it, "the contact no longer exists").await?)
            }
            WriteOutcome::Failed(e) => {
                applied.add(failed_as(ctx, it, failure::hubspot_item(&e)).await?)
            }
            WriteOutcome::ExistingContact(other) => applied
                .add(failed(ctx, it, &format!("the e-mail belongs to contact {other}")).await?),
        }
    }
    applied.add(complete(ctx, confirmed).await?);
    Ok(applied)
}

/// The link follow-up of a create: bases when tether made the record, none when the record
/// already existed (its values are unknown: the next cycle diffs it against an empty base).
pub(super) fn create_link(
    hubspot: HubspotId,
    gorgias: GorgiasId,
    p: &Payload,
    created: bool,
) -> Vec<FollowUp> {
    vec![FollowUp::CreateLink {
        hubspot,
        gorgias,
        bases: if created {
            json_bases(bases_of(p))
        } else {
            BTreeMap::new()
        },
    }]
}

/// What became of a create HubSpot answered with an existing contact.
enum Existing<'i> {
    /// Confirmed: to be marked done (and linked) with the rest of the batch.
    Confirmed(Success<'i>),
    /// Given up already (unusable id, contact linked to another customer).
    GivenUp(Applied),
}

async fn link_existing_hubspot<'i>(
    ctx: &Cycle,
    it: &'i Item,
    from: GorgiasId,
    existing: &str,
) -> Result<Existing<'i>, CycleError> {
    let Ok(h) = HubspotId::new(existing) else {
        let why = format!("HubSpot named an unusable id {existing:?}");
        return Ok(Existing::GivenUp(failed(ctx, it, &why).await?));
    };
    let result = json!({"id": existing, "existing": true});
    if let Some(l) = ctx.store.link_by_hubspot(&h).await? {
        if l.gorgias == from {
            return Ok(Existing::Confirmed(Success::new(it, result, vec![])));
        }
        let why =
            format!("the e-mail belongs to contact {existing}, already linked to another customer");
        return Ok(Existing::GivenUp(failed(ctx, it, &why).await?));
    }
    let f = create_link(h, from, &it.payload, false);
    let mut s = Success::new(it, result, f);
    s.extra.resolved_existing = 1;
    Ok(Existing::Confirmed(s))
}

pub(super) async fn hubspot_creates(ctx: &Cycle, chunk: &[Item]) -> Result<Applied, CycleError> {
    let inputs: Vec<BTreeMap<String, String>> = chunk
        .iter()
        .filter_map(|it| match &it.payload {
            Payload::HubspotCreate { properties, .. } => Some(properties.clone()),
            _ => None,
        })
        .collect();
    let mut applied = Applied::default();
    let outcomes = match ctx.hubspot.batch_create(&inputs).await {
        Ok(o) => o,
        Err(e) => return hubspot_call_failed(ctx, chunk, &e).await,
    };
    let mut confirmed = Vec::with_capacity(chunk.len());
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotCreate { from_gorgias, .. } = &it.payload else {
            continue;
        };
        match outcome {
            WriteOutcome::Created(c) | WriteOutcome::Updated(c) => {
                match HubspotId::new(c.id.clone()) {
                    Ok(h) => {
                        let f = create_link(h, *from_gorgias, &it.payload, true);
                        let mut s = Success::new(it, json!({"id": c.id}), f);
                        if let Ok(r) = super::super::read::hubspot_record(&c) {
                            s.extra.created_hubspot.push(r);
                        }
                        confirmed.push(s);
                    }
                    Err(_) => {
                        applied.add(failed(ctx, it, "HubSpot answered an unusable id").await?)
                    }
                }
            }
            WriteOutcome::ExistingContact(id) => {
                match link_existing_hubspot(ctx, it, *from_gorgias, &id).await? {
                    Existing::Confirmed(s) => confirmed.push(s),
                    Existing::GivenUp(a) => applied.add(a),
                }
            }
            WriteOutcome::NotFound => applied.add(failed(ctx, it, "not found").await?),
            WriteOutcome::Failed(e) => {
                applied.add(failed_as(ctx, it, failure::hubspot_item(&e)).await?)
            }
        }
    }
    applied.add(complete(ctx, confirmed).await?);
    Ok(applied)
}

/// Resuming: creates whose e-mail already has a contact are linked to it, not sent again.
pub(super) async fn hubspot_lookup_creates(
    ctx: &Cycle,
    items: Vec<Item>,
) -> Result<(Vec<Item>, Applied), CycleError> {
    let email_of = |it: &Item| match &it.payload {
        Payload::HubspotCreate { properties, .. } => properties
            .get("email")
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()),
        _ => None,
    };
    let emails: Vec<String> = items.iter().filter_map(email_of).collect();
    let mut applied = Applied::default();
    if emails.is_empty() {
        return Ok((items, applied));
    }
    let found: BTreeMap<String, String> = ctx
        .hubspot
        .batch_read_by_email(&emails, &["email"])
        .await?
        .into_iter()
        .filter_map(|(e, c)| c.map(|c| (e, c.id)))
        .collect();
    let (hits, rest): (Vec<Item>, Vec<Item>) = items
        .into_iter()
        .partition(|it| email_of(it).is_some_and(|e| found.contains_key(&e)));
    let mut confirmed = Vec::with_capacity(hits.len());
    for it in &hits {
        let (Some(id), Payload::HubspotCreate { from_gorgias, .. }) = (
            email_of(it).and_then(|e| found.get(&e).cloned()),
            &it.payload,
        ) else {
            continue;
        };
        match link_existing_hubspot(ctx, it, *from_gorgias, &id).await? {
            Existing::Confirmed(s) => confirmed.push(s),
            Existing::GivenUp(a) => applied.add(a),
        }
    }
    applied.add(complete(ctx, confirmed).await?);
    Ok((rest, applied))
}
