//! Computed Gorgias sources of the mapping language: `@tickets.*` and `@satisfaction.*`,
//! support roll-ups that tether works out from the ticket and survey feeds (issue 14).
//!
//! Owns the names of the sources, the kind of value each one holds (which fixes the HubSpot
//! property type `tether setup` creates), and the per-field `include` option (spam and
//! trashed tickets are left out unless a field asks for them). Pure. Must never compute a
//! roll-up (that is [`crate::support`]) and must never let a computed source be written to
//! Gorgias: the parser refuses any direction but `to_hubspot` through
//! [`super::GorgiasAccess::writable`].

use super::model::{FieldMapping, GorgiasAccess, HubspotAccess, PropertyDefinition, ValueKind};
use super::parse::{MappingError, Source};
use serde::Serialize;
use toml::Spanned;

/// One computed source, read-only, flowing to HubSpot only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ComputedSource {
    TicketsCount,
    TicketsOpenCount,
    TicketsLastCreatedDatetime,
    TicketsLastMessageDatetime,
    TicketsLastClosedDatetime,
    TicketsLastSubject,
    TicketsLastChannel,
    TicketsLastStatus,
    TicketsLastUrl,
    SatisfactionCount,
    SatisfactionLastScore,
    SatisfactionAverageScore,
}

impl ComputedSource {
    /// Every source, in the order the docs list them.
    pub const ALL: [ComputedSource; 12] = [
        Self::TicketsCount,
        Self::TicketsOpenCount,
        Self::TicketsLastCreatedDatetime,
        Self::TicketsLastMessageDatetime,
        Self::TicketsLastClosedDatetime,
        Self::TicketsLastSubject,
        Self::TicketsLastChannel,
        Self::TicketsLastStatus,
        Self::TicketsLastUrl,
        Self::SatisfactionCount,
        Self::SatisfactionLastScore,
        Self::SatisfactionAverageScore,
    ];

    /// The name written in mapping files, e.g. `@tickets.count`.
    pub fn name(self) -> &'static str {
        match self {
            Self::TicketsCount => "@tickets.count",
            Self::TicketsOpenCount => "@tickets.open_count",
            Self::TicketsLastCreatedDatetime => "@tickets.last_created_datetime",
            Self::TicketsLastMessageDatetime => "@tickets.last_message_datetime",
            Self::TicketsLastClosedDatetime => "@tickets.last_closed_datetime",
            Self::TicketsLastSubject => "@tickets.last_subject",
            Self::TicketsLastChannel => "@tickets.last_channel",
            Self::TicketsLastStatus => "@tickets.last_status",
            Self::TicketsLastUrl => "@tickets.last_url",
            Self::SatisfactionCount => "@satisfaction.count",
            Self::SatisfactionLastScore => "@satisfaction.last_score",
            Self::SatisfactionAverageScore => "@satisfaction.average_score",
        }
    }

    /// The source named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether `s` looks like a computed source (so an unknown one gets a precise message).
    pub fn looks_computed(s: &str) -> bool {
        s.starts_with("@tickets.") || s.starts_with("@satisfaction.")
    }

    /// The kind of value the source holds; the HubSpot property type follows from it.
    pub fn kind(self) -> ValueKind {
        match self {
            Self::TicketsCount
            | Self::TicketsOpenCount
            | Self::SatisfactionCount
            | Self::SatisfactionLastScore
            | Self::SatisfactionAverageScore => ValueKind::Number,
            Self::TicketsLastCreatedDatetime
            | Self::TicketsLastMessageDatetime
            | Self::TicketsLastClosedDatetime => ValueKind::Datetime,
            Self::TicketsLastSubject
            | Self::TicketsLastChannel
            | Self::TicketsLastStatus
            | Self::TicketsLastUrl => ValueKind::String,
        }
    }
}

/// Which tickets a computed field counts beyond the default (neither spam nor trashed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Include {
    pub spam: bool,
    pub trashed: bool,
}

impl Include {
    /// The names accepted in a field's `include = [...]` list.
    pub const NAMES: [&'static str; 2] = ["spam", "trashed"];

    /// Reads an `include` list; `Err` names the first unknown or repeated entry.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut out = Include::default();
        for n in names {
            let slot = match n {
                "spam" => &mut out.spam,
                "trashed" => &mut out.trashed,
                other => return Err(format!("unknown include {other:?}")),
            };
            if *slot {
                return Err(format!("{n:?} is listed twice"));
            }
            *slot = true;
        }
        Ok(out)
    }
}

/// A computed Gorgias source with its options: what a `gorgias = "@tickets.…"` field reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Computed {
    pub source: ComputedSource,
    pub include: Include,
}

/// What the parser accepts, for its "expected" messages.
pub fn expected() -> String {
    let names: Vec<&str> = ComputedSource::ALL.iter().map(|c| c.name()).collect();
    format!("one of {}", names.join(", "))
}

