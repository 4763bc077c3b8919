//! The text report: a headline, the summary and caps, then a table per customer (field,
//! HubSpot value, Gorgias value, base, action, reason), optionally coloured with ANSI codes.
//!
//! Pure. Columns are sized by Unicode display width; long values are cut with `…`; control
//! characters in values are shown escaped (`\n`, `\u{1b}`) so customer data can never move
//! the cursor or colour the terminal. Must never decide colour itself: the caller says.

use super::RenderOptions;
use super::view::{self, EMPTY, Row, RowKind};
use crate::engine::Plan;
use std::fmt::Write as _;

const RESET: &str = "\x1b[0m";
pub(crate) const BOLD: &str = "\x1b[1m";
pub(crate) const DIM: &str = "\x1b[2m";

fn style(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Link => "\x1b[34m",
        RowKind::Create => "\x1b[36m",
        RowKind::Write => "\x1b[32m",
        RowKind::Conflict => "\x1b[1;31m",
        RowKind::Base => DIM,
        RowKind::Skip => "\x1b[33m",
    }
}

pub(crate) struct Painter {
    pub on: bool,
}

impl Painter {
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.on && !s.is_empty() {
            format!("{code}{s}{RESET}")
        } else {
            s.to_owned()
        }
    }
}

fn cell(v: Option<&str>, max: usize) -> String {
    match v {
        Some(v) => view::truncate(&view::visible(v), max),
        None => EMPTY.to_owned(),
    }
}

fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(view::width(s))));
    out
}

pub(crate) const HEADERS: [&str; 6] = ["FIELD", "HUBSPOT", "GORGIAS", "BASE", "ACTION", "REASON"];

