//! The setup pre-check of `tether sync` and `tether plan`: every HubSpot property the
//! mappings name must exist (one properties call), so that a cycle never issues writes that
//! must fail because `tether setup` has not run (issue 12: the first sync before setup lost
//! every create naming `tether_gorgias_id`).
//!
//! Owns the check. Must never create a property (that is `tether setup`'s job) nor write.

use super::Cycle;
use crate::connectors::hubspot::HubspotError;
use std::collections::HashSet;

/// Why the setup is not ready for a cycle.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Mapped properties HubSpot does not have.
    #[error(
        "HubSpot has no contact propert{} {} named by the mappings: run `tether setup` to create {}, then sync again",
        if .0.len() == 1 { "y" } else { "ies" },
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    MissingProperties(Vec<String>),
    /// HubSpot refused the credentials or their scopes (401/403).
    #[error(
        "HubSpot refused to list the contact properties: {0}; check hubspot.token and its scopes"
    )]
    Credentials(HubspotError),
    /// Any other failure of the properties call.
    #[error("cannot list the HubSpot contact properties: {0}")]
    Unreachable(HubspotError),
}

impl SetupError {
    /// A mistake in the setup (exit 2) rather than a runtime failure (exit 1).
    pub fn is_setup(&self) -> bool {
        !matches!(self, SetupError::Unreachable(_))
    }
}

/// The mapped properties missing from `have`, sorted. Pure.
pub fn missing(wanted: &[String], have: &HashSet<String>) -> Vec<String> {
    let mut out: Vec<String> = wanted
        .iter()
        .filter(|p| !have.contains(*p))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Checks with one properties call that every property the mappings name exists.
pub async fn check(ctx: &Cycle) -> Result<(), SetupError> {
    let wanted = super::read::hubspot_properties(&ctx.mappings);
    let have = ctx.hubspot.property_names().await.map_err(|e| {
        if e.is_auth() {
            SetupError::Credentials(e)
        } else {
            SetupError::Unreachable(e)
        }
    })?;
    let gone = missing(&wanted, &have);
    if gone.is_empty() {
        Ok(())
    } else {
        Err(SetupError::MissingProperties(gone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_missing_property_once_and_says_what_to_run() {
        let have: HashSet<String> = ["email", "firstname"].map(String::from).into();
        let wanted: Vec<String> = [
            "email",
            "tether_gorgias_id",
            "firstname",
            "tether_gorgias_id",
        ]
        .map(String::from)
        .into();
        let m = missing(&wanted, &have);
        assert_eq!(m, vec!["tether_gorgias_id".to_string()]);
        let e = SetupError::MissingProperties(m);
        assert!(e.is_setup());
        let text = e.to_string();
        assert!(
            text.contains("tether_gorgias_id") && text.contains("run `tether setup`"),
            "{text}"
        );
        assert!(missing(&wanted[..1], &have).is_empty());
    }
}
