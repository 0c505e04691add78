//! Reads manifests: files, directories, stdin; multi-document YAML, Lists, and JSON lists streamed item by item.

use super::collect::Collector;
use super::docs::{Head, KindDecoder, ListDoc, Parsed, decode_kind, is_judged_kind};
use crate::model::Origin;
use crate::yaml::{self, Document};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// An input that could not be read, or an object that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// File (`-` for stdin).
    pub file: String,
    /// 1-based document (or list item) index.
    pub document: Option<usize>,
    /// 1-based line in the file.
    pub line: Option<usize>,
    /// `Kind/name` when known.
    pub object: Option<String>,
    /// Field path when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(d) = self.document {
            write!(f, ": document {d}")?;
        }
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        if let Some(o) = &self.object {
            write!(f, ": {o}")?;
        }
        if let Some(p) = &self.field {
            write!(f, ": field {p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads inputs into a [`Collector`], keeping every error and warning.
pub struct Reader<'c> {
    /// Where objects go.
    pub collector: Collector<'c>,
    /// Inputs or objects that could not be read.
    pub errors: Vec<InputError>,
    /// Oddities that were read anyway (duplicate keys).
    pub warnings: Vec<String>,
}

/// Top-level `kind`, `apiVersion` and `metadata.name` of a block-style document, read from its lines.
fn prescan(text: &str) -> (Option<&str>, bool, Option<&str>, usize) {
    let (mut kind, mut api, mut name, mut first_line) = (None, false, None, 0);
    let mut in_meta = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if first_line == 0 {
            first_line = n;
        }
        let indented = line.len() != t.len();
        if !indented {
            in_meta = t.starts_with("metadata:");
            if in_meta && name.is_none() {
                name = flow_name(t);
            }
            if let Some(v) = t.strip_prefix("kind:") {
                kind = Some(scalar(v));
            } else if t.starts_with("apiVersion:") {
                api = true;
            }
        } else if in_meta
            && name.is_none()
            && let Some(v) = t.strip_prefix("name:")
        {
            name = Some(scalar(v));
        }
    }
    (kind.filter(|k| !k.is_empty()), api, name, first_line)
}

/// `name` from a flow mapping such as `metadata: {name: web, namespace: shop}`.
fn flow_name(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("metadata:")?.trim().strip_prefix('{')?;
    inner.split([',', '}']).find_map(|part| part.trim().strip_prefix("name:")).map(scalar).filter(|n| !n.is_empty())
}

fn scalar(v: &str) -> &str {
    let v = v.split(" #").next().unwrap_or("").trim();
    v.trim_matches(|c| c == '"' || c == '\'')
}

impl<'c> Reader<'c> {
    /// A reader feeding `collector`.
    pub fn new(collector: Collector<'c>) -> Self {
        Reader { collector, errors: vec![], warnings: vec![] }
    }

    fn error(&mut self, file: &str, message: impl Into<String>) {
        self.errors.push(InputError { file: file.into(), document: None, line: None, object: None, field: None, message: message.into() });
    }

    /// Reads a file, or every `.yaml`/`.yml`/`.json` file below a directory (sorted, recursively).
    pub fn read_path(&mut self, path: &Path) {
        let mut yaml_files = vec![];
        self.gather(path, &mut yaml_files);
        self.read_yaml_files(&yaml_files);
    }

