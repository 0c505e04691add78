//! Reads manifests: files, directories, stdin; multi-document YAML, Lists, and JSON lists streamed item by item.

use super::collect::{Collector, Ctx, Prepared};
use super::docs::{Head, KindDecoder, ListDoc, decode_kind, is_judged_kind};
use crate::model::Origin;
use crate::par::par_map;
use crate::yaml::{self, Document};
use serde::de::IgnoredAny;
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
    /// How objects are evaluated (on the decoding threads).
    pub ctx: Ctx<'c>,
    /// Where evaluated objects go, in input order.
    pub collector: Collector,
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
    pub fn new(ctx: Ctx<'c>) -> Self {
        Reader { ctx, collector: Collector::new(), errors: vec![], warnings: vec![] }
    }

    pub(super) fn error(&mut self, file: &str, message: impl Into<String>) {
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
            Ok(f) if is_json => self.read_json(&file, f),
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
        self.apply_all(decode_parallel(&self.ctx, &docs));
    }

    /// Reads several YAML texts, decoding all their documents in parallel.
    pub fn read_yaml_files(&mut self, files: &[(Arc<str>, String)]) {
        let docs: Vec<(Arc<str>, Document<'_>)> =
            files.iter().flat_map(|(f, t)| yaml::split_documents(t).into_iter().map(move |d| (f.clone(), d))).collect();
        self.apply_all(decode_parallel(&self.ctx, &docs));
    }

    pub(super) fn apply_all(&mut self, results: Vec<DocResult>) {
        for r in results {
            self.warnings.extend(r.warning);
            for d in r.decoded {
                self.apply(d);
            }
        }
    }

    pub(super) fn apply(&mut self, d: Decoded) {
        match d {
            Decoded::Object(p) => self.collector.take(*p),
            Decoded::Skip(kind) => self.collector.skip_kind(&kind),
            Decoded::NotObject => self.collector.not_object(),
            Decoded::Error(e) => self.errors.push(e),
        }
    }
}

/// What one document (or list item) decoded to.
#[derive(Debug)]
pub enum Decoded {
    /// An object of a judged kind, already evaluated.
    Object(Box<Prepared>),
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

pub(super) fn item_error(
    origin: &Origin,
    document: usize,
    n: usize,
    object: Option<String>,
    field: Option<String>,
    message: String,
) -> Decoded {
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
pub fn decode_document(ctx: &Ctx<'_>, file: &Arc<str>, doc: &Document<'_>) -> DocResult {
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
                    list.items.into_iter().enumerate().map(|(n, item)| decode_value(ctx, &origin, doc.index, n, item, item_kind)).collect();
                DocResult { decoded, warning: duplicate_warning(file, doc, dup) }
            }
        }
    } else if is_judged_kind(&kind) {
        match yaml::decode_with(doc.text, &KindDecoder(&kind)) {
            Ok((parsed, dup)) => DocResult {
                decoded: vec![Decoded::Object(Box::new(ctx.prepare(parsed, origin)))],
                warning: duplicate_warning(file, doc, dup),
            },
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
pub(super) fn decode_value(
    ctx: &Ctx<'_>,
    origin: &Origin,
    document: usize,
    n: usize,
    item: serde_json::Value,
    list_kind: Option<&str>,
) -> Decoded {
    let kind = item.get("kind").and_then(|k| k.as_str()).map(str::to_string).or_else(|| list_kind.map(str::to_string));
    let Some(kind) = kind else { return Decoded::NotObject };
    if !is_judged_kind(&kind) {
        return Decoded::Skip(kind);
    }
    let object = item.pointer("/metadata/name").and_then(|v| v.as_str()).map(|name| format!("{kind}/{name}"));
    let mut track = serde_path_to_error::Track::new();
    match decode_kind(&kind, serde_path_to_error::Deserializer::new(item, &mut track)) {
        Ok(parsed) => Decoded::Object(Box::new(ctx.prepare(parsed, origin.clone()))),
        Err(e) => item_error(origin, document, n, object, Some(track.path().to_string()), e.to_string()),
    }
}

/// Decodes documents on all cores; results come back in input order.
fn decode_parallel(ctx: &Ctx<'_>, docs: &[(Arc<str>, Document<'_>)]) -> Vec<DocResult> {
    par_map(docs, |(f, d)| decode_document(ctx, f, d))
}
