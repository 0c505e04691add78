//! Tests of the JSON stream: cutting values out, key notes against a full parse, refills.

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
                line_break(rng, out);
                out.push_str(&format!("\"{}\"", KEYS[rng.below(KEYS.len() as u64) as usize]));
                out.push_str([":", " : ", ":\n  "][rng.below(3) as usize]);
                value(rng, depth + 1, out);
            }
            line_break(rng, out);
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
        2 => out.push_str(["\"a\"", "\"{\\\"kind\\\":1}\"", "\"x:\"", "\"\\\\\"", "\"  a\\n  b \""][rng.below(5) as usize]),
        _ => out.push_str(["1", "null", "true", "-2.5e3"][rng.below(4) as usize]),
    }
}

/// Sometimes a line break and indentation, as kubectl and editors write them (or stray blanks).
fn line_break(rng: &mut Rng, out: &mut String) {
    out.push_str(["", "", "\n    ", "\n\t\t", "\r\n  ", "\n", " \n  \n      ", "  "][rng.below(8) as usize]);
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
        assert_eq!(value_end(text.as_bytes(), 0, true, &mut notes, &mut Gaps::default()), Scan::End(text.len()), "{text}");
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

/// A reader that gives at most `.1` bytes per read, so values span many refills.
struct Dribble<'a>(&'a [u8], usize);

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn small_reads_refill_across_chunks() {
    let text = br#"{"items": [{"kind": "Pod", "x": "a\"b"}, {"kind": "Service", "spec": {"a": 1, "a": 2}}, {"b": {"a": 1}, "a": 2}]}"#;
    let mut items = vec![];
    Stream::new(Dribble(text, 3))
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

#[test]
fn the_copy_without_indentation_means_the_same_and_keeps_every_line() {
    let mut rng = Rng(0x1DE7_2026_1203);
    let mut dropped = 0;
    for _ in 0..20_000 {
        let mut text = String::from("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"spec\": ");
        value(&mut rng, 0, &mut text);
        text.push_str("\n}");
        let mut gaps = Gaps::default();
        assert_eq!(value_end(text.as_bytes(), 0, true, &mut KeyNotes::default(), &mut gaps), Scan::End(text.len()), "{text}");
        let copy = gaps.copy(Vec::new(), text.as_bytes(), 0, text.len());
        let copy = String::from_utf8(copy).expect("the copy stays UTF-8");
        let parsed = |t: &str| serde_json::from_str::<serde_json::Value>(t).expect("generated JSON is valid");
        assert_eq!(parsed(&copy), parsed(&text), "{text:?} -> {copy:?}");
        assert_eq!(copy.matches('\n').count(), text.matches('\n').count(), "{text:?} -> {copy:?}");
        // No line of the copy starts with a blank (the generator's strings hold no raw line break).
        assert!(!copy.contains("\n ") && !copy.contains("\n\t"), "{text:?} -> {copy:?}");
        dropped += text.len() - copy.len();
    }
    assert!(dropped > 100_000, "the generator writes indentation: {dropped} bytes left out");
}

#[test]
fn items_are_handed_on_without_indentation_across_refills() {
    let text = "{\n    \"items\": [\n        {\n            \"kind\": \"Pod\",\n            \"x\": \"  a  \"\n        },\n        {\"kind\":\t\"Service\"}\n    ]\n}\n";
    let mut items = vec![];
    Stream::new(Dribble(text.as_bytes(), 5))
        .run(|e| {
            if let Event::Item(v, line) = e {
                items.push((String::from_utf8(v.bytes).expect("utf-8"), line))
            }
        })
        .expect("stream");
    assert_eq!(items, [("{\n\"kind\": \"Pod\",\n\"x\": \"  a  \"\n}".to_string(), 3), ("{\"kind\":\t\"Service\"}".to_string(), 7)]);
}

#[test]
fn a_value_of_very_many_lines_keeps_the_indentation_past_the_cap() {
    let lines = MAX_GAPS + 100;
    let text = format!("[{}\n  0]", "\n  0,".repeat(lines - 1));
    let mut gaps = Gaps::default();
    assert_eq!(value_end(text.as_bytes(), 0, true, &mut KeyNotes::default(), &mut gaps), Scan::End(text.len()));
    assert_eq!(gaps.runs.len(), MAX_GAPS);
    let copy = gaps.copy(Vec::new(), text.as_bytes(), 0, text.len());
    assert_eq!(copy.len(), text.len() - 2 * MAX_GAPS);
    let parsed = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).expect("valid");
    assert_eq!(parsed(&copy), parsed(text.as_bytes()));
}

