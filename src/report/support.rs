//! The "Support roll-ups in HubSpot" section of `tether demo`'s HTML report (issue 14): for
//! a few contacts, the ticket and satisfaction roll-up properties HubSpot now holds.
//!
//! Pure: the caller passes the rows read back from HubSpot. Every value is escaped.

use super::html::escape;
use std::fmt::Write as _;

/// One contact's roll-up properties: (HubSpot contact id, [(property, value)]).
pub type RollupRow = (String, Vec<(String, String)>);

/// The section as HTML (a heading and one table row per contact), or an empty string when
/// there is no row.
pub fn rollups_section(rows: &[RollupRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut cols: Vec<&str> = rows
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(k, _)| k.as_str()))
        .collect();
    cols.sort_unstable();
    cols.dedup();
    let mut out = String::from(
        "<section>\n<h2>Support roll-ups in HubSpot</h2>\n<p>Ticket and satisfaction roll-ups tether computed from the Gorgias ticket and survey feeds and wrote to the linked contacts.</p>\n<table>\n<thead><tr><th>HubSpot contact</th>",
    );
    for c in &cols {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (id, props) in rows {
        let _ = write!(out, "<tr><td>{}</td>", escape(id));
        for c in &cols {
            let v = props
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            let _ = write!(out, "<td>{}</td>", escape(v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    out
}

/// `html` (a whole report) with `section` placed before its closing `</body>`.
pub fn with_section(html: &str, section: &str) -> String {
    crate::html_text::before_body_end(html, section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_escapes_and_aligns_columns() {
        let rows = vec![
            (
                "101".to_owned(),
                vec![
                    ("gorgias_ticket_count".to_owned(), "3".to_owned()),
                    (
                        "gorgias_last_subject".to_owned(),
                        "<b>Refund</b>".to_owned(),
                    ),
                ],
            ),
            (
                "102".to_owned(),
                vec![("gorgias_ticket_count".to_owned(), "1".to_owned())],
            ),
        ];
        let s = rollups_section(&rows);
        assert!(s.contains("<h2>Support roll-ups in HubSpot</h2>"));
        assert!(s.contains("&lt;b&gt;Refund&lt;/b&gt;") && !s.contains("<b>"));
        assert!(
            s.contains("<tr><td>102</td><td></td><td>1</td></tr>"),
            "{s}"
        );
        assert_eq!(rollups_section(&[]), "");
        let page = with_section("<html><body><p>x</p></body></html>", &s);
        assert!(page.ends_with("</section>\n</body></html>"), "{page}");
    }
}
