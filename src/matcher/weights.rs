//! The model's weights: for each field and agreement level, a Fellegi–Sunter match weight
//! `log2(m/u)` (how much more likely the level is among true pairs than among other
//! candidate pairs), plus the prior and the relatives guard. [`Weights`] is what scoring
//! reads: either the hand-set constants below ([`Weights::HAND_SET`], the fallback for small
//! data sets) or weights learnt by EM (`em`, carried in a `model::Model`). Must never hold
//! comparison, learning or I/O logic.

use super::compare::{FIELD_COUNT, Field, Level};
use serde::{Deserialize, Serialize};

/// Weight of each level, in [`Level`] order: exact, equivalent, close, similar, different,
/// missing.
type Row = [f64; 6];

/// Match weights in bits (`log2(m/u)`), one row per [`Field`] in [`Field::ALL`] order.
pub const WEIGHTS: [Row; FIELD_COUNT] = [
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
    // date of birth: exact, day/month transposed, one digit off, same year only; relatives
    // and namesakes are born on other days, so a different date is strong evidence against
    [6.0, 4.0, 3.5, 0.5, -4.0, 0.0],
];

/// Prior log2-odds that a candidate pair is a match, before any field is compared.
pub const PRIOR: f64 = -4.5;

/// The highest score a pair can reach when the guard holds it (names that do not both
/// positively agree, or conflicting e-mail and phone; see `score::guard_reason`): relatives
/// share an address, a surname, a phone or a family e-mail, so those alone must never
/// auto-merge.
pub const RELATIVES_CAP: f64 = 0.90;

/// The highest score of a pair whose given names do not agree and whose one shared
/// personal-looking link is a household's mailbox (`smithfamily@`, see
/// `score::household_mailbox_only`): a coin flip, since such a pair is as often two
/// relatives as one person with a missing or look-alike given name.
pub const HOUSEHOLD_MAILBOX_CAP: f64 = 0.5;

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

/// The weights scoring uses: the prior and one row of level weights per field, in bits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// Prior log2 odds that a candidate pair is a match.
    pub prior: f64,
    /// Match weight in bits per field ([`Field::ALL`] order) and level ([`Level`] order),
    /// when the first names agree (exact, nickname or a typo away).
    pub table: [Row; FIELD_COUNT],
    /// The same when they do not (only similar, different or missing): learnt apart,
    /// because then the non-matches are mostly relatives (see `em::CONTEXTS`). The
    /// first-name row is the same in both.
    pub first_weak: [Row; FIELD_COUNT],
}

impl Default for Weights {
    fn default() -> Self {
        Weights::HAND_SET
    }
}

impl Weights {
    /// The hand-set weights: the fallback when too few records are in hand to learn from.
    pub const HAND_SET: Weights = Weights {
        prior: PRIOR,
        table: WEIGHTS,
        first_weak: WEIGHTS,
    };

    /// The weight of `level` on `field` when the first names agree.
    pub fn weight(&self, field: Field, level: Level) -> f64 {
        self.weight_in(field, level, true)
    }

    /// The weight of `level` on `field`, in the table for whether the first names agree.
    pub fn weight_in(&self, field: Field, level: Level, first_agrees: bool) -> f64 {
        let table = if first_agrees {
            &self.table
        } else {
            &self.first_weak
        };
        table
            .get(field.index())
            .and_then(|row| row.get(level as usize))
            .copied()
            .unwrap_or(0.0)
    }

    /// The weight of an exact agreement on a value that `share` of the records hold (0 when
    /// unknown): the table weight, or less when the value is common (term frequency).
    pub fn exact_weight(&self, field: Field, share: f32) -> f64 {
        self.exact_weight_in(field, share, true)
    }

    /// [`Weights::exact_weight`] in the table for whether the first names agree.
    pub fn exact_weight_in(&self, field: Field, share: f32, first_agrees: bool) -> f64 {
        let base = self.weight_in(field, Level::Exact, first_agrees);
        if share <= 0.0 {
            return base;
        }
        base.min((M_EXACT / f64::from(share)).log2()).max(0.0)
    }
}

/// The weight of an exact agreement on a value that `share` of the records hold, with the
/// hand-set weights (see [`Weights::exact_weight`]).
pub fn exact_weight(field: Field, share: f32) -> f64 {
    Weights::HAND_SET.exact_weight(field, share)
}

/// The hand-set weight of `level` on `field`.
pub fn weight(field: Field, level: Level) -> f64 {
    Weights::HAND_SET.weight(field, level)
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
