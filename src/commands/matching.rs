//! `tether match evaluate FILE.csv`: reads a labelled profile CSV (the format of the shared
//! dedup data: `record_id,entity_id,source,first_name,…,country`), runs the matcher and prints
//! blocking completeness, precision/recall/F1 at the review and auto-merge thresholds, review
//! load, best F1, wall time and peak memory. `tether match train FILE.csv [--out MODEL]`
//! learns a model (EM weights, `matcher::model`) from a profile CSV and writes it as JSON.
//! Owns file reading and printing only; the metrics are computed by the pure
//! [`crate::matcher::evaluate`], the model by [`crate::matcher::model`]. Never prints record
//! contents.

use super::{Global, UsageError};
use crate::domain::{Region, System};
use crate::matcher::em::TrainOptions;
use crate::matcher::evaluate::{self, Evaluation};
use crate::matcher::model::{Model, Origin};
use crate::matcher::{
    self, BlockingStats, MatchOptions, MatchRecord, Mode, RECOMMENDED_AUTO_THRESHOLD,
};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `tether match …`
#[derive(Debug, Args)]
pub struct MatchArgs {
    #[command(subcommand)]
    pub command: MatchCommand,
}

/// The `match` subcommands.
#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// Measure the matcher on a labelled CSV (record_id,entity_id,source,first_name,last_name,
    /// email,phone,address1,address2,city,zip,state,country) to choose thresholds.
    Evaluate(EvaluateArgs),
    /// Learn the matcher's weights (Fellegi–Sunter m/u by EM) from a profile CSV, or from
    /// the records the store keeps, and write the model as JSON; labels are never used.
    Train(TrainArgs),
}

/// Options of `tether match train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The profile CSV (the columns `match evaluate` reads; entity_id is ignored). Without
    /// it, the records the store keeps (every record the cycles read, both systems).
    pub file: Option<PathBuf>,
    /// Where to write the model (default: matching.model, else tether-match-model.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seed of the random pairs behind u.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Options of `tether match evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The labelled CSV file.
    pub file: PathBuf,
    /// Review threshold (default: matching.review_threshold, 0.80).
    #[arg(long, value_name = "T")]
    pub review: Option<f64>,
    /// Auto-merge threshold to measure at (default: matching.auto_merge_threshold when
    /// auto-merge is on, else the recommended 0.99).
    #[arg(long, value_name = "T")]
    pub auto: Option<f64>,
    /// Score with this model (written by `tether match train`) instead of learning one
    /// from the file itself.
    #[arg(long, value_name = "FILE", conflicts_with = "hand_set")]
    pub model: Option<PathBuf>,
    /// Score with the hand-set weights instead of learning from the file.
    #[arg(long)]
    pub hand_set: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which weights an evaluation scores with.
#[derive(Debug, Clone)]
pub enum Weighting {
    /// Learnt by EM from the evaluated records themselves (labels unused), falling back to
    /// the hand-set weights on small files.
    Learn(TrainOptions),
    /// A given model.
    Model(Box<Model>),
    /// The hand-set weights.
    HandSet,
}

/// Reads and checks a model file.
pub fn read_model(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read model {}: {e}", path.display())))?;
    Model::from_json(&text).map_err(|e| UsageError(format!("model {}: {e}", path.display())).into())
}

/// The labelled CSV: records and their ground-truth entity ids.
#[derive(Debug, Clone, Default)]
pub struct Labelled {
    pub records: Vec<MatchRecord>,
    pub entities: Vec<String>,
}

/// A row of the labelled CSV.
#[derive(Debug, serde::Deserialize)]
struct Row {
    record_id: String,
    entity_id: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address1: String,
    #[serde(default)]
    address2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    country: String,
}

/// Reads a labelled profile CSV. A malformed file is a [`UsageError`] naming the line.
pub fn read_labelled(path: &Path) -> anyhow::Result<Labelled> {
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    read_labelled_from(std::io::BufReader::new(file), &path.display().to_string())
}

