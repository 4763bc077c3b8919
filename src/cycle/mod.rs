//! One sync cycle: the only place that sequences I/O (connectors, store) around the pure
//! engine. Steps (docs/cycle.md): finish pending outbox writes ([`resume`]), read both change
//! feeds and the counterparts ([`read`]), plan ([`crate::engine::plan`]), persist the plan's
//! writes to the outbox in one transaction and apply them ([`apply`]), propose duplicate
//! merges over the records read and apply the auto-approved ones ([`dedup`]), then record
//! held conflicts ([`conflicts`]), bases, links, audit rows, seen records and watermarks.
//!
//! Owns the sequencing and the [`CycleReport`]. Must never decide what to write (the engine
//! does), never build SQL or HTTP requests itself (the store and the connectors do), and
//! never advance a watermark past a record whose writes did not all succeed.

pub mod apply;
pub mod conflicts;
pub mod dedup;
pub mod echo;
pub mod failure;
pub mod precheck;
pub mod read;
pub mod replan;
pub mod resume;
pub mod support;
pub mod support_backfill;
pub mod support_notes;
pub mod targeted;

pub use targeted::run_targeted;

use crate::connectors::gorgias::{GorgiasClient, GorgiasError};
use crate::connectors::hubspot::{HubspotClient, HubspotError};
use crate::domain::Region;
use crate::engine::{self, Plan};
use crate::mappings::MappingSet;
use crate::store::{CycleId, CycleOutcome, SharedStore, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a test may stop a cycle on purpose, to simulate a crash (`kill -9`) at that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopPoint {
    /// Right after the plan's writes are in the outbox, before any is sent.
    AfterOutbox,
    /// Right after HubSpot accepted a batch of support notes, before tether recorded them.
    AfterNoteUpsert,
    /// Right after the first ticket backfill stored this many pages (unless it ended).
    AfterSupportPages(u32),
    /// Right after the roll-up writes were sent, before they were recorded as written.
    AfterRollupWrites,
}

/// A long step of a cycle, as named to a [`ProgressHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// HubSpot contacts read from the feed (a backfill lists every contact).
    ReadHubspot,
    /// Gorgias customers read from the feed and, when the mappings need channels, one by one.
    ReadGorgias,
    /// Counterparts of changed records read by id.
    ReadCounterparts,
    /// Outbox writes sent.
    Apply,
}

impl Stage {
    /// A short label for progress lines.
    pub fn label(self) -> &'static str {
        match self {
            Stage::ReadHubspot => "read HubSpot contacts",
            Stage::ReadGorgias => "read Gorgias customers",
            Stage::ReadCounterparts => "read counterparts",
            Stage::Apply => "apply writes",
        }
    }
}

