//! The Markdown report: a title, the summary and caps, then a heading and a pipe table per
//! customer. Conflicts and skips are marked in bold.
//!
//! Pure. Every value is escaped for a table cell: Markdown punctuation (`|`, `*`, `_`, `<`,
//! backticks, ...) is backslash-escaped, line breaks become `<br>`, and other control
//! characters are shown escaped. Must never emit raw customer text.

use super::RenderOptions;
use super::view::{self, EMPTY, RowKind};
use crate::engine::Plan;
use std::fmt::Write as _;

/// `s` safe inside a Markdown paragraph or table cell.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c if view::is_hidden(c) => out.push_str(&view::escape_char(c).replace('\\', "\\\\")),
            c => out.push(c),
        }
    }
    out
}

fn cell(v: Option<&str>) -> String {
    v.map_or_else(|| EMPTY.to_owned(), escape)
}

/// Renders the Markdown report.
pub(crate) fn render(plan: &Plan, opts: &RenderOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", escape(&opts.title));
    if let Some(at) = &opts.generated_at {
        let _ = writeln!(out, "Generated {}\n", escape(at));
    }
    let _ = writeln!(out, "**Summary:** {}\n", view::summary_sentence(plan));
    let _ = writeln!(out, "**Caps:** {}\n", view::caps_sentence(plan));
    if let Some(b) = view::blocked_sentence(plan) {
        let _ = writeln!(out, "> **{}**\n", escape(&b));
    }
    let customers = view::customers(plan);
    if let Some(n) = view::nothing_to_do(plan) {
        let _ = writeln!(out, "{}\n", escape(&n));
    }
    for c in &customers {
        let _ = writeln!(out, "## {}\n", escape(&c.key.title()));
        let _ = writeln!(
            out,
            "| Field | HubSpot | Gorgias | Base | Action | Reason |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for r in &c.rows {
            let action = escape(&r.action);
            let action = match r.kind {
                RowKind::Conflict | RowKind::Skip => format!("**{action}**"),
                _ => action,
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&r.field),
                cell(r.hubspot.as_deref()),
                cell(r.gorgias.as_deref()),
                cell(r.base.as_deref()),
                action,
                escape(&r.reason)
            );
        }
        out.push('\n');
    }
    out.push_str(&super::unsettled::markdown(plan, escape));
    // One trailing newline.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn escapes_pipes_newlines_and_markup() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("one\ntwo\r\nthree"), "one<br>two<br>three");
        assert_eq!(escape("<b>*x*</b>"), "\\<b\\>\\*x\\*\\</b\\>");
        assert_eq!(escape("a\u{7}b"), "a\\\\u{7}b");
        assert_eq!(escape("Zoë"), "Zoë");
    }

    #[test]
    fn every_table_row_has_six_cells() {
        let md = render(&fixture::plan(), &RenderOptions::default());
        assert!(md.starts_with("# tether plan\n"), "{md}");
        assert!(md.contains("## HubSpot 101 ⇄ Gorgias 7\n"), "{md}");
        for line in md.lines().filter(|l| l.starts_with('|')) {
            // Unescaped pipes delimit cells: 7 of them for 6 cells.
            let bytes = line.as_bytes();
            let pipes = (0..bytes.len())
                .filter(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
                .count();
            assert_eq!(pipes, 7, "{line}");
        }
        assert!(!md.contains("<script>"), "{md}");
        assert!(md.contains("\\<script\\>"), "{md}");
        assert!(md.contains("**hold for review**"), "{md}");
        assert!(!md.contains('\u{7}'));
    }
}
