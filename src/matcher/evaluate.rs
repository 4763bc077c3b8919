//! Quality metrics of a matcher run against ground truth: pair completeness of blocking,
//! precision / recall / F1 at the review and auto-merge thresholds, review load, and the best
//! F1 over all thresholds. Pure arithmetic over scored pairs; must never read files or time.

use super::Candidate;
use crate::domain::System;
use serde::Serialize;
use std::collections::HashMap;

/// Precision, recall and F1 of "score ≥ threshold means same person".
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BandMetrics {
    pub threshold: f64,
    /// Pairs at or above the threshold.
    pub predicted: u64,
    /// Of those, true pairs.
    pub true_positives: u64,
    /// `true_positives / predicted`, 1 when nothing is predicted.
    pub precision: f64,
    /// `true_positives / true pairs`, 1 when there are no true pairs.
    pub recall: f64,
    pub f1: f64,
}

/// Everything `tether match evaluate` reports except time and memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub records: usize,
    /// Pairs of records with the same entity (across sources in linking mode).
    pub true_pairs: u64,
    /// Pairs blocking proposed.
    pub candidate_pairs: u64,
    /// True pairs among the candidates.
    pub true_pairs_in_candidates: u64,
    /// Share of true pairs that blocking produced.
    pub pair_completeness: f64,
    pub review: BandMetrics,
    pub auto: BandMetrics,
    /// Pairs in the review band (review ≤ score < auto) per 1,000 records.
    pub review_load_per_1000: f64,
    /// Best F1 over every threshold, and the lowest threshold reaching it.
    pub best_f1: f64,
    pub best_threshold: f64,
}

/// Entity ids interned to numbers, as [`evaluate`] takes them.
pub fn intern<S: AsRef<str>>(entity_ids: &[S]) -> Vec<u32> {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    entity_ids
        .iter()
        .map(|e| {
            let next = ids.len() as u32;
            *ids.entry(e.as_ref()).or_insert(next)
        })
        .collect()
}

/// How many true pairs the truth holds: pairs with the same entity, and in `linking` mode a
/// different source.
pub fn true_pair_count(entities: &[u32], sources: &[Option<System>], linking: bool) -> u64 {
    let mut per: HashMap<u32, [u64; 3]> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        let slot = match sources.get(i).copied().flatten() {
            None => 0,
            Some(System::Hubspot) => 1,
            Some(System::Gorgias) => 2,
        };
        per.entry(*e).or_default()[slot] += 1;
    }
    let choose2 = |n: u64| n * n.saturating_sub(1) / 2;
    per.values()
        .map(|c| {
            let n = c.iter().sum::<u64>();
            if linking {
                choose2(n) - c.iter().map(|&k| choose2(k)).sum::<u64>()
            } else {
                choose2(n)
            }
        })
        .sum()
}