/// An observer of a cycle's progress, called with `(stage, done, total)` as items of a
/// stage complete (`done` grows up to `total` within one stage). It must be cheap and must
/// never block: it is called inline from the read and apply steps. The service wires it to
/// [`crate::service::progress::Progress`] for the first backfill.
#[derive(Clone)]
pub struct ProgressHook(pub Arc<dyn Fn(Stage, u64, u64) + Send + Sync>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

impl ProgressHook {
    /// Wraps a callback.
    pub fn new(f: impl Fn(Stage, u64, u64) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

/// Calls the cycle's progress hook, if any.
pub(crate) fn report_progress(ctx: &Cycle, stage: Stage, done: usize, total: usize) {
    if let Some(h) = &ctx.options.progress {
        (h.0)(stage, done as u64, total as u64);
    }
}

/// How a cycle runs (from `[sync]` settings and the command line).
#[derive(Debug, Clone)]
pub struct CycleOptions {
    /// Lift the safety caps (`--allow-large`).
    pub allow_large: bool,
    /// Most counterparts one cycle may create.
    pub max_creates: usize,
    /// Most non-empty values one cycle may overwrite.
    pub max_overwrites: usize,
    /// Region for phone numbers written without a country code.
    pub default_region: Region,
    /// How far before each watermark the feeds re-read (covers search index lag, clock skew).
    pub overlap: Duration,
    /// Who the audit log names as the actor.
    pub actor: String,
    /// A write is given up (`failed`) after this many failed attempts.
    pub max_attempts: u32,
    /// Stop the cycle at this point (tests only): simulates a crash.
    pub stop_at: Option<StopPoint>,
    /// Duplicate proposals (`[matching]` thresholds and auto-merge cap); `None` turns them
    /// off. See [`dedup`].
    pub proposals: Option<crate::merges::ProposalSettings>,
    /// Told how far the long steps got (the first backfill); `None` reports nothing.
    pub progress: Option<ProgressHook>,
    /// One HubSpot note per closed Gorgias ticket (`[support] notes`).
    pub notes: bool,
    /// The store's writer lease (PostgreSQL): no API write is sent unless it is certainly
    /// held at that moment ([`crate::store::Lease::is_valid_now`]). `None`: a SQLite store.
    pub lease: Option<Arc<crate::store::Lease>>,
}

impl Default for CycleOptions {
    /// The `[sync]` values of the built-in defaults ([`crate::config::Settings::built_in`]),
    /// so a default cycle and a default configuration agree.
    fn default() -> Self {
        let s = crate::config::Settings::built_in().sync;
        Self {
            allow_large: false,
            max_creates: s.max_creates as usize,
            max_overwrites: s.max_overwrites as usize,
            default_region: s.default_region,
            overlap: Duration::from_secs(s.overlap_seconds),
            actor: "sync".into(),
            max_attempts: 5,
            stop_at: None,
            proposals: Some(crate::merges::ProposalSettings::default()),
            progress: None,
            notes: false,
            lease: None,
        }
    }
}

impl CycleOptions {
    /// From the `[sync]` settings (`max_creates`, `max_overwrites`, `default_region`,
    /// `overlap_seconds`), already checked when the configuration loaded.
    pub fn from_settings(s: &crate::config::SyncSettings) -> Self {
        Self {
            max_creates: s.max_creates as usize,
            max_overwrites: s.max_overwrites as usize,
            default_region: s.default_region,
            overlap: Duration::from_secs(s.overlap_seconds),
            allow_large: false,
            actor: "sync".into(),
            max_attempts: 5,
            stop_at: None,
            proposals: Some(crate::merges::ProposalSettings::default()),
            progress: None,
            notes: false,
            lease: None,
        }
    }

    fn engine_options(&self) -> engine::Options {
        engine::Options {
            default_region: self.default_region,
            max_creates: self.max_creates,
            max_overwrites: self.max_overwrites,
            allow_large: self.allow_large,
        }
    }
}

/// Everything a cycle works with. Cheap to clone; the service keeps one and runs
/// [`run_cycle`] on its schedule.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub store: SharedStore,
    pub hubspot: HubspotClient,
    pub gorgias: Arc<GorgiasClient>,
    pub mappings: Arc<MappingSet>,
    pub options: CycleOptions,
}

/// What went wrong in a cycle.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("HubSpot: {0}")]
    Hubspot(#[from] HubspotError),
    #[error("Gorgias: {0}")]
    Gorgias(#[from] GorgiasError),
    /// Proposing or applying duplicate merges failed (bookkeeping or an API error).
    #[error("duplicates: {0}")]
    Merge(#[from] crate::merges::MergeError),
    /// The configuration cannot make a cycle (bad mappings, missing credentials).
    #[error("configuration: {0}")]
    Config(String),
    /// The cycle was stopped on purpose at a [`StopPoint`] (tests).
    #[error("cycle stopped on purpose at {0:?}")]
    Stopped(StopPoint),
}

/// What one cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub id: CycleId,
    pub started_at: DateTime<Utc>,
    pub outcome: CycleOutcome,
    /// The plan computed this cycle (empty when nothing changed).
    pub plan: Plan,
    /// The follow-up plan over links made by this cycle's creates (ids written back).
    pub follow_up: Option<Plan>,
    /// Pending writes of an earlier, interrupted cycle that were finished first.
    pub resumed: apply::Applied,
    /// Writes of this cycle's plan.
    pub applied: apply::Applied,
    /// Records quarantined this cycle (malformed answers).
    pub quarantined: usize,
    /// Why nothing was written, when the safety caps blocked the plan.
    pub refused: Option<String>,
    /// Whether the watermarks moved.
    pub watermarks_advanced: bool,
    /// Duplicate proposals and merges of this cycle (none when refused or turned off).
    pub dedup: dedup::DedupReport,
    /// HubSpot contacts read this cycle (see [`read::Gathered::read_hubspot`]).
    pub read_hubspot: usize,
    /// Gorgias customers read this cycle.
    pub read_gorgias: usize,
    /// Support roll-ups: feeds read, customers changed, contacts written ([`support`]).
    pub support: support::SupportReport,
}

impl CycleReport {
    /// Counts stored with the cycle row.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let s = &self.plan.summary;
        let n = |v: usize| v as u64;
        BTreeMap::from([
            ("pairs".into(), n(s.pairs)),
            ("links".into(), n(s.links)),
            ("hubspot_updates".into(), n(s.hubspot_updates)),
            ("gorgias_updates".into(), n(s.gorgias_updates)),
            ("hubspot_creates".into(), n(s.hubspot_creates)),
            ("gorgias_creates".into(), n(s.gorgias_creates)),
            ("field_writes".into(), n(s.field_writes)),
            ("conflicts".into(), n(s.conflicts)),
            ("skips".into(), n(s.skips)),
            (
                "writes_done".into(),
                n(self.applied.done + self.resumed.done),
            ),
            (
                "writes_failed".into(),
                n(self.applied.failed + self.resumed.failed),
            ),
            (
                "writes_pending".into(),
                n(self.applied.pending + self.resumed.pending),
            ),
            ("quarantined".into(), n(self.quarantined)),
            ("merge_proposals".into(), n(self.dedup.proposed)),
            ("merges_auto_approved".into(), n(self.dedup.auto_approved)),
            ("merges_applied".into(), n(self.dedup.merges_applied)),
            ("merges_failed".into(), n(self.dedup.merges_failed)),
        ])
    }
}

impl Cycle {
    /// A cycle over `store` from the configuration: clients from `[hubspot]` and
    /// `[gorgias]`, mappings from `mappings.dir`, options from `[sync]` (and `[support] notes`).
    /// No call is made.
    pub fn from_settings(
        settings: &crate::config::Settings,
        store: SharedStore,
    ) -> Result<Cycle, CycleError> {
        use crate::connectors::gorgias::GorgiasConfig;
        use crate::connectors::hubspot::HubspotConfig;
        if settings.hubspot.token.is_empty() {
            return Err(CycleError::Config(
                "hubspot.token is empty: set TETHER__HUBSPOT__TOKEN (a private app token)".into(),
            ));
        }
        let hubspot = HubspotClient::new(HubspotConfig::from_settings(&settings.hubspot))?;
        let gorgias = GorgiasClient::new(
            GorgiasConfig::from_settings(&settings.gorgias)
                .map_err(|e| CycleError::Config(e.to_string()))?,
        )?;
        let mappings = crate::mappings::load_dir(&settings.mappings.dir).map_err(|e| {
            CycleError::Config(format!(
                "mappings in {}: {e}",
                settings.mappings.dir.display()
            ))
        })?;
        let mut options = CycleOptions::from_settings(&settings.sync);
        let mut proposals = crate::merges::ProposalSettings::from_settings(
            &settings.matching,
            options.default_region,
        );
        if let Some(path) = settings.matching.model_path() {
            let model = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    crate::matcher::model::Model::from_json(&text).map_err(|e| e.to_string())
                })
                .map_err(|e| {
                    CycleError::Config(format!("matching.model {}: {e}", path.display()))
                })?;
            proposals = proposals.with_weights(model.weights);
        }
        options.proposals = Some(proposals);
        options.notes = settings.support.notes;
        Ok(Cycle {
            store,
            hubspot,
            gorgias: Arc::new(gorgias),
            mappings: Arc::new(mappings),
            options,
        })
    }

    /// Runs one cycle; see [`run_cycle`].
    pub async fn run(&self) -> Result<CycleReport, CycleError> {
        run_cycle(self).await
    }

    /// Plans without writing; see [`plan_only`].
    pub async fn plan(&self) -> Result<Plan, CycleError> {
        plan_only(self).await
    }

    /// Plans and previews duplicate proposals without writing; see [`plan_with_proposals`].
    pub async fn plan_with_proposals(
        &self,
    ) -> Result<(Plan, Vec<crate::report::ProposalLine>), CycleError> {
        plan_with_proposals(self).await
    }
}