    /// Streams JSON files at once and collects YAML texts into `yaml_files` for a parallel decode.
    pub fn gather(&mut self, path: &Path, yaml_files: &mut Vec<(Arc<str>, String)>) {
        let shown = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.error(&shown, format!("cannot read: {e}")),
        };
        if meta.is_dir() {
            let mut entries: Vec<_> = match std::fs::read_dir(path) {
                Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
                Err(e) => return self.error(&shown, format!("cannot list directory: {e}")),
            };
            entries.sort();
            for p in entries {
                let is_dir = std::fs::symlink_metadata(&p).map(|m| m.is_dir()).unwrap_or(false);
                let manifest = p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
                if is_dir || (manifest && p.is_file()) {
                    self.gather(&p, yaml_files);
                }
            }
            return;
        }
        let file: Arc<str> = shown.into();
        let is_json = path.extension().and_then(|e| e.to_str()) == Some("json");
        match std::fs::File::open(path) {
            Err(e) => self.error(&file, format!("cannot open: {e}")),
            Ok(f) if is_json => self.read_json(&file, BufReader::with_capacity(1 << 20, f)),
            Ok(mut f) => {
                let mut bytes = vec![];
                if let Err(e) = f.read_to_end(&mut bytes) {
                    return self.error(&file, format!("cannot read: {e}"));
                }
                match String::from_utf8(bytes) {
                    Ok(text) => yaml_files.push((file, text)),
                    Err(_) => self.error(&file, "not UTF-8 text"),
                }
            }
        }
    }

    /// Reads standard input: JSON (streamed) when it starts with `{`, YAML otherwise.
    pub fn read_stdin(&mut self, input: impl Read) {
        let file: Arc<str> = "-".into();
        let mut r = BufReader::with_capacity(1 << 20, input);
        let first = loop {
            match r.fill_buf() {
                Ok([]) => break None,
                Ok(buf) => {
                    let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    if skip < buf.len() {
                        break Some(buf[skip]);
                    }
                    let n = buf.len();
                    r.consume(n);
                }
                Err(e) => return self.error(&file, format!("cannot read standard input: {e}")),
            }
        };
        if first == Some(b'{') {
            return self.read_json(&file, r);
        }
        let mut text = String::new();
        match r.read_to_string(&mut text) {
            Ok(_) => self.read_yaml(&file, &text),
            Err(e) => self.error(&file, format!("cannot read standard input: {e}")),
        }
    }

    /// Reads multi-document YAML text (documents are decoded in parallel, applied in order).
    pub fn read_yaml(&mut self, file: &Arc<str>, text: &str) {
        let docs: Vec<(Arc<str>, Document<'_>)> = yaml::split_documents(text).into_iter().map(|d| (file.clone(), d)).collect();
        self.apply_all(decode_parallel(&docs));
    }

    /// Reads several YAML texts, decoding all their documents in parallel.
    pub fn read_yaml_files(&mut self, files: &[(Arc<str>, String)]) {
        let docs: Vec<(Arc<str>, Document<'_>)> =
            files.iter().flat_map(|(f, t)| yaml::split_documents(t).into_iter().map(move |d| (f.clone(), d))).collect();
        self.apply_all(decode_parallel(&docs));
    }

    fn apply_all(&mut self, results: Vec<DocResult>) {
        for r in results {
            self.warnings.extend(r.warning);
            for d in r.decoded {
                self.apply(d);
            }
        }
    }

    fn apply(&mut self, d: Decoded) {
        match d {
            Decoded::Object(p, o) => self.collector.object(p, o),
            Decoded::Skip(kind) => self.collector.skip_kind(&kind),
            Decoded::NotObject => self.collector.not_object(),
            Decoded::Error(e) => self.errors.push(e),
        }
    }

    /// Reads JSON: each top-level value; the `items` of lists are streamed one at a time.
    pub fn read_json<R: Read>(&mut self, file: &Arc<str>, input: R) {
        let mut de = serde_json::Deserializer::from_reader(input);
        let mut document = 0;
        loop {
            document += 1;
            let seed = TopSeed { reader: self, file: file.clone(), document };
            if let Err(e) = seed.deserialize(&mut de) {
                self.errors.push(InputError {
                    file: file.to_string(),
                    document: Some(document),
                    line: Some(e.line()),
                    object: None,
                    field: None,
                    message: e.to_string(),
                });
                return;
            }
            if de.end().is_ok() {
                return;
            }
        }
    }

    fn json_item(&mut self, file: &Arc<str>, document: usize, n: usize, raw: &RawValue, kind: &str) {
        let origin = Origin { file: file.clone(), line: 1 };
        if !is_judged_kind(kind) {
            return self.collector.skip_kind(kind);
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let mut track = serde_path_to_error::Track::new();
        let d = match decode_kind(kind, serde_path_to_error::Deserializer::new(&mut de, &mut track)) {
            Ok(parsed) => Decoded::Object(parsed, origin),
            Err(e) => {
                let object = serde_json::from_str::<super::docs::MetaDoc>(raw.get())
                    .ok()
                    .and_then(|m| m.metadata.name)
                    .map(|name| format!("{kind}/{name}"));
                item_error(&origin, document, n, object, Some(track.path().to_string()), e.to_string())
            }
        };
        self.apply(d);
    }
}

struct TopSeed<'r, 'c> {
    reader: &'r mut Reader<'c>,
    file: Arc<str>,
    document: usize,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object or list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut kind: Option<String> = None;
        let mut rest = serde_json::Map::new();
        let mut held: Vec<(usize, Box<RawValue>)> = vec![];
        let mut saw_items = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => {
                    saw_items = true;
                    let list_kind = kind.clone();
                    map.next_value_seed(ItemsSeed {
                        reader: &mut *self.reader,
                        file: &self.file,
                        document: self.document,
                        list_kind,
                        held: &mut held,
                    })?;
                }
                "kind" => {
                    let v: serde_json::Value = map.next_value()?;
                    kind = v.as_str().map(str::to_string);
                    rest.insert(key, v);
                }
                _ => {
                    let v: serde_json::Value = map.next_value()?;
                    rest.insert(key, v);
                }
            }
        }
        let item_kind = kind.as_deref().and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty()).map(str::to_string);
        for (n, raw) in held {
            match &item_kind {
                Some(k) => self.reader.json_item(&self.file, self.document, n, &raw, k),
                None => self.reader.collector.not_object(),
            }
        }
        if !saw_items {
            let has_api = rest.contains_key("apiVersion");
            let origin = Origin { file: self.file.clone(), line: 1 };
            match kind {
                Some(_) if has_api => {
                    let d = decode_value(&origin, self.document, 0, serde_json::Value::Object(rest), None);
                    self.reader.apply(d)
                }
                _ => self.reader.apply(Decoded::NotObject),
            }
        }
        Ok(())
    }
}

