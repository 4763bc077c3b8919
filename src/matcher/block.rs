//! Blocking: which pairs get compared at all. Every record gets a handful of keys (normalised
//! e-mail, its local part, phone tail, phonetic surname + first initial, phonetic first +
//! last name, postcode + name prefixes, street address); records sharing any key form a
//! candidate pair (a union of blocks, never all pairs). Oversized blocks are capped: their
//! members are sorted by name and only neighbours within a window are paired. Then a
//! per-record cap keeps the work near-linear as the batch grows: pairs sharing several keys
//! always stay, but of the pairs sharing fewer, each record keeps only its best few (most
//! keys shared, then the smallest block). Pure; must never score.

use super::normalize::{email_local, tail};
use super::record::Prepared;
use rayon::prelude::*;
use serde::Serialize;

/// Blocking limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlockingOptions {
    /// Blocks larger than this are capped (sorted-neighbourhood within the block).
    pub max_block: usize,
    /// In a capped block, each record is paired with this many following records.
    pub window: usize,
    /// Pairs sharing at least this many keys are always candidates.
    pub sure_keys: usize,
    /// Of its partners sharing fewer than `sure_keys` keys, each record keeps at most this
    /// many: those sharing the most keys, then those met in the smallest block, then the
    /// lowest index. A pair stays when either of its records keeps it.
    pub per_record: usize,
}

impl Default for BlockingOptions {
    fn default() -> Self {
        BlockingOptions {
            max_block: 6,
            window: 2,
            sure_keys: 3,
            per_record: 4,
        }
    }
}

/// What blocking did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlockingStats {
    /// Keys emitted over all records.
    pub keys: usize,
    /// Distinct keys shared by at least two records.
    pub blocks: usize,
    /// Blocks larger than `max_block`, paired only within the window.
    pub capped_blocks: usize,
    /// Largest block seen (before capping).
    pub largest_block: usize,
    /// Distinct candidate pairs.
    pub pairs: usize,
    /// Pairs the blocks produced but the per-record cap dropped (neither record kept them).
    pub dropped_pairs: usize,
}

/// FNV-1a, stable across runs and platforms.
pub(crate) fn hash(kind: u8, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(kind);
    for part in parts {
        for &b in *part {
            eat(b);
        }
        eat(0xff);
    }
    h
}

fn prefix(s: &str, n: usize) -> &[u8] {
    let b = s.as_bytes();
    b.get(..n).unwrap_or(b)
}

/// The blocking keys of one record (hashed, with the key kind mixed in).
pub fn keys(p: &Prepared, out: &mut Vec<u64>) {
    if !p.email.is_empty() {
        out.push(hash(1, &[p.email.as_bytes()]));
        let local = email_local(&p.email);
        if local.len() >= 5 {
            out.push(hash(2, &[local.as_bytes()]));
        }
    }
    if p.phone.len() >= 7 {
        let t = tail(&p.phone, 9).as_bytes();
        out.push(hash(3, &[t]));
        // Halves of the number: one typo leaves one half intact.
        if t.len() >= 9 {
            out.push(hash(9, &[t.get(..7).unwrap_or(t)]));
            out.push(hash(10, &[t.get(t.len() - 7..).unwrap_or(t)]));
        }
    }
    if let Some(ls) = p.last_soundex {
        out.push(hash(4, &[&ls, prefix(&p.first, 1)]));
    }
    if let (Some(fs), Some(ls)) = (p.first_soundex, p.last_soundex) {
        let (x, y) = if fs <= ls { (fs, ls) } else { (ls, fs) };
        out.push(hash(5, &[&x, &y]));
    }
    if !p.zip.is_empty() {
        if !p.last.is_empty() {
            out.push(hash(6, &[p.zip.as_bytes(), prefix(&p.last, 3)]));
        }
        if !p.first.is_empty() {
            out.push(hash(7, &[p.zip.as_bytes(), prefix(&p.first, 3)]));
        }
    }
    if !p.city.is_empty() {
        let city: Vec<u8> = p.city.bytes().filter(|&b| b != b' ').collect();
        if !p.first.is_empty() {
            out.push(hash(11, &[&city, p.first.as_bytes()]));
        }
    }
    if p.address1_compact.len() >= 5 {
        out.push(hash(8, &[p.address1_compact.as_bytes()]));
    }
    // A date of birth with either initial: a typo in one name leaves the other.
    if !p.dob.is_empty() {
        if !p.first.is_empty() {
            out.push(hash(12, &[p.dob.as_bytes(), prefix(&p.first, 1)]));
        }
        if !p.last.is_empty() {
            out.push(hash(13, &[p.dob.as_bytes(), prefix(&p.last, 1)]));
        }
    }
}

