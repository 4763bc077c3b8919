//! Whether an e-mail's mailbox name (its local part) is built from the names of the two
//! records being compared (`cmiller`, `dakota.davis`, `jonesfamily`) or says something the
//! names do not (`donohue91`, `bluebird`). The same name-built mailbox at another domain is
//! what two namesakes, or two relatives sharing a family mailbox, get from the same habit of
//! spelling addresses, so it is no independent evidence that they are one person; a
//! distinctive one is. Pure; must never weigh or score (see `compare`).

/// Words a shared household mailbox adds to a surname (`jonesfamily`, `thesmiths`): a small
/// general table of English, not a list drawn from any data set.
const HOUSEHOLD_WORDS: [&str; 6] = ["family", "fam", "the", "home", "house", "s"];

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
    // reachable[i]: the first i letters are a sequence of pieces.
    let mut reachable = vec![false; letters.len() + 1];
    reachable[0] = true;
    for i in 0..letters.len() {
        if !reachable[i] {
            continue;
        }
        for piece in &pieces {
            if letters[i..].starts_with(piece) {
                reachable[i + piece.len()] = true;
            }
        }
    }
    reachable[letters.len()] && pieces_needed_a_name(&letters, names)
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
        let one_sided = ["", "jones", "matthew", "jones"];
        assert!(built_from_names("jonesfamily", &one_sided));
        assert!(built_from_names("andremolinafamily", &["", "andremolina"]));
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
