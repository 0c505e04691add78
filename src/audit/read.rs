//! Reads manifests: files, directories, stdin; multi-document YAML, Lists, and JSON lists streamed item by item.

use super::collect::Collector;
use super::docs::{Head, KindDecoder, ListDoc, decode_kind, is_judged_kind};
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

fn scalar(v: &str) -> &str {
    let v = v.split(" #").next().unwrap_or("").trim();
    v.trim_matches(|c| c == '"' || c == '\'')
}

impl<'c> Reader<'c> {
    /// A reader feeding `collector`.
    pub fn new(collector: Collector<'c>) -> Self {
        Reader {
            collector,
            errors: vec![],
            warnings: vec![],
        }
    }

    fn error(&mut self, file: &str, message: impl Into<String>) {
        self.errors.push(InputError {
            file: file.into(),
            document: None,
            line: None,
            object: None,
            field: None,
            message: message.into(),
        });
    }

    /// Reads a file, or every `.yaml`/`.yml`/`.json` file below a directory (sorted, recursively).
    pub fn read_path(&mut self, path: &Path) {
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
                let is_dir = std::fs::symlink_metadata(&p)
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
                let manifest = p
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
                if is_dir || (manifest && p.is_file()) {
                    self.read_path(&p);
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
                    Ok(text) => self.read_yaml(&file, &text),
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

    /// Reads multi-document YAML text.
    pub fn read_yaml(&mut self, file: &Arc<str>, text: &str) {
        for doc in yaml::split_documents(text) {
            self.read_document(file, doc);
        }
    }

    fn doc_error(
        &mut self,
        file: &Arc<str>,
        doc: &Document<'_>,
        object: Option<String>,
        e: yaml::DecodeError,
    ) {
        self.errors.push(InputError {
            file: file.to_string(),
            document: Some(doc.index),
            line: Some(e.line.map_or(doc.start_line, |l| doc.start_line + l - 1)),
            object,
            field: e.field,
            message: e.message,
        });
    }

    fn duplicate(&mut self, file: &Arc<str>, doc: &Document<'_>, dup: Option<yaml::DuplicateKey>) {
        if let Some(d) = dup {
            self.warnings.push(format!(
                "{file}: document {} (line {}): duplicate key {:?}; kubectl rejects this document, evaluated with the last value",
                doc.index,
                doc.start_line + d.line - 1,
                d.key
            ));
        }
    }

    fn read_document(&mut self, file: &Arc<str>, doc: Document<'_>) {
        let (kind, has_api, name, first) = prescan(doc.text);
        let line = doc.start_line + first;
        let (kind, has_api) = match kind {
            Some(k) if has_api => (k.to_string(), true),
            _ => match yaml::decode::<Head>(doc.text) {
                Err(e) => return self.doc_error(file, &doc, None, e),
                Ok((h, _)) => match (h.kind, h.api_version) {
                    (Some(k), Some(_)) => (k, true),
                    _ => (String::new(), false),
                },
            },
        };
        if !has_api {
            // Parses, but is not a Kubernetes object (a dashboard, a rule file): make sure it parses, then count it.
            return match yaml::decode::<IgnoredAny>(doc.text) {
                Ok(_) => self.collector.not_object(),
                Err(e) => self.doc_error(file, &doc, None, e),
            };
        }
        let object = name.map(|n| format!("{kind}/{n}"));
        let origin = Origin {
            file: file.clone(),
            line,
        };
        if kind == "List" || (kind.ends_with("List") && kind.len() > 4) {
            match yaml::decode::<ListDoc>(doc.text) {
                Err(e) => self.doc_error(file, &doc, object, e),
                Ok((list, dup)) => {
                    self.duplicate(file, &doc, dup);
                    let item_kind = kind
                        .strip_suffix("List")
                        .filter(|k| !k.is_empty())
                        .map(str::to_string);
                    for (n, item) in list.items.into_iter().enumerate() {
                        self.read_value(&origin, doc.index, n, item, item_kind.as_deref());
                    }
                }
            }
        } else if is_judged_kind(&kind) {
            match yaml::decode_with(doc.text, &KindDecoder(&kind)) {
                Ok((parsed, dup)) => {
                    self.duplicate(file, &doc, dup);
                    self.collector.object(parsed, origin);
                }
                Err(e) => self.doc_error(file, &doc, object, e),
            }
        } else {
            match yaml::decode::<IgnoredAny>(doc.text) {
                Ok((_, dup)) => {
                    self.duplicate(file, &doc, dup);
                    self.collector.skip_kind(&kind);
                }
                Err(e) => self.doc_error(file, &doc, object, e),
            }
        }
    }

    /// One item of a list held as a generic value.
    fn read_value(
        &mut self,
        origin: &Origin,
        document: usize,
        n: usize,
        item: serde_json::Value,
        list_kind: Option<&str>,
    ) {
        let kind = item
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_string)
            .or_else(|| list_kind.map(str::to_string));
        let Some(kind) = kind else {
            return self.collector.not_object();
        };
        if !is_judged_kind(&kind) {
            return self.collector.skip_kind(&kind);
        }
        let object = item
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .map(|name| format!("{kind}/{name}"));
        let mut track = serde_path_to_error::Track::new();
        match decode_kind(
            &kind,
            serde_path_to_error::Deserializer::new(item, &mut track),
        ) {
            Ok(parsed) => self.collector.object(parsed, origin.clone()),
            Err(e) => {
                let path = track.path().to_string();
                self.item_error(
                    origin,
                    document,
                    n,
                    object,
                    Some(path).filter(|p| p != "."),
                    e.to_string(),
                )
            }
        }
    }

    fn item_error(
        &mut self,
        origin: &Origin,
        document: usize,
        n: usize,
        object: Option<String>,
        field: Option<String>,
        message: String,
    ) {
        self.errors.push(InputError {
            file: origin.file.to_string(),
            document: Some(document),
            line: Some(origin.line),
            object,
            field: field.map(|f| format!("items[{n}].{f}")),
            message,
        });
    }

    /// Reads JSON: each top-level value; the `items` of lists are streamed one at a time.
    pub fn read_json<R: Read>(&mut self, file: &Arc<str>, input: R) {
        let mut de = serde_json::Deserializer::from_reader(input);
        let mut document = 0;
        loop {
            document += 1;
            let seed = TopSeed {
                reader: self,
                file: file.clone(),
                document,
            };
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

    fn json_item(
        &mut self,
        file: &Arc<str>,
        document: usize,
        n: usize,
        raw: &RawValue,
        kind: &str,
    ) {
        let origin = Origin {
            file: file.clone(),
            line: 1,
        };
        if !is_judged_kind(kind) {
            return self.collector.skip_kind(kind);
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let mut track = serde_path_to_error::Track::new();
        match decode_kind(
            kind,
            serde_path_to_error::Deserializer::new(&mut de, &mut track),
        ) {
            Ok(parsed) => self.collector.object(parsed, origin),
            Err(e) => {
                let object = serde_json::from_str::<super::docs::MetaDoc>(raw.get())
                    .ok()
                    .and_then(|m| m.metadata.name)
                    .map(|name| format!("{kind}/{name}"));
                let path = track.path().to_string();
                self.item_error(
                    &origin,
                    document,
                    n,
                    object,
                    Some(path).filter(|p| p != "."),
                    e.to_string(),
                );
            }
        }
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
        let item_kind = kind
            .as_deref()
            .and_then(|k| k.strip_suffix("List"))
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        for (n, raw) in held {
            match &item_kind {
                Some(k) => self.reader.json_item(&self.file, self.document, n, &raw, k),
                None => self.reader.collector.not_object(),
            }
        }
        if !saw_items {
            let has_api = rest.contains_key("apiVersion");
            let origin = Origin {
                file: self.file.clone(),
                line: 1,
            };
            match kind {
                Some(_) if has_api => self.reader.read_value(
                    &origin,
                    self.document,
                    0,
                    serde_json::Value::Object(rest),
                    None,
                ),
                _ => self.reader.collector.not_object(),
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
        let list_item_kind = self
            .list_kind
            .as_deref()
            .and_then(|k| k.strip_suffix("List"))
            .filter(|k| !k.is_empty());
        let mut n = 0;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let head: Head = serde_json::from_str(raw.get()).unwrap_or_default();
            match head.kind.as_deref().or(list_item_kind) {
                Some(kind) => self
                    .reader
                    .json_item(self.file, self.document, n, &raw, kind),
                None => self.held.push((n, raw)),
            }
            n += 1;
        }
        Ok(())
    }
}