/// The byte-at-a-time scanner the block scanner replaced, kept as its oracle: the end of the
/// object or array at `b[start]`, its key notes and its indentation.
fn bytewise_end(b: &[u8], start: usize, keys: &mut KeyNotes, gaps: &mut Gaps) -> Scan {
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
    keys.reset();
    gaps.clear();
    let mut depth = 0usize;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'"' => {
                let (Scan::End(e), escaped) = string_end_escaped(b, j) else { return Scan::Incomplete };
                let next = skip_ws::<true>(b, e);
                if b.get(next) == Some(&b':') {
                    keys.note(&b[j + 1..e - 1], escaped);
                }
                j = e;
            }
            b'\n' => {
                let next = skip_ws::<false>(b, j + 1);
                gaps.note(j + 1, next);
                j = next;
            }
            c @ (b'{' | b'[') => {
                if c == b'{' {
                    keys.open();
                }
                depth += 1;
                j += 1;
            }
            c @ (b'}' | b']') => {
                if c == b'}' {
                    keys.close();
                }
                depth -= 1;
                if depth == 0 {
                    return Scan::End(j + 1);
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    Scan::Incomplete
}

/// A random value as `value` writes it, with long strings, runs of backslashes and deep
/// indentation mixed in, so that strings, escapes and indentation cross 64-byte block edges.
fn edgy_value(rng: &mut Rng) -> String {
    let mut text = String::from("{");
    for i in 0..1 + rng.below(6) {
        if i > 0 {
            text.push(',');
        }
        text.push_str(["\n", "\n                                                                      ", " "][rng.below(3) as usize]);
        let key_pad = "k".repeat(rng.below(200) as usize);
        let slashes = "\\\\".repeat(rng.below(40) as usize);
        let escape = |rng: &mut Rng| ["", "", "\\\"", "\\u0061", "x"][rng.below(5) as usize];
        let (before, after) = (escape(&mut *rng), escape(&mut *rng));
        text.push_str(&format!("\"{before}{key_pad}{after}\": "));
        match rng.below(3) {
            0 => text.push_str(&format!("\"{}{slashes}\\\"{}\"", "v".repeat(rng.below(130) as usize), "}".repeat(rng.below(3) as usize))),
            1 => value(rng, 0, &mut text),
            _ => text.push_str(&format!("[\"{slashes}\", {{\"{key_pad}\": 1, \"{key_pad}\": 2}}]")),
        }
    }
    text.push_str("\n}");
    text
}

#[test]
fn the_block_scanner_agrees_with_the_byte_scanner_on_ends_keys_and_indentation() {
    let mut rng = Rng(0xB10C_2026_1203);
    let (mut repeated, mut gapped) = (0, 0);
    for n in 0..20_000 {
        let text = if n % 2 == 0 {
            let mut t = String::new();
            value(&mut rng, 0, &mut t);
            t
        } else {
            edgy_value(&mut rng)
        };
        if !text.starts_with(['{', '[']) {
            continue;
        }
        // At every offset from a block edge, whole and cut short (as before a refill).
        let pad = rng.below(64) as usize;
        let padded = format!("{}{text}  ,{{\"next\": 1}}", " ".repeat(pad));
        let cut = pad + rng.below(text.len() as u64) as usize;
        for bytes in [padded.as_bytes(), &padded.as_bytes()[..cut]] {
            let (mut k1, mut g1, mut k2, mut g2) = (KeyNotes::default(), Gaps::default(), KeyNotes::default(), Gaps::default());
            let blocks = value_end(bytes, pad, false, &mut k1, &mut g1);
            let bytewise = bytewise_end(bytes, pad, &mut k2, &mut g2);
            assert_eq!(blocks, bytewise, "{text:?}");
            if let Scan::End(e) = blocks {
                assert_eq!(e, pad + text.len(), "{text:?}");
                assert_eq!(k1.repeated(), k2.repeated(), "{text:?}");
                assert_eq!(g1.runs, g2.runs, "{text:?}");
                repeated += usize::from(k1.repeated());
                gapped += usize::from(!g1.runs.is_empty());
            }
        }
    }
    assert!(repeated > 2_000 && gapped > 2_000, "{repeated} with repeated keys, {gapped} with indentation");
}

#[test]
fn a_reused_buffer_holds_only_the_new_copy() {
    let text = b"{\n    \"kind\": \"Pod\",\n    \"x\": 1\n}";
    let mut gaps = Gaps::default();
    assert_eq!(value_end(text, 0, true, &mut KeyNotes::default(), &mut gaps), Scan::End(text.len()));
    let fresh = gaps.copy(Vec::new(), text, 0, text.len());
    assert_eq!(fresh, b"{\n\"kind\": \"Pod\",\n\"x\": 1\n}");
    assert_eq!(gaps.copy(vec![b'#'; 4096], text, 0, text.len()), fresh);
}