/// Reads a labelled profile CSV from `reader`; `name` is used in error messages.
pub fn read_labelled_from<R: std::io::Read>(reader: R, name: &str) -> anyhow::Result<Labelled> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| UsageError(format!("{name}: cannot read the header line: {e}")))?
        .clone();
    for required in ["record_id", "entity_id"] {
        if !headers.iter().any(|h| h == required) {
            return Err(UsageError(format!(
                "{name}: line 1: missing column {required:?} (expected record_id,entity_id,source,\
                 first_name,last_name,email,phone,address1,address2,city,zip,state,country)"
            ))
            .into());
        }
    }
    let mut out = Labelled::default();
    for (n, row) in rdr.deserialize::<Row>().enumerate() {
        let row: Row = row.map_err(|e| {
            let line = e.position().map_or(n as u64 + 2, |p| p.line());
            UsageError(format!("{name}: line {line}: malformed row: {e}"))
        })?;
        let line = n + 2;
        if row.record_id.is_empty() || row.entity_id.is_empty() {
            return Err(UsageError(format!(
                "{name}: line {line}: record_id and entity_id must not be empty"
            ))
            .into());
        }
        let source = match row.source.trim() {
            "" => None,
            s => Some(
                s.to_ascii_lowercase()
                    .parse::<System>()
                    .map_err(|e| UsageError(format!("{name}: line {line}: {e}")))?,
            ),
        };
        out.entities.push(row.entity_id);
        out.records.push(MatchRecord {
            id: row.record_id,
            source,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            phone: row.phone,
            address1: row.address1,
            address2: row.address2,
            city: row.city,
            zip: row.zip,
            state: row.state,
            country: row.country,
        });
    }
    Ok(out)
}

/// Peak resident memory of this process in bytes (`VmHWM` in /proc/self/status), when the
/// platform reports it.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A full evaluation run: the metrics plus what blocking did and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    pub mode: Mode,
    #[serde(flatten)]
    pub evaluation: Evaluation,
    pub blocking: BlockingStats,
    /// Where the weights came from, and the prior they set.
    pub model: Origin,
    pub model_prior_bits: f64,
    pub wall_seconds: f64,
    pub peak_memory_bytes: Option<u64>,
}

/// Runs the matcher over labelled data and evaluates it (used by the command and the bench).
pub fn evaluate_labelled(
    data: &Labelled,
    region: Region,
    review: f64,
    auto: f64,
    weighting: &Weighting,
) -> (Evaluation, BlockingStats, Mode, Model) {
    let mode = Mode::detect(&data.records);
    let opts = MatchOptions {
        mode,
        region,
        min_score: 0.0,
        ..MatchOptions::default()
    };
    let (out, model) = match weighting {
        Weighting::Learn(train) => matcher::find_candidates_learnt(&data.records, &opts, train),
        Weighting::Model(m) => {
            let opts = MatchOptions {
                weights: m.weights,
                ..opts
            };
            (
                matcher::find_candidates(&data.records, &opts),
                (**m).clone(),
            )
        }
        Weighting::HandSet => {
            let out = matcher::find_candidates(&data.records, &opts);
            let summary = matcher::model::learn(&[], &[], mode, &TrainOptions::default()).summary;
            (out, Model::hand_set(summary))
        }
    };
    let entities = evaluate::intern(&data.entities);
    let sources: Vec<Option<System>> = data.records.iter().map(|r| r.source).collect();
    let ev = evaluate::evaluate(
        &entities,
        &sources,
        mode == Mode::Linking,
        &out.candidates,
        review,
        auto,
    );
    (ev, out.blocking, mode, model)
}

fn check_threshold(flag: &str, v: f64) -> Result<f64, UsageError> {
    if (0.0..=1.01).contains(&v) {
        Ok(v)
    } else {
        Err(UsageError(format!(
            "{flag} {v} is out of range: a score between 0 and 1"
        )))
    }
}

/// Runs `tether match …`.
pub async fn run(global: &Global, args: MatchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        MatchCommand::Evaluate(a) => evaluate_cmd(global, a),
        MatchCommand::Train(a) => train_cmd(global, a).await,
    }
}

/// The store's copies of every record the cycles read, as matcher input.
async fn stored_records(settings: &crate::config::Settings) -> anyhow::Result<Vec<MatchRecord>> {
    let store = super::open_store::reader(&settings.store)
        .await
        .context("cannot read the state store")?;
    let snaps = store.snapshots().await?;
    store.close().await;
    let (records, _, unreadable) = crate::merges::scan::records_from(snaps);
    if unreadable > 0 {
        eprintln!("{unreadable} stored records could not be read back and are left out");
    }
    Ok(records.iter().map(|r| r.to_match_record()).collect())
}

