//! The tidy test (after rust-analyzer's `tidy.rs`): the source tree's own rules, checked on
//! every `cargo test`. Every module opens with a `//!` comment saying what it owns; the pure
//! layers (`engine`, `matcher`, `mappings`, `report`, `domain`) use no async runtime, SQL,
//! HTTP, clock or randomness; `sqlx` only under `store`; `anyhow` only in `commands`, `cli.rs`
//! and `main.rs`; the concrete state store type (`store::Store`) named only in `store` and
//! `commands` (every other caller holds the `StateStore` trait); no file over [`MAX_LINES`]
//! lines in `src/`, `tests/` or `benches/`. Each offence is printed as `file:line: what is
//! wrong`.
//!
//! Reads the tree and nothing else: must never change a file. Each rule is a pure function
//! over a file's path and text, tested below on small in-memory examples.

use std::fmt;
use std::path::{Path, PathBuf};

/// The longest a source file may be, in lines.
const MAX_LINES: usize = 800;

/// The directories whose modules must stay free of I/O, the clock and randomness.
const PURE_LAYERS: &[&str] = &[
    "src/engine",
    "src/matcher",
    "src/mappings",
    "src/report",
    "src/domain",
];

/// What the pure layers must never name, with why.
const IMPURE: &[(&str, &str)] = &[
    ("tokio", "the async runtime"),
    ("sqlx", "SQL"),
    ("reqwest", "HTTP"),
    ("Utc::now", "the clock"),
    ("Local::now", "the clock"),
    ("SystemTime", "the clock"),
    ("Instant::now", "the clock"),
    ("rand", "randomness"),
    ("getrandom", "randomness"),
];

/// Where `anyhow` may be used: the binary's shell.
const ANYHOW_ALLOWED: &[&str] = &["src/commands", "src/cli.rs", "src/main.rs"];

/// Where `sqlx` may be used.
const SQLX_ALLOWED: &[&str] = &["src/store"];

/// Where the concrete state store type (`store::Store`) may be named: the store itself, and
/// the commands, which alone choose the backend. Every other caller holds a `SharedStore`
/// (`Arc<dyn StateStore>`) or takes `&dyn StateStore`.
const CONCRETE_STORE_ALLOWED: &[&str] = &["src/store", "src/commands"];

/// The paths by which code outside the store reaches its types.
const STORE_PATHS: &[&str] = &["crate::store::", "tether::store::"];

/// One broken rule, at a file's line (1-based; 0 for the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offence {
    file: String,
    line: usize,
    what: String,
}

impl fmt::Display for Offence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// Whether `path` (with `/` separators, relative to the crate root) lies under one of `dirs`
/// (a directory, its `dir.rs` module file, or an exact file).
fn under(path: &str, dirs: &[&str]) -> bool {
    dirs.iter().any(|d| {
        path == *d
            || path
                .strip_prefix(d)
                .is_some_and(|rest| rest.starts_with('/'))
            || path.strip_suffix(".rs") == Some(d)
    })
}

/// The code of each line with comments and the contents of string and character literals
/// blanked out, so that a rule never fires on prose or on a log filter such as
/// `"sqlx=warn"`. Handles `//` and nested `/* */` comments, escapes, and raw strings.
fn code_lines(text: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Str,
        RawStr(usize),
        Block(usize),
    }
    let mut state = State::Code;
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut code = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match state {
                State::Code => match c {
                    '/' if next == Some('/') => break,
                    '/' if next == Some('*') => {
                        state = State::Block(1);
                        i += 1;
                    }
                    '"' => {
                        state = State::Str;
                        code.push('"');
                    }
                    'r' if (next == Some('"') || next == Some('#'))
                        && !code.ends_with(|p: char| p.is_alphanumeric() || p == '_') =>
                    {
                        let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                        if chars.get(i + 1 + hashes) == Some(&'"') {
                            state = State::RawStr(hashes);
                            code.push('"');
                            i += hashes + 1;
                        } else {
                            code.push(c);
                        }
                    }
                    '\'' => {
                        // A character literal ('x', '\n', '"'), or a lifetime ('a).
                        let end = if next == Some('\\') {
                            chars[i + 2..]
                                .iter()
                                .position(|&q| q == '\'')
                                .map(|p| i + 2 + p)
                        } else if chars.get(i + 2) == Some(&'\'') {
                            Some(i + 2)
                        } else {
                            None
                        };
                        match end {
                            Some(e) => {
                                code.push_str("' '");
                                i = e;
                            }
                            None => code.push(c),
                        }
                    }
                    _ => code.push(c),
                },
                State::Str => match c {
                    '\\' => i += 1,
                    '"' => {
                        state = State::Code;
                        code.push('"');
                    }
                    _ => {}
                },
                State::RawStr(n) => {
                    if c == '"' && chars[i + 1..].iter().take_while(|&&h| h == '#').count() >= n {
                        state = State::Code;
                        code.push('"');
                        i += n;
                    }
                }
                State::Block(depth) => {
                    if c == '*' && next == Some('/') {
                        state = if depth == 1 {
                            State::Code
                        } else {
                            State::Block(depth - 1)
                        };
                        i += 1;
                    } else if c == '/' && next == Some('*') {
                        state = State::Block(depth + 1);
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        out.push(code);
    }
    out
}

/// Whether `code` names `word` as a whole path segment or identifier (so `rand` matches
/// `rand::Rng` and `use rand;`, never `operand` or `random_id`).
fn names(code: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// Every module opens with a `//!` comment (blank lines and attributes such as
/// `#![allow]` may come first).
fn check_module_doc(file: &str, text: &str) -> Vec<Offence> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("#!["));
    match first {
        Some(l) if l.starts_with("//!") => vec![],
        _ => vec![Offence {
            file: file.to_owned(),
            line: 1,
            what: "the module does not open with a `//!` comment saying what it owns and \
                   what it must never do"
                .into(),
        }],
    }
}

