//! The card as the sandbox renders it, in headless Chromium: a card served by the endpoint
//! for a linked contact, filled into the `http` widget's template by
//! `sidebar::template::preview_html`, screenshotted with Chromium's `--screenshot`. With
//! `TETHER_UPDATE_DOCS=1` the picture replaces `docs/img/sidebar-card.png` (docs/sidebar.md).
//! Needs Chromium like `review_browser` (it FAILS with instructions when missing).

use crate::review_browser::chromium_path;
use crate::sidebar::{SECRET, card_env, get_card};
use std::path::PathBuf;
use std::time::Duration;
use tether::sidebar::template::{card_template, preview_html};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_renders_in_the_sidebar_preview_and_screenshots() {
    let env = card_env(Duration::from_secs(300)).await;
    // The generated contact with the most to show: an owner, a company and open deals.
    let mut best = None;
    for i in 1..20 {
        let (status, card) = get_card(
            &env.base,
            &format!("customer_id={}", 5001 + i),
            Some(SECRET),
        )
        .await;
        assert_eq!(status, 200, "{card}");
        let score = card["open_deals_total"].as_u64().unwrap_or(0)
            + u64::from(card["company_name"].is_string())
            + u64::from(card["owner"].is_string());
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, card));
        }
    }
    let (_, card) = best.unwrap();
    let html = preview_html(
        "Gorgias ticket sidebar — tether card",
        &card_template("HubSpot (tether)"),
        &card,
    );
    for shown in ["Lifecycle stage", "Owner", "Company"] {
        assert!(html.contains(shown), "{shown} missing: {html}");
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("card.html");
    std::fs::write(&page, &html).unwrap();
    let png = dir.path().join("card.png");
    let out = tokio::process::Command::new(chromium_path())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=380,820",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .await
        .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        bytes.len() > 5_000,
        "suspiciously small picture: {} bytes",
        bytes.len()
    );
    if std::env::var("TETHER_UPDATE_DOCS").as_deref() == Ok("1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("sidebar-card.png"), &bytes).unwrap();
        std::fs::write(docs.join("sidebar-card.html"), &html).unwrap();
    }
}
