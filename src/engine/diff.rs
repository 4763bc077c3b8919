//! The three-way diff of one field: each side's canonical value against the base (the value
//! both sides last agreed on).
//!
//! Pure and tiny on purpose. Must never decide who wins a conflict: that is [`super::resolve`].

use serde::Serialize;

/// How one field of a linked pair stands against its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Both sides equal the base: nothing to do.
    Unchanged,
    /// Both sides hold the same value, which differs from the base: only the base moves.
    Agreed,
    /// Only HubSpot moved away from the base.
    HubspotChanged,
    /// Only Gorgias moved away from the base.
    GorgiasChanged,
    /// Both moved, to different values: a conflict.
    BothChanged,
}

/// Classifies canonical values (`None` = empty) of HubSpot, Gorgias and the base.
pub fn classify(hubspot: Option<&str>, gorgias: Option<&str>, base: Option<&str>) -> Change {
    if hubspot == gorgias {
        return if hubspot == base {
            Change::Unchanged
        } else {
            Change::Agreed
        };
    }
    if hubspot == base {
        Change::GorgiasChanged
    } else if gorgias == base {
        Change::HubspotChanged
    } else {
        Change::BothChanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_case() {
        assert_eq!(classify(Some("a"), Some("a"), Some("a")), Change::Unchanged);
        assert_eq!(classify(None, None, None), Change::Unchanged);
        assert_eq!(classify(Some("b"), Some("b"), Some("a")), Change::Agreed);
        assert_eq!(classify(Some("a"), Some("a"), None), Change::Agreed);
        assert_eq!(
            classify(Some("b"), Some("a"), Some("a")),
            Change::HubspotChanged
        );
        assert_eq!(
            classify(None, Some("a"), Some("a")),
            Change::HubspotChanged,
            "cleared"
        );
        assert_eq!(
            classify(Some("a"), Some("c"), Some("a")),
            Change::GorgiasChanged
        );
        assert_eq!(classify(Some("a"), None, None), Change::HubspotChanged);
        assert_eq!(
            classify(Some("b"), Some("c"), Some("a")),
            Change::BothChanged
        );
        assert_eq!(classify(Some("b"), Some("c"), None), Change::BothChanged);
    }
}
