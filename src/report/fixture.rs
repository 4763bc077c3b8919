//! A small plan for the renderers' tests, written by hand (never the shared data): a pair with
//! a write, a conflict and a field skip; a new link with a base update whose value holds
//! markup, quotes, `&`, a pipe, a newline and a control character; a Gorgias create; and a
//! record-level skip.

use crate::domain::{GorgiasId, HubspotId, System};
use crate::engine::*;
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::collections::BTreeMap;

pub(crate) const NASTY: &str = "<script>alert(\"x&y\")</script> 'a|b'\nline2\u{7}";

fn h(id: &str) -> HubspotId {
    HubspotId::new(id).unwrap()
}

fn g(id: i64) -> GorgiasId {
    GorgiasId::new(id).unwrap()
}

pub(crate) fn plan() -> Plan {
    let t1 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let t2 = Utc.with_ymd_and_hms(2026, 11, 2, 11, 0, 0).unwrap();
    let mut gfields = serde_json::Map::new();
    gfields.insert("email".into(), json!("new@shop.test"));
    gfields.insert("name".into(), json!("Zoë Müller"));
    Plan {
        schema_version: SCHEMA_VERSION,
        summary: Summary {
            pairs: 2,
            links: 1,
            hubspot_updates: 0,
            gorgias_updates: 1,
            hubspot_creates: 0,
            gorgias_creates: 1,
            field_writes: 1,
            base_updates: 1,
            conflicts: 1,
            skips: 2,
        },
        caps: CapsReport {
            creates: 1,
            max_creates: 500,
            overwrites: 1,
            max_overwrites: 1000,
            exceeded: false,
            allow_large: false,
            blocked: false,
            reason: None,
        },
        links: vec![NewLink {
            hubspot_id: h("102"),
            gorgias_id: g(8),
            matched_by: MatchKind::Email,
            key: "pat@shop.test".into(),
        }],
        hubspot_updates: vec![],
        gorgias_updates: vec![GorgiasUpdate {
            id: g(7),
            hubspot_id: h("101"),
            fields: serde_json::Map::from_iter([("name".to_owned(), json!("Jane Smith"))]),
            data: None,
            bases: BTreeMap::from([("name".to_owned(), Some("Jane Smith".to_owned()))]),
        }],
        hubspot_creates: vec![],
        gorgias_creates: vec![GorgiasCreate {
            from_hubspot: h("103"),
            fields: gfields,
            data: Some(json!({"tether": {"company": "Acme"}})),
            bases: BTreeMap::new(),
        }],
        base_updates: vec![BaseUpdate {
            hubspot_id: h("102"),
            gorgias_id: g(8),
            field: "company".into(),
            value: Some(NASTY.into()),
        }],
        changes: vec![FieldChange {
            hubspot_id: h("101"),
            gorgias_id: g(7),
            field: "name".into(),
            target: System::Gorgias,
            hubspot: Some("Jane Smith".into()),
            gorgias: Some("Jane Doe".into()),
            base: Some("Jane Doe".into()),
            value: Some("Jane Smith".into()),
            overwrites: true,
            cause: Cause::ChangedInHubspot,
            reason: "changed in HubSpot".into(),
        }],
        conflicts: vec![Conflict {
            hubspot_id: h("101"),
            gorgias_id: g(7),
            field: "phone".into(),
            hubspot: Some("+14155550100".into()),
            gorgias: Some("+14155550199".into()),
            base: None,
            hubspot_updated_at: t1,
            gorgias_updated_at: t2,
        }],
        skips: vec![
            Skip {
                hubspot_id: Some(h("101")),
                gorgias_id: Some(g(7)),
                field: Some("email".into()),
                code: SkipCode::InvalidValue,
                reason: "not an e-mail".into(),
            },
            Skip {
                hubspot_id: None,
                gorgias_id: Some(g(9)),
                field: None,
                code: SkipCode::CreateDisabled,
                reason: "creating HubSpot contacts is off".into(),
            },
        ],
        unsettled: vec![],
    }
}
