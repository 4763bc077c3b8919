//! The duplicates section of `tether plan`: what the next cycle would propose for review and
//! merge automatically (`merges::preview` over the same records), rendered after the plan in
//! every format; in JSON it is the top-level `proposals` key (docs/plan-schema.md).
//!
//! Pure, like the rest of the report. Names are customer values: escaped for the target
//! format like every other value. Must never read the store or the clock.

use super::{Format, RenderOptions, html, markdown, view};
use crate::domain::RecordRef;
use crate::merges::PreviewAction;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// One pair the next cycle would propose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalLine {
    pub a: RecordRef,
    /// The record's full name, when it has one.
    pub a_name: Option<String>,
    pub b: RecordRef,
    pub b_name: Option<String>,
    pub score: f64,
    /// `review`, `auto_merge` or `held_by_cap`.
    pub action: PreviewAction,
}

/// The duplicates section: every pair, highest score first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProposalPreview {
    pub pairs: Vec<ProposalLine>,
    /// How many pairs the text, Markdown and HTML formats list (JSON lists all).
    pub top: usize,
}

impl ProposalPreview {
    /// Pairs in the auto-merge band within the cap.
    pub fn auto_merge(&self) -> usize {
        self.count(PreviewAction::AutoMerge)
    }

    /// Pairs in the auto-merge band over the cap (left for review).
    pub fn held_by_cap(&self) -> usize {
        self.count(PreviewAction::HeldByCap)
    }

    fn count(&self, a: PreviewAction) -> usize {
        self.pairs.iter().filter(|p| p.action == a).count()
    }

    /// `would propose N pairs (M in the auto-merge band)`.
    pub fn headline(&self) -> String {
        let n = self.pairs.len();
        let mut s = format!(
            "would propose {n} duplicate pair{} ({} in the auto-merge band)",
            if n == 1 { "" } else { "s" },
            self.auto_merge() + self.held_by_cap()
        );
        if self.held_by_cap() > 0 {
            let _ = write!(
                s,
                "; {} merged automatically, {} over the per-cycle cap left for review",
                self.auto_merge(),
                self.held_by_cap()
            );
        }
        s
    }

    /// The `proposals` value of the JSON document.
    pub fn to_json_value(&self) -> Value {
        serde_json::json!({
            "would_propose": self.pairs.len(),
            "auto_merge": self.auto_merge(),
            "held_by_cap": self.held_by_cap(),
            "pairs": self.pairs.iter().map(|l| serde_json::json!({
                "a": l.a.to_string(),
                "a_name": l.a_name,
                "b": l.b.to_string(),
                "b_name": l.b_name,
                "score": l.score,
                "action": l.action,
            })).collect::<Vec<_>>(),
        })
    }
}

fn action_word(a: PreviewAction) -> &'static str {
    match a {
        PreviewAction::Review => "review",
        PreviewAction::AutoMerge => "auto-merge",
        PreviewAction::HeldByCap => "review (over the auto-merge cap)",
    }
}

fn side(r: &RecordRef, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{r} ({n})"),
        None => r.to_string(),
    }
}

