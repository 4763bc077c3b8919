//! `tether demo` as a process: it converges, and shows a held `manual` conflict settled by
//! a person and applied by one sync.

use super::cycle_support::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_holds_a_manual_conflict_resolves_it_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let (code, out) = run(
        vec![],
        dir.path().to_path_buf(),
        &[
            "demo",
            "--people",
            "60",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("`company` is `manual`: held for a person"),
        "{out}"
    );
    assert!(out.contains("1 conflicts held"), "{out}");
    assert!(
        out.contains("$ tether conflicts resolve 1 --take gorgias"),
        "{out}"
    );
    assert!(out.contains("conflict #1: closed (applied)"), "{out}");
    assert!(out.contains("now holds company \"Oak and Sons\""), "{out}");
    assert!(out.contains("Nothing to do: both systems agree."), "{out}");
    assert!(report.exists());
}
