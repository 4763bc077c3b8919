//! `tether explain EMAIL|ID [--field F]`: for one customer, the link, each mapped field's
//! HubSpot value, Gorgias value and base, what the engine would do and why, and the history
//! of decisions and writes from the audit log.
//!
//! The customer is named by (see docs/reports.md):
//! - an e-mail (`jane@shop.test`), looked up among the records the sync has seen;
//! - a HubSpot contact id: `101`, `hubspot:101` or `h:101`;
//! - a Gorgias customer id: `gorgias:7`, `g:7`, or a bare `7` with `--system gorgias`.
//!
//! Edge code: loads the configuration and mappings, opens the store **read-only**, reads the
//! two records through the connectors (GET only), and hands everything to the pure
//! [`crate::report::explain`]. Must never write to either system or to the store. Exit codes:
//! 2 when the argument is neither an e-mail nor an id (or `--field` names no mapped field),
//! 1 when the customer is not found.

use super::{Global, UsageError};
use crate::connectors::gorgias::{Customer, GorgiasClient, GorgiasConfig, GorgiasError};
use crate::connectors::hubspot::{Contact, HubspotClient, HubspotConfig};
use crate::domain::{Email, GorgiasId, HubspotId, RecordRef};
use crate::engine::{self, GorgiasRecord, HubspotRecord, Options};
use crate::mappings::{self, HubspotAccess, MappingSet};
use crate::report::explain::{self as view, Facts, HistoryItem};
use crate::report::{RenderOptions, color_wanted};
use crate::store::StateStore;
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Which system a bare numeric id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum SystemArg {
    Hubspot,
    Gorgias,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The customer: an e-mail, a HubSpot contact id (`101`, `h:101`, `hubspot:101`) or a
    /// Gorgias customer id (`g:7`, `gorgias:7`, or `7 --system gorgias`).
    #[arg(value_name = "EMAIL|ID")]
    pub subject: String,
    /// Show only this mapped field (its canonical name, e.g. `email`).
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
    /// The system a bare numeric id belongs to (default: hubspot).
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub system: Option<SystemArg>,
    /// Print one JSON object (`tether.explain/1`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Email(Email),
    Record(RecordRef),
}

/// Parses the `EMAIL|ID` argument; `Err` is the message for a usage error.
pub fn parse_subject(raw: &str, system: Option<SystemArg>) -> Result<Subject, String> {
    let s = raw.trim();
    let hint =
        "expected an e-mail (jane@shop.test), a HubSpot id (101 or h:101) or a Gorgias id (g:7)";
    if s.contains('@') {
        if system.is_some() {
            return Err("--system only applies to a bare numeric id, not to an e-mail".into());
        }
        return Email::parse(s)
            .map(Subject::Email)
            .map_err(|e| format!("{raw:?} is not a valid e-mail: {e}"));
    }
    let (prefixed, id) = match s.split_once(':') {
        Some((p, id)) => match p.to_ascii_lowercase().as_str() {
            "h" | "hubspot" => (Some(SystemArg::Hubspot), id),
            "g" | "gorgias" => (Some(SystemArg::Gorgias), id),
            _ => return Err(format!("{raw:?}: unknown prefix {p:?}; {hint}")),
        },
        None => (None, s),
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{raw:?} is neither an e-mail nor an id; {hint}"));
    }
    let which = match (prefixed, system) {
        (Some(p), Some(s)) if p != s => {
            return Err(format!("{raw:?} names a {p:?} id but --system says {s:?}"));
        }
        (Some(p), _) => p,
        (None, s) => s.unwrap_or(SystemArg::Hubspot),
    };
    match which {
        SystemArg::Hubspot => HubspotId::new(id)
            .map(|h| Subject::Record(RecordRef::Hubspot(h)))
            .map_err(|e| format!("{raw:?}: {e}")),
        SystemArg::Gorgias => id
            .parse::<i64>()
            .map_err(|e| e.to_string())
            .and_then(|n| GorgiasId::new(n).map_err(|e| e.to_string()))
            .map(|g| Subject::Record(RecordRef::Gorgias(g)))
            .map_err(|e| format!("{raw:?} is not a Gorgias customer id: {e}")),
    }
}