/// Writes a titled table of `rows` (also used by the `tether explain` view).
pub(crate) fn table(out: &mut String, title: &str, rows: &[Row], opts: &RenderOptions) {
    let p = Painter { on: opts.color };
    let vmax = opts.max_value_width.max(4);
    let rmax = opts.max_reason_width.max(8);
    let rows: Vec<(RowKind, [String; 6])> = rows
        .iter()
        .map(|r| {
            (
                r.kind,
                [
                    cell(Some(&r.field), vmax),
                    cell(r.hubspot.as_deref(), vmax),
                    cell(r.gorgias.as_deref(), vmax),
                    cell(r.base.as_deref(), vmax),
                    cell(Some(&r.action), rmax),
                    cell(Some(&r.reason), rmax),
                ],
            )
        })
        .collect();
    let mut widths = HEADERS.map(view::width);
    for (_, cells) in &rows {
        for (w, s) in widths.iter_mut().zip(cells) {
            *w = (*w).max(view::width(s));
        }
    }
    let line = |cells: &[String; 6], kind: Option<RowKind>| {
        let mut l = String::from("  ");
        for (i, (s, w)) in cells.iter().zip(widths).enumerate() {
            let last = i + 1 == cells.len();
            let text = if last { s.clone() } else { pad(s, w) };
            let text = match kind {
                Some(k) if i == 4 || (k == RowKind::Conflict && i > 0) => p.paint(style(k), &text),
                Some(RowKind::Base | RowKind::Skip) if i > 0 => {
                    p.paint(style(RowKind::Base), &text)
                }
                None => p.paint(BOLD, &text),
                _ => text,
            };
            l.push_str(&text);
            if !last {
                l.push_str("  ");
            }
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", p.paint(BOLD, &view::visible(title)));
    let _ = writeln!(out, "{}", line(&HEADERS.map(str::to_owned), None));
    for (kind, cells) in &rows {
        let _ = writeln!(out, "{}", line(cells, Some(*kind)));
    }
}

/// Renders the text report.
pub(crate) fn render(plan: &Plan, opts: &RenderOptions) -> String {
    let p = Painter { on: opts.color };
    let mut out = String::new();
    let _ = writeln!(out, "{}", p.paint(BOLD, &view::visible(&opts.title)));
    if let Some(at) = &opts.generated_at {
        let _ = writeln!(out, "generated {}", view::visible(at));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Summary: {}", view::summary_sentence(plan));
    let _ = writeln!(out, "Caps:    {}", view::caps_sentence(plan));
    if let Some(b) = view::blocked_sentence(plan) {
        let _ = writeln!(out, "{}", p.paint("\x1b[1;31m", &view::visible(&b)));
    }
    let customers = view::customers(plan);
    if let Some(n) = view::nothing_to_do(plan) {
        let _ = writeln!(out, "\n{n}");
    }
    for c in &customers {
        let _ = writeln!(out);
        table(&mut out, &c.key.title(), &c.rows, opts);
    }
    out.push_str(&super::unsettled::text(plan));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn opts(color: bool) -> RenderOptions {
        RenderOptions {
            color,
            max_value_width: 16,
            ..RenderOptions::default()
        }
    }

    #[test]
    fn plain_text_has_a_table_per_customer_and_no_escape_codes() {
        let t = render(&fixture::plan(), &opts(false));
        assert!(!t.contains('\x1b'), "{t}");
        assert!(t.contains("Summary: 2 pairs compared · 1 new link"), "{t}");
        assert!(t.contains("HubSpot 101 ⇄ Gorgias 7\n"), "{t}");
        assert!(t.contains("Gorgias 9 (no HubSpot contact)\n"), "{t}");
        let header = t.lines().find(|l| l.contains("FIELD")).unwrap();
        for h in HEADERS {
            assert!(header.contains(h), "{header}");
        }
        let name = t
            .lines()
            .find(|l| l.trim_start().starts_with("name "))
            .unwrap();
        assert!(
            name.contains("Jane Smith") && name.contains("update Gorgias"),
            "{name}"
        );
        assert!(name.contains("changed in HubSpot"), "{name}");
        // Actions are never cut, even when values are.
        assert!(t.contains("create in Gorgias  "), "{t}");
        assert!(
            t.contains("policy is manual (HubSpot 2026-11-01T10:00"),
            "{t}"
        );
    }

    #[test]
    fn long_values_are_cut_and_control_characters_escaped() {
        let t = render(&fixture::plan(), &opts(false));
        let company = t
            .lines()
            .find(|l| l.trim_start().starts_with("company"))
            .unwrap();
        assert!(company.contains("<script>alert(\"…"), "{company}");
        // The newline and BEL inside the value never reach the output raw.
        assert!(!t.contains('\u{7}'));
        assert!(t.lines().all(|l| !l.starts_with("line2")), "{t}");
    }

    #[test]
    fn columns_line_up_by_display_width() {
        let t = render(&fixture::plan(), &opts(false));
        let block: Vec<&str> = t
            .split("\n\n")
            .find(|b| b.starts_with("HubSpot 103"))
            .unwrap()
            .lines()
            .skip(1)
            .collect();
        // The ACTION column starts at the same display column on every line, even after
        // "Zoë Müller" (fewer columns than bytes).
        let col = |l: &str| {
            let i = l
                .find(if l.contains("ACTION") {
                    "ACTION"
                } else {
                    "create in"
                })
                .unwrap();
            view::width(&l[..i])
        };
        let first = col(block[0]);
        assert!(block.iter().all(|l| col(l) == first), "{block:#?}");
    }

    #[test]
    fn colour_marks_actions_and_conflicts() {
        let t = render(&fixture::plan(), &opts(true));
        assert!(t.contains("\x1b[1;31mhold for review"), "{t}");
        assert!(t.contains("\x1b[32mupdate Gorgias"), "{t}");
        assert!(t.contains(RESET));
    }

    #[test]
    fn empty_plan_says_nothing_to_do() {
        let mut p = fixture::plan();
        p.links.clear();
        p.gorgias_updates.clear();
        p.gorgias_creates.clear();
        p.base_updates.clear();
        p.changes.clear();
        p.conflicts.clear();
        p.skips.clear();
        let t = render(&p, &opts(false));
        assert!(t.contains("Nothing to do: both systems agree."), "{t}");
        // Skips and conflicts alone still say that nothing will be written.
        let mut q = fixture::plan();
        q.links.clear();
        q.gorgias_updates.clear();
        q.gorgias_creates.clear();
        q.base_updates.clear();
        q.changes.clear();
        let t = render(&q, &opts(false));
        assert!(
            t.contains("Nothing to write; 1 conflict is held for review."),
            "{t}"
        );
        assert!(t.contains("hold for review"), "{t}");
        let t = render(&fixture::plan(), &opts(false));
        assert!(!t.contains("Nothing to"), "{t}");
    }

    #[test]
    fn blocked_plan_says_so() {
        let mut p = fixture::plan();
        p.caps.exceeded = true;
        p.caps.blocked = true;
        p.caps.reason = Some("2 creates exceed max_creates = 1".into());
        let t = render(&p, &opts(false));
        assert!(
            t.contains("Blocked: 2 creates exceed max_creates = 1. Nothing will be written"),
            "{t}"
        );
        assert!(t.contains("BLOCKED"));
    }
}
