//! `tether demo`, the part a person plays: the demo's mappings hold `company` for a person
//! (`conflict = "manual"`); both sides change it on one pair, and a HubSpot portal rule
//! (every new contact needs a company) refuses the create of one new Gorgias customer. Step 4
//! then shows `tether inbox`, resolves the conflict as `tether conflicts resolve` does, lifts
//! the rule, and one sync applies the resolution and heals the refused write.
//!
//! Owns those demo steps only. Must never fake an outcome: everything printed is read back
//! from the store and the sandboxes.

use super::demo::Sandboxes;
use crate::cycle::Cycle;
use crate::domain::{GorgiasId, RecordRef, System};
use crate::mappings::{self, MappingSet};
use crate::report::inbox;
use crate::sandbox::hubspot::PortalRules;
use crate::store::{ConflictChoice, StateStore, UnsettledFilter};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The field the demo's mappings hold for a person (`conflict = "manual"`).
pub const MANUAL_FIELD: &str = "company";

/// The demo's mappings: the built-in defaults with [`MANUAL_FIELD`] under the `manual`
/// policy, so that the demo shows a held conflict and its resolution.
pub fn demo_mappings() -> anyhow::Result<MappingSet> {
    let mut m = super::demo::default_mappings()?;
    let f = m
        .fields
        .iter_mut()
        .find(|f| f.name == MANUAL_FIELD)
        .ok_or_else(|| anyhow::anyhow!("the default mappings have no `{MANUAL_FIELD}` field"))?;
    f.conflict = mappings::ConflictPolicy::Manual;
    Ok(m)
}

/// Both sides of a linked pair change the company, differently.
pub fn edit_company_on_both_sides(sb: &Sandboxes, l: &crate::store::Link) -> anyhow::Result<()> {
    sb.hubspot
        .edit_as_person(
            l.hubspot.as_str(),
            BTreeMap::from([("company".to_string(), "Oak & Sons Ltd".to_string())]),
        )
        .map_err(anyhow::Error::msg)?;
    // Gorgias replaces `data` as a whole: keep what the sync wrote there.
    let mut data = sb
        .gorgias
        .customer(l.gorgias.get())
        .and_then(|c| c.get("data").cloned())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    data["tether"] = match data.get("tether") {
        Some(t) if t.is_object() => t.clone(),
        _ => json!({}),
    };
    data["tether"]["company"] = json!("Oak and Sons");
    sb.gorgias
        .edit_as_agent(l.gorgias.get(), json!({ "data": data }));
    println!(
        "  HubSpot {} and Gorgias {}: both changed the company, differently (`{MANUAL_FIELD}` is `manual`: held for a person)",
        l.hubspot, l.gorgias
    );
    Ok(())
}

/// A HubSpot admin adds a portal rule (new contacts need a company) and a new Gorgias
/// customer without one arrives: its HubSpot create will be refused. Returns its id.
pub fn refuse_a_create(sb: &Sandboxes) -> anyhow::Result<GorgiasId> {
    sb.hubspot.set_portal_rules(PortalRules {
        create_required: vec![MANUAL_FIELD.to_owned()],
        ..PortalRules::default()
    });
    let id = sb
        .gorgias
        .seed_customers(vec![json!({
            "name": "Pat Rivers",
            "email": "pat.rivers@newcomer.test",
            "channels": [{"type": "email", "address": "pat.rivers@newcomer.test", "preferred": true}],
        })])
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the Gorgias sandbox created no customer"))?;
    println!(
        "  HubSpot: an admin adds a portal rule, every new contact needs a company; Gorgias {id}: a new customer without one"
    );
    Ok(GorgiasId::new(id)?)
}

/// Step 4: the inbox, the conflict resolved, the portal rule lifted, one sync.
pub async fn work_through(
    sb: &Sandboxes,
    cycle: &Cycle,
    store: &dyn StateStore,
    newcomer: GorgiasId,
) -> anyhow::Result<()> {
    let unsettled = store.unsettled(UnsettledFilter::Open).await?;
    let conflicts = store.conflicts(false).await?;
    let quarantine = store.quarantine_list().await?;
    let proposals = store.pending_proposals(u32::MAX).await?;
    let items = inbox::build(&inbox::Sources {
        unsettled: &unsettled,
        conflicts: &conflicts,
        quarantine: &quarantine,
        proposals: &[],
    });
    println!(
        "  $ tether inbox   (the {} merge proposals left out here)",
        proposals.len()
    );
    for line in inbox::text(&items).lines().skip(2) {
        if line.is_empty() {
            println!();
        } else {
            println!("  {line}");
        }
    }
    if let Some(c) = conflicts.first() {
        println!("  $ tether conflicts resolve {} --take gorgias", c.id);
        store
            .resolve_conflict(
                c.id,
                &ConflictChoice::Take(System::Gorgias),
                "demo",
                chrono::Utc::now(),
            )
            .await?;
    }
    sb.hubspot.clear_portal_rules();
    println!(
        "  HubSpot: the admin lifts the portal rule; the next sync retries the refused create"
    );
    let r = cycle.run().await?;
    print!("{}", super::sync::describe(&r));
    for c in &conflicts {
        let after = store.conflict(c.id).await?;
        println!(
            "  conflict #{}: {}",
            c.id,
            after
                .and_then(|a| a.closed_how)
                .map_or_else(|| "still open".to_owned(), |how| format!("closed ({how})"))
        );
    }
    let healed = match store.link_by_gorgias(newcomer).await? {
        Some(l) => format!("created as HubSpot contact {}", l.hubspot),
        None => "still missing in HubSpot".to_owned(),
    };
    let left = store.unsettled(UnsettledFilter::Open).await?;
    let still_owed = left
        .iter()
        .any(|u| u.record == RecordRef::Gorgias(newcomer));
    println!(
        "  Gorgias {newcomer}: {healed}; refused writes left: {}{}",
        left.len(),
        if still_owed { " (including it)" } else { "" }
    );
    Ok(())
}
