//! Deterministic fake customers for `tether sandbox --records N` and demos: plausible names,
//! e-mail and phone channels, some foreign `data`. Pure (a seeded generator, no clock).

use serde_json::{Value, json};

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
    "Edsger",
    "Frances",
    "John",
    "Hedy",
    "Tim",
    "Katherine",
    "Donald",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Perlman",
    "Dijkstra",
    "Allen",
    "Backus",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Knuth",
];

/// A small xorshift generator: reproducible, good enough for fake data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let n = items.len().max(1) as u64;
        items.get((self.next() % n) as usize).copied().unwrap_or("")
    }
}

/// `count` customer bodies for [`super::GorgiasSandbox::seed_customers`].
pub fn customers(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..count)
        .map(|i| {
            let first = rng.pick(FIRST);
            let last = rng.pick(LAST);
            let email = format!(
                "{}.{}{}@example.com",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                i
            );
            let mut channels = vec![json!({"type": "email", "address": email, "preferred": true})];
            if rng.next() % 3 != 0 {
                let phone = format!("+1555{:07}", rng.next() % 10_000_000);
                channels.push(json!({"type": "phone", "address": phone, "preferred": true}));
            }
            let data = if rng.next() % 4 == 0 {
                json!({"shopify": {"orders_count": rng.next() % 20}})
            } else {
                Value::Null
            };
            json!({
                "name": format!("{first} {last}"),
                "email": email,
                "channels": channels,
                "data": data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_unique_emails() {
        let a = customers(50, 7);
        assert_eq!(a, customers(50, 7));
        assert_ne!(a, customers(50, 8));
        let mut emails: Vec<&str> = a.iter().map(|c| c["email"].as_str().unwrap()).collect();
        emails.sort_unstable();
        emails.dedup();
        assert_eq!(emails.len(), 50);
    }
}
