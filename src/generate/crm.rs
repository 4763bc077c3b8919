//! The CRM context around generated HubSpot contacts (owners, companies, deals), for the
//! sandbox's sidebar card.
//!
//! Pure given the seed; must never do I/O or read the clock.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Owners, companies and deals around a set of HubSpot contacts, for the sandbox's CRM
/// context (the Gorgias sidebar card). Pure given the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmSeed {
    /// (first name, last name, e-mail) of each owner; owner `i` gets id `100 + i`.
    pub owners: Vec<(String, String, String)>,
    /// (name, domain) of each company.
    pub companies: Vec<(String, String)>,
    /// Per contact (by index): owner index, primary company index, deals
    /// (name, stage, amount, close date `YYYY-MM-DD`).
    pub contacts: Vec<ContactContext>,
}

/// The CRM context of one generated contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactContext {
    pub owner: Option<usize>,
    pub company: Option<usize>,
    pub deals: Vec<(String, String, String, String)>,
}

/// Deal stages of HubSpot's default pipeline.
pub const DEAL_STAGES: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

/// The CRM context of `contacts` contacts: three owners, a company per four contacts
/// (most contacts have one), up to three deals each, some closed.
pub fn crm_context(contacts: usize, seed: u64) -> CrmSeed {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_c0de);
    let owners = vec![
        (
            "Olivia".into(),
            "Owens".into(),
            "olivia.owens@sales.example".into(),
        ),
        (
            "Marcus".into(),
            "Reed".into(),
            "marcus.reed@sales.example".into(),
        ),
        (
            "Ines".into(),
            "Duarte".into(),
            "ines.duarte@sales.example".into(),
        ),
    ];
    const STEMS: &[&str] = &[
        "Acme",
        "Northwind",
        "Bluebird",
        "Larkspur",
        "Cobalt",
        "Juniper",
    ];
    const KINDS: &[&str] = &["Outfitters", "Goods", "Supply", "Studio"];
    let n_companies = contacts.div_ceil(4).max(1);
    let companies: Vec<(String, String)> = (0..n_companies)
        .map(|i| {
            let stem = STEMS[i % STEMS.len()];
            let kind = KINDS[(i / STEMS.len()) % KINDS.len()];
            let name = format!("{stem} {kind}");
            let domain = format!("{}{}.example", stem.to_lowercase(), i);
            (name, domain)
        })
        .collect();
    let contexts = (0..contacts)
        .map(|_| {
            let owner = rng
                .random_bool(0.85)
                .then(|| rng.random_range(0..owners.len()));
            let company = rng
                .random_bool(0.8)
                .then(|| rng.random_range(0..n_companies));
            let deals = (0..rng.random_range(0..=3))
                .map(|d| {
                    let stage = DEAL_STAGES[rng.random_range(0..DEAL_STAGES.len())];
                    let amount = format!("{}", rng.random_range(5..200) * 50);
                    let close = format!(
                        "2027-{:02}-{:02}",
                        rng.random_range(1..=12),
                        rng.random_range(1..=28)
                    );
                    (format!("Order {}", d + 1), stage.to_owned(), amount, close)
                })
                .collect();
            ContactContext {
                owner,
                company,
                deals,
            }
        })
        .collect();
    CrmSeed {
        owners,
        companies,
        contacts: contexts,
    }
}

#[cfg(test)]
mod crm_tests {
    use super::*;

    #[test]
    fn crm_context_is_deterministic_and_shaped() {
        let a = crm_context(20, 7);
        assert_eq!(a, crm_context(20, 7));
        assert_eq!(a.contacts.len(), 20);
        assert!(a.contacts.iter().all(|c| c.deals.len() <= 3));
        assert!(a.contacts.iter().any(|c| c.company.is_some()));
        assert!(a.contacts.iter().flat_map(|c| &c.deals).count() > 0);
    }
}
