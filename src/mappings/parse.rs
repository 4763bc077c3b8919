//! Reading mapping files: TOML text → validated [`MappingSet`], with errors that name the
//! file, the line, the key and what is expected.
//!
//! Owns the file format (the raw serde structs), its validation and the merging of several
//! files into one set. Reads files only in [`load_dir`]; everything else works on text. Must
//! never accept a mapping the engine could not apply safely (unknown paths, writes through
//! read-only accessors, enums without options, bad date formats, duplicate targets).
//!
//! This file merges the files; the file format is `parse/raw.rs`, error locations
//! `source.rs`, and the validation of one field `field.rs`.

use super::model::*;
use super::transform::{self, Transform};
use super::value_map::ValueMap;
use crate::domain::Region;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: PathBuf,
    /// 1-based line (0 when the problem is not tied to a line, e.g. an unreadable file).
    pub line: usize,
    /// Dotted key, e.g. `fields.phone.direction`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}; expected {}",
            self.file.display(),
            self.line,
            self.key,
            self.problem,
            self.expected
        )
    }
}

/// Every problem found in a mapping directory (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingErrors(pub Vec<MappingError>);

impl fmt::Display for MappingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the mappings:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

mod field;
mod raw;
mod source;

use field::*;
use raw::*;
pub(crate) use source::Source;

struct Parsed<'a> {
    src: Source<'a>,
    file: RawFile,
}

/// Parses and validates mapping files given as `(path, text)` pairs, merged into one set.
pub fn parse_files(files: &[(PathBuf, String)]) -> Result<MappingSet, MappingErrors> {
    let mut errors = Vec::new();
    let mut parsed: Vec<Parsed<'_>> = Vec::new();
    for (path, text) in files {
        let src = Source { path, text };
        match toml::from_str::<RawFile>(text) {
            Ok(file) => parsed.push(Parsed { src, file }),
            Err(e) => errors.push(src.toml_error(&e)),
        }
    }
    if files.is_empty() {
        errors.push(MappingError {
            file: PathBuf::from("."),
            line: 0,
            key: "(files)".into(),
            problem: "no mapping files".into(),
            expected: "at least one *.toml file (see mappings/default.toml)".into(),
        });
    }
    let (defaults, records_from) = singletons(&parsed, &mut errors);
    let (mut fields, seen) = fields_of(&parsed, &defaults, &mut errors);
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    check_targets(&fields, &mut errors);
    let records = build_records(&parsed, records_from, &fields, &seen, &mut errors);
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, &a.key).cmp(&(&b.file, b.line, &b.key)));
        errors.dedup();
        return Err(MappingErrors(errors));
    }
    let mut sources: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    sources.sort();
    let (rollups, fields): (Vec<_>, _) = fields.into_iter().partition(FieldMapping::is_computed);
    let rollups = rollups
        .into_iter()
        .map(super::computed::with_property)
        .collect();
    Ok(MappingSet {
        fields,
        rollups,
        records,
        sources,
    })
}

/// The file's singletons: `[defaults]` and `[records]` may each appear in one file only
/// (a second one is an error naming the first); and the format version.
fn singletons<'p>(
    parsed: &'p [Parsed<'_>],
    errors: &mut Vec<MappingError>,
) -> (Defaults, Option<(&'p Path, usize, &'p RawRecords)>) {
    let mut defaults = Defaults {
        direction: Direction::Both,
        conflict: ConflictPolicy::Newest,
    };
    let mut defaults_from: Option<(&Path, usize)> = None;
    let mut records_from: Option<(&Path, usize, &RawRecords)> = None;
    for p in parsed {
        if let Some(v) = &p.file.version {
            if *v.get_ref() != 1 {
                errors.push(p.src.error(
                    v,
                    "version",
                    format!("unsupported mapping format version {}", v.get_ref()),
                    "version = 1",
                ));
            }
        }
        if let Some(d) = &p.file.defaults {
            let line = p.src.line_of(d.span().start);
            if let Some((other, oline)) = defaults_from {
                errors.push(p.src.error(
                    d,
                    "defaults",
                    format!("[defaults] is also defined in {}:{oline}", other.display()),
                    "[defaults] in one file only",
                ));
            } else {
                defaults_from = Some((p.src.path, line));
                if let Some(x) = &d.get_ref().direction {
                    defaults.direction = *x.get_ref();
                }
                if let Some(x) = &d.get_ref().conflict {
                    defaults.conflict = *x.get_ref();
                }
            }
        }
        if let Some(r) = &p.file.records {
            let line = p.src.line_of(r.span().start);
            if let Some((other, oline, _)) = records_from {
                errors.push(p.src.error(
                    r,
                    "records",
                    format!("[records] is also defined in {}:{oline}", other.display()),
                    "[records] in one file only",
                ));
            } else {
                records_from = Some((p.src.path, line, r.get_ref()));
            }
        }
    }
    (defaults, records_from)
}

