//! Notes a key repeated in any JSON object while the stream cuts a list item out of its input
//! ([`super::json_stream::value_end`] already walks every string of it), so the typed decode of
//! the usual item needs neither a separate scan nor a wrapped deserializer.

use std::collections::HashSet;

/// Above this many keys, an object's fingerprints are kept in a hash set instead of a list.
const LIST_KEYS: usize = 32;

/// A cheap fingerprint of a key: its length and its first and last eight bytes, mixed (shorter
/// keys are read whole, by overlapping loads rather than a copy).
fn fingerprint(k: &[u8]) -> u64 {
    let n = k.len();
    let u64_at = |i: usize| k.get(i..i + 8).map_or(0, |b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let u32_at = |i: usize| k.get(i..i + 4).map_or(0, |b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let (a, z) = match n {
        8.. => (u64_at(0), u64_at(n - 8)),
        4..8 => (u32_at(0) | u32_at(n - 4) << 32, 0),
        1..4 => (u64::from(k[0]) | u64::from(k[n / 2]) << 8 | u64::from(k[n - 1]) << 16, 0),
        0 => (0, 0),
    };
    a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ z.rotate_left(29).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ n as u64
}

/// The key fingerprints of the objects open in one value. Two keys of one object with the same
/// fingerprint count as repeated, and so does a key written with an escape: a rare false alarm
/// only sends the item to the exact path, which decides as a full parse does.
#[derive(Default)]
pub struct KeyNotes {
    /// Fingerprints of the open objects' keys, innermost last.
    keys: Vec<u64>,
    /// Where each open object's fingerprints start in `keys`, and a 64-bit filter of them (one
    /// bit per fingerprint): a key whose bit is clear is new without a look at the list.
    starts: Vec<(usize, u64)>,
    /// Large open objects (by depth), whose fingerprints moved to a set.
    large: Vec<(usize, HashSet<u64>)>,
    /// True when some object (may have) repeated a key.
    repeated: bool,
}

impl KeyNotes {
    /// Forgets everything: a new value begins (or the same one is scanned again after a refill).
    pub fn reset(&mut self) {
        self.keys.clear();
        self.starts.clear();
        self.large.clear();
        self.repeated = false;
    }

    /// True when an object of the value may repeat a key (or a key could not be compared).
    pub fn repeated(&self) -> bool {
        self.repeated
    }

    /// An object opens.
    #[inline]
    pub fn open(&mut self) {
        self.starts.push((self.keys.len(), 0));
    }

    /// The innermost open object closes.
    #[inline]
    pub fn close(&mut self) {
        if self.large.last().is_some_and(|(depth, _)| *depth == self.starts.len()) {
            self.large.pop();
        }
        if let Some((start, _)) = self.starts.pop() {
            self.keys.truncate(start);
        }
    }

    /// A key of the innermost open object, as written between its quotes; `escaped` when it
    /// holds a backslash (its bytes are not what it means, so it is not compared).
    #[inline]
    pub fn note(&mut self, key: &[u8], escaped: bool) {
        let depth = self.starts.len();
        let Some((start, filter)) = self.starts.last_mut() else { return };
        let start = *start;
        if escaped {
            self.repeated = true;
            return;
        }
        let fp = fingerprint(key);
        let bit = 1u64 << (fp >> 58);
        let maybe_seen = *filter & bit != 0;
        *filter |= bit;
        if let Some((d, set)) = self.large.last_mut()
            && *d == depth
        {
            self.repeated |= !set.insert(fp);
            return;
        }
        if maybe_seen && self.keys[start..].contains(&fp) {
            self.repeated = true;
            return;
        }
        self.keys.push(fp);
        if self.keys.len() - start > LIST_KEYS {
            let set = self.keys.drain(start..).collect();
            self.large.push((depth, set));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a sequence of events: `{`, `}`, or a key.
    fn run(events: &[&str]) -> bool {
        let mut notes = KeyNotes::default();
        for e in events {
            match *e {
                "{" => notes.open(),
                "}" => notes.close(),
                key => notes.note(key.as_bytes(), key.contains('\\')),
            }
        }
        notes.repeated()
    }

    #[test]
    fn a_key_repeats_only_within_one_object_and_escapes_count_as_doubt() {
        assert!(!run(&["{", "a", "{", "a", "}", "b", "}"]));
        assert!(run(&["{", "a", "{", "x", "}", "a", "}"]));
        assert!(run(&["{", "a", "\\u0061", "}"]));
        assert!(!run(&["{", "kubectl.kubernetes.io/restartedAt", "kubectl.kubernetes.io/last-applied-configuration", "}"]));
    }

    #[test]
    fn fingerprints_of_short_keys_read_every_byte() {
        let keys: Vec<String> = (0u8..=255)
            .flat_map(|a| [String::new(), format!("{}", a as char), format!("x{}", a as char), format!("{}yz", a as char)])
            .collect();
        let distinct_keys: HashSet<&String> = keys.iter().collect();
        let distinct_fps: HashSet<u64> = distinct_keys.iter().map(|k| fingerprint(k.as_bytes())).collect();
        assert_eq!(distinct_keys.len(), distinct_fps.len());
        for n in 0..8 {
            let a = vec![b'a'; n];
            for i in 0..n {
                let mut b = a.clone();
                b[i] = b'b';
                assert_ne!(fingerprint(&a), fingerprint(&b), "length {n}, byte {i}");
            }
        }
    }

    #[test]
    fn large_objects_switch_to_a_set_and_still_find_repeats() {
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let mut events: Vec<&str> = vec!["{"];
        events.extend(keys.iter().map(String::as_str));
        events.push("}");
        assert!(!run(&events));
        events.insert(events.len() - 1, "k7");
        assert!(run(&events));
        // An object nested in a large one has its own keys; the large one's stay in force after it.
        let mut nested: Vec<&str> = vec!["{"];
        nested.extend(keys[..100].iter().map(String::as_str));
        nested.extend(["inner", "{", "k1", "}", "k3", "}"]);
        assert!(run(&nested));
        let n = nested.len();
        nested[n - 2] = "z";
        assert!(!run(&nested));
    }
}
