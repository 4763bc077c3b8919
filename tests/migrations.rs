//! The two schemas stay twins: every SQLite migration in `migrations/` has a PostgreSQL twin of
//! the same name in `migrations/postgres/`; applied in version order, the two directories
//! build, after every step, the same tables with the same columns in the same order (`ALTER
//! TABLE … ADD COLUMN` included), the same indexes and (at least) the same triggers; the twins'
//! columns have the types the shared store code reads through `sqlx::Any` (BIGINT, never
//! INTEGER; DOUBLE PRECISION, never REAL; byte-ordered TEXT, `COLLATE "C"`). A migration only
//! PostgreSQL needs (the lease, read by PostgreSQL-only code) may stand alone. No PostgreSQL
//! file speaks SQLite's dialect (GLOB, json_valid, RAISE(ABORT), AUTOINCREMENT, INSERT OR).
//!
//! Reads the two directories and nothing else: must never change a file nor reach a server
//! (the conformance suite applies the PostgreSQL migrations to a real one). Each rule is a pure
//! function over file text, tested below on small in-memory examples.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `CREATE TABLE`: its name and its columns, each with its definition, in order.
#[derive(Debug, PartialEq, Eq)]
struct Table {
    name: String,
    columns: Vec<(String, String)>,
}

/// What one migration file declares.
#[derive(Debug, Default, PartialEq, Eq)]
struct Declared {
    tables: Vec<Table>,
    indexes: Vec<String>,
    triggers: Vec<String>,
}