/// HubSpot properties the mappings read.
fn hubspot_properties(m: &MappingSet) -> Vec<String> {
    let mut props: Vec<String> = m
        .fields
        .iter()
        .flat_map(|f| match &f.hubspot {
            HubspotAccess::Id => vec![],
            HubspotAccess::Property(p) => vec![p.clone()],
            HubspotAccess::Join(a, b) => vec![a.clone(), b.clone()],
        })
        .collect();
    props.sort();
    props.dedup();
    props
}

fn hubspot_record(c: Contact) -> anyhow::Result<HubspotRecord> {
    Ok(HubspotRecord {
        id: HubspotId::new(c.id.clone())
            .with_context(|| format!("HubSpot answered with an invalid contact id {:?}", c.id))?,
        updated_at: c.updated_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        properties: c.properties,
    })
}

fn gorgias_record(c: Customer) -> anyhow::Result<GorgiasRecord> {
    Ok(GorgiasRecord {
        id: GorgiasId::new(c.id)
            .with_context(|| format!("Gorgias answered with an invalid customer id {}", c.id))?,
        updated_at: c
            .updated_datetime
            .or(c.created_datetime)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        fields: serde_json::to_value(&c).context("cannot read the Gorgias customer")?,
    })
}

/// A stored base value as the engine's canonical string (`null` = empty).
fn base_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The ids the subject leads to, with the store's link and history.
#[derive(Default)]
struct Resolved {
    hubspot: Option<HubspotId>,
    gorgias: Option<GorgiasId>,
    link: Option<engine::Link>,
    history: Vec<HistoryItem>,
    /// Pending resolutions of this pair's held conflicts.
    resolutions: Vec<engine::Resolution>,
}

/// Long (about 105 lines): finds the pair from either side (by id or e-mail, then the link,
/// then the partner seen with the e-mail); each fallback is a few lines.
async fn resolve(store: Option<&dyn StateStore>, subject: &Subject) -> anyhow::Result<Resolved> {
    let mut out = Resolved::default();
    let refs: Vec<RecordRef> = match subject {
        Subject::Record(r) => vec![r.clone()],
        Subject::Email(e) => {
            let Some(store) = store else {
                bail!(
                    "no customer with e-mail {e} is known: the store does not exist yet (run a sync, or pass an id)"
                );
            };
            let mut refs = store.records_with_email(e).await?;
            refs.extend(
                store
                    .records_with_key(&format!("email:{}", e.as_str()))
                    .await?,
            );
            refs.sort();
            refs.dedup();
            if refs.is_empty() {
                bail!(
                    "no customer with e-mail {e} has been seen by a sync (pass an id to look it up directly)"
                );
            }
            refs
        }
    };
    let (mut hs, mut gs) = (vec![], vec![]);
    for r in refs {
        let r = match store {
            Some(s) => s.resolve(&r).await?,
            None => r,
        };
        match r {
            RecordRef::Hubspot(h) => hs.push(h),
            RecordRef::Gorgias(g) => gs.push(g),
        }
    }
    hs.dedup();
    gs.dedup();
    if hs.len() > 1 || gs.len() > 1 {
        let ids: Vec<String> = hs
            .iter()
            .map(|h| format!("h:{h}"))
            .chain(gs.iter().map(|g| format!("g:{g}")))
            .collect();
        return Err(UsageError(format!(
            "{} records share this e-mail: {}; pass one id",
            ids.len(),
            ids.join(", ")
        ))
        .into());
    }
    out.hubspot = hs.pop();
    out.gorgias = gs.pop();
    let Some(store) = store else {
        return Ok(out);
    };
    let link = match (&out.hubspot, out.gorgias) {
        (Some(h), _) => store.link_by_hubspot(h).await?,
        (None, Some(g)) => store.link_by_gorgias(g).await?,
        (None, None) => None,
    };
    let link = match (link, &out.hubspot, out.gorgias) {
        // A seen Gorgias record with the e-mail but no link: look from its side too.
        (None, Some(_), Some(g)) => store.link_by_gorgias(g).await?,
        (l, _, _) => l,
    };
    if let Some(l) = &link {
        // The link decides the pair; an e-mail match on the other side is only a candidate.
        if out.hubspot.as_ref().is_some_and(|h| *h == l.hubspot) || out.gorgias == Some(l.gorgias) {
            out.hubspot = Some(l.hubspot.clone());
            out.gorgias = Some(l.gorgias);
        }
        let bases = store.bases(l.id).await?;
        out.link = Some(engine::Link {
            hubspot_id: l.hubspot.clone(),
            gorgias_id: l.gorgias,
            base: bases_from_store(&bases),
        });
    }
    let mut sides = vec![];
    if let Some(h) = &out.hubspot {
        sides.push(RecordRef::Hubspot(h.clone()));
    }
    if let Some(g) = out.gorgias {
        sides.push(RecordRef::Gorgias(g));
    }
    if let Some(l) = &out.link {
        let pending = store.pending_resolutions().await?;
        out.resolutions = crate::cycle::conflicts::resolutions(&pending)
            .into_iter()
            .filter(|r| r.hubspot_id == l.hubspot_id && r.gorgias_id == l.gorgias_id)
            .collect();
    }
    for r in sides {
        out.history.extend(
            store
                .audit_for(&r)
                .await?
                .into_iter()
                .map(HistoryItem::from),
        );
    }
    Ok(out)
}

