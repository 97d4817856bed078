//! The one hash behind the test partition and every seeded generator.
//!
//! It is written out here (FNV-1a 64 followed by the SplitMix64 finalizer)
//! rather than taken from a crate, because it decides which items are held
//! out: a change in a dependency must never move an item across the
//! train/test boundary. `tests/partition.rs` pins known values.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A part of a hashed tuple. Parts are length-prefixed so that
/// ("ab", "c") and ("a", "bc") hash differently.
pub enum Part<'a> {
    Str(&'a str),
    U64(u64),
}

/// Stable 64-bit hash of a tuple of parts.
pub fn stable_hash(parts: &[Part<'_>]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    for part in parts {
        match part {
            Part::Str(s) => {
                feed(&[0x01]);
                feed(&(s.len() as u64).to_le_bytes());
                feed(s.as_bytes());
            }
            Part::U64(v) => {
                feed(&[0x02]);
                feed(&v.to_le_bytes());
            }
        }
    }
    splitmix64(h)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Held-out share of every task's item space, in per mille.
pub const TEST_PER_MILLE: u64 = 100;

/// Whether the item with this content key belongs to the test partition.
/// `family` is the task whose item space the key lives in (`word_ood`
/// shares `word`'s), so that a key means the same item everywhere.
pub fn is_test_key(family: &str, key: &str) -> bool {
    is_test_key_at(family, key, TEST_PER_MILLE)
}

/// [`is_test_key`] with another held-out share (`hop` holds out half of its
/// two-hop questions: see `tasks/hop.rs`).
pub fn is_test_key_at(family: &str, key: &str, per_mille: u64) -> bool {
    stable_hash(&[Part::Str("partition-v1"), Part::Str(family), Part::Str(key)]) % 1000 < per_mille
}

/// A generator seeded from a tuple, so that streams, items and exemplars
/// never share random numbers by accident.
pub fn rng_for(parts: &[Part<'_>]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stable_hash(parts))
}
