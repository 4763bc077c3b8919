//! Whether an e-mail's mailbox name (its local part) is built from the names of the two
//! records being compared (`cmiller`, `dakota.davis`, `jonesfamily`) or says something the
//! names do not (`donohue91`, `bluebird`). The same name-built mailbox at another domain is
//! what two namesakes, or two relatives sharing a family mailbox, get from the same habit of
//! spelling addresses, so it is no independent evidence that they are one person; a
//! distinctive one is. Pure; must never weigh or score (see `compare`).

/// Words a shared household mailbox adds to a surname (`jonesfamily`, `thesmiths`): a small
/// general table of English, not a list drawn from any data set.
const HOUSEHOLD_WORDS: [&str; 5] = ["family", "fam", "the", "home", "house"];

/// True when `local` (a normalised mailbox name) spells nothing but pieces of `names`
/// (normalised given and family names of both records, empty ones ignored), their initials
/// and household words, joined by `.`, `_` or `-` or nothing. Digits or any other letters
/// make a mailbox distinctive (false); so does an empty one.
pub fn built_from_names(local: &str, names: &[&str]) -> bool {
    let letters: Vec<u8> = local
        .bytes()
        .filter(|b| !matches!(b, b'.' | b'_' | b'-'))
        .collect();
    if letters.is_empty() || !letters.iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let mut pieces: Vec<&[u8]> = HOUSEHOLD_WORDS.iter().map(|w| w.as_bytes()).collect();
    for name in names.iter().filter(|n| !n.is_empty()) {
        pieces.push(name.as_bytes());
        pieces.push(&name.as_bytes()[..1]);
    }
    spelt_from(&letters, &pieces) && pieces_needed_a_name(&letters, names)
}

/// True when `local` (a normalised mailbox name) is a household's shared mailbox: the
/// `surname` (normalised) with household words and nothing else but digits (`smithfamily`,
/// `thesmiths`, `smith.home`, `smithfamily2`: a number the provider added), so no given
/// name says whose it is. An exact agreement on
/// one says "same household", not "same person".
pub fn is_household(local: &str, surname: &str) -> bool {
    let letters: Vec<u8> = local
        .bytes()
        .filter(|b| !matches!(b, b'.' | b'_' | b'-') && !b.is_ascii_digit())
        .collect();
    let surname = surname.as_bytes();
    if surname.len() < 2 || letters.len() <= surname.len() {
        return false;
    }
    let mut pieces: Vec<&[u8]> = HOUSEHOLD_WORDS.iter().map(|w| w.as_bytes()).collect();
    pieces.push(surname);
    spelt_from(&letters, &pieces) && letters.windows(surname.len()).any(|w| w == surname)
}

/// True when `letters` are a sequence of `pieces`, allowing a final plural `s`
/// (`thesmiths`).
fn spelt_from(letters: &[u8], pieces: &[&[u8]]) -> bool {
    // reachable[i]: the first i letters are a sequence of pieces.
    let mut reachable = vec![false; letters.len() + 1];
    reachable[0] = true;
    for i in 0..letters.len() {
        if reachable[i] {
            for piece in pieces.iter().filter(|p| !p.is_empty()) {
                if letters[i..].starts_with(piece) {
                    reachable[i + piece.len()] = true;
                }
            }
        }
    }
    let n = letters.len();
    reachable[n] || (n > 1 && letters[n - 1] == b's' && reachable[n - 1])
}

/// A mailbox spelt only from household words and initials (`thes`) is not about the names.
fn pieces_needed_a_name(letters: &[u8], names: &[&str]) -> bool {
    names
        .iter()
        .filter(|n| n.len() >= 2)
        .any(|n| letters.windows(n.len()).any(|w| w == n.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_built_mailboxes() {
        let names = ["christopher", "miller", "chris", "miller"];
        assert!(built_from_names("cmiller", &names));
        assert!(built_from_names("chris.miller", &names));
        assert!(built_from_names("millerfamily", &names));
        assert!(built_from_names("themillers", &names));
        assert!(built_from_names("miller", &names));
        assert!(built_from_names("swilliams", &["stephen", "williams"]));
        let one_sided = ["", "jones", "matthew", "jones"];
        assert!(built_from_names("jonesfamily", &one_sided));
        assert!(built_from_names("andremolinafamily", &["", "andremolina"]));
    }

    #[test]
    fn household_mailboxes() {
        assert!(is_household("smithfamily", "smith"));
        assert!(is_household("thesmiths", "smith"));
        assert!(is_household("smith.home", "smith"));
        assert!(!is_household("smith", "smith"));
        assert!(!is_household("jsmith", "smith"));
        assert!(!is_household("john.smith", "smith"));
        // A provider's number on a household mailbox does not make it a person's.
        assert!(is_household("smithfamily2", "smith"));
        assert!(!is_household("family", ""));
        // An initial is not a household word.
        assert!(!is_household("scoffey", "coffey"));
    }

    #[test]
    fn distinctive_mailboxes() {
        let names = ["christopher", "miller", "chris", "miller"];
        assert!(!built_from_names("miller91", &names));
        assert!(!built_from_names("bluebird", &names));
        assert!(!built_from_names("cmillerx", &names));
        assert!(!built_from_names("thefam", &names));
        assert!(!built_from_names("", &names));
        assert!(!built_from_names("cm", &names));
    }
}
