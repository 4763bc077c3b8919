//! `tether sandbox`: the real binary serves both sandboxes, seeded, with the credentials it
//! prints, and stops cleanly on SIGTERM; `tether sandbox generate` writes a labelled CSV.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn value_after(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {label:?} line in {lines:#?}"))
}

#[tokio::test]
async fn serves_seeded_sandboxes_with_the_printed_credentials_and_stops_on_sigterm() {
    let mut child = super::harness::tether_command()
        .args([
            "sandbox",
            "--records",
            "40",
            "--seed",
            "7",
            "--hubspot-token",
            "pat-test-token",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = vec![];
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("Press Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .unwrap();

    let hs = value_after(&lines, "HubSpot sandbox:");
    let token = value_after(&lines, "bearer token:");
    let gg = value_after(&lines, "Gorgias sandbox:");
    let user = value_after(&lines, "username:");
    let key = value_after(&lines, "api key:");
    assert_eq!(token, "pat-test-token");
    assert!(key.len() >= 16, "a random API key is printed: {key}");

    let http = reqwest::Client::new();
    let contacts: serde_json::Value = http
        .get(format!("{hs}/crm/v3/objects/contacts?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let n_contacts = contacts["results"].as_array().unwrap().len();
    let customers: serde_json::Value = http
        .get(format!("{gg}/api/customers?limit=100"))
        .basic_auth(&user, Some(&key))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let n_customers = customers["data"].as_array().unwrap().len();
    assert!(
        n_contacts > 0 && n_customers > 0,
        "{n_contacts} / {n_customers}"
    );
    let seeded = lines.iter().find(|l| l.starts_with("Seeded")).unwrap();
    assert!(
        seeded.contains(&format!(
            "{n_contacts} HubSpot contacts and {n_customers} Gorgias"
        )),
        "{seeded} but listed {n_contacts} contacts and {n_customers} customers"
    );

    let refused = http
        .get(format!("{hs}/crm/v3/objects/contacts?limit=1"))
        .bearer_auth("pat-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = super::harness::eventually(
        Duration::from_secs(10),
        "tether sandbox to stop on SIGTERM",
        || child.try_wait().unwrap(),
    )
    .await;
    assert!(status.success(), "exit status {status}");
}

#[test]
fn generate_writes_a_labelled_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("people.csv");
    let status = super::harness::tether_command()
        .args([
            "sandbox",
            "generate",
            "--records",
            "50",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("record_id,entity_id,source,")
    );
    assert_eq!(lines.count(), 50);
}
