//! Locating errors: a source file's text with helpers that turn byte offsets into lines and
//! keys, and TOML errors into [`MappingError`]s. Must never validate a mapping.

use super::*;

/// A source file's text with helpers to turn byte offsets into lines and keys.
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text
            .as_bytes()
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    /// The dotted key written at `offset`: the nearest table header before it plus the key
    /// on its line, if the line holds `key = value`.
    pub(super) fn key_at(&self, offset: usize) -> String {
        let line_no = self.line_of(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let idx = line_no.saturating_sub(1).min(lines.len().saturating_sub(1));
        let here = lines.get(idx).copied().unwrap_or("").trim();
        let header = |l: &str| -> Option<String> {
            let l = l.trim();
            let inner = l.strip_prefix("[[").and_then(|r| r.split("]]").next());
            let inner = inner.or_else(|| l.strip_prefix('[').and_then(|r| r.split(']').next()));
            inner.map(|s| s.trim().to_owned())
        };
        if let Some(h) = header(here) {
            return h;
        }
        let table = lines
            .get(..idx)
            .unwrap_or(&[])
            .iter()
            .rev()
            .find_map(|l| header(l));
        let key = here
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned());
        match (table, key) {
            (Some(t), Some(k)) => format!("{t}.{k}"),
            (Some(t), None) => t,
            (None, Some(k)) => k,
            (None, None) => "(top level)".into(),
        }
    }

    pub(crate) fn error<T>(
        &self,
        at: &Spanned<T>,
        key: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> MappingError {
        MappingError {
            file: self.path.to_owned(),
            line: self.line_of(at.span().start),
            key: key.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }

    pub(super) fn toml_error(&self, err: &toml::de::Error) -> MappingError {
        let offset = err.span().map_or(0, |s| s.start);
        // toml leaves the message empty for some errors (a control character in a comment):
        // name the character, so the error still says what is wrong.
        let message = match err.message().trim() {
            "" => match self.text.get(offset..).and_then(|s| s.chars().next()) {
                Some(c) => format!("unexpected character {c:?} (U+{:04X})", u32::from(c)),
                None => "unexpected end of the file".to_owned(),
            },
            m => m.to_owned(),
        };
        let (problem, expected) = split_expected(&message);
        MappingError {
            file: self.path.to_owned(),
            line: if err.span().is_some() {
                self.line_of(offset)
            } else {
                0
            },
            key: self.key_at(offset),
            problem,
            expected,
        }
    }
}

pub(super) fn split_expected(message: &str) -> (String, String) {
    if let Some((p, e)) = message.split_once(", expected ") {
        return (p.to_owned(), e.to_owned());
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return (message.to_owned(), format!("a {rest} key in this table"));
    }
    (
        message.to_owned(),
        "valid TOML in the mapping format (see docs/mappings.md)".into(),
    )
}
