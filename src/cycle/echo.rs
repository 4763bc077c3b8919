//! The echo of tether's own Gorgias writes. A customer tether has just updated comes back in
//! the next feed (its `updated_datetime` moved), and used to be read again in full and
//! re-planned for nothing. When the write's answer (the customer after the partial PUT) holds
//! exactly the link's agreed values on every mapped field, the write's result records that
//! answer's `updated_datetime`; a later list item carrying that same `updated_datetime` is
//! that very version, changed by nobody since, and needs no full read.
//!
//! The same write comes back on the HubSpot side too (tether updated or created the contact):
//! a linked contact whose every mapped value is the link's agreed value, while its Gorgias
//! partner brings no change, has nothing to plan, so its partner is not read in full for it
//! ([`hubspot_holds_bases`], applied by `read.rs`'s `drop_hubspot_echoes`).
//!
//! Must never skip a customer anything else has touched: any mismatch (a value an agent
//! changed between tether's read and its write, an unreadable field, a later update time)
//! leaves the customer to the normal read.

use super::read::gorgias_record;
use super::{Cycle, CycleError};
use crate::connectors::gorgias::Customer;
use crate::domain::{GorgiasId, HubspotId, RecordRef, Region};
use crate::engine::canonical::{read_gorgias, read_hubspot};
use crate::engine::{GorgiasRecord, HubspotRecord};
use crate::mappings::MappingSet;
use crate::store::LinkId;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The key of a Gorgias update's recorded result naming the version it left.
pub const ECHO_KEY: &str = "echo_updated_datetime";

/// Whether `answer` holds exactly `bases` (canonical values by field name, absent = none) on
/// every mapped field. Pure.
pub fn holds_bases(
    m: &MappingSet,
    region: Region,
    answer: &GorgiasRecord,
    bases: &BTreeMap<String, Option<String>>,
) -> bool {
    m.fields
        .iter()
        .all(|f| match read_gorgias(f, answer, region) {
            Ok(v) => v.as_deref() == bases.get(&f.name).and_then(|b| b.as_deref()),
            Err(_) => false,
        })
}

/// Whether HubSpot record `r` holds exactly `bases` on every mapped field. Pure.
pub fn hubspot_holds_bases(
    m: &MappingSet,
    region: Region,
    r: &HubspotRecord,
    bases: &BTreeMap<String, Option<String>>,
) -> bool {
    m.fields.iter().all(|f| match read_hubspot(f, r, region) {
        Ok(v) => v.as_deref() == bases.get(&f.name).and_then(|b| b.as_deref()),
        Err(_) => false,
    })
}

/// The agreed values of a link, as canonical text by field name.
pub async fn link_bases(
    ctx: &Cycle,
    link: LinkId,
) -> Result<BTreeMap<String, Option<String>>, CycleError> {
    Ok(ctx
        .store
        .bases(link)
        .await?
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => Some(s),
                Value::Null => None,
                other => Some(other.to_string()),
            };
            (k, v)
        })
        .collect())
}

/// The result to record for a Gorgias update of `id` (linked to `hubspot`) that wrote the
/// agreed values `written` and was answered with `answer`: the id, plus [`ECHO_KEY`] when
/// the answer holds every agreed value of the link.
pub async fn update_result(
    ctx: &Cycle,
    id: GorgiasId,
    hubspot: &HubspotId,
    written: &BTreeMap<String, Option<String>>,
    answer: Option<&Customer>,
) -> Result<Value, CycleError> {
    let mut result = json!({ "id": id });
    let Some(rec) = answer.and_then(|c| gorgias_record(c).ok()) else {
        return Ok(result);
    };
    let Some(link) = ctx.store.link_by_hubspot(hubspot).await? else {
        return Ok(result);
    };
    let mut bases = link_bases(ctx, link.id).await?;
    bases.extend(written.iter().map(|(k, v)| (k.clone(), v.clone())));
    if rec.id == id && holds_bases(&ctx.mappings, ctx.options.default_region, &rec, &bases) {
        result[ECHO_KEY] = json!(rec.updated_at.to_rfc3339());
    }
    Ok(result)
}

/// Whether list item `r` is exactly the version tether's last finished write left.
pub async fn is_own_echo(ctx: &Cycle, r: &GorgiasRecord) -> Result<bool, CycleError> {
    let Some(result) = ctx
        .store
        .last_done_write_result(&RecordRef::Gorgias(r.id))
        .await?
    else {
        return Ok(false);
    };
    let left = result
        .get(ECHO_KEY)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    Ok(left == Some(r.updated_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};

    fn mappings() -> MappingSet {
        crate::mappings::parse_str(
            "m.toml",
            r#"
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"

[fields.name]
hubspot = "firstname"
gorgias = "name"
"#,
        )
        .unwrap()
    }

    fn bases(email: &str, name: Option<&str>) -> BTreeMap<String, Option<String>> {
        BTreeMap::from([
            ("email".to_owned(), Some(email.to_owned())),
            ("name".to_owned(), name.map(str::to_owned)),
        ])
    }

    #[test]
    fn only_a_record_holding_every_agreed_value_is_an_echo() {
        let m = mappings();
        let region = Region::default();
        let g = GorgiasRecord {
            id: GorgiasId::new(5).unwrap(),
            updated_at: Utc::now(),
            fields: json!({"id": 5, "email": "ada@x.test", "name": "Ada"}),
        };
        assert!(holds_bases(
            &m,
            region,
            &g,
            &bases("ada@x.test", Some("Ada"))
        ));
        // An agent renamed her between tether's read and its write: not an echo.
        assert!(!holds_bases(
            &m,
            region,
            &g,
            &bases("ada@x.test", Some("Ada L"))
        ));
        // A field the base has and the record lacks, or the reverse.
        assert!(!holds_bases(&m, region, &g, &bases("ada@x.test", None)));
        let h = HubspotRecord {
            id: HubspotId::new("9".to_owned()).unwrap(),
            updated_at: Utc::now(),
            properties: BTreeMap::from([
                ("email".to_owned(), "ada@x.test".to_owned()),
                ("firstname".to_owned(), "Ada".to_owned()),
            ]),
        };
        assert!(hubspot_holds_bases(
            &m,
            region,
            &h,
            &bases("ada@x.test", Some("Ada"))
        ));
        assert!(!hubspot_holds_bases(
            &m,
            region,
            &h,
            &bases("bob@x.test", Some("Ada"))
        ));
    }
}
