//! `tether setup`, `tether plan --detailed-exitcode` and `tether sync` as processes, with
//! environment variables pointing at sandboxes started in the test.

use super::cycle_support::*;
use assert_cmd::Command;

fn tether(env: &[(String, String)], dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("tether").unwrap();
    c.current_dir(dir)
        .env_remove("TETHER_CONFIG")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs `tether ARGS` in `dir` with `env`; the exit code and stdout + stderr.
pub async fn run(
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
    args: &[&str],
) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = tether(&env, &dir).args(&args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// The environment pointing `tether` at the sandboxes, a store `t.db` in `dir` and the
/// built-in mappings.
pub fn sandbox_env(
    sb: &tether::commands::demo::Sandboxes,
    dir: &std::path::Path,
) -> Vec<(String, String)> {
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    [
        (
            "TETHER__HUBSPOT__BASE_URL",
            sb.hubspot_running.base_url.clone(),
        ),
        ("TETHER__HUBSPOT__TOKEN", "pat-na1-demo".to_string()),
        (
            "TETHER__GORGIAS__BASE_URL",
            sb.gorgias_running.base_url.clone(),
        ),
        (
            "TETHER__GORGIAS__USERNAME",
            "api@sandbox.gorgias.test".to_string(),
        ),
        ("TETHER__GORGIAS__API_KEY", "sandbox-api-key".to_string()),
        (
            "TETHER__STORE__URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        ),
        ("TETHER__MAPPINGS__DIR", mappings.display().to_string()),
        ("TETHER__SYNC__OVERLAP_SECONDS", "30".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_detailed_exitcode_is_2_with_changes_and_0_after_sync() {
    let sb = sandboxes().await;
    seed_people(&sb, 5, 3);
    let dir = tempfile::tempdir().unwrap();
    let env = sandbox_env(&sb, dir.path());
    let d = dir.path().to_path_buf();

    let (code, out) = run(env.clone(), d.clone(), &["setup"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tether_gorgias_id: created"), "{out}");

    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("3 new links"), "{out}");
    assert_eq!(sb.write_calls(), (0, 0), "plan wrote to a system");
    assert!(!dir.path().join("t.db").exists(), "plan created the store");

    let (code, out) = run(
        env.clone(),
        d.clone(),
        &["plan", "--format", "json", "--output", "plan.json"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["summary"]["links"], 3);

    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok"), "{out}");
    settle().await;

    let writes = sb.write_calls();
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(sb.write_calls(), writes);
}
