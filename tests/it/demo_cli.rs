//! `tether demo` as a process: it converges, and shows a held `manual` conflict settled by
//! a person and a create refused by a portal rule, both settled by one sync once the person
//! acted and the rule was lifted; support roll-ups land in HubSpot (a line, and a section of
//! the report); and it stays calm (under 120 lines, the rest in the report).

use super::cycle_support::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_settles_a_held_conflict_and_heals_a_refused_write() {
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
    assert!(out.contains("refused write 1"), "{out}");
    assert!(out.contains("MISSING_REQUIRED_PROPERTY"), "{out}");
    assert!(out.contains("→ tether retry 1"), "{out}");
    assert!(out.contains("conflict #1: closed (applied)"), "{out}");
    assert!(out.contains(": created as HubSpot contact"), "{out}");
    assert!(out.contains("refused writes left: 0"), "{out}");
    assert!(out.contains("Nothing to do: both systems agree."), "{out}");
    assert!(report.exists());
    // Issue 14: support roll-ups land in HubSpot, in the calm output and in the report.
    assert!(
        out.contains("roll-ups landed in HubSpot, e.g. contact"),
        "{out}"
    );
    assert!(out.contains("  support: "), "{out}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<h2>Support roll-ups in HubSpot</h2>"),
        "no roll-up section"
    );
    assert!(html.contains("gorgias_ticket_count"), "no roll-up section");
    // A calm demo: the summary, a handful of pairs and where the report is, not the whole
    // plan (which printed thousands of lines before).
    let lines = out.lines().count();
    assert!(lines < 120, "the demo printed {lines} lines:\n{out}");
    assert!(out.contains("more records (the HTML report"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("HTML report of the first plan: ") && l.ends_with("report.html")),
        "{out}"
    );
}
