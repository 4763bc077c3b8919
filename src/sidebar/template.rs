//! Gorgias widget templates (`{"type":"wrapper","widgets":[…]}`, contract `gorgias.md` §9)
//! for the two widgets tether installs, and an HTML preview that fills a template with data
//! the way the sidebar lays it out (used for docs/sidebar.md's screenshot and tests).
//!
//! Pure. Must escape every value it renders into HTML.

use crate::html_text::escape;
use crate::mappings::{GorgiasAccess, MappingSet};
use serde_json::{Value, json};

/// The `path` of the card in tether's `custom` widget: tether writes under `data.tether`,
/// so this is how tether recognises its own custom widget (widgets have no name).
pub const CUSTOM_CARD_PATH: &str = "tether";

/// (label, path under `data.tether`) of every field the mappings write there, in mapping
/// order. The label is the HubSpot property's label when the mapping defines one, else the
/// field name in words (`lifecycle_stage` → "Lifecycle stage").
pub fn tether_fields(mappings: &MappingSet) -> Vec<(String, String)> {
    mappings
        .fields
        .iter()
        .filter_map(|f| match &f.gorgias {
            GorgiasAccess::Data(path) if path.len() >= 2 && path[0] == CUSTOM_CARD_PATH => {
                let label = f
                    .hubspot_property
                    .as_ref()
                    .map(|p| p.label.clone())
                    .filter(|l| !l.trim().is_empty())
                    .unwrap_or_else(|| words(&f.name));
                Some((label, path[1..].join(".")))
            }
            _ => None,
        })
        .collect()
}

fn words(name: &str) -> String {
    let s = name.replace(['_', '-'], " ");
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The template of the `custom` widget over `customer.data.tether`.
pub fn custom_template(title: &str, fields: &[(String, String)]) -> Value {
    let leaves: Vec<Value> = fields
        .iter()
        .map(|(label, path)| json!({"type": "text", "title": label, "path": path}))
        .collect();
    json!({"type": "wrapper", "widgets": [
        {"type": "card", "title": title, "path": CUSTOM_CARD_PATH,
         "meta": {"displayCard": true}, "widgets": leaves}
    ]})
}

/// The template of the `http` widget over the card's JSON (`tether.card/1`).
pub fn card_template(title: &str) -> Value {
    let text = |t: &str, p: &str| json!({"type": "text", "title": t, "path": p});
    json!({"type": "wrapper", "widgets": [
        {"type": "card", "title": title, "path": "",
         "meta": {"displayCard": true, "link": "{{hubspot_url}}"},
         "widgets": [
            text("Status", "message"),
            text("Name", "name"),
            text("Lifecycle stage", "lifecycle_stage"),
            text("Lead status", "lead_status"),
            text("Owner", "owner"),
            text("Created", "created"),
            text("Company", "company_name"),
            text("Company domain", "company_domain"),
            text("Open deals", "open_deals_total"),
            text("Last sync", "last_sync"),
            text("Merge proposal pending", "merge_proposal_pending"),
            text("Held conflict", "held_conflict"),
            text("Refused write", "refused_write"),
            text("HubSpot record", "hubspot_url"),
            text("Tickets", "tickets"),
            text("Open tickets", "open_tickets"),
            text("Last ticket", "last_ticket_subject"),
            text("Satisfaction (latest)", "satisfaction_last_score"),
            text("Satisfaction (average)", "satisfaction_average"),
         ]},
        {"type": "list", "path": "open_deals", "meta": {"limit": "5"}, "widgets": [
            {"type": "card", "title": "{{name}}", "widgets": [
                text("Stage", "stage"),
                text("Amount", "amount"),
                text("Close date", "close_date"),
            ]}
        ]}
    ]})
}

/// Whether `template` is a well-formed widget template: a `wrapper` root holding a
/// `widgets` array (what Gorgias checks).
pub fn is_wrapper(template: &Value) -> bool {
    template.get("type").and_then(Value::as_str) == Some("wrapper")
        && template.get("widgets").is_some_and(Value::is_array)
}

fn at<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(data);
    }
    path.split('.').try_fold(data, |v, k| v.get(k))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

