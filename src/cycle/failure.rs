//! Failure classes of refused writes, and the backoff of unsettled records (issue 12).
//! Pure: classification over the connectors' error types, and the delay before a record
//! whose write was refused is planned again.
//!
//! - transient (the system could not be reached, 429s, 5xx): retried inside the cycle and
//!   by the outbox as before; only when attempts run out does the record become unsettled;
//! - refused for this record (validation, a portal rule, a bad value, a conflict): the
//!   record is unsettled and re-planned with a backoff across cycles;
//! - refused because of the setup (a missing HubSpot property, a missing scope, 401/403):
//!   likewise, and the reason tells the person to run `tether setup` or fix the credentials.
//!
//! Owns the classification and the backoff policy. Must never do I/O or read the clock.

use crate::connectors::gorgias::GorgiasError;
use crate::connectors::hubspot::{HubspotError, ItemError, Refusal};
pub use crate::store::FailureClass;

/// A classified failure: the class and a reason a person understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub reason: String,
}

impl Failure {
    pub fn new(class: FailureClass, reason: impl Into<String>) -> Self {
        Self {
            class,
            reason: reason.into(),
        }
    }
}

/// The first retry after a refusal waits for the next cycle; each further refusal in a row
/// doubles the wait from this step.
pub const BACKOFF_STEP: chrono::Duration = chrono::Duration::minutes(5);
/// The longest wait between two attempts of an unsettled record.
pub const BACKOFF_CAP: chrono::Duration = chrono::Duration::hours(4);

/// How long after its `streak`-th refusal in a row a record waits before it is planned
/// again: nothing after the first (the next cycle retries it), then 5 min, 10 min, 20 min,
/// ... doubling, capped at [`BACKOFF_CAP`]. So a permanent refusal costs a handful of calls
/// a day, never a loop.
pub fn backoff(streak: u32) -> chrono::Duration {
    if streak <= 1 {
        return chrono::Duration::zero();
    }
    let doublings = (streak - 2).min(16);
    let wait = BACKOFF_STEP * (1i32 << doublings);
    wait.min(BACKOFF_CAP)
}

const SETUP_HINT: &str = "run `tether setup`";

/// Whether a HubSpot validation message names a property the portal does not have.
fn names_missing_property(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("property_doesnt_exist")
        || m.contains("does not exist")
        || m.contains("doesn't exist")
        || m.contains("unknown property")
}

/// Class and reason of one refused HubSpot batch input: the connector's
/// [`ItemError::refusal`] (error codes and property names), plus the categories of
/// credentials and of transport failures, and a missing property named only in the text.
pub fn hubspot_item(e: &ItemError) -> Failure {
    let msg = e.message.to_string();
    let category = e.category.as_str();
    let mut detail = category.to_owned();
    if !e.codes.is_empty() {
        detail.push_str(&format!("; {}", e.codes.join(", ")));
    }
    if !e.property_names.is_empty() {
        detail.push_str(&format!("; property {}", e.property_names.join(", ")));
    }
    let auth = matches!(
        category,
        "MISSING_SCOPES"
            | "INVALID_AUTHENTICATION"
            | "EXPIRED_AUTHENTICATION"
            | "REVOKED_AUTHENTICATION"
    );
    if auth {
        return Failure::new(
            FailureClass::Setup,
            format!(
                "HubSpot refused the credentials ({detail}): {msg}; check the token and its scopes"
            ),
        );
    }
    if matches!(category, "RATE_LIMIT" | "TRANSPORT") {
        return Failure::new(
            FailureClass::Transient,
            format!("HubSpot could not be reached ({detail}): {msg}"),
        );
    }
    if e.refusal() == Refusal::ForSetup || names_missing_property(&msg) {
        return Failure::new(
            FailureClass::Setup,
            format!("HubSpot lacks a mapped property ({detail}): {msg}; {SETUP_HINT}"),
        );
    }
    Failure::new(
        FailureClass::Record,
        format!("HubSpot refused this record ({detail}): {msg}"),
    )
}

/// Class and reason of a HubSpot error that failed a whole call.
pub fn hubspot_call(e: &HubspotError) -> Failure {
    if e.is_auth() {
        return Failure::new(
            FailureClass::Setup,
            format!("{e}; check the HubSpot token and its scopes"),
        );
    }
    match e {
        HubspotError::Api { status, .. } if (400..500).contains(status) && *status != 429 => {
            hubspot_item(&ItemError::from(e))
        }
        HubspotError::Input(_) => Failure::new(FailureClass::Record, e.to_string()),
        _ => Failure::new(FailureClass::Transient, e.to_string()),
    }
}

