//! Chaos scenarios: a pure, seeded generator of the steps a chaos run takes (people seeded on
//! each side, edits as people and as other integrations, creates, deletes, merges,
//! near-duplicates, faults, `tether sync` runs and `kill -9`s, and a span in which the
//! `tether run` service is up, is `kill -9`ed and restarted, and is stopped by SIGTERM).
//! Owns generation and the trace's text only; must never do I/O (the executor in
//! `chaos_exec.rs` runs the steps).

use std::fmt;

/// A small deterministic PRNG (splitmix64), so a seed replays identically on any machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Where a person starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Both,
    Hubspot,
    Gorgias,
}

/// A mapped field the scenario edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Name,
    Phone,
    Company,
}

impl Field {
    pub fn canonical(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Phone => "phone",
            Field::Company => "company",
        }
    }
}

/// A system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Hubspot,
    Gorgias,
}

/// A fault injected into a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSpec {
    Status {
        side: Side,
        status: u16,
        times: u32,
    },
    RateLimitBurst {
        side: Side,
        times: u32,
    },
    Latency {
        side: Side,
        ms: u64,
        times: u32,
    },
    HubspotTimeout {
        times: u32,
    },
    HubspotMalformed {
        times: u32,
    },
    /// Gorgias answers 200 with a truncated JSON body.
    GorgiasMalformed {
        times: u32,
    },
}

/// One step of a scenario. People are numbered; the executor resolves a person to the ids
/// it has on each side at the time of the step (a step on a person with no record on that
/// side is skipped and says so in the trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A person edits a mapped field in the system's UI (value is canonical).
    Edit {
        side: Side,
        person: usize,
        field: Field,
        value: String,
    },
    /// Another integration writes its own key in the Gorgias customer's `data`.
    ForeignData {
        person: usize,
        value: String,
    },
    /// A new person is created in one system's UI (index of the new person).
    Create {
        side: Side,
        person: usize,
    },
    /// A near-duplicate of `of`: same name, a different e-mail (a new person).
    NearDuplicate {
        side: Side,
        person: usize,
        of: usize,
    },
    /// An agent deletes the person's Gorgias customer.
    DeleteGorgias {
        person: usize,
    },
    /// A person merges `gone` into `keep` in HubSpot's UI.
    MergeHubspot {
        keep: usize,
        gone: usize,
    },
    /// An agent merges `gone` into `keep` in Gorgias.
    MergeGorgias {
        keep: usize,
        gone: usize,
    },
    Fault(FaultSpec),
    /// A permanent refusal: a HubSpot portal rule requiring `lifecyclestage` on every create is
    /// switched on (`on`), or lifted, after which a person runs `tether retry --all` (the
    /// refused records may be in their backoff). Lifting happens while no `tether run` is
    /// up (the writer guard would refuse the retry).
    PortalRule {
        on: bool,
    },
    /// `tether sync` runs to its end.
    Sync,
    /// `tether sync` is started and `kill -9`ed after `after_ms`.
    Crash {
        after_ms: u64,
    },
    /// The service `tether run` is started (cron every second, a cycle at start-up,
    /// `--shutdown-grace grace_s`; 0 abandons an in-flight cycle at once on SIGTERM). It keeps
    /// cycling while the next steps happen, until a `RunKill` without restart or a `RunStop`;
    /// if neither comes, the run quiesces through it.
    RunStart {
        grace_s: u64,
    },
    /// Nothing happens for `ms` while `tether run` cycles.
    RunFor {
        ms: u64,
    },
    /// `tether run` is `kill -9`ed after `after_ms`, or, with `in_cycle_ms`, `in_cycle_ms`
    /// into the first cycle that starts after those `after_ms` (so that the kill lands inside
    /// a cycle: the resume, the reads or the apply); with `restart`, a new one starts at once
    /// on the same store.
    RunKill {
        after_ms: u64,
        in_cycle_ms: Option<u64>,
        restart: bool,
    },
    /// `tether run` gets SIGTERM and must exit 0; with `in_cycle_ms`, the signal is sent that
    /// far into the next cycle (with `--shutdown-grace 0` that cycle is abandoned).
    RunStop {
        in_cycle_ms: Option<u64>,
    },
}

/// A whole scenario: the people seeded and the steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Where each seeded person starts (index = person).
    pub homes: Vec<Home>,
    pub steps: Vec<Step>,
    /// Whether a `tether run` span could be woven in ([`Size::service`]).
    pub service: bool,
}