/// The candidate pairs of `records` as `(i, j)` with `i < j`, sorted. In `linking` mode only
/// pairs whose `source` differs are kept.
/// Long (about 110 lines) on purpose: the matcher bench's hot path; ranking, the key sort,
/// grouping and pair emission share their buffers so nothing is allocated twice.
pub fn candidate_pairs(
    records: &[Prepared],
    linking: bool,
    opts: &BlockingOptions,
) -> (Vec<(u32, u32)>, BlockingStats) {
    // Records in name order (surname, first name, index), once: entries carry the rank, so
    // every block comes out of the key sort already in name order, with no string
    // comparisons per block.
    let mut order: Vec<u32> = (0..records.len() as u32).collect();
    order.par_sort_unstable_by(|&a, &b| {
        let (pa, pb) = (&records[a as usize], &records[b as usize]);
        (&pa.last, &pa.first, a).cmp(&(&pb.last, &pb.first, b))
    });
    let mut rank = vec![0u32; records.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    let mut entries: Vec<(u64, u32)> = records
        .par_iter()
        .zip(rank.par_iter())
        .flat_map_iter(|(p, &r)| {
            let mut ks = Vec::with_capacity(13);
            keys(p, &mut ks);
            ks.sort_unstable();
            ks.dedup();
            ks.into_iter().map(move |k| (k, r))
        })
        .collect();
    drop(rank);
    let mut stats = BlockingStats {
        keys: entries.len(),
        ..BlockingStats::default()
    };
    entries.par_sort_unstable();

    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let key = entries[start].0;
        let mut end = start + 1;
        while end < entries.len() && entries[end].0 == key {
            end += 1;
        }
        if end - start >= 2 {
            groups.push((start, end));
        }
        start = end;
    }
    stats.blocks = groups.len();
    stats.largest_block = groups.iter().map(|(s, e)| e - s).max().unwrap_or(0);
    stats.capped_blocks = groups
        .iter()
        .filter(|(s, e)| e - s > opts.max_block)
        .count();

    let pair_key = |a: u32, b: u32| -> Option<u64> {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        if a == b {
            return None;
        }
        if linking {
            let (sa, sb) = (&records[a as usize].source, &records[b as usize].source);
            if sa == sb {
                return None;
            }
        }
        Some((u64::from(a) << 32) | u64::from(b))
    };

    // Every pair a block produces, with the size of that block.
    let mut produced: Vec<(u64, u32)> = groups
        .par_iter()
        .flat_map_iter(|&(s, e)| {
            // In name order (see `order`).
            let members: Vec<u32> = entries[s..e]
                .iter()
                .map(|(_, r)| order[*r as usize])
                .collect();
            let size = u32::try_from(members.len()).unwrap_or(u32::MAX);
            let keep = |a: u32, b: u32| pair_key(a, b).map(|p| (p, size));
            let mut out = Vec::new();
            if members.len() <= opts.max_block {
                for (x, &a) in members.iter().enumerate() {
                    for &b in &members[x + 1..] {
                        out.extend(keep(a, b));
                    }
                }
            } else {
                for (x, &a) in members.iter().enumerate() {
                    for &b in members.iter().skip(x + 1).take(opts.window) {
                        out.extend(keep(a, b));
                    }
                }
            }
            out
        })
        .collect();
    drop(entries);
    produced.par_sort_unstable();
    let (mut pairs, dropped) = cap_per_record(&produced, opts);
    drop(produced);
    pairs.par_sort_unstable();
    stats.pairs = pairs.len();
    stats.dropped_pairs = dropped;
    let pairs = pairs
        .into_iter()
        .map(|p| ((p >> 32) as u32, p as u32))
        .collect();
    (pairs, stats)
}

