//! Reading JSON inputs: the stream of `items` is cut by [`json_stream`], decoded and evaluated on
//! worker threads in batches while the next batch is scanned, and applied in input order.

use super::collect::Ctx;
use super::docs::{MetaDoc, decode_kind, is_judged_kind};
use super::json_stream::{self, Event, top_level_string};
use super::read::{Decoded, DocResult, InputError, Reader, decode_value, item_error};
use crate::model::Origin;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, mpsc};

impl Reader<'_> {
    /// Reads JSON: each top-level value; the `items` of lists are streamed and decoded on worker
    /// threads in batches while the next batch is scanned; results are applied in input order.
    pub fn read_json<R: Read>(&mut self, file: &Arc<str>, input: R) {
        let ctx = self.ctx;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<JsonItem>)>(workers);
        let work_rx = Mutex::new(work_rx);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<DocResult>)>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (work_rx, done_tx, file) = (&work_rx, done_tx.clone(), file.clone());
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok((seq, items))) = next else { break };
                        let out: Vec<DocResult> =
                            items.iter().map(|it| DocResult { decoded: vec![decode_json_item(&ctx, &file, it)], warning: None }).collect();
                        if done_tx.send((seq, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut pipe = Pipeline { work_tx: Some(work_tx), done_rx, sent: 0, applied: 0, waiting: BTreeMap::new() };
            let mut stream = json_stream::Stream::new(input);
            let mut doc = JsonDoc::default();
            let mut batch: Vec<JsonItem> = Vec::with_capacity(BATCH);
            let outcome = stream.run(|event| match event {
                Event::Begin(i) => doc = JsonDoc { index: i, ..Default::default() },
                Event::Member(key, value) => {
                    if key == "kind" {
                        doc.kind = serde_json::from_slice::<String>(&value).ok();
                    }
                    doc.members.push((key, value));
                }
                Event::Item(bytes, line) => {
                    doc.items += 1;
                    let kind = top_level_string(&bytes, "kind");
                    match kind.or_else(|| list_item_kind(doc.kind.as_deref())) {
                        Some(kind) => batch.push(JsonItem { bytes, kind, line, document: doc.index, n: doc.items - 1 }),
                        None => doc.held.push((bytes, line, doc.items - 1)),
                    }
                    if batch.len() >= BATCH {
                        pipe.send(std::mem::take(&mut batch), self);
                    }
                }
                Event::End => {
                    pipe.send(std::mem::take(&mut batch), self);
                    pipe.drain(self);
                    let doc = std::mem::take(&mut doc);
                    let held_kind = list_item_kind(doc.kind.as_deref());
                    let held: Vec<JsonItem> = doc
                        .held
                        .into_iter()
                        .filter_map(|(bytes, line, n)| held_kind.clone().map(|kind| JsonItem { bytes, kind, line, document: doc.index, n }))
                        .collect();
                    self.apply_all(
                        held.iter().map(|it| DocResult { decoded: vec![decode_json_item(&ctx, file, it)], warning: None }).collect(),
                    );
                    if doc.items == 0 {
                        self.single_json_object(file, doc.index, doc.members);
                    }
                }
            });
            pipe.send(std::mem::take(&mut batch), self);
            pipe.drain(self);
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

    fn single_json_object(&mut self, file: &Arc<str>, index: usize, members: Vec<(String, Vec<u8>)>) {
        let mut map = serde_json::Map::new();
        for (k, v) in members {
            match serde_json::from_slice(&v) {
                Ok(value) => {
                    map.insert(k, value);
                }
                Err(e) => {
                    let message = e.to_string();
                    return self.errors.push(InputError {
                        file: file.to_string(),
                        document: Some(index),
                        line: None,
                        object: None,
                        field: Some(k),
                        message,
                    });
                }
            }
        }
        let origin = Origin { file: file.clone(), line: 1 };
        let d = match (map.contains_key("apiVersion"), map.get("kind").and_then(|k| k.as_str()).is_some()) {
            (true, true) => decode_value(&self.ctx, &origin, index, 0, serde_json::Value::Object(map), None),
            _ => Decoded::NotObject,
        };
        self.apply(d);
    }
}

/// Items per batch: enough to amortize the hand-over, few enough that the batches in flight stay small.
const BATCH: usize = 64;

/// Batches in flight to the decoding threads, and their results put back in order.
struct Pipeline {
    work_tx: Option<mpsc::SyncSender<(usize, Vec<JsonItem>)>>,
    done_rx: mpsc::Receiver<(usize, Vec<DocResult>)>,
    sent: usize,
    applied: usize,
    waiting: BTreeMap<usize, Vec<DocResult>>,
}

impl Pipeline {
    fn send(&mut self, batch: Vec<JsonItem>, reader: &mut Reader<'_>) {
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
        self.apply_ready(reader);
    }

    fn apply_ready(&mut self, reader: &mut Reader<'_>) {
        while let Some(out) = self.waiting.remove(&self.applied) {
            reader.apply_all(out);
            self.applied += 1;
        }
    }

    /// Waits for every batch sent so far and applies them in order.
    fn drain(&mut self, reader: &mut Reader<'_>) {
        while self.applied < self.sent {
            match self.done_rx.recv() {
                Ok((seq, out)) => {
                    self.waiting.insert(seq, out);
                    self.apply_ready(reader);
                }
                Err(_) => break,
            }
        }
    }
}

#[derive(Default)]
struct JsonDoc {
    index: usize,
    kind: Option<String>,
    items: usize,
    members: Vec<(String, Vec<u8>)>,
    held: Vec<(Vec<u8>, usize, usize)>,
}

struct JsonItem {
    bytes: Vec<u8>,
    kind: String,
    line: usize,
    document: usize,
    n: usize,
}

fn list_item_kind(list_kind: Option<&str>) -> Option<String> {
    list_kind.and_then(|k| k.strip_suffix("List")).filter(|k| !k.is_empty()).map(str::to_string)
}

fn decode_json_item(ctx: &Ctx<'_>, file: &Arc<str>, it: &JsonItem) -> Decoded {
    let origin = Origin { file: file.clone(), line: it.line };
    if !is_judged_kind(&it.kind) {
        return match serde_json::from_slice::<IgnoredAny>(&it.bytes) {
            Ok(_) => Decoded::Skip(it.kind.clone()),
            Err(e) => item_error(&origin, it.document, it.n, None, None, e.to_string()),
        };
    }
    // One UTF-8 check for the whole item, then from_str, which skips the per-string checks.
    let Ok(text) = std::str::from_utf8(&it.bytes) else {
        return item_error(&origin, it.document, it.n, None, None, "not valid UTF-8".into());
    };
    match decode_kind(&it.kind, &mut serde_json::Deserializer::from_str(text)) {
        Ok(parsed) => Decoded::Object(Box::new(ctx.prepare(parsed, origin))),
        Err(e) => {
            // Decode again with path tracking to name the field at fault.
            let mut track = serde_path_to_error::Track::new();
            let mut de = serde_json::Deserializer::from_slice(&it.bytes);
            let _ = decode_kind(&it.kind, serde_path_to_error::Deserializer::new(&mut de, &mut track));
            let object =
                serde_json::from_slice::<MetaDoc>(&it.bytes).ok().and_then(|m| m.metadata.name).map(|name| format!("{}/{name}", it.kind));
            item_error(&origin, it.document, it.n, object, Some(track.path().to_string()), e.to_string())
        }
    }
}
