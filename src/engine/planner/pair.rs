//! Diffing one linked pair: every mapped field compared with its base, the decision taken
//! (write, conflict, skip), and the writes, base moves and field changes recorded.
//!
//! Pure: must never read the clock, do I/O or depend on input order.

use super::*;

/// One field's canonical values, HubSpot's then Gorgias's (`None`: empty).
type CanonPair<'x> = (Option<Cow<'x, str>>, Option<Cow<'x, str>>);

/// The writes of one pair, gathered field by field: the HubSpot properties and the Gorgias
/// patch, each with the bases that move when it succeeds.
#[derive(Default)]
struct Writes {
    props: BTreeMap<String, String>,
    h_bases: BTreeMap<String, Option<String>>,
    patch: Option<GorgiasPatch>,
    g_bases: BTreeMap<String, Option<String>>,
}

impl<'a> Ctx<'a> {
    /// Diffs every mapped field of one linked pair and records the writes.
    pub(super) fn diff_pair(
        &self,
        h: &HubspotRecord,
        g: &GorgiasRecord,
        base: &Base,
        out: &mut Out,
    ) {
        let mut w = Writes::default();
        for f in &self.m.fields {
            let b = base.get(&f.name).map(String::as_str);
            let Some((hv, gv)) = self.canon_pair(f, h, g, b, &mut w, out) else {
                continue;
            };
            self.decide_field(f, h, g, b, (hv.as_deref(), gv.as_deref()), &mut w, out);
        }
        if !w.props.is_empty() {
            out.hubspot_updates.push(HubspotUpdate {
                id: h.id.clone(),
                gorgias_id: g.id,
                properties: w.props,
                bases: w.h_bases,
            });
        } else {
            move_bases(h, g, w.h_bases, out);
        }
        let (fields, data) = w.patch.map(GorgiasPatch::finish).unwrap_or_default();
        if !fields.is_empty() || data.is_some() {
            out.gorgias_updates.push(GorgiasUpdate {
                id: g.id,
                hubspot_id: h.id.clone(),
                fields,
                data,
                bases: w.g_bases,
            });
        } else {
            move_bases(h, g, w.g_bases, out);
        }
    }

