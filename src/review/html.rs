//! The review page's HTML, rendered on the server from proposals: the queue (each pair side
//! by side with the explanation and approve/reject forms), the login form, and result pages.
//! Pure string building: must never read the store or the request, and must never put a
//! value into the page without [`escape`].

use super::proposal_html::{ProposalView, filter_bar};
use crate::merges::{Applied, ApplyOutcome};
use crate::store::Proposal;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Escapes text for HTML element content and quoted attribute values.
pub use crate::html_text::escape;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
section{border:1px solid #999;padding:1em;margin:1em 0}.pos{color:#060}.neg{color:#900}\
form{display:inline-block;margin-right:1em}.notice{background:#ffd;padding:.5em}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n{body}\n</body></html>\n",
        escape(title),
        escape(title)
    )
}

/// The queue's own URL path for a router mounted at `base` (`/` at the root).
pub fn home(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

/// The login form; `error` is shown above it.
pub fn login_page(base: &str, error: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(body, "<p class=\"notice\">{}</p>", escape(e));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}/login\"><label>Review token \
         <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\"></label> \
         <button type=\"submit\" id=\"login\">Sign in</button></form>",
        escape(base)
    );
    page("tether: sign in to the review queue", &body)
}

/// A short page with a message and a link back to the queue.
pub fn message_page(base: &str, title: &str, message: &str) -> String {
    page(
        title,
        &format!(
            "<p id=\"message\">{}</p><p><a href=\"{}\" id=\"back\">Back to the queue</a></p>",
            escape(message),
            escape(&home(base))
        ),
    )
}

/// One line describing what applying a proposal did.
pub fn describe(a: &Applied) -> String {
    match &a.outcome {
        ApplyOutcome::Merged {
            merged_away,
            survivor,
            survivor_before,
            write_error,
            ..
        } => {
            let mut s = format!(
                "Proposal #{}: {merged_away} was merged into {survivor_before}",
                a.proposal.0
            );
            if survivor != survivor_before {
                let _ = write!(s, ", which now has the id {survivor}");
            }
            s.push('.');
            if let Some(e) = write_error {
                let _ = write!(s, " The surviving values could not all be written: {e}");
            }
            s
        }
        ApplyOutcome::Linked { hubspot, gorgias } => {
            format!(
                "Proposal #{}: {hubspot} and {gorgias} are now linked.",
                a.proposal.0
            )
        }
        ApplyOutcome::Failed { reason } => {
            format!(
                "Proposal #{} was approved but not merged: {reason}",
                a.proposal.0
            )
        }
    }
}