/// Renders `plan` and then the duplicates section (see [`super::render`]).
pub fn render_with_proposals(
    plan: &crate::engine::Plan,
    format: Format,
    opts: &RenderOptions,
    p: &ProposalPreview,
) -> String {
    let base = super::render(plan, format, opts);
    let shown = p.pairs.iter().take(p.top);
    match format {
        Format::Json => {
            let mut doc = super::to_json_value(plan, opts.generated_at.as_deref());
            if let Value::Object(m) = &mut doc {
                m.insert("proposals".into(), p.to_json_value());
            }
            let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
        Format::Text => {
            let mut out = base;
            let _ = writeln!(out, "\nDuplicates: {}", p.headline());
            for l in shown {
                let _ = writeln!(
                    out,
                    "  {:.3}  {} ~ {}  → {}",
                    l.score,
                    view::visible(&side(&l.a, l.a_name.as_deref())),
                    view::visible(&side(&l.b, l.b_name.as_deref())),
                    action_word(l.action)
                );
            }
            if p.pairs.len() > p.top {
                let _ = writeln!(out, "  … and {} more", p.pairs.len() - p.top);
            }
            out
        }
        Format::Markdown => {
            let mut out = base;
            let _ = writeln!(out, "\n## Duplicates\n\n{}\n", p.headline());
            if !p.pairs.is_empty() {
                let _ = writeln!(
                    out,
                    "| Score | Record | Record | Action |\n|---|---|---|---|"
                );
                for l in shown {
                    let _ = writeln!(
                        out,
                        "| {:.3} | {} | {} | {} |",
                        l.score,
                        markdown::escape(&side(&l.a, l.a_name.as_deref())),
                        markdown::escape(&side(&l.b, l.b_name.as_deref())),
                        action_word(l.action)
                    );
                }
            }
            out
        }
        Format::Html => {
            let mut sec = format!(
                "<section>\n<h2>Duplicates</h2>\n<p>{}</p>\n",
                html::escape(&p.headline())
            );
            if !p.pairs.is_empty() {
                sec.push_str("<table>\n<thead><tr><th>Score</th><th>Record</th><th>Record</th><th>Action</th></tr></thead>\n<tbody>\n");
                for l in shown {
                    let _ = writeln!(
                        sec,
                        "<tr><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        l.score,
                        html::escape(&side(&l.a, l.a_name.as_deref())),
                        html::escape(&side(&l.b, l.b_name.as_deref())),
                        action_word(l.action)
                    );
                }
                sec.push_str("</tbody>\n</table>\n");
            }
            sec.push_str("</section>\n");
            match base.rfind("</body>") {
                Some(i) => format!("{}{sec}{}", &base[..i], &base[i..]),
                None => base + &sec,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use crate::report::fixture;

    fn preview() -> ProposalPreview {
        let h = |s: &str| RecordRef::Hubspot(HubspotId::new(s).unwrap());
        let g = |i: i64| RecordRef::Gorgias(GorgiasId::new(i).unwrap());
        ProposalPreview {
            pairs: vec![
                ProposalLine {
                    a: h("1"),
                    a_name: Some("Ann <b>Lee</b>".into()),
                    b: h("2"),
                    b_name: Some("Anne Lee".into()),
                    score: 0.995,
                    action: PreviewAction::AutoMerge,
                },
                ProposalLine {
                    a: g(3),
                    a_name: None,
                    b: g(4),
                    b_name: Some("Bo".into()),
                    score: 0.85,
                    action: PreviewAction::Review,
                },
            ],
            top: 1,
        }
    }

    #[test]
    fn every_format_carries_the_headline_and_escapes_names() {
        let plan = fixture::plan();
        let opts = RenderOptions::default();
        let p = preview();
        assert_eq!(
            p.headline(),
            "would propose 2 duplicate pairs (1 in the auto-merge band)"
        );
        let text = render_with_proposals(&plan, Format::Text, &opts, &p);
        assert!(text.starts_with(&crate::report::render(&plan, Format::Text, &opts)));
        assert!(text.contains("would propose 2 duplicate pairs"));
        assert!(
            text.contains("0.995  hubspot:1 (Ann <b>Lee</b>) ~ hubspot:2 (Anne Lee)  → auto-merge")
        );
        assert!(text.contains("… and 1 more"));
        let md = render_with_proposals(&plan, Format::Markdown, &opts, &p);
        assert!(md.contains("## Duplicates") && md.contains("\\<b\\>"));
        let html = render_with_proposals(&plan, Format::Html, &opts, &p);
        assert!(html.contains("&lt;b&gt;Lee") && !html.contains("<b>Lee"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.find("Duplicates").unwrap() < html.find("</body>").unwrap());
    }

    #[test]
    fn json_adds_the_proposals_key_at_the_end() {
        let s = render_with_proposals(
            &fixture::plan(),
            Format::Json,
            &RenderOptions::default(),
            &preview(),
        );
        let v: Value = serde_json::from_str(&s).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.first(), Some(&"schema"));
        assert_eq!(keys.last(), Some(&"proposals"));
        let p = &v["proposals"];
        assert_eq!(p["would_propose"], 2);
        assert_eq!(p["auto_merge"], 1);
        assert_eq!(p["held_by_cap"], 0);
        assert_eq!(p["pairs"][0]["a"], "hubspot:1");
        assert_eq!(p["pairs"][0]["action"], "auto_merge");
        assert_eq!(p["pairs"][1]["a_name"], Value::Null);
        assert_eq!(p["pairs"].as_array().unwrap().len(), 2);
    }
}
