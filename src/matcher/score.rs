//! Scoring a compared pair: the Fellegi–Sunter sum of field weights plus the prior, the
//! relatives guard, and the logistic map to a score in [0, 1]; and the [`Explanation`] that
//! lists each field's contribution. Pure; must never compare raw values (see `compare`).

use super::compare::{FIELD_COUNT, Field, Level, Levels, compare};
use super::mailbox;
use super::normalize::email_local;
use super::record::Prepared;
use super::weights::{HOUSEHOLD_CAP, HOUSEHOLD_MAILBOX_CAP, RELATIVES_CAP, Weights};
use serde::Serialize;

/// One field's part in a score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Contribution {
    pub field: Field,
    pub level: Level,
    /// Match weight in bits (log2 odds) this field added.
    pub weight: f64,
}

/// Why a pair got its score. Invariant: `prior + Σ fields.weight + relatives_guard == total`
/// and `score == 1 / (1 + 2^-total)`; see [`Explanation::is_consistent`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Prior log2 odds of a match among candidate pairs.
    pub prior: f64,
    /// Each field's contribution, in [`Field::ALL`] order.
    pub fields: Vec<Contribution>,
    /// A non-positive adjustment that keeps pairs the guard holds (see [`guard_reason`]:
    /// relatives sharing an address, surname, phone or family e-mail) at or below
    /// [`RELATIVES_CAP`]; 0 when it did not apply.
    pub relatives_guard: f64,
    /// Why the guard held the pair, when it did.
    pub guard: Option<GuardReason>,
    /// Total log2 odds.
    pub total: f64,
    /// The score in [0, 1].
    pub score: f64,
}

impl Explanation {
    /// True when the contributions add up to the total and the total maps to the score.
    pub fn is_consistent(&self) -> bool {
        let sum =
            self.prior + self.fields.iter().map(|c| c.weight).sum::<f64>() + self.relatives_guard;
        (sum - self.total).abs() < 1e-9 && (to_score(self.total) - self.score).abs() < 1e-12
    }
}

/// The logistic map from log2 odds to a probability-like score.
pub fn to_score(total_bits: f64) -> f64 {
    1.0 / (1.0 + (-total_bits).exp2())
}

/// The log2 odds of a score in (0, 1).
pub fn to_bits(score: f64) -> f64 {
    (score / (1.0 - score)).log2()
}

/// Why a pair may not enter the auto-merge band, if it may not.
///
/// Relatives and housemates share an address, a surname, a phone or a family e-mail. Those
/// alone never prove one person, so a pair is held at or below [`RELATIVES_CAP`] unless
/// both names positively agree (exact, nickname, swapped, or a typo away), the pair does
/// not disagree on both e-mail and phone, and at least one of e-mail (exact or a typo
/// away), phone, street address or an exact date of birth agrees (names and a town alone
/// are namesakes as often as duplicates; names and a birthday are not).
pub fn guard_reason(levels: &Levels) -> Option<GuardReason> {
    let agrees = |l: Level| matches!(l, Level::Exact | Level::Equivalent | Level::Close);
    if !agrees(levels[Field::FirstName.index()]) {
        return Some(GuardReason::FirstNamesDoNotAgree);
    }
    if !agrees(levels[Field::LastName.index()]) && !renamed(levels) {
        return Some(GuardReason::LastNamesDoNotAgree);
    }
    let (email, phone) = (levels[Field::Email.index()], levels[Field::Phone.index()]);
    if email == Level::Different && phone == Level::Different {
        return Some(GuardReason::ContactsConflict);
    }
    let firm = |l: Level| matches!(l, Level::Exact | Level::Equivalent | Level::Close);
    // The same mailbox name at another domain (`equivalent` e-mail) is not firm here: a
    // numbered mailbox (`jsmith2@`) is handed out again by the next provider to a namesake.
    let firm_email = matches!(email, Level::Exact | Level::Close);
    let born_same_day = levels[Field::DateOfBirth.index()] == Level::Exact;
    if !firm_email && !firm(phone) && !firm(levels[Field::Address1.index()]) && !born_same_day {
        return Some(GuardReason::OnlyNamesAgree);
    }
    None
}

/// A changed surname (marriage) rather than a relative: the given name is the same
/// (exactly: a relative's differs, and a nickname or typo is not enough here), and both the
/// phone and the street address agree. Relatives share a phone and an address but not a
/// given name; housemates who happen to share one (a shared flat, a care home) share
/// *common* phones and addresses, which the commonness adjustment
/// ([`contact_commonness_bits`]) already weighs down. The weights still decide the score:
/// this only lets such a pair be scored rather than held at [`RELATIVES_CAP`].
pub fn renamed(levels: &Levels) -> bool {
    let firm = |l: Level| matches!(l, Level::Exact | Level::Equivalent | Level::Close);
    levels[Field::FirstName.index()] == Level::Exact
        && firm(levels[Field::Phone.index()])
        && firm(levels[Field::Address1.index()])
}

