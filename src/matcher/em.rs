//! Learning Fellegi–Sunter weights from unlabelled records, as the record-linkage literature
//! and Splink do: u (how often each agreement level occurs among pairs that are not the same
//! person) first from seeded random pairs, then m (the same among true pairs), u among the
//! blocked candidates and the prior λ (share of candidates that match) by
//! expectation–maximisation over the candidates' comparison vectors. Bounded and smoothed so
//! that a small or odd data set cannot produce absurd weights: Laplace counts on m, the
//! random-pair u as a Dirichlet prior on u, a weight shrunk towards the hand-set one when a
//! level has little evidence, every weight clamped to ±[`MAX_BITS`], exact agreement never
//! below a weaker level, λ kept in [[`LAMBDA_MIN`], [`LAMBDA_MAX`]].
//!
//! Pure and deterministic for a seed: the only randomness is a seeded SplitMix64 stream
//! choosing the random pairs, and comparison vectors are aggregated in a sorted map, so the
//! same records, pairs and seed give bit-identical weights. Must never do I/O or read the
//! clock; serialising a model is `model`'s job.

use super::compare::{FIELD_COUNT, Field, Level, Levels, compare};
use super::record::Prepared;
use super::weights::Weights;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Levels a probability row covers, in [`Level`] order; `Missing` (the last) is no evidence
/// and always has probability 0 and weight 0.
pub const LEVELS: usize = 6;
const MISSING: usize = Level::Missing as usize;
const FIRST: usize = Field::FirstName as usize;

/// The two contexts the other fields are learnt in: the first names agree (exact, nickname
/// or a typo away: context 0) or not (context 1). Among candidates whose first names
/// disagree, the non-matches are mostly relatives, who share surname, phone and address;
/// among those whose first names agree they are namesakes, who share none of them. So the
/// same agreement is weak evidence in one context and strong in the other (a
/// tree-augmented Fellegi–Sunter model with the first name as every field's parent). The
/// first name's own probabilities are the same in both.
pub const CONTEXTS: usize = 2;

/// The context of a comparison vector (see [`CONTEXTS`]).
pub fn context(levels: &Levels) -> usize {
    match levels[FIRST] {
        Level::Exact | Level::Equivalent | Level::Close => 0,
        _ => 1,
    }
}

/// Probabilities per context, field ([`Field::ALL`] order) and [`Level`].
pub type Probs = [[[f64; LEVELS]; FIELD_COUNT]; CONTEXTS];

/// The largest magnitude a learnt weight may take, in bits (a factor of about 1,000).
pub const MAX_BITS: f64 = 10.0;
/// Bounds of the learnt prior share of matches among candidates.
pub const LAMBDA_MIN: f64 = 1e-4;
pub const LAMBDA_MAX: f64 = 0.95;
/// Pairs' worth of evidence below which a level's learnt weight leans on the hand-set one:
/// the weight is `(n·learnt + K·hand_set) / (n + K)` with `n` the expected pairs at the level.
pub const SHRINK_PAIRS: f64 = 20.0;
/// Weight (in pseudo-pairs) of the random-pair u as a prior on the candidates' u.
pub const U_PRIOR_PAIRS: f64 = 50.0;

/// How to learn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Seed of the random-pair stream.
    pub seed: u64,
    /// Random pairs drawn to estimate u.
    pub random_pairs: usize,
    /// Most candidate pairs EM looks at (an evenly spread sample beyond that).
    pub max_pairs: usize,
    pub max_iterations: u32,
    /// Largest change of any probability that counts as converged.
    pub tolerance: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 42,
            random_pairs: 200_000,
            max_pairs: 400_000,
            max_iterations: 1000,
            tolerance: 1e-6,
        }
    }
}

/// Distinct comparison vectors and how many pairs showed each, sorted by vector.
pub type Patterns = Vec<(Levels, f64)>;

