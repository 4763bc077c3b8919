//! The proposal parts of the review page: for each pending pair, the merged record as
//! survivorship would produce it (field by field: both values, the winning one, which record
//! it comes from and why), the choice of the survivor, a box per field to type a value in
//! before approving, the "Link" action for a cross-system pair, links to each record's page
//! in HubSpot and Gorgias, and the queue's filters (band, system) and paging. Pure string
//! building like `html` (whose [`escape`] every value goes through); must never read the
//! store or the request. The form fields it names (`survivor`, `set.FIELD`) are read back by
//! [`choices_from_form`].

use super::html::escape;
use crate::connectors::hubspot::Account;
use crate::domain::{RecordRef, System};
use crate::merges::merged::{self, Action, MergedPreview};
use crate::merges::{Choices, Survivorship, Why};
use crate::store::Proposal;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Prefix of the per-field override inputs.
pub const SET_PREFIX: &str = "set.";

/// Where each system shows a record, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordLinks {
    /// The HubSpot account (portal id and UI host, read once from the account details):
    /// `https://{uiDomain}/contacts/{portalId}/record/0-1/{id}`.
    pub hubspot: Option<Account>,
    /// The Gorgias account URL (`https://ACCOUNT.gorgias.com`): `{url}/app/customer/{id}`.
    pub gorgias_url: Option<String>,
}

impl RecordLinks {
    /// The links the configuration gives (the Gorgias account URL); the HubSpot account is
    /// read from its API by the caller (`review::hubspot_account`).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        RecordLinks {
            hubspot: None,
            gorgias_url: Some(settings.gorgias.base_url.clone()),
        }
    }

    /// The record's page in its system, when the account is known.
    pub fn url(&self, r: &RecordRef) -> Option<String> {
        match r {
            RecordRef::Hubspot(id) => self.hubspot.as_ref().map(|a| a.contact_url(id.as_str())),
            RecordRef::Gorgias(id) => self
                .gorgias_url
                .as_ref()
                .filter(|u| !u.contains("{domain}"))
                .map(|u| format!("{}/app/customer/{}", u.trim_end_matches('/'), id.get())),
        }
    }

    /// The record's name, linked to its page when known.
    pub fn anchor(&self, r: &RecordRef) -> String {
        let label = escape(&r.to_string());
        match self.url(r) {
            Some(u) => format!(
                "<a href=\"{}\" rel=\"noreferrer\" target=\"_blank\">{label}</a>",
                escape(&u)
            ),
            None => label,
        }
    }
}

/// The queue's filters and page, from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// `review` (below auto) or `auto` (at or above it); `None`: both.
    pub band: Option<Band>,
    /// `hubspot`, `gorgias` (pairs inside one system) or `cross` (linking pairs).
    pub system: Option<PairKind>,
    /// Zero-based page.
    pub page: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Review,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    Inside(System),
    Cross,
}

impl QueueFilter {
    /// From query parameters (unknown values are ignored).
    pub fn from_query(q: &HashMap<String, String>) -> Self {
        QueueFilter {
            band: match q.get("band").map(String::as_str) {
                Some("review") => Some(Band::Review),
                Some("auto") => Some(Band::Auto),
                _ => None,
            },
            system: match q.get("system").map(String::as_str) {
                Some("hubspot") => Some(PairKind::Inside(System::Hubspot)),
                Some("gorgias") => Some(PairKind::Inside(System::Gorgias)),
                Some("cross") => Some(PairKind::Cross),
                _ => None,
            },
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
        }
    }

    /// Whether `p` passes the filter, with `auto` the auto-merge threshold.
    pub fn admits(&self, p: &Proposal, auto: f64) -> bool {
        let band = match self.band {
            None => true,
            Some(Band::Auto) => p.score >= auto,
            Some(Band::Review) => p.score < auto,
        };
        let (x, y) = (p.pair.first().system(), p.pair.second().system());
        let kind = match self.system {
            None => true,
            Some(PairKind::Cross) => x != y,
            Some(PairKind::Inside(s)) => x == s && y == s,
        };
        band && kind
    }

