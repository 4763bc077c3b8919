//! Escaping text for HTML: the one function the review page, the Gorgias sidebar card and the
//! HubSpot note bodies use to put untrusted text into element content or a quoted attribute.
//!
//! Owns that escape (and its table of entities, [`entity`], which the plan report's richer
//! escape uses too), and placing a finished fragment at the end of a page's body
//! ([`before_body_end`], for the report's and the review page's added sections). Must never
//! produce markup of its own (line breaks included: a page that shows them, like the plan
//! report, does so itself).

/// `s` with `&`, `<`, `>` and both quotes escaped, for element content and quoted attribute
/// values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match entity(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// The entity that stands for `c` in HTML text and quoted attributes, when it is one of the
/// five markup characters (`&`, `<`, `>`, `"`, `'`); `None` for any other character. For an
/// escape that does more with other characters (the plan report shows line breaks and
/// hidden characters), built on the same table.
pub fn entity(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    }
}

/// `page` (a whole document) with `fragment` placed just before its last `</body>`, or at
/// its end when it has none.
pub fn before_body_end(page: &str, fragment: &str) -> String {
    match page.rfind("</body>") {
        Some(i) => format!("{}{fragment}{}", &page[..i], &page[i..]),
        None => format!("{page}{fragment}"),
    }
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