/// Size knobs of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub people: usize,
    pub steps: usize,
    /// Whether a `tether run` span may be woven in (`false` gives the scenarios of the
    /// sync-only suite, step for step).
    pub service: bool,
    /// Whether a permanent refusal (a portal rule on, later lifted) may be woven in
    /// ([`weave_refusals`]); off, the scenarios are those before the fault kind existed.
    pub refusals: bool,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            people: 12,
            steps: 14,
            service: true,
            refusals: false,
        }
    }
}

fn side(rng: &mut Rng) -> Side {
    if rng.chance(50) {
        Side::Hubspot
    } else {
        Side::Gorgias
    }
}

fn value(rng: &mut Rng, field: Field, step: usize) -> String {
    match field {
        Field::Name => format!("Pat{step} Chaos{}", rng.below(1000)),
        Field::Phone => format!(
            "+1415555{:04}",
            2000 + (step as u64 * 397 + rng.below(397)) % 7999
        ),
        Field::Company => format!("Co{step} {}", rng.below(1000)),
    }
}

/// Generates the scenario of `seed`. Pure: the same seed and size give the same scenario.
pub fn generate(seed: u64, size: Size) -> Scenario {
    let mut rng = Rng::new(seed);
    let homes: Vec<Home> = (0..size.people)
        .map(|_| match rng.below(4) {
            0 => Home::Hubspot,
            1 => Home::Gorgias,
            _ => Home::Both,
        })
        .collect();
    let mut people = homes.len();
    // People no longer usable as merge/delete subjects (merged away, deleted).
    let mut gone: Vec<usize> = vec![];
    let mut steps = vec![Step::Sync];
    let mut merges = 0;
    for i in 0..size.steps {
        let n = i + 1;
        let pick = |rng: &mut Rng, gone: &[usize], people: usize| -> Option<usize> {
            let live: Vec<usize> = (0..people).filter(|p| !gone.contains(p)).collect();
            live.get(rng.below(live.len().max(1) as u64) as usize)
                .copied()
        };
        let roll = rng.below(100);
        let step = if roll < 35 {
            let Some(person) = pick(&mut rng, &gone, people) else {
                continue;
            };
            let field = match rng.below(3) {
                0 => Field::Name,
                1 => Field::Phone,
                _ => Field::Company,
            };
            Step::Edit {
                side: side(&mut rng),
                person,
                field,
                value: value(&mut rng, field, n),
            }
        } else if roll < 42 {
            let Some(person) = pick(&mut rng, &gone, people) else {
                continue;
            };
            Step::ForeignData {
                person,
                value: format!("ord-{n}-{}", rng.below(1000)),
            }
        } else if roll < 48 {
            people += 1;
            Step::Create {
                side: side(&mut rng),
                person: people - 1,
            }
        } else if roll < 52 {
            let Some(of) = pick(&mut rng, &gone, people) else {
                continue;
            };
            people += 1;
            Step::NearDuplicate {
                side: side(&mut rng),
                person: people - 1,
                of,
            }
        } else if roll < 56 {
            let Some(person) = pick(&mut rng, &gone, people) else {
                continue;
            };
            gone.push(person);
            Step::DeleteGorgias { person }
        } else if roll < 62 && merges < 2 {
            let (Some(keep), Some(g)) =
                (pick(&mut rng, &gone, people), pick(&mut rng, &gone, people))
            else {
                continue;
            };
            if keep == g {
                continue;
            }
            merges += 1;
            gone.push(g);
            if rng.chance(50) {
                Step::MergeHubspot { keep, gone: g }
            } else {
                Step::MergeGorgias { keep, gone: g }
            }
        } else if roll < 78 {
            let times = 1 + rng.below(2) as u32;
            let s = side(&mut rng);
            Step::Fault(match rng.below(6) {
                0 => FaultSpec::Status {
                    side: s,
                    status: [500, 502, 503][rng.below(3) as usize],
                    times,
                },
                1 => FaultSpec::RateLimitBurst { side: s, times },
                2 => FaultSpec::Latency {
                    side: s,
                    ms: 20 + rng.below(150),
                    times,
                },
                3 => FaultSpec::HubspotTimeout { times },
                4 => FaultSpec::HubspotMalformed { times },
                _ => FaultSpec::GorgiasMalformed { times },
            })
        } else if roll < 90 {
            Step::Sync
        } else {
            Step::Crash {
                after_ms: 30 + rng.below(400),
            }
        };
        steps.push(step);
    }
    if size.service {
        steps = weave_service(steps, seed);
    }
    if size.refusals {
        steps = weave_refusals(steps, seed);
    }
    Scenario {
        seed,
        homes,
        steps,
        service: size.service,
    }
}

