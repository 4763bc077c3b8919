//! The card: a stable, flat JSON object answering `GET /gorgias/card`, built from what the
//! store knows and one cached HubSpot read. Schema `tether.card/1`; keys are never renamed
//! (Gorgias widget templates point at them), only added.
//!
//! Pure: the caller passes the inputs and the time. Must never carry a secret, and never
//! answer an error for a customer tether does not know: that is a "not in HubSpot" card.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The version tag of the card's shape.
pub const CARD_SCHEMA: &str = "tether.card/1";

/// What the store says about the customer, plus the hooks other features fill in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TetherState {
    /// When tether last read or wrote the linked pair.
    pub last_sync: Option<DateTime<Utc>>,
    /// A pending merge proposal naming either record.
    pub pending_merge_proposal: Option<i64>,
    /// A field conflict held for a person (HOOK: filled once held conflicts exist, 12b).
    pub held_conflict: Option<String>,
    /// A write HubSpot or Gorgias refused (HOOK: filled once unsettled records exist, 12a).
    pub refused_write: Option<String>,
    /// Why the record is quarantined, when it is.
    pub quarantined: Option<String>,
    /// The customer's support roll-up (issue 14), when tether keeps support facts for it.
    pub support: Option<crate::support::Rollup>,
}

/// A deal as the card shows it (open deals only reach the card).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DealInfo {
    pub name: Option<String>,
    pub stage: Option<String>,
    pub amount: Option<String>,
    pub close_date: Option<String>,
}

/// The HubSpot side of the card, as read (cached) from HubSpot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CrmContext {
    pub contact_id: String,
    /// The contact's properties (`firstname`, `lastname`, `lifecyclestage`,
    /// `hs_lead_status`, `createdate`).
    pub properties: BTreeMap<String, String>,
    pub owner_name: Option<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
    /// Deals with their properties (`dealname`, `dealstage`, `amount`, `closedate`,
    /// `hs_is_closed`), any order.
    pub deals: Vec<BTreeMap<String, String>>,
}

/// Everything a card is built from.
#[derive(Debug, Clone, PartialEq)]
pub enum CardInput {
    /// The Gorgias customer is linked to a HubSpot contact, read as `crm` (or `None` when
    /// the contact is gone from HubSpot).
    Linked {
        crm: Option<CrmContext>,
        tether: TetherState,
        /// The Gorgias customer asked about was merged into this one.
        merged_into: Option<i64>,
    },
    /// No link (yet): tether has not matched the customer to a HubSpot contact.
    NotInHubspot {
        tether: TetherState,
        merged_into: Option<i64>,
    },
}

/// The card (schema `tether.card/1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    pub schema: &'static str,
    /// `linked`, `not_in_hubspot` or `contact_gone`.
    pub status: &'static str,
    /// One sentence for the agent.
    pub message: String,
    pub hubspot_id: Option<String>,
    pub name: Option<String>,
    pub lifecycle_stage: Option<String>,
    pub lead_status: Option<String>,
    pub owner: Option<String>,
    pub created: Option<String>,
    pub hubspot_url: Option<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
    pub open_deals: Vec<DealInfo>,
    pub open_deals_total: usize,
    pub last_sync: Option<String>,
    pub merge_proposal_pending: bool,
    pub held_conflict: Option<String>,
    pub refused_write: Option<String>,
    pub quarantined: Option<String>,
    /// Set when the Gorgias customer asked about was merged into another one.
    pub merged_into_customer_id: Option<i64>,
    /// Support roll-ups (issue 14; spam and trashed tickets left out), shown whether or not
    /// the customer is linked; all `null` when tether keeps no support facts.
    pub tickets: Option<u64>,
    pub open_tickets: Option<u64>,
    pub last_ticket_subject: Option<String>,
    pub last_ticket_status: Option<String>,
    pub last_ticket_created: Option<String>,
    pub satisfaction_count: Option<u64>,
    pub satisfaction_last_score: Option<String>,
    pub satisfaction_average: Option<String>,
    /// When this card was built.
    pub generated_at: String,
}

