//! `tether match evaluate` end to end: a small labelled CSV written by the test, the JSON and
//! text reports, and malformed input refused with exit code 2 naming the line.

use assert_cmd::Command;
use std::path::Path;

const HEADER: &str = "record_id,entity_id,source,first_name,last_name,email,phone,address1,address2,city,zip,state,country\n";

fn tether(dir: &Path) -> Command {
    let mut cmd = super::harness::tether_assert();
    cmd.current_dir(dir);
    cmd
}

fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
    path
}

const PEOPLE: &str = "\
a1,p1,,Robert,Smith,bob.smith@gmail.com,(206) 555-0134,12 Oak Street,,Seattle,98101,WA,US
a2,p1,,Bob,Smith,bobsmith+shop@googlemail.com,+12065550134,12 Oak St,,Seattle,98101,WA,US
a3,p2,,Jane,Smith,smithfamily@yahoo.com,(206) 555-0134,12 Oak Street,,Seattle,98101,WA,US
a4,p3,,Zoë,Müller,zoe.muller@example.org,+1 415 555 0199,9 Elm Road,Apt 4,San Francisco,94110,CA,US
a5,p3,,Zoe,Muller,ZOE.MULLER@EXAMPLE.ORG,(415) 555-0199,9 Elm Rd,,San Francisco,94110,CA,US
a6,p4,,Kwame,Mensah,kwame@example.net,+1 312 555 0100,1 Lake Drive,,Chicago,60601,IL,US
";

#[test]
fn evaluate_reports_metrics_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "people.csv", PEOPLE);
    let out = tether(dir.path())
        .args(["match", "evaluate"])
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["records"], 6);
    assert_eq!(v["true_pairs"], 2);
    assert_eq!(v["mode"], "Duplicates");
    assert!(v["candidate_pairs"].as_u64().unwrap() >= 2);
    assert_eq!(v["pair_completeness"], 1.0);
    assert_eq!(v["review"]["recall"], 1.0);
    assert_eq!(v["auto"]["threshold"], 0.99);
    // Jane is Robert's relative: never in the auto band, so auto precision is perfect.
    assert_eq!(v["auto"]["precision"], 1.0);
    assert!(v["auto"]["true_positives"].as_u64().unwrap() >= 1);
    assert!(v["wall_seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["best_f1"].as_f64().unwrap() > 0.5);
}

#[test]
fn evaluate_prints_text_and_honours_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "people.csv", PEOPLE);
    let out = tether(dir.path())
        .args(["match", "evaluate"])
        .arg(&file)
        .args(["--review", "0.5", "--auto", "0.95"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("pair completeness of blocking: 1.0000"),
        "{text}"
    );
    assert!(text.contains("review  ≥ 0.500"), "{text}");
    assert!(text.contains("auto    ≥ 0.950"), "{text}");
    assert!(text.contains("best F1"), "{text}");
    assert!(text.contains("peak memory"), "{text}");
    // Record contents are never printed.
    assert!(!text.contains("Smith"), "{text}");
}

#[test]
fn linking_mode_counts_only_cross_source_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "link.csv",
        "\
h1,p1,hubspot,Ann,Lee,ann.lee@gmail.com,+12065550111,1 Main St,,Seattle,98101,WA,US
h2,p1,hubspot,Ann,Lee,annlee@gmail.com,+12065550111,1 Main St,,Seattle,98101,WA,US
g1,p1,gorgias,Ann,Lee,ann.lee@gmail.com,(206) 555-0111,1 Main Street,,Seattle,98101,WA,US
",
    );
    let out = tether(dir.path())
        .args(["match", "evaluate", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "Linking");
    assert_eq!(v["true_pairs"], 2);
    assert_eq!(v["candidate_pairs"], 2);
}

#[test]
fn malformed_csv_exits_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.csv",
        "a1,p1,,Ann,Lee,a@b.com,,,,,,,US\na2,p1,,too,few,fields\n",
    );
    let out = tether(dir.path())
        .args(["match", "evaluate"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");

    let file = write(
        dir.path(),
        "src.csv",
        "a1,p1,salesforce,Ann,Lee,,,,,,,,US\n",
    );
    let out = tether(dir.path())
        .args(["match", "evaluate"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));

    let out = tether(dir.path())
        .args(["match", "evaluate", "missing.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `tether match train` learns a model from a generated CSV; `evaluate --model` scores with
/// it, `--hand-set` without it, and the default learns from the evaluated file itself.
#[test]
fn train_writes_a_model_that_evaluate_uses() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let out = tether(dir.path())
        .args([
            "sandbox",
            "generate",
            "--records",
            "2000",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = dir.path().join("model.json");
    let out = tether(dir.path())
        .args(["match", "train"])
        .arg(&csv)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("learnt from 2000 records"), "{text}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(m["format"], "tether.match-model/1");
    assert_eq!(m["origin"], "learnt");
    assert_eq!(m["summary"]["records"], 2000);
    assert_eq!(m["summary"]["converged"], true);

    let eval = |extra: &[&str]| -> serde_json::Value {
        let out = tether(dir.path())
            .args(["match", "evaluate", "--json"])
            .arg(&csv)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let given = eval(&["--model", model.to_str().unwrap()]);
    let learnt = eval(&[]);
    let hand = eval(&["--hand-set"]);
    assert_eq!(given["model"], "learnt");
    assert_eq!(hand["model"], "hand_set");
    // The same data and seed: the given model and the one learnt on the fly agree exactly.
    assert_eq!(given["review"], learnt["review"]);
    assert_ne!(given["model_prior_bits"], hand["model_prior_bits"]);
    assert!(given["review"]["f1"].as_f64().unwrap() > 0.5, "{given}");

    // A damaged model is a usage error (exit 2) naming the file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"tether.match-model/1\"}").unwrap();
    let out = tether(dir.path())
        .args(["match", "evaluate"])
        .arg(&csv)
        .arg("--model")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
}

/// Too few records to learn from: the hand-set weights, and the model says why.
#[test]
fn train_on_a_small_file_falls_back_to_the_hand_set_weights() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "people.csv", PEOPLE);
    let model = dir.path().join("m.json");
    let out = tether(dir.path())
        .args(["match", "train"])
        .arg(&file)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hand-set weights"));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(m["origin"], "hand_set");
    assert!(
        m["summary"]["fallback"]
            .as_str()
            .unwrap()
            .contains("6 records")
    );
}