/// The pure layers name no runtime, SQL, HTTP, clock or randomness.
fn check_pure_layer(file: &str, text: &str) -> Vec<Offence> {
    if !under(file, PURE_LAYERS) {
        return vec![];
    }
    let mut out = vec![];
    for (n, code) in code_lines(text).iter().enumerate() {
        for (word, what) in IMPURE {
            if names(code, word) {
                out.push(Offence {
                    file: file.to_owned(),
                    line: n + 1,
                    what: format!(
                        "`{word}` ({what}) in a pure layer ({}): pass the value in instead",
                        PURE_LAYERS.join(", ")
                    ),
                });
            }
        }
    }
    out
}

/// A crate used only where it is allowed (`sqlx` under `store`, `anyhow` in the shell).
fn check_confined(file: &str, text: &str, word: &str, allowed: &[&str]) -> Vec<Offence> {
    if !file.starts_with("src/") || under(file, allowed) {
        return vec![];
    }
    code_lines(text)
        .iter()
        .enumerate()
        .filter(|(_, code)| names(code, word))
        .map(|(n, _)| Offence {
            file: file.to_owned(),
            line: n + 1,
            what: format!("`{word}` outside {}", allowed.join(", ")),
        })
        .collect()
}

/// The text of the `{ ... }` use group that opens at `col` of line `n` of `lines`, up to its
/// matching brace (it may span lines), without the outer braces.
fn use_group(lines: &[String], n: usize, col: usize) -> String {
    let mut depth = 0usize;
    let mut out = String::new();
    let tail = std::iter::once(&lines[n][col..]).chain(lines[n + 1..].iter().map(String::as_str));
    for line in tail {
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return out,
                '}' => depth -= 1,
                _ => {}
            }
            if depth >= 1 && !(depth == 1 && c == '{') {
                out.push(c);
            }
        }
        out.push(' ');
    }
    out
}

/// Outside the store and the commands, no code names the concrete `store::Store`: not by
/// path (`crate::store::Store`, `tether::store::Store`), in a use group, or by a glob import
/// of the store (which would bring it in).
fn check_concrete_store(file: &str, text: &str) -> Vec<Offence> {
    if !file.starts_with("src/") || under(file, CONCRETE_STORE_ALLOWED) {
        return vec![];
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let lines = code_lines(text);
    let mut out = vec![];
    for (n, code) in lines.iter().enumerate() {
        let named = STORE_PATHS.iter().any(|root| {
            code.match_indices(root).any(|(at, _)| {
                if code[..at].chars().next_back().is_some_and(ident) {
                    return false;
                }
                let rest = &code[at + root.len()..];
                if rest.starts_with('{') {
                    let group = use_group(&lines, n, at + root.len());
                    names(&group, "Store") || group.split(',').any(|item| item.trim() == "*")
                } else {
                    rest.starts_with('*')
                        || rest
                            .strip_prefix("Store")
                            .is_some_and(|after| !after.starts_with(ident))
                }
            })
        });
        if named {
            out.push(Offence {
                file: file.to_owned(),
                line: n + 1,
                what: format!(
                    "the concrete `store::Store` outside {}: hold a `SharedStore` \
                     (`Arc<dyn StateStore>`) or take `&dyn StateStore` instead",
                    CONCRETE_STORE_ALLOWED.join(", ")
                ),
            });
        }
    }
    out
}

/// No file over `max` lines.
fn check_length(file: &str, text: &str, max: usize) -> Vec<Offence> {
    let lines = text.lines().count();
    if lines <= max {
        return vec![];
    }
    vec![Offence {
        file: file.to_owned(),
        line: max + 1,
        what: format!("{lines} lines, over the limit of {max}: split it along its seams"),
    }]
}

/// The `.rs` files under `dir` (relative to the crate root), sorted, as `(path, text)`.
fn rust_files(dir: &str) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                out.push((rel, text));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![];
    walk(&root, &root.join(dir), &mut out);
    out.sort();
    out
}