/// Fields whose values are contact points one household (or one office, one care home)
/// can share among many records: an exact agreement on one is worth less the more common
/// the value is (see [`contact_commonness_bits`]).
pub const CONTACT_FIELDS: [Field; 3] = [Field::Email, Field::Phone, Field::Address1];

/// The bits taken off an exact agreement on a contact field whose value is `commonness`
/// times as common as the batch's typical value of that field (`Prepared::commonness`):
/// `log2(commonness)` when above 1, else 0 — Splink's term-frequency adjustment
/// (`log2(u_average / u_value)`), only ever downwards so a rare value is not inflated. A
/// family e-mail four relatives use, in a batch where a typical address is held by one
/// person's two records, loses a bit; a care home's phone that thirty residents give loses
/// four. Nothing here depends on a data set: the typical count is measured on the batch.
pub fn contact_commonness_bits(field: Field, commonness: f32) -> f64 {
    if CONTACT_FIELDS.contains(&field) && commonness > 1.0 {
        f64::from(commonness).log2()
    } else {
        0.0
    }
}

/// True when a pair whose given names do not agree (missing, look-alike or different)
/// shares a household's mailbox (`smithfamily@`, `mailbox::is_household`) exactly and no
/// person's own mark (an exact date of birth): everything that agrees is what a household
/// shares, so the pair is held at [`HOUSEHOLD_MAILBOX_CAP`], below the review band. `a` is
/// the pair's first record (an exact e-mail is the same on both).
pub fn household_mailbox_only(levels: &Levels, a: &Prepared) -> bool {
    let first_agrees = matches!(
        levels[Field::FirstName.index()],
        Level::Exact | Level::Equivalent | Level::Close
    );
    !first_agrees
        && levels[Field::Email.index()] == Level::Exact
        && levels[Field::DateOfBirth.index()] != Level::Exact
        && mailbox::is_household(email_local(&a.email), &a.last)
}

/// Why the guard held a pair below the auto-merge band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardReason {
    /// Given names do not agree and the shared e-mail is a household's mailbox: held below
    /// the review band (see [`household_mailbox_only`]).
    SharedHouseholdMailbox,
    /// First names missing, different or only similar (`Erin`/`Eric`): maybe a relative.
    FirstNamesDoNotAgree,
    /// Last names missing or different: maybe a housemate, or a changed name.
    LastNamesDoNotAgree,
    /// Both e-mail and phone present and different.
    ContactsConflict,
    /// Neither e-mail, phone nor street address agrees: namesakes in one town.
    OnlyNamesAgree,
}

/// The guard's adjustment for a pair with `total` bits before it, and why.
fn guard(levels: &Levels, a: &Prepared, total: f64) -> (f64, Option<GuardReason>) {
    let (cap, reason) = if household_mailbox_only(levels, a) {
        (
            HOUSEHOLD_MAILBOX_CAP,
            Some(GuardReason::SharedHouseholdMailbox),
        )
    } else {
        (RELATIVES_CAP, guard_reason(levels))
    };
    let cap = to_bits(cap);
    match reason {
        Some(r) if total > cap => (cap - total, Some(r)),
        _ => (0.0, None),
    }
}

/// The weight of `level` on `field` for a pair whose first record is `a` (exact agreements
/// on common values count less).
fn field_weight(w: &Weights, field: Field, level: Level, a: &Prepared, first_agrees: bool) -> f64 {
    if level == Level::Exact {
        let share = a.share.get(field.index()).copied().unwrap_or(0.0);
        let commonness = a.commonness.get(field.index()).copied().unwrap_or(0.0);
        let bits = contact_commonness_bits(field, commonness);
        (w.exact_weight_in(field, share, first_agrees) - bits).max(0.0)
    } else {
        w.weight_in(field, level, first_agrees)
    }
}

/// Fields a household shares: when first names disagree, their agreement is what relatives
/// look like, so together they count at most [`HOUSEHOLD_CAP`] bits.
const HOUSEHOLD_FIELDS: [Field; 7] = [
    Field::LastName,
    Field::Phone,
    Field::Address1,
    Field::Address2,
    Field::City,
    Field::Zip,
    Field::State,
];

