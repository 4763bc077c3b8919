//! The HTML report: ONE self-contained file (inline CSS, no scripts, no external URL; a
//! Content-Security-Policy forbids loading anything), with the summary and caps at the top
//! and a table per customer; conflicts and skips are highlighted.
//!
//! Pure. Every value goes through [`escape`]: `&`, `<`, `>`, `"`, `'` become entities, line
//! breaks become `<br>`, other control and bidi-override characters are shown escaped. Must
//! never emit raw customer text, a `<script>`, or a reference to anything outside the file.

use super::RenderOptions;
use super::view::{self, EMPTY};
use crate::engine::Plan;
use std::fmt::Write as _;

/// `s` escaped for HTML text and attribute values: the markup characters as
/// [`crate::html_text::entity`] says, line breaks as `<br>`, hidden characters shown.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(e) = crate::html_text::entity(c) {
            out.push_str(e);
            continue;
        }
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            c if view::is_hidden(c) => {
                let _ = write!(out, "<span class=\"esc\">{}</span>", view::escape_char(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn cell(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("<td>{}</td>", escape(v)),
        None => format!("<td class=\"empty\">{EMPTY}</td>"),
    }
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{margin:0 0 .25rem}
.meta{color:#59636e;margin:0 0 1rem}
.cards{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.card{border:1px solid #d1d9e0;border-radius:6px;padding:.4rem .8rem;min-width:7rem}
.card b{display:block;font-size:1.4rem}
.card.conflict{background:#ffebe9;border-color:#ff8182}
.card.skip{background:#fff8c5;border-color:#d4a72c}
.blocked{background:#ffebe9;border:2px solid #cf222e;padding:.6rem 1rem;border-radius:6px;font-weight:bold}
section{margin:1.5rem 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f8fa}
tr.conflict td{background:#ffebe9}
tr.conflict td.action{color:#cf222e;font-weight:bold}
tr.skip td{background:#fff8c5}
tr.write td.action{color:#1a7f37;font-weight:bold}
tr.create td.action{color:#0969da;font-weight:bold}
tr.link td.action{color:#8250df}
tr.base td{color:#59636e}
td.empty{color:#8c959f}
.esc{color:#cf222e;font-family:monospace}
";

/// Renders the HTML report.
pub(crate) fn render(plan: &Plan, opts: &RenderOptions) -> String {
    let title = escape(&opts.title);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    if let Some(at) = &opts.generated_at {
        let _ = writeln!(out, "<p class=\"meta\">Generated {}</p>", escape(at));
    }
    let _ = writeln!(out, "<div class=\"cards\">");
    for (label, n) in view::summary_items(plan) {
        let class = match label {
            "conflicts" if n > 0 => " conflict",
            "skips" if n > 0 => " skip",
            _ => "",
        };
        let _ = writeln!(
            out,
            "<div class=\"card{class}\"><b>{n}</b>{}</div>",
            escape(label)
        );
    }
    let _ = writeln!(out, "</div>");
    let _ = writeln!(
        out,
        "<p>Safety caps: {}</p>",
        escape(&view::caps_sentence(plan))
    );
    if let Some(b) = view::blocked_sentence(plan) {
        let _ = writeln!(out, "<p class=\"blocked\">{}</p>", escape(&b));
    }
    let customers = view::customers(plan);
    if let Some(n) = view::nothing_to_do(plan) {
        let _ = writeln!(out, "<p class=\"nothing\">{}</p>", escape(&n));
    }
    for c in &customers {
        let _ = writeln!(
            out,
            "<section>\n<h2>{}</h2>\n<table>\n<thead><tr><th>Field</th><th>HubSpot</th><th>Gorgias</th><th>Base</th><th>Action</th><th>Reason</th></tr></thead>\n<tbody>",
            escape(&c.key.title())
        );
        for r in &c.rows {
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td>{}{}{}<td class=\"action\">{}</td><td>{}</td></tr>",
                r.kind.name(),
                escape(&r.field),
                cell(r.hubspot.as_deref()),
                cell(r.gorgias.as_deref()),
                cell(r.base.as_deref()),
                escape(&r.action),
                escape(&r.reason)
            );
        }
        let _ = writeln!(out, "</tbody>\n</table>\n</section>");
    }
    out.push_str(&super::unsettled::html(plan, escape));
    let _ = writeln!(out, "</body>\n</html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn escapes_markup_quotes_ampersands_and_controls() {
        assert_eq!(
            escape("<script>alert(\"x&y\")</script>"),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("it's"), "it&#39;s");
        assert_eq!(escape("a\nb"), "a<br>b");
        assert_eq!(escape("a\u{1b}b"), "a<span class=\"esc\">\\u{1b}</span>b");
        assert_eq!(
            escape("a\u{202e}b"),
            "a<span class=\"esc\">\\u{202e}</span>b"
        );
        assert_eq!(escape("Zoë &amp;"), "Zoë &amp;amp;");
    }

    #[test]
    fn report_is_one_self_contained_file() {
        let opts = RenderOptions {
            title: "plan <for> \"acme\"".into(),
            ..RenderOptions::default()
        };
        let html = render(&fixture::plan(), &opts);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        let lower = html.to_lowercase();
        assert!(!lower.contains("<script"), "a script slipped through");
        assert!(!lower.contains("http://") && !lower.contains("https://"));
        assert!(!lower.contains("<link") && !lower.contains("src="));
        assert!(!html.contains('\u{7}'));
        assert!(html.contains("<title>plan &lt;for&gt; &quot;acme&quot;</title>"));
        assert!(html.contains(
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; &#39;a|b&#39;<br>line2"
        ));
    }

    #[test]
    fn a_blocked_plan_shows_a_banner_before_the_tables() {
        let mut p = fixture::plan();
        p.caps.exceeded = true;
        p.caps.blocked = true;
        p.caps.reason = Some("600 creates exceed max_creates = 500 <sic>".into());
        let html = render(&p, &RenderOptions::default());
        let banner = html
            .find("<p class=\"blocked\">Blocked: 600 creates exceed max_creates = 500 &lt;sic&gt;")
            .unwrap();
        assert!(banner < html.find("<table>").unwrap());
        assert!(!render(&fixture::plan(), &RenderOptions::default()).contains("class=\"blocked\""));
    }

    #[test]
    fn summary_comes_first_and_conflicts_and_skips_are_highlighted() {
        let html = render(&fixture::plan(), &RenderOptions::default());
        let cards = html.find("class=\"cards\"").unwrap();
        let first_table = html.find("<table>").unwrap();
        assert!(cards < first_table);
        assert!(html.contains("<div class=\"card conflict\"><b>1</b>conflicts</div>"));
        assert!(html.contains("<div class=\"card skip\"><b>2</b>skips</div>"));
        assert!(html.contains("<tr class=\"conflict\"><td>phone</td>"));
        assert!(html.contains("<tr class=\"skip\"><td>(record)</td>"));
        assert_eq!(html.matches("<section>").count(), 4);
    }
}
