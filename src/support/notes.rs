//! Optional HubSpot notes (issue 14, `[support] notes = true`): one note on the contact per
//! closed Gorgias ticket, telling its subject, channel and status with a link back to the
//! ticket in Gorgias.
//!
//! Idempotency is HubSpot's own: every note carries the ticket's key in the note property
//! [`NOTE_KEY_PROPERTY`] (created by `tether setup` with `hasUniqueValue`), and notes are
//! written with `batch/upsert?idProperty=` (the "Create or update a batch of notes by unique
//! property values" endpoint), so writing the same ticket's note again, after a crash that
//! lost the answer, updates the one note instead of making a second. The association type
//! comes from HubSpot's association labels ([`note_to_contact_type`]), never hard-coded.
//!
//! Pure: which tickets get a note, the note's properties, the association type chosen from
//! the labels. Must never do I/O.

use super::TicketFacts;
use crate::html_text::escape;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The note property holding the ticket's key (unique per note: HubSpot refuses a second
/// note with the same value, and `batch/upsert` finds the first by it).
pub const NOTE_KEY_PROPERTY: &str = "tether_gorgias_ticket";
/// Its label in HubSpot.
pub const NOTE_KEY_LABEL: &str = "Gorgias ticket (tether)";
/// The note property group `tether setup` makes for it.
pub const NOTE_GROUP: (&str, &str) = ("gorgias_support", "Gorgias support");

/// The unique key of the note of ticket `id`.
pub fn note_key(ticket: i64) -> String {
    format!("gorgias-ticket-{ticket}")
}

/// Whether ticket `t` gets a note: closed, neither spam nor trashed.
pub fn wants_note(t: &TicketFacts) -> bool {
    !t.is_open() && !t.spam && !t.trashed
}

/// The closing a note tells of: the ticket's `closed_datetime`, else its last update.
pub fn closed_at(t: &TicketFacts) -> DateTime<Utc> {
    t.closed_datetime.unwrap_or(t.updated_datetime)
}

/// The link to ticket `id` in the Gorgias app at `app_base`.
pub fn ticket_link(app_base: &str, id: i64) -> String {
    format!("{}/app/ticket/{id}", app_base.trim_end_matches('/'))
}

/// The properties of ticket `t`'s note: `hs_timestamp` (required by HubSpot: the closing
/// time, in milliseconds), `hs_note_body` (HTML, every value escaped, under HubSpot's
/// 65,536 characters) and the key.
pub fn note_properties(t: &TicketFacts, app_base: &str) -> BTreeMap<String, String> {
    let subject = if t.subject.trim().is_empty() {
        "(no subject)"
    } else {
        t.subject.as_str()
    };
    let channel = if t.channel.is_empty() {
        "unknown"
    } else {
        t.channel.as_str()
    };
    let link = ticket_link(app_base, t.id);
    let mut subject = escape(subject);
    // Far below the limit in practice; a huge subject is cut, never the link.
    if subject.len() > 60_000 {
        let mut cut = 60_000;
        while !subject.is_char_boundary(cut) {
            cut -= 1;
        }
        subject.truncate(cut);
    }
    let body = format!(
        "<p><strong>Gorgias ticket closed:</strong> {subject}</p>\
         <p>Channel: {}<br>Status: {}<br>Messages: {}</p>\
         <p><a href=\"{}\">Open the ticket in Gorgias</a></p>",
        escape(channel),
        escape(&t.status),
        t.messages_count,
        escape(&link),
    );
    BTreeMap::from([
        (
            "hs_timestamp".to_owned(),
            closed_at(t).timestamp_millis().to_string(),
        ),
        ("hs_note_body".to_owned(), body),
        (NOTE_KEY_PROPERTY.to_owned(), note_key(t.id)),
    ])
}

/// One association label HubSpot lists for an object pair
/// (`GET /crm/associations/{V}/{from}/{to}/labels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationLabel {
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    pub category: String,
    pub type_id: i64,
    /// `None` (or empty) for the unlabeled, default association.
    pub label: Option<String>,
}

/// The association type of a plain note → contact association, chosen from the labels: the
/// HubSpot-defined type without a label (the default association), else the first
/// HubSpot-defined one. `None` when HubSpot lists no HubSpot-defined type.
pub fn note_to_contact_type(labels: &[AssociationLabel]) -> Option<(String, i64)> {
    let defined = || labels.iter().filter(|l| l.category == "HUBSPOT_DEFINED");
    defined()
        .find(|l| l.label.as_deref().is_none_or(|s| s.trim().is_empty()))
        .or_else(|| defined().next())
        .map(|l| (l.category.clone(), l.type_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::rollup::tests::{at, ticket};

    #[test]
    fn only_closed_live_tickets_get_a_note() {
        let mut t = ticket(7, 1, 0);
        assert!(!wants_note(&t), "open");
        t.status = "closed".into();
        assert!(wants_note(&t));
        t.spam = true;
        assert!(!wants_note(&t), "spam");
        t.spam = false;
        t.trashed = true;
        assert!(!wants_note(&t), "trashed");
    }

    #[test]
    fn a_note_tells_the_ticket_with_escaped_values_and_a_link() {
        let mut t = ticket(42, 1, 0);
        t.status = "closed".into();
        t.subject = "<b>Refund</b> & more".into();
        t.channel = "chat".into();
        t.closed_datetime = Some(at(90));
        let p = note_properties(&t, "https://acme.gorgias.com/");
        assert_eq!(p[NOTE_KEY_PROPERTY], "gorgias-ticket-42");
        assert_eq!(p["hs_timestamp"], at(90).timestamp_millis().to_string());
        let body = &p["hs_note_body"];
        assert!(
            body.contains("&lt;b&gt;Refund&lt;/b&gt; &amp; more"),
            "{body}"
        );
        assert!(body.contains("Channel: chat"), "{body}");
        assert!(body.contains("Status: closed"), "{body}");
        assert!(
            body.contains("https://acme.gorgias.com/app/ticket/42"),
            "{body}"
        );
        assert!(!body.contains("<b>"), "{body}");
    }

    #[test]
    fn the_association_type_comes_from_the_labels() {
        let l = |c: &str, id, label: Option<&str>| AssociationLabel {
            category: c.into(),
            type_id: id,
            label: label.map(str::to_owned),
        };
        let labels = vec![
            l("USER_DEFINED", 51, Some("Follow-up")),
            l("HUBSPOT_DEFINED", 9, Some("Primary")),
            l("HUBSPOT_DEFINED", 202, None),
        ];
        assert_eq!(
            note_to_contact_type(&labels),
            Some(("HUBSPOT_DEFINED".into(), 202))
        );
        assert_eq!(
            note_to_contact_type(&labels[..2]),
            Some(("HUBSPOT_DEFINED".into(), 9))
        );
        assert_eq!(note_to_contact_type(&labels[..1]), None);
    }
}
