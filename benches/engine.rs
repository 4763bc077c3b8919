//! Engine benchmark: `cargo bench --bench engine`.
//!
//! (a) initial linking of 1,000,000 profiles per side by e-mail (no links yet), the way the
//!     cycle runs a backfill: keys paged, then pairs planned in batches;
//! (a1, only with TETHER_BENCH_SINGLE=1) the same in one `plan` call with every record in memory;
//! (b) a steady cycle: 10,000 changed records among 1,000,000 links.
//! Each scenario runs in its own child process so that its peak memory (VmHWM) is its own.
//! Synthetic data comes from a seeded RNG; the mapping is the shipped `mappings/default.toml`.
//! Sizes can be lowered for a quick run: `TETHER_BENCH_PROFILES=100000 cargo bench --bench engine`.

#[path = "support/figure.rs"]
mod figure;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Instant;
use tether::domain::{GorgiasId, HubspotId};
use tether::engine::{
    self, Excluded, GorgiasKeys, GorgiasRecord, HubspotKeys, HubspotRecord, Input, KeyReader, Link,
    Options, link_keys,
};
use tether::mappings::{MappingSet, parse_str};

const FIRST: &[&str] = &[
    "Ann", "Bob", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Inès", "Jack", "Mary Ann",
    "Zoë",
];
const LAST: &[&str] = &[
    "Lee",
    "Martin",
    "Smith",
    "Dubois",
    "García",
    "Nguyen",
    "Müller",
    "Rossi",
    "Van Damme",
    "O'Brien",
];

