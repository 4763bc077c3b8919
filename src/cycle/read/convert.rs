//! Pure conversions for the read: connector types into the engine's records (or the reason
//! one cannot be used), the properties the mappings read, the e-mails of engine records, and
//! the watermark a feed moves to. Must never do I/O or read the clock.

use super::*;

/// HubSpot properties the mappings read (plus `email`).
pub fn hubspot_properties(m: &MappingSet) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::from(["email".to_string()]);
    for f in &m.fields {
        match &f.hubspot {
            HubspotAccess::Id => {}
            HubspotAccess::Property(p) => {
                out.insert(p.clone());
            }
            HubspotAccess::Join(a, b) => {
                out.insert(a.clone());
                out.insert(b.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// Whether a mapped field needs the Gorgias channels (absent from list items).
pub fn needs_channels(m: &MappingSet) -> bool {
    m.fields
        .iter()
        .any(|f| f.gorgias == GorgiasAccess::PhoneChannel)
}

/// The HubSpot properties a cycle's read asks for: those the mappings read, the merge ids,
/// and what duplicate proposals compare (`crate::cycle::dedup`), read with the same calls.
pub(super) fn read_properties(m: &MappingSet) -> Vec<String> {
    let mut props = hubspot_properties(m);
    props.push("hs_merged_object_ids".to_owned());
    for p in crate::cycle::dedup::hubspot_properties() {
        if !props.iter().any(|q| q == p) {
            props.push(p.to_owned());
        }
    }
    props
}

/// A link's bases as the engine reads them: strings as they are, other values as JSON
/// text, nulls left out.
pub(super) fn base_of(stored: BTreeMap<String, Value>) -> engine::Base {
    stored
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect()
}

/// What the store remembers of a HubSpot record read at `now`.
pub(super) fn hubspot_seen(h: &HubspotRecord, now: DateTime<Utc>) -> RecordSeen {
    let email = hubspot_email(h);
    RecordSeen {
        record: RecordRef::Hubspot(h.id.clone()),
        keys: email
            .iter()
            .map(|e| format!("email:{}", e.as_str()))
            .collect(),
        email,
        updated_at: h.updated_at,
        content_hash: sha(&json!(h.properties)),
        seen_at: now,
    }
}

/// What the store remembers of a Gorgias record read at `now`.
pub(super) fn gorgias_seen(g: &GorgiasRecord, now: DateTime<Utc>) -> RecordSeen {
    let email = gorgias_email(g);
    RecordSeen {
        record: RecordRef::Gorgias(g.id),
        keys: email
            .iter()
            .map(|e| format!("email:{}", e.as_str()))
            .collect(),
        email,
        updated_at: g.updated_at,
        content_hash: sha(&g.fields),
        seen_at: now,
    }
}

pub(super) fn sha(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Why a contact cannot be used, or its engine record.
pub fn hubspot_record(c: &Contact) -> Result<HubspotRecord, String> {
    let id = HubspotId::new(c.id.clone()).map_err(|e| format!("bad contact id: {e}"))?;
    let updated_at = c
        .updated_at
        .ok_or_else(|| "the contact has no updatedAt / lastmodifieddate".to_string())?;
    Ok(HubspotRecord {
        id,
        updated_at,
        properties: c.properties.clone(),
    })
}

/// Why a customer cannot be used, or its engine record.
pub fn gorgias_record(c: &Customer) -> Result<GorgiasRecord, String> {
    let id = GorgiasId::new(c.id).map_err(|e| format!("bad customer id: {e}"))?;
    let updated_at = c
        .updated_datetime
        .ok_or_else(|| "the customer has no updated_datetime".to_string())?;
    if !(c.data.is_null() || c.data.is_object()) {
        return Err("`data` is not an object".into());
    }
    let fields = serde_json::to_value(c).map_err(|e| format!("cannot encode: {e}"))?;
    Ok(GorgiasRecord {
        id,
        updated_at,
        fields,
    })
}

/// The watermark a feed moves to: the newest update time it returned, but never later than
/// `now` (when the read began). A record dated in the future (a wrong clock, a hostile or
/// corrupt answer: Gorgias accepts year 9999) would otherwise carry the watermark past every
/// change to come, and the feeds, which read from the watermark on, would miss them all for
/// good. Held at `now`, the next cycle reads from `now - overlap`, as after any cycle.
pub(super) fn next_watermark(
    system: System,
    times: impl Iterator<Item = DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Watermark> {
    let newest = times.max()?;
    if newest > now + chrono::Duration::minutes(5) {
        tracing::warn!(
            system = system.as_str(),
            newest = %newest,
            "a record's update time lies in the future; the watermark is held at the present"
        );
    }
    Some(Watermark {
        at: newest.min(now),
        tie_break: None,
    })
}

/// A HubSpot merge's two ids (`old` merged into `survivor`) as records for
/// [`Reader::follow_merge`]; `None` when either id is unusable (ids come from the network),
/// and the merge is then not followed.
pub(super) fn hubspot_merge(old: &str, survivor: &str) -> Option<(RecordRef, RecordRef)> {
    Some((
        RecordRef::Hubspot(HubspotId::new(old).ok()?),
        RecordRef::Hubspot(HubspotId::new(survivor).ok()?),
    ))
}

/// A Gorgias merge's two ids as records, as [`hubspot_merge`].
pub(super) fn gorgias_merge(old: i64, survivor: i64) -> Option<(RecordRef, RecordRef)> {
    Some((
        RecordRef::Gorgias(GorgiasId::new(old).ok()?),
        RecordRef::Gorgias(GorgiasId::new(survivor).ok()?),
    ))
}

pub(super) fn hubspot_email(r: &HubspotRecord) -> Option<Email> {
    r.properties.get("email").and_then(|e| Email::parse(e).ok())
}

pub(super) fn gorgias_email(r: &GorgiasRecord) -> Option<Email> {
    if let Some(e) = r.fields.get("email").and_then(Value::as_str)
        && let Ok(e) = Email::parse(e)
    {
        return Some(e);
    }
    r.fields
        .get("channels")
        .and_then(Value::as_array)
        .and_then(|chs| {
            chs.iter()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("email"))
                .find_map(|c| c.get("address").and_then(Value::as_str))
        })
        .and_then(|e| Email::parse(e).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, updated: Option<i64>) -> Contact {
        Contact {
            id: id.into(),
            properties: BTreeMap::from([("email".to_string(), "A@B.co".to_string())]),
            created_at: None,
            updated_at: updated.and_then(DateTime::<Utc>::from_timestamp_millis),
            archived: false,
            history: BTreeMap::new(),
            merged_ids: vec![],
        }
    }

    #[test]
    fn a_watermark_never_moves_past_the_present() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let past = now - chrono::Duration::hours(1);
        let future = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |ts: Vec<DateTime<Utc>>| next_watermark(System::Gorgias, ts.into_iter(), now);
        assert_eq!(at(vec![]), None);
        assert_eq!(at(vec![past]).unwrap().at, past);
        assert_eq!(at(vec![past, future]).unwrap().at, now);
        assert_eq!(at(vec![now]).unwrap().at, now);
    }

    #[test]
    fn malformed_contacts_are_refused_with_a_reason() {
        assert!(hubspot_record(&contact("101", Some(5))).is_ok());
        assert!(
            hubspot_record(&contact("101", None))
                .unwrap_err()
                .contains("updatedAt")
        );
        assert!(hubspot_record(&contact("x1", Some(5))).is_err());
        let r = hubspot_record(&contact("101", Some(5))).unwrap();
        assert_eq!(hubspot_email(&r).unwrap().as_str(), "a@b.co");
    }

    #[test]
    fn customers_need_an_update_time_and_object_data() {
        let mut c: Customer = serde_json::from_value(json!({
            "id": 7, "email": "X@Y.co", "updated_datetime": "2024-01-01T00:00:00+00:00"
        }))
        .unwrap();
        let r = gorgias_record(&c).unwrap();
        assert_eq!(gorgias_email(&r).unwrap().as_str(), "x@y.co");
        c.data = json!([1, 2]);
        assert!(gorgias_record(&c).unwrap_err().contains("data"));
        c.data = Value::Null;
        c.updated_datetime = None;
        assert!(gorgias_record(&c).is_err());
    }

    #[test]
    fn merges_are_followed_only_between_usable_ids_of_one_system() {
        let (old, survivor) = hubspot_merge("101", "202").unwrap();
        assert_eq!(old, RecordRef::Hubspot(HubspotId::new("101").unwrap()));
        assert_eq!(survivor, RecordRef::Hubspot(HubspotId::new("202").unwrap()));
        assert!(hubspot_merge("x1", "202").is_none());
        assert!(hubspot_merge("101", "x2").is_none());
        let (old, survivor) = gorgias_merge(7, 9).unwrap();
        assert_eq!(old, RecordRef::Gorgias(GorgiasId::new(7).unwrap()));
        assert_eq!(survivor, RecordRef::Gorgias(GorgiasId::new(9).unwrap()));
        assert!(gorgias_merge(0, 9).is_none());
        assert!(gorgias_merge(7, -1).is_none());
    }

    #[test]
    fn bases_keep_strings_encode_other_values_and_drop_nulls() {
        let stored = BTreeMap::from([
            ("email".to_string(), json!("a@b.co")),
            ("count".to_string(), json!(3)),
            ("gone".to_string(), Value::Null),
        ]);
        let base = base_of(stored);
        assert_eq!(
            base,
            BTreeMap::from([
                ("count".to_string(), "3".to_string()),
                ("email".to_string(), "a@b.co".to_string()),
            ])
        );
    }

    #[test]
    fn a_seen_record_carries_its_email_key_and_content_hash() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let h = hubspot_record(&contact("101", Some(5))).unwrap();
        let seen = hubspot_seen(&h, now);
        assert_eq!(seen.keys, vec!["email:a@b.co".to_string()]);
        assert_eq!(seen.seen_at, now);
        assert_eq!(seen.content_hash, sha(&json!(h.properties)));
        let mut other = h.clone();
        other.properties.insert("firstname".into(), "Ann".into());
        assert_ne!(hubspot_seen(&other, now).content_hash, seen.content_hash);
    }
}