/// Weaves a permanent refusal into about half of the scenarios, from a stream of its own so
/// that the other steps stay as they were: a portal rule switched on (possibly before the
/// first step) and lifted later, at a place where no `tether run` is up (so that `tether retry --all`
/// can take the writer guard). No such place: no refusal.
pub fn weave_refusals(steps: Vec<Step>, seed: u64) -> Vec<Step> {
    let mut r = Rng::new(seed.rotate_left(17) ^ 0x0BAD_5EED_0F0F_1234);
    let n = steps.len();
    if n < 2 || !r.chance(50) {
        return steps;
    }
    // Whether `tether run` is up before step i (i = n: after the last step).
    let mut alive = Vec::with_capacity(n + 1);
    let mut up = false;
    for s in &steps {
        alive.push(up);
        match s {
            Step::RunStart { .. } => up = true,
            Step::RunStop { .. } | Step::RunKill { restart: false, .. } => up = false,
            _ => {}
        }
    }
    alive.push(up);
    // Half the time before the first `tether sync`, so the first creates meet the rule.
    let on = if r.chance(50) {
        0
    } else {
        r.below(n as u64) as usize
    };
    let offs: Vec<usize> = (on + 1..=n).filter(|i| !alive[*i]).collect();
    let Some(off) = offs
        .get(r.below(offs.len().max(1) as u64) as usize)
        .copied()
    else {
        return steps;
    };
    let mut out = Vec::with_capacity(n + 2);
    for (i, s) in steps.into_iter().enumerate() {
        if i == on {
            out.push(Step::PortalRule { on: true });
        }
        if i == off {
            out.push(Step::PortalRule { on: false });
        }
        out.push(s);
    }
    if off == n {
        out.push(Step::PortalRule { on: false });
    }
    out
}

/// How a `tether run` span ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanEnd {
    /// SIGTERM (graceful).
    Stop,
    /// `kill -9`, no restart.
    Kill,
    /// Still running at the end: the run quiesces through the service.
    Open,
}

/// Most service kills land inside a cycle, at a random point of its first 25, 100 or 400 ms
/// (a cycle with nothing to write takes about 15 ms in a debug build, one that writes or
/// backfills hundreds).
fn in_cycle(r: &mut Rng) -> Option<u64> {
    r.chance(65).then(|| {
        let max = [25, 100, 400][r.below(3) as usize];
        r.below(max)
    })
}

/// One stretch of steps during which `tether run` is up: `steps[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    end_kind: SpanEnd,
    /// Where one more `kill -9` and restart goes (before `steps[i]`).
    extra_kill: Option<usize>,
    grace_s: u64,
}

fn span(r: &mut Rng, start: usize, n: usize, open_after: u64) -> Span {
    let end_kind = match r.below(100) {
        x if x < open_after => SpanEnd::Stop,
        x if x < 60 => SpanEnd::Kill,
        _ => SpanEnd::Open,
    };
    let end = match end_kind {
        SpanEnd::Open => n,
        _ => start + 1 + r.below((n - start) as u64) as usize,
    };
    let extra_kill = r
        .chance(85)
        .then(|| start + r.below((end - start) as u64) as usize);
    let grace_s = if r.chance(30) { 0 } else { 8 };
    Span {
        start,
        end,
        end_kind,
        extra_kill,
        grace_s,
    }
}

