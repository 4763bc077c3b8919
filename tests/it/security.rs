//! Security: a full `tether sync` at `-vv` with JSON logs never prints a token, the API key or
//! the Basic credentials built from it, and customer e-mails and phones are masked in its
//! logs by default, including inside the error messages the two APIs send back.

use super::cycle_support::*;
use base64::Engine;

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
    let token = "pat-na1-demo";
    let (user, key) = ("api@sandbox.gorgias.test", "sandbox-api-key");
    let out = sync_at_trace_level(&sb, &[]).await;
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

/// `tether -vv --log-format json sync` against the sandboxes in a fresh directory, with the
/// extra environment `env`.
async fn sync_at_trace_level(
    sb: &tether::commands::demo::Sandboxes,
    env: &[(&str, &str)],
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let mut c = super::harness::tether_command();
    c.current_dir(dir.path())
        .env("TETHER__HUBSPOT__BASE_URL", &sb.hubspot_running.base_url)
        .env("TETHER__HUBSPOT__TOKEN", "pat-na1-demo")
        .env("TETHER__GORGIAS__BASE_URL", &sb.gorgias_running.base_url)
        .env("TETHER__GORGIAS__USERNAME", "api@sandbox.gorgias.test")
        .env("TETHER__GORGIAS__API_KEY", "sandbox-api-key")
        .env(
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("TETHER__MAPPINGS__DIR", &mappings)
        .args(["-vv", "--log-format", "json", "sync"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    drop(dir);
    out
}

/// The two APIs quote customers' addresses and phones in their error messages (HubSpot's
/// conflict and validation texts, Gorgias's `error.msg`). A full run where each side
/// refuses a create with such a message logs the refusal with the address and the phone
/// masked; with `log.mask_pii = false` the same run logs them in clear (so this test can
/// tell the two apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_error_messages_are_masked_in_the_logs_unless_masking_is_off() {
    let email = "jane.doe@example.com";
    let phone = "+1 (415) 555-2671";
    let (masked_email, masked_phone) = ("j***@example.com", "+* (***) ***-2671");
    let hubspot_msg = format!(
        "Property values were not valid: {email} is used by the contact with phone {phone}"
    );
    let gorgias_msg = format!("Invalid phone {phone} for {email}");
    let mut problems = vec![];
    for mask in ["true", "false"] {
        let sb = sandboxes().await;
        seed_people(&sb, 6, 3);
        sb.setup(&tether::commands::demo::default_mappings().unwrap())
            .await
            .unwrap();
        // HubSpot refuses the batch of creates, Gorgias one create.
        sb.hubspot.inject_fault(
            tether::sandbox::hubspot::Fault::body(
                400,
                serde_json::json!({
                    "status": "error",
                    "message": hubspot_msg,
                    "category": "VALIDATION_ERROR",
                    "correlationId": "0b7c1a2e-6f0e-4a55-9d0c-4f9f2b0b0c11"
                })
                .to_string(),
                1,
            )
            .on_path("contacts/batch/create"),
        );
        sb.gorgias.inject_fault(
            tether::sandbox::gorgias::Fault {
                kind: tether::sandbox::gorgias::FaultKind::Body {
                    status: 400,
                    body: serde_json::json!({
                        "error": {"msg": gorgias_msg, "data": {"channels": [format!("{phone} is not valid")]}}
                    })
                    .to_string(),
                },
                times: 1,
                method: Some("POST".into()),
                path_prefix: Some("/api/customers".into()),
            },
        );
        let out = sync_at_trace_level(&sb, &[("TETHER__LOG__MASK_PII", mask)]).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        // Both refusals were logged.
        for (what, needle) in [
            ("HubSpot", "Property values were not valid"),
            ("Gorgias", "Invalid phone"),
        ] {
            if !stderr.contains(needle) {
                problems.push(format!(
                    "mask_pii={mask}: the {what} refusal was not logged"
                ));
            }
        }
        let (shown, hidden) = if mask == "true" {
            ([masked_email, masked_phone], [email, phone])
        } else {
            ([email, phone], [masked_email, masked_phone])
        };
        for s in shown {
            if !stderr.contains(s) {
                problems.push(format!("mask_pii={mask}: {s:?} missing from the logs"));
            }
        }
        for s in hidden {
            if stderr.contains(s) {
                problems.push(format!(
                    "mask_pii={mask}: {s:?} in the logs: {}",
                    around(&stderr, s)
                ));
            }
        }
        // Masking or not, the clear address never reaches the terminal otherwise.
        if mask == "true" && String::from_utf8_lossy(&out.stdout).contains(email) {
            problems.push("mask_pii=true: the address in clear on standard output".into());
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn tail(s: &str) -> String {
    s.lines().rev().take(20).collect::<Vec<_>>().join("\n")
}

fn around(s: &str, needle: &str) -> String {
    let i = s.find(needle).unwrap_or(0);
    let start = s[..i].char_indices().rev().nth(200).map_or(0, |(j, _)| j);
    s[start..].chars().take(500).collect()
}
