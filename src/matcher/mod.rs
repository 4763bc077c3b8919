//! The pure duplicate matcher: normalisation, blocking, per-field comparison, scoring and
//! explanation, learning the weights by EM (`em`, `model`), and quality evaluation against
//! labelled data. Deterministic: the same records and options give the same pairs in the
//! same order. Must never do I/O or read the clock, and draws no random numbers except the
//! seeded stream `em` picks random pairs with; callers (commands, the engine) feed it
//! records and act on its output.
//!
//! Entry points: [`find_candidates`] (scores only, for large runs and evaluation),
//! [`find_candidates_learnt`] (learns a model from the candidates first), [`propose`]
//! (pairs above a score, with their [`Explanation`]), [`explain_pair`].

pub mod block;
pub mod compare;
pub mod em;
pub mod evaluate;
pub mod gendered;
pub mod mailbox;
pub mod model;
pub mod nicknames;
pub mod normalize;
pub mod phonetic;
pub mod record;
pub mod score;
pub mod weights;

pub use block::{BlockingOptions, BlockingStats};
pub use compare::{Field, Level};
pub use record::{MatchRecord, Prepared};
pub use score::{Contribution, Explanation, GuardReason};
pub use weights::{DEFAULT_REVIEW_THRESHOLD, RECOMMENDED_AUTO_THRESHOLD, RELATIVES_CAP, Weights};

use crate::domain::Region;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which pairs are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Duplicates inside one system: any two records.
    Duplicates,
    /// Candidates across systems: only pairs whose `source` differs.
    Linking,
}

impl Mode {
    /// Linking when any record names its source, else duplicates.
    pub fn detect(records: &[MatchRecord]) -> Mode {
        if records.iter().any(|r| r.source.is_some()) {
            Mode::Linking
        } else {
            Mode::Duplicates
        }
    }
}

/// How to match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchOptions {
    pub mode: Mode,
    /// Region for national phone numbers of records without a known country.
    pub region: Region,
    pub blocking: BlockingOptions,
    /// Pairs scoring below this are dropped from the output (0 keeps every blocked pair).
    pub min_score: f64,
    /// The weights pairs are scored with (hand-set unless a learnt model is given).
    pub weights: Weights,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            mode: Mode::Duplicates,
            region: Region::default(),
            blocking: BlockingOptions::default(),
            min_score: DEFAULT_REVIEW_THRESHOLD,
            weights: Weights::HAND_SET,
        }
    }
}

/// A scored candidate pair: indexes into the input records, `a < b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub a: usize,
    pub b: usize,
    pub score: f64,
}

/// Candidates (highest score first, then by indexes) and what blocking did.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOutput {
    pub candidates: Vec<Candidate>,
    pub blocking: BlockingStats,
}

/// A proposed duplicate: both records' ids, the score and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    pub a: usize,
    pub b: usize,
    pub a_id: String,
    pub b_id: String,
    pub score: f64,
    pub explanation: Explanation,
}

/// Normalises every record (in parallel) and notes how common each value is in the batch.
pub fn prepare(records: &[MatchRecord], region: Region) -> Vec<Prepared> {
    let mut prepared: Vec<Prepared> = records
        .par_iter()
        .map(|r| Prepared::new(r, region))
        .collect();
    record::apply_frequencies(&mut prepared);
    prepared
}

/// Blocks and scores `records`; keeps pairs scoring at least `opts.min_score`.
pub fn find_candidates(records: &[MatchRecord], opts: &MatchOptions) -> MatchOutput {
    let prepared = prepare(records, opts.region);
    find_candidates_prepared(&prepared, opts)
}

/// [`find_candidates`] over already prepared records.
pub fn find_candidates_prepared(prepared: &[Prepared], opts: &MatchOptions) -> MatchOutput {
    let (pairs, blocking) =
        block::candidate_pairs(prepared, opts.mode == Mode::Linking, &opts.blocking);
    MatchOutput {
        candidates: score_pairs(prepared, &pairs, opts),
        blocking,
    }
}

/// Blocks `records`, learns a model from the candidates (the hand-set weights below
/// [`model::MIN_RECORDS`] records) and scores the candidates with it; `opts.weights` is
/// ignored. The model is returned with the output.
pub fn find_candidates_learnt(
    records: &[MatchRecord],
    opts: &MatchOptions,
    train: &em::TrainOptions,
) -> (MatchOutput, model::Model) {
    let prepared = prepare(records, opts.region);
    let (pairs, blocking) =
        block::candidate_pairs(&prepared, opts.mode == Mode::Linking, &opts.blocking);
    let model = model::learn(&prepared, &pairs, opts.mode, train);
    let opts = MatchOptions {
        weights: model.weights,
        ..*opts
    };
    let candidates = score_pairs(&prepared, &pairs, &opts);
    (
        MatchOutput {
            candidates,
            blocking,
        },
        model,
    )
}

