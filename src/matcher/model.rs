//! The matcher's model: the [`Weights`] scoring uses, where they came from (learnt by `em`,
//! or the hand-set fallback) and a summary of the data they were learnt from, serialised as
//! JSON (`tether.match-model/1`) by `tether match train` and read back by the cycle and
//! `tether match evaluate --model`. Owns learning a model from prepared records and checking
//! a model read from a file; must never read files itself (callers pass text) nor score.

use super::compare::{FIELD_COUNT, Field, Level};
use super::em::{self, EmResult, LEVELS, MAX_BITS, Probs, TrainOptions};
use super::record::Prepared;
use super::weights::Weights;
use super::{Mode, block};
use serde::{Deserialize, Serialize};

/// The format tag of a serialised model.
pub const FORMAT: &str = "tether.match-model/1";

/// Below this many records the hand-set weights are used: EM on a few hundred pairs learns
/// the sample's accidents more than the data's shape.
pub const MIN_RECORDS: usize = 300;
/// Below this many candidate pairs, likewise: EM fits about 90 probabilities (two contexts,
/// nine fields, five levels, for m and for u), and wants several pairs for each.
pub const MIN_PAIRS: usize = 500;

/// Where a model's weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Learnt by EM from the records summarised in [`DataSummary`].
    Learnt,
    /// The hand-set weights (too few records to learn from, or none given).
    HandSet,
}

/// What the model was learnt from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub records: usize,
    pub mode: Mode,
    /// Candidate pairs blocking produced.
    pub candidate_pairs: usize,
    /// Of those, the pairs EM looked at (an evenly spread sample of large sets).
    pub trained_pairs: usize,
    /// Distinct comparison vectors among them.
    pub distinct_patterns: usize,
    /// Random pairs behind u, and their seed.
    pub random_pairs: usize,
    pub seed: u64,
    pub iterations: u32,
    pub converged: bool,
    /// Share of records missing each field, in field order.
    pub missing_share: Vec<f64>,
    /// Why the hand-set weights were used, when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Learnt probabilities behind the weights, per field and level (for inspection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probabilities {
    /// Share of candidate pairs that are matches.
    pub lambda: f64,
    pub m: Probs,
    /// u among the candidates (what scoring divides by).
    pub u: Probs,
    /// u among random pairs (the prior of `u`).
    pub u_random: Probs,
}

/// A matcher model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub origin: Origin,
    /// Field names in the order of the weight rows.
    pub fields: Vec<Field>,
    /// Level names in the order of each row.
    pub levels: Vec<Level>,
    pub weights: Weights,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Probabilities>,
    pub summary: DataSummary,
}

/// A model file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a tether match model: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported model format {0:?} (expected {FORMAT:?})")]
    Format(String),
    #[error("the model's {0} is out of bounds (a weight within ±{MAX_BITS} bits)")]
    OutOfBounds(String),
    #[error("the model's field or level order does not match this version of tether")]
    Layout,
}

const ALL_LEVELS: [Level; LEVELS] = [
    Level::Exact,
    Level::Equivalent,
    Level::Close,
    Level::Similar,
    Level::Different,
    Level::Missing,
];

impl Model {
    /// The hand-set model, with why it was chosen.
    pub fn hand_set(summary: DataSummary) -> Model {
        Model {
            format: FORMAT.into(),
            origin: Origin::HandSet,
            fields: Field::ALL.to_vec(),
            levels: ALL_LEVELS.to_vec(),
            weights: Weights::HAND_SET,
            probabilities: None,
            summary,
        }
    }

    /// Reads a model from JSON and checks it: format, layout and bounded, finite weights.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let mut value: serde_json::Value = serde_json::from_str(text)?;
        without_date_of_birth(&mut value);
        let model: Model = serde_json::from_value(value)?;
        if model.format != FORMAT {
            return Err(ModelError::Format(model.format));
        }
        if model.fields != Field::ALL || model.levels != ALL_LEVELS {
            return Err(ModelError::Layout);
        }
        if !model.weights.prior.is_finite() || model.weights.prior.abs() > 2.0 * MAX_BITS {
            return Err(ModelError::OutOfBounds("prior".into()));
        }
        let w = &model.weights;
        for (field, row) in Field::ALL
            .iter()
            .cycle()
            .zip(w.table.iter().chain(&w.first_weak))
        {
            if row.iter().any(|w| !w.is_finite() || w.abs() > MAX_BITS) {
                return Err(ModelError::OutOfBounds(format!("{field:?} weight")));
            }
        }
        Ok(model)
    }

    /// The model as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A model learnt before the date of birth was compared (nine fields, no `date_of_birth`)
