//! The exact path's scan of one JSON object: its top-level `apiVersion` and `kind`, and the first
//! key repeated in any of its objects, compared after unescaping.

use super::{Gaps, Scan, skip_ws, string_end, value_end};
use crate::audit::dup_keys::KeyNotes;

/// What a byte scan of one JSON object finds: its top-level `apiVersion` and `kind` (the last
/// occurrence, which is the one a decoder keeps) and the first key repeated in any object.
#[derive(Debug, Default, PartialEq)]
pub struct ObjectScan {
    /// Top-level `apiVersion`, as a value.
    pub api_version: Option<serde_json::Value>,
    /// Top-level `kind`, as a value.
    pub kind: Option<serde_json::Value>,
    /// The first repeated key (unescaped) and the byte offset of its repetition.
    pub duplicate: Option<(String, usize)>,
}

/// The keys of one open object; a hash set takes over from the list for large objects.
#[derive(Default)]
struct Keys<'b> {
    list: Vec<std::borrow::Cow<'b, [u8]>>,
    set: Option<std::collections::HashSet<std::borrow::Cow<'b, [u8]>>>,
}

impl<'b> Keys<'b> {
    fn clear(&mut self) {
        self.list.clear();
        self.set = None;
    }
    /// Adds a key; gives it back when it was already there.
    fn insert(&mut self, k: std::borrow::Cow<'b, [u8]>) -> Option<std::borrow::Cow<'b, [u8]>> {
        if let Some(set) = &mut self.set {
            if set.contains(&k) {
                return Some(k);
            }
            set.insert(k);
            return None;
        }
        if self.list.contains(&k) {
            return Some(k);
        }
        self.list.push(k);
        if self.list.len() > 32 {
            self.set = Some(self.list.drain(..).collect());
        }
        None
    }
}

/// Scans the JSON object in `b` (structure only: serde_json validates it when it is decoded).
pub fn scan_object(b: &[u8]) -> ObjectScan {
    let mut out = ObjectScan::default();
    // The keys of each open object, by depth (reused between sibling objects). Arrays need no
    // tracking: in JSON, a string followed by `:` is always a key of the innermost open object.
    let mut frames: Vec<Keys<'_>> = vec![];
    let mut depth = 0;
    let mut j = 0;
    while let Some(off) = memchr::memchr3(b'"', b'{', b'}', &b[j..]) {
        j += off;
        match b[j] {
            b'"' => {
                let Scan::End(e) = string_end(b, j) else { break };
                let colon = skip_ws::<true>(b, e);
                if depth > 0 && b.get(colon) == Some(&b':') {
                    let raw = &b[j + 1..e - 1];
                    let key = if raw.contains(&b'\\') {
                        serde_json::from_slice::<String>(&b[j..e]).map_or(std::borrow::Cow::Borrowed(raw), |s| s.into_bytes().into())
                    } else {
                        std::borrow::Cow::Borrowed(raw)
                    };
                    if depth == 1 && matches!(&*key, b"apiVersion" | b"kind") {
                        let v = skip_ws::<true>(b, colon + 1);
                        let value = match value_end(b, v, true, &mut KeyNotes::default(), &mut Gaps::default()) {
                            Scan::End(end) => serde_json::from_slice(&b[v..end]).ok(),
                            Scan::Incomplete => None,
                        };
                        *(if &*key == b"kind" { &mut out.kind } else { &mut out.api_version }) = value;
                    }
                    if let Some(again) = frames[depth - 1].insert(key)
                        && out.duplicate.is_none()
                    {
                        out.duplicate = Some((String::from_utf8_lossy(&again).into_owned(), j));
                    }
                    j = colon + 1;
                } else {
                    j = e;
                }
            }
            b'{' => {
                if frames.len() == depth {
                    frames.push(Keys::default());
                }
                frames[depth].clear();
                depth += 1;
                j += 1;
            }
            _ => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
                j += 1;
            }
        }
    }
    out
}
