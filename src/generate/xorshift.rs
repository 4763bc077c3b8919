//! A small xorshift generator for fake data (the Gorgias sandbox's customers, the support
//! history): reproducible from its state, good enough for demos. Must never be used where
//! randomness matters (sampling for the matcher uses `rand` with a seed).

/// Xorshift64 over a non-zero state.
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `state` (made odd, so never zero).
    pub fn new(state: u64) -> Self {
        XorShift(state | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (below 1 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One of `items`, or `""` when there is none.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len() as u64) as usize)
            .copied()
            .unwrap_or("")
    }
}