/// Checks a field's declared `type` against its computed source's kind.
pub fn check_kind(c: Computed, declared: Option<ValueKind>) -> Result<ValueKind, String> {
    let own = c.source.kind();
    match declared {
        None => Ok(own),
        Some(k) if k == own => Ok(own),
        Some(k) => Err(format!(
            "{} holds a {own:?} value, not {k:?}",
            c.source.name()
        )),
    }
}

/// The HubSpot property group of the computed fields' properties, created by `tether setup`.
pub const PROPERTY_GROUP: &str = "gorgias_support";
/// The label of [`PROPERTY_GROUP`].
pub const PROPERTY_GROUP_LABEL: &str = "Gorgias support";

/// The property group a field's HubSpot property goes to when its mapping names none.
pub fn default_group(gorgias: Option<&GorgiasAccess>) -> &'static str {
    match gorgias {
        Some(GorgiasAccess::Computed(_)) => PROPERTY_GROUP,
        _ => "contactinformation",
    }
}

/// The accessor a `gorgias = "@…"` string names (`@id` or a computed source), if any.
pub(super) fn access(s: &str) -> Option<GorgiasAccess> {
    if s == "@id" {
        return Some(GorgiasAccess::Id);
    }
    ComputedSource::parse(s).map(|source| {
        GorgiasAccess::Computed(Computed {
            source,
            include: Include::default(),
        })
    })
}

/// The parser's hook for computed fields: fixes the kind from the source (a declared `type`
/// must agree), applies `include`, and refuses `include` on any other field. Returns the
/// field's kind and Gorgias accessor.
pub(super) fn refine(
    src: &Source<'_>,
    field: &str,
    (kind, gorgias): (ValueKind, Option<GorgiasAccess>),
    declared: Option<(ValueKind, std::ops::Range<usize>)>,
    include: Option<&Spanned<Vec<String>>>,
    errors: &mut Vec<MappingError>,
) -> (ValueKind, Option<GorgiasAccess>) {
    let key = |k: &str| format!("fields.{field}.{k}");
    let Some(GorgiasAccess::Computed(mut c)) = gorgias else {
        if let Some(inc) = include {
            errors.push(src.error(
                inc,
                key("include"),
                "`include` only applies to computed sources",
                "a gorgias = \"@tickets.…\" or \"@satisfaction.…\" field, or no include",
            ));
        }
        return (kind, gorgias);
    };
    if let Some(inc) = include {
        match Include::parse(inc.get_ref().iter().map(String::as_str)) {
            Ok(i) => c.include = i,
            Err(e) => errors.push(src.error(
                inc,
                key("include"),
                e,
                format!("a list of {}", Include::NAMES.join(", ")),
            )),
        }
    }
    let kind = match check_kind(c, declared.as_ref().map(|d| d.0)) {
        Ok(k) => k,
        Err(problem) => {
            let at = declared.map_or(0, |d| d.1.start);
            errors.push(MappingError {
                file: src.path.to_owned(),
                line: src.line_of(at),
                key: key("type"),
                problem,
                expected: format!("type = \"{}\" or no type", kind_word(c.source.kind())),
            });
            c.source.kind()
        }
    };
    (kind, Some(GorgiasAccess::Computed(c)))
}

/// A roll-up is written to one HubSpot property, never to a joined pair.
pub(super) fn check_target<T>(
    src: &Source<'_>,
    field: &str,
    at: &Spanned<T>,
    hubspot: Option<&HubspotAccess>,
    gorgias: Option<&GorgiasAccess>,
    errors: &mut Vec<MappingError>,
) {
    if matches!(gorgias, Some(GorgiasAccess::Computed(_)))
        && matches!(hubspot, Some(HubspotAccess::Join(..)))
    {
        errors.push(src.error(
            at,
            format!("fields.{field}.hubspot"),
            "a computed source is written to one HubSpot property",
            "hubspot = \"<property name>\"",
        ));
    }
}

/// A roll-up field with the HubSpot property `tether setup` creates for it: the mapping's own
/// definition when it has one, else a property in [`PROPERTY_GROUP`] typed from the source.
pub(super) fn with_property(mut f: FieldMapping) -> FieldMapping {
    if f.hubspot_property.is_some() {
        return f;
    }
    if let (HubspotAccess::Property(name), GorgiasAccess::Computed(c)) = (&f.hubspot, &f.gorgias) {
        let (kind, field_type) = match c.source.kind() {
            ValueKind::Number => ("number", "number"),
            ValueKind::Datetime => ("datetime", "date"),
            _ => ("string", "text"),
        };
        f.hubspot_property = Some(PropertyDefinition {
            name: name.clone(),
            label: label(&f.name),
            kind: kind.into(),
            field_type: field_type.into(),
            group_name: PROPERTY_GROUP.into(),
            description: Some(format!(
                "Written by tether from Gorgias ({})",
                c.source.name()
            )),
            options: Vec::new(),
            has_unique_value: false,
            form_field: false,
        });
    }
    f
}

