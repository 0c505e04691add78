//! Reads manifests: files, directories, stdin; multi-document YAML, Lists, and JSON lists streamed item by item.

use super::collect::{Collector, Ctx, Prepared};
use super::identify::{Identified, Identify, Naming};
use super::kinds::{KindDecoder, decode_kind, judged, skipped_key};
use super::output::visible;
use crate::model::Origin;
use crate::par::par_map;
use crate::yaml::{self, Document};
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

/// Shown escaped: file names, object names and messages come from the input.
impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", visible(&self.file))?;
        if let Some(d) = self.document {
            write!(f, ": document {d}")?;
        }
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        if let Some(o) = &self.object {
            write!(f, ": {}", visible(o))?;
        }
        if let Some(p) = &self.field {
            write!(f, ": field {}", visible(p))?;
        }
        write!(f, ": {}", visible(&self.message))
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

/// The line an object is reported at (within its document): its top-level `kind:` line when the
/// document starts with one among its first lines, else its first line with content. Only a location:
/// what the object is comes from the full parse.
fn object_line(text: &str) -> usize {
    let mut first = None;
    for (n, line) in text.lines().enumerate().take(64) {
        let t = line.trim_start_matches('\u{feff}');
        let trimmed = t.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if t.starts_with("kind:") {
            return n;
        }
        first.get_or_insert(n);
    }
    first.unwrap_or(0)
}

/// `Kind/name` of a document that failed to decode, read leniently.
fn naming(text: &str) -> Option<String> {
    yaml::decode::<Naming>(text).ok().and_then(|(n, _)| n.object())
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
            return self.gather_dir(path, &shown, yaml_files);
        }
        let file: Arc<str> = shown.into();
        let is_json = path.extension().and_then(|e| e.to_str()) == Some("json");
        match std::fs::File::open(path) {
            Err(e) => self.error(&file, format!("cannot open: {e}")),
            Ok(f) if is_json => match unmark(f) {
                Ok(Unmarked::Stream(r)) => self.read_json(&file, r),
                Ok(Unmarked::Text(text)) => self.read_json(&file, text.as_bytes()),
                Err(e) => self.error(&file, e),
            },
            Ok(f) => match unmark(f) {
                Ok(Unmarked::Text(text)) => yaml_files.push((file, text)),
                Ok(Unmarked::Stream(mut r)) => {
                    let mut bytes = vec![];
                    if let Err(e) = r.read_to_end(&mut bytes) {
                        return self.error(&file, format!("cannot read: {e}"));
                    }
                    match String::from_utf8(bytes) {
                        Ok(text) => yaml_files.push((file, text)),
                        Err(_) => self.error(&file, "not UTF-8 text"),
                    }
                }
                Err(e) => self.error(&file, e),
            },
        }
    }

    /// Every `.yaml`/`.yml`/`.json` file below a directory, sorted; what cannot be listed or
    /// read (a dangling symlink, a FIFO) is an error, never skipped in silence.
    fn gather_dir(&mut self, path: &Path, shown: &str, yaml_files: &mut Vec<(Arc<str>, String)>) {
        let mut entries = vec![];
        match std::fs::read_dir(path) {
            Ok(rd) => {
                for e in rd {
                    match e {
                        Ok(e) => entries.push(e.path()),
                        Err(e) => self.error(shown, format!("cannot list directory: {e}")),
                    }
                }
            }
            Err(e) => return self.error(shown, format!("cannot list directory: {e}")),
        }
        entries.sort();
        for p in entries {
            let manifest = p.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            let own = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    self.error(&p.display().to_string(), format!("cannot read: {e}"));
                    continue;
                }
            };
            if own.is_dir() {
                self.gather(&p, yaml_files);
            } else if manifest {
                // A manifest's name: read what it is or points to, if that is a file.
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_file() => self.gather(&p, yaml_files),
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => self.error(&p.display().to_string(), "not a regular file (a FIFO, socket or device); not read"),
                    Err(e) => self.error(&p.display().to_string(), format!("cannot read: {e}")),
                }
            }
        }
    }

    /// Reads standard input: JSON (streamed) when it starts with `{`, YAML otherwise.
    pub fn read_stdin(&mut self, input: impl Read) {
        let file: Arc<str> = "-".into();
        let r = match unmark(input) {
            Ok(Unmarked::Stream(r)) => r,
            Ok(Unmarked::Text(text)) => {
                return if text.trim_start().starts_with('{') {
                    self.read_json(&file, text.as_bytes())
                } else {
                    self.read_yaml(&file, &text)
                };
            }
            Err(e) => return self.error(&file, e),
        };
        let mut r = BufReader::with_capacity(1 << 20, r);
        // Leading whitespace is kept (it counts for line numbers), only looked past.
        let mut lead = vec![];
        let first = loop {
            match r.fill_buf() {
                Ok([]) => break None,
                Ok(buf) => {
                    let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    if skip < buf.len() {
                        break Some(buf[skip]);
                    }
                    lead.extend_from_slice(buf);
                    let n = buf.len();
                    r.consume(n);
                }
                Err(e) => return self.error(&file, format!("cannot read standard input: {e}")),
            }
        };
        let mut r = lead.as_slice().chain(r);
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

/// An input with its byte order mark dealt with, as kubectl reads it.
enum Unmarked<R> {
    /// UTF-8 (a leading byte order mark dropped), to be read on.
    Stream(std::io::Chain<std::io::Cursor<Vec<u8>>, R>),
    /// UTF-16 with a byte order mark, transcoded.
    Text(String),
}

/// Drops a UTF-8 byte order mark and transcodes UTF-16 that starts with one (PowerShell's `>`
/// writes UTF-16LE); lines stay the input's lines.
fn unmark<R: Read>(mut input: R) -> Result<Unmarked<R>, String> {
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    let head = &head[..got];
    let utf16: Option<fn([u8; 2]) -> u16> = match head {
        [0xEF, 0xBB, 0xBF] => return Ok(Unmarked::Stream(std::io::Cursor::new(vec![]).chain(input))),
        [0xFF, 0xFE, ..] => Some(u16::from_le_bytes),
        [0xFE, 0xFF, ..] => Some(u16::from_be_bytes),
        _ => None,
    };
    let Some(unit) = utf16 else { return Ok(Unmarked::Stream(std::io::Cursor::new(head.to_vec()).chain(input))) };
    let mut bytes = head[2..].to_vec();
    input.read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() % 2 != 0 {
        return Err("not valid UTF-16 text (an odd number of bytes)".into());
    }
    char::decode_utf16(bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])))
        .collect::<Result<String, _>>()
        .map(Unmarked::Text)
        .map_err(|e| format!("not valid UTF-16 text: {e}"))
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

