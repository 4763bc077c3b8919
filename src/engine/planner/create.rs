//! Linking the unlinked records of one plan (by the recorded ids, then e-mail, then phone)
//! and planning the counterparts to create where the mappings allow it.
//!
//! Pure: must never read the clock, do I/O or depend on input order.

use super::*;

impl<'a> Ctx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn link_and_create<'r>(
        &self,
        h_un: &[&'r HubspotRecord],
        g_un: &[&'r GorgiasRecord],
        hs: &FxMap<&'r HubspotId, &'r HubspotRecord>,
        gs: &FxMap<GorgiasId, &'r GorgiasRecord>,
        h_link: &FxMap<&HubspotId, &Link>,
        g_link: &FxMap<GorgiasId, &Link>,
        pairs: &mut Vec<(&'r HubspotRecord, &'r GorgiasRecord, &'r Base)>,
        out: &mut Out,
    ) where
        'a: 'r,
    {
        let region = self.region();
        let hc: Vec<link::HubspotCandidate<'r>> =
            h_un.iter().map(|r| self.hubspot_candidate(r)).collect();
        let gc: Vec<link::GorgiasCandidate<'r>> =
            g_un.iter().map(|r| self.gorgias_candidate(r)).collect();
        // E-mails of linked records in this input: a new record with one is a likely duplicate.
        let mut linked_emails: Vec<Cow<'r, str>> = Vec::new();
        if let Some(f) = self.email_field {
            for (id, r) in hs {
                if h_link.contains_key(id) {
                    if let Ok(Some(e)) = canonical::read_hubspot(f, r, region) {
                        linked_emails.push(e);
                    }
                }
            }
            for (id, r) in gs {
                if g_link.contains_key(id) {
                    if let Ok(Some(e)) = canonical::read_gorgias(f, r, region) {
                        linked_emails.push(e);
                    }
                }
            }
        }
        let linked_set: HashSet<&str> = linked_emails.iter().map(|e| e.as_ref()).collect();
        let result = link::link(&hc, &gc, &linked_set);
        for (i, outcome) in result.hubspot.iter().enumerate() {
            let (Some(r), Some(c)) = (h_un.get(i), hc.get(i)) else {
                continue;
            };
            match outcome {
                Outcome::Linked(gi, kind) => {
                    let (Some(g), Some(gcand)) = (g_un.get(*gi), gc.get(*gi)) else {
                        continue;
                    };
                    let key = match kind {
                        MatchKind::RecordedId => format!("{}/{}", r.id, g.id),
                        MatchKind::Email => c.email.as_deref().unwrap_or_default().to_owned(),
                        MatchKind::Phone => gcand.phone.as_deref().unwrap_or_default().to_owned(),
                    };
                    out.links.push(NewLink {
                        hubspot_id: r.id.clone(),
                        gorgias_id: g.id,
                        matched_by: *kind,
                        key,
                    });
                    pairs.push((r, g, &EMPTY_BASE));
                }
                Outcome::Skipped(code, why) => {
                    out.skip(Some(&r.id), None, None, *code, why.clone())
                }
                Outcome::Unmatched => self.create_gorgias(r, c.email.is_some(), out),
            }
        }
        for (i, outcome) in result.gorgias.iter().enumerate() {
            let (Some(r), Some(c)) = (g_un.get(i), gc.get(i)) else {
                continue;
            };
            match outcome {
                Outcome::Linked(..) => {}
                Outcome::Skipped(code, why) => out.skip(None, Some(r.id), None, *code, why.clone()),
                Outcome::Unmatched => self.create_hubspot(r, c.email.is_some(), out),
            }
        }
    }

    fn create_gorgias(&self, r: &HubspotRecord, has_email: bool, out: &mut Out) {
        if !self.m.records.create_in_gorgias {
            out.skip(
                Some(&r.id),
                None,
                None,
                SkipCode::CreateDisabled,
                "no Gorgias counterpart, and records.create_in_gorgias is off",
            );
            return;
        }
        if !has_email {
            out.skip(Some(&r.id), None, None, SkipCode::NoEmailForCreate, "no Gorgias counterpart, and no valid e-mail to create one without risking a duplicate");
            return;
        }
        let mut patch = GorgiasPatch::new(None);
        let mut bases = BTreeMap::new();
        for f in &self.m.fields {
            if f.direction == Direction::ToHubspot || !f.gorgias.writable() {
                continue;
            }
            match canonical::read_hubspot(f, r, self.region()) {
                Ok(None) => {}
                Ok(Some(v)) => match patch.set(f, Some(&v)) {
                    Ok(()) => {
                        bases.insert(f.name.clone(), Some(v.into_owned()));
                    }
                    Err(e) => out.skip(Some(&r.id), None, Some(&f.name), SkipCode::CannotWrite, e),
                },
                Err(e) => out.skip(
                    Some(&r.id),
                    None,
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("HubSpot value left out of the create: {e}"),
                ),
            }
        }
        let (fields, data) = patch.finish();
        out.gorgias_creates.push(GorgiasCreate {
            from_hubspot: r.id.clone(),
            fields,
            data,
            bases,
        });
    }

    fn create_hubspot(&self, r: &GorgiasRecord, has_email: bool, out: &mut Out) {
        if !self.m.records.create_in_hubspot {
            out.skip(
                None,
                Some(r.id),
                None,
                SkipCode::CreateDisabled,
                "no HubSpot counterpart, and records.create_in_hubspot is off",
            );
            return;
        }
        if !has_email {
            out.skip(None, Some(r.id), None, SkipCode::NoEmailForCreate, "no HubSpot counterpart, and no valid e-mail to create one without risking a duplicate");
            return;
        }
        let mut properties = BTreeMap::new();
        let mut bases = BTreeMap::new();
        for f in &self.m.fields {
            if f.direction == Direction::ToGorgias || !f.hubspot.writable() {
                continue;
            }
            match canonical::read_gorgias(f, r, self.region()) {
                // A list item has no channels: its phone is unknown, not invalid; the pair's
                // next cycle (with the full customer) fills it in.
                Ok(None) => {}
                Err(canonical::FieldError::ChannelsMissing) => {}
                Ok(Some(v)) => match canonical::write_hubspot(f, Some(&v), None, &mut properties) {
                    Ok(()) => {
                        bases.insert(f.name.clone(), Some(v.into_owned()));
                    }
                    Err(e) => out.skip(None, Some(r.id), Some(&f.name), SkipCode::CannotWrite, e),
                },
                Err(e) => out.skip(
                    None,
                    Some(r.id),
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("Gorgias value left out of the create: {e}"),
                ),
            }
        }
        out.hubspot_creates.push(HubspotCreate {
            from_gorgias: r.id,
            properties,
            bases,
        });
    }
}
