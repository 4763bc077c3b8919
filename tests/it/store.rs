//! The state store and its commands, end to end: the real `tether` binary (`status`,
//! `doctor`) against a store in a temporary directory, and the single-writer guard across
//! two real processes.

use assert_cmd::Command;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tether::config::StoreSettings;
use tether::store::{OpenError, SqliteOpenError, Store};

fn store_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("tether.db").display())
}

fn settings(dir: &Path) -> StoreSettings {
    StoreSettings {
        url: store_url(dir).parse().unwrap(),
        busy_timeout_ms: 2_000,
        lease_seconds: 15,
    }
}

/// The `tether` binary, run in `dir` (so no stray `tether.toml` is read) with only the
/// given `TETHER__…` variables.
fn tether(dir: &Path) -> Command {
    let mut cmd = super::harness::tether_assert();
    cmd.current_dir(dir);
    cmd.env("TETHER__STORE__URL", store_url(dir));
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_never_prints_a_secret_set_in_the_environment() {
    use tether::sandbox::{gorgias, hubspot};
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        ("TETHER__HUBSPOT__TOKEN", "pat-na1-0123-SECRET-hs-token"),
        ("TETHER__HUBSPOT__CLIENT_SECRET", "SECRET-client-secret"),
        ("TETHER__GORGIAS__API_KEY", "SECRET-gorgias-key"),
        ("TETHER__SERVER__REVIEW_TOKEN", "SECRET-review"),
    ];
    // Sandboxes that accept exactly these credentials, so doctor really sends them.
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (_hs, hs_run) = hubspot::HubspotSandbox::start(
        hubspot::SandboxConfig {
            token: tether::secret::Secret::new(secrets[0].1),
            ..Default::default()
        },
        any,
    )
    .await
    .unwrap();
    let gg_cfg = gorgias::SandboxConfig {
        api_key: tether::secret::Secret::new(secrets[2].1),
        ..Default::default()
    };
    let user = gg_cfg.username.clone();
    let (_gg, gg_run) = gorgias::GorgiasSandbox::start(gg_cfg, any).await.unwrap();
    let mut cmd = tether(dir.path());
    // The most verbose logs too: no secret in any of them.
    cmd.args(["-vv", "doctor"])
        .env("TETHER__HUBSPOT__BASE_URL", &hs_run.base_url)
        .env("TETHER__GORGIAS__BASE_URL", &gg_run.base_url)
        .env("TETHER__GORGIAS__USERNAME", &user);
    for (k, v) in secrets {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "doctor failed:\n{stdout}\n{stderr}");
    for (_, v) in secrets {
        assert!(
            !stdout.contains(v) && !stderr.contains(v),
            "{v} leaked:\n{stdout}\n{stderr}"
        );
        // Not even a fragment long enough to identify it.
        assert!(!stdout.contains(&v[v.len() - 8..]), "{stdout}");
    }
    assert!(
        stdout.contains("[redacted]  (env TETHER__HUBSPOT__TOKEN)"),
        "{stdout}"
    );
    assert!(stdout.contains("(default)"), "{stdout}");
    assert!(stdout.contains("[ok] store:"), "{stdout}");
    assert!(stdout.contains("[ok] hubspot credentials"), "{stdout}");
    assert!(stdout.contains("[ok] gorgias credentials"), "{stdout}");
    // Doctor created and migrated the store.
    assert!(dir.path().join("tether.db").exists());
}

#[test]
fn status_reports_a_missing_then_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = tether(dir.path()).arg("status").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not created yet"), "{text}");
    assert!(
        !dir.path().join("tether.db").exists(),
        "status must not create the store"
    );

    // Create it (empty) with doctor, then look.
    tether(dir.path()).arg("doctor").assert().success();
    let out = tether(dir.path()).arg("status").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "links:             0",
        "pending proposals: 0",
        "outbox:            0 pending, 0 failed",
        "quarantine:        0",
        "hubspot:         none yet",
        "last cycle:        none yet",
        "(up to date)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    let out = tether(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exists"], true);
    assert_eq!(v["counts"]["links"], 0);
    assert_eq!(v["counts"]["outbox_pending"], 0);
    assert_eq!(v["counts"]["pending_proposals"], 0);
    assert_eq!(v["counts"]["quarantine"], 0);
    assert_eq!(v["last_cycle"], serde_json::Value::Null);
    assert_eq!(v["watermarks"], serde_json::json!({}));
    assert_eq!(
        v["schema_version"],
        serde_json::json!(tether::store::latest_version())
    );
}