/// An error in a list item (`n`: its index) or in a single JSON object (`n`: none).
pub(super) fn item_error(
    origin: &Origin,
    document: usize,
    n: Option<usize>,
    object: Option<String>,
    field: Option<String>,
    message: String,
) -> Decoded {
    Decoded::Error(InputError {
        file: origin.file.to_string(),
        document: Some(document),
        line: Some(origin.line),
        object,
        field: field.filter(|f| f != ".").map(|f| match n {
            Some(n) => format!("items[{n}].{f}"),
            None => f,
        }),
        message,
    })
}

/// The warning for a repeated mapping key: the document is read with the last value.
pub(super) fn duplicate_key_warning(file: &str, document: usize, line: usize, key: &str) -> String {
    let file = visible(file);
    format!(
        "{file}: document {document} (line {line}): duplicate key {key:?}; kubectl rejects this document, evaluated with the last value"
    )
}

fn duplicate_warning(file: &Arc<str>, doc: &Document<'_>, dup: Option<yaml::DuplicateKey>) -> Option<String> {
    dup.map(|d| duplicate_key_warning(file, doc.index, doc.start_line + d.line - 1, &d.key))
}

/// Decodes one YAML document; pure, so documents can be decoded on several threads.
pub fn decode_document(ctx: &Ctx<'_>, file: &Arc<str>, doc: &Document<'_>) -> DocResult {
    let (identified, dup) = match yaml::decode_with(doc.text, &Identify) {
        Ok(v) => v,
        Err(e) if e.over_budget => return decode_split_list(ctx, file, doc, e),
        Err(e) => return DocResult { decoded: vec![doc_error(file, doc, naming(doc.text), e)], warning: None },
    };
    let warning = duplicate_warning(file, doc, dup);
    let origin = Origin { file: file.clone(), line: doc.start_line + object_line(doc.text) };
    let decoded = match identified {
        Identified::Object(parsed) => vec![Decoded::Object(Box::new(ctx.prepare(parsed, origin)))],
        // apiVersion/kind came after fields this kind reads: decoded again, now knowing the kind.
        Identified::Again(kind) => match yaml::decode_with(doc.text, &KindDecoder(kind)) {
            Ok((parsed, _)) => vec![Decoded::Object(Box::new(ctx.prepare(parsed, origin)))],
            Err(e) => vec![doc_error(file, doc, naming(doc.text), e)],
        },
        Identified::List { api_version, kind, items } => {
            let head = ListHead::new(Some(api_version), Some(&kind));
            items.into_iter().enumerate().map(|(n, item)| decode_value(ctx, &origin, doc.index, Some(n), item, &head)).collect()
        }
        Identified::Skip(key) => vec![Decoded::Skip(key)],
        Identified::NotObject => vec![Decoded::NotObject],
    };
    DocResult { decoded, warning }
}

