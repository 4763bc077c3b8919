//! `tether setup`, `tether plan --detailed-exitcode` and `tether sync` as processes, with
//! environment variables pointing at sandboxes started in the test.

/// Shared by other CLI tests (`unsettled`), which name them from here.
pub use super::cycle_support::run;
use super::cycle_support::*;

/// The environment pointing `tether` at the sandboxes, a store `t.db` in `dir` and the
/// built-in mappings.
pub fn sandbox_env(
    sb: &tether::commands::demo::Sandboxes,
    dir: &std::path::Path,
) -> Vec<(String, String)> {
    let mappings = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    cli_env(sb, dir, &mappings)
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
    settle(&sb).await;

    let writes = sb.write_calls();
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(sb.write_calls(), writes);
}