/// Runs one full cycle: resume the outbox, read, plan, persist, apply, record. The store
/// must be opened as the writer. A cycle row is recorded with its outcome; an error is
/// recorded as `failed` (except a deliberate [`StopPoint`], which leaves the row open like a
/// crash would).
pub async fn run_cycle(ctx: &Cycle) -> Result<CycleReport, CycleError> {
    run_from(ctx, read::Source::Feeds).await
}

/// [`run_cycle`] reading from `source` (the feeds, or named contacts for [`run_targeted`]).
pub(crate) async fn run_from(
    ctx: &Cycle,
    source: read::Source<'_>,
) -> Result<CycleReport, CycleError> {
    let started_at = Utc::now();
    let id = ctx.store.start_cycle(started_at).await?;
    match run_inner(ctx, id, started_at, source).await {
        Ok(report) => {
            ctx.store
                .finish_cycle(
                    id,
                    report.outcome,
                    &report.counts(),
                    report.refused.as_deref(),
                    Utc::now(),
                )
                .await?;
            Ok(report)
        }
        Err(CycleError::Stopped(p)) => Err(CycleError::Stopped(p)),
        Err(e) => {
            let msg = e.to_string();
            if let Err(fe) = ctx
                .store
                .finish_cycle(
                    id,
                    CycleOutcome::Failed,
                    &BTreeMap::new(),
                    Some(&msg),
                    Utc::now(),
                )
                .await
            {
                tracing::warn!(error = %fe, "could not record the failed cycle");
            }
            Err(e)
        }
    }
}

