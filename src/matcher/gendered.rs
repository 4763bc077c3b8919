//! Gendered forms of one given name (`Stephen`/`Stephanie`, `Daniel`/`Danielle`,
//! `Christian`/`Christine`, `Patrick`/`Patricia`): two names sharing a stem whose endings are
//! a masculine and a feminine ending from a small general table of name morphology (English
//! and Romance names), not a list of names. Relatives are often named after one another this
//! way, and such a pair looks like a typo by string distance alone. Pure; must never weigh
//! or score (see `compare`, which decides what the finding means).

/// Endings that make a given name feminine (`-a`, `-ie`, `-ine`, `-elle`, …).
const FEMININE: [&str; 16] = [
    "a", "e", "ie", "ia", "ina", "ine", "elle", "ella", "ette", "etta", "enne", "anie", "le",
    "lle", "icia", "ita",
];
/// Endings of the masculine forms they are paired with (none, `-o`, `-us`, `-en`, …).
const MASCULINE: [&str; 11] = [
    "", "o", "us", "is", "en", "er", "an", "ian", "io", "k", "os",
];
/// The shortest stem two gendered forms must share.
const MIN_STEM: usize = 3;

/// True when `a` and `b` (normalised, lowercase) are the masculine and feminine forms of one
/// name: for some shared stem of at least [`MIN_STEM`] letters, one remainder is a masculine
/// ending and the other a feminine one.
pub fn forms_of_one_name(a: &str, b: &str) -> bool {
    if a == b || !a.is_ascii() || !b.is_ascii() {
        return false;
    }
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    (MIN_STEM..=common).rev().any(|stem| {
        let (ra, rb) = (&a[stem..], &b[stem..]);
        (MASCULINE.contains(&ra) && FEMININE.contains(&rb))
            || (FEMININE.contains(&ra) && MASCULINE.contains(&rb))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_gendered_forms() {
        for (a, b) in [
            ("stephen", "stephanie"),
            ("daniel", "danielle"),
            ("christian", "christine"),
            ("patrick", "patricia"),
            ("paul", "paula"),
            ("antonio", "antonia"),
            ("louis", "louise"),
            ("gabriel", "gabrielle"),
            ("mario", "maria"),
        ] {
            assert!(forms_of_one_name(a, b), "{a}/{b}");
            assert!(forms_of_one_name(b, a), "{b}/{a}");
        }
    }

    #[test]
    fn typos_and_other_names_are_not_gendered_forms() {
        for (a, b) in [
            ("stephanie", "stephagir"),
            ("mike", "myke"),
            ("stephanie", "stephanie"),
            ("ronald", "rhonda"),
            ("jo", "joe"),
            ("", "a"),
            ("michele", "michelle"),
            ("isabelle", "isabeel"),
        ] {
            assert!(!forms_of_one_name(a, b), "{a}/{b}");
        }
    }
}