fn fields_of(v: &Value) -> Vec<(String, String)> {
    v.get("fields")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn side_label(v: &Value) -> String {
    match (
        v.pointer("/record/system").and_then(Value::as_str),
        v.pointer("/record/id"),
    ) {
        (Some(s), Some(id)) => format!(
            "{s}:{}",
            id.as_str().map_or_else(|| id.to_string(), str::to_owned)
        ),
        _ => "?".into(),
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

/// The pair side by side: one row per field either record holds.
fn pair_table(out: &mut String, snapshot: &Value) {
    let (a, b) = (
        snapshot.get("a").cloned().unwrap_or_default(),
        snapshot.get("b").cloned().unwrap_or_default(),
    );
    let (fa, fb) = (fields_of(&a), fields_of(&b));
    let names: BTreeSet<&String> = fa.iter().chain(fb.iter()).map(|(k, _)| k).collect();
    let get = |f: &[(String, String)], k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let _ = write!(
        out,
        "<table class=\"pair\"><tr><th>field</th><th>{}</th><th>{}</th></tr>",
        escape(&side_label(&a)),
        escape(&side_label(&b))
    );
    for k in names {
        let (va, vb) = (get(&fa, k), get(&fb, k));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(k),
            escape(&va),
            escape(&vb)
        );
    }
    for (label, key) in [("updated", "updated_at"), ("created", "created_at")] {
        let t = |v: &Value| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let _ = write!(
            out,
            "<tr><td><i>{label}</i></td><td>{}</td><td>{}</td></tr>",
            escape(&t(&a)),
            escape(&t(&b))
        );
    }
    out.push_str("</table>");
}

/// The explanation: each field's contribution in bits, the prior, the relatives guard.
fn explanation_table(out: &mut String, e: &Value) {
    out.push_str("<table class=\"explanation\"><tr><th>field</th><th>comparison</th><th>weight (bits)</th></tr>");
    let _ = write!(
        out,
        "<tr><td><i>prior</i></td><td></td><td>{:+.2}</td></tr>",
        number(e.get("prior"))
    );
    for c in e
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let w = number(c.get("weight"));
        let text = |k: &str| {
            c.get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default()
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{w:+.2}</td></tr>",
            escape(&text("field")),
            escape(&text("level")),
            if w >= 0.0 { "pos" } else { "neg" }
        );
    }
    let guard = number(e.get("relatives_guard"));
    if guard != 0.0 {
        let why = e.get("guard").and_then(Value::as_str).unwrap_or("");
        let _ = write!(
            out,
            "<tr><td><i>relatives guard</i></td><td>{}</td><td class=\"neg\">{guard:+.2}</td></tr>",
            escape(why)
        );
    }
    let _ = write!(
        out,
        "<tr><th>total</th><th></th><th>{:+.2}</th></tr></table>",
        number(e.get("total"))
    );
}

/// The queue: pending proposals (filtered and paged by `view`), highest score first, each
/// with the merged record it would produce and its forms.
pub fn queue_page(base: &str, csrf: &str, proposals: &[Proposal], view: &ProposalView) -> String {
    let (sorted, total) = view.select(proposals);
    let bar = filter_bar(base, &view.filter, total, view.page_size);
    let (raw_base, raw_csrf) = (base, csrf);
    let (base, csrf) = (escape(base), escape(csrf));
    let mut body = format!(
        "<p>{total} pending proposal(s), highest score first. \
         <form method=\"post\" action=\"{base}/logout\"><button type=\"submit\">Sign out</button></form></p>{bar}"
    );
    if sorted.is_empty() {
        body.push_str("<p id=\"empty\">Nothing to review.</p>");
    }
    for p in sorted {
        let id = p.id.0;
        let _ = write!(
            body,
            "<section id=\"proposal-{id}\"><h2>#{id}: {} and {} — score {:.4}</h2>",
            escape(&p.pair.first().to_string()),
            escape(&p.pair.second().to_string()),
            p.score
        );
        pair_table(&mut body, &p.snapshot);
        explanation_table(&mut body, &p.explanation);
        body.push_str(&view.approve_section(raw_base, raw_csrf, p));
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{base}/proposals/{id}/reject\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"text\" name=\"reason\" placeholder=\"reason\" id=\"reason-{id}\">\
             <button type=\"submit\" id=\"reject-{id}\">Reject (not the same person)</button></form></section>"
        );
    }
    page("tether: duplicate review queue", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HubspotId, RecordRef};
    use crate::store::{Pair, ProposalId, ProposalStatus};
    use serde_json::json;

    fn proposal(id: i64, score: f64, name: &str) -> Proposal {
        let h = |s: &str| RecordRef::Hubspot(HubspotId::new(s).unwrap());
        Proposal {
            id: ProposalId(id),
            pair: Pair::new(h("1"), h(&format!("{}", id + 1))).unwrap(),
            score,
            explanation: json!({"prior": -3.0, "fields": [
                {"field": "first_name", "level": "exact", "weight": 4.5},
                {"field": "email", "level": "different", "weight": -2.0}
            ], "relatives_guard": 0.0, "total": 0.5}),
            snapshot: json!({
                "a": {"record": {"system": "hubspot", "id": "1"}, "fields": {"first_name": name}},
                "b": {"record": {"system": "hubspot", "id": "2"}, "fields": {"first_name": "Bob", "note": "x\"y"}}
            }),
            status: ProposalStatus::Pending,
            created_at: chrono::Utc::now(),
            decided_at: None,
            decided_by: None,
            reason: None,
        }
    }

    #[test]
    fn escapes_everything() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        let html = queue_page(
            "/r\"><x",
            "tok<",
            &[proposal(3, 0.9, "<script>alert(1)</script>")],
            &ProposalView::default(),
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("x&quot;y"));
        assert!(!html.contains("/r\"><x"));
        assert!(!html.contains("tok<"));
    }

    #[test]
    fn queue_is_sorted_by_score_with_contributions_and_forms() {
        let html = queue_page(
            "/review",
            "c",
            &[proposal(1, 0.81, "A"), proposal(2, 0.97, "B")],
            &ProposalView::default(),
        );
        let (p1, p2) = (
            html.find("id=\"proposal-1\"").unwrap(),
            html.find("id=\"proposal-2\"").unwrap(),
        );
        assert!(p2 < p1, "higher score first");
        assert!(html.contains("action=\"/review/proposals/2/approve\""));
        assert!(html.contains("action=\"/review/proposals/1/reject\""));
        assert!(html.contains("+4.50") && html.contains("-2.00"));
        assert!(html.contains("name=\"csrf\" value=\"c\""));
    }
}