#[tokio::test]
async fn status_shows_what_a_writer_stored() {
    use chrono::TimeZone;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&settings(dir.path())).await.unwrap();
    let at = chrono::Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
    let hs = tether::domain::HubspotId::new("901").unwrap();
    let gg = tether::domain::GorgiasId::new(17).unwrap();
    store
        .create_link(&hs, gg, &Default::default(), "test", at)
        .await
        .unwrap();
    store
        .advance_watermark(
            tether::domain::System::Hubspot,
            &tether::store::Watermark {
                at,
                tie_break: Some("901".into()),
            },
            at,
        )
        .await
        .unwrap();
    let c = store.start_cycle(at).await.unwrap();
    store
        .finish_cycle(
            c,
            tether::store::CycleOutcome::Ok,
            &[("created".to_owned(), 1u64)].into(),
            None,
            at,
        )
        .await
        .unwrap();
    // Status reads while the writer is still open: no guard needed.
    let out = tether(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counts"]["links"], 1);
    assert_eq!(v["watermarks"]["hubspot"]["tie_break"], "901");
    assert_eq!(v["last_cycle"]["outcome"], "ok");
    assert_eq!(v["last_cycle"]["counts"]["created"], 1);
    assert_eq!(v["writer"]["pid"], std::process::id());
    store.close().await;
}

/// Not a test on its own: when `TETHER_IT_HOLD_STORE` names a store URL, this opens it as
/// the writer, says so on stdout and holds it for up to 60 s (the parent kills it sooner).
#[tokio::test]
#[ignore = "a helper process for the writer-guard test, which runs it with --ignored"]
async fn hold_writer_helper() {
    let Ok(url) = std::env::var("TETHER_IT_HOLD_STORE") else {
        return;
    };
    let store = Store::open(&StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 2_000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    println!("HOLDING pid={}", std::process::id());
    // Holding the store is this helper's whole job (its parent kills it): the sleep stays.
    tokio::time::sleep(Duration::from_secs(60)).await;
    store.close().await;
}

/// Starts another process (this test binary, running [`hold_writer_helper`]) that holds
/// the store as its writer; returns it once it says it does.
fn spawn_holder(dir: &Path) -> (std::process::Child, u32) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::hold_writer_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TETHER_IT_HOLD_STORE", store_url(dir))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("holder.err")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest may print "test name ... " before it on the same line.
            if let Some((_, pid)) = line.split_once("HOLDING pid=") {
                let _ = tx.send(pid.trim().parse::<u32>().unwrap());
            }
        }
    });
    let pid = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| {
            panic!(
                "the holder process did not take the store in 30 s ({e}): {}",
                std::fs::read_to_string(dir.join("holder.err")).unwrap_or_default()
            )
        });
    (child, pid)
}

#[tokio::test]
async fn a_second_process_is_refused_and_a_killed_writer_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    // Create and migrate first, so the holder starts quickly.
    Store::open(&settings(dir.path()))
        .await
        .unwrap()
        .close()
        .await;
    let (mut child, child_pid) = spawn_holder(dir.path());
    assert_eq!(child_pid, child.id());

    // This process is refused, and told who holds the store.
    let err = Store::open(&settings(dir.path())).await.unwrap_err();
    let msg = err.to_string();
    let OpenError::Sqlite(SqliteOpenError::Locked { holder, .. }) = &err else {
        panic!("expected Locked, got {msg}");
    };
    assert_eq!(holder.pid, child_pid);
    assert!(msg.contains(&format!("pid {child_pid}")), "{msg}");
    assert!(msg.contains(&format!("host {}", holder.host)), "{msg}");
    assert!(msg.contains(&format!("since {}", holder.since)), "{msg}");
    assert_ne!(holder.since, "unknown");

    // The real binary: doctor sees the writer and reads instead; status just reads.
    let out = tether(dir.path()).arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("in use by the writer pid {child_pid}")),
        "{stdout}"
    );
    tether(dir.path()).arg("status").assert().success();

    // kill -9: the OS drops the lock with the process; the next writer gets in at once.
    child.kill().unwrap();
    child.wait().unwrap();
    let started = Instant::now();
    let store = Store::open(&settings(dir.path())).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let st = store.status().await.unwrap();
    assert_eq!(st.writer.unwrap().holder.pid, std::process::id());
    store.close().await;
}
