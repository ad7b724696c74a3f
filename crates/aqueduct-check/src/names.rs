//! Maps keyed by declared names, for the checker's lookups.
//!
//! The checker looks names up far more often than it lists them (every
//! record literal, path, type and operation call resolves a name), and
//! ordered maps with `String` keys spent most of a lookup comparing strings
//! along a tree path. These maps hash the name once with the small
//! multiply-rotate hash rustc uses for its own tables (FxHash: not resistant
//! to chosen collisions, which does not matter for names read from the
//! user's own project) and compare one key.
//!
//! Wherever the checker walks a map (to lower declarations, or to suggest a
//! name), [`Names::sorted`] gives the entries in name order, as the ordered
//! maps did, so output and suggestions do not depend on hashing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash: `hash = (hash.rotl(5) ^ word) * K` per 8-byte word.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A hash map with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Declarations (or anything else) by name; lists in name order.
#[derive(Debug)]
pub(crate) struct Names<'a, V> {
    map: FxHashMap<&'a str, V>,
}

impl<V> Default for Names<'_, V> {
    fn default() -> Self {
        Names {
            map: FxHashMap::default(),
        }
    }
}

impl<'a, V> Names<'a, V> {
    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.map.get(name)
    }

    /// True when `name` is declared.
    pub fn contains_key(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Adds `value` under `name` unless the name is taken; returns the entry
    /// that was there first.
    pub fn insert_first(&mut self, name: &'a str, value: V) -> Option<&V> {
        match self.map.entry(name) {
            std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(value);
                None
            }
        }
    }

    /// Every entry in name order.
    pub fn sorted(&self) -> Vec<(&'a str, &V)> {
        let mut out: Vec<(&'a str, &V)> = self.map.iter().map(|(k, v)| (*k, v)).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Every name in order.
    pub fn keys(&self) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = self.map.keys().copied().collect();
        out.sort_unstable();
        out
    }
}
