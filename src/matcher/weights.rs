//! The model's weights: for each field and agreement level, a Fellegi–Sunter match weight
//! `log2(m/u)` (how much more likely the level is among true pairs than among other
//! candidate pairs), plus the prior and the relatives guard. The values are set by hand from
//! m/u estimates and calibrated on labelled data (see docs/matching.md); they are constants
//! so a score is reproducible. Must never hold comparison or I/O logic.

use super::compare::{Field, Level};

/// Weight of each level, in [`Level`] order: exact, equivalent, close, similar, different,
/// missing.
type Row = [f64; 6];

/// Match weights in bits (`log2(m/u)`), one row per [`Field`] in [`Field::ALL`] order.
pub const WEIGHTS: [Row; 9] = [
    // first name: exact, nickname/swap, typo, similar/initial, different, missing
    [5.0, 3.5, 3.5, 0.5, -2.5, 0.0],
    // last name
    [6.0, 4.5, 4.0, 1.0, -2.5, 0.0],
    // e-mail: a person has several addresses, so disagreement is weak evidence
    [7.0, 5.0, 5.0, 1.0, -0.5, 0.0],
    // phone: equal last nine digits, one edit
    [6.0, 6.0, 3.0, 0.0, -1.5, 0.0],
    // street address
    [4.0, 4.0, 3.0, 1.0, -1.5, 0.0],
    // address line 2
    [1.5, 1.5, 1.0, 0.0, -0.5, 0.0],
    // city
    [1.5, 1.5, 1.0, 0.0, -1.5, 0.0],
    // postcode
    [2.0, 2.0, 1.0, 0.0, -1.5, 0.0],
    // state
    [0.3, 0.3, 0.0, 0.0, -0.7, 0.0],
];

/// Prior log2-odds that a candidate pair is a match, before any field is compared.
pub const PRIOR: f64 = -4.5;

/// The highest score a pair can reach when the guard holds it (names that do not both
/// positively agree, or conflicting e-mail and phone; see `score::guard_reason`): relatives
/// share an address, a surname, a phone or a family e-mail, so those alone must never
/// auto-merge.
pub const RELATIVES_CAP: f64 = 0.90;

/// When first names disagree, the most the household fields (surname, phone, address,
/// city, postcode, state) add together, in bits: relatives share them all at once.
pub const HOUSEHOLD_CAP: f64 = 8.0;

/// The auto-merge threshold `tether match evaluate` measures at by default. The service's
/// own default (`matching.auto_merge_threshold = 1.01`) keeps auto-merge off.
pub const RECOMMENDED_AUTO_THRESHOLD: f64 = 0.99;

/// The review threshold used when no configuration is given (same as the config default).
pub const DEFAULT_REVIEW_THRESHOLD: f64 = 0.80;

/// Probability that a true pair agrees exactly on a field, used to cap the weight of an
/// exact agreement on a common value at `log2(M_EXACT / share)`.
pub const M_EXACT: f64 = 0.95;

/// The weight of an exact agreement on a value that `share` of the records hold (0 when
/// unknown): the table weight, or less when the value is common (term frequency).
pub fn exact_weight(field: Field, share: f32) -> f64 {
    let base = weight(field, Level::Exact);
    if share <= 0.0 {
        return base;
    }
    base.min((M_EXACT / f64::from(share)).log2()).max(0.0)
}

/// The weight of `level` on `field`.
pub fn weight(field: Field, level: Level) -> f64 {
    WEIGHTS
        .get(field.index())
        .and_then(|row| row.get(level as usize))
        .copied()
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fall_as_agreement_weakens() {
        for field in Field::ALL {
            let row = WEIGHTS[field.index()];
            for pair in row[..5].windows(2) {
                assert!(pair[0] >= pair[1], "{field:?} {row:?}");
            }
            assert_eq!(weight(field, Level::Missing), 0.0);
            assert!(weight(field, Level::Different) < 0.0);
        }
        const { assert!(RELATIVES_CAP < RECOMMENDED_AUTO_THRESHOLD) };
        const { assert!(DEFAULT_REVIEW_THRESHOLD < RELATIVES_CAP) };
    }
}