async fn run_inner(
    ctx: &Cycle,
    id: CycleId,
    started_at: DateTime<Utc>,
    source: read::Source<'_>,
) -> Result<CycleReport, CycleError> {
    let resumed = resume::finish_pending(ctx).await?;
    replan::note_settings(ctx, started_at).await?;
    let mut gathered = read::gather_from(ctx, read::Mode::Write, source).await?;
    let partners = match &ctx.options.proposals {
        Some(_) => dedup::hold_orphans(ctx, &mut gathered, true).await?,
        None => vec![],
    };
    let plan = engine::plan(
        &gathered.input(),
        &ctx.mappings,
        &ctx.options.engine_options(),
    );
    let mut report = CycleReport {
        id,
        started_at,
        outcome: CycleOutcome::Ok,
        plan,
        follow_up: None,
        resumed,
        applied: apply::Applied::default(),
        quarantined: gathered.quarantined,
        refused: None,
        watermarks_advanced: false,
        dedup: dedup::DedupReport::default(),
        read_hubspot: gathered.read_hubspot,
        read_gorgias: gathered.read_gorgias,
        support: support::SupportReport::default(),
    };
    if report.plan.caps.blocked {
        report.refused = Some(
            report
                .plan
                .caps
                .reason
                .clone()
                .unwrap_or_else(|| "the plan exceeds a safety cap".into()),
        );
        report.outcome = CycleOutcome::Refused;
        apply::audit_refusal(ctx, &report.plan, started_at).await?;
        return Ok(report);
    }
    report.applied = apply::apply_plan(ctx, &report.plan, id).await?;
    // Creates leave fields only known once the record exists (its id, written on the other
    // side): finish them now, from the new links, so one cycle converges.
    let created = std::mem::take(&mut report.applied.created_links);
    if !created.is_empty() && report.applied.is_clean() {
        let mut known_h = std::mem::take(&mut report.applied.created_hubspot);
        known_h.extend(gathered.hubspot.iter().cloned());
        let mut known_g = std::mem::take(&mut report.applied.created_gorgias);
        known_g.extend(gathered.gorgias.iter().cloned());
        let more = read::gather_pairs(ctx, &created, &known_h, &known_g).await?;
        let plan = engine::plan(&more.input(), &ctx.mappings, &ctx.options.engine_options());
        if plan.has_changes() && !plan.caps.blocked {
            let a = apply::apply_plan(ctx, &plan, id).await?;
            report.applied.done += a.done;
            report.applied.failed += a.failed;
            report.applied.pending += a.pending;
            report.applied.resolved_existing += a.resolved_existing;
            report.applied.hubspot.add(a.hubspot);
            report.applied.gorgias.add(a.gorgias);
            report.follow_up = Some(plan);
        }
    }
    // Duplicates: after the plan's links exist (so pairs it linked are no candidates), and
    // before the watermarks move (so an error here re-reads these records next cycle).
    if let Some(settings) = &ctx.options.proposals {
        let mut records =
            dedup::merge_records(&gathered, &ctx.mappings, ctx.options.default_region);
        records.extend(partners);
        report.dedup = dedup::propose_and_apply(ctx, settings, &records, Utc::now()).await?;
    }
    // Support roll-ups: after the plan's links exist, so new contacts get theirs.
    report.support = support::run(ctx, id).await?;
    let clean = report.applied.is_clean() && report.resumed.is_clean();
    let planned = conflicts::planned_pairs(&gathered.links, &gathered.hubspot, &gathered.gorgias);
    conflicts::record(ctx, &report.plan, &planned, clean, Utc::now()).await?;
    if clean {
        read::record_progress(ctx, &gathered, &report.plan).await?;
        report.watermarks_advanced = matches!(source, read::Source::Feeds);
    }
    if !clean || report.quarantined > 0 {
        report.outcome = CycleOutcome::Partial;
    }
    Ok(report)
}

