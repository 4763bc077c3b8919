//! Escaping text for HTML: the one function the review page, the Gorgias sidebar card and the
//! HubSpot note bodies use to put untrusted text into element content or a quoted attribute.
//!
//! Owns that escape only. Must never produce markup of its own (line breaks included: a page
//! that shows them, like the plan report, does so itself).

/// `s` with `&`, `<`, `>` and both quotes escaped, for element content and quoted attribute
/// values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_markup_character_is_escaped_and_the_rest_kept() {
        assert_eq!(
            escape(r#"<a href="x">O'Brien & co</a> é"#),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt; é"
        );
    }
}