struct ItemsSeed<'a, 'c> {
    reader: &'a mut Reader<'c>,
    file: &'a Arc<str>,
    document: usize,
    list_kind: Option<String>,
    held: &'a mut Vec<(usize, Box<RawValue>)>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let list_item_kind = self.list_kind.as_deref().and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty());
        let mut n = 0;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let head: Head = serde_json::from_str(raw.get()).unwrap_or_default();
            match head.kind.as_deref().or(list_item_kind) {
                Some(kind) => self.reader.json_item(self.file, self.document, n, &raw, kind),
                None => self.held.push((n, raw)),
            }
            n += 1;
        }
        Ok(())
    }
}

/// What one document (or list item) decoded to.
#[derive(Debug)]
pub enum Decoded {
    /// An object of a judged kind.
    Object(Parsed, Origin),
    /// An object of another kind.
    Skip(String),
    /// Parses, but has no apiVersion/kind.
    NotObject,
    /// Could not be decoded.
    Error(InputError),
}

/// A document's decoded objects, and a duplicate-key warning.
#[derive(Debug, Default)]
pub struct DocResult {
    /// Objects (several for a List).
    pub decoded: Vec<Decoded>,
    /// Duplicate-key warning.
    pub warning: Option<String>,
}

fn doc_error(file: &Arc<str>, doc: &Document<'_>, object: Option<String>, e: yaml::DecodeError) -> Decoded {
    Decoded::Error(InputError {
        file: file.to_string(),
        document: Some(doc.index),
        line: Some(e.line.map_or(doc.start_line, |l| doc.start_line + l - 1)),
        object,
        field: e.field,
        message: e.message,
    })
}

fn item_error(origin: &Origin, document: usize, n: usize, object: Option<String>, field: Option<String>, message: String) -> Decoded {
    Decoded::Error(InputError {
        file: origin.file.to_string(),
        document: Some(document),
        line: Some(origin.line),
        object,
        field: field.filter(|f| f != ".").map(|f| format!("items[{n}].{f}")),
        message,
    })
}