/// The fields of every file, validated, with duplicates across files named by both files;
/// and where each field name was first defined.
fn fields_of(
    parsed: &[Parsed<'_>],
    defaults: &Defaults,
    errors: &mut Vec<MappingError>,
) -> (Vec<FieldMapping>, BTreeMap<String, Origin>) {
    let mut fields: Vec<FieldMapping> = Vec::new();
    let mut seen: BTreeMap<String, Origin> = BTreeMap::new();
    for p in parsed {
        for (name, raw) in &p.file.fields {
            let line = p.src.line_of(name.span().start);
            if let Some(first) = seen.get(name.get_ref()) {
                errors.push(p.src.error(
                    name,
                    format!("fields.{}", name.get_ref()),
                    format!(
                        "field {:?} is already defined in {}:{}",
                        name.get_ref(),
                        first.file.display(),
                        first.line
                    ),
                    "each field name defined once across all mapping files",
                ));
                continue;
            }
            seen.insert(
                name.get_ref().clone(),
                Origin {
                    file: p.src.path.to_owned(),
                    line,
                },
            );
            if let Some(f) = build_field(&p.src, name, raw, defaults, errors) {
                fields.push(f);
            }
        }
    }
    (fields, seen)
}

/// Two fields writing the same place would fight; each target is owned by one field.
fn check_targets(fields: &[FieldMapping], errors: &mut Vec<MappingError>) {
    let mut hub: BTreeMap<String, &FieldMapping> = BTreeMap::new();
    let mut gor: BTreeMap<String, &FieldMapping> = BTreeMap::new();
    for f in fields {
        let hs_targets: Vec<String> = match (&f.hubspot, f.direction) {
            (_, Direction::ToGorgias) | (HubspotAccess::Id, _) => vec![],
            (HubspotAccess::Property(p), _) => vec![p.clone()],
            (HubspotAccess::Join(a, b), _) => vec![a.clone(), b.clone()],
        };
        let g_target: Option<String> = match (&f.gorgias, f.direction) {
            (_, Direction::ToHubspot) => None,
            (GorgiasAccess::Top(t), _) => Some(t.clone()),
            (GorgiasAccess::PhoneChannel, _) => Some("channels.phone".into()),
            (GorgiasAccess::Data(p), _) => Some(format!("data.{}", p.join("."))),
            _ => None,
        };
        for t in hs_targets {
            if let Some(first) = hub.get(&t) {
                errors.push(dup_target(f, first, &format!("HubSpot property {t:?}")));
            } else {
                hub.insert(t, f);
            }
        }
        if let Some(t) = g_target {
            // A data path nested inside another written path also collides.
            let clash = gor.iter().find(|(k, _)| {
                **k == t || t.starts_with(&format!("{k}.")) || k.starts_with(&format!("{t}."))
            });
            if let Some((_, first)) = clash {
                errors.push(dup_target(f, first, &format!("Gorgias {t:?}")));
            } else {
                gor.insert(t, f);
            }
        }
    }
}

fn dup_target(f: &FieldMapping, first: &FieldMapping, what: &str) -> MappingError {
    MappingError {
        file: f.origin.file.clone(),
        line: f.origin.line,
        key: format!("fields.{}", f.name),
        problem: format!(
            "{what} is also written by field {:?} ({}:{})",
            first.name,
            first.origin.file.display(),
            first.origin.line
        ),
        expected: "each property or path written by one field only".into(),
    }
}

/// Validates `[records]`: the e-mail requirement, the create flags and each `only` filter.
/// Long (about 105 lines): the filter checks share the field lookup and the error list, one
/// short block per condition.
fn build_records(
    parsed: &[Parsed<'_>],
    from: Option<(&Path, usize, &RawRecords)>,
    fields: &[FieldMapping],
    declared: &BTreeMap<String, Origin>,
    errors: &mut Vec<MappingError>,
) -> RecordRules {
    let by_name = |n: &str| fields.iter().find(|f| f.name == n && !f.is_computed());
    let mut rules = RecordRules {
        email_field: by_name("email")
            .filter(|f| f.kind == ValueKind::Email)
            .map(|f| f.name.clone()),
        phone_field: by_name("phone")
            .filter(|f| f.kind == ValueKind::Phone)
            .map(|f| f.name.clone()),
        ..RecordRules::default()
    };
    let Some((path, _, raw)) = from else {
        return rules;
    };
    let Some(src) = parsed.iter().find(|p| p.src.path == path).map(|p| &p.src) else {
        return rules;
    };
    rules.require_email = raw.require_email.unwrap_or(false);
    rules.create_in_hubspot = raw.create_in_hubspot.unwrap_or(false);
    rules.create_in_gorgias = raw.create_in_gorgias.unwrap_or(false);
    let mut pick =
        |v: &Option<Spanned<String>>, k: &str, kind: ValueKind, slot: &mut Option<String>| {
            if let Some(n) = v {
                match by_name(n.get_ref()) {
                    Some(f) if f.kind == kind => *slot = Some(f.name.clone()),
                    Some(_) => errors.push(src.error(
                        n,
                        format!("records.{k}"),
                        format!("field {:?} is not of type {}", n.get_ref(), kind_name(kind)),
                        format!("the name of a field with type = \"{}\"", kind_name(kind)),
                    )),
                    None if declared.contains_key(n.get_ref()) => {}
                    None => errors.push(src.error(
                        n,
                        format!("records.{k}"),
                        format!("no field named {:?}", n.get_ref()),
                        "the name of a field under [fields]",
                    )),
                }
            }
        };
    pick(
        &raw.email_field,
        "email_field",
        ValueKind::Email,
        &mut rules.email_field,
    );
    pick(
        &raw.phone_field,
        "phone_field",
        ValueKind::Phone,
        &mut rules.phone_field,
    );
    pick(
        &raw.date_of_birth_field,
        "date_of_birth_field",
        ValueKind::Date,
        &mut rules.date_of_birth_field,
    );
    if rules.require_email && rules.email_field.is_none() && errors.is_empty() {
        errors.push(MappingError {
            file: path.to_owned(),
            line: 0,
            key: "records.require_email".into(),
            problem: "require_email is set but no e-mail field is mapped".into(),
            expected: "a field named `email` with type = \"email\", or records.email_field".into(),
        });
    }
    for f in &raw.only {
        let r = f.get_ref();
        let conds = [r.in_.is_some(), r.not_in.is_some(), r.present.is_some()];
        let condition = match (&r.in_, &r.not_in, r.present) {
            _ if conds.iter().filter(|c| **c).count() != 1 => None,
            (Some(v), _, _) => Some(Condition::In(v.clone())),
            (_, Some(v), _) => Some(Condition::NotIn(v.clone())),
            (_, _, Some(true)) => Some(Condition::Present),
            (_, _, Some(false)) => Some(Condition::Absent),
            _ => None,
        };
        let Some(condition) = condition else {
            errors.push(src.error(
                f,
                "records.only",
                "a filter needs exactly one condition",
                "one of `in = [...]`, `not_in = [...]`, `present = true|false`",
            ));
            continue;
        };
        if by_name(r.field.get_ref()).is_none() {
            if !declared.contains_key(r.field.get_ref()) {
                errors.push(src.error(
                    &r.field,
                    "records.only.field",
                    format!("no field named {:?}", r.field.get_ref()),
                    "the name of a field under [fields]",
                ));
            }
            continue;
        }
        rules.filters.push(Filter {
            field: r.field.get_ref().clone(),
            condition,
        });
    }
    rules
}

/// Reads every `*.toml` file directly in `dir` (not in sub-directories), sorted by name,
/// and parses them into one set.
pub fn load_dir(dir: &Path) -> Result<MappingSet, MappingErrors> {
    let io_error = |path: &Path, e: std::io::Error| {
        MappingErrors(vec![MappingError {
            file: path.to_owned(),
            line: 0,
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
            expected: "a readable directory of *.toml mapping files".into(),
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| io_error(&p, e))?;
        files.push((p, text));
    }
    if files.is_empty() {
        return Err(MappingErrors(vec![MappingError {
            file: dir.to_owned(),
            line: 0,
            key: "(files)".into(),
            problem: "no *.toml mapping files in this directory".into(),
            expected: "at least one *.toml file (see mappings/default.toml)".into(),
        }]));
    }
    parse_files(&files)
}

/// Parses one mapping text (for tests and tools); `name` is used in messages.
pub fn parse_str(name: &str, text: &str) -> Result<MappingSet, MappingErrors> {
    parse_files(&[(PathBuf::from(name), text.to_owned())])
}

#[cfg(test)]
mod tests;
