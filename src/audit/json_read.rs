//! Reading JSON inputs: the stream of `items` is cut by [`json_stream`], decoded and evaluated on
//! worker threads in batches while the next batch is scanned, and applied in input order.

use super::collect::Ctx;
use super::docs::MetaDoc;
use super::json_stream::{self, Event, scan_object};
use super::kinds::{decode_kind, is_list_kind, judged, skipped_key};
use super::read::{Decoded, DocResult, InputError, ListHead, Reader, decode_value, duplicate_key_warning, item_error};
use crate::model::Origin;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, mpsc};

/// What a worker made of one item: a result, or the item back when its list's head (which gives
/// items their apiVersion or kind) was not known yet.
enum ItemOut {
    Done(DocResult),
    Held(JsonItem),
}

impl Reader<'_> {
    /// Reads JSON: each top-level value; the `items` of lists are streamed and decoded on worker
    /// threads in batches while the next batch is scanned; results are applied in input order.
    pub fn read_json<R: Read>(&mut self, file: &Arc<str>, input: R) {
        let ctx = self.ctx;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<JsonItem>)>(workers);
        let work_rx = Mutex::new(work_rx);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<ItemOut>)>();
        let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(SPARES);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (work_rx, done_tx, spare_tx, file) = (&work_rx, done_tx.clone(), spare_tx.clone(), file.clone());
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok((seq, items))) = next else { break };
                        let out: Vec<ItemOut> = items.into_iter().map(|it| decode_and_recycle(&ctx, &file, it, &spare_tx)).collect();
                        if done_tx.send((seq, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop((done_tx, spare_tx));
            let mut pipe = Pipeline { work_tx: Some(work_tx), done_rx, sent: 0, applied: 0, waiting: BTreeMap::new() };
            let mut stream = json_stream::Stream::new(input).recycling(spare_rx);
            let mut doc = JsonDoc::default();
            let mut batch: Vec<JsonItem> = Vec::with_capacity(BATCH);
            let outcome = stream.run(|event| match event {
                Event::Begin(index, line) => doc = JsonDoc { index, line, ..Default::default() },
                Event::Member(key, value, line) => {
                    if key == "kind" || key == "apiVersion" {
                        let v = serde_json::from_slice::<String>(&value.bytes).ok();
                        let mut head = (*doc.head).clone();
                        if key == "kind" {
                            doc.kind = v.clone();
                            head = ListHead::new(head.api_version, v.as_deref());
                        } else {
                            head.api_version = v;
                        }
                        doc.head = Arc::new(head);
                    }
                    if doc.duplicate.is_none() && doc.members.iter().any(|(k, _, _)| *k == key) {
                        doc.duplicate = Some(duplicate_key_warning(file, doc.index, line, &key));
                    }
                    doc.members.push((key, value, line));
                }
                Event::Item(item, line) => {
                    doc.items += 1;
                    let final_head = doc.kind.is_some() && doc.head.api_version.is_some();
                    let json_stream::Taken { bytes, repeated } = item;
                    batch.push(JsonItem {
                        bytes,
                        line,
                        document: doc.index,
                        n: Some(doc.items - 1),
                        head: doc.head.clone(),
                        final_head,
                        repeated,
                    });
                    if batch.len() >= BATCH {
                        pipe.send(std::mem::take(&mut batch), self, &mut doc.held);
                    }
                }
                Event::End => {
                    pipe.send(std::mem::take(&mut batch), self, &mut doc.held);
                    pipe.drain(self, &mut doc.held);
                    let doc = std::mem::take(&mut doc);
                    let head = Arc::new((*doc.head).clone());
                    // Items that needed the list's head, now that all of it is known.
                    let held: Vec<DocResult> = doc
                        .held
                        .into_iter()
                        .filter_map(|it| decode_item(&ctx, file, &JsonItem { head: head.clone(), final_head: true, ..it }, true))
                        .collect();
                    self.apply_all(held);
                    let is_list = doc.kind.as_deref().is_some_and(is_list_kind) || (doc.kind.is_none() && doc.items > 0);
                    if is_list {
                        // A single object's repeated members are found again when it is decoded.
                        self.warnings.extend(doc.duplicate);
                    } else {
                        if doc.items > 0 {
                            self.warnings.push(format!(
                                "{file}: document {} (line {}): a {} with a top-level items array: its items were read as objects too",
                                doc.index,
                                doc.line,
                                doc.kind.as_deref().unwrap_or_default()
                            ));
                        }
                        self.single_json_object(file, (doc.index, doc.line), doc.members, doc.duplicate.is_some());
                    }
                }
            });
            pipe.send(std::mem::take(&mut batch), self, &mut doc.held);
            pipe.drain(self, &mut doc.held);
            pipe.work_tx = None;
            match outcome {
                Ok(()) => {}
                Err(json_stream::Failure::Io(e)) => self.error(file, format!("cannot read: {e}")),
                Err(json_stream::Failure::Malformed(e)) => self.errors.push(InputError {
                    file: file.to_string(),
                    document: Some(doc.index.max(1)),
                    line: Some(e.line),
                    object: None,
                    field: None,
                    message: format!("not valid JSON: {}", e.message),
                }),
            }
        });
    }

    /// One JSON object that is not a list: its members put back together (each on its own line
    /// again) and decoded as list items are, without a generic value of the whole.
    /// `repeated`: a member is repeated (a key repeated inside a member's value is known from it).
    fn single_json_object(
        &mut self,
        file: &Arc<str>,
        (index, line): (usize, usize),
        members: Vec<(String, json_stream::Taken, usize)>,
        repeated: bool,
    ) {
        let repeated = repeated || members.iter().any(|(_, v, _)| v.repeated);
        let size: usize = members.iter().map(|(k, v, l)| k.len() + v.bytes.len() + l.saturating_sub(line) + 8).sum();
        let mut bytes = Vec::with_capacity(size + 2);
        bytes.push(b'{');
        let mut at = line;
        for (i, (key, value, member_line)) in members.into_iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            bytes.extend(std::iter::repeat_n(b'\n', member_line.saturating_sub(at)));
            at = at.max(member_line) + memchr::memchr_iter(b'\n', &value.bytes).count();
            // A String always serialises.
            bytes.extend_from_slice(serde_json::to_string(&key).unwrap_or_default().as_bytes());
            bytes.push(b':');
            bytes.extend_from_slice(&value.bytes);
        }
        bytes.push(b'}');
        let item = JsonItem { bytes, line, document: index, n: None, head: Arc::default(), final_head: true, repeated };
        if let Some(r) = decode_item(&self.ctx, file, &item, true) {
            self.apply_all(vec![r]);
        }
    }
}

