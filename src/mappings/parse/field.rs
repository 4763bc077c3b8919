//! Validating one `[fields.*]` entry: names, accessors, kinds, directions, policies,
//! transforms, value maps and HubSpot property definitions, into a [`FieldMapping`] or
//! errors naming the line, the key and what is expected. Must never read files.

use super::*;

pub(super) const GORGIAS_TOP: &[&str] = &[
    "email",
    "name",
    "firstname",
    "lastname",
    "external_id",
    "note",
    "language",
    "timezone",
];
pub(super) const GORGIAS_EXPECTED: &str = "\"@id\", one of email, name, firstname, lastname, external_id, note, \
language, timezone, \"channels.phone\", a \"data.<key>[.<key>...]\" path, [\"firstname\", \"lastname\"], \
or a computed source such as \"@tickets.count\" (docs/mappings.md)";
pub(super) const HUBSPOT_EXPECTED: &str = "a HubSpot property name (lower-case letters, digits, _), \"@id\", \
or two property names to join, such as [\"firstname\", \"lastname\"]";

pub(super) fn hubspot_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(super) fn parse_hubspot_access(raw: &RawAccess) -> Option<HubspotAccess> {
    match raw {
        RawAccess::One(s) if s == "@id" => Some(HubspotAccess::Id),
        RawAccess::One(s) if hubspot_name_ok(s) => Some(HubspotAccess::Property(s.clone())),
        RawAccess::Many(v) => match v.as_slice() {
            [a, b] if hubspot_name_ok(a) && hubspot_name_ok(b) && a != b => {
                Some(HubspotAccess::Join(a.clone(), b.clone()))
            }
            _ => None,
        },
        RawAccess::One(_) => None,
    }
}

pub(super) fn parse_gorgias_access(raw: &RawAccess) -> Option<GorgiasAccess> {
    match raw {
        RawAccess::One(s) if s == "@id" => Some(GorgiasAccess::Id),
        RawAccess::One(s) if s == "channels.phone" => Some(GorgiasAccess::PhoneChannel),
        RawAccess::One(s) if s.starts_with('@') => crate::mappings::computed::access(s),
        RawAccess::One(s) if GORGIAS_TOP.contains(&s.as_str()) => {
            Some(GorgiasAccess::Top(s.clone()))
        }
        RawAccess::One(s) => {
            let rest = s.strip_prefix("data.")?;
            let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if parts
                .iter()
                .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
            {
                Some(GorgiasAccess::Data(parts))
            } else {
                None
            }
        }
        RawAccess::Many(v) if v.len() == 2 && v[0] == "firstname" && v[1] == "lastname" => {
            Some(GorgiasAccess::JoinNames)
        }
        RawAccess::Many(_) => None,
    }
}

/// The HubSpot (type, fieldType) a field of `kind` gets by default.
pub(super) fn default_property_type(kind: ValueKind) -> (&'static str, &'static str) {
    match kind {
        ValueKind::String | ValueKind::Email => ("string", "text"),
        ValueKind::Phone => ("string", "phonenumber"),
        ValueKind::Number => ("number", "number"),
        ValueKind::Bool => ("bool", "booleancheckbox"),
        ValueKind::Date => ("date", "date"),
        ValueKind::Datetime => ("datetime", "date"),
        ValueKind::Enum => ("enumeration", "select"),
    }
}

pub(super) fn allowed_field_types(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "string" => &["text", "textarea", "html", "phonenumber", "file"],
        "number" => &["number"],
        "bool" => &["booleancheckbox"],
        "enumeration" => &["select", "radio", "checkbox", "booleancheckbox"],
        "date" | "datetime" => &["date"],
        _ => return None,
    })
}

pub(super) fn title(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut c = spaced.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) struct Defaults {
    pub(super) direction: Direction,
    pub(super) conflict: ConflictPolicy,
}