/// Scores blocked `pairs` with `opts.weights`, keeps those at or above `opts.min_score`,
/// highest score first (then by indexes).
pub fn score_pairs(
    prepared: &[Prepared],
    pairs: &[(u32, u32)],
    opts: &MatchOptions,
) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = pairs
        .par_iter()
        .filter_map(|&(a, b)| {
            let (a, b) = (a as usize, b as usize);
            let s = score::score(prepared.get(a)?, prepared.get(b)?, &opts.weights);
            (s >= opts.min_score).then_some(Candidate { a, b, score: s })
        })
        .collect();
    candidates.par_sort_unstable_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    candidates
}

/// Pairs scoring at least `opts.min_score`, with explanations, highest score first.
pub fn propose(records: &[MatchRecord], opts: &MatchOptions) -> Vec<Proposal> {
    let prepared = prepare(records, opts.region);
    let out = find_candidates_prepared(&prepared, opts);
    out.candidates
        .iter()
        .filter_map(|c| {
            let (ra, rb) = (records.get(c.a)?, records.get(c.b)?);
            let explanation = score::explain(prepared.get(c.a)?, prepared.get(c.b)?, &opts.weights);
            Some(Proposal {
                a: c.a,
                b: c.b,
                a_id: ra.id.clone(),
                b_id: rb.id.clone(),
                score: explanation.score,
                explanation,
            })
        })
        .collect()
}

/// The explanation of one pair of records, whether or not blocking would pair them.
pub fn explain_pair(
    a: &MatchRecord,
    b: &MatchRecord,
    region: Region,
    weights: &Weights,
) -> Explanation {
    score::explain(
        &Prepared::new(a, region),
        &Prepared::new(b, region),
        weights,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, first: &str, last: &str, email: &str, phone: &str) -> MatchRecord {
        MatchRecord {
            id: id.into(),
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            phone: phone.into(),
            address1: "12 High Street".into(),
            city: "Leeds".into(),
            zip: "LS1 4AB".into(),
            country: "GB".into(),
            ..MatchRecord::default()
        }
    }

    fn fixture() -> Vec<MatchRecord> {
        vec![
            person(
                "1",
                "William",
                "Hart",
                "will.hart@gmail.com",
                "0113 496 0000",
            ),
            person(
                "2",
                "Bill",
                "Hart",
                "willhart+news@googlemail.com",
                "+44 113 496 0000",
            ),
            person(
                "3",
                "Jane",
                "Hart",
                "hartfamily@example.com",
                "0113 496 0000",
            ),
            person("4", "Zoë", "Müller", "zoe@example.de", "+44 20 7946 0000"),
            person("5", "Zoe", "Muller", "zoe@example.de", "+442079460000"),
        ]
    }

    #[test]
    fn finds_duplicates_with_explanations() {
        let recs = fixture();
        let props = propose(&recs, &MatchOptions::default());
        let ids: Vec<(&str, &str)> = props
            .iter()
            .map(|p| (p.a_id.as_str(), p.b_id.as_str()))
            .collect();
        assert!(ids.contains(&("1", "2")), "{ids:?}");
        assert!(ids.contains(&("4", "5")), "{ids:?}");
        for p in &props {
            assert!(p.explanation.is_consistent());
            // Jane is a relative: never auto-merged with William or Bill.
            if p.a_id == "3" || p.b_id == "3" {
                assert!(p.score < RECOMMENDED_AUTO_THRESHOLD, "{p:?}");
            }
        }
        assert!(props.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn output_is_deterministic() {
        let recs = fixture();
        let opts = MatchOptions {
            min_score: 0.0,
            ..MatchOptions::default()
        };
        let a = find_candidates(&recs, &opts);
        for _ in 0..5 {
            assert_eq!(find_candidates(&recs, &opts), a);
        }
        assert!(!a.candidates.is_empty());
    }

    #[test]
    fn mode_detects_linking() {
        let mut recs = fixture();
        assert_eq!(Mode::detect(&recs), Mode::Duplicates);
        recs[0].source = Some(crate::domain::System::Hubspot);
        assert_eq!(Mode::detect(&recs), Mode::Linking);
    }
}