/// Aggregates comparison vectors (in any order) into sorted distinct patterns.
pub fn patterns<I: IntoIterator<Item = Levels>>(levels: I) -> Patterns {
    let mut map: BTreeMap<Levels, f64> = BTreeMap::new();
    for l in levels {
        *map.entry(l).or_insert(0.0) += 1.0;
    }
    map.into_iter().collect()
}

/// The comparison vectors of `pairs` (an evenly spread sample of at most `max` of them).
pub fn candidate_patterns(prepared: &[Prepared], pairs: &[(u32, u32)], max: usize) -> Patterns {
    let step = pairs.len().div_ceil(max.max(1)).max(1);
    let levels: Vec<Levels> = pairs
        .par_iter()
        .step_by(step)
        .filter_map(|&(a, b)| {
            Some(compare(
                prepared.get(a as usize)?,
                prepared.get(b as usize)?,
            ))
        })
        .collect();
    patterns(levels)
}

/// SplitMix64: a small, well-mixed, seeded generator (Steele, Lea & Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is negligible for record counts).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Seeded random pairs of records (from different sources when `linking`), drawn with
/// replacement; none when there are fewer than two records to pair.
pub fn random_pairs(
    prepared: &[Prepared],
    linking: bool,
    count: usize,
    seed: u64,
) -> Vec<(u32, u32)> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(count);
    if linking {
        let first = prepared.first().map(|p| p.source);
        let (left, right): (Vec<u32>, Vec<u32>) = (0..prepared.len() as u32)
            .partition(|&i| prepared.get(i as usize).map(|p| p.source) == first);
        if left.is_empty() || right.is_empty() {
            return out;
        }
        for _ in 0..count {
            out.push((left[rng.below(left.len())], right[rng.below(right.len())]));
        }
        return out;
    }
    if prepared.len() < 2 {
        return out;
    }
    while out.len() < count {
        let (a, b) = (rng.below(prepared.len()), rng.below(prepared.len()));
        if a != b {
            out.push((a.min(b) as u32, a.max(b) as u32));
        }
    }
    out
}

/// Level frequencies among `patterns`, per context and field over the non-missing levels,
/// with half a pair of Laplace smoothing per level so no probability is 0.
pub fn level_frequencies(patterns: &Patterns) -> Probs {
    let mut counts = [[[0.5; LEVELS]; FIELD_COUNT]; CONTEXTS];
    for (levels, n) in patterns {
        add(&mut counts, levels, *n);
    }
    normalise(counts)
}

/// Adds `n` pairs showing `levels` to per-context counts.
fn add(counts: &mut Probs, levels: &Levels, n: f64) {
    let c = context(levels);
    for (f, l) in levels.iter().enumerate() {
        let l = *l as usize;
        if l != MISSING {
            counts[c][f][l] += n;
        }
    }
}

/// Rows normalised to sum to 1 over the non-missing levels; the first name's rows pooled
/// over the contexts first (its level decides the context, so it is not conditioned on it).
fn normalise(mut p: Probs) -> Probs {
    let mut pooled = [0.0; LEVELS];
    for ctx in &p {
        for (x, y) in pooled.iter_mut().zip(ctx[FIRST]) {
            *x += y;
        }
    }
    for ctx in p.iter_mut() {
        ctx[FIRST] = pooled;
        for row in ctx.iter_mut() {
            row[MISSING] = 0.0;
            let sum: f64 = row.iter().sum();
            if sum > 0.0 {
                for x in row.iter_mut() {
                    *x /= sum;
                }
            }
        }
    }
    p
}

/// What EM found.
#[derive(Debug, Clone, PartialEq)]
pub struct EmResult {
    /// P(level | match), per field.
    pub m: Probs,
    /// P(level | not a match) among the candidates, per field.
    pub u: Probs,
    /// Share of candidates that match.
    pub lambda: f64,
    /// Expected matching pairs per field and level (the evidence behind each m).
    pub evidence: Probs,
    pub iterations: u32,
    pub converged: bool,
}

