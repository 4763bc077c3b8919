//! Deterministic fake customers for `tether sandbox --records N` and demos: plausible names,
//! e-mail and phone channels, some foreign `data`. Pure (a seeded generator, no clock).

use crate::generate::xorshift::XorShift;
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

/// `count` customer bodies for [`super::GorgiasSandbox::seed_customers`].
pub fn customers(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = XorShift::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
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
            if rng.next_u64() % 3 != 0 {
                let phone = format!("+1555{:07}", rng.next_u64() % 10_000_000);
                channels.push(json!({"type": "phone", "address": phone, "preferred": true}));
            }
            let data = if rng.next_u64() % 4 == 0 {
                json!({"shopify": {"orders_count": rng.next_u64() % 20}})
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
