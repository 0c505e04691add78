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
mod tests;
