//! Unit tests of the configuration: layering, origins, refusals and redaction.

use super::*;
use std::io::Write;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_alone() {
    let l = load(Sources::default()).unwrap();
    assert_eq!(l.settings.hubspot.base_url, "https://api.hubapi.com");
    assert_eq!(l.settings.store.url, "sqlite://tether.db");
    assert_eq!(l.settings.mappings.dir, PathBuf::from("mappings"));
    assert_eq!(l.settings.server.listen, "127.0.0.1:8080");
    assert!(!l.settings.gorgias_configured());
    assert_eq!(l.origin_of("store.url"), Origin::Default);
}

#[test]
fn env_overrides_file_overrides_defaults() {
    let f = file("[store]\nurl = \"sqlite://from-file.db\"\n[mappings]\ndir = \"maps\"\n");
    let l = load(Sources {
        file: Some(f.path().to_owned()),
        env: env(&[
            ("TETHER__STORE__URL", "sqlite://from-env.db"),
            ("TETHER__HUBSPOT__TOKEN", "pat-123"),
            ("TETHER__GORGIAS__BASE_URL", "https://acme.gorgias.com"),
            ("UNRELATED", "x"),
        ]),
    })
    .unwrap();
    assert_eq!(l.settings.store.url, "sqlite://from-env.db");
    assert_eq!(l.settings.mappings.dir, PathBuf::from("maps"));
    assert_eq!(l.settings.hubspot.token.expose(), "pat-123");
    assert!(l.settings.gorgias_configured());
    assert_eq!(
        l.origin_of("store.url"),
        Origin::Env("TETHER__STORE__URL".into())
    );
    assert_eq!(
        l.origin_of("mappings.dir"),
        Origin::File(f.path().to_owned())
    );
    assert_eq!(l.settings.store_path(), Some(PathBuf::from("from-env.db")));
}

#[test]
fn env_numbers_are_parsed() {
    let l = load(Sources {
        file: None,
        env: env(&[
            ("TETHER__HUBSPOT__BURST_LIMIT", "190"),
            ("TETHER__LOG__MASK_PII", "false"),
        ]),
    })
    .unwrap();
    assert_eq!(l.settings.hubspot.burst_limit, 190);
    assert!(!l.settings.log.mask_pii);
}

#[test]
fn a_bad_value_names_key_origin_and_expectation() {
    let err = load(Sources {
        file: None,
        env: env(&[("TETHER__HUBSPOT__BURST_LIMIT", "lots")]),
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("hubspot.burst_limit"), "{err}");
    assert!(err.contains("TETHER__HUBSPOT__BURST_LIMIT"), "{err}");
    assert!(err.contains("a number"), "{err}");

    let f = file("[schedule]\ncron = \"every day\"\n");
    let err = load(Sources {
        file: Some(f.path().to_owned()),
        env: vec![],
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("schedule.cron"), "{err}");
    assert!(err.contains(&f.path().display().to_string()), "{err}");
    assert!(err.contains("sec min hour"), "{err}");
}

#[test]
fn an_auto_merge_threshold_that_would_merge_relatives_is_refused() {
    let err = load(Sources {
        file: None,
        env: vec![(
            "TETHER__MATCHING__AUTO_MERGE_THRESHOLD".into(),
            "0.85".into(),
        )],
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("matching.auto_merge_threshold"), "{err}");
    assert!(
        err.contains("TETHER__MATCHING__AUTO_MERGE_THRESHOLD"),
        "{err}"
    );
    assert!(err.contains("relatives"), "{err}");
    let ok = load(Sources {
        file: None,
        env: vec![(
            "TETHER__MATCHING__AUTO_MERGE_THRESHOLD".into(),
            "0.99".into(),
        )],
    });
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn unknown_keys_and_bad_toml_are_refused() {
    let f = file("[store]\nurll = \"x\"\n");
    let err = load(Sources {
        file: Some(f.path().to_owned()),
        env: vec![],
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("urll") && err.contains("unknown key"), "{err}");

    let f = file("[store\nurl = 1");
    let err = load(Sources {
        file: Some(f.path().to_owned()),
        env: vec![],
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::FileSyntax { .. }), "{err}");
}

#[test]
fn bad_urls_regions_and_addresses_are_refused() {
    for (var, val, key) in [
        ("TETHER__HUBSPOT__BASE_URL", "ftp://x", "hubspot.base_url"),
        ("TETHER__HUBSPOT__BASE_URL", "not a url", "hubspot.base_url"),
        ("TETHER__SYNC__DEFAULT_REGION", "ZZ", "sync.default_region"),
        ("TETHER__SERVER__LISTEN", "localhost", "server.listen"),
        ("TETHER__STORE__URL", "postgres://x", "store.url"),
    ] {
        let err = load(Sources {
            file: None,
            env: env(&[(var, val)]),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(key) && err.contains(var), "{var}={val}: {err}");
    }
}

#[test]
fn sidebar_keys_are_checked() {
    for (pairs, key) in [
        (
            vec![("TETHER__SIDEBAR__INSTALL", "always")],
            "sidebar.install",
        ),
        (
            vec![("TETHER__SIDEBAR__INSTALL", "card")],
            "sidebar.install",
        ),
        (
            vec![("TETHER__SIDEBAR__CARD_HEADER", "bad header")],
            "sidebar.card_header",
        ),
        (
            vec![("TETHER__SIDEBAR__PUBLIC_URL", "sync.example.com")],
            "sidebar.public_url",
        ),
        (
            vec![("TETHER__SIDEBAR__CACHE_SECONDS", "0")],
            "sidebar.cache_seconds",
        ),
    ] {
        let err = load(Sources {
            file: None,
            env: env(&pairs),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(key), "{pairs:?}: {err}");
    }
    let l = load(Sources {
        file: None,
        env: env(&[
            ("TETHER__SIDEBAR__INSTALL", "card"),
            ("TETHER__SIDEBAR__PUBLIC_URL", "https://sync.example.com"),
            ("TETHER__SIDEBAR__CARD_SECRET", "s3cret"),
        ]),
    })
    .unwrap();
    assert_eq!(l.settings.sidebar.cache_seconds, 300);
    assert!(!format!("{:?}", l.settings).contains("s3cret"));
}

#[test]
fn secrets_are_redacted_in_debug_and_serialised_settings() {
    let l = load(Sources {
        file: None,
        env: env(&[
            ("TETHER__HUBSPOT__TOKEN", "pat-na1-SECRET1"),
            ("TETHER__GORGIAS__API_KEY", "SECRET2"),
        ]),
    })
    .unwrap();
    let dbg = format!("{:?}", l.settings);
    let json = serde_json::to_string(&l.settings).unwrap();
    let toml = toml::to_string(&l.settings).unwrap();
    for out in [dbg, json, toml] {
        assert!(
            !out.contains("SECRET1") && !out.contains("SECRET2"),
            "{out}"
        );
    }
}

#[test]
fn explicit_missing_file_is_an_error() {
    let err = Sources::from_process(Some(Path::new("/nonexistent/tether.toml"))).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/tether.toml"));
}
