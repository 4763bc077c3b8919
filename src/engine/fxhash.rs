//! A fast non-cryptographic hasher (FxHash) for the engine's lookup maps, which SipHash
//! dominated at a million records.
//!
//! Owns only the hasher. Must never be used where an attacker choosing keys could degrade a
//! long-running service; the engine's maps live for one planning run.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The FxHash hasher (rotate, xor, multiply per 8-byte word).
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
}

/// A `HashMap` with [`Fx`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// A `HashSet` with [`Fx`].
pub type FxSet<K> = HashSet<K, BuildHasherDefault<Fx>>;

/// An empty [`FxMap`] with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FxMap<K, V> {
    FxMap::with_capacity_and_hasher(n, Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_hash_differs_by_content() {
        let mut m: FxMap<&str, u32> = map_with_capacity(4);
        m.insert("a@x.co", 1);
        m.insert("b@x.co", 2);
        assert_eq!(m.get("a@x.co"), Some(&1));
        let h = |s: &str| {
            let mut f = Fx::default();
            f.write(s.as_bytes());
            f.finish()
        };
        assert_ne!(
            h("customer1@shop.example.com"),
            h("customer2@shop.example.com")
        );
    }
}