/// Long (about 110 lines): the command's wiring in order (parse, load, open read-only, resolve,
/// read both sides, plan, render), each step a few lines.
pub async fn run(global: &Global, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let subject = parse_subject(&args.subject, args.system).map_err(UsageError)?;
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let mappings = mappings::load_dir(&settings.mappings.dir).map_err(|e| {
        UsageError(format!(
            "the mappings in {} are not valid:\n{e}",
            settings.mappings.dir.display()
        ))
    })?;
    if let Some(f) = &args.field {
        if mappings.field(f).is_none() {
            let names: Vec<&str> = mappings.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(UsageError(format!(
                "--field {f:?} is not a mapped field; mapped fields: {}",
                names.join(", ")
            ))
            .into());
        }
    }
    let store = match super::open_store::reader(&settings.store).await {
        Ok(s) => Some(s),
        Err(e) if e.is_missing() => None,
        Err(e) => return Err(e).context("cannot read the state store"),
    };
    let resolved = resolve(store.as_deref(), &subject).await;
    if let Some(s) = store {
        s.close().await;
    }
    let resolved = resolved?;

    let hubspot = match &resolved.hubspot {
        Some(id) => {
            let client = HubspotClient::new(HubspotConfig::from_settings(&settings.hubspot))
                .context("cannot set up the HubSpot client")?;
            let props = hubspot_properties(&mappings);
            let props: Vec<&str> = props.iter().map(String::as_str).collect();
            let contact = client
                .get(id.as_str(), &props)
                .await
                .with_context(|| format!("cannot read HubSpot contact {id}"))?;
            contact.map(hubspot_record).transpose()?
        }
        None => None,
    };
    let gorgias = match resolved.gorgias {
        Some(id) => {
            let client = GorgiasClient::new(
                GorgiasConfig::from_settings(&settings.gorgias)
                    .map_err(|e| UsageError(e.to_string()))?,
            )
            .context("cannot set up the Gorgias client")?;
            match client.get(id.get()).await {
                Ok(c) => Some(gorgias_record(c)?),
                Err(GorgiasError::NotFound { .. }) => None,
                Err(e) => {
                    return Err(anyhow!(e))
                        .with_context(|| format!("cannot read Gorgias customer {id}"));
                }
            }
        }
        None => None,
    };
    if hubspot.is_none() && gorgias.is_none() && resolved.link.is_none() {
        bail!(
            "customer {} not found in HubSpot or Gorgias",
            args.subject.trim()
        );
    }
    let options = Options {
        default_region: settings.default_region(),
        max_creates: settings.sync.max_creates as usize,
        max_overwrites: settings.sync.max_overwrites as usize,
        allow_large: true,
    };
    let facts = Facts {
        subject: args.subject.trim(),
        hubspot_id: resolved.hubspot.as_ref(),
        gorgias_id: resolved.gorgias,
        hubspot: hubspot.as_ref(),
        gorgias: gorgias.as_ref(),
        link: resolved.link.as_ref(),
        history: &resolved.history,
        resolutions: &resolved.resolutions,
        field: args.field.as_deref(),
    };
    let mut explanation = view::build(&facts, &mappings, &options);
    if let (Some(asked), Some(got)) = (&resolved.hubspot, &hubspot) {
        if *asked != got.id {
            // HubSpot answers a merged-away id with the survivor.
            explanation.notes.push(format!(
                "HubSpot contact {asked} was merged into {}; the sync will follow it once it sees the merge",
                got.id
            ));
        }
    }
    if args.json {
        print!("{}", view::render_json(&explanation));
    } else {
        let no_color = std::env::var("NO_COLOR").ok();
        let opts = RenderOptions {
            color: color_wanted(std::io::stdout().is_terminal(), no_color.as_deref()),
            ..RenderOptions::default()
        };
        print!("{}", view::render_text(&explanation, &opts));
    }
    Ok(ExitCode::SUCCESS)
}