/// Each field's weight for a compared pair whose first record is `a`. Fellegi–Sunter
/// assumes fields independent; relatives break that (surname, phone and address agree
/// together), so when the first names disagree (different or only similar) and so do the
/// e-mails (each person has their own), the positive weights of [`HOUSEHOLD_FIELDS`] are
/// scaled down to sum to at most [`HOUSEHOLD_CAP`].
pub fn weights_of(levels: &Levels, a: &Prepared, model: &Weights) -> [f64; FIELD_COUNT] {
    let mut w = [0.0; FIELD_COUNT];
    let first_agrees = matches!(
        levels[Field::FirstName.index()],
        Level::Exact | Level::Equivalent | Level::Close
    );
    for (i, (field, level)) in Field::ALL.iter().zip(levels).enumerate() {
        w[i] = field_weight(model, *field, *level, a, first_agrees);
    }
    // A mailbox spelt from the names at another domain (`similar`) says no more than the
    // names do, which namesakes share: it counts for nothing unless a contact point of the
    // person's own firmly agrees.
    let firm = |f: Field| {
        matches!(
            levels[f.index()],
            Level::Exact | Level::Equivalent | Level::Close
        )
    };
    if levels[Field::Email.index()] == Level::Similar
        && !firm(Field::Phone)
        && !firm(Field::Address1)
        && levels[Field::DateOfBirth.index()] != Level::Exact
    {
        let e = Field::Email.index();
        w[e] = w[e].min(0.0);
    }
    if matches!(
        levels[Field::FirstName.index()],
        Level::Different | Level::Similar
    ) && levels[Field::Email.index()] == Level::Different
    {
        let positive: f64 = HOUSEHOLD_FIELDS.iter().map(|f| w[f.index()].max(0.0)).sum();
        if positive > HOUSEHOLD_CAP {
            let factor = HOUSEHOLD_CAP / positive;
            for f in HOUSEHOLD_FIELDS {
                if w[f.index()] > 0.0 {
                    w[f.index()] *= factor;
                }
            }
        }
    }
    w
}

/// The total log2 odds and the relatives guard of a compared pair.
pub fn total_of(levels: &Levels, a: &Prepared, w: &Weights) -> (f64, f64) {
    let total = w.prior + weights_of(levels, a, w).iter().sum::<f64>();
    let (g, _) = guard(levels, a, total);
    (total + g, g)
}

/// The score of a pair, without building an explanation (the fast path for blocking output).
pub fn score(a: &Prepared, b: &Prepared, w: &Weights) -> f64 {
    to_score(total_of(&compare(a, b), a, w).0)
}

/// The score of a pair and its explanation.
pub fn explain(a: &Prepared, b: &Prepared, w: &Weights) -> Explanation {
    explain_levels(&compare(a, b), a, w)
}

