//! `tether status`: what the state store holds (schema version, counts, watermarks, the
//! last cycle, the recorded writer), as text or, with `--json`, as one JSON object.
//!
//! Opens the store read-only: it never needs the writer guard and never writes. Must never
//! print customer data (ids and counts only).

use super::Global;
use crate::config::{StoreSettings, StoreUrl};
use crate::store::{Cycle, OpenError, SqliteOpenError, StoreError, StoreStatus, connections_in};
use anyhow::Context;
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text (for scripts).
    #[arg(long)]
    pub json: bool,
    /// On PostgreSQL: every connection (brand) the database holds, one after another,
    /// whatever `connection.name` says. Refused on SQLite (one connection per file).
    #[arg(long)]
    pub all_connections: bool,
}

pub async fn run(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings.store;
    if args.all_connections {
        return all_connections(settings, args.json).await;
    }
    let store = match super::open_store::reader(settings).await {
        Ok(s) => s,
        Err(OpenError::Sqlite(SqliteOpenError::Missing { path })) => {
            let shown = path.display().to_string();
            if args.json {
                let v = serde_json::json!({ "url": settings.url.as_str(), "path": shown, "exists": false });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("store: {shown} (not created yet: nothing has run against it)");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).context("cannot read the state store"),
    };
    let status = store
        .status()
        .await
        .context("cannot read the state store")?;
    store.close().await;
    if args.json {
        let mut v = serde_json::to_value(&status)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("exists".into(), serde_json::Value::Bool(true));
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render_text(&status, chrono::Utc::now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--all-connections`: each connection of the PostgreSQL database, read-only, in name order.
async fn all_connections(settings: &StoreSettings, json: bool) -> anyhow::Result<ExitCode> {
    let names = match connections_in(&settings.url).await {
        Ok(names) => names,
        Err(e @ StoreError::BadUrl { .. }) => {
            eprintln!("error: --all-connections: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e).context("cannot list the database's connections"),
    };
    let mut all = Vec::new();
    for name in names {
        let mut one = settings.clone();
        if let StoreUrl::Postgres { connection, .. } = &mut one.url {
            *connection = name.clone();
        }
        let store = super::open_store::reader(&one)
            .await
            .with_context(|| format!("cannot read connection {name}"))?;
        let status = store
            .status()
            .await
            .with_context(|| format!("cannot read connection {name}"))?;
        store.close().await;
        all.push((name, status));
    }
    if json {
        let list: Vec<serde_json::Value> = all
            .iter()
            .map(|(name, st)| {
                serde_json::json!({ "connection": name.as_str(), "schema": name.schema(), "status": st })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "connections": list }))?
        );
    } else if all.is_empty() {
        println!("no tether connection in {} yet", settings.url.redacted());
    } else {
        let now = chrono::Utc::now();
        for (name, st) in &all {
            println!("== connection {name} (schema {})", name.schema());
            print!("{}", render_text(st, now));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_cycle(c: &Cycle) -> String {
    let mut s = format!("#{} started {}", c.id.0, c.started_at.to_rfc3339());
    match (c.finished_at, c.outcome) {
        (Some(end), Some(outcome)) => {
            let took = end.signed_duration_since(c.started_at);
            let _ = write!(
                s,
                ", finished {} ({}, took {:.1} s)",
                end.to_rfc3339(),
                outcome.as_str(),
                took.num_milliseconds() as f64 / 1000.0
            );
        }
        _ => s.push_str(", not finished (running, or stopped without recording an end)"),
    }
    if !c.counts.is_empty() {
        let counts: Vec<String> = c.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(s, "; {}", counts.join(", "));
    }
    if let Some(e) = &c.error {
        let _ = write!(s, "; error: {e}");
    }
    s
}

/// The text form of `tether status`, as seen at `now` (to tell a stale writer record).
pub fn render_text(st: &StoreStatus, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = String::new();
    let store = st.path.as_deref().unwrap_or(&st.url);
    let _ = writeln!(out, "store:             {store}");
    let schema_note = if st.schema_version == st.schema_latest {
        "up to date"
    } else {
        "differs from this tether's"
    };
    let _ = writeln!(
        out,
        "schema version:    {} ({schema_note})",
        st.schema_version
    );
    let c = &st.counts;
    let _ = writeln!(out, "links:             {}", c.links);
    let _ = writeln!(out, "records seen:      {}", c.records_seen);
    let _ = writeln!(out, "pending proposals: {}", c.pending_proposals);
    let _ = writeln!(
        out,
        "outbox:            {} pending, {} failed",
        c.outbox_pending, c.outbox_failed
    );
    let _ = writeln!(out, "quarantine:        {}", c.quarantine);
    let _ = writeln!(
        out,
        "unsettled:         {} refused writes still owed, {} dismissed (`tether plan` lists them)",
        c.unsettled, c.unsettled_dismissed
    );
    let _ = writeln!(out, "aliases:           {}", c.aliases);
    let _ = writeln!(out, "audit entries:     {}", c.audit_entries);
    let _ = writeln!(out, "watermarks:");
    for system in [
        crate::domain::System::Hubspot,
        crate::domain::System::Gorgias,
    ] {
        let shown = match st.watermarks.get(&system) {
            None => "none yet (the first cycle reads everything)".to_owned(),
            Some(w) => match &w.tie_break {
                Some(id) => format!("{} (after id {id})", w.at.to_rfc3339()),
                None => w.at.to_rfc3339(),
            },
        };
        let _ = writeln!(out, "  {:<16} {shown}", format!("{system}:"));
    }
    let last = st
        .last_cycle
        .as_ref()
        .map(describe_cycle)
        .unwrap_or_else(|| "none yet".into());
    let _ = writeln!(out, "last cycle:        {last}");
    let sp = &st.support;
    if sp.backfill_pages > 0 {
        let state = if sp.backfill_done {
            "done"
        } else {
            "in progress (the next cycle resumes after the last stored page)"
        };
        let _ = writeln!(
            out,
            "ticket backfill:   {} pages, {} tickets, {state}",
            sp.backfill_pages, sp.backfill_tickets
        );
    }
    if sp.notes_owed + sp.notes_written > 0 {
        let _ = writeln!(
            out,
            "support notes:     {} written, {} owed",
            sp.notes_written, sp.notes_owed
        );
    }
    let writer = match &st.writer {
        None => "none".to_owned(),
        Some(w) => {
            let stale = now
                .signed_duration_since(w.heartbeat)
                .to_std()
                .is_ok_and(|age| age > crate::store::STALE_AFTER);
            format!(
                "pid {} on host {} since {} (last heartbeat {}{})",
                w.holder.pid,
                w.holder.host,
                w.holder.since,
                w.heartbeat.to_rfc3339(),
                if stale {
                    "; stale: that writer is probably not running"
                } else {
                    ""
                }
            )
        }
    };
    let _ = writeln!(out, "writer:            {writer}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::System;
    use crate::store::{CycleId, CycleOutcome, Watermark, latest_version};
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    #[test]
    fn text_shows_counts_watermarks_and_the_last_cycle() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .unwrap();
        let mut st = StoreStatus {
            url: "sqlite://x.db".into(),
            path: Some("x.db".into()),
            schema_version: latest_version(),
            schema_latest: latest_version(),
            counts: Default::default(),
            watermarks: BTreeMap::new(),
            last_cycle: None,
            writer: None,
            support: Default::default(),
        };
        st.counts.links = 12;
        st.counts.outbox_failed = 3;
        st.watermarks.insert(
            System::Gorgias,
            Watermark {
                at,
                tie_break: Some("77".into()),
            },
        );
        st.last_cycle = Some(Cycle {
            id: CycleId(4),
            started_at: at,
            finished_at: Some(at + chrono::Duration::milliseconds(2500)),
            outcome: Some(CycleOutcome::Partial),
            counts: BTreeMap::from([("created".to_owned(), 2)]),
            error: None,
        });
        let text = render_text(&st, at);
        for want in [
            "store:             x.db",
            "(up to date)",
            "links:             12",
            "0 pending, 3 failed",
            "hubspot:         none yet",
            "gorgias:         2026-11-25T10:00:00+00:00 (after id 77)",
            "#4 started 2026-11-25T10:00:00+00:00",
            "partial, took 2.5 s",
            "created=2",
            "writer:            none",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("ticket backfill"), "{text}");
        st.support = crate::store::SupportStatus {
            backfill_pages: 3,
            backfill_tickets: 250,
            backfill_done: false,
            notes_owed: 1,
            notes_written: 4,
        };
        let text = render_text(&st, at);
        assert!(
            text.contains("ticket backfill:   3 pages, 250 tickets, in progress"),
            "{text}"
        );
        assert!(
            text.contains("support notes:     4 written, 1 owed"),
            "{text}"
        );
        st.writer = Some(crate::store::RecordedWriter {
            holder: crate::store::Holder {
                pid: 77,
                host: "box".into(),
                since: "s".into(),
            },
            heartbeat: at,
        });
        let fresh = render_text(&st, at + chrono::Duration::seconds(5));
        assert!(fresh.contains("pid 77 on host box since s"), "{fresh}");
        assert!(!fresh.contains("stale"), "{fresh}");
        let old = render_text(&st, at + chrono::Duration::seconds(600));
        assert!(old.contains("stale"), "{old}");
    }
}
