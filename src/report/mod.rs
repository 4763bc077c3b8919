//! Reports of a [`Plan`] (the output of `tether plan` and the HTML file of `tether demo`) and
//! the `tether explain` view of one customer.
//!
//! Owns rendering only: [`render`] turns a plan into text (a table per customer, optionally
//! coloured with ANSI codes), the stable JSON document (`tether.plan/1`), Markdown, or one
//! self-contained HTML file. Pure: no clock (the caller passes `generated_at`), no files, no
//! terminal detection (the caller decides `color`, see [`color_wanted`]'s inputs). Customer
//! values are shown as they are (the user asked for them) but always escaped for the target
//! format, and control characters never reach a terminal raw. Must never print secrets: a
//! plan holds none, and nothing else is rendered.

pub mod explain;
mod html;
pub mod inbox;
mod json;
mod markdown;
mod proposals;
pub mod support;
mod text;
mod unsettled;
mod view;

pub use explain::{Explanation, FieldAction, FieldView, HistoryItem};
pub use json::{SCHEMA, to_json_value};
pub use proposals::{ProposalLine, ProposalPreview, render_with_proposals};

use crate::engine::Plan;

/// An output format of `tether plan` (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Format {
    /// A readable table per customer with a summary (ANSI colours when asked).
    #[default]
    Text,
    /// The documented, stable JSON document (docs/plan-schema.md).
    Json,
    /// Markdown: a heading and a pipe table per customer.
    Markdown,
    /// One self-contained HTML file (inline CSS, no scripts, no external URLs).
    Html,
}

/// How to render a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Use ANSI colours in [`Format::Text`] (ignored by the other formats). Decide it at the
    /// caller: standard output is a terminal (`std::io::IsTerminal`) and `NO_COLOR` is unset
    /// or empty; [`color_wanted`] does exactly that from the two facts.
    pub color: bool,
    /// Headline of the report, e.g. `"tether plan"`.
    pub title: String,
    /// When the plan was made, already formatted (e.g. RFC 3339); `None` leaves it out. The
    /// renderer never reads the clock.
    pub generated_at: Option<String>,
    /// Widest a value cell may be in the text table (display columns); longer values are
    /// cut with `…`. At least 4 is used.
    pub max_value_width: usize,
    /// Widest a reason cell may be in the text table (display columns).
    pub max_reason_width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            color: false,
            title: "tether plan".into(),
            generated_at: None,
            max_value_width: 32,
            max_reason_width: 60,
        }
    }
}

/// Whether to colour terminal output, from the two facts the caller knows: standard output
/// is a terminal, and the value of `NO_COLOR` (<https://no-color.org>: any non-empty value
/// turns colour off).
pub fn color_wanted(stdout_is_terminal: bool, no_color: Option<&str>) -> bool {
    stdout_is_terminal && no_color.is_none_or(str::is_empty)
}

/// Renders `plan` in `format`. Deterministic: the same plan and options give the same bytes.
/// Every output ends with a newline.
pub fn render(plan: &Plan, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Text => text::render(plan, opts),
        Format::Json => json::render(plan, opts),
        Format::Markdown => markdown::render(plan, opts),
        Format::Html => html::render(plan, opts),
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_follows_terminal_and_no_color() {
        assert!(color_wanted(true, None));
        assert!(color_wanted(true, Some("")));
        assert!(!color_wanted(true, Some("1")));
        assert!(!color_wanted(false, None));
    }

    #[test]
    fn format_names_are_lower_case() {
        use clap::ValueEnum;
        let names: Vec<String> = Format::value_variants()
            .iter()
            .map(|f| f.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        assert_eq!(names, ["text", "json", "markdown", "html"]);
    }

    #[test]
    fn every_format_is_deterministic_and_ends_with_newline() {
        let plan = fixture::plan();
        let opts = RenderOptions {
            generated_at: Some("2026-11-25T17:00:00Z".into()),
            ..RenderOptions::default()
        };
        for f in [Format::Text, Format::Json, Format::Markdown, Format::Html] {
            let a = render(&plan, f, &opts);
            let b = render(&plan.clone(), f, &opts);
            assert_eq!(a, b, "{f:?}");
            assert!(a.ends_with('\n'), "{f:?}");
            assert!(a.contains("2026-11-25T17:00:00Z"), "{f:?}");
        }
    }
}
