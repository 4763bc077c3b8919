//! Sending the Gorgias writes of the outbox (one call per customer) and converting their
//! payload fields into the connector's update and create bodies.
//! Must never send a write that is not in the outbox first.

use super::*;

fn opt_text(key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(format!("`{key}` must be text")),
    }
}

fn channels(v: &Value) -> Result<Vec<NewChannel>, String> {
    let arr = v.as_array().ok_or("`channels` must be a list")?;
    arr.iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
            Ok(NewChannel {
                kind: s("type").ok_or("a channel needs a type")?,
                address: s("address").ok_or("a channel needs an address")?,
                preferred: c.get("preferred").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// The planned top-level fields as a partial update. Pure.
pub fn customer_update(fields: &Map<String, Value>) -> Result<CustomerUpdate, String> {
    let mut u = CustomerUpdate::default();
    for (k, v) in fields {
        match k.as_str() {
            "email" => u.email = Some(opt_text(k, v)?),
            "name" => u.name = Some(opt_text(k, v)?),
            "external_id" => u.external_id = Some(opt_text(k, v)?),
            "language" => u.language = Some(opt_text(k, v)?),
            "timezone" => u.timezone = Some(opt_text(k, v)?),
            "note" => u.note = Some(opt_text(k, v)?),
            "channels" => u.channels = Some(channels(v)?),
            other => {
                return Err(format!(
                    "Gorgias customers have no writable field `{other}`"
                ));
            }
        }
    }
    Ok(u)
}

/// The planned create body as a new customer (keys outside the create schema are left for
/// the next cycle's update). Pure.
pub fn new_customer(fields: &Map<String, Value>) -> Result<NewCustomer, String> {
    let mut c = NewCustomer::default();
    for (k, v) in fields {
        match k.as_str() {
            "email" => c.email = opt_text(k, v)?,
            "name" => c.name = opt_text(k, v)?,
            "external_id" => c.external_id = opt_text(k, v)?,
            "language" => c.language = opt_text(k, v)?,
            "timezone" => c.timezone = opt_text(k, v)?,
            "channels" => c.channels = channels(v)?,
            other => tracing::debug!(field = other, "left for the next cycle's update"),
        }
    }
    Ok(c)
}

/// What to do with a Gorgias error: give up (the system refused) or retry later.
fn gorgias_permanent(e: &GorgiasError) -> bool {
    matches!(
        e,
        GorgiasError::NotFound { .. }
            | GorgiasError::Merged { .. }
            | GorgiasError::Validation { .. }
            | GorgiasError::Conflict { .. }
            | GorgiasError::DataNotObject { .. }
            | GorgiasError::InvalidInput(_)
            | GorgiasError::ExistingNotFound
    )
}

async fn gorgias_error(ctx: &Cycle, it: &Item, e: GorgiasError) -> Result<Applied, CycleError> {
    let f = failure::gorgias(&e);
    if gorgias_permanent(&e) || f.class == FailureClass::Setup {
        failed_as(ctx, it, f).await
    } else {
        retry_later(ctx, it, &e.to_string()).await
    }
}

pub(super) async fn gorgias_write(
    ctx: &Cycle,
    it: &Item,
    lookup_first: bool,
) -> Result<Applied, CycleError> {
    match &it.payload {
        Payload::GorgiasUpdate {
            id,
            hubspot_id,
            fields,
            data,
            ..
        } => {
            let upd = match customer_update(fields) {
                Ok(u) => u,
                Err(why) => return failed(ctx, it, &why).await,
            };
            // `data` first: the partial PUT's answer is then the customer after both, and
            // recognises the echo of this write in the next feed (`crate::cycle::echo`).
            if let Some(d) = data
                && let Err(e) = ctx.gorgias.put_data(id.get(), d, Utc::now()).await
            {
                return gorgias_error(ctx, it, e).await;
            }
            let answer = match ctx.gorgias.update(id.get(), &upd).await {
                Ok(a) => a,
                Err(e) => return gorgias_error(ctx, it, e).await,
            };
            let result = crate::cycle::echo::update_result(
                ctx,
                *id,
                hubspot_id,
                bases_of(&it.payload),
                answer.as_ref(),
            )
            .await?;
            let f = set_bases_follow_up(ctx, hubspot_id, &it.payload).await?;
            done(ctx, it, result, f).await
        }
        Payload::GorgiasCreate {
            from_hubspot,
            fields,
            data,
            ..
        } => {
            let new = match new_customer(fields) {
                Ok(c) => c,
                Err(why) => return failed(ctx, it, &why).await,
            };
            let email = new.email.clone().or_else(|| {
                new.channels
                    .iter()
                    .find(|c| c.kind == "email")
                    .map(|c| c.address.clone())
            });
            let outcome = match (lookup_first, &email) {
                (true, Some(e)) => match ctx.gorgias.find_by_email(e).await {
                    Ok(Some(c)) => Ok(CreateOutcome::Existing(c)),
                    Ok(None) => ctx.gorgias.create(&new).await,
                    Err(e) => Err(e),
                },
                _ => ctx.gorgias.create(&new).await,
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return gorgias_error(ctx, it, e).await,
            };
            let (customer, mut created) = match outcome {
                CreateOutcome::Created(c) => (c, true),
                CreateOutcome::Existing(c) => (c, false),
            };
            let Ok(gid) = GorgiasId::new(customer.id) else {
                return failed(ctx, it, "Gorgias answered an unusable id").await;
            };
            if !created {
                if let Some(l) = ctx.store.link_by_gorgias(gid).await? {
                    if &l.hubspot == from_hubspot {
                        return done(ctx, it, json!({"id": gid, "existing": true}), vec![]).await;
                    }
                    return failed(
                        ctx,
                        it,
                        &format!("the e-mail belongs to customer {gid}, already linked to another contact"),
                    )
                    .await;
                }
            }
            if created
                && let Some(d) = data
                && let Err(e) = ctx.gorgias.put_data(gid.get(), d, Utc::now()).await
            {
                // The customer exists: link it anyway, with no bases, so the next cycle
                // fills what is missing instead of creating it again.
                tracing::warn!(error = %e, "data of a new customer not written; the next cycle retries");
                created = false;
            }
            let f = create_link(from_hubspot.clone(), gid, &it.payload, created);
            let mut a = done(ctx, it, json!({"id": gid, "existing": !created}), f).await?;
            if !created {
                a.resolved_existing += a.done;
            } else if a.done > 0 {
                let mut c = customer;
                if let Some(d) = data {
                    c.data = d.clone();
                }
                if let Ok(r) = super::super::read::gorgias_record(&c) {
                    a.created_gorgias.push(r);
                }
            }
            Ok(a)
        }
        _ => Ok(Applied::default()),
    }
}