    fn query(&self, page: usize) -> String {
        let mut parts = vec![];
        match self.band {
            Some(Band::Review) => parts.push("band=review".to_owned()),
            Some(Band::Auto) => parts.push("band=auto".to_owned()),
            None => {}
        }
        match self.system {
            Some(PairKind::Inside(System::Hubspot)) => parts.push("system=hubspot".into()),
            Some(PairKind::Inside(System::Gorgias)) => parts.push("system=gorgias".into()),
            Some(PairKind::Cross) => parts.push("system=cross".into()),
            None => {}
        }
        parts.push(format!("page={page}"));
        parts.join("&")
    }
}

/// The filter form and the page links; `total` proposals pass the filter.
pub fn filter_bar(base: &str, f: &QueueFilter, total: usize, page_size: usize) -> String {
    let sel = |on: bool| if on { " selected" } else { "" };
    let mut s = format!(
        "<form method=\"get\" action=\"{}\" id=\"filter\">Band <select name=\"band\">\
         <option value=\"\">all</option><option value=\"review\"{}>review</option>\
         <option value=\"auto\"{}>auto-merge</option></select> System <select name=\"system\">\
         <option value=\"\">all</option><option value=\"hubspot\"{}>HubSpot pairs</option>\
         <option value=\"gorgias\"{}>Gorgias pairs</option><option value=\"cross\"{}>HubSpot ↔ Gorgias</option>\
         </select> <button type=\"submit\">Filter</button></form>",
        escape(&super::html::home(base)),
        sel(f.band == Some(Band::Review)),
        sel(f.band == Some(Band::Auto)),
        sel(f.system == Some(PairKind::Inside(System::Hubspot))),
        sel(f.system == Some(PairKind::Inside(System::Gorgias))),
        sel(f.system == Some(PairKind::Cross)),
    );
    let pages = total.div_ceil(page_size.max(1)).max(1);
    let _ = write!(s, "<p id=\"paging\">page {} of {pages}", f.page + 1);
    let home = escape(&super::html::home(base));
    if f.page > 0 {
        let _ = write!(
            s,
            " <a id=\"prev\" href=\"{home}?{}\">previous</a>",
            escape(&f.query(f.page - 1))
        );
    }
    if f.page + 1 < pages {
        let _ = write!(
            s,
            " <a id=\"next\" href=\"{home}?{}\">next</a>",
            escape(&f.query(f.page + 1))
        );
    }
    s.push_str("</p>");
    s
}

/// How the queue shows proposals: record links, survivorship rules for the preview, the
/// filter and page from the request, the auto-merge threshold the band filter uses.
#[derive(Debug, Clone)]
pub struct ProposalView {
    pub links: RecordLinks,
    pub rules: Survivorship,
    pub filter: QueueFilter,
    pub auto_threshold: f64,
    pub page_size: usize,
}

impl Default for ProposalView {
    fn default() -> Self {
        ProposalView {
            links: RecordLinks::default(),
            rules: Survivorship::default(),
            filter: QueueFilter::default(),
            auto_threshold: crate::matcher::RECOMMENDED_AUTO_THRESHOLD,
            page_size: 200,
        }
    }
}

impl ProposalView {
    /// The proposals on the requested page (filtered, highest score first), and how many
    /// pass the filter in all.
    pub fn select<'p>(&self, all: &'p [Proposal]) -> (Vec<&'p Proposal>, usize) {
        let mut kept: Vec<&Proposal> = all
            .iter()
            .filter(|p| self.filter.admits(p, self.auto_threshold))
            .collect();
        kept.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.id.cmp(&y.id)));
        let total = kept.len();
        let size = self.page_size.max(1);
        let page = kept
            .into_iter()
            .skip(self.filter.page * size)
            .take(size)
            .collect();
        (page, total)
    }

    /// A proposal's approve part: the merged-record form, or a plain approve button when
    /// its snapshot cannot be read back.
    pub fn approve_section(&self, base: &str, csrf: &str, p: &Proposal) -> String {
        let id = p.id.0;
        match merged::records_of(&p.snapshot)
            .and_then(|(a, b)| merged::preview(&self.rules, &a, &b, &Choices::default()).ok())
        {
            Some(preview) => approve_form(base, csrf, id, &preview, &self.links),
            None => format!(
                "<form method=\"post\" action=\"{}/proposals/{id}/approve\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\" id=\"approve-{id}\">Approve</button></form>",
                escape(base),
                escape(csrf)
            ),
        }
    }
}