/// Runs `check` over the files of `dirs` and fails, listing every offence, if any.
fn enforce(rule: &str, dirs: &[&str], check: impl Fn(&str, &str) -> Vec<Offence>) {
    let files: Vec<(String, String)> = dirs.iter().flat_map(|d| rust_files(d)).collect();
    assert!(
        files.iter().any(|(f, _)| f == "src/lib.rs"),
        "the tidy test found no source files under {dirs:?}"
    );
    let offences: Vec<Offence> = files.iter().flat_map(|(f, t)| check(f, t)).collect();
    for o in &offences {
        eprintln!("{o}");
    }
    assert!(
        offences.is_empty(),
        "{rule}: {} offence(s):\n{}",
        offences.len(),
        offences
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const ALL: &[&str] = &["src", "tests", "benches"];

#[test]
fn every_module_opens_with_a_doc_comment() {
    enforce("module docs", ALL, check_module_doc);
}

#[test]
fn the_pure_layers_do_no_io_read_no_clock_and_use_no_randomness() {
    enforce("pure layers", &["src"], check_pure_layer);
}

#[test]
fn sqlx_is_used_only_in_the_store() {
    enforce("sqlx", &["src"], |f, t| {
        check_confined(f, t, "sqlx", SQLX_ALLOWED)
    });
}

#[test]
fn anyhow_is_used_only_in_the_shell() {
    enforce("anyhow", &["src"], |f, t| {
        check_confined(f, t, "anyhow", ANYHOW_ALLOWED)
    });
}

#[test]
fn only_the_store_and_the_commands_name_the_concrete_store() {
    enforce("concrete store", &["src"], check_concrete_store);
}

#[test]
fn no_file_is_too_long() {
    enforce("file length", ALL, |f, t| check_length(f, t, MAX_LINES));
}

// ---------- the checks themselves, on small in-memory examples ----------

#[test]
fn a_module_without_a_doc_comment_is_named() {
    assert!(check_module_doc("src/a.rs", "//! Owns a.\nfn f() {}\n").is_empty());
    assert!(check_module_doc("src/a.rs", "\n#![allow(dead_code)]\n//! Owns a.\n").is_empty());
    let o = check_module_doc("src/b.rs", "/// Not a module doc.\nfn f() {}\n");
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].to_string().split(':').next(), Some("src/b.rs"));
    assert_eq!(o[0].line, 1);
    assert_eq!(check_module_doc("src/c.rs", "").len(), 1);
}

#[test]
fn the_pure_layers_refuse_io_clock_and_randomness_with_the_line() {
    let text = "//! Pure.\nuse std::fmt;\nfn f() {\n    let t = chrono::Utc::now();\n}\n\
                use rand::Rng;\n#[tokio::test]\nasync fn g() {}\nfn h() -> SystemTime { todo!() }\n\
                fn i() { let _ = Instant::now(); }\nuse sqlx::Row;\nfn j(c: reqwest::Client) {}\n";
    let o = check_pure_layer("src/engine/diff.rs", text);
    let lines: Vec<usize> = o.iter().map(|o| o.line).collect();
    assert_eq!(lines, vec![4, 6, 7, 9, 10, 11, 12], "{o:#?}");
    assert!(
        o[0].to_string()
            .starts_with("src/engine/diff.rs:4: `Utc::now`")
    );
    // The same text outside the pure layers, and module files of a layer, are checked too.
    assert!(check_pure_layer("src/cycle/read.rs", text).is_empty());
    assert_eq!(check_pure_layer("src/matcher.rs", text).len(), 7);
    assert_eq!(check_pure_layer("src/domain/ids.rs", text).len(), 7);
    assert!(check_pure_layer("src/engine_extra.rs", text).is_empty());
}