/// A document too large for one parse's budget: when it is a list as `kubectl get -o yaml` writes
/// it, each item is parsed on its own (with its own budget) and read as the whole parse would read
/// it; anything else keeps the budget error `e`.
fn decode_split_list(ctx: &Ctx<'_>, file: &Arc<str>, doc: &Document<'_>, e: yaml::DecodeError) -> DocResult {
    let whole = |e| DocResult { decoded: vec![doc_error(file, doc, None, e)], warning: None };
    let Some(list) = yaml::split_block_list(doc.text) else { return whole(e) };
    let head = match yaml::decode_with(&list.head, &Identify) {
        Ok((Identified::List { api_version, kind, .. }, _)) => ListHead::new(Some(api_version), Some(&kind)),
        _ => return whole(e),
    };
    // Items are parsed on all cores, like documents.
    let items: Vec<(usize, (usize, String))> = list.items.into_iter().enumerate().collect();
    let results = par_map(&items, |(n, (offset, text))| {
        let item_doc = Document { index: doc.index, start_line: doc.start_line + offset, text };
        let origin = Origin { file: file.clone(), line: item_doc.start_line };
        Some(match yaml::decode::<serde_json::Value>(text) {
            Ok((value, dup)) => (decode_value(ctx, &origin, doc.index, Some(*n), value, &head), duplicate_warning(file, &item_doc, dup)),
            Err(e) => {
                (doc_error(file, &item_doc, None, yaml::DecodeError { field: e.field.map(|f| format!("items[{n}].{f}")), ..e }), None)
            }
        })
    });
    let mut warning = None;
    let mut decoded = Vec::with_capacity(results.len());
    for (d, w) in results.into_iter().flatten() {
        decoded.push(d);
        warning = warning.or(w);
    }
    DocResult { decoded, warning }
}

/// What a list says about its items: items without `apiVersion` take the list's, and items of a
/// typed list (`PodList`) without `kind` take its item kind.
#[derive(Debug, Clone, Default)]
pub struct ListHead {
    /// The list's apiVersion.
    pub api_version: Option<String>,
    /// `Pod` for a `PodList`; none for a `List`.
    pub item_kind: Option<String>,
}

impl ListHead {
    /// The head of a list with this apiVersion and kind.
    pub fn new(api_version: Option<String>, kind: Option<&str>) -> Self {
        let item_kind = kind.and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty()).map(str::to_string);
        ListHead { api_version, item_kind }
    }

    /// An item's apiVersion and kind: its own, else the list's. Err: (field, message) for a field
    /// that is not a string.
    pub fn resolve(
        &self,
        api: Option<&serde_json::Value>,
        kind: Option<&serde_json::Value>,
    ) -> Result<Option<(String, String)>, (&'static str, String)> {
        let field = |name: &'static str, v: Option<&serde_json::Value>, default: &Option<String>| match v {
            None | Some(serde_json::Value::Null) => Ok(default.clone()),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err((name, format!("{name} must be a string, found {other}"))),
        };
        Ok(field("apiVersion", api, &self.api_version)?.zip(field("kind", kind, &self.item_kind)?))
    }
}

/// Decodes one list item (`n`: its index), or a single JSON object, held as a generic value.
pub(super) fn decode_value(
    ctx: &Ctx<'_>,
    origin: &Origin,
    document: usize,
    n: Option<usize>,
    item: serde_json::Value,
    head: &ListHead,
) -> Decoded {
    let name = item.pointer("/metadata/name").and_then(|v| v.as_str()).map(str::to_string);
    let (api, kind) = match head.resolve(item.get("apiVersion"), item.get("kind")) {
        Ok(Some(h)) => h,
        Ok(None) => return Decoded::NotObject,
        Err((field, e)) => return item_error(origin, document, n, None, Some(field.into()), e),
    };
    let Some(judged) = judged(&api, &kind) else { return Decoded::Skip(skipped_key(&api, &kind)) };
    let object = name.map(|name| format!("{kind}/{name}"));
    let mut track = serde_path_to_error::Track::new();
    match decode_kind(judged, serde_path_to_error::Deserializer::new(item, &mut track)) {
        Ok(parsed) => Decoded::Object(Box::new(ctx.prepare(parsed, origin.clone()))),
        Err(e) => item_error(origin, document, n, object, Some(track.path().to_string()), e.to_string()),
    }
}

/// Decodes documents on all cores; results come back in input order.
fn decode_parallel(ctx: &Ctx<'_>, docs: &[(Arc<str>, Document<'_>)]) -> Vec<DocResult> {
    par_map(docs, |(f, d)| decode_document(ctx, f, d))
}