/// Base values as the store keeps them, for callers that hold a plain map.
pub fn bases_from_store(bases: &BTreeMap<String, serde_json::Value>) -> engine::Base {
    bases
        .iter()
        .filter_map(|(k, v)| base_text(v).map(|v| (k.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str, sys: Option<SystemArg>) -> Result<Subject, String> {
        parse_subject(s, sys)
    }

    #[test]
    fn parses_emails_and_ids() {
        assert_eq!(
            rec(" Jane@Shop.test ", None).unwrap(),
            Subject::Email(Email::parse("jane@shop.test").unwrap())
        );
        let h = Subject::Record(RecordRef::Hubspot(HubspotId::new("101").unwrap()));
        assert_eq!(rec("101", None).unwrap(), h);
        assert_eq!(rec("h:101", None).unwrap(), h);
        assert_eq!(rec("HubSpot:101", Some(SystemArg::Hubspot)).unwrap(), h);
        let g = Subject::Record(RecordRef::Gorgias(GorgiasId::new(7).unwrap()));
        assert_eq!(rec("g:7", None).unwrap(), g);
        assert_eq!(rec("gorgias:7", None).unwrap(), g);
        assert_eq!(rec("7", Some(SystemArg::Gorgias)).unwrap(), g);
    }

    #[test]
    fn refuses_what_is_neither() {
        for bad in [
            "jane",
            "",
            "h:",
            "x:1",
            "g:abc",
            "12a",
            "g:0",
            "not@an@email",
            "g:-1",
        ] {
            assert!(rec(bad, None).is_err(), "{bad:?} accepted");
        }
        assert!(rec("g:7", Some(SystemArg::Hubspot)).is_err());
        assert!(rec("jane@shop.test", Some(SystemArg::Gorgias)).is_err());
    }

    #[test]
    fn store_bases_become_canonical_strings() {
        let b = BTreeMap::from([
            ("a".to_owned(), serde_json::json!("x")),
            ("b".to_owned(), serde_json::Value::Null),
            ("c".to_owned(), serde_json::json!(17)),
        ]);
        let got = bases_from_store(&b);
        assert_eq!(got.get("a").map(String::as_str), Some("x"));
        assert_eq!(got.get("b"), None);
        assert_eq!(got.get("c").map(String::as_str), Some("17"));
    }
}
