//! The nickname table: which first names can stand for one another (`bob` for `robert`).
//! Loaded from `nicknames.csv`, which the project ships (Apache-2.0, see docs/matching.md),
//! once per process. Owns lookups only; must never do I/O at run time.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("nicknames.csv");

/// Each name → the names it is directly linked to (either direction), sorted. Only direct
/// links count: the table also lists `bill` → `robert` and `bill` → `william`, so a shared
/// neighbour would wrongly make `robert` and `william` one name.
struct Nicknames {
    links: HashMap<&'static str, Vec<&'static str>>,
}

fn table() -> &'static Nicknames {
    static TABLE_CELL: OnceLock<Nicknames> = OnceLock::new();
    TABLE_CELL.get_or_init(|| {
        let mut links: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for line in TABLE.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("name1,") {
                continue;
            }
            let mut parts = line.split(',');
            let (Some(formal), Some(_), Some(nick)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            links.entry(formal).or_default().push(nick);
            links.entry(nick).or_default().push(formal);
        }
        for names in links.values_mut() {
            names.sort_unstable();
            names.dedup();
        }
        Nicknames { links }
    })
}

/// True when `a` and `b` (normalised lowercase names) are the same name or the table links
/// them directly (`bob` and `robert`, either way round).
pub fn related(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    table()
        .links
        .get(a)
        .is_some_and(|names| names.binary_search(&b).is_ok())
}

/// True when the table knows `name` as a formal name or a nickname.
pub fn known(name: &str) -> bool {
    table().links.contains_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_link_both_ways() {
        assert!(related("robert", "bob"));
        assert!(related("bob", "robert"));
        assert!(related("william", "bill"));
        assert!(related("margaret", "peggy"));
        assert!(known("elizabeth"));
    }

    #[test]
    fn different_names_are_not_related() {
        assert!(!related("robert", "william"));
        assert!(!related("eric", "erin"));
        assert!(!related("zzzz", "robert"));
        assert!(related("zzzz", "zzzz"));
    }
}
