//! Tests of mapping-file parsing: valid files, defaults, and errors naming file, line, key and
//! expectation; the shipped default and examples are valid.

use super::*;

fn ok(text: &str) -> MappingSet {
    parse_str("m.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn errs(text: &str) -> Vec<MappingError> {
    parse_str("m.toml", text).unwrap_err().0
}

/// The one error of `text`, checked to name file, line and key.
fn one_error(text: &str, line: usize, key: &str) -> MappingError {
    let e = errs(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    let e = e.into_iter().next().unwrap();
    assert_eq!(e.file, PathBuf::from("m.toml"));
    assert_eq!((e.line, e.key.as_str()), (line, key), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("m.toml:{line}: `{key}`")),
        "{shown}"
    );
    e
}

/// Regression (found by fuzzing): a control character in a comment gave an error whose
/// problem was empty (`m.toml:1: \`(top level)\`: ; expected valid TOML`).
#[test]
fn a_control_character_in_a_comment_is_named() {
    let e = one_error("# G\u{f}rgias note\n", 1, "(top level)");
    assert!(e.problem.contains("U+000F"), "{e}");
}

const EMAIL: &str = "[fields.email]\nhubspot = \"email\"\ngorgias = \"email\"\ntype = \"email\"\n";

#[test]
fn one_to_one_fields_with_defaults() {
    let m = ok(EMAIL);
    let f = m.field("email").unwrap();
    assert_eq!(f.hubspot, HubspotAccess::Property("email".into()));
    assert_eq!(f.gorgias, GorgiasAccess::Top("email".into()));
    assert_eq!(
        (f.kind, f.direction, f.conflict),
        (ValueKind::Email, Direction::Both, ConflictPolicy::Newest)
    );
    assert_eq!(f.origin.line, 1);
    assert_eq!(
        m.records.email_field.as_deref(),
        Some("email"),
        "linking defaults to the email field"
    );
}

#[test]
fn names_phones_and_data_paths() {
    let m = ok(r#"
[fields.name]
hubspot = ["firstname", "lastname"]
gorgias = "name"
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
region = "GB"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.tether.lifecycle_stage"
values = { lead = "Lead" }
"#);
    assert_eq!(
        m.field("name").unwrap().hubspot,
        HubspotAccess::Join("firstname".into(), "lastname".into())
    );
    assert_eq!(
        m.field("phone").unwrap().gorgias,
        GorgiasAccess::PhoneChannel
    );
    assert_eq!(m.field("phone").unwrap().region.unwrap().code(), "GB");
    let stage = m.field("stage").unwrap();
    assert_eq!(
        stage.gorgias,
        GorgiasAccess::Data(vec!["tether".into(), "lifecycle_stage".into()])
    );
    assert_eq!(stage.kind, ValueKind::Enum, "a value map makes an enum");
    assert_eq!(
        stage.values.as_ref().unwrap().to_gorgias("lead"),
        Some("Lead")
    );
    assert_eq!(m.records.phone_field.as_deref(), Some("phone"));
}

#[test]
fn defaults_directions_policies_and_transforms() {
    let m = ok(r#"
[defaults]
direction = "to_gorgias"
conflict = "manual"
[fields.a]
hubspot = "a"
gorgias = "note"
transforms = ["trim", "uppercase"]
default = " x "
[fields.b]
hubspot = "b"
gorgias = "data.b"
direction = "both"
conflict = "gorgias"
type = "number"
default = "3.50"
"#);
    let a = m.field("a").unwrap();
    assert_eq!(
        (a.direction, a.conflict),
        (Direction::ToGorgias, ConflictPolicy::Manual)
    );
    assert_eq!(a.transforms, vec![Transform::Trim, Transform::Uppercase]);
    assert_eq!(
        a.default.as_deref(),
        Some("X"),
        "defaults are stored canonical"
    );
    let b = m.field("b").unwrap();
    assert_eq!(
        (b.direction, b.conflict),
        (Direction::Both, ConflictPolicy::Gorgias)
    );
    assert_eq!(b.default.as_deref(), Some("3.5"));
}

#[test]
fn records_filters_and_creates() {
    let m = ok(&format!(
        "{EMAIL}{}",
        r#"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.stage"
[records]
require_email = true
create_in_gorgias = true
[[records.only]]
field = "stage"
in = ["customer"]
[[records.only]]
field = "email"
present = true
"#
    ));
    let r = &m.records;
    assert!(r.require_email && r.create_in_gorgias && !r.create_in_hubspot);
    assert_eq!(r.filters.len(), 2);
    assert_eq!(
        r.filters[0].condition,
        Condition::In(vec!["customer".into()])
    );
    assert!(r.filters[0].condition.holds(Some("customer")) && !r.filters[0].condition.holds(None));
    assert_eq!(r.filters[1].condition, Condition::Present);
}

#[test]
fn hubspot_property_definitions() {
    let m = ok(r#"
[fields.tier]
hubspot = "loyalty_tier"
gorgias = "data.tier"
values = { gold_tier = "Gold", silver = "Silver" }
[fields.tier.hubspot_property]
label = "Loyalty tier"
[fields.gid]
hubspot = "tether_gorgias_id"
gorgias = "@id"
direction = "to_hubspot"
[fields.gid.hubspot_property]
unique = true
"#);
    let props = m.hubspot_properties();
    let gid = props
        .iter()
        .find(|p| p.name == "tether_gorgias_id")
        .unwrap();
    assert_eq!(
        (
            gid.kind.as_str(),
            gid.field_type.as_str(),
            gid.label.as_str()
        ),
        ("string", "text", "Gid")
    );
    assert!(gid.has_unique_value);
    let tier = props.iter().find(|p| p.name == "loyalty_tier").unwrap();
    assert_eq!(
        (tier.kind.as_str(), tier.field_type.as_str()),
        ("enumeration", "select")
    );
    let opts: Vec<(&str, &str)> = tier
        .options
        .iter()
        .map(|o| (o.value.as_str(), o.label.as_str()))
        .collect();
    assert_eq!(opts, [("gold_tier", "Gold tier"), ("silver", "Silver")]);
    let json = serde_json::to_value(tier).unwrap();
    assert_eq!(json["fieldType"], "select");
    assert_eq!(json["groupName"], "contactinformation");
}

#[test]
fn syntax_and_unknown_keys_name_line_and_key() {
    let e = one_error(
        &format!("{EMAIL}[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\ncolour = 3\n"),
        8,
        "fields.x.colour",
    );
    assert!(e.problem.contains("unknown field `colour`"));
    assert!(e.expected.contains("`direction`"));
    let e = one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\ndirection = \"sideways\"\n",
        4,
        "fields.x.direction",
    );
    assert!(e.expected.contains("`to_hubspot`"));
    let e = one_error("[fields.x]\nhubspot = \"x\"\n", 1, "fields.x");
    assert!(e.problem.contains("missing field `gorgias`"));
    let e = one_error("[fields.x\nhubspot = 1\n", 1, "fields.x");
    assert!(!e.problem.is_empty());
}

#[test]
fn semantic_errors_name_line_key_and_expectation() {
    let e = one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"emial\"\n",
        3,
        "fields.x.gorgias",
    );
    assert!(e.expected.contains("channels.phone"));
    let e = one_error(
        "[fields.x]\nhubspot = \"Bad-Name\"\ngorgias = \"note\"\n",
        2,
        "fields.x.hubspot",
    );
    assert!(e.expected.contains("lower-case"));
    let e = one_error(
        "[fields.x]\nhubspot = \"@id\"\ngorgias = \"external_id\"\n",
        1,
        "fields.x.direction",
    );
    assert!(e.expected.contains("to_gorgias"));
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = [\"firstname\", \"lastname\"]\ndirection = \"both\"\n",
        4,
        "fields.x.direction",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"enum\"\n",
        4,
        "fields.x.type",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"date\"\nhubspot_format = \"%Q\"\n",
        5,
        "fields.x.hubspot_format",
    );
    // Regression (found by fuzzing): a date format with a time of day was accepted and
    // panicked when a date was written in it.
    let e = one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"date\"\ngorgias_format = \"%d/~%m/%Y-%d %H:%M:%S\"\n",
        5,
        "fields.x.gorgias_format",
    );
    assert!(e.problem.contains("time of day"), "{e}");
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntransforms = [\"trim\", \"shout\"]\n",
        4,
        "fields.x.transforms",
    );
    let e = one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"bool\"\ndefault = \"maybe\"\n",
        5,
        "fields.x.default",
    );
    assert!(e.expected.contains("bool"));
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"channels.phone\"\n",
        3,
        "fields.x.type",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\nvalues = { a = \"A\", b = \"A\" }\n",
        4,
        "fields.x.values",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\n[records]\n[[records.only]]\nfield = \"nope\"\nin = [\"a\"]\n",
        6,
        "records.only.field",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\n[records]\n[[records.only]]\nfield = \"x\"\n",
        5,
        "records.only",
    );
    one_error(
        "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"number\"\n[fields.x.hubspot_property]\ntype = \"number\"\nfield_type = \"select\"\n",
        7,
        "fields.x.hubspot_property.field_type",
    );
}