/// `support_last_ticket_at` → `Support last ticket at`.
fn label(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn kind_word(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Number => "number",
        ValueKind::Datetime => "datetime",
        _ => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mappings::{Direction, parse_str};

    fn field(body: &str) -> String {
        format!("[fields.tickets]\nhubspot = \"gorgias_ticket_count\"\n{body}")
    }

    #[test]
    fn a_computed_field_is_a_typed_rollup_with_a_property_in_the_support_group() {
        let m = parse_str(
            "t.toml",
            &field(
                "gorgias = \"@tickets.count\"\ndirection = \"to_hubspot\"\ninclude = [\"spam\"]\n",
            ),
        )
        .unwrap();
        assert!(m.fields.is_empty(), "the engine never sees a roll-up");
        let f = &m.rollups[0];
        assert_eq!(f.direction, Direction::ToHubspot);
        assert_eq!(f.kind, ValueKind::Number);
        assert_eq!(
            f.gorgias,
            GorgiasAccess::Computed(Computed {
                source: ComputedSource::TicketsCount,
                include: Include {
                    spam: true,
                    trashed: false
                }
            })
        );
        let p = m.hubspot_properties();
        assert_eq!(
            (
                p[0].name.as_str(),
                p[0].kind.as_str(),
                p[0].group_name.as_str()
            ),
            ("gorgias_ticket_count", "number", PROPERTY_GROUP)
        );
    }

    #[test]
    fn a_computed_source_written_another_way_is_refused_with_line_and_key() {
        for dir in ["both", "to_gorgias"] {
            let e = parse_str(
                "t.toml",
                &field(&format!(
                    "gorgias = \"@satisfaction.last_score\"\ndirection = \"{dir}\"\n"
                )),
            )
            .unwrap_err()
            .0;
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(
                (e[0].line, e[0].key.as_str()),
                (4, "fields.tickets.direction")
            );
            assert!(e[0].expected.contains("to_hubspot"), "{e:?}");
        }
        // Without a direction, the default (both) is refused too, at the field's header.
        let e = parse_str("t.toml", &field("gorgias = \"@tickets.count\"\n"))
            .unwrap_err()
            .0;
        assert_eq!(
            (e[0].line, e[0].key.as_str()),
            (1, "fields.tickets.direction")
        );
    }

    #[test]
    fn bad_computed_fields_name_line_and_key() {
        let cases = [
            (
                "gorgias = \"@tickets.nope\"\ndirection = \"to_hubspot\"\n",
                3,
                "fields.tickets.gorgias",
            ),
            (
                "gorgias = \"@tickets.count\"\ndirection = \"to_hubspot\"\ntype = \"string\"\n",
                5,
                "fields.tickets.type",
            ),
            (
                "gorgias = \"@tickets.count\"\ndirection = \"to_hubspot\"\ninclude = [\"deleted\"]\n",
                5,
                "fields.tickets.include",
            ),
            (
                "gorgias = \"note\"\ninclude = [\"spam\"]\n",
                4,
                "fields.tickets.include",
            ),
        ];
        for (body, line, key) in cases {
            let e = parse_str("t.toml", &field(body)).unwrap_err().0;
            assert!(
                e.iter().any(|e| e.line == line && e.key == key),
                "{body}: {e:?}"
            );
        }
        let e = parse_str(
            "t.toml",
            "[fields.t]\nhubspot = [\"a\", \"b\"]\ngorgias = \"@tickets.count\"\ndirection = \"to_hubspot\"\n",
        )
        .unwrap_err()
        .0;
        assert_eq!(e[0].key, "fields.t.hubspot", "{e:?}");
    }

    #[test]
    fn names_round_trip_and_kinds_are_fixed() {
        for c in ComputedSource::ALL {
            assert_eq!(ComputedSource::parse(c.name()), Some(c));
            assert!(ComputedSource::looks_computed(c.name()));
        }
        assert_eq!(ComputedSource::parse("@tickets.nope"), None);
        assert!(!ComputedSource::looks_computed("@id"));
        assert_eq!(ComputedSource::TicketsCount.kind(), ValueKind::Number);
        assert_eq!(
            ComputedSource::TicketsLastClosedDatetime.kind(),
            ValueKind::Datetime
        );
        assert_eq!(ComputedSource::TicketsLastUrl.kind(), ValueKind::String);
    }

    #[test]
    fn include_lists_are_checked() {
        assert_eq!(Include::parse([]), Ok(Include::default()));
        assert_eq!(
            Include::parse(["trashed", "spam"]),
            Ok(Include {
                spam: true,
                trashed: true
            })
        );
        assert!(Include::parse(["spam", "spam"]).is_err());
        assert!(Include::parse(["deleted"]).unwrap_err().contains("deleted"));
    }

    #[test]
    fn a_declared_type_must_match_the_source() {
        let c = Computed {
            source: ComputedSource::TicketsCount,
            include: Include::default(),
        };
        assert_eq!(check_kind(c, None), Ok(ValueKind::Number));
        assert_eq!(
            check_kind(c, Some(ValueKind::Number)),
            Ok(ValueKind::Number)
        );
        assert!(check_kind(c, Some(ValueKind::String)).is_err());
    }
}
