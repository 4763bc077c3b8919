//! `tether status --all-connections`: every brand one PostgreSQL database holds, listed by the
//! CLI; refused with exit 2 on SQLite (one connection per file).

use super::harness::tether_assert;

#[test]
fn all_connections_is_refused_on_sqlite_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = tether_assert()
        .current_dir(dir.path())
        .env("TETHER__STORE__URL", "sqlite://t.db")
        .args(["status", "--all-connections"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one connection per file"), "{err}");
}

#[test]
fn all_connections_lists_every_brand_in_one_database() {
    let url = match std::env::var("TETHER_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TETHER_TEST_PG_URL is not set"
            );
            eprintln!("skipped: no PostgreSQL (set TETHER_TEST_PG_URL)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let names = [format!("a_{suffix}"), format!("b_{suffix}")];
    // `tether doctor` opens each connection as its writer, which creates and migrates it (its
    // exit code speaks of the missing API credentials too, so it is not the point here).
    for name in &names {
        let _ = tether_assert()
            .current_dir(dir.path())
            .env("TETHER__STORE__URL", &url)
            .env("TETHER__CONNECTION__NAME", name)
            .args(["doctor"])
            .assert();
    }
    let out = tether_assert()
        .current_dir(dir.path())
        .env("TETHER__STORE__URL", &url)
        .args(["status", "--all-connections", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> = v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connection"].as_str().unwrap())
        .collect();
    for name in &names {
        assert!(listed.contains(&name.as_str()), "{name} not in {listed:?}");
    }
    let text = tether_assert()
        .current_dir(dir.path())
        .env("TETHER__STORE__URL", &url)
        .args(["status", "--all-connections"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(&format!(
            "== connection {} (schema tether_{})",
            names[0], names[0]
        )),
        "{text}"
    );
}
