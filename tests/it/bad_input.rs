//! Bad input: every malformed configuration (file and environment) and every malformed
//! mapping gets a clear error naming the key and exit code 2 from the real binary, never a
//! panic. Hostile records from the APIs are in `bad_records.rs`.

use std::path::Path;

const DEFAULT: &str = include_str!("../../mappings/default.toml");

/// `tether sync` in `dir` with credentials set and nothing listening, plus `env`.
fn sync(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    sync_without(dir, env, args, &[])
}

/// Like [`sync`], without the base variables named in `drop` (so a file can set them).
fn sync_without(dir: &Path, env: &[(&str, &str)], args: &[&str], drop: &[&str]) -> (i32, String) {
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut c = super::harness::tether_command();
    c.current_dir(dir)
        .env("TETHER__HUBSPOT__BASE_URL", "http://127.0.0.1:9")
        .env("TETHER__HUBSPOT__TOKEN", "pat-na1-bad-input")
        .env("TETHER__GORGIAS__BASE_URL", "http://127.0.0.1:9")
        .env("TETHER__GORGIAS__USERNAME", "api@x.test")
        .env("TETHER__GORGIAS__API_KEY", "bad-input-key")
        .env(
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("TETHER__MAPPINGS__DIR", mappings);
    for k in drop {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).arg("sync").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn assert_usage(code: i32, out: &str, key: &str, case: &str) {
    assert!(!out.contains("panicked"), "{case}: panic\n{out}");
    assert_eq!(code, 2, "{case}: exit code\n{out}");
    assert!(
        out.contains(key),
        "{case}: the error must name {key:?}\n{out}"
    );
}

const CONFIG_CASES: &[(&str, &str, &str)] = &[
    // (case, TOML, key named)
    ("unknown key", "[sync]\nbogus_knob = 1\n", "bogus_knob"),
    ("unknown section", "[bogus]\nx = 1\n", "bogus"),
    (
        "wrong type",
        "[sync]\nmax_creates = \"lots\"\n",
        "max_creates",
    ),
    (
        "negative number",
        "[sync]\nmax_creates = -4\n",
        "max_creates",
    ),
    (
        "bad URL",
        "[hubspot]\nbase_url = \"not a url\"\n",
        "hubspot.base_url",
    ),
    (
        "bad URL scheme",
        "[gorgias]\nbase_url = \"ftp://x.test\"\n",
        "gorgias.base_url",
    ),
    (
        "bad cron",
        "[schedule]\ncron = \"every minute\"\n",
        "schedule.cron",
    ),
    (
        "bad region",
        "[sync]\ndefault_region = \"ZZ\"\n",
        "sync.default_region",
    ),
    (
        "bad threshold",
        "[matching]\nreview_threshold = 1.5\n",
        "matching.review_threshold",
    ),
    (
        "threshold below review",
        "[matching]\nauto_merge_threshold = 0.2\n",
        "matching.auto_merge_threshold",
    ),
    (
        "bad store URL",
        "[store]\nurl = \"mysql://x\"\n",
        "store.url",
    ),
    (
        "bad connection name",
        "[connection]\nname = \"Brand-A\"\n",
        "connection.name",
    ),
    (
        "bad listen address",
        "[server]\nlisten = \"everywhere\"\n",
        "server.listen",
    ),
    ("bad TOML", "[sync\nmax_creates = 1\n", "TOML"),
];

#[test]
fn every_malformed_config_file_exits_2_naming_the_key() {
    for (case, toml, key) in CONFIG_CASES {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tether.toml");
        std::fs::write(&file, toml).unwrap();
        let (code, out) = sync_without(
            dir.path(),
            &[],
            &["--config", file.to_str().unwrap()],
            &[
                "TETHER__HUBSPOT__BASE_URL",
                "TETHER__GORGIAS__BASE_URL",
                "TETHER__STORE__URL",
            ],
        );
        assert_usage(code, &out, key, case);
    }
}

#[test]
fn every_malformed_config_env_var_exits_2_naming_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("TETHER__SYNC__MAX_CREATES", "lots", "max_creates"),
        (
            "TETHER__HUBSPOT__BASE_URL",
            "ftp://x.test",
            "hubspot.base_url",
        ),
        ("TETHER__SCHEDULE__CRON", "every minute", "schedule.cron"),
        ("TETHER__SYNC__DEFAULT_REGION", "ZZ", "sync.default_region"),
        (
            "TETHER__MATCHING__REVIEW_THRESHOLD",
            "2",
            "matching.review_threshold",
        ),
        (
            "TETHER__MATCHING__AUTO_MERGE_THRESHOLD",
            "0.5",
            "matching.auto_merge_threshold",
        ),
        ("TETHER__SYNC__BOGUS_KNOB", "1", "bogus_knob"),
    ];
    for (var, value, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = sync(dir.path(), &[(var, value)], &[]);
        assert_usage(code, &out, key, var);
        assert!(
            out.contains(var),
            "{var}: the error must name the variable\n{out}"
        );
    }
}

#[test]
fn a_missing_explicit_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = sync(dir.path(), &[], &["--config", "nope.toml"]);
    assert_usage(code, &out, "nope.toml", "missing file");
}

const MAPPING_CASES: &[(&str, &str, &str, &str)] = &[
    // (case, text replaced in the default mapping, its replacement, key named)
    ("bad TOML", "[fields.name]", "[fields.name", "name"),
    (
        "unknown key",
        "gorgias = \"name\"",
        "gorgias = \"name\"\ncolour = \"red\"",
        "colour",
    ),
    (
        "bad direction",
        "direction = \"to_gorgias\"",
        "direction = \"sideways\"",
        "direction",
    ),
    (
        "bad policy",
        "conflict = \"newest\"",
        "conflict = \"loudest\"",
        "conflict",
    ),
    (
        "bad type",
        "type = \"phone\"",
        "type = \"telepathy\"",
        "type",
    ),
    (
        "unknown system field",
        "gorgias = \"name\"",
        "gorgias = \"nickname\"",
        "fields.name.gorgias",
    ),
    (
        "wrong type",
        "require_email = true",
        "require_email = \"yes\"",
        "require_email",
    ),
    (
        "computed source written back to Gorgias",
        "gorgias = \"@id\"\ndirection = \"to_hubspot\"",
        "gorgias = \"@tickets.count\"\ndirection = \"both\"",
        "fields.gorgias_id.direction",
    ),
    ("bad version", "version = 1", "version = 99", "version"),
];

#[test]
fn every_malformed_mapping_exits_2_naming_the_key() {
    for (case, from, to, key) in MAPPING_CASES {
        assert!(DEFAULT.contains(from), "{case}: fixture text {from:?} gone");
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("mappings");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("default.toml"), DEFAULT.replacen(from, to, 1)).unwrap();
        let (code, out) = sync(
            dir.path(),
            &[("TETHER__MAPPINGS__DIR", m.to_str().unwrap())],
            &[],
        );
        assert_usage(code, &out, key, case);
    }
}

#[test]
fn a_field_defined_in_two_mapping_files_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("mappings");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("default.toml"), DEFAULT).unwrap();
    std::fs::write(
        m.join("more.toml"),
        "version = 1\n[fields.name]\nhubspot = \"firstname\"\ngorgias = \"firstname\"\n",
    )
    .unwrap();
    let (code, out) = sync(
        dir.path(),
        &[("TETHER__MAPPINGS__DIR", m.to_str().unwrap())],
        &[],
    );
    assert_usage(code, &out, "name", "duplicate field");
}