/// `{{key}}` in a title, filled from `data`.
fn fill(title: &str, data: &Value) -> String {
    let mut out = String::new();
    let mut rest = title;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                out.push_str(&at(data, key).and_then(scalar).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn render(node: &Value, data: &Value, out: &mut String) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let path = node.get("path").and_then(Value::as_str).unwrap_or("");
    let title = node.get("title").and_then(Value::as_str).unwrap_or("");
    let children = node.get("widgets").and_then(Value::as_array);
    match kind {
        "wrapper" => {
            for c in children.into_iter().flatten() {
                render(c, data, out);
            }
        }
        "card" => {
            let Some(scope) = at(data, path) else { return };
            out.push_str(&format!(
                "<section class=\"card\"><h3>{}</h3><dl>",
                escape(&fill(title, scope))
            ));
            for c in children.into_iter().flatten() {
                render(c, scope, out);
            }
            out.push_str("</dl></section>");
        }
        "list" => {
            let limit = node
                .pointer("/meta/limit")
                .and_then(|l| l.as_str().and_then(|s| s.parse().ok()).or(l.as_u64()))
                .unwrap_or(u64::MAX) as usize;
            let items = at(data, path).and_then(Value::as_array);
            for item in items.into_iter().flatten().take(limit) {
                for c in children.into_iter().flatten() {
                    render(c, item, out);
                }
            }
        }
        _ => {
            if let Some(v) = at(data, path).and_then(scalar) {
                out.push_str(&format!(
                    "<dt>{}</dt><dd>{}</dd>",
                    escape(title),
                    escape(&v)
                ));
            }
        }
    }
}

/// A self-contained HTML page showing `template` filled with `data` in a sidebar-wide
/// column (empty values are left out, as the sidebar does).
pub fn preview_html(heading: &str, template: &Value, data: &Value) -> String {
    let mut body = String::new();
    render(template, data, &mut body);
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{h}</title><style>\
body{{font-family:sans-serif;background:#f4f5f7;margin:0;padding:16px;}}\
.sidebar{{width:340px;}}h2{{font-size:14px;color:#555;margin:0 0 8px;}}\
.card{{background:#fff;border:1px solid #dde;border-radius:6px;padding:10px 12px;margin-bottom:10px;}}\
h3{{font-size:14px;margin:0 0 6px;}}dl{{margin:0;display:grid;grid-template-columns:45% 55%;font-size:12px;}}\
dt{{color:#666;padding:2px 0;}}dd{{margin:0;padding:2px 0;word-break:break-all;}}\
</style></head><body><div class=\"sidebar\"><h2>{h}</h2>{body}</div></body></html>",
        h = escape(heading)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_have_a_wrapper_root() {
        assert!(is_wrapper(&card_template("HubSpot")));
        let t = custom_template("HubSpot", &[("Company".into(), "company".into())]);
        assert!(is_wrapper(&t));
        assert_eq!(t["widgets"][0]["path"], CUSTOM_CARD_PATH);
        assert!(!is_wrapper(&json!({"type": "card", "widgets": []})));
    }

    #[test]
    fn preview_fills_escapes_and_skips_empty_values() {
        let data = json!({"message": "<b>hi</b>", "name": null, "open_deals_total": 1,
            "open_deals": [{"name": "Big & small", "stage": "s1"}], "hubspot_url": ""});
        let html = preview_html("Card", &card_template("HubSpot"), &data);
        assert!(html.contains("&lt;b&gt;hi&lt;/b&gt;"));
        assert!(!html.contains("<b>hi"));
        assert!(html.contains("Big &amp; small"));
        assert!(!html.contains("<dt>Name</dt>"));
        assert!(!html.contains("<dt>HubSpot record</dt>"));
    }

    #[test]
    fn words_capitalise_the_first_letter() {
        assert_eq!(words("lifecycle_stage"), "Lifecycle stage");
    }
}