/// The starting m: agreement far likelier than disagreement, the same for every field.
const M_START: [f64; LEVELS] = [0.60, 0.10, 0.15, 0.08, 0.07, 0.0];

/// The first name's m, held fixed during EM: it anchors the latent "match" class to one
/// *person*. Among blocked candidates the strongest latent structure is often the
/// household (surname, address, phone and postcode agree together), and unanchored EM
/// happily learns "same household" instead of "same person" (it does on the household
/// set). A person's first name agrees with itself far more often than a relative's, so
/// fixing its m to a generic typo-aware profile (not fitted to any file) keeps the match
/// class the person; every other m, all u and λ are learnt.
pub const M_ANCHOR: [f64; LEVELS] = [0.80, 0.06, 0.08, 0.03, 0.03, 0.0];
const LAMBDA_START: f64 = 0.2;

/// Expectation–maximisation of m, u and λ over candidate `patterns`, starting from u =
/// `u_random` (which stays the prior of u). Every step is a MAP update, so the posterior
/// never decreases and the iteration converges; it stops when no probability moves by more
/// than `opts.tolerance`, or after `opts.max_iterations`.
pub fn em(patterns: &Patterns, u_random: &Probs, opts: &TrainOptions) -> EmResult {
    let mut m = normalise([[M_START; FIELD_COUNT]; CONTEXTS]);
    for ctx in m.iter_mut() {
        ctx[FIRST] = M_ANCHOR;
    }
    let mut u = *u_random;
    let mut lambda = LAMBDA_START;
    let mut evidence = [[[0.0; LEVELS]; FIELD_COUNT]; CONTEXTS];
    let (mut iterations, mut converged) = (0, false);
    while iterations < opts.max_iterations && !converged {
        iterations += 1;
        let mut nm = [[[0.0; LEVELS]; FIELD_COUNT]; CONTEXTS];
        let mut nu = [[[0.0; LEVELS]; FIELD_COUNT]; CONTEXTS];
        let (mut matched, mut total) = (0.0, 0.0);
        for (levels, n) in patterns {
            let p = posterior(levels, &m, &u, lambda);
            matched += n * p;
            total += n;
            add(&mut nm, levels, n * p);
            add(&mut nu, levels, n * (1.0 - p));
        }
        if total == 0.0 {
            break;
        }
        evidence = nm;
        let (mut new_m, mut new_u) = (nm, nu);
        for c in 0..CONTEXTS {
            for f in 0..FIELD_COUNT {
                for l in 0..MISSING {
                    new_m[c][f][l] += 1.0;
                    new_u[c][f][l] += 0.5 + U_PRIOR_PAIRS * u_random[c][f][l];
                }
            }
        }
        let (mut new_m, new_u) = (normalise(new_m), normalise(new_u));
        for ctx in new_m.iter_mut() {
            ctx[FIRST] = M_ANCHOR;
        }
        let new_lambda = ((matched + 1.0) / (total + 2.0)).clamp(LAMBDA_MIN, LAMBDA_MAX);
        let delta = max_change(&m, &new_m)
            .max(max_change(&u, &new_u))
            .max((lambda - new_lambda).abs());
        (m, u, lambda) = (new_m, new_u, new_lambda);
        converged = delta < opts.tolerance;
    }
    EmResult {
        m,
        u,
        lambda,
        evidence,
        iterations,
        converged,
    }
}

/// P(match | levels) under m, u, λ.
pub fn posterior(levels: &Levels, m: &Probs, u: &Probs, lambda: f64) -> f64 {
    let c = context(levels);
    let (mut lm, mut lu) = (lambda.ln(), (1.0 - lambda).ln());
    for (f, l) in levels.iter().enumerate() {
        let l = *l as usize;
        if l != MISSING {
            lm += m[c][f][l].max(1e-300).ln();
            lu += u[c][f][l].max(1e-300).ln();
        }
    }
    1.0 / (1.0 + (lu - lm).exp())
}