/// The explanation of already compared levels of a pair whose first record is `a`.
pub fn explain_levels(levels: &Levels, a: &Prepared, w: &Weights) -> Explanation {
    let weights = weights_of(levels, a, w);
    let fields: Vec<Contribution> = Field::ALL
        .iter()
        .zip(levels)
        .zip(weights)
        .map(|((f, l), weight)| Contribution {
            field: *f,
            level: *l,
            weight,
        })
        .collect();
    let before = w.prior + weights.iter().sum::<f64>();
    let (relatives_guard, guard) = guard(levels, a, before);
    let total = before + relatives_guard;
    Explanation {
        prior: w.prior,
        fields,
        relatives_guard,
        guard,
        total,
        score: to_score(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;
    use crate::matcher::record::MatchRecord;
    use crate::matcher::weights::{
        DEFAULT_REVIEW_THRESHOLD, HOUSEHOLD_MAILBOX_CAP, RECOMMENDED_AUTO_THRESHOLD,
    };

    const H: Weights = Weights::HAND_SET;

    fn rec(first: &str, last: &str, email: &str, phone: &str, addr: &str) -> Prepared {
        Prepared::new(
            &MatchRecord {
                id: "x".into(),
                first_name: first.into(),
                last_name: last.into(),
                email: email.into(),
                phone: phone.into(),
                address1: addr.into(),
                city: "Springfield".into(),
                zip: "12345".into(),
                state: "IL".into(),
                country: "US".into(),
                ..MatchRecord::default()
            },
            Region::default(),
        )
    }

    #[test]
    fn explanation_sums_to_the_score() {
        let a = rec(
            "Robert",
            "Smith",
            "bob.smith@gmail.com",
            "(217) 555-0134",
            "1 Main Street",
        );
        let b = rec(
            "Bob",
            "Smith",
            "bobsmith@gmail.com",
            "+12175550134",
            "1 main st",
        );
        let e = explain(&a, &b, &H);
        assert!(e.is_consistent(), "{e:?}");
        assert_eq!(e.fields.len(), Field::ALL.len());
        assert!((e.score - score(&a, &b, &H)).abs() < 1e-12);
        assert!(e.score >= RECOMMENDED_AUTO_THRESHOLD, "{e:?}");
        let c = rec(
            "Alice",
            "Jones",
            "aj@example.org",
            "+13125550199",
            "9 Elm Road",
        );
        let e2 = explain(&a, &c, &H);
        assert!(e2.is_consistent());
        assert!(e2.score < 0.5, "{e2:?}");
        assert!((0.0..=1.0).contains(&e2.score));
    }

    #[test]
    fn relatives_stay_out_of_the_auto_band() {
        // Same address, surname, phone and family e-mail; different first names.
        let mother = rec(
            "Maria",
            "Garcia",
            "garciafamily@yahoo.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let son = rec(
            "Diego",
            "Garcia",
            "garciafamily@yahoo.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let e = explain(&mother, &son, &H);
        assert!(e.is_consistent());
        assert!(e.score <= RELATIVES_CAP + 1e-12, "{e:?}");
        assert!(e.score < RECOMMENDED_AUTO_THRESHOLD);
        // A missing first name does not prove the same person either.
        let unknown = rec(
            "",
            "Garcia",
            "garciafamily@yahoo.com",
            "+12175550100",
            "5 Oak Ave",
        );
        assert!(score(&mother, &unknown, &H) < RECOMMENDED_AUTO_THRESHOLD);
        // Similar-looking names of relatives (Erin, Eric) too.
        let erin = rec(
            "Erin",
            "Garcia",
            "garciafamily@yahoo.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let eric = rec(
            "Eric",
            "Garcia",
            "garciafamily@yahoo.com",
            "+12175550100",
            "5 Oak Ave",
        );
        assert!(score(&erin, &eric, &H) < RECOMMENDED_AUTO_THRESHOLD);
    }

    #[test]
    fn a_shared_household_mailbox_is_a_coin_flip_without_a_given_name() {
        let named = rec(
            "Nancy",
            "Sells",
            "sellsfamily@outlook.com",
            "+12175550100",
            "9 Elm Road",
        );
        let unnamed = rec("", "Sells", "sellsfamily@outlook.com", "", "9 Elm Road");
        let levels = compare(&named, &unnamed);
        assert!(household_mailbox_only(&levels, &named));
        let e = explain(&named, &unnamed, &H);
        assert!(e.is_consistent(), "{e:?}");
        assert!(e.score <= HOUSEHOLD_MAILBOX_CAP + 1e-12, "{e:?}");
        assert!(e.score < DEFAULT_REVIEW_THRESHOLD);
        assert_eq!(e.guard, Some(GuardReason::SharedHouseholdMailbox));
        // The same person named on both records is scored as before.
        let again = rec(
            "Nancy",
            "Sells",
            "sellsfamily@outlook.com",
            "",
            "9 Elm Road",
        );
        let levels = compare(&named, &again);
        assert!(!household_mailbox_only(&levels, &named));
        assert!(score(&named, &again, &H) > DEFAULT_REVIEW_THRESHOLD);
        // A personal mailbox is not a household's.
        let personal = rec("Nancy", "Sells", "nsells@outlook.com", "", "9 Elm Road");
        let unnamed_personal = rec("", "Sells", "nsells@outlook.com", "", "9 Elm Road");
        assert!(!household_mailbox_only(
            &compare(&personal, &unnamed_personal),
            &personal
        ));
    }

    #[test]
    fn a_name_built_mailbox_elsewhere_needs_a_firm_contact_point() {
        let a = rec(
            "Christopher",
            "Miller",
            "cmiller@icloud.com",
            "+12065550100",
            "",
        );
        let namesake = rec(
            "Christopher",
            "Miller",
            "cmiller@bigpond.com",
            "+12065550199",
            "",
        );
        let e = explain(&a, &namesake, &H);
        let email = e.fields[Field::Email.index()];
        assert_eq!(email.level, Level::Similar);
        assert_eq!(email.weight, 0.0, "{e:?}");
        assert!(e.is_consistent());
        // With the phone agreeing, the mailbox counts again.
        let same = rec(
            "Christopher",
            "Miller",
            "cmiller@bigpond.com",
            "+12065550100",
            "",
        );
        let e = explain(&a, &same, &H);
        assert!(e.fields[Field::Email.index()].weight > 0.0, "{e:?}");
    }

    #[test]
    fn a_changed_surname_is_scored_not_held() {
        let maiden = rec(
            "Maria",
            "Garcia",
            "maria.garcia@gmail.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let married = rec(
            "Maria",
            "Lopez",
            "mlopez@outlook.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let levels = compare(&maiden, &married);
        assert!(renamed(&levels));
        assert_eq!(guard_reason(&levels), None);
        // A relative with another given name is still held, whatever the surname.
        let sister = rec(
            "Rosa",
            "Lopez",
            "rosa@outlook.com",
            "+12175550100",
            "5 Oak Ave",
        );
        let levels = compare(&maiden, &sister);
        assert!(!renamed(&levels));
        assert!(guard_reason(&levels).is_some());
        // A nickname is not enough for a changed surname, nor a shared phone alone.
        let nick = rec(
            "Mary",
            "Lopez",
            "ml@outlook.com",
            "+12175550100",
            "5 Oak Ave",
        );
        assert!(guard_reason(&compare(&maiden, &nick)).is_some());
        let moved = rec(
            "Maria",
            "Lopez",
            "ml@outlook.com",
            "+12175550100",
            "9 Elm Road",
        );
        assert!(guard_reason(&compare(&maiden, &moved)).is_some());
    }

    #[test]
    fn common_contact_values_weigh_less() {
        assert_eq!(contact_commonness_bits(Field::Phone, 0.0), 0.0);
        assert_eq!(contact_commonness_bits(Field::Phone, 0.5), 0.0);
        assert!((contact_commonness_bits(Field::Email, 4.0) - 2.0).abs() < 1e-12);
        // Names and places have their own term-frequency rule.
        assert_eq!(contact_commonness_bits(Field::LastName, 4.0), 0.0);
        let mut a = rec("Ann", "Lee", "leefamily@x.org", "+12175550100", "5 Oak Ave");
        let b = rec("Ann", "Lee", "leefamily@x.org", "+12175550100", "5 Oak Ave");
        let rare = score(&a, &b, &H);
        a.commonness[Field::Email.index()] = 8.0;
        a.commonness[Field::Phone.index()] = 8.0;
        let common = score(&a, &b, &H);
        assert!(common < rare, "{common} {rare}");
        assert!(explain(&a, &b, &H).is_consistent());
        assert!(
            explain(&a, &b, &H)
                .fields
                .iter()
                .all(|c| c.level != Level::Exact || c.weight >= 0.0)
        );
    }

    #[test]
    fn a_date_of_birth_tells_relatives_and_namesakes_apart() {
        let born = |first: &str, addr: &str, dob: &str| {
            let mut r = MatchRecord {
                id: first.into(),
                first_name: first.into(),
                last_name: "Garcia".into(),
                email: format!("{first}.{}@example.org", addr.len()),
                address1: addr.into(),
                city: "Springfield".into(),
                country: "US".into(),
                date_of_birth: dob.into(),
                ..MatchRecord::default()
            };
            r.id = first.into();
            Prepared::new(&r, Region::default())
        };
        let a = born("Maria", "5 Oak Ave", "1970-03-04");
        // Same person, birthday written the other way round: still a strong match.
        let same = born("Maria", "5 Oak Ave", "04/03/1970");
        let e = explain(&a, &same, &H);
        assert!(e.is_consistent());
        let dob = e.fields[Field::DateOfBirth.index()];
        assert_eq!((dob.level, dob.weight), (Level::Exact, 6.0));
        // A namesake across town born another year: the birthday counts against.
        let namesake = born("Maria", "19 Elm Road", "1982-11-21");
        let e = explain(&a, &namesake, &H);
        assert_eq!(e.fields[Field::DateOfBirth.index()].weight, -4.0);
        let undated_namesake = born("Maria", "19 Elm Road", "");
        let without = explain(&a, &undated_namesake, &H);
        // Undated, the guard holds the namesakes at the relatives cap; dated, the birthday
        // alone takes them below it.
        assert_eq!(without.score, to_score(to_bits(RELATIVES_CAP)));
        assert!(e.score < without.score && e.guard.is_none(), "{e:?}");
        assert!(e.score <= DEFAULT_REVIEW_THRESHOLD, "{e:?}");
        // Names and a birthday are not "only names": the guard lets them be scored.
        let moved = born("Maria", "19 Elm Road", "1970-03-04");
        assert_eq!(guard_reason(&compare(&a, &moved)), None);
        // Without dates, nothing changes (missing weighs 0).
        let undated = born("Maria", "5 Oak Ave", "");
        assert_eq!(
            explain(&a, &undated, &H).fields[Field::DateOfBirth.index()].weight,
            0.0
        );
    }
}
