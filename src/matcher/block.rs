//! Blocking: which pairs get compared at all. Every record gets a handful of keys (normalised
//! e-mail, its local part, phone tail, phonetic surname + first initial, phonetic first +
//! last name, postcode + name prefixes, street address); records sharing any key form a
//! candidate pair (a union of blocks, never all pairs). Oversized blocks are capped: their
//! members are sorted by name and only neighbours within a window are paired, which keeps the
//! work near-linear; the number of capped blocks is reported. Pure; must never score.

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
}

impl Default for BlockingOptions {
    fn default() -> Self {
        BlockingOptions {
            max_block: 6,
            window: 2,
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
}

/// The candidate pairs of `records` as `(i, j)` with `i < j`, sorted. In `linking` mode only
/// pairs whose `source` differs are kept.
pub fn candidate_pairs(
    records: &[Prepared],
    linking: bool,
    opts: &BlockingOptions,
) -> (Vec<(u32, u32)>, BlockingStats) {
    let mut entries: Vec<(u64, u32)> = records
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, p)| {
            let mut ks = Vec::with_capacity(10);
            keys(p, &mut ks);
            ks.sort_unstable();
            ks.dedup();
            ks.into_iter().map(move |k| (k, i as u32))
        })
        .collect();
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

    let keep = |a: u32, b: u32| -> Option<u64> {
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

    let mut pairs: Vec<u64> = groups
        .par_iter()
        .flat_map_iter(|&(s, e)| {
            let mut members: Vec<u32> = entries[s..e].iter().map(|(_, i)| *i).collect();
            let mut out = Vec::new();
            if members.len() <= opts.max_block {
                for (x, &a) in members.iter().enumerate() {
                    for &b in &members[x + 1..] {
                        out.extend(keep(a, b));
                    }
                }
            } else {
                members.sort_by(|&a, &b| {
                    let (pa, pb) = (&records[a as usize], &records[b as usize]);
                    (&pa.last, &pa.first, a).cmp(&(&pb.last, &pb.first, b))
                });
                for (x, &a) in members.iter().enumerate() {
                    for &b in members.iter().skip(x + 1).take(opts.window) {
                        out.extend(keep(a, b));
                    }
                }
            }
            out
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();
    stats.pairs = pairs.len();
    let pairs = pairs
        .into_iter()
        .map(|p| ((p >> 32) as u32, p as u32))
        .collect();
    (pairs, stats)
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