#[test]
fn two_fields_writing_one_target_is_an_error() {
    let e = errs(
        "[fields.a]\nhubspot = \"x\"\ngorgias = \"data.t\"\n[fields.b]\nhubspot = \"y\"\ngorgias = \"data.t.u\"\n",
    );
    assert_eq!(e.len(), 1);
    assert!(
        e[0].problem.contains("also written by field \"a\""),
        "{}",
        e[0]
    );
}

#[test]
fn files_merge_and_duplicates_name_both_files() {
    let a = (PathBuf::from("dir/a.toml"), EMAIL.to_owned());
    let b = (
        PathBuf::from("dir/b.toml"),
        "[fields.note]\nhubspot = \"note\"\ngorgias = \"note\"\n".to_owned(),
    );
    let m = parse_files(&[a.clone(), b]).unwrap();
    assert_eq!(m.fields.len(), 2);
    assert_eq!(m.sources.len(), 2);
    let dup = (PathBuf::from("dir/c.toml"), format!("\n\n{EMAIL}"));
    let e = parse_files(&[a, dup]).unwrap_err().0;
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].file.to_str().unwrap(), e[0].line), ("dir/c.toml", 3));
    assert!(e[0].problem.contains("dir/a.toml:1"), "{}", e[0]);
    let r1 = (
        PathBuf::from("x.toml"),
        "[records]\nrequire_email = false\n".to_owned(),
    );
    let r2 = (
        PathBuf::from("y.toml"),
        format!("{EMAIL}[records]\ncreate_in_gorgias = true\n"),
    );
    let e = parse_files(&[r1, r2]).unwrap_err().0;
    assert!(
        e.iter()
            .any(|e| e.key == "records" && e.problem.contains("x.toml")),
        "{e:?}"
    );
}

