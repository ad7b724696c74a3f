//! Salesforce-shaped identifiers, generated deterministically.
//!
//! A record id is 15 case-sensitive characters (3-character key prefix, then
//! 12 more) plus a 3-character suffix that makes the 18-character form safe
//! for case-insensitive systems: for each 5-character chunk, bit *i* is set
//! when character *i* is an upper-case letter, and the 5-bit value indexes
//! `A–Z0–5`. The emulator numbers records per key prefix, so the first
//! Account of a seed is always `001000000000001AAA`, the second
//! `001000000000002AAA`, and ids sort in creation order.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 3-character case-safe suffix of a 15-character id.
pub fn suffix(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(SUFFIX[bits])
        })
        .collect()
}

/// The canonical 18-character form of a 15- or 18-character id, or `None`
/// when it is not an id at all (wrong length, characters, or suffix).
pub fn normalize(id: &str) -> Option<String> {
    let alnum = id.bytes().all(|c| c.is_ascii_alphanumeric());
    if !alnum {
        return None;
    }
    match id.len() {
        15 => Some(format!("{id}{}", suffix(id))),
        18 => {
            let (head, tail) = id.split_at(15);
            let expected = suffix(head);
            expected
                .eq_ignore_ascii_case(tail)
                .then(|| format!("{head}{expected}"))
        }
        _ => None,
    }
}

/// `n` in base 62, left-padded with zeros to `width` characters.
pub fn base62(mut n: u64, width: usize) -> String {
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

/// Deterministic id and token generators, one counter per key prefix.
#[derive(Debug, Default, Clone)]
pub struct IdGen {
    counters: HashMap<String, u64>,
    serial: u64,
}

impl IdGen {
    /// The next 18-character id with this 3-character key prefix.
    pub fn next(&mut self, prefix: &str) -> String {
        let n = self.counters.entry(prefix.to_string()).or_insert(0);
        *n += 1;
        let id15 = format!("{prefix}000{}", base62(*n, 9));
        format!("{id15}{}", suffix(&id15))
    }

    /// Makes sure later generated ids with this prefix do not collide with
    /// an id given explicitly (in the seed).
    pub fn reserve(&mut self, id18: &str) {
        let prefix = &id18[..3];
        let Some(tail) = id18.get(6..15) else { return };
        if &id18[3..6] != "000" {
            return;
        }
        let value = tail.bytes().try_fold(0u64, |acc, c| {
            let digit = BASE62.iter().position(|&b| b == c)? as u64;
            acc.checked_mul(62)?.checked_add(digit)
        });
        if let Some(value) = value {
            let n = self.counters.entry(prefix.to_string()).or_insert(0);
            *n = (*n).max(value);
        }
    }

    /// A fresh serial number (tokens, client ids, transaction keys).
    pub fn serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A deterministic UUID-shaped string (version 4 layout) for `kind`.
    pub fn uuid(&mut self, kind: &str) -> String {
        let n = self.serial();
        uuid_of(&format!("{kind}:{n}"))
    }
}

/// A UUID-shaped string derived from `seed` (SHA-256, version 4 layout).
pub fn uuid_of(seed: &str) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A 22-character URL-safe id derived from `seed` (event schema ids).
pub fn short_hash(seed: &str) -> String {
    use base64::Engine;
    let hash = Sha256::digest(seed.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_matches_documented_ids() {
        // The conversion Salesforce's knowledge base walks through.
        assert_eq!(
            normalize("001A0000006Vm9r").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(
            normalize("001a0000006vm9r").as_deref(),
            Some("001a0000006vm9rAAA")
        );
    }

    #[test]
    fn eighteen_character_ids_are_checked_case_insensitively() {
        assert_eq!(
            normalize("001A0000006Vm9riac").as_deref(),
            Some("001A0000006Vm9rIAC")
        );
        assert_eq!(normalize("001A0000006Vm9rAAA"), None);
        assert_eq!(normalize("001A0000006Vm9"), None);
        assert_eq!(normalize("001A0000006Vm9r-AC"), None);
    }

    #[test]
    fn generated_ids_are_deterministic_and_ordered() {
        let mut ids = IdGen::default();
        let a = ids.next("001");
        let b = ids.next("001");
        let c = ids.next("003");
        assert_eq!(a, "001000000000001AAA");
        assert_eq!(b, "001000000000002AAA");
        assert_eq!(c, "003000000000001AAA");
        assert!(a < b);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        let mut later = IdGen::default();
        later.reserve("001000000000Z00AAA");
        assert!(later.next("001").as_str() > "001000000000Z00AAA");
    }

    #[test]
    fn uuids_are_shaped_like_uuids() {
        let u = uuid_of("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(short_hash("Account").len(), 22);
    }
}
