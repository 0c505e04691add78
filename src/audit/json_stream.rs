//! Streams a JSON input without holding it: top-level members are handed over whole, and the
//! elements of a top-level `items` array one at a time, each as its own bytes (decoded later with
//! `serde_json::from_slice`, which validates it fully).

use super::dup_keys::KeyNotes;
use std::io::{self, Read};
use std::sync::mpsc;

mod blocks;
mod object_scan;
pub use object_scan::{ObjectScan, scan_object};

/// Where a JSON value ends, as far as the bytes at hand tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The value ends just before this index.
    End(usize),
    /// The bytes run out first.
    Incomplete,
}

fn string_end(b: &[u8], start: usize) -> Scan {
    let mut k = start + 1;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[k.min(b.len())..]) {
            None => return Scan::Incomplete,
            Some(off) if b[k + off] == b'\\' => k += off + 2,
            Some(off) => return Scan::End(k + off + 1),
        }
    }
}

/// Finds the end of the value starting at `b[start]` (not whitespace), noting the keys of every
/// object in it in `keys` and the indentation of its lines in `gaps` (both reset first).
/// Structure is only tracked, not validated: serde_json validates each value afterwards.
pub fn value_end(b: &[u8], start: usize, at_eof: bool, keys: &mut KeyNotes, gaps: &mut Gaps) -> Scan {
    keys.reset();
    gaps.clear();
    match b.get(start) {
        None => Scan::Incomplete,
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => container_end(b, start, keys, gaps),
        Some(_) => match b[start..].iter().position(|c| matches!(c, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')) {
            Some(p) => Scan::End(start + p),
            None if at_eof => Scan::End(b.len()),
            None => Scan::Incomplete,
        },
    }
}

/// The end of the object or array opening at `b[start]`, found 64 bytes at a time: each block's
/// quotes, brackets, colons and line breaks come as bit masks ([`blocks`]), strings are the bits
/// between unescaped quotes, and only the brackets, colons and line breaks outside strings are
/// visited, in order. A colon marks the string that closed last as a key of the innermost open
/// object; a line break, the indentation after it.
fn container_end(b: &[u8], start: usize, keys: &mut KeyNotes, gaps: &mut Gaps) -> Scan {
    let mut depth = 0usize;
    // All ones when the previous block ended inside a string; whether it ended in an escaping
    // backslash; and the latest opening quote, closing quote and backslash before this block
    // (`start`, the opening bracket, until there is one: no key can start there).
    let mut in_string = 0u64;
    let mut carry = false;
    let (mut last_open, mut last_close, mut last_backslash) = (start, start, start);
    let mut pos = start;
    let mut tail = [b' '; 64];
    while pos < b.len() {
        // The last, partial block is padded with blanks, which mark nothing.
        let (block, valid) = match b.get(pos..pos + 64).and_then(|s| <&[u8; 64]>::try_from(s).ok()) {
            Some(full) => (full, u64::MAX),
            None => {
                let n = b.len() - pos;
                tail[..n].copy_from_slice(&b[pos..]);
                tail[n..].fill(b' ');
                (&tail, (1u64 << n) - 1)
            }
        };
        let m = blocks::masks(block);
        let quotes = m.quote & !blocks::escaped(block, m.backslash, &mut carry);
        let inside = blocks::prefix_xor(quotes) ^ in_string;
        in_string = ((inside as i64) >> 63) as u64;
        let (opening, closing) = (quotes & inside, quotes & !inside);
        let mut tokens = (m.open | m.close | m.colon | m.line_break) & !inside & valid;
        while tokens != 0 {
            let i = tokens.trailing_zeros();
            tokens &= tokens - 1;
            let bit = 1u64 << i;
            let at = pos + i as usize;
            if m.colon & bit != 0 {
                let below = bit - 1;
                let closes = closing & below;
                let (open, close) = if closes != 0 {
                    let c = 63 - closes.leading_zeros();
                    let opens = opening & ((1u64 << c) - 1);
                    (if opens != 0 { pos + blocks::highest(opens) } else { last_open }, pos + c as usize)
                } else {
                    (last_open, last_close)
                };
                // A closing quote always follows its opening one (quotes alternate), so only the
                // placeholder `start` can fail this.
                if open < close {
                    let backslashes = m.backslash & below;
                    let backslash = if backslashes != 0 { pos + blocks::highest(backslashes) } else { last_backslash };
                    keys.note(&b[open + 1..close], backslash > open);
                }
            } else if m.line_break & bit != 0 {
                // Blanks only up to `next`: no other token lies in between.
                let next = skip_ws::<false>(b, at + 1);
                gaps.note(at + 1, next);
            } else if m.open & bit != 0 {
                if b[at] == b'{' {
                    keys.open();
                }
                depth += 1;
            } else {
                if b[at] == b'}' {
                    keys.close();
                }
                // The first token is the opening bracket at `start`, so depth is at least 1 here.
                depth -= 1;
                if depth == 0 {
                    return Scan::End(at + 1);
                }
            }
        }
        if opening != 0 {
            last_open = pos + blocks::highest(opening);
        }
        if closing != 0 {
            last_close = pos + blocks::highest(closing);
        }
        if m.backslash & valid != 0 {
            last_backslash = pos + blocks::highest(m.backslash & valid);
        }
        pos += 64;
    }
    Scan::Incomplete
}

/// The index of the first byte at or after `i` that is not JSON whitespace (with `LINES`) or not
/// a space, tab or carriage return (without).
#[inline]
fn skip_ws<const LINES: bool>(b: &[u8], mut i: usize) -> usize {
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
            Some(b' ' | b'\r' | b'\t') => i += 1,
            Some(b'\n') if LINES => i += 1,
            _ => return i,
        }
    }
}