#[test]
fn shipped_default_and_examples_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let m = load_dir(&root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.sources.len(), 1, "examples/ is not loaded");
    assert!(
        m.hubspot_properties()
            .iter()
            .any(|p| p.name == "tether_gorgias_id")
    );
    let gid = m.field("gorgias_id").unwrap();
    assert_eq!(
        (&gid.gorgias, gid.direction),
        (&GorgiasAccess::Id, Direction::ToHubspot)
    );
    let hid = m.field("hubspot_id").unwrap();
    assert_eq!(
        (&hid.hubspot, &hid.gorgias),
        (
            &HubspotAccess::Id,
            &GorgiasAccess::Top("external_id".into())
        )
    );
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        parse_files(&[(p.clone(), text)]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn a_date_field_can_be_marked_as_the_date_of_birth() {
    let fields = r#"
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"
[fields.birthday]
hubspot = "birthday"
gorgias = "data.birthday"
type = "date"
"#;
    let m = ok(&format!(
        "[records]\ndate_of_birth_field = \"birthday\"\n{fields}"
    ));
    assert_eq!(m.records.date_of_birth_field.as_deref(), Some("birthday"));
    assert_eq!(ok(fields).records.date_of_birth_field, None);
    // Only a field of type date.
    one_error(
        &format!("[records]\ndate_of_birth_field = \"email\"\n{fields}"),
        2,
        "records.date_of_birth_field",
    );
    one_error(
        &format!("[records]\ndate_of_birth_field = \"dob\"\n{fields}"),
        2,
        "records.date_of_birth_field",
    );
}
