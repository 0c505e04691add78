//! Notes a key repeated in any JSON object while a value is decoded, in the same pass: a
//! transparent `Deserializer` wrapper, so the typed decode needs no separate scan of the bytes.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Above this many keys, an object's fingerprints are kept in a hash set instead of a list.
const LIST_KEYS: usize = 32;

/// A cheap fingerprint of a key: its length and its first and last eight bytes, mixed.
fn fingerprint(k: &[u8]) -> u64 {
    let n = k.len();
    let word = |s: &[u8]| {
        let mut buf = [0u8; 8];
        buf[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(buf)
    };
    let (a, z) = if n >= 8 { (word(&k[..8]), word(&k[n - 8..])) } else { (word(k), 0) };
    a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ z.rotate_left(29).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ n as u64
}

/// The key fingerprints of the objects open during one decode. Two keys of one object with the
/// same fingerprint count as repeated: a rare false alarm only sends the item to the exact path.
#[derive(Default)]
pub struct Seen {
    /// Fingerprints of the open objects' keys, innermost last.
    keys: Vec<u64>,
    /// Where each open object's fingerprints start in `keys`.
    starts: Vec<usize>,
    /// Large open objects (by depth), whose fingerprints moved to a set.
    large: Vec<(usize, HashSet<u64>)>,
    /// True when some object (may have) repeated a key.
    pub repeated: bool,
}

impl Seen {
    fn open(&mut self) {
        self.starts.push(self.keys.len());
    }

    fn close(&mut self) {
        if self.large.last().is_some_and(|(depth, _)| *depth == self.starts.len()) {
            self.large.pop();
        }
        if let Some(start) = self.starts.pop() {
            self.keys.truncate(start);
        }
    }

    fn note(&mut self, key: &str) {
        let Some(&start) = self.starts.last() else { return };
        let fp = fingerprint(key.as_bytes());
        let depth = self.starts.len();
        if let Some((d, set)) = self.large.last_mut()
            && *d == depth
        {
            self.repeated |= !set.insert(fp);
            return;
        }
        if self.keys[start..].contains(&fp) {
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

/// Wraps a deserializer; every object met below it records its keys in `seen`.
pub struct Wrap<'s, D> {
    de: D,
    seen: &'s mut Seen,
    key: bool,
}

impl<'s, D> Wrap<'s, D> {
    /// Wraps `de` (a value, not a key).
    pub fn new(de: D, seen: &'s mut Seen) -> Self {
        Wrap { de, seen, key: false }
    }
}

struct Wrapped<'s, X> {
    inner: X,
    seen: &'s mut Seen,
    key: bool,
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Wrapped { inner: visitor, seen: self.seen, key: self.key })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Wrap<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(), deserialize_u32(),
        deserialize_u64(), deserialize_u128(), deserialize_f32(), deserialize_f64(), deserialize_char(),
        deserialize_str(), deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(), deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize), deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
    }

    /// A value the target ignores is still walked (serde_json would skip its bytes unseen), so a
    /// key repeated inside it is noted as everywhere else.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Wrapped { inner: visitor, seen: self.seen, key: self.key })
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, X: Visitor<'de>> Visitor<'de> for Wrapped<'_, X> {
    type Value = X::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64), visit_i128(i128),
        visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64), visit_u128(u128), visit_f32(f32),
        visit_f64(f64), visit_char(char), visit_bytes(&[u8]), visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.key {
            self.seen.note(v);
        }
        self.inner.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if self.key {
            self.seen.note(v);
        }
        self.inner.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if self.key {
            self.seen.note(&v);
        }
        self.inner.visit_string(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        self.inner.visit_some(Wrap::new(d, self.seen))
    }

    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        self.inner.visit_newtype_struct(Wrap::new(d, self.seen))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(Wrapped { inner: seq, seen: self.seen, key: false })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.seen.open();
        let out = self.inner.visit_map(Wrapped { inner: map, seen: &mut *self.seen, key: false });
        self.seen.close();
        out
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(Wrapped { inner: data, seen: self.seen, key: false })
    }
}

