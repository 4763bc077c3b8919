//! [`KeyReader`]: the matching keys of records, read with the same exclusions and filters as
//! [`super::plan`], for linking by keys alone ([`crate::engine::link::link_keys`]).
//!
//! Pure: must never read the clock or do I/O.

use super::*;

/// Reads the matching keys of records for [`crate::engine::link::link_keys`], applying the same
/// exclusions and filters as [`plan`].
pub struct KeyReader<'a> {
    ctx: Ctx<'a>,
    excluded: &'a Excluded,
}

impl<'a> KeyReader<'a> {
    pub fn new(mappings: &'a MappingSet, options: &'a Options, excluded: &'a Excluded) -> Self {
        Self {
            ctx: Ctx::new(mappings, options, &[]),
            excluded,
        }
    }

    fn owned<X, I, O>(c: Candidate<'_, X, O>, id: I) -> Candidate<'static, I, O> {
        Candidate {
            id,
            email: c.email.map(|e| Cow::Owned(e.into_owned())),
            phone: c.phone.map(|p| Cow::Owned(p.into_owned())),
            claim: c.claim,
        }
    }

    /// The keys of an unlinked HubSpot record, or why it does not take part.
    pub fn hubspot(&self, r: &HubspotRecord) -> Result<link::HubspotKeys, Skip> {
        let skip = |code, reason: Cow<'static, str>| Skip {
            hubspot_id: Some(r.id.clone()),
            gorgias_id: None,
            field: None,
            code,
            reason,
        };
        if self.excluded.hubspot.contains(&r.id) {
            return Err(skip(
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated".into(),
            ));
        }
        self.ctx
            .hubspot_passes(r)
            .map_err(|why| skip(SkipCode::FilteredOut, Cow::Owned(why)))?;
        let c = self.ctx.hubspot_candidate(r);
        let claim = c.claim;
        Ok(Self::owned(
            Candidate {
                id: (),
                email: c.email,
                phone: c.phone,
                claim,
            },
            r.id.clone(),
        ))
    }

    /// The keys of an unlinked Gorgias record, or why it does not take part.
    pub fn gorgias(&self, r: &GorgiasRecord) -> Result<link::GorgiasKeys, Skip> {
        let skip = |code, reason: Cow<'static, str>| Skip {
            hubspot_id: None,
            gorgias_id: Some(r.id),
            field: None,
            code,
            reason,
        };
        if self.excluded.gorgias.contains(&r.id) {
            return Err(skip(
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated".into(),
            ));
        }
        self.ctx
            .gorgias_passes(r)
            .map_err(|why| skip(SkipCode::FilteredOut, Cow::Owned(why)))?;
        let c = self.ctx.gorgias_candidate(r);
        Ok(Self::owned(c, r.id))
    }
}