/// Items per batch: enough to amortize the hand-over, few enough that the batches in flight stay small.
const BATCH: usize = 64;

/// Item buffers waiting to be reused by the stream (more are freed): those of the batches in flight.
const SPARES: usize = 4 * BATCH;

/// The largest item buffer kept for reuse (a Pod takes 4–8 KiB): a larger one is freed, so the
/// waiting buffers stay under 16 MiB.
const SPARE_MAX: usize = 64 << 10;

/// Batches in flight to the decoding threads, and their results put back in order.
struct Pipeline {
    work_tx: Option<mpsc::SyncSender<(usize, Vec<JsonItem>)>>,
    done_rx: mpsc::Receiver<(usize, Vec<ItemOut>)>,
    sent: usize,
    applied: usize,
    waiting: BTreeMap<usize, Vec<ItemOut>>,
}

impl Pipeline {
    fn send(&mut self, batch: Vec<JsonItem>, reader: &mut Reader<'_>, held: &mut Vec<JsonItem>) {
        if batch.is_empty() {
            return;
        }
        if let Some(tx) = &self.work_tx
            && tx.send((self.sent, batch)).is_ok()
        {
            self.sent += 1;
        }
        while let Ok((seq, out)) = self.done_rx.try_recv() {
            self.waiting.insert(seq, out);
        }
        self.apply_ready(reader, held);
    }

    fn apply_ready(&mut self, reader: &mut Reader<'_>, held: &mut Vec<JsonItem>) {
        while let Some(out) = self.waiting.remove(&self.applied) {
            for o in out {
                match o {
                    ItemOut::Done(r) => reader.apply_all(vec![r]),
                    ItemOut::Held(it) => held.push(it),
                }
            }
            self.applied += 1;
        }
    }

    /// Waits for every batch sent so far and applies them in order.
    fn drain(&mut self, reader: &mut Reader<'_>, held: &mut Vec<JsonItem>) {
        while self.applied < self.sent {
            match self.done_rx.recv() {
                Ok((seq, out)) => {
                    self.waiting.insert(seq, out);
                    self.apply_ready(reader, held);
                }
                Err(_) => break,
            }
        }
    }
}