/// A seed whose deserializer is wrapped (as a key or a value).
struct Seed<'s, S> {
    seed: S,
    seen: &'s mut Seen,
    key: bool,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Wrap { de, seen: self.seen, key: self.key })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrapped<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(Seed { seed, seen: &mut *self.seen, key: false })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrapped<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(Seed { seed, seen: &mut *self.seen, key: true })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(Seed { seed, seen: &mut *self.seen, key: false })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'s, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrapped<'s, A> {
    type Error = A::Error;
    type Variant = Wrapped<'s, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
        let seen = self.seen;
        let (value, variant) = self.inner.variant_seed(Seed { seed, seen: &mut *seen, key: false })?;
        Ok((value, Wrapped { inner: variant, seen, key: false }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrapped<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed { seed, seen: self.seen, key: false })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, Wrapped { inner: visitor, seen: self.seen, key: false })
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, Wrapped { inner: visitor, seen: self.seen, key: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn repeated<'de, T: Deserialize<'de>>(text: &'de str) -> (Option<T>, bool) {
        let mut seen = Seen::default();
        let mut de = serde_json::Deserializer::from_str(text);
        let value = T::deserialize(Wrap::new(&mut de, &mut seen)).ok();
        (value, seen.repeated)
    }

    #[test]
    fn finds_a_key_repeated_at_any_depth_in_maps_structs_arrays_and_ignored_fields() {
        let cases = [
            (r#"{"a":1,"b":{"c":1,"c":2}}"#, true),
            (r#"{"a":[{"x":1},{"x":2,"y":3,"x":4}]}"#, true),
            (r#"{"kind":"Pod","metadata":{},"kind":"Secret"}"#, true),
            (r#"{"a":1,"\u0061":2}"#, true),
            (r#"{"a":{"b":1},"c":{"b":1}}"#, false),
            (r#"{"a":[{"x":1},{"x":2}],"x":{"a":{"x":1}}}"#, false),
            (r#"{"annotations":{"kubectl.kubernetes.io/restartedAt":"1","kubectl.kubernetes.io/last-applied-configuration":"2"}}"#, false),
        ];
        for (text, want) in cases {
            assert_eq!(repeated::<serde_json::Value>(text).1, want, "{text}");
            assert_eq!(repeated::<serde::de::IgnoredAny>(text).1, want, "{text}");
        }
    }

    #[test]
    fn is_transparent_for_typed_decodes_and_their_ignored_fields() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Doc {
            name: String,
            labels: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            ports: Vec<Option<u16>>,
        }
        let text = r#"{"name":"n","labels":{"a":"1","b":"2"},"ports":[80,null],"other":{"z":1,"z":2}}"#;
        let (doc, again) = repeated::<Doc>(text);
        let want =
            Doc { name: "n".into(), labels: [("a".into(), "1".into()), ("b".into(), "2".into())].into(), ports: vec![Some(80), None] };
        assert_eq!(doc, Some(want));
        assert!(again, "a repeated key inside an ignored field is still seen");
        let (_, again) = repeated::<Doc>(r#"{"name":"n","labels":{"a":"1","a":"2"}}"#);
        assert!(again);
        let (doc, again) = repeated::<Doc>(r#"{"name":"n","labels":{"a":"1"}}"#);
        assert!(doc.is_some() && !again);
    }

    #[test]
    fn large_objects_switch_to_a_set_and_still_find_repeats() {
        let mut members: Vec<String> = (0..200).map(|i| format!("\"k{i}\":{i}")).collect();
        let unique = format!("{{{}}}", members.join(","));
        assert!(!repeated::<serde_json::Value>(&unique).1);
        members.push("\"k7\":0".into());
        let with_repeat = format!("{{{}}}", members.join(","));
        assert!(repeated::<serde_json::Value>(&with_repeat).1);
        // An object nested in a large one has its own keys; the large one's stay in force after it.
        let nested =
            format!("{{{},\"inner\":{{\"k1\":1}},\"k3\":2}}", (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        assert!(repeated::<serde_json::Value>(&nested).1);
        let nested =
            format!("{{{},\"inner\":{{\"k1\":1}},\"z\":2}}", (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        assert!(!repeated::<serde_json::Value>(&nested).1);
    }
}
