//! Streams a JSON input without holding it: top-level members are handed over whole, and the
//! elements of a top-level `items` array one at a time, each as its own bytes (decoded later with
//! `serde_json::from_slice`, which validates it fully).

use super::dup_keys::KeyNotes;
use std::io::{self, Read};

/// Where a JSON value ends, as far as the bytes at hand tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The value ends just before this index.
    End(usize),
    /// The bytes run out first.
    Incomplete,
}

fn string_end(b: &[u8], start: usize) -> Scan {
    string_end_escaped(b, start).0
}

/// As [`string_end`], and whether the string holds an escape.
fn string_end_escaped(b: &[u8], start: usize) -> (Scan, bool) {
    let mut k = start + 1;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[k.min(b.len())..]) {
            None => return (Scan::Incomplete, escaped),
            Some(off) if b[k + off] == b'\\' => {
                escaped = true;
                k += off + 2;
            }
            Some(off) => return (Scan::End(k + off + 1), escaped),
        }
    }
}

/// Finds the end of the value starting at `b[start]` (not whitespace), noting the keys of every
/// object in it in `keys` (reset first). Structure is only tracked, not validated: serde_json
/// validates each value afterwards.
pub fn value_end(b: &[u8], start: usize, at_eof: bool, keys: &mut KeyNotes) -> Scan {
    keys.reset();
    match b.get(start) {
        None => Scan::Incomplete,
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = start;
            while j < b.len() {
                match b[j] {
                    // memchr finds each string's end; measured faster than a byte loop here.
                    b'"' => {
                        let (Scan::End(e), escaped) = string_end_escaped(b, j) else { return Scan::Incomplete };
                        // In JSON, a string followed by `:` is a key of the innermost open object.
                        let next = skip_ws(b, e);
                        if b.get(next) == Some(&b':') {
                            keys.note(&b[j + 1..e - 1], escaped);
                        }
                        j = next;
                        continue;
                    }
                    // Indentation: runs of spaces are skipped eight at a time.
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        j = skip_ws(b, j);
                        continue;
                    }
                    b'{' => {
                        keys.open();
                        depth += 1;
                    }
                    b'[' => depth += 1,
                    b'}' | b']' => {
                        if b[j] == b'}' {
                            keys.close();
                        }
                        depth -= 1;
                        if depth == 0 {
                            return Scan::End(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Scan::Incomplete
        }
        Some(_) => match b[start..].iter().position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')) {
            Some(p) => Scan::End(start + p),
            None if at_eof => Scan::End(b.len()),
            None => Scan::Incomplete,
        },
    }
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    loop {
        if let Some(&[c0, c1, c2, c3, c4, c5, c6, c7]) = b.get(i..i + 8) {
            let other = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]) ^ SPACES;
            if other == 0 {
                i += 8;
                continue;
            }
            i += (other.trailing_zeros() / 8) as usize;
        }
        match b.get(i) {
            Some(b' ' | b'\n' | b'\r' | b'\t') => i += 1,
            _ => return i,
        }
    }
}

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
                let colon = skip_ws(b, e);
                if depth > 0 && b.get(colon) == Some(&b':') {
                    let raw = &b[j + 1..e - 1];
                    let key = if raw.contains(&b'\\') {
                        serde_json::from_slice::<String>(&b[j..e]).map_or(std::borrow::Cow::Borrowed(raw), |s| s.into_bytes().into())
                    } else {
                        std::borrow::Cow::Borrowed(raw)
                    };
                    if depth == 1 && matches!(&*key, b"apiVersion" | b"kind") {
                        let v = skip_ws(b, colon + 1);
                        let value = match value_end(b, v, true, &mut KeyNotes::default()) {
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

/// What the stream yields.
#[derive(Debug)]
pub enum Event {
    /// A top-level value begins (1-based index), on this line.
    Begin(usize, usize),
    /// A member of the top-level object other than `items`, with its value and line.
    Member(String, Taken, usize),
    /// One element of `items`, with the line it starts on.
    Item(Taken, usize),
    /// The top-level value ended.
    End,
}

/// A value cut out of the stream.
#[derive(Debug)]
pub struct Taken {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// True when an object in it may repeat a key (see [`KeyNotes`]); false means none does.
    pub repeated: bool,
}

/// A malformed stream: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// 1-based line.
    pub line: usize,
    /// What was expected.
    pub message: String,
}

/// Reads a JSON stream in large chunks and emits [`Event`]s.
pub struct Stream<R: Read> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    line: usize,
    /// The keys of the value being cut out.
    keys: KeyNotes,
}

const CHUNK: usize = 4 << 20;

impl<R: Read> Stream<R> {
    /// A stream over `r`.
    pub fn new(r: R) -> Self {
        Stream { r, buf: Vec::with_capacity(CHUNK), pos: 0, eof: false, line: 1, keys: KeyNotes::default() }
    }

    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        // read_to_end fills spare capacity without zeroing it first; reserving exactly keeps the
        // buffer near one chunk instead of letting it double.
        self.buf.reserve_exact(CHUNK);
        let n = (&mut self.r).take(CHUNK as u64).read_to_end(&mut self.buf)?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    fn advance(&mut self, to: usize) {
        self.line += memchr::memchr_iter(b'\n', &self.buf[self.pos..to]).count();
        self.pos = to;
    }

    /// The next non-whitespace byte (not consumed), or None at the end.
    fn peek(&mut self) -> Result<Option<u8>, io::Error> {
        loop {
            let i = skip_ws(&self.buf, self.pos);
            self.advance(i);
            if i < self.buf.len() {
                return Ok(Some(self.buf[i]));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Takes the value at the current position (after whitespace), refilling as needed.
    fn take_value(&mut self) -> Result<Taken, Failure> {
        if self.peek()?.is_none() {
            return Err(self.fail("unexpected end of input"));
        }
        loop {
            match value_end(&self.buf, self.pos, self.eof, &mut self.keys) {
                Scan::End(e) => {
                    let bytes = self.buf[self.pos..e].to_vec();
                    self.advance(e);
                    return Ok(Taken { bytes, repeated: self.keys.repeated() });
                }
                Scan::Incomplete => {
                    if !self.fill()? {
                        return Err(self.fail("unexpected end of input inside a value"));
                    }
                }
            }
        }
    }

    fn consume(&mut self, c: u8, what: &str) -> Result<(), Failure> {
        match self.peek()? {
            Some(b) if b == c => {
                self.advance(self.pos + 1);
                Ok(())
            }
            Some(b) => Err(self.fail(&format!("expected {what}, found {:?}", b as char))),
            None => Err(self.fail(&format!("expected {what}, found the end of input"))),
        }
    }

    fn fail(&self, message: &str) -> Failure {
        Failure::Malformed(StreamError { line: self.line, message: message.to_string() })
    }

    /// Inside an object or array: false (consumed) at `close`, else true after the separating
    /// comma, positioned at the next entry.
    fn next_entry(&mut self, close: u8, first: &mut bool, what: &str) -> Result<bool, Failure> {
        if self.peek()? == Some(close) {
            self.advance(self.pos + 1);
            return Ok(false);
        }
        if !std::mem::replace(first, false) {
            self.consume(b',', what)?;
        }
        self.peek()?;
        Ok(true)
    }

    /// Runs through the whole input, calling `on` for each event.
    pub fn run(&mut self, mut on: impl FnMut(Event)) -> Result<(), Failure> {
        let mut index = 0;
        while self.peek()?.is_some() {
            index += 1;
            on(Event::Begin(index, self.line));
            self.consume(b'{', "a JSON object")?;
            let mut first = true;
            while self.next_entry(b'}', &mut first, "',' or '}'")? {
                let line = self.line;
                let key_bytes = self.take_value()?.bytes;
                let key: String = serde_json::from_slice(&key_bytes).map_err(|_| self.fail("expected a member name"))?;
                self.consume(b':', "':'")?;
                if key == "items" && self.peek()? == Some(b'[') {
                    self.advance(self.pos + 1);
                    let mut first_item = true;
                    while self.next_entry(b']', &mut first_item, "',' or ']'")? {
                        let line = self.line;
                        let item = self.take_value()?;
                        on(Event::Item(item, line));
                    }
                } else {
                    let value = self.take_value()?;
                    on(Event::Member(key, value, line));
                }
            }
            on(Event::End);
        }
        Ok(())
    }
}

/// Why a stream stopped.
#[derive(Debug)]
pub enum Failure {
    /// Reading failed.
    Io(io::Error),
    /// The input is not what a Kubernetes JSON document looks like.
    Malformed(StreamError),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<String> {
        let mut out = vec![];
        let mut s = Stream::new(text.as_bytes());
        let r = s.run(|e| {
            out.push(match e {
                Event::Begin(i, _) => format!("begin {i}"),
                Event::Member(k, v, _) => format!("{k}={}", String::from_utf8_lossy(&v.bytes)),
                Event::Item(v, line) => format!("item@{line} {}", String::from_utf8_lossy(&v.bytes)),
                Event::End => "end".into(),
            })
        });
        if let Err(Failure::Malformed(e)) = r {
            out.push(format!("error@{} {}", e.line, e.message));
        }
        out
    }

    #[test]
    fn splits_items_with_tricky_strings() {
        let text = "{\"apiVersion\": \"v1\",\n \"items\": [\n {\"a\": \"}]\\\"[{\"},\n {\"b\": [1, {\"c\": null}]}\n ], \"kind\": \"List\"}\n{\"kind\": \"Pod\"}";
        assert_eq!(
            events(text),
            [
                "begin 1",
                "apiVersion=\"v1\"",
                "item@3 {\"a\": \"}]\\\"[{\"}",
                "item@4 {\"b\": [1, {\"c\": null}]}",
                "kind=\"List\"",
                "end",
                "begin 2",
                "kind=\"Pod\"",
                "end"
            ]
        );
    }

    #[test]
    fn reports_truncated_input_with_its_line() {
        let e = events("{\"items\": [\n{\"a\": 1},\n{\"b\": ");
        assert_eq!(e.last().map(String::as_str), Some("error@3 unexpected end of input inside a value"));
        assert!(events("[1, 2]").last().is_some_and(|l| l.contains("expected a JSON object")));
    }

    #[test]
    fn finds_top_level_kind_only_the_last_one_and_repeated_keys() {
        let item = br#"{"metadata": {"kind": "nested"}, "kind": "Pod", "spec": {}}"#;
        let s = scan_object(item);
        assert_eq!((s.kind, s.api_version, s.duplicate), (Some("Pod".into()), None, None));
        assert_eq!(scan_object(br#"{"spec": {"kind": "x"}}"#).kind, None);
        // A repeated kind, spelt with an escape: the last one is what a decoder keeps.
        let s = scan_object(br#"{"kind": "ConfigMap", "apiVersion": 1, "kind": "Pod"}"#);
        assert_eq!((s.kind, s.api_version), (Some("Pod".into()), Some(1.into())));
        assert_eq!(s.duplicate, Some(("kind".into(), 39)));
        // Repeats at any depth; the same key in sibling objects is no repeat.
        let nested = br#"{"a": [{"x": 1}, {"x": 2}], "b": {"c": {"y": 1, "z": "y", "y": 2}}}"#;
        assert_eq!(scan_object(nested).duplicate.map(|d| d.0), Some("y".to_string()));
        let many: String = (0..100).map(|i| format!("\"k{i}\": {i}, ")).collect();
        assert_eq!(scan_object(format!("{{{many}\"k7\": 0}}").as_bytes()).duplicate.map(|d| d.0), Some("k7".to_string()));
        assert_eq!(scan_object(format!("{{{many}\"z\": 0}}").as_bytes()).duplicate, None);
    }

    /// A small deterministic generator (xorshift64*), so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// A random JSON value: objects and arrays nested a few levels, keys from a small alphabet
    /// (so repeats are common), some keys and strings with escapes, spaces around `:` or not.
    fn value(rng: &mut Rng, depth: u32, out: &mut String) {
        const KEYS: [&str; 8] = ["a", "kind", "name", "x\\u0079", "\\u0061", "spec", "containers", "k\\\"q"];
        match if depth > 3 { 2 + rng.below(2) } else { rng.below(4) } {
            0 => {
                out.push('{');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{}\"", KEYS[rng.below(KEYS.len() as u64) as usize]));
                    out.push_str([":", " : ", ":\n  "][rng.below(3) as usize]);
                    value(rng, depth + 1, out);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    value(rng, depth + 1, out);
                }
                out.push(']');
            }
            2 => out.push_str(["\"a\"", "\"{\\\"kind\\\":1}\"", "\"x:\"", "\"\\\\\""][rng.below(4) as usize]),
            _ => out.push_str(["1", "null", "true", "-2.5e3"][rng.below(4) as usize]),
        }
    }

    /// The exact answer, from a full parse: does some object repeat a key (after unescaping)?
    fn repeats(v: &str) -> bool {
        struct Exact(bool);
        impl<'de> serde::de::Visitor<'de> for &mut Exact {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let mut keys = std::collections::HashSet::new();
                while let Some(k) = map.next_key::<String>()? {
                    self.0 |= !keys.insert(k);
                    map.next_value_seed(&mut *self)?;
                }
                Ok(())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while seq.next_element_seed(&mut *self)?.is_some() {}
                Ok(())
            }
            fn visit_str<E>(self, _: &str) -> Result<(), E> {
                Ok(())
            }
            fn visit_bool<E>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_u64<E>(self, _: u64) -> Result<(), E> {
                Ok(())
            }
            fn visit_f64<E>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E>(self) -> Result<(), E> {
                Ok(())
            }
        }
        impl<'de> serde::de::DeserializeSeed<'de> for &mut Exact {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(self)
            }
        }
        let mut exact = Exact(false);
        serde::de::DeserializeSeed::deserialize(&mut exact, &mut serde_json::Deserializer::from_str(v)).expect("generated JSON is valid");
        exact.0
    }

    #[test]
    fn the_keys_noted_while_cutting_a_value_never_miss_a_repeat_a_full_parse_sees() {
        let mut rng = Rng(0x5EED_2026_1203);
        let (mut repeats_seen, mut doubts) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::from("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"spec\": ");
            value(&mut rng, 0, &mut text);
            text.push('}');
            let mut notes = KeyNotes::default();
            assert_eq!(value_end(text.as_bytes(), 0, true, &mut notes), Scan::End(text.len()), "{text}");
            let exact = repeats(&text);
            // Never a miss; a false alarm only where a key has an escape (it takes the exact path).
            assert!(!exact || notes.repeated(), "missed a repeated key in {text}");
            assert!(exact || !notes.repeated() || text.contains("\\u") || text.contains("\\\""), "false alarm in {text}");
            assert_eq!(scan_object(text.as_bytes()).duplicate.is_some(), exact, "{text}");
            repeats_seen += usize::from(exact);
            doubts += usize::from(notes.repeated() && !exact);
        }
        // The generator does exercise both sides.
        assert!(repeats_seen > 1_000 && doubts > 100 && repeats_seen + doubts < 19_000, "{repeats_seen} repeats, {doubts} doubts");
    }

    #[test]
    fn small_reads_refill_across_chunks() {
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(3).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let text = br#"{"items": [{"kind": "Pod", "x": "a\"b"}, {"kind": "Service", "spec": {"a": 1, "a": 2}}, {"b": {"a": 1}, "a": 2}]}"#;
        let mut items = vec![];
        Stream::new(Dribble(text))
            .run(|e| {
                if let Event::Item(v, _) = e {
                    items.push(v)
                }
            })
            .expect("stream");
        assert_eq!(items.len(), 3);
        assert_eq!(scan_object(&items[0].bytes).kind, Some("Pod".into()));
        // Each value is scanned again after every refill: its key notes start over each time.
        assert_eq!(items.iter().map(|t| t.repeated).collect::<Vec<_>>(), [false, true, false]);
    }
}