#[derive(Default)]
struct JsonDoc {
    index: usize,
    line: usize,
    kind: Option<String>,
    head: Arc<ListHead>,
    items: usize,
    members: Vec<(String, json_stream::Taken, usize)>,
    held: Vec<JsonItem>,
    duplicate: Option<String>,
}

struct JsonItem {
    bytes: Vec<u8>,
    line: usize,
    document: usize,
    /// Index in the list; none for a single object.
    n: Option<usize>,
    /// The list's head as known when the item was read.
    head: Arc<ListHead>,
    /// True when that head is complete (both apiVersion and kind of the list were read).
    final_head: bool,
    /// True when an object in it may repeat a key, as the stream noted while cutting it out.
    repeated: bool,
}

/// The fast path for the usual item (what kubectl writes): `apiVersion` and `kind` are its first two
/// members, plain strings, and no object in it repeats a key (the stream noted its keys while
/// cutting it out). Any doubt (a possibly repeated key, which may be a second `kind`, an escape,
/// an error) leaves the item to the full path, which scans it and decides exactly as a full parse
/// does.
fn decode_usual_item(ctx: &Ctx<'_>, file: &Arc<str>, it: &JsonItem) -> Option<DocResult> {
    if it.repeated {
        return None;
    }
    let text = std::str::from_utf8(&it.bytes).ok()?;
    let (api, kind) = leading_api_version_and_kind(text)?;
    let judged = judged(api, kind)?;
    let parsed = decode_kind(judged, &mut serde_json::Deserializer::from_str(text)).ok()?;
    let origin = Origin { file: file.clone(), line: it.line };
    Some(DocResult { decoded: vec![Decoded::Object(Box::new(ctx.prepare(parsed, origin)))], warning: None })
}

/// `apiVersion` and `kind` when they are the object's first two members (in either order), with
/// keys and values that are plain strings without escapes.
fn leading_api_version_and_kind(text: &str) -> Option<(&str, &str)> {
    fn string(s: &str) -> Option<(&str, &str)> {
        let rest = s.trim_start().strip_prefix('"')?;
        let end = rest.find(['"', '\\'])?;
        rest[end..].starts_with('"').then(|| (&rest[..end], &rest[end + 1..]))
    }
    fn member(s: &str) -> Option<(&str, &str, &str)> {
        let (key, rest) = string(s)?;
        let (value, rest) = string(rest.trim_start().strip_prefix(':')?)?;
        Some((key, value, rest))
    }
    let (k1, v1, rest) = member(text.trim_start().strip_prefix('{')?)?;
    let (k2, v2, _) = member(rest.trim_start().strip_prefix(',')?)?;
    match (k1, k2) {
        ("apiVersion", "kind") => Some((v1, v2)),
        ("kind", "apiVersion") => Some((v2, v1)),
        _ => None,
    }
}

/// An item decoded on a decoding thread, or held back for its list's head; the buffer of a decoded
/// item goes back to the stream (a full pool, or a buffer too large to keep, is freed instead).
fn decode_and_recycle(ctx: &Ctx<'_>, file: &Arc<str>, it: JsonItem, spares: &mpsc::SyncSender<Vec<u8>>) -> ItemOut {
    let Some(r) = decode_item(ctx, file, &it, false) else { return ItemOut::Held(it) };
    if it.bytes.capacity() <= SPARE_MAX {
        match spares.try_send(it.bytes) {
            // Full: enough buffers wait already. Disconnected: the stream has ended.
            Ok(()) | Err(mpsc::TrySendError::Full(_) | mpsc::TrySendError::Disconnected(_)) => {}
        }
    }
    ItemOut::Done(r)
}