fn prop(p: &BTreeMap<String, String>, k: &str) -> Option<String> {
    p.get(k)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn is_open(d: &BTreeMap<String, String>) -> bool {
    match prop(d, "hs_is_closed").as_deref() {
        Some("true") => false,
        Some(_) => true,
        None => !matches!(
            prop(d, "dealstage").as_deref(),
            Some("closedwon") | Some("closedlost")
        ),
    }
}

/// The HubSpot record page of a contact, when the portal id is known.
pub fn contact_url(portal_id: Option<&str>, app_base: &str, contact_id: &str) -> Option<String> {
    let portal = portal_id.map(str::trim).filter(|p| !p.is_empty())?;
    Some(format!(
        "{}/contacts/{portal}/record/0-1/{contact_id}",
        app_base.trim_end_matches('/')
    ))
}

/// Builds the card. `max_deals` caps the open deals listed (soonest close date first).
pub fn build_card(
    input: &CardInput,
    portal_id: Option<&str>,
    app_base: &str,
    max_deals: usize,
    now: DateTime<Utc>,
) -> Card {
    let (tether, merged_into) = match input {
        CardInput::Linked {
            tether,
            merged_into,
            ..
        }
        | CardInput::NotInHubspot {
            tether,
            merged_into,
        } => (tether, *merged_into),
    };
    let mut card = Card {
        schema: CARD_SCHEMA,
        status: "not_in_hubspot",
        message: "Not in HubSpot: tether has not linked this customer to a HubSpot contact.".into(),
        hubspot_id: None,
        name: None,
        lifecycle_stage: None,
        lead_status: None,
        owner: None,
        created: None,
        hubspot_url: None,
        company_name: None,
        company_domain: None,
        open_deals: vec![],
        open_deals_total: 0,
        last_sync: tether.last_sync.map(|t| t.to_rfc3339()),
        merge_proposal_pending: tether.pending_merge_proposal.is_some(),
        held_conflict: tether.held_conflict.clone(),
        refused_write: tether.refused_write.clone(),
        quarantined: tether.quarantined.clone(),
        merged_into_customer_id: merged_into,
        tickets: None,
        open_tickets: None,
        last_ticket_subject: None,
        last_ticket_status: None,
        last_ticket_created: None,
        satisfaction_count: None,
        satisfaction_last_score: None,
        satisfaction_average: None,
        generated_at: now.to_rfc3339(),
    };
    if let Some(r) = &tether.support {
        use crate::mappings::ComputedSource as S;
        card.tickets = Some(r.count);
        card.open_tickets = Some(r.open_count);
        card.last_ticket_subject = r.value(S::TicketsLastSubject, "");
        card.last_ticket_status = r.value(S::TicketsLastStatus, "");
        card.last_ticket_created = r.value(S::TicketsLastCreatedDatetime, "");
        card.satisfaction_count = Some(r.csat_count);
        card.satisfaction_last_score = r.value(S::SatisfactionLastScore, "");
        card.satisfaction_average = r.value(S::SatisfactionAverageScore, "");
    }
    let CardInput::Linked { crm, .. } = input else {
        return card;
    };
    let Some(crm) = crm else {
        card.status = "contact_gone";
        card.message = "The linked HubSpot contact no longer exists.".into();
        return card;
    };
    let p = &crm.properties;
    let name: Vec<String> = [prop(p, "firstname"), prop(p, "lastname")]
        .into_iter()
        .flatten()
        .collect();
    card.status = "linked";
    card.message = match merged_into {
        Some(id) => format!("This customer was merged into Gorgias customer {id}."),
        None => "Linked to HubSpot.".into(),
    };
    card.hubspot_id = Some(crm.contact_id.clone());
    card.name = (!name.is_empty()).then(|| name.join(" "));
    card.lifecycle_stage = prop(p, "lifecyclestage");
    card.lead_status = prop(p, "hs_lead_status");
    card.created = prop(p, "createdate");
    card.owner = crm.owner_name.clone();
    card.hubspot_url = contact_url(portal_id, app_base, &crm.contact_id);
    card.company_name = crm.company_name.clone();
    card.company_domain = crm.company_domain.clone();
    let mut open: Vec<&BTreeMap<String, String>> =
        crm.deals.iter().filter(|d| is_open(d)).collect();
    // Soonest close date first; undated last; then by name for a stable order.
    open.sort_by_key(|d| {
        (
            prop(d, "closedate").is_none(),
            prop(d, "closedate"),
            prop(d, "dealname"),
        )
    });
    card.open_deals_total = open.len();
    card.open_deals = open
        .into_iter()
        .take(max_deals)
        .map(|d| DealInfo {
            name: prop(d, "dealname"),
            stage: prop(d, "dealstage"),
            amount: prop(d, "amount"),
            close_date: prop(d, "closedate"),
        })
        .collect();
    card
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-06T08:00:00Z".parse().unwrap()
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn unlinked_customer_gets_an_explicit_not_in_hubspot_card() {
        let c = build_card(
            &CardInput::NotInHubspot {
                tether: TetherState::default(),
                merged_into: None,
            },
            Some("1"),
            "https://app.hubspot.com",
            3,
            now(),
        );
        assert_eq!(c.status, "not_in_hubspot");
        assert!(c.hubspot_id.is_none() && c.open_deals.is_empty());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["schema"], CARD_SCHEMA);
        assert!(v.get("name").is_some(), "keys are present even when null");
    }

    #[test]
    fn linked_card_keeps_open_deals_soonest_first_and_caps_them() {
        let crm = CrmContext {
            contact_id: "42".into(),
            properties: props(&[
                ("firstname", "Ada"),
                ("lastname", "Lovelace"),
                ("lifecyclestage", "customer"),
                ("hs_lead_status", "OPEN"),
            ]),
            owner_name: Some("Olive Owner".into()),
            company_name: Some("Acme".into()),
            company_domain: Some("acme.test".into()),
            deals: vec![
                props(&[
                    ("dealname", "late"),
                    ("closedate", "2027-03-01"),
                    ("hs_is_closed", "false"),
                ]),
                props(&[("dealname", "won"), ("dealstage", "closedwon")]),
                props(&[("dealname", "soon"), ("closedate", "2027-01-01")]),
                props(&[("dealname", "undated")]),
                props(&[("dealname", "closed"), ("hs_is_closed", "true")]),
            ],
        };
        let c = build_card(
            &CardInput::Linked {
                crm: Some(crm),
                tether: TetherState {
                    pending_merge_proposal: Some(3),
                    ..TetherState::default()
                },
                merged_into: None,
            },
            Some("99"),
            "https://app.hubspot.com/",
            2,
            now(),
        );
        assert_eq!(c.status, "linked");
        assert_eq!(c.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            c.hubspot_url.as_deref(),
            Some("https://app.hubspot.com/contacts/99/record/0-1/42")
        );
        let names: Vec<_> = c
            .open_deals
            .iter()
            .map(|d| d.name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["soon", "late"]);
        assert_eq!(c.open_deals_total, 3);
        assert!(c.merge_proposal_pending);
    }

    #[test]
    fn the_card_shows_the_support_rollups() {
        use crate::support::rollup::tests::{survey, ticket};
        let mut t1 = ticket(1, 5, 0);
        t1.status = "closed".into();
        let t2 = ticket(2, 5, 10);
        let s = survey(9, 1, 5, Some(4), 20);
        let r = crate::support::rollup([&t1, &t2], [&s], Default::default());
        let c = build_card(
            &CardInput::NotInHubspot {
                tether: TetherState {
                    support: Some(r),
                    ..TetherState::default()
                },
                merged_into: None,
            },
            None,
            "https://app.hubspot.com",
            3,
            now(),
        );
        assert_eq!((c.tickets, c.open_tickets), (Some(2), Some(1)));
        assert_eq!(c.last_ticket_subject.as_deref(), Some("ticket 2"));
        assert_eq!(c.last_ticket_status.as_deref(), Some("open"));
        assert_eq!(c.satisfaction_count, Some(1));
        assert_eq!(c.satisfaction_last_score.as_deref(), Some("4"));
        assert_eq!(c.satisfaction_average.as_deref(), Some("4"));
        let none = build_card(
            &CardInput::NotInHubspot {
                tether: TetherState::default(),
                merged_into: None,
            },
            None,
            "https://app.hubspot.com",
            3,
            now(),
        );
        assert_eq!(none.tickets, None);
        assert!(
            serde_json::to_value(&none)
                .unwrap()
                .get("tickets")
                .is_some()
        );
    }

    #[test]
    fn merged_away_and_gone_contacts_say_so() {
        let c = build_card(
            &CardInput::Linked {
                crm: Some(CrmContext {
                    contact_id: "1".into(),
                    ..CrmContext::default()
                }),
                tether: TetherState::default(),
                merged_into: Some(77),
            },
            None,
            "https://app.hubspot.com",
            3,
            now(),
        );
        assert_eq!(c.merged_into_customer_id, Some(77));
        assert!(c.message.contains("77"));
        assert!(c.hubspot_url.is_none(), "no portal id, no link");
        let gone = build_card(
            &CardInput::Linked {
                crm: None,
                tether: TetherState::default(),
                merged_into: None,
            },
            None,
            "https://app.hubspot.com",
            3,
            now(),
        );
        assert_eq!(gone.status, "contact_gone");
    }
}