/// Applies the per-record cap to `produced` (every pair a block produced, with that block's
/// size, sorted): returns the pairs kept (distinct, not sorted) and how many distinct pairs
/// were dropped.
fn cap_per_record(produced: &[(u64, u32)], opts: &BlockingOptions) -> (Vec<u64>, usize) {
    // Each distinct pair: (pair, keys shared, smallest block).
    let folded: Vec<(u64, u32, u32)> = produced
        .par_chunk_by(|x, y| x.0 == y.0)
        .map(|run| {
            let smallest = run.iter().map(|(_, size)| *size).min().unwrap_or(u32::MAX);
            let shared = u32::try_from(run.len()).unwrap_or(u32::MAX);
            (run[0].0, shared, smallest)
        })
        .collect();
    let sure = |shared: u32| shared as usize >= opts.sure_keys;
    let mut kept: Vec<u64> = folded
        .par_iter()
        .filter(|f| sure(f.1))
        .map(|f| f.0)
        .collect();
    // Each end of a pair sharing few keys: (record, u32::MAX - keys shared, smallest block,
    // other record); sorted, each record's best partners come first.
    let mut ends: Vec<(u32, u32, u32, u32)> = folded
        .par_iter()
        .filter(|f| !sure(f.1))
        .flat_map_iter(|&(pair, shared, smallest)| {
            let (a, b) = ((pair >> 32) as u32, pair as u32);
            let rank = u32::MAX - shared;
            [(a, rank, smallest, b), (b, rank, smallest, a)]
        })
        .collect();
    let low = ends.len() / 2;
    drop(folded);
    ends.par_sort_unstable();
    let mut chosen: Vec<u64> = ends
        .par_chunk_by(|x, y| x.0 == y.0)
        .flat_map_iter(|run| {
            run.iter().take(opts.per_record).map(|&(me, _, _, other)| {
                let (a, b) = if me < other { (me, other) } else { (other, me) };
                (u64::from(a) << 32) | u64::from(b)
            })
        })
        .collect();
    drop(ends);
    // Chosen pairs, counted once even when both ends chose them.
    chosen.par_sort_unstable();
    chosen.dedup();
    let dropped = low - chosen.len();
    kept.append(&mut chosen);
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Region, System};
    use crate::matcher::record::MatchRecord;

    fn prep(first: &str, last: &str, email: &str, zip: &str) -> Prepared {
        Prepared::new(
            &MatchRecord {
                first_name: first.into(),
                last_name: last.into(),
                email: email.into(),
                zip: zip.into(),
                ..MatchRecord::default()
            },
            Region::default(),
        )
    }

    #[test]
    fn shared_keys_pair_and_strangers_do_not() {
        let recs = vec![
            prep("Ann", "Lee", "ann.lee@gmail.com", "10001"),
            prep("Zed", "Quux", "annlee+x@gmail.com", "99999"),
            prep("Bob", "Moss", "bm@example.org", "55555"),
        ];
        let (pairs, stats) = candidate_pairs(&recs, false, &BlockingOptions::default());
        assert_eq!(pairs, vec![(0, 1)]);
        assert_eq!(stats.pairs, 1);
        assert_eq!(stats.capped_blocks, 0);
    }

    #[test]
    fn blocking_never_produces_all_pairs() {
        // 500 people in one postcode, all surnames starting "sm": every zip key collides.
        let recs: Vec<Prepared> = (0..500)
            .map(|i| prep(&format!("p{i}"), &format!("sm{i}"), "", "10001"))
            .collect();
        let opts = BlockingOptions::default();
        let (pairs, stats) = candidate_pairs(&recs, false, &opts);
        let all = 500 * 499 / 2;
        assert!(stats.capped_blocks >= 1, "{stats:?}");
        assert!(stats.largest_block >= 500);
        assert!(pairs.len() < all / 10, "{} of {all}", pairs.len());
        assert!(pairs.len() <= 500 * opts.window * 3);
        assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_record_in_a_huge_block_keeps_its_true_match() {
        // 2,000 people called Ann in Leeds with no surname: one huge block on city + first
        // name, so each pair shares one key. Record 777 has a duplicate at the end of the input
        // (same e-mail), far from it in the block's sorted order.
        let ann = |email: String| {
            Prepared::new(
                &MatchRecord {
                    first_name: "Ann".into(),
                    email,
                    city: "Leeds".into(),
                    ..MatchRecord::default()
                },
                Region::default(),
            )
        };
        let mut recs: Vec<Prepared> = (0..2000)
            .map(|i| ann(format!("ann{i}@example.org")))
            .collect();
        recs.push(ann("ann777@example.org".into()));
        for per_record in [1, 4] {
            let opts = BlockingOptions {
                per_record,
                ..BlockingOptions::default()
            };
            let (pairs, stats) = candidate_pairs(&recs, false, &opts);
            assert!(stats.largest_block >= 2001, "{stats:?}");
            assert!(stats.capped_blocks >= 1, "{stats:?}");
            // With one partner each, the cap bites (the window gives each record four)...
            if per_record == 1 {
                assert!(stats.dropped_pairs > 0, "{stats:?}");
            }
            assert!(pairs.len() <= recs.len() * per_record, "{}", pairs.len());
            // ...but not the pair sharing two keys (e-mail and city + name).
            assert!(
                pairs.contains(&(777, 2000)),
                "true match lost at {per_record}"
            );
        }
    }

    /// Partners of record `i` in `pairs`.
    fn partners(pairs: &[(u32, u32)], i: u32) -> usize {
        pairs.iter().filter(|&&(a, b)| a == i || b == i).count()
    }

    #[test]
    fn low_evidence_partners_per_record_are_bounded() {
        // 60 groups of six: in a group everyone shares postcode + first-name prefix and
        // nothing else (surnames of other Soundex codes), so each pair shares one key.
        let lasts = ["Baker", "Cooper", "Dixon", "Fisher", "Garcia", "Hughes"];
        let recs: Vec<Prepared> = (0..60)
            .flat_map(|g| {
                lasts
                    .iter()
                    .map(move |l| prep("Anna", l, "", &format!("{g:05}")))
            })
            .collect();
        let uncapped = BlockingOptions {
            per_record: usize::MAX,
            ..BlockingOptions::default()
        };
        let (all, stats) = candidate_pairs(&recs, false, &uncapped);
        assert!(all.len() >= 60 * 15, "{}", all.len());
        assert_eq!(stats.dropped_pairs, 0);
        for per_record in [1, 2, 4] {
            let opts = BlockingOptions {
                per_record,
                ..BlockingOptions::default()
            };
            let (pairs, stats) = candidate_pairs(&recs, false, &opts);
            // Each record chose at most `per_record`; a pair needs one of its two to choose it.
            assert!(
                pairs.len() <= recs.len() * per_record,
                "{per_record}: {}",
                pairs.len()
            );
            assert!(pairs.len() < all.len());
            assert_eq!(stats.dropped_pairs + pairs.len(), all.len());
            assert!(pairs.iter().all(|p| all.contains(p)));
            // Every record still has a partner.
            for i in 0..recs.len() as u32 {
                assert!(partners(&pairs, i) >= 1, "record {i} lost every partner");
            }
        }
    }

    #[test]
    fn a_record_keeps_the_partners_sharing_most_keys() {
        // Ann Baker and Ann Bakerson (10001) share postcode + surname prefix and postcode +
        // first-name prefix: two keys. Ann Cooper and Ann Dixon share only the second.
        let recs = vec![
            prep("Anna", "Baker", "", "10001"),
            prep("Anna", "Bakerson", "", "10001"),
            prep("Anna", "Cooper", "", "10001"),
            prep("Anna", "Dixon", "", "10001"),
        ];
        let opts = BlockingOptions {
            per_record: 1,
            ..BlockingOptions::default()
        };
        let (pairs, stats) = candidate_pairs(&recs, false, &opts);
        // 0 keeps 1 (two keys); 1 keeps 0; 2 and 3 each keep their lowest-index partner, 0.
        assert_eq!(pairs, vec![(0, 1), (0, 2), (0, 3)]);
        assert_eq!(stats.dropped_pairs, 3);
    }

    #[test]
    fn pairs_sharing_enough_keys_are_never_capped() {
        // Ten copies of one person: every pair shares many keys, so all 45 stay.
        let recs: Vec<Prepared> = (0..10)
            .map(|_| prep("Ann", "Lee", "ann.lee@gmail.com", "10001"))
            .collect();
        let opts = BlockingOptions {
            max_block: 10,
            per_record: 0,
            ..BlockingOptions::default()
        };
        let (pairs, stats) = candidate_pairs(&recs, false, &opts);
        assert_eq!(pairs.len(), 45);
        assert_eq!(stats.dropped_pairs, 0);
    }

    #[test]
    fn linking_mode_pairs_only_across_sources() {
        let mut a = prep("Ann", "Lee", "ann@x.org", "1");
        let mut b = a.clone();
        let mut c = a.clone();
        a.source = Some(System::Hubspot);
        b.source = Some(System::Hubspot);
        c.source = Some(System::Gorgias);
        let (pairs, _) = candidate_pairs(&[a, b, c], true, &BlockingOptions::default());
        assert_eq!(pairs, vec![(0, 2), (1, 2)]);
    }
}