/// Weaves spans of `tether run` into the steps, drawn from a stream of their own so that
/// the other steps stay those of the sync-only generator. Inside a span, `tether sync`
/// becomes "let the service cycle" and a `kill -9` of `tether sync` becomes a `kill -9` of
/// the service and a restart; most spans get one more `kill -9` and restart at a random
/// place. When the first span ends before the last step, a second one may start later, so
/// the service also restarts after edits made while no tether was running.
pub fn weave_service(steps: Vec<Step>, seed: u64) -> Vec<Step> {
    let mut r = Rng::new(seed.rotate_left(29) ^ 0x0C0F_FEE0_5EED_7E57);
    if !r.chance(60) || steps.is_empty() {
        return steps;
    }
    let n = steps.len();
    let start = r.below(n as u64) as usize;
    let first = span(&mut r, start, n, 35);
    let mut spans = vec![first];
    if first.end_kind != SpanEnd::Open && first.end + 1 < n && r.chance(50) {
        let start = first.end + 1 + r.below((n - first.end - 1) as u64) as usize;
        // A second span never ends with a kill without restart (the first may).
        let mut second = span(&mut r, start, n, 40);
        if second.end_kind == SpanEnd::Kill {
            second.end_kind = SpanEnd::Stop;
        }
        spans.push(second);
    }
    let end_step = |r: &mut Rng, kind: SpanEnd| match kind {
        SpanEnd::Stop => Some(Step::RunStop {
            in_cycle_ms: in_cycle(r),
        }),
        SpanEnd::Kill => Some(Step::RunKill {
            after_ms: r.below(1200),
            in_cycle_ms: in_cycle(r),
            restart: false,
        }),
        SpanEnd::Open => None,
    };
    let mut out = Vec::with_capacity(n + 12);
    for (i, s) in steps.into_iter().enumerate() {
        for sp in &spans {
            if i == sp.end
                && let Some(e) = end_step(&mut r, sp.end_kind)
            {
                out.push(e);
            }
            if i == sp.start {
                out.push(Step::RunStart {
                    grace_s: sp.grace_s,
                });
                out.push(Step::RunFor {
                    ms: 300 + r.below(900),
                });
            }
            if sp.extra_kill == Some(i) {
                out.push(Step::RunKill {
                    after_ms: r.below(1200),
                    in_cycle_ms: in_cycle(&mut r),
                    restart: true,
                });
            }
        }
        let inside = spans.iter().any(|sp| (sp.start..sp.end).contains(&i));
        out.push(match s {
            Step::Sync if inside => Step::RunFor {
                ms: 200 + r.below(1300),
            },
            Step::Crash { after_ms } if inside => Step::RunKill {
                after_ms: after_ms * 2,
                in_cycle_ms: in_cycle(&mut r),
                restart: true,
            },
            other => other,
        });
    }
    for sp in &spans {
        if sp.end == n
            && let Some(e) = end_step(&mut r, sp.end_kind)
        {
            out.push(e);
        }
    }
    out
}

impl Scenario {
    /// Whether `tether run` is `kill -9`ed and restarted at least once.
    pub fn kills_and_restarts_the_service(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::RunKill { restart: true, .. }))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Edit {
                side,
                person,
                field,
                value,
            } => write!(
                f,
                "edit {side:?} p{person}.{} = {value:?}",
                field.canonical()
            ),
            Step::ForeignData { person, value } => {
                write!(
                    f,
                    "foreign integration writes data.shop.order on p{person} = {value:?}"
                )
            }
            Step::Create { side, person } => write!(f, "create p{person} in {side:?}"),
            Step::NearDuplicate { side, person, of } => {
                write!(f, "near-duplicate p{person} of p{of} in {side:?}")
            }
            Step::DeleteGorgias { person } => write!(f, "delete p{person} in Gorgias"),
            Step::MergeHubspot { keep, gone } => write!(f, "merge p{gone} into p{keep} in HubSpot"),
            Step::MergeGorgias { keep, gone } => write!(f, "merge p{gone} into p{keep} in Gorgias"),
            Step::Fault(x) => write!(f, "fault {x:?}"),
            Step::PortalRule { on: true } => {
                f.write_str("HubSpot portal rule on: lifecyclestage required on create")
            }
            Step::PortalRule { on: false } => {
                f.write_str("HubSpot portal rule lifted, then tether retry --all")
            }
            Step::Sync => f.write_str("tether sync"),
            Step::Crash { after_ms } => write!(f, "tether sync, kill -9 after {after_ms} ms"),
            Step::RunStart { grace_s } => {
                write!(f, "tether run starts (--shutdown-grace {grace_s})")
            }
            Step::RunFor { ms } => write!(f, "tether run cycles for {ms} ms"),
            Step::RunKill {
                after_ms,
                in_cycle_ms,
                restart,
            } => write!(
                f,
                "tether run, kill -9 after {after_ms} ms{}{}",
                match in_cycle_ms {
                    Some(ms) => format!(" and {ms} ms into the next cycle"),
                    None => String::new(),
                },
                if *restart { ", restart" } else { "" }
            ),
            Step::RunStop { in_cycle_ms } => match in_cycle_ms {
                Some(ms) => write!(
                    f,
                    "tether run, SIGTERM {ms} ms into the next cycle, must exit 0"
                ),
                None => f.write_str("tether run, SIGTERM, must exit 0"),
            },
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: homes {:?}", self.seed, self.homes)?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:>2}. {s}")?;
        }
        Ok(())
    }
}

