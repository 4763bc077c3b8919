//! `tether mappings check`: the real binary on mapping directories written by the test.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;

fn tether() -> Command {
    super::harness::tether_assert()
}

#[test]
fn the_shipped_mappings_check_ok() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    tether()
        .args(["mappings", "check"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("mappings OK: 7 fields"))
        .stdout(predicate::str::contains("tether_gorgias_id"))
        .stdout(predicate::str::contains("external_id"));
}

#[test]
fn errors_name_file_line_key_and_expectation_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.toml"),
        "[fields.email]\nhubspot = \"email\"\ngorgias = \"email\"\ntype = \"email\"\n\n[fields.stage]\nhubspot = \"lifecyclestage\"\ngorgias = \"data.stage\"\ndirection = \"sideways\"\n",
    )
    .unwrap();
    tether()
        .args(["mappings", "check"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a.toml:9: `fields.stage.direction`",
        ))
        .stderr(predicate::str::contains(
            "expected one of `both`, `to_hubspot`, `to_gorgias`",
        ));
}

#[test]
fn a_computed_source_written_the_wrong_way_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("support.toml"),
        "[fields.tickets]\nhubspot = \"gorgias_ticket_count\"\ngorgias = \"@tickets.count\"\ndirection = \"to_gorgias\"\n",
    )
    .unwrap();
    tether()
        .args(["mappings", "check"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "support.toml:4: `fields.tickets.direction`",
        ))
        .stderr(predicate::str::contains("\"@tickets.count\""))
        .stderr(predicate::str::contains(
            "expected direction = \"to_hubspot\"",
        ));
}

#[test]
fn the_support_example_checks_ok_with_every_computed_source() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/examples");
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(dir.join("support.toml"), tmp.path().join("support.toml")).unwrap();
    let out = tether()
        .args(["mappings", "check"])
        .arg(tmp.path())
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for source in tether::mappings::ComputedSource::ALL {
        assert!(
            out.contains(source.name()),
            "{} missing:\n{out}",
            source.name()
        );
    }
}

#[test]
fn duplicate_fields_across_files_name_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let email = "[fields.email]\nhubspot = \"email\"\ngorgias = \"email\"\ntype = \"email\"\n";
    fs::write(dir.path().join("a.toml"), email).unwrap();
    fs::write(dir.path().join("b.toml"), format!("# second\n{email}")).unwrap();
    // Files in sub-directories are not loaded.
    fs::create_dir(dir.path().join("examples")).unwrap();
    fs::write(dir.path().join("examples/c.toml"), "not toml at all [").unwrap();
    tether()
        .args(["mappings", "check"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("b.toml:2: `fields.email`"))
        .stderr(predicate::str::contains("a.toml:1"))
        .stderr(predicate::str::contains("c.toml").not());
}

#[test]
fn an_empty_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    tether()
        .args(["mappings", "check"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no *.toml mapping files"));
}

#[test]
fn without_a_directory_the_configured_one_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("maps")).unwrap();
    fs::write(
        dir.path().join("maps/m.toml"),
        "[fields.note]\nhubspot = \"note\"\ngorgias = \"note\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("tether.toml"),
        "[mappings]\ndir = \"maps\"\n",
    )
    .unwrap();
    tether()
        .current_dir(dir.path())
        .args(["mappings", "check"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "mappings OK: 1 field from maps/m.toml",
        ));
}