/// The most line indentations noted per value (16 bytes each: 1 MiB).
const MAX_GAPS: usize = 1 << 16;

/// The indentation of the lines of the value being cut out (blanks after a line break, outside
/// strings). The copy handed on leaves it out: it is nearly half of a `kubectl -o json` list
/// item, and serde_json would walk it again a byte at a time. Line breaks stay, so a line of the
/// copy is the same line of the input; columns do not.
#[derive(Default)]
pub struct Gaps {
    /// `from..to` of each line's indentation, in order.
    runs: Vec<(usize, usize)>,
    /// Bytes the copy leaves out.
    dropped: usize,
}

impl Gaps {
    fn clear(&mut self) {
        self.runs.clear();
        self.dropped = 0;
    }

    #[inline]
    fn note(&mut self, from: usize, to: usize) {
        // A value of very many lines keeps the indentation of those past the cap: the notes stay
        // a bounded fraction of what a value may take (see `MAX_GAPS`).
        if to > from && self.runs.len() < MAX_GAPS {
            self.runs.push((from, to));
            self.dropped += to - from;
        }
    }

    /// `b[start..end]` without the noted indentation (all of it inside that range), in `out`
    /// (cleared first), whose allocation is reused.
    pub fn copy(&self, mut out: Vec<u8>, b: &[u8], start: usize, end: usize) -> Vec<u8> {
        // The pieces between indentations are a line's few dozen bytes: each that fits is copied
        // as one fixed 32-byte block (a move, not a call to memcpy) and the block's excess cut
        // off again.
        const BLOCK: usize = 32;
        out.clear();
        out.reserve(end - start - self.dropped + BLOCK);
        let mut at = start;
        for &(from, to) in self.runs.iter().chain([(end, end)].iter()) {
            let keep = out.len() + (from - at);
            if from - at <= BLOCK && at + BLOCK <= b.len() {
                out.extend_from_slice(&b[at..at + BLOCK]);
                out.truncate(keep);
            } else {
                out.extend_from_slice(&b[at..from]);
            }
            at = to;
        }
        out
    }
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
    /// Its bytes, without the indentation of its lines (see [`Gaps`]).
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
    /// Its indentation.
    gaps: Gaps,
    /// Buffers of values already decoded, handed back for the next values (see
    /// [`Stream::recycling`]).
    spares: Option<mpsc::Receiver<Vec<u8>>>,
}

const CHUNK: usize = 4 << 20;

impl<R: Read> Stream<R> {
    /// A stream over `r`.
    pub fn new(r: R) -> Self {
        Stream {
            r,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            eof: false,
            line: 1,
            keys: KeyNotes::default(),
            gaps: Gaps::default(),
            spares: None,
        }
    }

    /// Copies each value into a buffer received from `spares` when one is waiting (a new one
    /// otherwise). Whoever consumes the values sends their buffers back once done with them: the
    /// copies then reuse a few warm allocations instead of allocating (and page-faulting in) the
    /// whole input's size again, and freeing it on another thread.
    pub fn recycling(mut self, spares: mpsc::Receiver<Vec<u8>>) -> Self {
        self.spares = Some(spares);
        self
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
            let i = skip_ws::<true>(&self.buf, self.pos);
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
            match value_end(&self.buf, self.pos, self.eof, &mut self.keys, &mut self.gaps) {
                Scan::End(e) => {
                    let spare = self.spares.as_ref().and_then(|rx| rx.try_recv().ok()).unwrap_or_default();
                    let bytes = self.gaps.copy(spare, &self.buf, self.pos, e);
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