/// gets a zero row for it: no evidence either way, exactly as it scored before. Anything
/// else is left for the layout check.
fn without_date_of_birth(v: &mut serde_json::Value) {
    let is_old = v["fields"].as_array().is_some_and(|f| {
        f.len() + 1 == Field::ALL.len() && !f.iter().any(|x| x == "date_of_birth")
    });
    if !is_old {
        return;
    }
    if let Some(f) = v["fields"].as_array_mut() {
        f.push("date_of_birth".into());
    }
    let zero_row = || serde_json::json!([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    for table in ["table", "first_weak"] {
        if let Some(rows) = v["weights"][table].as_array_mut() {
            rows.push(zero_row());
        }
    }
    for probs in ["m", "u", "u_random"] {
        if let Some(contexts) = v["probabilities"][probs].as_array_mut() {
            for rows in contexts.iter_mut().filter_map(|c| c.as_array_mut()) {
                rows.push(zero_row());
            }
        }
    }
    if let Some(shares) = v["summary"]["missing_share"].as_array_mut() {
        shares.push(1.0.into());
    }
}

fn missing_share(prepared: &[Prepared]) -> Vec<f64> {
    let n = prepared.len().max(1) as f64;
    let values = |p: &Prepared| -> [bool; FIELD_COUNT] {
        [
            p.first.is_empty(),
            p.last.is_empty(),
            p.email.is_empty(),
            p.phone.is_empty(),
            p.address1.is_empty(),
            p.address2.is_empty(),
            p.city.is_empty(),
            p.zip.is_empty(),
            p.state.is_empty(),
            p.dob.is_empty(),
        ]
    };
    let mut counts = [0usize; FIELD_COUNT];
    for p in prepared {
        for (c, missing) in counts.iter_mut().zip(values(p)) {
            *c += usize::from(missing);
        }
    }
    counts.iter().map(|&c| c as f64 / n).collect()
}

/// Learns a model from prepared records and their blocked candidate `pairs`, or returns the
/// hand-set model (with the reason in its summary) when the data is too small. Pure and
/// deterministic for `opts.seed`.
pub fn learn(
    prepared: &[Prepared],
    pairs: &[(u32, u32)],
    mode: Mode,
    opts: &TrainOptions,
) -> Model {
    let mut summary = DataSummary {
        records: prepared.len(),
        mode,
        candidate_pairs: pairs.len(),
        trained_pairs: 0,
        distinct_patterns: 0,
        random_pairs: 0,
        seed: opts.seed,
        iterations: 0,
        converged: false,
        missing_share: missing_share(prepared),
        fallback: None,
    };
    if prepared.len() < MIN_RECORDS || pairs.len() < MIN_PAIRS {
        summary.fallback = Some(format!(
            "{} records and {} candidate pairs: learning needs at least {MIN_RECORDS} and \
             {MIN_PAIRS}",
            prepared.len(),
            pairs.len()
        ));
        return Model::hand_set(summary);
    }
    let random = em::random_pairs(
        prepared,
        mode == Mode::Linking,
        opts.random_pairs,
        opts.seed,
    );
    let u_random = em::level_frequencies(&em::candidate_patterns(prepared, &random, usize::MAX));
    let patterns = em::candidate_patterns(prepared, pairs, opts.max_pairs);
    let result: EmResult = em::em(&patterns, &u_random, opts);
    summary.trained_pairs = patterns.iter().map(|(_, n)| *n as usize).sum();
    summary.distinct_patterns = patterns.len();
    summary.random_pairs = random.len();
    summary.iterations = result.iterations;
    summary.converged = result.converged;
    Model {
        format: FORMAT.into(),
        origin: Origin::Learnt,
        fields: Field::ALL.to_vec(),
        levels: ALL_LEVELS.to_vec(),
        weights: em::bounded_weights(&result),
        probabilities: Some(Probabilities {
            lambda: result.lambda,
            m: result.m,
            u: result.u,
            u_random,
        }),
        summary,
    }
}

/// Blocks `prepared` and learns a model from the candidates (see [`learn`]).
pub fn learn_from(
    prepared: &[Prepared],
    mode: Mode,
    blocking: &block::BlockingOptions,
    opts: &TrainOptions,
) -> Model {
    let (pairs, _) = block::candidate_pairs(prepared, mode == Mode::Linking, blocking);
    learn(prepared, &pairs, mode, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;
    use crate::generate::{GenOptions, generate};
    use crate::matcher::{self, RELATIVES_CAP, score};

    fn generated(n: usize) -> Vec<Prepared> {
        let people = generate(&GenOptions {
            records: n,
            seed: 9,
            ..GenOptions::default()
        });
        let recs: Vec<_> = people.iter().map(|p| p.to_match_record()).collect();
        matcher::prepare(&recs, Region::default())
    }

    #[test]
    fn small_data_falls_back_to_hand_set() {
        let p = generated(50);
        let m = learn_from(
            &p,
            Mode::Duplicates,
            &Default::default(),
            &TrainOptions::default(),
        );
        assert_eq!(m.origin, Origin::HandSet);
        assert_eq!(m.weights, Weights::HAND_SET);
        assert!(m.summary.fallback.is_some());
    }

    #[test]
    fn learns_round_trips_and_is_deterministic() {
        let p = generated(3000);
        let opts = TrainOptions::default();
        let m = learn_from(&p, Mode::Duplicates, &Default::default(), &opts);
        assert_eq!(m.origin, Origin::Learnt);
        assert!(m.summary.converged, "{:?}", m.summary);
        assert_eq!(
            m,
            learn_from(&p, Mode::Duplicates, &Default::default(), &opts)
        );
        // JSON keeps every weight to within an ulp (serde_json parses floats fast, not exact).
        let back = Model::from_json(&m.to_json()).unwrap();
        assert_eq!((back.origin, &back.summary), (m.origin, &m.summary));
        let flat = |w: &Weights| -> Vec<f64> {
            let mut v = vec![w.prior];
            v.extend(w.table.iter().chain(&w.first_weak).flatten());
            v
        };
        for (x, y) in flat(&back.weights).iter().zip(flat(&m.weights)) {
            assert!((x - y).abs() < 1e-12, "{x} {y}");
        }
        // Agreement on e-mail is evidence for, disagreement on first name against.
        assert!(
            m.weights.weight(Field::Email, Level::Exact) > 1.0,
            "{:?}",
            m.weights
        );
        assert!(m.weights.weight(Field::FirstName, Level::Different) < 0.0);
    }

    #[test]
    fn relatives_guard_holds_with_learnt_weights() {
        let p = generated(3000);
        let m = learn_from(
            &p,
            Mode::Duplicates,
            &Default::default(),
            &TrainOptions::default(),
        );
        let rec = |first: &str| {
            Prepared::new(
                &matcher::MatchRecord {
                    id: first.into(),
                    first_name: first.into(),
                    last_name: "Garcia".into(),
                    email: "garciafamily@yahoo.com".into(),
                    phone: "+12175550100".into(),
                    address1: "5 Oak Ave".into(),
                    city: "Springfield".into(),
                    zip: "62701".into(),
                    state: "IL".into(),
                    country: "US".into(),
                    ..Default::default()
                },
                Region::default(),
            )
        };
        for (a, b) in [("Maria", "Diego"), ("Erin", "Eric"), ("", "Maria")] {
            let s = score::score(&rec(a), &rec(b), &m.weights);
            let e = score::explain(&rec(a), &rec(b), &m.weights);
            assert!(e.is_consistent());
            assert!(s <= RELATIVES_CAP + 1e-12, "{a}/{b}: {s}");
        }
    }

    #[test]
    fn reads_a_model_from_before_the_date_of_birth() {
        let m = learn_from(
            &generated(3000),
            Mode::Duplicates,
            &Default::default(),
            &TrainOptions::default(),
        );
        let mut old: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        let drop_last = |v: &mut serde_json::Value| {
            v.as_array_mut().unwrap().pop();
        };
        drop_last(&mut old["fields"]);
        drop_last(&mut old["weights"]["table"]);
        drop_last(&mut old["weights"]["first_weak"]);
        for p in ["m", "u", "u_random"] {
            for c in old["probabilities"][p].as_array_mut().unwrap() {
                drop_last(c);
            }
        }
        drop_last(&mut old["summary"]["missing_share"]);
        let back = Model::from_json(&old.to_string()).unwrap();
        let dob = Field::DateOfBirth.index();
        assert_eq!(back.weights.table[dob], [0.0; LEVELS]);
        for (x, y) in back.weights.table[0].iter().zip(m.weights.table[0]) {
            assert!((x - y).abs() < 1e-12, "{x} {y}");
        }
        assert_eq!(back.fields, Field::ALL);
    }

    #[test]
    fn refuses_bad_files() {
        assert!(matches!(Model::from_json("{}"), Err(ModelError::Json(_))));
        let mut m =
            Model::hand_set(learn(&[], &[], Mode::Duplicates, &TrainOptions::default()).summary);
        m.weights.table[2][0] = 500.0;
        assert!(matches!(
            Model::from_json(&m.to_json()),
            Err(ModelError::OutOfBounds(_))
        ));
        m.weights = Weights::HAND_SET;
        m.format = "other/2".into();
        assert!(matches!(
            Model::from_json(&m.to_json()),
            Err(ModelError::Format(_))
        ));
    }
}