/// Validates one `[fields.*]` entry into a [`FieldMapping`], or records every error found in
/// it (each check below adds its own) and returns `None`.
pub(super) fn build_field(
    src: &Source<'_>,
    name: &Spanned<String>,
    raw: &Spanned<RawField>,
    defaults: &Defaults,
    errors: &mut Vec<MappingError>,
) -> Option<FieldMapping> {
    let start = errors.len();
    let f = raw.get_ref();
    let fname = name.get_ref();
    let mut e = Entry { src, name, errors };
    e.check_name();
    let hubspot = parse_hubspot_access(f.hubspot.get_ref());
    if hubspot.is_none() {
        e.error(
            &f.hubspot,
            "hubspot",
            "not a HubSpot accessor",
            HUBSPOT_EXPECTED,
        );
    }
    let gorgias = parse_gorgias_access(f.gorgias.get_ref());
    if gorgias.is_none() {
        e.error(
            &f.gorgias,
            "gorgias",
            "not a Gorgias accessor",
            GORGIAS_EXPECTED,
        );
    }
    let values = e.value_map(f);
    let kind = e.kind(f);
    let declared = f
        .kind
        .as_ref()
        .map(|k| (ValueKind::from(*k.get_ref()), k.span()));
    let (kind, gorgias) = crate::mappings::computed::refine(
        src,
        fname,
        (kind, gorgias),
        declared,
        f.include.as_ref(),
        e.errors,
    );
    crate::mappings::computed::check_target(
        src,
        fname,
        &f.hubspot,
        hubspot.as_ref(),
        gorgias.as_ref(),
        e.errors,
    );
    let direction = f
        .direction
        .as_ref()
        .map_or(defaults.direction, |d| *d.get_ref());
    let conflict = f
        .conflict
        .as_ref()
        .map_or(defaults.conflict, |c| *c.get_ref());
    if let (Some(h), Some(g)) = (&hubspot, &gorgias) {
        e.check_sides(f, (h, g), kind, direction);
    }
    let transforms = e.transforms(f);
    let region = e.region(f, kind);
    let hubspot_format = e.date_format(&f.hubspot_format, "hubspot_format", kind);
    let gorgias_format = e.date_format(&f.gorgias_format, "gorgias_format", kind);
    let hubspot_property = f.hubspot_property.as_ref().and_then(|p| {
        e.property_definition(p, hubspot.as_ref(), gorgias.as_ref(), kind, values.as_ref())
    });
    e.check_enum_options(f, kind, hubspot_property.as_ref());
    let default = f.default.as_ref().and_then(|d| {
        let field = Typed {
            kind,
            transforms: &transforms,
            region,
            values: values.as_ref(),
            property: hubspot_property.as_ref(),
        };
        e.default_value(d, &field)
    });
    if e.errors.len() > start {
        return None;
    }
    Some(FieldMapping {
        name: fname.clone(),
        hubspot: hubspot?,
        gorgias: gorgias?,
        kind,
        transforms,
        direction,
        conflict,
        default,
        values,
        region,
        hubspot_format,
        gorgias_format,
        hubspot_property,
        origin: Origin {
            file: src.path.to_owned(),
            line: src.line_of(name.span().start),
        },
    })
}

/// One `[fields.*]` entry being validated: where it is (for the errors' file, line and key)
/// and where its errors go.
struct Entry<'a, 's> {
    src: &'a Source<'s>,
    name: &'a Spanned<String>,
    errors: &'a mut Vec<MappingError>,
}

/// What a field's default must fit: its type, transforms, region and options.
struct Typed<'a> {
    kind: ValueKind,
    transforms: &'a [Transform],
    region: Option<Region>,
    values: Option<&'a ValueMap>,
    property: Option<&'a PropertyDefinition>,
}

impl Entry<'_, '_> {
    /// The key of `k` in this field, such as `fields.email.type`.
    fn key(&self, k: &str) -> String {
        format!("fields.{}.{k}", self.name.get_ref())
    }

    /// Records an error at `at`, on key `k` of this field.
    fn error<T>(
        &mut self,
        at: &Spanned<T>,
        k: &str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let e = self.src.error(at, self.key(k), problem, expected);
        self.errors.push(e);
    }

