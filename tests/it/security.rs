//! Security: a full `tether sync` at `-vv` with JSON logs never prints a token, the API key or
//! the Basic credentials built from it, and customer e-mails and phones are masked in its
//! logs by default.

use super::cycle_support::*;
use base64::Engine;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_at_trace_level_leaks_no_secret_and_masks_emails() {
    let sb = sandboxes().await;
    seed_people(&sb, 6, 3);
    sb.setup(&tether::commands::demo::default_mappings().unwrap())
        .await
        .unwrap();
    // One transient failure on each side, so that error paths log too.
    sb.hubspot
        .inject_fault(tether::sandbox::hubspot::Fault::status(503, 1));
    sb.gorgias
        .inject_fault(tether::sandbox::gorgias::Fault::status(500, 1));
    let dir = tempfile::tempdir().unwrap();
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let token = "pat-na1-demo";
    let (user, key) = ("api@sandbox.gorgias.test", "sandbox-api-key");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tether"));
    c.current_dir(dir.path())
        .env_remove("TETHER_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("TETHER__HUBSPOT__BASE_URL", &sb.hubspot_running.base_url)
        .env("TETHER__HUBSPOT__TOKEN", token)
        .env("TETHER__GORGIAS__BASE_URL", &sb.gorgias_running.base_url)
        .env("TETHER__GORGIAS__USERNAME", user)
        .env("TETHER__GORGIAS__API_KEY", key)
        .env(
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TETHER__MAPPINGS__DIR", &mappings)
        .args(["-vv", "--log-format", "json", "sync"]);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", tail(&stderr));
    // The run did log, at trace level, as JSON.
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    // At least the two injected failures (the product logs little else per cycle).
    assert!(lines.len() >= 2, "too few log lines to judge: {stderr}");
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every stderr line must be JSON"
    );
    assert!(
        stderr.contains("DEBUG") || stderr.contains("TRACE"),
        "-vv must log debug lines"
    );
    // The run synced: the e-mails went through it.
    assert!(sb.write_calls().0 > 0 && sb.write_calls().1 > 0);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
    let all = format!("{stdout}\n{stderr}");
    for secret in [token, key, basic.as_str()] {
        assert!(
            !all.contains(secret),
            "secret {secret:?} in the output: {}",
            around(&all, secret)
        );
    }
    // E-mails and phones of customers are masked in the logs by default.
    for i in 0..6 {
        for pii in [
            format!("h{i}@shop.test"),
            format!("g{i}@shop.test"),
            format!("+1415555{:04}", 1000 + i),
        ] {
            assert!(
                !stderr.contains(&pii),
                "{pii} in clear in the logs: {}",
                around(&stderr, &pii)
            );
        }
    }
}

fn tail(s: &str) -> String {
    s.lines().rev().take(20).collect::<Vec<_>>().join("\n")
}

fn around(s: &str, needle: &str) -> String {
    let i = s.find(needle).unwrap_or(0);
    let start = s[..i].char_indices().rev().nth(200).map_or(0, |(j, _)| j);
    s[start..].chars().take(500).collect()
}