#[test]
fn the_same_seed_gives_the_same_scenario_and_seeds_differ() {
    let a = generate(7, Size::default());
    let b = generate(7, Size::default());
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.homes, b.homes);
    let c = generate(8, Size::default());
    assert_ne!(a.steps, c.steps);
}

#[test]
fn the_service_span_leaves_the_other_steps_alone_and_is_well_formed() {
    let (mut with_span, mut two_spans) = (0, 0);
    for seed in 1..200 {
        let plain = generate(
            seed,
            Size {
                service: false,
                ..Size::default()
            },
        );
        let woven = generate(seed, Size::default());
        // Outside the span the steps are the sync-only ones; inside, only process steps change.
        let starts = woven
            .steps
            .iter()
            .filter(|s| matches!(s, Step::RunStart { .. }))
            .count();
        assert!(starts <= 2, "seed {seed}: {woven}");
        if starts == 0 {
            assert_eq!(plain.steps, woven.steps);
            continue;
        }
        with_span += 1;
        two_spans += usize::from(starts == 2);
        let not_process = |s: &&Step| {
            !matches!(
                s,
                Step::Sync
                    | Step::Crash { .. }
                    | Step::RunStart { .. }
                    | Step::RunFor { .. }
                    | Step::RunKill { .. }
                    | Step::RunStop { .. }
            )
        };
        let a: Vec<&Step> = plain.steps.iter().filter(not_process).collect();
        let b: Vec<&Step> = woven.steps.iter().filter(not_process).collect();
        assert_eq!(a, b, "seed {seed}");
        // No `tether sync` while the service is up, and the service is up for every
        // service step but its start.
        let mut up = false;
        for s in &woven.steps {
            match s {
                Step::RunStart { .. } => {
                    assert!(!up, "seed {seed}: {woven}");
                    up = true;
                }
                Step::Sync | Step::Crash { .. } => assert!(!up, "seed {seed}: {woven}"),
                Step::RunFor { .. } => assert!(up, "seed {seed}: {woven}"),
                Step::RunKill { restart, .. } => {
                    assert!(up, "seed {seed}: {woven}");
                    up = *restart;
                }
                Step::RunStop { .. } => {
                    assert!(up, "seed {seed}: {woven}");
                    up = false;
                }
                _ => {}
            }
        }
    }
    assert!((80..160).contains(&with_span), "{with_span} of 199 seeds");
    assert!(
        two_spans >= 10,
        "{two_spans} of 199 seeds start tether run twice"
    );
}

#[test]
fn refusals_are_lifted_while_no_service_is_up_and_leave_the_other_steps_alone() {
    let mut with = 0;
    for seed in 1..200 {
        let full = generate(
            seed,
            Size {
                refusals: true,
                ..Size::default()
            },
        );
        let on = full
            .steps
            .iter()
            .position(|s| *s == Step::PortalRule { on: true });
        let off = full
            .steps
            .iter()
            .position(|s| *s == Step::PortalRule { on: false });
        let rest: Vec<&Step> = full
            .steps
            .iter()
            .filter(|s| !matches!(s, Step::PortalRule { .. }))
            .collect();
        let plain = weave_service(
            generate(
                seed,
                Size {
                    service: false,
                    ..Size::default()
                },
            )
            .steps,
            seed,
        );
        assert_eq!(rest, plain.iter().collect::<Vec<_>>(), "seed {seed}");
        match (on, off) {
            (None, None) => continue,
            (Some(a), Some(b)) => assert!(a < b, "seed {seed}: lifted before it was on"),
            other => panic!("seed {seed}: unpaired rule {other:?}"),
        }
        with += 1;
        let mut up = false;
        for s in &full.steps {
            match s {
                Step::RunStart { .. } => up = true,
                Step::RunStop { .. } | Step::RunKill { restart: false, .. } => up = false,
                Step::PortalRule { on: false } => {
                    assert!(!up, "seed {seed}: lifted under tether run")
                }
                _ => {}
            }
        }
    }
    assert!(with > 40, "only {with} of 199 scenarios refuse writes");
}