fn max_change(a: &Probs, b: &Probs) -> f64 {
    a.iter()
        .flatten()
        .flatten()
        .zip(b.iter().flatten().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Bounded weights from an EM result: `log2(m/u)` per level, shrunk towards the hand-set
/// weight where the level has little evidence, clamped to ±[`MAX_BITS`], missing at 0, and
/// ordered so that an exact agreement is never worth less than a weaker level nor a
/// disagreement more than any agreement (exact ≥ 0 ≥ different).
pub fn bounded_weights(r: &EmResult) -> Weights {
    let hand = Weights::HAND_SET;
    let mut tables = [[[0.0; LEVELS]; FIELD_COUNT]; CONTEXTS];
    for (c, table) in tables.iter_mut().enumerate() {
        for field in Field::ALL {
            let f = field.index();
            table[f] = bounded_row(
                |l| {
                    // The first name's evidence is pooled like its probabilities.
                    if f == FIRST {
                        (0..CONTEXTS).map(|k| r.evidence[k][f][l]).sum()
                    } else {
                        r.evidence[c][f][l]
                    }
                },
                |l| (r.m[c][f][l] / r.u[c][f][l].max(1e-12)).log2(),
                &hand.table[f],
            );
        }
    }
    let prior = (r.lambda / (1.0 - r.lambda)).log2();
    let [table, first_weak] = tables;
    Weights {
        prior: prior.clamp(-MAX_BITS * 2.0, MAX_BITS),
        table,
        first_weak,
    }
}

/// One field's bounded row: each level's learnt weight shrunk towards `hand` by its
/// evidence, clamped, missing at 0, exact ≥ 0 ≥ different and the levels between them.
fn bounded_row(
    evidence: impl Fn(usize) -> f64,
    learnt: impl Fn(usize) -> f64,
    hand: &[f64; LEVELS],
) -> [f64; LEVELS] {
    let mut row = [0.0; LEVELS];
    for l in 0..MISSING {
        let w = learnt(l);
        let w = if w.is_finite() { w } else { 0.0 };
        let n = evidence(l).max(0.0);
        row[l] = ((n * w + SHRINK_PAIRS * hand[l]) / (n + SHRINK_PAIRS)).clamp(-MAX_BITS, MAX_BITS);
    }
    let exact = Level::Exact as usize;
    let different = Level::Different as usize;
    row[exact] = row[exact].max(0.0);
    row[different] = row[different].min(0.0);
    let (lo, hi) = (row[different], row[exact]);
    for x in row.iter_mut().take(different).skip(exact + 1) {
        *x = x.clamp(lo, hi);
    }
    row[MISSING] = 0.0;
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL_LEVELS: [Level; LEVELS] = [
        Level::Exact,
        Level::Equivalent,
        Level::Close,
        Level::Similar,
        Level::Different,
        Level::Missing,
    ];

    /// A mixture of "same person" vectors (mostly agreeing) and "other person" vectors
    /// (mostly disagreeing), drawn from `seed`.
    fn mixture(seed: u64, matches: usize, others: usize) -> Patterns {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::new();
        for i in 0..matches + others {
            let same = i < matches;
            let mut v = [Level::Missing; FIELD_COUNT];
            for slot in v.iter_mut() {
                let r = rng.below(100);
                *slot = match (same, r) {
                    (_, 0..=4) => Level::Missing,
                    (true, 5..=79) => Level::Exact,
                    (true, 80..=89) => Level::Close,
                    (true, _) => Level::Different,
                    (false, 5..=14) => Level::Exact,
                    (false, 15..=19) => Level::Similar,
                    (false, _) => Level::Different,
                };
            }
            out.push(v);
        }
        patterns(out)
    }

    fn flat_u() -> Probs {
        normalise([[[1.0, 1.0, 1.0, 1.0, 4.0, 0.0]; FIELD_COUNT]; CONTEXTS])
    }

    #[test]
    fn recovers_a_clear_mixture() {
        let p = mixture(7, 300, 2700);
        let r = em(&p, &flat_u(), &TrainOptions::default());
        assert!(r.converged, "{r:?}");
        assert!((r.lambda - 0.1).abs() < 0.03, "{}", r.lambda);
        let w = bounded_weights(&r);
        for f in Field::ALL {
            assert!(w.weight(f, Level::Exact) > 2.0, "{w:?}");
            assert!(w.weight(f, Level::Different) < -1.0, "{w:?}");
        }
    }

    #[test]
    fn random_pairs_are_seeded_and_valid() {
        let recs: Vec<Prepared> = (0..10).map(|_| Prepared::default()).collect();
        let a = random_pairs(&recs, false, 100, 3);
        assert_eq!(a, random_pairs(&recs, false, 100, 3));
        assert_ne!(a, random_pairs(&recs, false, 100, 4));
        assert!(a.iter().all(|&(x, y)| x < y && y < 10));
        assert!(random_pairs(&recs[..1], false, 100, 3).is_empty());
    }

    fn any_patterns() -> impl Strategy<Value = Patterns> {
        prop::collection::vec((prop::array::uniform10(0usize..LEVELS), 1u32..50), 0..60).prop_map(
            |rows| {
                patterns(rows.into_iter().flat_map(|(v, n)| {
                    let levels: Levels = v.map(|i| ALL_LEVELS[i]);
                    std::iter::repeat_n(levels, n as usize)
                }))
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the data, the weights are finite and bounded, missing weighs 0, exact
        /// is ≥ 0 and ≥ every weaker level, and the prior is finite.
        #[test]
        fn weights_are_bounded(p in any_patterns(), uniform in prop::bool::ANY) {
            let u = if uniform { flat_u() } else { level_frequencies(&p) };
            let r = em(&p, &u, &TrainOptions::default());
            prop_assert!((LAMBDA_MIN..=LAMBDA_MAX).contains(&r.lambda));
            let w = bounded_weights(&r);
            prop_assert!(w.prior.is_finite());
            for f in Field::ALL.iter().flat_map(|f| [(f, &w.table), (f, &w.first_weak)]) {
                let row = f.1[f.0.index()];
                prop_assert!(row.iter().all(|x| x.is_finite() && x.abs() <= MAX_BITS));
                prop_assert_eq!(row[MISSING], 0.0);
                prop_assert!(row[0] >= 0.0 && row[4] <= 0.0);
                prop_assert!(row[..MISSING].iter().all(|x| *x <= row[0] && *x >= row[4]));
            }
        }

        /// The same patterns give bit-identical results, and so do the same seeded pairs.
        #[test]
        fn deterministic(seed in 0u64..1000) {
            let p = mixture(seed, 50, 450);
            let u = level_frequencies(&mixture(seed ^ 1, 0, 500));
            let a = em(&p, &u, &TrainOptions::default());
            let b = em(&p, &u, &TrainOptions::default());
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(bounded_weights(&a), bounded_weights(&b));
        }

        /// EM converges on a mixture within the iteration budget, and the posterior of a
        /// fully agreeing vector is above that of a fully disagreeing one.
        #[test]
        fn converges(seed in 0u64..1000, matches in 20usize..200, others in 200usize..2000) {
            let p = mixture(seed, matches, others);
            let r = em(&p, &flat_u(), &TrainOptions::default());
            prop_assert!(r.converged, "{} iterations", r.iterations);
            let agree = posterior(&[Level::Exact; FIELD_COUNT], &r.m, &r.u, r.lambda);
            let differ = posterior(&[Level::Different; FIELD_COUNT], &r.m, &r.u, r.lambda);
            prop_assert!(agree > 0.99 && differ < 0.01, "{agree} {differ}");
        }
    }
}