fn profiles() -> usize {
    std::env::var("TETHER_BENCH_PROFILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn changes() -> usize {
    std::env::var("TETHER_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn mapping() -> MappingSet {
    parse_str(
        "mappings/default.toml",
        include_str!("../mappings/default.toml"),
    )
    .expect("default mapping")
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn gib(kib: u64) -> f64 {
    kib as f64 / (1024.0 * 1024.0)
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).expect("timestamp")
}

/// Person `i`: e-mail, first, last, optional phone; the same for the same `i` (seeded RNG per
/// record, so a batch can be re-read by index like a connector's batch read).
fn person_at(i: usize) -> (String, &'static str, &'static str, Option<String>) {
    let mut rng =
        StdRng::seed_from_u64(0x7e7e_u64 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    person(i, &mut rng)
}

fn person(i: usize, rng: &mut StdRng) -> (String, &'static str, &'static str, Option<String>) {
    let email = format!("customer{i}@shop{}.example.com", i % 97);
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let phone = rng
        .random_bool(0.3)
        .then(|| format!("+1415{:07}", 2_000_000 + (i % 7_000_000)));
    (email, first, last, phone)
}

fn hubspot(
    i: usize,
    email: &str,
    first: &str,
    last: &str,
    phone: Option<&str>,
    extra: &[(&str, String)],
) -> HubspotRecord {
    let mut properties = BTreeMap::new();
    properties.insert("email".to_owned(), email.to_owned());
    properties.insert("firstname".to_owned(), first.to_owned());
    properties.insert("lastname".to_owned(), last.to_owned());
    if let Some(p) = phone {
        properties.insert("phone".to_owned(), p.to_owned());
    }
    for (k, v) in extra {
        properties.insert((*k).to_owned(), v.clone());
    }
    HubspotRecord {
        id: HubspotId::new((1000 + i).to_string()).expect("id"),
        updated_at: at(i as i64 % 86_400),
        properties,
    }
}

fn gorgias(
    i: usize,
    email: &str,
    name: &str,
    phone: Option<&str>,
    external_id: Option<String>,
) -> GorgiasRecord {
    let mut channels = vec![json!({"type": "email", "address": email, "preferred": true})];
    if let Some(p) = phone {
        channels.push(json!({"type": "phone", "address": p, "preferred": true}));
    }
    let mut fields = json!({"email": email, "name": name, "channels": channels});
    if let Some(x) = external_id {
        fields["external_id"] = Value::String(x);
    }
    GorgiasRecord {
        id: GorgiasId::new(1 + i as i64).expect("id"),
        updated_at: at(i as i64 % 86_400),
        fields,
    }
}

/// (a): n HubSpot and n Gorgias profiles, 80% shared (e-mails differ in case on half of
/// those), the rest unique to one side; no links.
fn initial_linking() {
    let n = profiles();
    let m = mapping();
    let mut rng = StdRng::seed_from_u64(42);
    let mut hs = Vec::with_capacity(n);
    let mut gs = Vec::with_capacity(n);
    for i in 0..n {
        let (email, first, last, phone) = person(i, &mut rng);
        hs.push(hubspot(i, &email, first, last, phone.as_deref(), &[]));
        let g_email = if i % 5 == 4 {
            format!("gorgias-only{i}@mail.example.org")
        } else if i % 2 == 0 {
            email.to_uppercase()
        } else {
            email
        };
        gs.push(gorgias(
            i,
            &g_email,
            &format!("{first} {last}"),
            phone.as_deref(),
            None,
        ));
    }
    let rss_input = status_kib("VmRSS:");
    let excluded = Excluded::default();
    let options = Options {
        max_creates: usize::MAX,
        max_overwrites: usize::MAX,
        ..Options::default()
    };
    let input = Input {
        hubspot: &hs,
        gorgias: &gs,
        links: &[],
        excluded: &excluded,
        resolutions: &[],
    };
    let start = Instant::now();
    let plan = engine::plan(&input, &m, &options);
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    println!(
        "(a1) initial linking, {n} profiles per side by e-mail, in ONE plan call with every record in memory"
    );
    println!(
        "    plan: {} links, {} HubSpot updates, {} Gorgias updates, {} + {} creates, {} base updates, {} skips",
        plan.links.len(),
        plan.hubspot_updates.len(),
        plan.gorgias_updates.len(),
        plan.hubspot_creates.len(),
        plan.gorgias_creates.len(),
        plan.base_updates.len(),
        plan.skips.len()
    );
    println!(
        "    wall time   {secs:>8.2} s      target < 30 s     {}",
        verdict(secs < 30.0)
    );
    println!(
        "    peak memory {:>8.2} GiB    target < 2 GiB    {}   (input data alone: {:.2} GiB)",
        gib(peak),
        verdict(gib(peak) < 2.0),
        gib(rss_input)
    );
}

/// Record `i` of each side in scenario (a): 80% of people on both sides (half with the
/// e-mail in upper case on Gorgias), the rest on one side only. Gorgias records are list
/// items (no `channels`), as a backfill pages through `GET /api/customers`.
fn side_records(i: usize) -> (HubspotRecord, GorgiasRecord) {
    let (email, first, last, phone) = person_at(i);
    let h = hubspot(i, &email, first, last, phone.as_deref(), &[]);
    let g_email = if i % 5 == 4 {
        format!("gorgias-only{i}@mail.example.org")
    } else if i % 2 == 0 {
        email.to_uppercase()
    } else {
        email
    };
    let mut g = gorgias(i, &g_email, &format!("{first} {last}"), None, None);
    if let Some(obj) = g.fields.as_object_mut() {
        obj.remove("channels");
    }
    (h, g)
}

/// CPU time this thread has run, in seconds (from /proc/thread-self/schedstat, in ns): on a
/// shared machine wall time includes waiting for a core, CPU time does not.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat, in clock ticks (100 per second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let ut: f64 = rest.get(11)?.parse().ok()?;
            let st: f64 = rest.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0)
}

/// (a) as the cycle would run a backfill: page through both systems (10,000 at a time)
/// keeping only each record's matching keys, link all keys at once, then plan the new
/// pairs' fields (and the creates) in batches of 10,000 read back by id.
fn initial_linking_streamed() {
    let n = profiles();
    let page = 10_000;
    let m = mapping();
    let excluded = Excluded::default();
    let options = Options {
        max_creates: usize::MAX,
        max_overwrites: usize::MAX,
        ..Options::default()
    };
    let reader = KeyReader::new(&m, &options, &excluded);
    let mut engine_secs = 0.0;
    let mut engine_cpu = 0.0;
    let cpu0 = cpu_seconds();
    let wall = Instant::now();
    // Phase 1: keys.
    let mut hk: Vec<HubspotKeys> = Vec::with_capacity(n);
    let mut gk: Vec<GorgiasKeys> = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + page).min(n);
        let (hs, gs): (Vec<_>, Vec<_>) = (start..end).map(side_records).unzip();
        let (t, c) = (Instant::now(), thread_cpu());
        hk.extend(hs.iter().filter_map(|r| reader.hubspot(r).ok()));
        gk.extend(gs.iter().filter_map(|r| reader.gorgias(r).ok()));
        engine_secs += t.elapsed().as_secs_f64();
        engine_cpu += thread_cpu() - c;
        start = end;
    }
    let (t, c) = (Instant::now(), thread_cpu());
    let linking = link_keys(&hk, &gk, &Default::default());
    let link_secs = t.elapsed().as_secs_f64();
    engine_secs += link_secs;
    engine_cpu += thread_cpu() - c;
    drop(hk);
    drop(gk);
    // Phase 2: plan the new pairs (empty bases) and the unmatched records, in batches.
    let (mut h_updates, mut g_updates, mut creates, mut bases, mut skips) = (0, 0, 0, 0, 0);
    let index_h = |id: &HubspotId| id.as_str().parse::<usize>().ok().map(|v| v - 1000);
    let index_g = |id: GorgiasId| (id.get() - 1) as usize;
    let mut plan_batch = |links: &[Link], hs: &[HubspotRecord], gs: &[GorgiasRecord]| {
        let (t, c) = (Instant::now(), thread_cpu());
        let input = Input {
            hubspot: hs,
            gorgias: gs,
            links,
            excluded: &excluded,
            resolutions: &[],
        };
        let p = engine::plan(&input, &m, &options);
        let secs = (t.elapsed().as_secs_f64(), thread_cpu() - c);
        h_updates += p.hubspot_updates.len();
        g_updates += p.gorgias_updates.len();
        creates += p.hubspot_creates.len() + p.gorgias_creates.len();
        bases += p.base_updates.len();
        skips += p.skips.len();
        secs
    };
    for chunk in linking.links.chunks(page) {
        let links: Vec<Link> = chunk
            .iter()
            .map(|l| Link {
                hubspot_id: l.hubspot_id.clone(),
                gorgias_id: l.gorgias_id,
                base: BTreeMap::new(),
            })
            .collect();
        let hs: Vec<HubspotRecord> = chunk
            .iter()
            .filter_map(|l| index_h(&l.hubspot_id))
            .map(|i| side_records(i).0)
            .collect();
        let gs: Vec<GorgiasRecord> = chunk
            .iter()
            .map(|l| side_records(index_g(l.gorgias_id)).1)
            .collect();
        let (w, c) = plan_batch(&links, &hs, &gs);
        engine_secs += w;
        engine_cpu += c;
    }
    for chunk in linking.unmatched_hubspot.chunks(page) {
        let hs: Vec<HubspotRecord> = chunk
            .iter()
            .filter_map(index_h)
            .map(|i| side_records(i).0)
            .collect();
        let (w, c) = plan_batch(&[], &hs, &[]);
        engine_secs += w;
        engine_cpu += c;
    }
    for chunk in linking.unmatched_gorgias.chunks(page) {
        let gs: Vec<GorgiasRecord> = chunk.iter().map(|g| side_records(index_g(*g)).1).collect();
        let (w, c) = plan_batch(&[], &[], &gs);
        engine_secs += w;
        engine_cpu += c;
    }
    let total = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let peak = status_kib("VmHWM:");
    println!(
        "(a) initial linking, {n} profiles per side by e-mail (keys paged, pairs planned in batches of {page})"
    );
    println!(
        "    result: {} links, {} + {} unmatched (creates planned: {creates}), {} linking skips; {h_updates} HubSpot and {g_updates} Gorgias updates, {bases} base updates, {skips} field skips",
        linking.links.len(),
        linking.unmatched_hubspot.len(),
        linking.unmatched_gorgias.len(),
        linking.skips.len()
    );
    figure::record(
        "engine",
        &format!("initial linking, {n} per side: engine time"),
        &format!("{engine_secs:.2} s (CPU {engine_cpu:.2} s)"),
        "< 30 s",
        Some(engine_secs < 30.0),
    );
    figure::record(
        "engine",
        &format!("initial linking, {n} per side: peak memory"),
        &format!("{:.2} GiB", gib(peak)),
        "< 2 GiB",
        Some(gib(peak) < 2.0),
    );
    println!(
        "    engine time {engine_secs:>8.2} s      target < 30 s     {}   (engine CPU time {engine_cpu:.2} s: {}; linking alone {link_secs:.2} s)",
        verdict(engine_secs < 30.0),
        verdict(engine_cpu < 30.0)
    );
    println!(
        "    wall time   {total:>8.2} s      incl. generating the data; process CPU {cpu:.2} s"
    );
    println!(
        "    peak memory {:>8.2} GiB    target < 2 GiB    {}",
        gib(peak),
        verdict(gib(peak) < 2.0)
    );
}

