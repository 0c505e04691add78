//! What a document is, by a full parse: its `apiVersion` and `kind` exactly as the parser reads
//! them (tags, escapes, anchors, block scalars, flow style, explicit keys...), and in the same
//! pass the rest of the mapping decoded as that kind.

use super::kinds::{Judged, Parsed, decode_kind, is_list_kind, judged, skipped_key};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// What a document turned out to be.
#[derive(Debug)]
pub enum Identified {
    /// An object of a judged kind, decoded.
    Object(Parsed),
    /// An object of a judged kind whose `apiVersion`/`kind` came after fields it needs: the
    /// caller decodes the document again as this kind.
    Again(Judged),
    /// A list (`kind: List` or `*List`): its apiVersion, kind and items.
    List {
        /// The list's apiVersion.
        api_version: String,
        /// The list's kind.
        kind: String,
        /// Its items, as generic values.
        items: Vec<Value>,
    },
    /// An object of a kind not judged, by its `group/kind` key.
    Skip(String),
    /// Not a Kubernetes object (no `apiVersion` or no `kind`).
    NotObject,
}

/// The name of a top-level key, as far as identification cares.
enum Key {
    Api,
    Kind,
    Items,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "apiVersion" => Key::Api,
                    "kind" => Key::Kind,
                    "items" => Key::Items,
                    _ => Key::Other,
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Key::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Key::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// `apiVersion` or `kind` as read: absent (or null), a string, or something else.
fn head_string<E: de::Error>(field: &str, v: Option<&Value>) -> Result<Option<String>, E> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(E::custom(format!("{field} must be a string, found {other}"))),
    }
}

/// Both `apiVersion` and `kind`, when both are given (each must then be a string).
fn head<E: de::Error>(api: Option<&Value>, kind: Option<&Value>) -> Result<Option<(String, String)>, E> {
    if api.is_none_or(Value::is_null) || kind.is_none_or(Value::is_null) {
        return Ok(None);
    }
    Ok(head_string("apiVersion", api)?.zip(head_string("kind", kind)?))
}

fn list_items<E: de::Error>(v: Option<Value>) -> Result<Vec<Value>, E> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(E::custom(format!("items must be a list, found {other}"))),
    }
}

fn drain<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct IdentifyVisitor;

impl<'de> Visitor<'de> for IdentifyVisitor {
    type Value = Identified;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Identified, A::Error> {
        let (mut api, mut kind, mut items): (Option<Value>, Option<Value>, Option<Value>) = (None, None, None);
        // True once a key that a kind's decoder may need was passed over before the head was known.
        let mut passed = false;
        loop {
            if !passed && let Some((a, k)) = head::<A::Error>(api.as_ref(), kind.as_ref())? {
                // The rest of the mapping is decoded as what the head says, in this same pass.
                return if let Some(j) = judged(&a, &k) {
                    decode_kind(j, MapAccessDeserializer::new(map)).map(Identified::Object)
                } else if is_list_kind(&k) {
                    let items = match items {
                        Some(v) => {
                            drain(map)?;
                            list_items(Some(v))?
                        }
                        None => super::kinds::ListDoc::deserialize(MapAccessDeserializer::new(map))?.items,
                    };
                    Ok(Identified::List { api_version: a, kind: k, items })
                } else {
                    drain(map)?;
                    Ok(Identified::Skip(skipped_key(&a, &k)))
                };
            }
            let Some(key) = map.next_key::<Key>()? else { break };
            match key {
                Key::Api => api = Some(map.next_value()?),
                Key::Kind => kind = Some(map.next_value()?),
                // Kept for a list whose `kind` comes later (kubectl sorts `items` before `kind`).
                Key::Items => items = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    passed = true;
                }
            }
        }
        Ok(match head::<A::Error>(api.as_ref(), kind.as_ref())? {
            None => Identified::NotObject,
            Some((a, k)) => match judged(&a, &k) {
                Some(j) => Identified::Again(j),
                None if is_list_kind(&k) => Identified::List { api_version: a, kind: k, items: list_items(items)? },
                None => Identified::Skip(skipped_key(&a, &k)),
            },
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Identified, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Identified::NotObject)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_none<E: de::Error>(self) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Identified, E> {
        Ok(Identified::NotObject)
    }
}

/// Identifies (and, for a judged kind, decodes) one document.
pub struct Identify;

impl crate::yaml::Decode for Identify {
    type Out = Identified;
    fn run<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Identified, D::Error> {
        // Entered as a struct: a repeated top-level key is then resolved by the parser (the last
        // value wins) before this visitor sees the mapping.
        d.deserialize_struct("Object", &["apiVersion", "kind", "items"], IdentifyVisitor)
    }
}

/// `apiVersion`, `kind` and `metadata.name` read leniently, to name an object in an error.
#[derive(Debug, Default, Deserialize)]
pub struct Naming {
    /// kind, when a string.
    #[serde(default, deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// metadata.name, when a string.
    #[serde(default)]
    pub metadata: NamingMeta,
}

/// `metadata` of [`Naming`].
#[derive(Debug, Default)]
pub struct NamingMeta {
    /// name, when a string.
    pub name: Option<String>,
}

impl<'de> Deserialize<'de> for NamingMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(NamingMeta { name: v.get("name").and_then(Value::as_str).map(str::to_string) })
    }
}

fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Value::deserialize(d)?.as_str().map(str::to_string))
}

impl Naming {
    /// `Kind/name`, when both are known.
    pub fn object(&self) -> Option<String> {
        Some(format!("{}/{}", self.kind.as_deref()?, self.metadata.name.as_deref()?))
    }
}
