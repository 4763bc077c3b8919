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
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotUpdate { id, .. } = &it.payload else {
            continue;
        };
        let a = match outcome {
            WriteOutcome::Updated(c) | WriteOutcome::Created(c) => {
                let f = set_bases_follow_up(ctx, id, &it.payload).await?;
                done(ctx, it, json!({"id": c.id}), f).await?
            }
            WriteOutcome::NotFound => failed(ctx, it, "the contact no longer exists").await?,
            WriteOutcome::Failed(e) => failed_as(ctx, it, failure::hubspot_item(&e)).await?,
            WriteOutcome::ExistingContact(other) => {
                failed(ctx, it, &format!("the e-mail belongs to contact {other}")).await?
            }
        };
        applied.add(a);
    }
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

async fn link_existing_hubspot(
    ctx: &Cycle,
    it: &Item,
    from: GorgiasId,
    existing: &str,
) -> Result<Applied, CycleError> {
    let Ok(h) = HubspotId::new(existing) else {
        return failed(
            ctx,
            it,
            &format!("HubSpot named an unusable id {existing:?}"),
        )
        .await;
    };
    if let Some(l) = ctx.store.link_by_hubspot(&h).await? {
        if l.gorgias == from {
            return done(ctx, it, json!({"id": existing, "existing": true}), vec![]).await;
        }
        return failed(
            ctx,
            it,
            &format!(
                "the e-mail belongs to contact {existing}, already linked to another customer"
            ),
        )
        .await;
    }
    let f = create_link(h, from, &it.payload, false);
    let mut a = done(ctx, it, json!({"id": existing, "existing": true}), f).await?;
    a.resolved_existing += a.done;
    Ok(a)
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
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotCreate { from_gorgias, .. } = &it.payload else {
            continue;
        };
        let a = match outcome {
            WriteOutcome::Created(c) | WriteOutcome::Updated(c) => {
                match HubspotId::new(c.id.clone()) {
                    Ok(h) => {
                        let f = create_link(h, *from_gorgias, &it.payload, true);
                        let mut a = done(ctx, it, json!({"id": c.id}), f).await?;
                        if a.done > 0
                            && let Ok(r) = super::super::read::hubspot_record(&c)
                        {
                            a.created_hubspot.push(r);
                        }
                        a
                    }
                    Err(_) => failed(ctx, it, "HubSpot answered an unusable id").await?,
                }
            }
            WriteOutcome::ExistingContact(id) => {
                link_existing_hubspot(ctx, it, *from_gorgias, &id).await?
            }
            WriteOutcome::NotFound => failed(ctx, it, "not found").await?,
            WriteOutcome::Failed(e) => failed_as(ctx, it, failure::hubspot_item(&e)).await?,
        };
        applied.add(a);
    }
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
    let mut rest = vec![];
    for it in items {
        let hit = email_of(&it).and_then(|e| found.get(&e).cloned());
        match (hit, &it.payload) {
            (Some(id), Payload::HubspotCreate { from_gorgias, .. }) => {
                applied.add(link_existing_hubspot(ctx, &it, *from_gorgias, &id).await?);
            }
            _ => rest.push(it),
        }
    }
    Ok((rest, applied))
}