/// (b): n links with bases; `changes` of them changed (half on each side, a few on both).
fn steady_cycle() {
    let n = profiles();
    let k = changes().min(n);
    let m = mapping();
    let mut rng = StdRng::seed_from_u64(7);
    // The store: every link and its bases.
    let mut links: Vec<Link> = Vec::with_capacity(n);
    let mut people = Vec::with_capacity(n);
    for i in 0..n {
        let (email, first, last, phone) = person(i, &mut rng);
        let h = HubspotId::new((1000 + i).to_string()).expect("id");
        let g = GorgiasId::new(1 + i as i64).expect("id");
        let mut base = BTreeMap::new();
        base.insert("email".to_owned(), email.clone());
        base.insert("name".to_owned(), format!("{first} {last}"));
        if let Some(p) = &phone {
            base.insert("phone".to_owned(), p.clone());
        }
        base.insert("gorgias_id".to_owned(), g.to_string());
        base.insert("hubspot_id".to_owned(), h.to_string());
        links.push(Link {
            hubspot_id: h,
            gorgias_id: g,
            base,
        });
        people.push((first, last, phone.is_some()));
    }
    let by_hubspot: HashMap<HubspotId, usize> = links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.hubspot_id.clone(), i))
        .collect();
    // The feed: k changed records and their counterparts (as the connectors would return them).
    let mut hs = Vec::with_capacity(k);
    let mut gs = Vec::with_capacity(k);
    let stride = n / k.max(1);
    for j in 0..k {
        let i = j * stride.max(1);
        let (first, last, has_phone) = people[i];
        let email = format!("customer{i}@shop{}.example.com", i % 97);
        let phone = has_phone.then(|| format!("+1415{:07}", 2_000_000 + (i % 7_000_000)));
        let ids = [("tether_gorgias_id", (1 + i).to_string())];
        let (h_last, g_name) = match j % 10 {
            0..=3 => ("Changed-in-HubSpot", format!("{first} {last}")),
            4..=7 => (last, format!("{first} Changed-in-Gorgias")),
            8 => ("Both", format!("{first} Both")),
            _ => ("Conflict-H", format!("{first} Conflict-G")),
        };
        hs.push(hubspot(i, &email, first, h_last, phone.as_deref(), &ids));
        let mut g = gorgias(
            i,
            &email,
            &g_name,
            phone.as_deref(),
            Some((1000 + i).to_string()),
        );
        g.updated_at = at(100_000 + j as i64);
        gs.push(g);
    }
    let rss_input = status_kib("VmRSS:");
    let excluded = Excluded::default();
    let options = Options {
        max_creates: usize::MAX,
        max_overwrites: usize::MAX,
        ..Options::default()
    };
    let start = Instant::now();
    // What the cycle does: load the links of the changed records, then plan.
    let touched: Vec<Link> = hs
        .iter()
        .filter_map(|r| by_hubspot.get(&r.id))
        .filter_map(|&i| links.get(i).cloned())
        .collect();
    let input = Input {
        hubspot: &hs,
        gorgias: &gs,
        links: &touched,
        excluded: &excluded,
        resolutions: &[],
    };
    let plan = engine::plan(&input, &m, &options);
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    println!("(b) steady cycle, {k} changes among {n} links");
    println!(
        "    plan: {} pairs, {} HubSpot updates, {} Gorgias updates, {} base updates, {} conflicts held, {} overwrites",
        plan.summary.pairs,
        plan.hubspot_updates.len(),
        plan.gorgias_updates.len(),
        plan.base_updates.len(),
        plan.conflicts.len(),
        plan.caps.overwrites
    );
    println!(
        "    wall time   {secs:>8.3} s      target < 1 s      {}",
        verdict(secs < 1.0)
    );
    figure::record(
        "engine",
        &format!("steady cycle, {k} changes among {n} links: plan time"),
        &format!("{secs:.3} s"),
        "< 1 s",
        Some(secs < 1.0),
    );
    figure::record(
        "engine",
        &format!("steady cycle, {k} changes among {n} links: peak memory"),
        &format!(
            "{:.2} GiB (of which the bench's link table {:.2} GiB)",
            gib(peak),
            gib(rss_input)
        ),
        "< 2 GiB",
        Some(gib(peak) < 2.0),
    );
    println!(
        "    peak memory {:>8.2} GiB    target < 2 GiB    {}   (store of {n} links alone: {:.2} GiB)",
        gib(peak),
        verdict(gib(peak) < 2.0),
        gib(rss_input)
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "OK" } else { "MISSED" }
}

fn main() {
    match std::env::var("TETHER_BENCH_SCENARIO").as_deref() {
        Ok("a") => initial_linking_streamed(),
        Ok("a1") => initial_linking(),
        Ok("b") => steady_cycle(),
        _ => {
            // Each scenario in its own process, so each peak is its own.
            let exe = std::env::current_exe().expect("current exe");
            let mut scenarios = vec!["a", "b"];
            if std::env::var("TETHER_BENCH_SINGLE").is_ok() {
                scenarios.insert(1, "a1");
            }
            for s in scenarios {
                let status = Command::new(&exe)
                    .env("TETHER_BENCH_SCENARIO", s)
                    .status()
                    .expect("run scenario");
                if !status.success() {
                    eprintln!("scenario {s} failed: {status}");
                    std::process::exit(1);
                }
            }
        }
    }
}