    /// The canonical values of one field on both sides, or `None` when the field is done:
    /// unchanged (the same text on both sides, equal to the base), skipped (a value that does
    /// not fit, channels not loaded), or written one way over an unreadable target.
    /// Long (about 120 lines) on purpose: one decision table over (HubSpot value, Gorgias value,
    /// direction); split, its arms would no longer read as one table.
    fn canon_pair<'x>(
        &self,
        f: &'x FieldMapping,
        h: &'x HubspotRecord,
        g: &'x GorgiasRecord,
        b: Option<&str>,
        w: &mut Writes,
        out: &mut Out,
    ) -> Option<CanonPair<'x>> {
        let ht = hubspot_text(f, h);
        let gt = gorgias_text(f, g);
        // Fast path: the same text on both sides has the same canonical value, and when
        // it is the base itself nothing can change.
        let same_form = f.values.is_none() && f.hubspot_format == f.gorgias_format;
        if same_form {
            if let Ok(gt) = &gt {
                if ht.as_deref() == gt.as_deref() && ht.is_some() && ht.as_deref() == b {
                    return None;
                }
            }
        }
        // Channels not loaded (a list item) while HubSpot has a value the base lacks: the
        // change is pending and cannot be compared; skip before parsing anything.
        if let Err(e @ canonical::FieldError::ChannelsMissing) = &gt {
            if f.direction == Direction::Both && ht.is_some() && b.is_none() {
                out.skip(
                    Some(&h.id),
                    Some(g.id),
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("Gorgias value does not fit: {e}"),
                );
                return None;
            }
        }
        let region = self.region();
        let hv = canonical::hubspot_canon(f, ht, region);
        let gv = match gt {
            Ok(t) => canonical::gorgias_canon(f, t, region),
            Err(e) => Err(e),
        };
        let (hv, gv) = match (hv, gv, f.direction) {
            (Ok(hv), Ok(gv), _) => (hv, gv),
            (Err(e), _, Direction::Both | Direction::ToGorgias) => {
                out.skip(
                    Some(&h.id),
                    Some(g.id),
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("HubSpot value does not fit: {e}"),
                );
                return None;
            }
            // Channels not loaded and nothing pending on HubSpot: nothing to say.
            (Ok(hv), Err(canonical::FieldError::ChannelsMissing), Direction::Both)
                if hv.as_deref() == b =>
            {
                return None;
            }
            (_, Err(e), Direction::Both | Direction::ToHubspot) => {
                out.skip(
                    Some(&h.id),
                    Some(g.id),
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("Gorgias value does not fit: {e}"),
                );
                return None;
            }
            // One-way with an unreadable target: the source overwrites it.
            (Ok(hv), Err(_), Direction::ToGorgias) => {
                let v = hv.as_deref();
                self.write(
                    f,
                    h,
                    g,
                    (v, None, b),
                    (
                        System::Gorgias,
                        v,
                        crate::engine::resolve::Cause::OneWay,
                        "one-way field; the Gorgias value did not fit",
                    ),
                    &mut w.props,
                    &mut w.h_bases,
                    &mut w.patch,
                    &mut w.g_bases,
                    out,
                    true,
                );
                return None;
            }
            (Err(_), Ok(gv), Direction::ToHubspot) => {
                let v = gv.as_deref();
                self.write(
                    f,
                    h,
                    g,
                    (None, v, b),
                    (
                        System::Hubspot,
                        v,
                        crate::engine::resolve::Cause::OneWay,
                        "one-way field; the HubSpot value did not fit",
                    ),
                    &mut w.props,
                    &mut w.h_bases,
                    &mut w.patch,
                    &mut w.g_bases,
                    out,
                    true,
                );
                return None;
            }
        };
        Some((hv, gv))
    }

    /// Decides one field of a pair from its canonical values and base (a person's review
    /// first), and records the write, base move or held conflict.
    #[allow(clippy::too_many_arguments)]
    fn decide_field(
        &self,
        f: &FieldMapping,
        h: &HubspotRecord,
        g: &GorgiasRecord,
        b: Option<&str>,
        (hv, gv): (Option<&str>, Option<&str>),
        w: &mut Writes,
        out: &mut Out,
    ) {
        let state = FieldState {
            hubspot: hv,
            gorgias: gv,
            base: b,
            hubspot_updated: h.updated_at,
            gorgias_updated: g.updated_at,
        };
        let review = match self.reviews.get(&(&h.id, g.id, f.name.as_str())) {
            Some(Choice::Take(side)) => Some(*side),
            Some(Choice::Value(v)) => {
                let v = Some(v.as_str()).filter(|v| !v.is_empty());
                self.write_value(
                    f,
                    (h, g),
                    &state,
                    v,
                    &mut w.props,
                    &mut w.h_bases,
                    &mut w.patch,
                    &mut w.g_bases,
                    out,
                );
                return;
            }
            None => None,
        };
        match decide(f.direction, f.conflict, review, &state) {
            Decision::Nothing => {}
            Decision::Base(v) => out.base_updates.push(BaseUpdate {
                hubspot_id: h.id.clone(),
                gorgias_id: g.id,
                field: f.name.clone(),
                value: v.map(str::to_owned),
            }),
            Decision::Held => out.conflicts.push(Conflict {
                hubspot_id: h.id.clone(),
                gorgias_id: g.id,
                field: f.name.clone(),
                hubspot: state.hubspot.map(str::to_owned),
                gorgias: state.gorgias.map(str::to_owned),
                base: b.map(str::to_owned),
                hubspot_updated_at: h.updated_at,
                gorgias_updated_at: g.updated_at,
            }),
            Decision::Write {
                to,
                value,
                cause,
                winner_note,
            } => {
                let target_nonempty = match to {
                    System::Hubspot => state.hubspot.is_some(),
                    System::Gorgias => state.gorgias.is_some(),
                };
                self.write(
                    f,
                    h,
                    g,
                    (state.hubspot, state.gorgias, b),
                    (to, value, cause, winner_note),
                    &mut w.props,
                    &mut w.h_bases,
                    &mut w.patch,
                    &mut w.g_bases,
                    out,
                    target_nonempty,
                );
            }
        }
    }

    /// A reviewer's own value (`Choice::Value`): written to each side that does not hold
    /// it; when both already do, only the base moves.
    #[allow(clippy::too_many_arguments)]
    fn write_value(
        &self,
        f: &FieldMapping,
        (h, g): (&HubspotRecord, &GorgiasRecord),
        state: &FieldState<'_>,
        v: Option<&str>,
        props: &mut BTreeMap<String, String>,
        h_bases: &mut BTreeMap<String, Option<String>>,
        patch: &mut Option<GorgiasPatch>,
        g_bases: &mut BTreeMap<String, Option<String>>,
        out: &mut Out,
    ) {
        let mut wrote = false;
        for (to, now) in [
            (System::Hubspot, state.hubspot),
            (System::Gorgias, state.gorgias),
        ] {
            if now != v {
                wrote = true;
                self.write(
                    f,
                    h,
                    g,
                    (state.hubspot, state.gorgias, state.base),
                    (
                        to,
                        v,
                        crate::engine::resolve::Cause::ReviewDecision,
                        "reviewer's value",
                    ),
                    props,
                    h_bases,
                    patch,
                    g_bases,
                    out,
                    now.is_some(),
                );
            }
        }
        if !wrote && v != state.base {
            out.base_updates.push(BaseUpdate {
                hubspot_id: h.id.clone(),
                gorgias_id: g.id,
                field: f.name.clone(),
                value: v.map(str::to_owned),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        f: &FieldMapping,
        h: &HubspotRecord,
        g: &GorgiasRecord,
        seen: (Option<&str>, Option<&str>, Option<&str>),
        what: (
            System,
            Option<&str>,
            crate::engine::resolve::Cause,
            &'static str,
        ),
        props: &mut BTreeMap<String, String>,
        h_bases: &mut BTreeMap<String, Option<String>>,
        patch: &mut Option<GorgiasPatch>,
        g_bases: &mut BTreeMap<String, Option<String>>,
        out: &mut Out,
        overwrites: bool,
    ) {
        let (to, value, cause, note) = what;
        let result = match to {
            System::Hubspot => canonical::write_hubspot(f, value, Some(h), props),
            System::Gorgias => patch
                .get_or_insert_with(|| GorgiasPatch::new(Some(g)))
                .set(f, value),
        };
        if let Err(e) = result {
            out.skip(
                Some(&h.id),
                Some(g.id),
                Some(&f.name),
                SkipCode::CannotWrite,
                format!("cannot write to {}: {e}", side_name(to)),
            );
            return;
        }
        let bases = if to == System::Hubspot {
            h_bases
        } else {
            g_bases
        };
        bases.insert(f.name.clone(), value.map(str::to_owned));
        out.changes.push(FieldChange {
            hubspot_id: h.id.clone(),
            gorgias_id: g.id,
            field: f.name.clone(),
            target: to,
            hubspot: seen.0.map(str::to_owned),
            gorgias: seen.1.map(str::to_owned),
            base: seen.2.map(str::to_owned),
            value: value.map(str::to_owned),
            overwrites,
            cause,
            reason: Cow::Borrowed(note),
        });
    }
}

/// Bases planned with a write that turned out empty move with no write.
fn move_bases(
    h: &HubspotRecord,
    g: &GorgiasRecord,
    bases: BTreeMap<String, Option<String>>,
    out: &mut Out,
) {
    for (field, value) in bases {
        out.base_updates.push(BaseUpdate {
            hubspot_id: h.id.clone(),
            gorgias_id: g.id,
            field,
            value,
        });
    }
}