fn why_text(w: Option<Why>) -> String {
    w.map(Why::describe).unwrap_or_default()
}

/// The approve form of one proposal: the merged record with survivor choice and override
/// boxes (a merge), or the two records and a "Link" button (a cross-system pair).
pub fn approve_form(
    base: &str,
    csrf: &str,
    id: i64,
    preview: &MergedPreview,
    links: &RecordLinks,
) -> String {
    let (base, csrf) = (escape(base), escape(csrf));
    let mut s = format!(
        "<form method=\"post\" action=\"{base}/proposals/{id}/approve\" class=\"approve\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">"
    );
    let _ = write!(
        s,
        "<p>Records: {} and {}</p>",
        links.anchor(&preview.a),
        links.anchor(&preview.b)
    );
    if preview.action == Action::Link {
        s.push_str(
            "<p>A HubSpot contact and a Gorgias customer: approving <b>links</b> them for sync; \
             nothing is merged or deleted.</p>",
        );
        let _ = write!(
            s,
            "<button type=\"submit\" id=\"approve-{id}\">Link</button></form>"
        );
        return s;
    }
    s.push_str("<p>Survivor: ");
    for r in [&preview.a, &preview.b] {
        let checked = if preview.survivor.as_ref() == Some(r) {
            " checked"
        } else {
            ""
        };
        let value = escape(&r.to_string());
        let _ = write!(
            s,
            "<label><input type=\"radio\" name=\"survivor\" value=\"{value}\" id=\"survivor-{id}-{}\"{checked}> {value}</label> ",
            escape(&r.id_string())
        );
    }
    s.push_str("</p>");
    let _ = write!(
        s,
        "<table class=\"merged\" id=\"merged-{id}\"><tr><th>field</th><th>{}</th><th>{}</th>\
         <th>merged record</th><th>why</th><th>your value</th></tr>",
        escape(&preview.a.to_string()),
        escape(&preview.b.to_string())
    );
    for r in &preview.rows {
        let from = match &r.from {
            Some(f) if *f == preview.a => " (a)",
            Some(_) => " (b)",
            None => "",
        };
        let field = escape(&r.field);
        let _ = write!(
            s,
            "<tr><td>{field}</td><td>{}</td><td>{}</td><td class=\"value\">{}{from}</td><td>{}</td>\
             <td><input type=\"text\" name=\"{SET_PREFIX}{field}\" id=\"set-{id}-{field}\" placeholder=\"keep\"></td></tr>",
            escape(r.a.as_deref().unwrap_or("")),
            escape(r.b.as_deref().unwrap_or("")),
            escape(r.value.as_deref().unwrap_or("")),
            escape(&why_text(r.why)),
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<p>The merged record is what the survivor will hold; the other record is merged \
         into it. Values are re-read from the system when you approve.</p>\
         <button type=\"submit\" id=\"approve-{id}\">Approve (merge)</button></form>"
    );
    s
}

/// The reviewer's choices from an approve form: `survivor` (a reference of the pair) and
/// `set.FIELD` values (empty ones ignored). An unknown survivor is an error message.
pub fn choices_from_form(form: &HashMap<String, String>, p: &Proposal) -> Result<Choices, String> {
    let survivor = match form
        .get("survivor")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(v) => Some(
            [p.pair.first(), p.pair.second()]
                .into_iter()
                .find(|r| r.to_string() == v)
                .cloned()
                .ok_or_else(|| format!("{v} is not one of the pair"))?,
        ),
    };
    let overrides: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| {
            let field = k.strip_prefix(SET_PREFIX)?;
            let v = v.trim();
            (!v.is_empty() && !field.is_empty()).then(|| (field.to_owned(), v.to_owned()))
        })
        .collect();
    Ok(Choices {
        survivor,
        overrides,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use crate::merges::merged::preview;
    use crate::merges::{MergeRecord, Survivorship};
    use crate::store::{Pair, ProposalId, ProposalStatus};
    use serde_json::json;

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(HubspotId::new(id).unwrap())
    }

    fn rec(r: RecordRef, first: &str) -> MergeRecord {
        MergeRecord {
            record: r,
            created_at: None,
            updated_at: None,
            fields: BTreeMap::from([("first_name".to_owned(), first.to_owned())]),
        }
    }

    fn proposal(a: RecordRef, b: RecordRef, score: f64) -> Proposal {
        Proposal {
            id: ProposalId(4),
            pair: Pair::new(a, b).unwrap(),
            score,
            explanation: json!({}),
            snapshot: json!({}),
            status: ProposalStatus::Pending,
            created_at: chrono::Utc::now(),
            decided_at: None,
            decided_by: None,
            reason: None,
        }
    }

    #[test]
    fn merge_form_offers_survivor_and_overrides_escaped() {
        let (a, b) = (rec(h("1"), "<b>Ann</b>"), rec(h("2"), "Anne"));
        let p = preview(&Survivorship::default(), &a, &b, &Choices::default()).unwrap();
        let html = approve_form("/review", "c", 4, &p, &RecordLinks::default());
        assert!(
            html.contains("name=\"survivor\" value=\"hubspot:1\""),
            "{html}"
        );
        assert!(html.contains("name=\"set.first_name\""));
        assert!(html.contains("&lt;b&gt;Ann&lt;/b&gt;") && !html.contains("<b>Ann"));
        assert!(html.contains("Approve (merge)"));
    }

    #[test]
    fn cross_system_pair_is_linked_with_links_to_both_pages() {
        let g = RecordRef::Gorgias(GorgiasId::new(9).unwrap());
        let p = preview(
            &Survivorship::default(),
            &rec(h("1"), "Ann"),
            &rec(g.clone(), "Ann"),
            &Choices::default(),
        )
        .unwrap();
        let links = RecordLinks {
            hubspot: Some(Account {
                portal_id: 123,
                ui_domain: "app.hubspot.com".into(),
            }),
            gorgias_url: Some("https://acme.gorgias.com/".into()),
        };
        let html = approve_form("", "c", 4, &p, &links);
        assert!(html.contains(">Link</button>"), "{html}");
        assert!(html.contains("https://app.hubspot.com/contacts/123/record/0-1/1"));
        assert!(html.contains("https://acme.gorgias.com/app/customer/9"));
        assert!(!html.contains("name=\"survivor\""));
    }

    #[test]
    fn form_choices_and_filters() {
        let p = proposal(h("1"), h("2"), 0.9);
        let form: HashMap<String, String> = [
            ("survivor", "hubspot:2"),
            ("set.city", " York "),
            ("set.zip", ""),
            ("csrf", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = choices_from_form(&form, &p).unwrap();
        assert_eq!(c.survivor, Some(h("2")));
        assert_eq!(
            c.overrides,
            BTreeMap::from([("city".into(), "York".into())])
        );
        let bad: HashMap<String, String> =
            HashMap::from([("survivor".to_owned(), "hubspot:7".to_owned())]);
        assert!(choices_from_form(&bad, &p).is_err());

        let q = |pairs: &[(&str, &str)]| {
            QueueFilter::from_query(
                &pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let cross = proposal(
            h("1"),
            RecordRef::Gorgias(GorgiasId::new(3).unwrap()),
            0.995,
        );
        assert!(q(&[("band", "review")]).admits(&p, 0.99));
        assert!(!q(&[("band", "auto")]).admits(&p, 0.99));
        assert!(q(&[("system", "cross")]).admits(&cross, 0.99));
        assert!(!q(&[("system", "hubspot")]).admits(&cross, 0.99));
        assert!(q(&[("system", "hubspot")]).admits(&p, 0.99));
        let bar = filter_bar(
            "/review",
            &q(&[("band", "review"), ("page", "1")]),
            450,
            200,
        );
        assert!(bar.contains("page 2 of 3"), "{bar}");
        assert!(bar.contains("band=review&amp;page=0") && bar.contains("band=review&amp;page=2"));
    }
}
