//! Linking unlinked records: first by recorded ids (a HubSpot property holding the Gorgias id,
//! or Gorgias `external_id` holding the HubSpot id), then by normalised e-mail, then by E.164
//! phone. A key shared by several records is ambiguous: they are skipped with the reason.
//!
//! Pure. Must never guess: a link is made only when the key is unique on both sides, and an
//! e-mail that already belongs to a linked record marks a likely duplicate, not a new match.

use super::fxhash::FxMap;
use super::plan::{MatchKind, NewLink, Skip, SkipCode};
use crate::domain::{GorgiasId, HubspotId};
use std::borrow::{Borrow, Cow};
use std::collections::{HashMap, HashSet};

/// An unlinked record that may be linked, with its matching keys in canonical form.
#[derive(Debug, Clone)]
pub struct Candidate<'a, Id, Other> {
    pub id: Id,
    pub email: Option<Cow<'a, str>>,
    pub phone: Option<Cow<'a, str>>,
    /// The other side's id this record says it belongs to.
    pub claim: Option<Other>,
}

/// A HubSpot candidate.
pub type HubspotCandidate<'a> = Candidate<'a, &'a HubspotId, GorgiasId>;
/// A Gorgias candidate.
pub type GorgiasCandidate<'a> = Candidate<'a, GorgiasId, HubspotId>;

/// What happened to one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Linked to the candidate at this index on the other side.
    Linked(usize, MatchKind),
    /// No match: a counterpart may be created.
    Unmatched,
    /// Left alone, with the reason.
    Skipped(SkipCode, String),
}

/// Results, one per candidate, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linking {
    pub hubspot: Vec<Outcome>,
    pub gorgias: Vec<Outcome>,
}

/// How many open candidates of each side share a key, and the first of each.
#[derive(Clone, Copy, Default)]
struct Group {
    hn: u32,
    h: usize,
    gn: u32,
    g: usize,
}

fn groups<'k>(
    h: impl Iterator<Item = (usize, &'k str)>,
    g: impl Iterator<Item = (usize, &'k str)>,
    capacity: usize,
) -> FxMap<&'k str, Group> {
    let mut map: FxMap<&'k str, Group> =
        FxMap::with_capacity_and_hasher(capacity, Default::default());
    for (i, k) in h {
        let e = map.entry(k).or_default();
        if e.hn == 0 {
            e.h = i;
        }
        e.hn += 1;
    }
    for (i, k) in g {
        let e = map.entry(k).or_default();
        if e.gn == 0 {
            e.g = i;
        }
        e.gn += 1;
    }
    map
}