/// The text without `--` comments (no string literal in these files holds `--`).
fn strip_comments(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first identifier of `s` (skipping `IF NOT EXISTS`), without quotes.
fn first_name(s: &str) -> String {
    let s = s.trim_start();
    let s = s
        .strip_prefix("IF NOT EXISTS")
        .map(str::trim_start)
        .unwrap_or(s);
    s.split(|c: char| c.is_whitespace() || c == '(' || c == ';')
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_owned()
}

/// The text between the parenthesis opening at `open` and its match.
fn parenthesised(s: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &s[open + 1..]
}

/// Splits a table body at its top-level commas.
fn items(body: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in body.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// The tables, indexes and triggers a migration declares.
fn declared(sql: &str) -> Declared {
    let mut d = Declared::default();
    apply(&mut d, sql);
    d
}

/// A column definition item of `CREATE TABLE` or `ADD COLUMN`: (name, definition).
fn column(item: &str) -> (String, String) {
    let (col, def) = item.split_once(char::is_whitespace).unwrap_or((item, ""));
    (col.trim_matches('"').to_owned(), def.trim().to_owned())
}

/// Applies one migration's statements, in order, to a schema: `CREATE TABLE`, `ALTER TABLE …
/// ADD COLUMN` (a table not declared yet is started, so one file can be read alone),
/// `CREATE [UNIQUE] INDEX`, `CREATE TRIGGER` and their `DROP`s. Other statements change no
/// name and are skipped.
fn apply(d: &mut Declared, sql: &str) {
    let sql = strip_comments(sql);
    const KEYWORDS: &[&str] = &[
        "CREATE TABLE ",
        "ALTER TABLE ",
        "DROP TABLE ",
        "CREATE INDEX ",
        "CREATE UNIQUE INDEX ",
        "DROP INDEX ",
        "CREATE TRIGGER ",
        "DROP TRIGGER ",
    ];
    let mut found: Vec<(usize, &str)> = KEYWORDS
        .iter()
        .flat_map(|kw| sql.match_indices(kw).map(move |(at, _)| (at, *kw)))
        .collect();
    found.sort();
    for (at, kw) in found {
        let rest = &sql[at + kw.len()..];
        let name = first_name(rest.strip_prefix("IF EXISTS").unwrap_or(rest));
        match kw {
            "CREATE TABLE " => {
                let open = rest.find('(').expect("a table body");
                let columns = items(parenthesised(rest, open))
                    .into_iter()
                    .filter(|item| {
                        let word = item.split_whitespace().next().unwrap_or("");
                        !["PRIMARY", "FOREIGN", "UNIQUE", "CHECK", "CONSTRAINT"].contains(&word)
                    })
                    .map(|item| column(&item))
                    .collect();
                d.tables.retain(|t| t.name != name);
                d.tables.push(Table { name, columns });
            }
            "ALTER TABLE " => {
                let statement = rest.split(';').next().unwrap_or("");
                let Some((_, added)) = statement.split_once(" ADD COLUMN ") else {
                    continue;
                };
                let col = column(added.trim());
                match d.tables.iter_mut().find(|t| t.name == name) {
                    Some(t) => t.columns.push(col),
                    None => d.tables.push(Table {
                        name,
                        columns: vec![col],
                    }),
                }
            }
            "DROP TABLE " => d.tables.retain(|t| t.name != name),
            "CREATE INDEX " | "CREATE UNIQUE INDEX " => d.indexes.push(name),
            "DROP INDEX " => d.indexes.retain(|i| *i != name),
            "CREATE TRIGGER " => d.triggers.push(name),
            "DROP TRIGGER " => d.triggers.retain(|t| *t != name),
            _ => unreachable!("{kw}"),
        }
    }
    d.indexes.sort();
    d.indexes.dedup();
    d.triggers.sort();
    d.triggers.dedup();
}

/// How a PostgreSQL twin differs from its SQLite original, one line per difference.
fn twin_differences(sqlite: &Declared, postgres: &Declared) -> Vec<String> {
    let mut out = Vec::new();
    let pg: BTreeMap<&str, &Table> = postgres
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for t in &sqlite.tables {
        let Some(p) = pg.get(t.name.as_str()) else {
            out.push(format!("table {} has no PostgreSQL twin", t.name));
            continue;
        };
        let names = |t: &Table| t.columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
        if names(t) != names(p) {
            out.push(format!(
                "table {}: columns {:?} in SQLite but {:?} in PostgreSQL",
                t.name,
                names(t),
                names(p)
            ));
        }
    }
    let sq: Vec<&str> = sqlite.tables.iter().map(|t| t.name.as_str()).collect();
    for t in &postgres.tables {
        if !sq.contains(&t.name.as_str()) {
            out.push(format!("table {} exists only in PostgreSQL", t.name));
        }
    }
    if sqlite.indexes != postgres.indexes {
        out.push(format!(
            "indexes {:?} in SQLite but {:?} in PostgreSQL",
            sqlite.indexes, postgres.indexes
        ));
    }
    for trigger in &sqlite.triggers {
        if !postgres.triggers.contains(trigger) {
            out.push(format!("trigger {trigger} has no PostgreSQL twin"));
        }
    }
    out
}

/// What a PostgreSQL migration must not say: SQLite's dialect.
fn dialect_offences(postgres_sql: &str) -> Vec<String> {
    let sql = strip_comments(postgres_sql);
    let mut out = Vec::new();
    for (word, why) in [
        ("GLOB", "SQLite only: use ~ '^[0-9]+$'"),
        ("json_valid", "SQLite only: use CHECK (x::json IS NOT NULL)"),
        ("RAISE(ABORT", "SQLite only: use a plpgsql trigger function"),
        (
            "AUTOINCREMENT",
            "SQLite only: use GENERATED BY DEFAULT AS IDENTITY",
        ),
        ("INSERT OR", "SQLite only: use ON CONFLICT"),
    ] {
        if sql.contains(word) {
            out.push(format!("names {word}: {why}"));
        }
    }
    out
}

/// Tables whose times are the database's own clock (`now()`), compared in SQL and never read
/// as values by the shared code: the writer lease (src/store/lease.rs) judges expiry by the
/// server's clock, never the replicas'. Only their `TIMESTAMPTZ` columns are let through.
const DATABASE_CLOCK_TABLES: &[&str] = &["lease"];

/// The columns of a PostgreSQL twin whose type the shared store code (`sqlx::Any`, binding
/// i64, f64 and text) would read otherwise than from SQLite.
fn type_offences(postgres_sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    if strip_comments(postgres_sql).contains("jsonb") {
        out.push("checks JSON as jsonb, which refuses the escape \\u0000 that valid JSON (and SQLite) accepts: cast to json".into());
    }
    for t in declared(postgres_sql).tables {
        for (col, def) in &t.columns {
            let ty = def.split_whitespace().next().unwrap_or("").to_uppercase();
            let problem = match ty.as_str() {
                "INTEGER" | "INT" | "INT4" | "SMALLINT" | "SERIAL" => {
                    Some("is a 32-bit integer: the store reads i64, use BIGINT")
                }
                "REAL" | "FLOAT4" => Some("is a 32-bit float: use DOUBLE PRECISION"),
                "TEXT" if !def.contains("COLLATE \"C\"") => Some(
                    "sorts by the database's locale: add COLLATE \"C\" (byte order, as SQLite)",
                ),
                "TIMESTAMPTZ" if DATABASE_CLOCK_TABLES.contains(&t.name.as_str()) => None,
                "BOOLEAN" | "BOOL" | "JSON" | "JSONB" | "TIMESTAMPTZ" | "TIMESTAMP" | "NUMERIC" => {
                    Some("is not one of the types the store binds (i64, f64, text)")
                }
                _ => None,
            };
            if let Some(p) = problem {
                out.push(format!("{}.{col} {p}", t.name));
            }
        }
    }
    out
}

fn sql_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

#[test]
fn every_sqlite_migration_has_a_postgres_twin_of_the_same_name() {
    let sqlite = sql_files(&root());
    let postgres = sql_files(&root().join("postgres"));
    let missing: Vec<_> = sqlite
        .keys()
        .filter(|k| !postgres.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "add migrations/postgres/<same name> for {missing:?}"
    );
}

#[test]
fn the_twins_build_the_same_tables_columns_indexes_and_triggers() {
    // Applied in version order, every SQLite migration and its twin (a migration only
    // PostgreSQL has adds nothing here) must leave the same schema behind, and so after each
    // step: one file may reach what the other reaches in its own way (SQLite re-creates a
    // trigger around an update that PostgreSQL does not need).
    let postgres = sql_files(&root().join("postgres"));
    let (mut sq, mut pg) = (Declared::default(), Declared::default());
    let mut offences = Vec::new();
    for (name, text) in sql_files(&root()) {
        let Some(twin) = postgres.get(&name) else {
            continue;
        };
        apply(&mut sq, &text);
        apply(&mut pg, twin);
        for o in twin_differences(&sq, &pg) {
            offences.push(format!("after {name}: {o}"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn the_postgres_migrations_speak_postgres_and_twins_have_the_types_the_store_reads() {
    let sqlite = sql_files(&root());
    let mut offences = Vec::new();
    for (name, text) in sql_files(&root().join("postgres")) {
        let types = if sqlite.contains_key(&name) {
            type_offences(&text)
        } else {
            Vec::new()
        };
        for o in dialect_offences(&text).into_iter().chain(types) {
            offences.push(format!("migrations/postgres/{name}: {o}"));
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn a_table_is_read_with_its_columns_and_constraints_are_not_columns() {
    let d = declared(
        "-- a comment, with CREATE TABLE ignored (x INTEGER)\n\
         CREATE TABLE t (\n  id INTEGER PRIMARY KEY,\n  v TEXT CHECK (v IN ('a', 'b')),\n\
         PRIMARY KEY (id),\n  CHECK ((a, b) <> (c, d))\n);\n\
         CREATE UNIQUE INDEX t_v ON t (v) WHERE v <> 'a';\nCREATE INDEX t_id ON t (id);\n\
         CREATE TRIGGER t_no_update BEFORE UPDATE ON t BEGIN SELECT 1; END;",
    );
    assert_eq!(
        d.tables,
        [Table {
            name: "t".into(),
            columns: vec![
                ("id".into(), "INTEGER PRIMARY KEY".into()),
                ("v".into(), "TEXT CHECK (v IN ('a', 'b'))".into()),
            ],
        }]
    );
    assert_eq!(d.indexes, ["t_id", "t_v"]);
    assert_eq!(d.triggers, ["t_no_update"]);
}

#[test]
fn added_columns_and_dropped_names_are_followed_in_order() {
    let mut d = declared(
        "CREATE TABLE a (x INTEGER);\nCREATE TRIGGER a_t BEFORE DELETE ON a BEGIN SELECT 1; END;",
    );
    apply(
        &mut d,
        "ALTER TABLE a ADD COLUMN y BIGINT NOT NULL DEFAULT 0 CHECK (y >= 0);\n\
         DROP TRIGGER a_t;\nUPDATE a SET y = rowid;\n\
         CREATE TRIGGER a_t BEFORE UPDATE ON a BEGIN SELECT 1; END;\n\
         CREATE INDEX a_y ON a (y);\nDROP INDEX IF EXISTS a_y;",
    );
    assert_eq!(
        d.tables[0].columns,
        [
            ("x".to_owned(), "INTEGER".to_owned()),
            (
                "y".to_owned(),
                "BIGINT NOT NULL DEFAULT 0 CHECK (y >= 0)".to_owned()
            )
        ]
    );
    assert_eq!(d.triggers, ["a_t"]);
    assert!(d.indexes.is_empty());
    // An added column is type-checked like a declared one.
    assert_eq!(
        type_offences("ALTER TABLE a ADD COLUMN y INTEGER;").len(),
        1
    );
}

#[test]
fn a_missing_column_table_index_or_trigger_is_named() {
    let sqlite = declared(
        "CREATE TABLE a (x INTEGER, y TEXT);\nCREATE TABLE b (z TEXT);\n\
         CREATE INDEX a_x ON a (x);\nCREATE TRIGGER a_t BEFORE DELETE ON a BEGIN SELECT 1; END;",
    );
    let postgres = declared("CREATE TABLE a (x BIGINT);\nCREATE TABLE c (z TEXT);");
    let diffs = twin_differences(&sqlite, &postgres);
    assert_eq!(diffs.len(), 5, "{diffs:#?}");
    assert!(diffs[0].contains("table a: columns [\"x\", \"y\"]"));
    assert!(diffs[1].contains("table b has no PostgreSQL twin"));
    assert!(diffs[2].contains("table c exists only in PostgreSQL"));
    assert!(diffs[3].contains("indexes [\"a_x\"]"));
    assert!(diffs[4].contains("trigger a_t"));
    assert!(twin_differences(&sqlite, &sqlite).is_empty());
}

#[test]
fn sqlite_dialect_and_types_any_reads_otherwise_are_refused() {
    let sql = "CREATE TABLE t (\n  id INTEGER PRIMARY KEY,\n  s REAL,\n  v TEXT NOT NULL CHECK \
         (json_valid(v)),\n  h TEXT COLLATE \"C\" CHECK (h NOT GLOB '*[^0-9]*'),\n  b BOOLEAN\n);";
    let bad: Vec<String> = dialect_offences(sql)
        .into_iter()
        .chain(type_offences(sql))
        .collect();
    assert_eq!(bad.len(), 6, "{bad:#?}");
    assert!(bad.iter().any(|o| o.contains("GLOB")));
    assert!(bad.iter().any(|o| o.contains("json_valid")));
    assert!(
        bad.iter()
            .any(|o| o.starts_with("t.id ") && o.contains("BIGINT"))
    );
    assert!(bad.iter().any(|o| o.starts_with("t.s ")));
    assert!(
        bad.iter()
            .any(|o| o.starts_with("t.v ") && o.contains("COLLATE"))
    );
    assert!(bad.iter().any(|o| o.starts_with("t.b ")));
    let good = "CREATE TABLE t (\n  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n  \
         s DOUBLE PRECISION,\n  v TEXT COLLATE \"C\" NOT NULL CHECK (v::json IS NOT NULL)\n);";
    assert!(dialect_offences(good).is_empty());
    assert!(type_offences(good).is_empty());
    let lease =
        "CREATE TABLE lease (\n  id BIGINT PRIMARY KEY,\n  expires_at TIMESTAMPTZ NOT NULL\n);";
    assert!(type_offences(lease).is_empty());
    assert_eq!(type_offences(&lease.replace("lease", "links")).len(), 1);
}
