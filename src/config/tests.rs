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
    assert_eq!(
        l.settings.hubspot.base_url.to_string(),
        "https://api.hubapi.com"
    );
    assert_eq!(l.settings.store.url.as_str(), "sqlite://tether.db");
    assert_eq!(l.settings.mappings.dir, PathBuf::from("mappings"));
    assert_eq!(l.settings.server.listen.to_string(), "127.0.0.1:8080");
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
    assert_eq!(l.settings.store.url.as_str(), "sqlite://from-env.db");
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
        ("TETHER__STORE__URL", "mysql://x", "store.url"),
        ("TETHER__CONNECTION__NAME", "Brand-A", "connection.name"),
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
fn the_lease_time_is_bounded() {
    assert_eq!(Settings::built_in().store.lease_seconds, 15);
    for bad in ["0", "2", "601"] {
        let err = load(Sources {
            file: None,
            env: env(&[("TETHER__STORE__LEASE_SECONDS", bad)]),
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("store.lease_seconds")
                && err.contains("TETHER__STORE__LEASE_SECONDS")
                && err.contains("from 3 to 600"),
            "{bad}: {err}"
        );
    }
    for good in ["3", "600"] {
        let l = load(Sources {
            file: None,
            env: env(&[("TETHER__STORE__LEASE_SECONDS", good)]),
        })
        .unwrap();
        assert_eq!(l.settings.store.lease_seconds.to_string(), good);
    }
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

#[test]
fn typed_values_are_parsed_once_and_refusals_name_key_origin_and_expectation() {
    let l = load(Sources::default()).unwrap();
    let s = &l.settings;
    assert_eq!(s.server.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.schedule.cron.to_string(), "0 */5 * * * *");
    assert_eq!(s.sync.default_region, "US".parse().unwrap());
    assert_eq!(s.store.url.path(), Some(std::path::Path::new("tether.db")));
    // Serialised back as the text a person writes.
    let shown = toml::to_string(s).unwrap();
    assert!(shown.contains("listen = \"127.0.0.1:8080\""), "{shown}");
    assert!(shown.contains("cron = \"0 */5 * * * *\""), "{shown}");
    assert!(shown.contains("default_region = \"US\""), "{shown}");
    assert!(shown.contains("url = \"sqlite://tether.db\""), "{shown}");
    assert!(
        shown.contains("base_url = \"https://api.hubapi.com\""),
        "{shown}"
    );

    for (var, val, key, expected) in [
        (
            "TETHER__SERVER__LISTEN",
            "localhost",
            "server.listen",
            "IP:PORT",
        ),
        (
            "TETHER__SCHEDULE__CRON",
            "hourly",
            "schedule.cron",
            "sec min hour",
        ),
        (
            "TETHER__SYNC__DEFAULT_REGION",
            "ZZ",
            "sync.default_region",
            "ISO 3166",
        ),
        (
            "TETHER__HUBSPOT__BASE_URL",
            "ftp://x",
            "hubspot.base_url",
            "https://",
        ),
        (
            "TETHER__STORE__URL",
            "mysql://x",
            "store.url",
            "sqlite://PATH",
        ),
        (
            "TETHER__CONNECTION__NAME",
            "brand a",
            "connection.name",
            "^[a-z][a-z0-9_]{0,39}$",
        ),
    ] {
        let err = load(Sources {
            file: None,
            env: env(&[(var, val)]),
        })
        .unwrap_err();
        let ConfigError::Key {
            key: k,
            origin,
            expected: e,
            ..
        } = &err
        else {
            panic!("{var}={val}: not a key error: {err}");
        };
        assert_eq!(k, key, "{err}");
        assert_eq!(origin, &Origin::Env(var.into()), "{err}");
        assert!(e.contains(expected), "{var}={val}: {err}");
        assert!(err.to_string().contains(val), "{err}");
    }
}

#[test]
fn each_default_has_one_source() {
    let built_in = Settings::built_in();
    let cycle = crate::cycle::CycleOptions::default();
    assert_eq!(built_in.sync.overlap_seconds, 300);
    assert_eq!(
        cycle.overlap,
        std::time::Duration::from_secs(built_in.sync.overlap_seconds)
    );
    assert_eq!(cycle.max_creates, built_in.sync.max_creates as usize);
    assert_eq!(cycle.max_overwrites, built_in.sync.max_overwrites as usize);
    assert_eq!(cycle.default_region, built_in.sync.default_region);
    let from = crate::cycle::CycleOptions::from_settings(&built_in.sync);
    assert_eq!(
        (from.overlap, from.max_creates, from.max_attempts),
        (cycle.overlap, cycle.max_creates, cycle.max_attempts)
    );
    let proposals = crate::merges::ProposalSettings::default();
    assert_eq!(
        proposals.review_threshold,
        built_in.matching.review_threshold
    );
    assert_eq!(
        proposals.auto_merge_threshold,
        built_in.matching.auto_merge_threshold
    );
    assert_eq!(proposals.auto_merge_cap, built_in.matching.auto_merge_cap);
}

#[test]
fn a_postgres_store_works_in_the_schema_of_connection_name() {
    let l = load(Sources {
        file: None,
        env: env(&[
            (
                "TETHER__STORE__URL",
                "postgres://tether:s3cret@db:5432/tether",
            ),
            ("TETHER__CONNECTION__NAME", "brand_a"),
        ]),
    })
    .unwrap();
    assert_eq!(l.settings.connection.name.as_str(), "brand_a");
    let StoreUrl::Postgres { connection, url } = &l.settings.store.url else {
        panic!("{:?}", l.settings.store.url);
    };
    assert_eq!(connection.schema(), "tether_brand_a");
    assert_eq!(url, "postgres://tether:s3cret@db:5432/tether");
    // The password never shows.
    assert!(!format!("{:?}", l.settings).contains("s3cret"));
    assert!(!l.settings.store.url.to_string().contains("s3cret"));
    // The default connection, and SQLite ignores the name.
    let l = load(Sources {
        file: None,
        env: env(&[]),
    })
    .unwrap();
    assert_eq!(l.settings.connection.name.as_str(), "default");
    assert!(matches!(l.settings.store.url, StoreUrl::Sqlite { .. }));
}
