//! YAML read the way kubectl reads it: `---` document splitting, YAML 1.1 octals, duplicate keys as warnings.

use serde::de::DeserializeOwned;
use serde_saphyr::{DuplicateKeyPolicy, Error as YamlError, Options};

/// One document of a multi-document file.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// 1-based position in the file.
    pub index: usize,
    /// 1-based line where the document's text starts.
    pub start_line: usize,
    /// The document's text.
    pub text: &'a str,
}

/// Splits on lines that are exactly `---` (plus trailing spaces), as kubectl's YAML reader does;
/// documents holding only comments or blank lines are dropped.
pub fn split_documents<'a>(text: &'a str) -> Vec<Document<'a>> {
    let mut docs = vec![];
    let mut start = 0;
    let mut start_line = 1;
    let mut index = 0;
    let mut pos = 0;
    let mut push = |from: usize, to: usize, first_line: usize, docs: &mut Vec<Document<'a>>| {
        let chunk = &text[from..to];
        index += 1;
        let has_content = chunk.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "..."
        });
        if has_content {
            docs.push(Document { index, start_line: first_line, text: chunk });
        }
    };
    for (line_no, line) in (1..).zip(text.split_inclusive('\n')) {
        let end = pos + line.len();
        if let Some(rest) = line.strip_prefix("---")
            && rest.trim().is_empty()
        {
            push(start, pos, start_line, &mut docs);
            start = end;
            start_line = line_no + 1;
        }
        pos = end;
    }
    push(start, text.len(), start_line, &mut docs);
    docs
}

fn options(dups: DuplicateKeyPolicy) -> Options {
    serde_saphyr::options! {
        duplicate_keys: dups,
        legacy_octal_numbers: true,
        with_snippet: false,
    }
}

/// A document that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Line within the document text (1-based), when known.
    pub line: Option<usize>,
    /// Field path such as `spec.containers[0].ports[0].containerPort`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// True when the parser's budget (nodes, depth...) was exceeded rather than the text wrong.
    pub over_budget: bool,
}

/// The items of a top-level `items:` block sequence as kubectl writes it (`- ` at column 0), cut
/// apart so that each can be parsed with a budget of its own.
#[derive(Debug, PartialEq, Eq)]
pub struct BlockList {
    /// The document without its items (apiVersion, kind, metadata).
    pub head: String,
    /// Each item's text (dedented) and the 0-based line of the document it starts on.
    pub items: Vec<(usize, String)>,
}

/// Cuts a document shaped like `kubectl get -o yaml` output into its head and items; None when
/// its layout is any other (then only a whole parse can read it).
pub fn split_block_list(text: &str) -> Option<BlockList> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_items = |l: &str| l.trim_end() == "items:";
    let start = lines.iter().position(|l| is_items(l))?;
    if lines.iter().filter(|l| is_items(l)).count() != 1 {
        return None;
    }
    let mut items: Vec<(usize, String)> = vec![];
    let mut end = lines.len();
    for (n, line) in lines.iter().enumerate().skip(start + 1) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = bare.strip_prefix("- ").or_else(|| (bare == "-").then_some("")) {
            items.push((n, format!("{rest}\n")));
        } else if bare.trim().is_empty() || bare.starts_with('#') {
            if let Some((_, t)) = items.last_mut() {
                t.push('\n');
            }
        } else if let Some(rest) = bare.strip_prefix("  ") {
            let (_, t) = items.last_mut()?;
            t.push_str(rest);
            t.push('\n');
        } else if bare.starts_with([' ', '\t']) {
            // Indented by one space or a tab: not kubectl's layout.
            return None;
        } else {
            end = n;
            break;
        }
    }
    let head = lines[..start].concat() + &lines[end..].concat();
    Some(BlockList { head, items })
}

/// A duplicate mapping key, kept as a warning (the last value wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Line within the document text (1-based).
    pub line: usize,
    /// The key.
    pub key: String,
}

fn line_of(e: &YamlError) -> Option<usize> {
    e.location().map(|l| l.line() as usize).filter(|l| *l > 0)
}

fn plain_message(e: &YamlError) -> String {
    let s = e.without_snippet().to_string();
    s.lines().next().unwrap_or_default().to_string()
}

/// Something that decodes a value from any serde deserializer (a type, or "the type for this kind").
pub trait Decode {
    /// What it produces.
    type Out;
    /// Runs the decode.
    fn run<'de, D: serde::Deserializer<'de>>(&self, d: D) -> Result<Self::Out, D::Error>;
}

/// Decodes a plain `T`.
pub struct As<T>(std::marker::PhantomData<T>);

impl<T> Default for As<T> {
    fn default() -> Self {
        As(std::marker::PhantomData)
    }
}

