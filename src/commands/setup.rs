//! `tether setup`: creates the HubSpot property groups tether owns ("Gorgias support", for
//! roll-up fields) and the custom properties the mappings declare
//! (`[fields.X.hubspot_property]`) when they are missing, installs the Gorgias sidebar
//! widgets when `sidebar.install` is `widget` or `card`, creates the notes' unique key
//! property when `support.notes` is on, then clears the backoff of every
//! unsettled record (writes refused before the setup was complete are retried by the next
//! cycle). Never alters or deletes a property.
//!
//! Edge code only: the connector's `ensure_properties` does the work.

use super::Global;
use crate::connectors::hubspot::PropertyDefinition;
use crate::store::{OpenError, SqliteOpenError, StoreError};
use anyhow::Context;
use std::process::ExitCode;

/// The connector's create body for a mapping's property definition. Enumeration options
/// are not carried by the connector's type: define them in HubSpot when a mapping needs them.
pub fn property_definition(p: &crate::mappings::PropertyDefinition) -> PropertyDefinition {
    PropertyDefinition {
        name: p.name.clone(),
        label: p.label.clone(),
        kind: p.kind.clone(),
        field_type: p.field_type.clone(),
        group_name: p.group_name.clone(),
        description: p.description.clone(),
        has_unique_value: p.has_unique_value,
        form_field: p.form_field,
    }
}

pub async fn run(global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let mappings = super::sync::load_mappings(settings)?;
    let (hubspot, gorgias) = super::sync::clients(settings)?;
    let defs: Vec<PropertyDefinition> = mappings
        .hubspot_properties()
        .iter()
        .map(property_definition)
        .collect();
    let groups = mappings.hubspot_property_groups();
    let made = hubspot
        .ensure_property_groups(&groups)
        .await
        .context("cannot create the HubSpot property groups")?;
    for (name, label) in &groups {
        let state = if made.iter().any(|m| m == name) {
            "created"
        } else {
            "already there"
        };
        println!("HubSpot property group {name} ({label}): {state}");
    }
    let created = hubspot
        .ensure_properties(&defs)
        .await
        .context("cannot create the HubSpot properties")?;
    for d in &defs {
        let state = if created.contains(&d.name) {
            "created"
        } else {
            "already there"
        };
        println!("HubSpot property {}: {state}", d.name);
    }
    if defs.is_empty() {
        println!("the mappings declare no HubSpot custom property");
    }
    if settings.support.notes {
        let made = hubspot
            .ensure_note_key_property()
            .await
            .context("cannot create the HubSpot note property for support notes")?;
        let state = if made { "created" } else { "already there" };
        println!(
            "HubSpot note property {}: {state}",
            crate::support::notes::NOTE_KEY_PROPERTY
        );
    }
    if settings.sidebar.install != "none" {
        let fields = crate::sidebar::template::tether_fields(&mappings);
        let card = settings.sidebar.install == "card";
        super::gorgias::install(&gorgias, &settings.sidebar, &fields, card).await?;
    }
    clear_backoff(settings).await
}

/// Writes refused before the setup was complete are planned again by the next cycle.
/// Only a store that exists can hold refused writes (a first setup creates none).
async fn clear_backoff(settings: &crate::config::Settings) -> anyhow::Result<ExitCode> {
    match super::open_store::reader(&settings.store).await {
        Ok(s) => s.close().await,
        Err(e) if e.is_missing() => return Ok(ExitCode::SUCCESS),
        Err(_) => {}
    }
    let store = match super::open_store::writer(&settings.store).await {
        Ok(s) => s,
        Err(
            e @ (OpenError::Sqlite(SqliteOpenError::Locked { .. })
            | OpenError::Store(StoreError::LeaseHeld { .. })),
        ) => {
            eprintln!(
                "note: refused writes keep their backoff ({e}); run `tether retry --all` once it is free"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).context("cannot open the state store as its writer"),
    };
    let retried = store
        .retry_unsettled(
            &crate::store::RetrySelection::All,
            "tether setup",
            &super::merges::actor(),
            chrono::Utc::now(),
        )
        .await;
    store.close().await;
    let n = retried
        .context("cannot clear the backoff of refused writes")?
        .len();
    if n > 0 {
        println!("{n} refused write(s) will be retried by the next sync");
    }
    Ok(ExitCode::SUCCESS)
}