    /// Records an error at byte offset `at`, on key `k` of this field.
    fn error_at(
        &mut self,
        at: usize,
        k: &str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) {
        let e = MappingError {
            file: self.src.path.to_owned(),
            line: self.src.line_of(at),
            key: self.key(k),
            problem: problem.into(),
            expected: expected.into(),
        };
        self.errors.push(e);
    }

    fn check_name(&mut self) {
        let fname = self.name.get_ref();
        if !fname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let e = self.src.error(
                self.name,
                format!("fields.{fname}"),
                format!("field name {fname:?} has characters other than letters, digits and _"),
                "a name such as lifecycle_stage",
            );
            self.errors.push(e);
        }
    }

    /// The `values` map: non-empty and one-to-one.
    fn value_map(&mut self, f: &RawField) -> Option<ValueMap> {
        match &f.values {
            None => None,
            Some(v) if v.get_ref().is_empty() => {
                self.error(
                    v,
                    "values",
                    "the value map is empty",
                    "at least one `hubspot_value = \"gorgias value\"` pair",
                );
                None
            }
            Some(v) => match ValueMap::new(v.get_ref().iter().map(|(a, b)| (a.clone(), b.clone())))
            {
                Ok(m) => Some(m),
                Err(err) => {
                    self.error(
                        v,
                        "values",
                        err.to_string(),
                        "a one-to-one map (each Gorgias value used once)",
                    );
                    None
                }
            },
        }
    }

    /// The field's type: as written, else enum with a value map, else string. A value map
    /// makes it an enum (a type other than enum or string is an error).
    fn kind(&mut self, f: &RawField) -> ValueKind {
        let kind: ValueKind = match (&f.kind, &f.values) {
            (Some(k), _) => (*k.get_ref()).into(),
            (None, Some(_)) => ValueKind::Enum,
            (None, None) => ValueKind::String,
        };
        if f.values.is_some() && !matches!(kind, ValueKind::Enum | ValueKind::String) {
            if let Some(k) = &f.kind {
                self.error(
                    k,
                    "type",
                    "a value map needs an enum field",
                    "type = \"enum\" (or no type)",
                );
            }
        }
        if f.values.is_some() {
            ValueKind::Enum
        } else {
            kind
        }
    }

    /// A writable side for the direction, and phone channels typed as phones.
    fn check_sides(
        &mut self,
        f: &RawField,
        (h, g): (&HubspotAccess, &GorgiasAccess),
        kind: ValueKind,
        direction: Direction,
    ) {
        let direction_at = f
            .direction
            .as_ref()
            .map_or(self.name.span(), |d| d.span())
            .start;
        if !h.writable() && !g.writable() {
            self.error(
                &f.gorgias,
                "gorgias",
                "both sides are read-only",
                "one writable side",
            );
        } else if !h.writable() && direction != Direction::ToGorgias {
            self.error_at(
                direction_at,
                "direction",
                format!(
                    "the HubSpot side ({:?}) cannot be written, but direction is {}",
                    f.hubspot.get_ref().label(),
                    direction_name(direction)
                ),
                "direction = \"to_gorgias\"",
            );
        } else if !g.writable() && direction != Direction::ToHubspot {
            self.error_at(
                direction_at,
                "direction",
                format!(
                    "the Gorgias side ({:?}) cannot be written, but direction is {}",
                    f.gorgias.get_ref().label(),
                    direction_name(direction)
                ),
                "direction = \"to_hubspot\"",
            );
        }
        if matches!(g, GorgiasAccess::PhoneChannel) && kind != ValueKind::Phone {
            self.error(
                &f.gorgias,
                "type",
                "channels.phone holds phone numbers",
                "type = \"phone\"",
            );
        }
    }

    fn transforms(&mut self, f: &RawField) -> Vec<Transform> {
        let mut transforms = Vec::new();
        for t in &f.transforms {
            match Transform::parse(t.get_ref()) {
                Some(x) => transforms.push(x),
                None => self.error(
                    t,
                    "transforms",
                    format!("unknown transform {:?}", t.get_ref()),
                    format!(
                        "one of {} (e-mail, phone, number, bool and date conversions come from `type`)",
                        Transform::NAMES.join(", ")
                    ),
                ),
            }
        }
        transforms
    }

    /// The region of a phone field.
    fn region(&mut self, f: &RawField, kind: ValueKind) -> Option<Region> {
        let r = f.region.as_ref()?;
        match r.get_ref().parse::<Region>() {
            Ok(x) if kind == ValueKind::Phone => Some(x),
            Ok(_) => {
                self.error(
                    r,
                    "region",
                    "region only applies to phone fields",
                    "type = \"phone\", or no region",
                );
                None
            }
            Err(err) => {
                self.error(
                    r,
                    "region",
                    err.to_string(),
                    "an ISO 3166 region code such as US, GB or FR",
                );
                None
            }
        }
    }

    /// A date format (`k` is `hubspot_format` or `gorgias_format`): only on date and
    /// datetime fields, valid, and without a time of day on a date.
    fn date_format(
        &mut self,
        v: &Option<Spanned<String>>,
        k: &str,
        kind: ValueKind,
    ) -> Option<String> {
        let s = v.as_ref()?;
        if !matches!(kind, ValueKind::Date | ValueKind::Datetime) {
            self.error(
                s,
                k,
                "formats only apply to date and datetime fields",
                "type = \"date\" or \"datetime\"",
            );
            return None;
        }
        if !transform::valid_format(s.get_ref()) {
            self.error(
                s,
                k,
                format!("{:?} is not a valid date format", s.get_ref()),
                "a chrono/strftime format such as \"%d/%m/%Y\"",
            );
            return None;
        }
        if kind == ValueKind::Date && !transform::formats_a_date(s.get_ref()) {
            self.error(
                s,
                k,
                format!(
                    "{:?} asks for a time of day or an offset, which a date does not have",
                    s.get_ref()
                ),
                "a date-only format such as \"%d/%m/%Y\", or type = \"datetime\"",
            );
            return None;
        }
        Some(s.get_ref().clone())
    }

    /// The HubSpot property definition (`hubspot_property`) of a field written to a single
    /// property: its type and field type agreeing, an enumeration with options.
    fn property_definition(
        &mut self,
        p: &Spanned<RawProperty>,
        hubspot: Option<&HubspotAccess>,
        gorgias: Option<&GorgiasAccess>,
        kind: ValueKind,
        values: Option<&ValueMap>,
    ) -> Option<PropertyDefinition> {
        let pr = p.get_ref();
        let prop = match hubspot {
            Some(HubspotAccess::Property(prop)) => prop,
            Some(_) => {
                self.error(
                    p,
                    "hubspot_property",
                    "a property definition needs a single HubSpot property",
                    "hubspot = \"<property name>\"",
                );
                return None;
            }
            None => return None,
        };
        let (dk, dft) = default_property_type(kind);
        let ptype = pr
            .kind
            .as_ref()
            .map_or(dk.to_owned(), |k| k.get_ref().clone());
        let allowed = allowed_field_types(&ptype);
        if allowed.is_none() {
            let at = pr.kind.as_ref().map_or(p.span(), |k| k.span());
            self.error_at(
                at.start,
                "hubspot_property.type",
                format!("unknown HubSpot property type {ptype:?}"),
                "one of string, number, bool, enumeration, date, datetime",
            );
        }
        let field_type = pr.field_type.as_ref().map_or_else(
            || {
                if ptype == dk {
                    dft.to_owned()
                } else {
                    allowed
                        .and_then(|a| a.first())
                        .map_or(dft, |v| v)
                        .to_owned()
                }
            },
            |ft| ft.get_ref().clone(),
        );
        if let (Some(allowed), Some(ft)) = (allowed, &pr.field_type) {
            if !allowed.contains(&ft.get_ref().as_str()) {
                self.error(
                    ft,
                    "hubspot_property.field_type",
                    format!(
                        "field type {:?} does not fit property type {ptype:?}",
                        ft.get_ref()
                    ),
                    format!("one of {}", allowed.join(", ")),
                );
            }
        }
        let mut options = property_options(pr, values);
        if ptype != "enumeration" {
            options.clear();
        } else if options.is_empty() {
            self.error(
                p,
                "hubspot_property.options",
                "an enumeration property needs options",
                "`options = [{ value = \"...\", label = \"...\" }]` or a `values` map",
            );
        }
        Some(PropertyDefinition {
            name: prop.clone(),
            label: pr
                .label
                .clone()
                .unwrap_or_else(|| title(self.name.get_ref())),
            kind: ptype,
            field_type,
            group_name: pr
                .group
                .clone()
                .unwrap_or_else(|| crate::mappings::computed::default_group(gorgias).into()),
            description: pr.description.clone(),
            options,
            has_unique_value: pr.unique.unwrap_or(false),
            form_field: false,
        })
    }

    /// An enum field has its options, from a value map or the property definition.
    fn check_enum_options(
        &mut self,
        f: &RawField,
        kind: ValueKind,
        property: Option<&PropertyDefinition>,
    ) {
        if kind == ValueKind::Enum
            && f.values.is_none()
            && property.is_none_or(|p| p.options.is_empty())
        {
            let at = f.kind.as_ref().map_or(self.name.span(), |k| k.span());
            self.error_at(
                at.start,
                "type",
                "an enum field needs its options",
                "a `values` table (HubSpot value = Gorgias value) or hubspot_property.options",
            );
        }
    }

    /// The default value, transformed and made canonical for the field's type, and one of
    /// its options for an enum.
    fn default_value(&mut self, d: &Spanned<String>, field: &Typed<'_>) -> Option<String> {
        let kind = field.kind;
        let mut v: Cow<'_, str> = Cow::Borrowed(d.get_ref().as_str());
        for t in field.transforms {
            v = t.apply(v);
        }
        let canon = if v.trim().is_empty() {
            Err("the default is empty".to_owned())
        } else {
            transform::to_canonical(kind, v, field.region.unwrap_or_default(), None)
                .map(|c| c.into_owned())
        };
        let options_ok = |c: &str| {
            kind != ValueKind::Enum
                || field.values.is_none_or(|m| m.to_gorgias(c).is_some())
                    && field.property.is_none_or(|p| {
                        p.options.is_empty() || p.options.iter().any(|o| o.value == c)
                    })
        };
        match canon {
            Ok(c) if options_ok(&c) => Some(c),
            Ok(c) => {
                self.error(
                    d,
                    "default",
                    format!("{c:?} is not one of the field's options"),
                    "a HubSpot value from the `values` map or the property options",
                );
                None
            }
            Err(err) => {
                self.error(
                    d,
                    "default",
                    err,
                    format!("a value of type {}", kind_name(kind)),
                );
                None
            }
        }
    }
}

