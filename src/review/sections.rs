//! The review page's Conflicts and Refused writes sections: each held conflict with both
//! values, the base and Take HubSpot / Take Gorgias buttons; each refused write with its
//! reason, attempts and Retry / Dismiss forms. Pure string building beside [`super::html`]:
//! must never read the store or the request, and must never put a value into the page
//! without [`escape`].

use super::html::escape;
use crate::store::{ConflictChoice, HeldConflict, Unsettled};
use chrono::SecondsFormat;
use std::fmt::Write as _;

fn shown(v: &Option<String>) -> String {
    match v {
        Some(v) => escape(v),
        None => "<i>(empty)</i>".into(),
    }
}

/// The Conflicts section: live held conflicts, newest first (as the store lists them).
pub fn conflicts_section(base: &str, csrf: &str, conflicts: &[HeldConflict]) -> String {
    let (base, csrf) = (escape(base), escape(csrf));
    let mut out = format!(
        "<h2 id=\"conflicts\">Conflicts</h2><p>{} held conflict(s): fields whose policy is \
         <code>manual</code> and which both sides changed. The next sync writes the value you take \
         to the other side.</p>",
        conflicts.len()
    );
    for c in conflicts {
        let id = c.id.0;
        let _ = write!(
            out,
            "<section id=\"conflict-{id}\"><h3>#{id}: field {} of HubSpot contact {} / Gorgias customer {}</h3>\
             <table class=\"conflict\"><tr><th>HubSpot</th><th>Gorgias</th><th>base (last agreed)</th></tr>\
             <tr><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            escape(&c.field),
            escape(c.hubspot_id.as_str()),
            c.gorgias_id,
            shown(&c.hubspot_value),
            shown(&c.gorgias_value),
            shown(&c.base),
        );
        if let (Some(r), Some(by)) = (&c.resolution, &c.resolved_by) {
            let what = match r {
                ConflictChoice::Take(s) => format!("take the {} value", s.as_str()),
                ConflictChoice::Value(v) => format!("set both sides to “{v}”"),
            };
            let _ = write!(
                out,
                "<p class=\"notice\" id=\"resolved-{id}\">Resolved by {}: {}; applied by the next sync.</p>",
                escape(by),
                escape(&what)
            );
        }
        for (side, label) in [("hubspot", "Take HubSpot"), ("gorgias", "Take Gorgias")] {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"{base}/conflicts/{id}/resolve\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"take\" value=\"{side}\">\
                 <button type=\"submit\" id=\"take-{side}-{id}\">{label}</button></form>"
            );
        }
        out.push_str("</section>");
    }
    out
}

/// The Refused writes section: open unsettled records, newest failure first.
pub fn refused_section(base: &str, csrf: &str, items: &[Unsettled]) -> String {
    let (base, csrf) = (escape(base), escape(csrf));
    let mut out = format!(
        "<h2 id=\"refused\">Refused writes</h2><p>{} record(s) with a write a system refused. \
         tether retries each with a backoff; Retry clears the backoff, Dismiss stops retrying \
         until the record changes again.</p>",
        items.len()
    );
    for u in items {
        let id = u.id.0;
        let _ = write!(
            out,
            "<section id=\"refused-{id}\"><h3>#{id}: {} {} to {}</h3>\
             <table class=\"refused\"><tr><th>reason</th><td>{}</td></tr>\
             <tr><th>class</th><td>{}</td></tr><tr><th>attempts</th><td>{}</td></tr>\
             <tr><th>next retry</th><td>{}</td></tr></table>\
             <form method=\"post\" action=\"{base}/refused/{id}/retry\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\" id=\"retry-{id}\">Retry</button></form>\
             <form method=\"post\" action=\"{base}/refused/{id}/dismiss\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"text\" name=\"reason\" placeholder=\"reason (required)\" id=\"dismiss-reason-{id}\">\
             <button type=\"submit\" id=\"dismiss-{id}\">Dismiss</button></form></section>",
            escape(u.op.as_str()),
            escape(&u.record.to_string()),
            escape(u.target.as_str()),
            escape(&u.reason),
            escape(u.class.as_str()),
            u.attempts,
            u.next_retry_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    out
}

/// `page` (a whole document from [`super::html`]) with `sections` added at the end of its
/// body.
pub fn append_to_body(page: &str, sections: &str) -> String {
    if page.contains("</body>") {
        crate::html_text::before_body_end(page, &format!("{sections}\n"))
    } else {
        format!("{page}{sections}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId, RecordRef, System};
    use crate::store::{ConflictId, ConflictStatus, FailureClass, OpKind, UnsettledId};

    const NASTY: &str = "<script>alert('x')</script>";

    fn conflict() -> HeldConflict {
        let t = chrono::DateTime::UNIX_EPOCH;
        HeldConflict {
            id: ConflictId(3),
            link_id: None,
            hubspot_id: HubspotId::new("101").unwrap(),
            gorgias_id: GorgiasId::new(7).unwrap(),
            field: "name".into(),
            hubspot_value: Some(NASTY.into()),
            gorgias_value: Some("Jane \"Q\" Smith".into()),
            base: None,
            first_seen: t,
            last_seen: t,
            status: ConflictStatus::Resolved,
            resolution: Some(ConflictChoice::Value(NASTY.into())),
            resolved_by: Some("review:<web>".into()),
            resolved_at: Some(t),
            closed_at: None,
            closed_how: None,
        }
    }

    fn unsettled() -> Unsettled {
        let t = chrono::DateTime::UNIX_EPOCH;
        Unsettled {
            id: UnsettledId(5),
            record: RecordRef::Gorgias(GorgiasId::new(9).unwrap()),
            target: System::Hubspot,
            op: OpKind::Create,
            class: FailureClass::Record,
            reason: NASTY.into(),
            attempts: 2,
            first_failed_at: t,
            last_failed_at: t,
            next_retry_at: t,
            dismissed: None,
        }
    }

    #[test]
    fn every_value_is_escaped_and_every_form_carries_the_csrf_value() {
        let c = conflicts_section("/r\"><x", "tok<", &[conflict()]);
        let r = refused_section("/r\"><x", "tok<", &[unsettled()]);
        for html in [&c, &r] {
            assert!(!html.contains("<script>"), "{html}");
            assert!(
                !html.contains("tok<") && !html.contains("/r\"><x"),
                "{html}"
            );
            assert_eq!(
                html.matches("<form").count(),
                html.matches("name=\"csrf\" value=\"tok&lt;\"").count()
            );
        }
        assert!(c.contains("Jane &quot;Q&quot; Smith"));
        assert!(c.contains("id=\"take-gorgias-3\"") && c.contains("id=\"take-hubspot-3\""));
        assert!(
            c.contains("<i>(empty)</i>"),
            "an empty base is shown as such"
        );
        assert!(c.contains("review:&lt;web&gt;"));
        assert!(r.contains("id=\"retry-5\"") && r.contains("id=\"dismiss-5\""));
        assert!(r.contains("<td>2</td>"), "attempts shown: {r}");
    }

    #[test]
    fn sections_go_at_the_end_of_the_body() {
        let page = "<html><body><h1>x</h1>\n</body></html>\n";
        assert_eq!(
            append_to_body(page, "<h2>S</h2>"),
            "<html><body><h1>x</h1>\n<h2>S</h2>\n</body></html>\n"
        );
    }
}