fn band(threshold: f64, predicted: u64, tp: u64, true_pairs: u64) -> BandMetrics {
    let precision = if predicted == 0 {
        1.0
    } else {
        tp as f64 / predicted as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        tp as f64 / true_pairs as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    BandMetrics {
        threshold,
        predicted,
        true_positives: tp,
        precision,
        recall,
        f1,
    }
}

/// Evaluates scored candidate pairs (every pair blocking produced, scored) against the
/// interned `entities` of the records.
pub fn evaluate(
    entities: &[u32],
    sources: &[Option<System>],
    linking: bool,
    candidates: &[Candidate],
    review_threshold: f64,
    auto_threshold: f64,
) -> Evaluation {
    let true_pairs = true_pair_count(entities, sources, linking);
    let is_true = |c: &Candidate| matches!((entities.get(c.a), entities.get(c.b)), (Some(x), Some(y)) if x == y);
    let mut scored: Vec<(f64, bool)> = candidates.iter().map(|c| (c.score, is_true(c))).collect();
    // Candidates usually arrive sorted by score already; ties need no order (they are
    // grouped below).
    if !scored.is_sorted_by(|x, y| x.0 >= y.0) {
        scored.sort_by(|x, y| y.0.total_cmp(&x.0));
    }
    let in_candidates = scored.iter().filter(|(_, t)| *t).count() as u64;

    let count = |t: f64| {
        let (mut p, mut tp) = (0u64, 0u64);
        for (s, truth) in &scored {
            if *s >= t {
                p += 1;
                tp += u64::from(*truth);
            }
        }
        (p, tp)
    };
    let (rp, rtp) = count(review_threshold);
    let (ap, atp) = count(auto_threshold);
    let review_band = scored
        .iter()
        .filter(|(s, _)| *s >= review_threshold && *s < auto_threshold)
        .count();

    let (mut best_f1, mut best_threshold) = (0.0, 1.0);
    let (mut p, mut tp) = (0u64, 0u64);
    let mut i = 0;
    while i < scored.len() {
        let s = scored[i].0;
        while i < scored.len() && scored[i].0 == s {
            p += 1;
            tp += u64::from(scored[i].1);
            i += 1;
        }
        let f1 = band(s, p, tp, true_pairs).f1;
        if f1 > best_f1 {
            best_f1 = f1;
            best_threshold = s;
        }
    }

    let records = entities.len();
    Evaluation {
        records,
        true_pairs,
        candidate_pairs: candidates.len() as u64,
        true_pairs_in_candidates: in_candidates,
        pair_completeness: if true_pairs == 0 {
            1.0
        } else {
            in_candidates as f64 / true_pairs as f64
        },
        review: band(review_threshold, rp, rtp, true_pairs),
        auto: band(auto_threshold, ap, atp, true_pairs),
        review_load_per_1000: if records == 0 {
            0.0
        } else {
            review_band as f64 * 1000.0 / records as f64
        },
        best_f1,
        best_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: usize, b: usize, score: f64) -> Candidate {
        Candidate { a, b, score }
    }

    #[test]
    fn counts_true_pairs_in_both_modes() {
        let e = intern(&["x", "x", "x", "y", "z", "z"]);
        assert_eq!(true_pair_count(&e, &[None; 6], false), 3 + 1);
        let h = Some(System::Hubspot);
        let g = Some(System::Gorgias);
        let s = [h, h, g, h, h, g];
        assert_eq!(true_pair_count(&e, &s, true), 2 + 1);
    }

    #[test]
    fn metrics_at_thresholds_and_best_f1() {
        // Entities: 0-1 same, 2-3 same, 4 alone. True pairs: 2.
        let e = intern(&["a", "a", "b", "b", "c"]);
        let cands = [c(0, 1, 0.99), c(2, 3, 0.85), c(1, 4, 0.9), c(0, 4, 0.1)];
        let ev = evaluate(&e, &[None; 5], false, &cands, 0.8, 0.95);
        assert_eq!(ev.true_pairs, 2);
        assert_eq!(ev.candidate_pairs, 4);
        assert_eq!(ev.pair_completeness, 1.0);
        assert_eq!(ev.review.predicted, 3);
        assert_eq!(ev.review.true_positives, 2);
        assert!((ev.review.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(ev.review.recall, 1.0);
        assert_eq!(ev.auto.predicted, 1);
        assert_eq!(ev.auto.precision, 1.0);
        assert_eq!(ev.auto.recall, 0.5);
        // Band [0.8, 0.95): two pairs over five records.
        assert!((ev.review_load_per_1000 - 400.0).abs() < 1e-9);
        // Best: threshold 0.85 keeps 0.99 and 0.9 and 0.85 → p=2/3... or 0.99 alone → f1 2/3.
        // At 0.85: p = 2/3, r = 1 → f1 = 0.8.
        assert!((ev.best_f1 - 0.8).abs() < 1e-12);
        assert_eq!(ev.best_threshold, 0.85);
    }

    #[test]
    fn missing_pairs_lower_completeness() {
        let e = intern(&["a", "a", "a"]);
        let ev = evaluate(&e, &[None; 3], false, &[c(0, 1, 0.9)], 0.8, 0.95);
        assert_eq!(ev.true_pairs, 3);
        assert!((ev.pair_completeness - 1.0 / 3.0).abs() < 1e-12);
        assert!((ev.review.recall - 1.0 / 3.0).abs() < 1e-12);
    }
}