/// The options of an enumeration property: as listed (labels defaulting to the value's
/// title), else the HubSpot values of the value map.
fn property_options(pr: &RawProperty, values: Option<&ValueMap>) -> Vec<PropertyOption> {
    match (&pr.options, values) {
        (Some(o), _) => o
            .iter()
            .map(|o| (o.value.clone(), o.label.clone()))
            .enumerate()
            .map(|(i, (value, label))| PropertyOption {
                label: label.unwrap_or_else(|| title(&value)),
                value,
                display_order: i as i32,
                hidden: false,
            })
            .collect(),
        (None, Some(m)) => m
            .hubspot_values()
            .enumerate()
            .map(|(i, v)| PropertyOption {
                label: title(v),
                value: v.to_owned(),
                display_order: i as i32,
                hidden: false,
            })
            .collect(),
        (None, None) => Vec::new(),
    }
}

impl RawAccess {
    pub(super) fn label(&self) -> String {
        match self {
            RawAccess::One(s) => s.clone(),
            RawAccess::Many(v) => v.join("+"),
        }
    }
}

pub(super) fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Both => "both",
        Direction::ToHubspot => "to_hubspot",
        Direction::ToGorgias => "to_gorgias",
    }
}

pub(super) fn kind_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::String => "string",
        ValueKind::Email => "email",
        ValueKind::Phone => "phone",
        ValueKind::Number => "number",
        ValueKind::Bool => "bool",
        ValueKind::Date => "date",
        ValueKind::Datetime => "datetime",
        ValueKind::Enum => "enum",
    }
}