/// The item decoded, or None when it needs its list's head and that is not complete yet (never
/// with `at_end`).
fn decode_item(ctx: &Ctx<'_>, file: &Arc<str>, it: &JsonItem, at_end: bool) -> Option<DocResult> {
    if let Some(result) = decode_usual_item(ctx, file, it) {
        return Some(result);
    }
    let origin = Origin { file: file.clone(), line: it.line };
    let scan = scan_object(&it.bytes);
    let (api, kind) = match it.head.resolve(scan.api_version.as_ref(), scan.kind.as_ref()) {
        Ok(Some(h)) => h,
        Ok(None) if it.final_head || at_end => {
            return done(
                match serde_json::from_slice::<IgnoredAny>(&it.bytes) {
                    Ok(_) => Decoded::NotObject,
                    Err(e) => json_error(&origin, it, None, None, &e),
                },
                None,
            );
        }
        Ok(None) => return None,
        Err((field, e)) => return done(item_error(&origin, it.document, it.n, None, Some(field.into()), e), None),
    };
    let warning = scan.duplicate.as_ref().map(|(key, at)| {
        let line = it.line + memchr::memchr_iter(b'\n', &it.bytes[..*at]).count();
        duplicate_key_warning(file, it.document, line, key)
    });
    let Some(judged) = judged(&api, &kind) else {
        return done(
            match serde_json::from_slice::<IgnoredAny>(&it.bytes) {
                Ok(_) => Decoded::Skip(skipped_key(&api, &kind)),
                Err(e) => json_error(&origin, it, None, None, &e),
            },
            warning,
        );
    };
    if scan.duplicate.is_some() {
        // A repeated key: decoded through a generic value, where the last value wins.
        let d = match serde_json::from_slice::<serde_json::Value>(&it.bytes) {
            Ok(v) => decode_value(ctx, &origin, it.document, it.n, v, &it.head),
            Err(e) => json_error(&origin, it, None, None, &e),
        };
        return done(d, warning);
    }
    // One UTF-8 check for the whole item, then from_str, which skips the per-string checks.
    let Ok(text) = std::str::from_utf8(&it.bytes) else {
        return done(item_error(&origin, it.document, it.n, None, None, "not valid UTF-8".into()), warning);
    };
    let d = match decode_kind(judged, &mut serde_json::Deserializer::from_str(text)) {
        Ok(parsed) => Decoded::Object(Box::new(ctx.prepare(parsed, origin))),
        Err(e) => {
            // Decode again with path tracking to name the field at fault.
            let mut track = serde_path_to_error::Track::new();
            let mut de = serde_json::Deserializer::from_slice(&it.bytes);
            let _ = decode_kind(judged, serde_path_to_error::Deserializer::new(&mut de, &mut track));
            let object =
                serde_json::from_slice::<MetaDoc>(&it.bytes).ok().and_then(|m| m.metadata.name).map(|name| format!("{kind}/{name}"));
            json_error(&origin, it, object, Some(track.path().to_string()), &e)
        }
    };
    done(d, warning)
}

/// A JSON error in an item, at its line in the file: the item's first line plus the error's line
/// within it (the stream keeps an item's line breaks). serde_json's own "at line L column C" is
/// left out of the message: its line counts from the item, and its column from the item's copy,
/// which has no indentation.
fn json_error(item: &Origin, it: &JsonItem, object: Option<String>, field: Option<String>, e: &serde_json::Error) -> Decoded {
    let origin = Origin { file: item.file.clone(), line: item.line + e.line().max(1) - 1 };
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = match message.strip_suffix(&position) {
        Some(without) => without.to_string(),
        None => message,
    };
    item_error(&origin, it.document, it.n, object, field, message)
}

fn done(d: Decoded, warning: Option<String>) -> Option<DocResult> {
    Some(DocResult { decoded: vec![d], warning })
}

#[cfg(test)]
mod tests {
    use super::leading_api_version_and_kind as head;

    #[test]
    fn the_fast_path_takes_only_plain_leading_api_version_and_kind() {
        assert_eq!(head(r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {}}"#), Some(("v1", "Pod")));
        assert_eq!(head("{\n    \"kind\" : \"Deployment\",\n    \"apiVersion\":\"apps/v1\"}"), Some(("apps/v1", "Deployment")));
        for other in [
            r#"{"metadata": {}, "apiVersion": "v1", "kind": "Pod"}"#,
            r#"{"apiVersion": "v1", "metadata": {}, "kind": "Pod"}"#,
            r#"{"\u0061piVersion": "v1", "kind": "Pod"}"#,
            r#"{"apiVersion": "v1", "kind": "P\u006fd"}"#,
            r#"{"apiVersion": "v1", "kind": 5}"#,
            r#"{"apiVersion": "v1"}"#,
            r#"["apiVersion", "v1"]"#,
        ] {
            assert_eq!(head(other), None, "{other}");
        }
    }
}