fn duplicate_warning(file: &Arc<str>, doc: &Document<'_>, dup: Option<yaml::DuplicateKey>) -> Option<String> {
    dup.map(|d| {
        format!(
            "{file}: document {} (line {}): duplicate key {:?}; kubectl rejects this document, evaluated with the last value",
            doc.index,
            doc.start_line + d.line - 1,
            d.key
        )
    })
}

/// Decodes one YAML document; pure, so documents can be decoded on several threads.
pub fn decode_document(file: &Arc<str>, doc: &Document<'_>) -> DocResult {
    let one = |d: Decoded| DocResult { decoded: vec![d], warning: None };
    let (kind, has_api, name, first) = prescan(doc.text);
    let line = doc.start_line + first;
    let (kind, has_api) = match kind {
        Some(k) if has_api => (k.to_string(), true),
        _ => match yaml::decode::<Head>(doc.text) {
            Err(e) => return one(doc_error(file, doc, None, e)),
            Ok((h, _)) => match (h.kind, h.api_version) {
                (Some(k), Some(_)) => (k, true),
                _ => (String::new(), false),
            },
        },
    };
    if !has_api {
        // Parses, but is not a Kubernetes object (a dashboard, a rule file): counted, not an error.
        return one(match yaml::decode::<IgnoredAny>(doc.text) {
            Ok(_) => Decoded::NotObject,
            Err(e) => doc_error(file, doc, None, e),
        });
    }
    let object = name.map(|n| format!("{kind}/{n}"));
    let origin = Origin { file: file.clone(), line };
    if kind == "List" || (kind.ends_with("List") && kind.len() > 4) {
        match yaml::decode::<ListDoc>(doc.text) {
            Err(e) => one(doc_error(file, doc, object, e)),
            Ok((list, dup)) => {
                let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
                let decoded =
                    list.items.into_iter().enumerate().map(|(n, item)| decode_value(&origin, doc.index, n, item, item_kind)).collect();
                DocResult { decoded, warning: duplicate_warning(file, doc, dup) }
            }
        }
    } else if is_judged_kind(&kind) {
        match yaml::decode_with(doc.text, &KindDecoder(&kind)) {
            Ok((parsed, dup)) => DocResult { decoded: vec![Decoded::Object(parsed, origin)], warning: duplicate_warning(file, doc, dup) },
            Err(e) => one(doc_error(file, doc, object, e)),
        }
    } else {
        match yaml::decode::<IgnoredAny>(doc.text) {
            Ok((_, dup)) => DocResult { decoded: vec![Decoded::Skip(kind)], warning: duplicate_warning(file, doc, dup) },
            Err(e) => one(doc_error(file, doc, object, e)),
        }
    }
}

/// Decodes one list item held as a generic value.
fn decode_value(origin: &Origin, document: usize, n: usize, item: serde_json::Value, list_kind: Option<&str>) -> Decoded {
    let kind = item.get("kind").and_then(|k| k.as_str()).map(str::to_string).or_else(|| list_kind.map(str::to_string));
    let Some(kind) = kind else { return Decoded::NotObject };
    if !is_judged_kind(&kind) {
        return Decoded::Skip(kind);
    }
    let object = item.pointer("/metadata/name").and_then(|v| v.as_str()).map(|name| format!("{kind}/{name}"));
    let mut track = serde_path_to_error::Track::new();
    match decode_kind(&kind, serde_path_to_error::Deserializer::new(item, &mut track)) {
        Ok(parsed) => Decoded::Object(parsed, origin.clone()),
        Err(e) => item_error(origin, document, n, object, Some(track.path().to_string()), e.to_string()),
    }
}

/// Decodes documents on all cores; results come back in input order.
fn decode_parallel(docs: &[(Arc<str>, Document<'_>)]) -> Vec<DocResult> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || docs.len() < 8 {
        return docs.iter().map(|(f, d)| decode_document(f, d)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, DocResult)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = vec![];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((f, d)) = docs.get(i) else { break };
                        mine.push((i, decode_document(f, d)));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all: Vec<(usize, DocResult)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}