impl<T: DeserializeOwned> Decode for As<T> {
    type Out = T;
    fn run<'de, D: serde::Deserializer<'de>>(&self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

fn run_saphyr<X: Decode>(text: &str, x: &X, dups: DuplicateKeyPolicy) -> Result<X::Out, YamlError> {
    serde_saphyr::with_deserializer_from_str_with_options(text, options(dups), |de| x.run(de))
}

/// Decodes one document into `T`; a duplicate key is reported and decoding retried with the last value winning.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<(T, Option<DuplicateKey>), DecodeError> {
    decode_with(text, &As::<T>::default())
}

/// Like [`decode`], for any [`Decode`].
pub fn decode_with<X: Decode>(text: &str, x: &X) -> Result<(X::Out, Option<DuplicateKey>), DecodeError> {
    match run_saphyr(text, x, DuplicateKeyPolicy::Error) {
        Ok(v) => Ok((v, None)),
        Err(YamlError::DuplicateMappingKey { key, location }) => {
            let dup = DuplicateKey { line: location.line() as usize, key: key.unwrap_or_else(|| "?".into()) };
            run_saphyr(text, x, DuplicateKeyPolicy::LastWins).map(|v| (v, Some(dup))).map_err(|e| explain(text, x, &e))
        }
        Err(e) => Err(explain(text, x, &e)),
    }
}

/// Re-runs a failed decode with path tracking to name the field at fault.
fn explain<X: Decode>(text: &str, x: &X, first: &YamlError) -> DecodeError {
    if matches!(first, YamlError::Budget { .. }) {
        // Too large to parse at all: a second parse would stop at the same place.
        return DecodeError { line: line_of(first), field: None, message: plain_message(first), over_budget: true };
    }
    let mut track = serde_path_to_error::Track::new();
    let _ = serde_saphyr::with_deserializer_from_str_with_options(text, options(DuplicateKeyPolicy::LastWins), |de| {
        x.run(serde_path_to_error::Deserializer::new(de, &mut track))
    });
    let p = track.path().to_string();
    let field = (p != "." && !p.is_empty()).then_some(p);
    DecodeError { line: line_of(first), field, message: plain_message(first), over_budget: false }
}

/// Decodes a whole file strictly (duplicate keys are errors); used for configuration.
pub fn from_str_strict<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options::<T>(text, options(DuplicateKeyPolicy::Error)).map_err(|e| {
        let line = line_of(&e).map(|l| format!("line {l}: ")).unwrap_or_default();
        format!("{line}{}", plain_message(&e))
    })
}

/// Serialises a value as YAML.
pub fn to_string<T: serde::Serialize>(v: &T) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# could not serialise as YAML: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn splits_like_kubectl() {
        let text = "a: 1\n---\n# only a comment\n---   \nb: 2\n--- # not a separator for kubectl\nc: 3\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].start_line), (1, 1));
        assert_eq!((docs[1].index, docs[1].start_line), (3, 5));
        assert!(docs[1].text.contains("c: 3"));
    }

    #[test]
    fn cuts_a_kubectl_list_into_its_items() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n  data: |\n    x\n\n    y\n# note\n-\n  kind: Service\nkind: List\nmetadata: {}\n";
        let list = split_block_list(text).expect("kubectl layout");
        assert_eq!(list.head, "apiVersion: v1\nkind: List\nmetadata: {}\n");
        assert_eq!(
            list.items,
            [(2, "apiVersion: v1\nkind: Pod\ndata: |\n  x\n\n  y\n\n".to_string()), (9, "\nkind: Service\n".to_string())]
        );
        assert_eq!(split_block_list("items:\n - a\n"), None, "indented items are not kubectl's layout");
        assert_eq!(split_block_list("items:\n- a\nitems:\n- b\n"), None);
    }

    #[test]
    fn legacy_octal_and_string_fields_read_as_kubectl_does() {
        #[derive(serde::Deserialize)]
        struct T {
            mode: i64,
            name: String,
            flag: bool,
        }
        let (t, dup) = decode::<T>("mode: 0400\nname: yes\nflag: yes\n").unwrap();
        assert_eq!((t.mode, t.name.as_str(), t.flag, dup), (256, "yes", true, None));
    }

    #[test]
    fn duplicate_key_warns_and_last_value_wins() {
        let (m, dup) = decode::<BTreeMap<String, i64>>("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(m["a"], 3);
        assert_eq!(dup, Some(DuplicateKey { line: 3, key: "a".into() }));
    }

    #[test]
    fn type_errors_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Port {
            port: i32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            ports: Vec<Port>,
        }
        let e = decode::<T>("ports:\n- port: 80\n- port: http\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("ports[1].port"));
        assert_eq!(e.line, Some(3));
    }
}