#[test]
fn prose_strings_and_look_alike_names_are_not_offences() {
    let text = "//! Must never use tokio, sqlx or rand.\n\
                /* block comment: Utc::now() */\n\
                fn f() -> &'static str { \"sqlx=warn,reqwest=warn\" }\n\
                fn g(operand: u8, random_id: u8, brand: u8) {}\n\
                const Q: char = '\"'; fn tokio_free() {}\n\
                const R: &str = r#\"a \"quoted\" rand::Rng\"#;\n\
                const S: &str = \"escaped \\\" tokio\";\n";
    assert!(
        check_pure_layer("src/engine/x.rs", text).is_empty(),
        "{:#?}",
        check_pure_layer("src/engine/x.rs", text)
    );
    // Code after a multi-line string or block comment is read again.
    let text = "const A: &str = \"one\ntwo\";\nuse tokio;\n/* a\n b */ use rand;\n";
    let lines: Vec<usize> = check_pure_layer("src/report/x.rs", text)
        .iter()
        .map(|o| o.line)
        .collect();
    assert_eq!(lines, vec![3, 5]);
}

#[test]
fn sqlx_and_anyhow_stay_where_they_belong() {
    let text = "//! x\nuse sqlx::Row;\nfn f() -> anyhow::Result<()> { Ok(()) }\n";
    assert!(check_confined("src/store/api.rs", text, "sqlx", SQLX_ALLOWED).is_empty());
    assert!(check_confined("src/store.rs", text, "sqlx", SQLX_ALLOWED).is_empty());
    let o = check_confined("src/cycle/mod.rs", text, "sqlx", SQLX_ALLOWED);
    assert_eq!((o.len(), o[0].line), (1, 2));
    assert!(check_confined("src/storefront.rs", text, "sqlx", SQLX_ALLOWED).len() == 1);
    assert!(check_confined("src/commands/run.rs", text, "anyhow", ANYHOW_ALLOWED).is_empty());
    assert!(check_confined("src/main.rs", text, "anyhow", ANYHOW_ALLOWED).is_empty());
    let o = check_confined("src/engine/plan.rs", text, "anyhow", ANYHOW_ALLOWED);
    assert_eq!((o.len(), o[0].line), (1, 3));
    // Tests and benches may use either.
    assert!(check_confined("tests/it/store.rs", text, "sqlx", SQLX_ALLOWED).is_empty());
}

#[test]
fn the_concrete_store_is_named_only_by_the_store_and_the_commands() {
    let text = "//! x\n\
                use crate::store::{SharedStore, StateStore, StoreError};\n\
                fn f(s: crate::store::Store) {}\n\
                use crate::store::{\n    Decision,\n    Store,\n};\n\
                use tether::store::{Pair, outbox::{Done, FollowUp}, Store as S};\n\
                use crate::store::*;\n\
                let s = tether::store::Store::open_in_memory();\n\
                // crate::store::Store in a comment, and in a string:\n\
                const A: &str = \"crate::store::Store\";\n\
                use super::store::{IndexDoc, Store};\n\
                fn g(e: crate::store::StoreError, s: mycrate::store::Store) {}\n";
    let o = check_concrete_store("src/cycle/mod.rs", text);
    let lines: Vec<usize> = o.iter().map(|o| o.line).collect();
    assert_eq!(lines, vec![3, 4, 8, 9, 10], "{o:#?}");
    assert!(
        o[0].to_string()
            .starts_with("src/cycle/mod.rs:3: the concrete `store::Store` outside src/store")
    );
    // The store, the commands, tests and benches may name it.
    for file in [
        "src/store/api/forward.rs",
        "src/store.rs",
        "src/commands/open_store.rs",
        "tests/it/cycle_support.rs",
        "benches/store.rs",
    ] {
        assert!(check_concrete_store(file, text).is_empty(), "{file}");
    }
    assert_eq!(check_concrete_store("src/storefront.rs", text).len(), 5);
}

#[test]
fn a_file_over_the_limit_is_named_with_its_length() {
    let text = "x\n".repeat(5);
    assert!(check_length("src/a.rs", &text, 5).is_empty());
    let o = check_length("src/a.rs", &text, 4);
    assert_eq!(o.len(), 1);
    assert_eq!(
        o[0].to_string(),
        "src/a.rs:5: 5 lines, over the limit of 4: split it along its seams"
    );
}

#[test]
fn the_walk_finds_the_tree_and_this_file() {
    let files = rust_files("tests");
    assert!(
        files
            .iter()
            .any(|(f, t)| f == "tests/tidy.rs" && t.contains("MAX_LINES"))
    );
    assert!(
        rust_files("src")
            .iter()
            .any(|(f, _)| f == "src/engine/planner.rs")
    );
}