/// Links candidates. `linked_emails` holds the e-mails of records (either side) that are
/// already linked, so that a new record with one of them is reported as a likely duplicate.
/// Long (about 150 lines) on purpose: the three passes (recorded ids, e-mail, phone) share the
/// outcome vectors and each reads the verdicts of the one before; kept in one function so their
/// order reads top to bottom.
pub fn link<H: Borrow<HubspotId>>(
    hubspot: &[Candidate<'_, H, GorgiasId>],
    gorgias: &[GorgiasCandidate<'_>],
    linked_emails: &HashSet<&str>,
) -> Linking {
    let mut hs = vec![Outcome::Unmatched; hubspot.len()];
    let mut gs = vec![Outcome::Unmatched; gorgias.len()];
    let open = |o: &Outcome| matches!(o, Outcome::Unmatched);

    // 1. Recorded ids: accepted when each side of the claimed pair appears in one claim only.
    let has_claims =
        hubspot.iter().any(|c| c.claim.is_some()) || gorgias.iter().any(|c| c.claim.is_some());
    if has_claims {
        let h_by_id: HashMap<&HubspotId, usize> = hubspot
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.borrow(), i))
            .collect();
        let g_by_id: HashMap<GorgiasId, usize> =
            gorgias.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (hi, c) in hubspot.iter().enumerate() {
            if let Some(gi) = c.claim.and_then(|g| g_by_id.get(&g)) {
                pairs.push((hi, *gi));
            }
        }
        for (gi, c) in gorgias.iter().enumerate() {
            if let Some(hi) = c.claim.as_ref().and_then(|h| h_by_id.get(h)) {
                pairs.push((*hi, gi));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut hn: HashMap<usize, usize> = HashMap::new();
        let mut gn: HashMap<usize, usize> = HashMap::new();
        for (h, g) in &pairs {
            *hn.entry(*h).or_default() += 1;
            *gn.entry(*g).or_default() += 1;
        }
        for (h, g) in pairs {
            if hn.get(&h) == Some(&1) && gn.get(&g) == Some(&1) {
                hs[h] = Outcome::Linked(g, MatchKind::RecordedId);
                gs[g] = Outcome::Linked(h, MatchKind::RecordedId);
            }
        }
    }

    // 2. E-mail.
    let by_email = groups(
        hubspot
            .iter()
            .enumerate()
            .filter(|(i, _)| open(&hs[*i]))
            .filter_map(|(i, c)| c.email.as_deref().map(|e| (i, e))),
        gorgias
            .iter()
            .enumerate()
            .filter(|(i, _)| open(&gs[*i]))
            .filter_map(|(i, c)| c.email.as_deref().map(|e| (i, e))),
        hubspot.len().max(gorgias.len()),
    );
    for grp in by_email.values() {
        if grp.hn == 1 && grp.gn == 1 {
            hs[grp.h] = Outcome::Linked(grp.g, MatchKind::Email);
            gs[grp.g] = Outcome::Linked(grp.h, MatchKind::Email);
        }
    }
    let email_verdict = |key: &str| -> Option<(SkipCode, String)> {
        let grp = by_email.get(key)?;
        if grp.hn > 1 || grp.gn > 1 {
            Some((
                SkipCode::AmbiguousMatch,
                format!(
                    "{} HubSpot and {} Gorgias unlinked records share this e-mail; merge the duplicates first",
                    grp.hn, grp.gn
                ),
            ))
        } else if linked_emails.contains(key) {
            Some((
                SkipCode::DuplicateOfLinked,
                "this e-mail already belongs to a linked record: likely a duplicate".to_owned(),
            ))
        } else {
            None
        }
    };
    for (i, c) in hubspot.iter().enumerate() {
        if let (true, Some(e)) = (open(&hs[i]), c.email.as_deref()) {
            if let Some((code, why)) = email_verdict(e) {
                hs[i] = Outcome::Skipped(code, why);
            }
        }
    }
    for (i, c) in gorgias.iter().enumerate() {
        if let (true, Some(e)) = (open(&gs[i]), c.email.as_deref()) {
            if let Some((code, why)) = email_verdict(e) {
                gs[i] = Outcome::Skipped(code, why);
            }
        }
    }
    drop(by_email);

    // 3. Phone, for records still open, unless their e-mails contradict.
    let by_phone = groups(
        hubspot
            .iter()
            .enumerate()
            .filter(|(i, _)| open(&hs[*i]))
            .filter_map(|(i, c)| c.phone.as_deref().map(|p| (i, p))),
        gorgias
            .iter()
            .enumerate()
            .filter(|(i, _)| open(&gs[*i]))
            .filter_map(|(i, c)| c.phone.as_deref().map(|p| (i, p))),
        0,
    );
    for grp in by_phone.values() {
        if grp.hn == 1 && grp.gn == 1 {
            let contradict = matches!(
                (hubspot.get(grp.h).and_then(|c| c.email.as_ref()), gorgias.get(grp.g).and_then(|c| c.email.as_ref())),
                (Some(a), Some(b)) if a != b
            );
            if !contradict {
                hs[grp.h] = Outcome::Linked(grp.g, MatchKind::Phone);
                gs[grp.g] = Outcome::Linked(grp.h, MatchKind::Phone);
            }
        }
    }
    let phone_verdict = |key: &str| -> Option<String> {
        let grp = by_phone.get(key)?;
        (grp.hn >= 1 && grp.gn >= 1 && !(grp.hn == 1 && grp.gn == 1)).then(|| {
            format!(
                "{} HubSpot and {} Gorgias unlinked records share this phone and no e-mail decides; review them",
                grp.hn, grp.gn
            )
        })
    };
    for (i, c) in hubspot.iter().enumerate() {
        if let (true, Some(p)) = (open(&hs[i]), c.phone.as_deref()) {
            if let Some(why) = phone_verdict(p) {
                hs[i] = Outcome::Skipped(SkipCode::AmbiguousMatch, why);
            }
        }
    }
    for (i, c) in gorgias.iter().enumerate() {
        if let (true, Some(p)) = (open(&gs[i]), c.phone.as_deref()) {
            if let Some(why) = phone_verdict(p) {
                gs[i] = Outcome::Skipped(SkipCode::AmbiguousMatch, why);
            }
        }
    }
    Linking {
        hubspot: hs,
        gorgias: gs,
    }
}

/// Matching keys of a HubSpot record, owned: for linking large sets without holding records.
pub type HubspotKeys = Candidate<'static, HubspotId, GorgiasId>;
/// Matching keys of a Gorgias record, owned.
pub type GorgiasKeys = Candidate<'static, GorgiasId, HubspotId>;

/// The outcome of [`link_keys`], sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyLinking {
    pub links: Vec<NewLink>,
    /// Records with no counterpart: pass them to [`super::plan`] to plan creates.
    pub unmatched_hubspot: Vec<HubspotId>,
    pub unmatched_gorgias: Vec<GorgiasId>,
    pub skips: Vec<Skip>,
}

/// Links two sets of unlinked records by their keys alone (built with
/// [`super::hubspot_keys`] / [`super::gorgias_keys`] while paging through each system), so
/// that an initial linking of millions of records never holds the records themselves. The
/// new pairs' fields are then planned in batches by [`super::plan`] with empty bases.
/// `linked_emails`: e-mails of records already linked (empty on a first run).
pub fn link_keys(
    hubspot: &[HubspotKeys],
    gorgias: &[GorgiasKeys],
    linked_emails: &HashSet<&str>,
) -> KeyLinking {
    let r = link(hubspot, gorgias, linked_emails);
    let mut out = KeyLinking::default();
    for (c, o) in hubspot.iter().zip(&r.hubspot) {
        match o {
            Outcome::Linked(gi, kind) => {
                let Some(g) = gorgias.get(*gi) else { continue };
                let key = match kind {
                    MatchKind::RecordedId => format!("{}/{}", c.id, g.id),
                    MatchKind::Email => c.email.as_deref().unwrap_or_default().to_owned(),
                    MatchKind::Phone => g.phone.as_deref().unwrap_or_default().to_owned(),
                };
                out.links.push(NewLink {
                    hubspot_id: c.id.clone(),
                    gorgias_id: g.id,
                    matched_by: *kind,
                    key,
                });
            }
            Outcome::Unmatched => out.unmatched_hubspot.push(c.id.clone()),
            Outcome::Skipped(code, why) => out.skips.push(Skip {
                hubspot_id: Some(c.id.clone()),
                gorgias_id: None,
                field: None,
                code: *code,
                reason: Cow::Owned(why.clone()),
            }),
        }
    }
    for (c, o) in gorgias.iter().zip(&r.gorgias) {
        match o {
            Outcome::Linked(..) => {}
            Outcome::Unmatched => out.unmatched_gorgias.push(c.id),
            Outcome::Skipped(code, why) => out.skips.push(Skip {
                hubspot_id: None,
                gorgias_id: Some(c.id),
                field: None,
                code: *code,
                reason: Cow::Owned(why.clone()),
            }),
        }
    }
    out.links.sort();
    out.unmatched_hubspot.sort();
    out.unmatched_gorgias.sort();
    out.skips.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(
        id: &'a HubspotId,
        email: Option<&'a str>,
        phone: Option<&'a str>,
        claim: Option<i64>,
    ) -> HubspotCandidate<'a> {
        Candidate {
            id,
            email: email.map(Cow::Borrowed),
            phone: phone.map(Cow::Borrowed),
            claim: claim.map(|c| GorgiasId::new(c).unwrap()),
        }
    }
    fn g<'a>(
        id: i64,
        email: Option<&'a str>,
        phone: Option<&'a str>,
        claim: Option<&str>,
    ) -> GorgiasCandidate<'a> {
        Candidate {
            id: GorgiasId::new(id).unwrap(),
            email: email.map(Cow::Borrowed),
            phone: phone.map(Cow::Borrowed),
            claim: claim.map(|c| HubspotId::new(c).unwrap()),
        }
    }

    #[test]
    fn links_by_unique_email_then_phone() {
        let ids: Vec<HubspotId> = (1..=3)
            .map(|i| HubspotId::new(i.to_string()).unwrap())
            .collect();
        let hc = [
            h(&ids[0], Some("a@x.co"), None, None),
            h(&ids[1], None, Some("+1"), None),
            h(&ids[2], Some("c@x.co"), None, None),
        ];
        let gc = [
            g(10, Some("a@x.co"), None, None),
            g(11, Some("b@x.co"), Some("+1"), None),
        ];
        let r = link(&hc, &gc, &HashSet::new());
        assert_eq!(r.hubspot[0], Outcome::Linked(0, MatchKind::Email));
        assert_eq!(r.hubspot[1], Outcome::Linked(1, MatchKind::Phone));
        assert_eq!(r.hubspot[2], Outcome::Unmatched);
        assert_eq!(r.gorgias[1], Outcome::Linked(1, MatchKind::Phone));
    }

    #[test]
    fn shared_keys_are_ambiguous_and_never_guessed() {
        let ids: Vec<HubspotId> = (1..=2)
            .map(|i| HubspotId::new(i.to_string()).unwrap())
            .collect();
        let hc = [
            h(&ids[0], Some("a@x.co"), None, None),
            h(&ids[1], Some("a@x.co"), None, None),
        ];
        let gc = [g(10, Some("a@x.co"), None, None)];
        let r = link(&hc, &gc, &HashSet::new());
        assert!(
            r.hubspot
                .iter()
                .chain(&r.gorgias)
                .all(|o| matches!(o, Outcome::Skipped(SkipCode::AmbiguousMatch, _)))
        );
    }

    #[test]
    fn contradicting_emails_block_a_phone_match() {
        let id = HubspotId::new("1").unwrap();
        let r = link(
            &[h(&id, Some("a@x.co"), Some("+1"), None)],
            &[g(10, Some("b@x.co"), Some("+1"), None)],
            &HashSet::new(),
        );
        assert_eq!(r.hubspot[0], Outcome::Unmatched);
        assert_eq!(r.gorgias[0], Outcome::Unmatched);
    }

    #[test]
    fn recorded_ids_win_over_emails_and_duplicates_are_flagged() {
        let ids: Vec<HubspotId> = (1..=2)
            .map(|i| HubspotId::new(i.to_string()).unwrap())
            .collect();
        let hc = [
            h(&ids[0], Some("a@x.co"), None, Some(11)),
            h(&ids[1], Some("d@x.co"), None, None),
        ];
        let gc = [
            g(10, Some("a@x.co"), None, None),
            g(11, Some("other@x.co"), None, Some("1")),
        ];
        let linked: HashSet<&str> = ["d@x.co"].into_iter().collect();
        let r = link(&hc, &gc, &linked);
        assert_eq!(r.hubspot[0], Outcome::Linked(1, MatchKind::RecordedId));
        assert_eq!(r.gorgias[0], Outcome::Unmatched);
        assert!(matches!(
            r.hubspot[1],
            Outcome::Skipped(SkipCode::DuplicateOfLinked, _)
        ));
    }
}