/// Reads both sides and runs the same planner as [`run_cycle`], writing nothing anywhere:
/// no system is written, and the store is only read (open it read-only, or pass an
/// in-memory store when none exists yet). Pending outbox writes are not applied.
pub async fn plan_only(ctx: &Cycle) -> Result<Plan, CycleError> {
    let mut gathered = read::gather(ctx, read::Mode::ReadOnly).await?;
    if ctx.options.proposals.is_some() {
        dedup::hold_orphans(ctx, &mut gathered, false).await?;
    }
    let mut plan = engine::plan(
        &gathered.input(),
        &ctx.mappings,
        &ctx.options.engine_options(),
    );
    plan.unsettled = replan::plan_section(ctx).await?;
    Ok(plan)
}

/// [`plan_only`] plus the duplicate pairs the cycle would propose over the same records
/// (`merges::preview`, without the cross-system pairs the plan links), each with what would
/// happen to it. Writes nothing; the list is empty when proposals are turned off.
pub async fn plan_with_proposals(
    ctx: &Cycle,
) -> Result<(Plan, Vec<crate::report::ProposalLine>), CycleError> {
    let mut gathered = read::gather(ctx, read::Mode::ReadOnly).await?;
    let partners = match &ctx.options.proposals {
        Some(_) => dedup::hold_orphans(ctx, &mut gathered, true).await?,
        None => vec![],
    };
    let mut plan = engine::plan(
        &gathered.input(),
        &ctx.mappings,
        &ctx.options.engine_options(),
    );
    plan.unsettled = replan::plan_section(ctx).await?;
    let items = match &ctx.options.proposals {
        Some(settings) if !plan.caps.blocked => {
            dedup::preview(ctx, settings, &gathered, &partners, &plan).await?
        }
        _ => vec![],
    };
    Ok((plan, items))
}