async fn train_cmd(global: &Global, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config().context("loading the configuration")?;
    let region = loaded.settings.default_region();
    let out = args
        .out
        .or_else(|| loaded.settings.matching.model_path())
        .unwrap_or_else(|| PathBuf::from("tether-match-model.json"));
    let start = Instant::now();
    // A file says its mode by its source column; the store's records are compared as the
    // cycle's duplicate search does, any two of them.
    let (records, mode) = match &args.file {
        Some(file) => {
            let records = read_labelled(file)?.records;
            let mode = Mode::detect(&records);
            (records, mode)
        }
        None => (stored_records(&loaded.settings).await?, Mode::Duplicates),
    };
    let prepared = matcher::prepare(&records, region);
    let train = TrainOptions {
        seed: args.seed,
        ..TrainOptions::default()
    };
    let model = matcher::model::learn_from(&prepared, mode, &Default::default(), &train);
    std::fs::write(&out, model.to_json() + "\n")
        .with_context(|| format!("writing the model to {}", out.display()))?;
    let s = &model.summary;
    match &s.fallback {
        Some(why) => println!("wrote {} (hand-set weights: {why})", out.display()),
        None => println!(
            "wrote {}: learnt from {} records, {} candidate pairs ({} trained, {} distinct \
             comparison vectors), u from {} random pairs (seed {}), EM {} in {} iterations; \
             prior {:.2} bits; {:.2} s",
            out.display(),
            s.records,
            s.candidate_pairs,
            s.trained_pairs,
            s.distinct_patterns,
            s.random_pairs,
            s.seed,
            if s.converged { "converged" } else { "stopped" },
            s.iterations,
            model.weights.prior,
            start.elapsed().as_secs_f64()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate_cmd(global: &Global, args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config().context("loading the configuration")?;
    let m = &loaded.settings.matching;
    let review = check_threshold("--review", args.review.unwrap_or(m.review_threshold))?;
    let configured_auto = if m.auto_merge_threshold <= 1.0 {
        m.auto_merge_threshold
    } else {
        RECOMMENDED_AUTO_THRESHOLD
    };
    let auto = check_threshold("--auto", args.auto.unwrap_or(configured_auto))?;
    let region = loaded.settings.default_region();

    let weighting = match (&args.model, args.hand_set) {
        (Some(path), _) => Weighting::Model(Box::new(read_model(path)?)),
        (None, true) => Weighting::HandSet,
        (None, false) => Weighting::Learn(TrainOptions::default()),
    };
    let start = Instant::now();
    let data = read_labelled(&args.file)?;
    let (evaluation, blocking, mode, model) =
        evaluate_labelled(&data, region, review, auto, &weighting);
    let report = Report {
        file: args.file.display().to_string(),
        mode,
        evaluation,
        blocking,
        model: model.origin,
        model_prior_bits: model.weights.prior,
        wall_seconds: start.elapsed().as_secs_f64(),
        peak_memory_bytes: peak_memory_bytes(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of a report.
pub fn render(r: &Report) -> String {
    let e = &r.evaluation;
    let band = |name: &str, b: &evaluate::BandMetrics| {
        format!(
            "{name:<7} ≥ {:.3}: {} pairs, precision {:.4}, recall {:.4}, F1 {:.4}\n",
            b.threshold, b.predicted, b.precision, b.recall, b.f1
        )
    };
    let mut s = String::new();
    s.push_str(&format!(
        "file: {} ({} records, {})\n",
        r.file,
        e.records,
        match r.mode {
            Mode::Duplicates => "duplicates in one system",
            Mode::Linking => "linking across sources",
        }
    ));
    s.push_str(&format!(
        "candidate pairs: {} ({} blocks, {} capped, largest {}; {} dropped by the per-record cap)\n",
        e.candidate_pairs,
        r.blocking.blocks,
        r.blocking.capped_blocks,
        r.blocking.largest_block,
        r.blocking.dropped_pairs
    ));
    s.push_str(&format!(
        "weights: {} (prior {:.2} bits)\n",
        match r.model {
            Origin::Learnt => "learnt by EM",
            Origin::HandSet => "hand-set",
        },
        r.model_prior_bits
    ));
    s.push_str(&format!(
        "true pairs: {}; pair completeness of blocking: {:.4}\n",
        e.true_pairs, e.pair_completeness
    ));
    s.push_str(&band("review", &e.review));
    s.push_str(&band("auto", &e.auto));
    s.push_str(&format!(
        "review load: {:.1} pairs per 1,000 records\n",
        e.review_load_per_1000
    ));
    s.push_str(&format!(
        "best F1: {:.4} at threshold {:.4}\n",
        e.best_f1, e.best_threshold
    ));
    s.push_str(&format!("wall: {:.2} s\n", r.wall_seconds));
    match r.peak_memory_bytes {
        Some(b) => s.push_str(&format!(
            "peak memory: {:.1} MiB\n",
            b as f64 / (1024.0 * 1024.0)
        )),
        None => s.push_str("peak memory: unknown\n"),
    }
    s
}
