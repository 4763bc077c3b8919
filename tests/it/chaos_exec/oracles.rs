//! The chaos suite's oracles: after a run quiesced, what both systems and the store must
//! show (no duplicates, nothing recreated, agreement and no lost update person by person,
//! an empty outbox and an audited write behind every record tether wrote). Part of
//! `chaos_exec`; must never change either system.

use super::*;

pub(super) fn hubspot_props() -> Vec<&'static str> {
    vec![
        "email",
        "firstname",
        "lastname",
        "phone",
        "company",
        "lifecyclestage",
        "tether_gorgias_id",
    ]
}

/// Checks every oracle; returns the failures.
pub(super) async fn oracles(run: &mut Run, sc: &Scenario, mappings: &MappingSet) -> Vec<String> {
    let mut fails = vec![];
    let mut notes = vec![];
    let region = Region::default();
    // Every live record of each side.
    let contacts = run
        .sb
        .hubspot_client
        .list_all(&hubspot_props())
        .await
        .unwrap();
    let hubspot: Vec<HubspotRecord> = contacts
        .iter()
        .filter(|c| !c.archived)
        .map(|c| tether::cycle::read::hubspot_record(c).unwrap())
        .collect();
    let gorgias: Vec<GorgiasRecord> = run
        .sb
        .gorgias
        .customer_ids()
        .into_iter()
        .filter_map(|id| {
            let fields = run.sb.gorgias.customer(id)?;
            Some(GorgiasRecord {
                id: GorgiasId::new(id).unwrap(),
                updated_at: Utc::now(),
                fields,
            })
        })
        .collect();
    let norm = |s: Option<&str>| s.and_then(|e| Email::parse(e).ok()).map(|e| e.to_string());
    // No duplicates: no two records on one side share a normalised e-mail, and every e-mail
    // is one a person of the scenario has.
    let mut h_by: BTreeMap<String, Vec<&HubspotRecord>> = BTreeMap::new();
    for r in &hubspot {
        if let Some(e) = norm(r.properties.get("email").map(String::as_str)) {
            h_by.entry(e).or_default().push(r);
        }
    }
    let mut g_by: BTreeMap<String, Vec<&GorgiasRecord>> = BTreeMap::new();
    for r in &gorgias {
        if let Some(e) = norm(r.fields["email"].as_str()) {
            g_by.entry(e).or_default().push(r);
        }
    }
    for (e, v) in &h_by {
        if v.len() > 1 {
            fails.push(format!(
                "duplicate in HubSpot: {} contacts with {e}",
                v.len()
            ));
        }
    }
    for (e, v) in &g_by {
        if v.len() > 1 {
            fails.push(format!(
                "duplicate in Gorgias: {} customers with {e}",
                v.len()
            ));
        }
    }
    let people = run
        .writes
        .keys()
        .map(|(p, _)| *p)
        .max()
        .map_or(0, |m| m + 1);
    // Nothing recreated: a deleted or merged-away record has no new copy.
    for p in &run.deleted_g {
        if g_by.contains_key(&email(*p)) {
            fails.push(format!("p{p} was deleted in Gorgias and is there again"));
        }
    }
    for p in &run.merged_away_g {
        if g_by.contains_key(&email(*p)) {
            fails.push(format!(
                "p{p} was merged away in Gorgias and is there again"
            ));
        }
    }
    for p in &run.merged_away_h {
        if h_by.contains_key(&email(*p)) {
            fails.push(format!(
                "p{p} was merged away in HubSpot and a contact has its e-mail"
            ));
        }
    }
    // Agreement and no lost update, person by person.
    for p in 0..people {
        let e = email(p);
        let (h, g) = (
            h_by.get(&e).and_then(|v| v.first()),
            g_by.get(&e).and_then(|v| v.first()),
        );
        let touched = run.touched.contains(&p);
        // A person touched by a merge or a delete may legitimately be held: a HubSpot merge
        // leaves two Gorgias customers for one contact until a reviewer merges them (the
        // orphan is held and proposed, docs/merges.md), so agreement by e-mail is not owed.
        if touched {
            continue;
        }
        let (h, g) = match (h, g) {
            (Some(h), Some(g)) => (*h, *g),
            _ => {
                fails.push(format!(
                    "p{p} is not on both sides (HubSpot {}, Gorgias {})",
                    h.is_some(),
                    g.is_some()
                ));
                continue;
            }
        };
        for f in &mappings.fields {
            let hv = read_hubspot(f, h, region).map(|o| o.map(|c| c.into_owned()));
            let gv = read_gorgias(f, g, region).map(|o| o.map(|c| c.into_owned()));
            if hv != gv {
                fails.push(format!(
                    "p{p} field {}: HubSpot {hv:?} but Gorgias {gv:?}",
                    f.name
                ));
            }
        }
        for field in [Field::Name, Field::Phone, Field::Company] {
            let Some(ws) = run.writes.get(&(p, field)) else {
                continue;
            };
            let Some(f) = mappings.field(field.canonical()) else {
                continue;
            };
            let hubspot_final = read_hubspot(f, h, region)
                .ok()
                .flatten()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            let gorgias_final = read_gorgias(f, g, region)
                .ok()
                .flatten()
                .map(|c| c.into_owned())
                .unwrap_or_default();
            for (side, fin) in [("HubSpot", hubspot_final), ("Gorgias", gorgias_final)] {
                if !ws.iter().any(|w| w.value == fin) {
                    fails.push(format!(
                        "p{p}.{} in {side}: final {fin:?} is a value nobody wrote ({:?})",
                        field.canonical(),
                        ws.iter().map(|w| &w.value).collect::<Vec<_>>()
                    ));
                    continue;
                }
                // The policy (newest): the last write wins unless the other side wrote the
                // same field in the same round (a real conflict: either is acceptable).
                let Some(last) = ws.last() else { continue };
                let rivals: Vec<&Write> = ws
                    .iter()
                    .filter(|w| w.round == last.round && w.side != last.side)
                    .collect();
                // A cycle in flight during the last write may have read the record before it
                // and then written the other side's latest earlier value over it.
                let raced_by = ws[..ws.len() - 1]
                    .iter()
                    .rev()
                    .find(|w| w.side != last.side)
                    .filter(|_| last.racing);
                if fin != last.value && !rivals.iter().any(|w| w.value == fin) {
                    if raced_by.is_some_and(|w| w.value == fin) {
                        notes.push(format!(
                            "  note: p{p}.{} in {side}: the last write {:?} raced a cycle and ended as the earlier {fin:?} (accepted, docs/chaos.md \"Limits\")",
                            field.canonical(),
                            last.value
                        ));
                        continue;
                    }
                    fails.push(format!(
                        "p{p}.{} in {side}: lost update: final {fin:?}, last write {:?} ({:?}, round {})",
                        field.canonical(),
                        last.value,
                        last.side,
                        last.round
                    ));
                }
            }
        }
        if let Some(f) = run.foreign.get(&p) {
            let now = g.fields["data"]["shop"]["order"].as_str();
            let raced = f.racing && now == f.before.as_deref();
            if now != Some(f.value.as_str()) && raced {
                notes.push(format!(
                    "  note: p{p}: the foreign data.shop.order {:?} raced a cycle and ended as the earlier {now:?} (accepted, docs/chaos.md \"Limits\")",
                    f.value
                ));
            } else if now != Some(f.value.as_str()) {
                fails.push(format!(
                    "p{p}: the foreign integration's data.shop.order {:?} was overwritten: {}",
                    f.value, g.fields["data"]
                ));
            }
        }
    }
    // Store: outbox empty, every tether-marked record has an audited write.
    let settings = tether::config::StoreSettings {
        url: run
            .env
            .iter()
            .find(|(k, _)| k == "TETHER__STORE__URL")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: 15,
    };
    let store = Store::open(&settings).await.unwrap();
    let pending = store.pending_writes(1000).await.unwrap();
    if !pending.is_empty() {
        fails.push(format!(
            "outbox not empty: {} pending writes",
            pending.len()
        ));
    }
    // Every record tether wrote (it carries tether's marks) is named by an audited
    // `write.done`: as its subject (updates) or as the id its create answered.
    let mut audited: BTreeSet<(String, String)> = BTreeSet::new();
    for a in store.recent_audit(100_000).await.unwrap() {
        if a.action != "write.done" {
            continue;
        }
        for s in &a.subjects {
            audited.insert((s.system().as_str().to_string(), s.id_string()));
        }
        let system = a.detail["system"].as_str().unwrap_or_default().to_string();
        let mut ids = vec![];
        collect_ids(&a.detail["result"], &mut ids);
        for id in ids {
            audited.insert((system.clone(), id));
        }
    }
    let h_sys = RecordRef::Hubspot(HubspotId::new("1").unwrap())
        .system()
        .as_str()
        .to_string();
    let g_sys = RecordRef::Gorgias(GorgiasId::new(1).unwrap())
        .system()
        .as_str()
        .to_string();
    for r in &hubspot {
        if r.properties
            .get("tether_gorgias_id")
            .is_some_and(|v| !v.is_empty())
            && !run.survivors_h.contains(r.id.as_str())
            && !audited.contains(&(h_sys.clone(), r.id.as_str().to_string()))
        {
            fails.push(format!(
                "HubSpot {} was written by tether but no write.done names it",
                r.id.as_str()
            ));
        }
    }
    for r in &gorgias {
        if r.fields["external_id"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
            && !audited.contains(&(g_sys.clone(), r.id.get().to_string()))
        {
            fails.push(format!(
                "Gorgias {} was written by tether but no write.done names it",
                r.id.get()
            ));
        }
    }
    store.close().await;
    let _ = sc;
    run.trace.extend(notes);
    fails
}

/// Every value under an `id` key, anywhere in `v`.
pub(super) fn collect_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("id", Value::String(s)) => out.push(s.clone()),
                    ("id", Value::Number(n)) => out.push(n.to_string()),
                    _ => collect_ids(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_ids(x, out)),
        _ => {}
    }
}