/// Class and reason of a Gorgias error answered to a write.
pub fn gorgias(e: &GorgiasError) -> Failure {
    let class = match e {
        GorgiasError::Unauthorized | GorgiasError::Forbidden | GorgiasError::Config(_) => {
            FailureClass::Setup
        }
        GorgiasError::NotFound { .. }
        | GorgiasError::Merged { .. }
        | GorgiasError::Validation { .. }
        | GorgiasError::Conflict { .. }
        | GorgiasError::MergeConflict { .. }
        | GorgiasError::DataNotObject { .. }
        | GorgiasError::InvalidInput(_)
        | GorgiasError::ExistingNotFound => FailureClass::Record,
        _ => FailureClass::Transient,
    };
    Failure::new(class, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(category: &str, message: &str) -> ItemError {
        ItemError::new(category, message)
    }

    #[test]
    fn backoff_waits_a_cycle_then_doubles_up_to_the_cap() {
        let m = |n: i64| chrono::Duration::minutes(n);
        assert_eq!(backoff(0), chrono::Duration::zero());
        assert_eq!(backoff(1), chrono::Duration::zero());
        assert_eq!(backoff(2), m(5));
        assert_eq!(backoff(3), m(10));
        assert_eq!(backoff(4), m(20));
        assert_eq!(backoff(7), m(160));
        assert_eq!(backoff(8), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
        for n in 1..40 {
            assert!(backoff(n + 1) >= backoff(n), "non-decreasing at {n}");
        }
    }

    #[test]
    fn a_missing_property_is_the_setups_fault() {
        let f = hubspot_item(&item(
            "VALIDATION_ERROR",
            "Property values were not valid: Property \"tether_gorgias_id\" does not exist",
        ));
        assert_eq!(f.class, FailureClass::Setup);
        assert!(f.reason.contains("tether setup"), "{}", f.reason);
        assert_eq!(
            hubspot_item(&item("MISSING_SCOPES", "needs crm.objects.contacts.write")).class,
            FailureClass::Setup
        );
    }

    #[test]
    fn the_connectors_codes_decide_between_record_and_setup() {
        let mut rule = item("VALIDATION_ERROR", "Property values were not valid");
        rule.codes = vec!["MISSING_REQUIRED_PROPERTY".into()];
        rule.property_names = vec!["lifecyclestage".into()];
        let f = hubspot_item(&rule);
        assert_eq!(f.class, FailureClass::Record);
        assert!(
            f.reason.contains("MISSING_REQUIRED_PROPERTY") && f.reason.contains("lifecyclestage")
        );
        let mut missing = item("VALIDATION_ERROR", "Property values were not valid");
        missing.codes = vec!["PROPERTY_DOESNT_EXIST".into()];
        assert_eq!(hubspot_item(&missing).class, FailureClass::Setup);
    }

    #[test]
    fn a_validation_refusal_is_the_records() {
        let f = hubspot_item(&item(
            "VALIDATION_ERROR",
            "Property lifecyclestage is required by a portal rule",
        ));
        assert_eq!(f.class, FailureClass::Record);
        assert!(f.reason.contains("lifecyclestage"));
        assert_eq!(
            hubspot_item(&item("INVALID_OPTION", "bad enum")).class,
            FailureClass::Record
        );
        assert_eq!(
            hubspot_item(&item("TRANSPORT", "reset")).class,
            FailureClass::Transient
        );
    }

    #[test]
    fn gorgias_errors_classify() {
        assert_eq!(
            gorgias(&GorgiasError::Unauthorized).class,
            FailureClass::Setup
        );
        assert_eq!(gorgias(&GorgiasError::Forbidden).class, FailureClass::Setup);
        assert_eq!(
            gorgias(&GorgiasError::NotFound { id: 3 }).class,
            FailureClass::Record
        );
        assert_eq!(
            gorgias(&GorgiasError::RateLimited {
                op: "update",
                attempts: 3
            })
            .class,
            FailureClass::Transient
        );
        assert_eq!(
            gorgias(&GorgiasError::Server {
                op: "update",
                status: 503,
                attempts: 3
            })
            .class,
            FailureClass::Transient
        );
    }
}
