//! Where a key sits in the config text: paths from `serde_ignored` and from
//! problem keys (`train.mixture[0].digits`) mapped to line and column through
//! `toml_edit`'s spans.

/// A path segment inside the TOML document.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) fn segments(p: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path as P;
    let mut out = match p {
        P::Root => return Vec::new(),
        P::Seq { parent, .. }
        | P::Map { parent, .. }
        | P::Some { parent }
        | P::NewtypeStruct { parent }
        | P::NewtypeVariant { parent } => segments(parent),
    };
    match p {
        P::Seq { index, .. } => out.push(Seg::Index(*index)),
        P::Map { key, .. } => out.push(Seg::Key(key.clone())),
        _ => {}
    }
    out
}

pub(super) fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn parse_dotted(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

/// Byte offset of the deepest part of `path` the document has: the key
/// itself where possible, else its value.
fn find_span(doc: &toml_edit::ImDocument<&str>, path: &[Seg]) -> Option<usize> {
    use toml_edit::{Item, Value};
    // Owned clones keep the walk simple; configs are tiny.
    let mut item: Item = doc.as_item().clone();
    let mut best = None;
    for seg in path {
        let next: Option<(Option<usize>, Item)> = match (seg, &item) {
            (Seg::Key(k), Item::Table(t)) => t
                .get(k)
                .map(|v| (t.key(k).and_then(|k| k.span()).map(|s| s.start), v.clone())),
            (Seg::Key(k), Item::Value(Value::InlineTable(t))) => t.get(k).map(|v| {
                (
                    t.key(k).and_then(|k| k.span()).map(|s| s.start),
                    Item::Value(v.clone()),
                )
            }),
            (Seg::Index(i), Item::ArrayOfTables(a)) => a
                .get(*i)
                .map(|t| (t.span().map(|s| s.start), Item::Table(t.clone()))),
            (Seg::Index(i), Item::Value(Value::Array(a))) => a
                .get(*i)
                .map(|v| (v.span().map(|s| s.start), Item::Value(v.clone()))),
            _ => None,
        };
        match next {
            Some((span, it)) => {
                best = span.or(best);
                item = it;
            }
            None => break,
        }
    }
    best
}

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Line and column of a dotted key (or the deepest part of it the text has).
pub(super) fn locate_key(
    doc: &toml_edit::ImDocument<&str>,
    text: &str,
    path: &[Seg],
) -> Option<(usize, usize)> {
    find_span(doc, path).map(|s| line_col(text, s))
}

/// [`locate_key`] for a problem's dotted key.
pub(super) fn locate_dotted(
    doc: &toml_edit::ImDocument<&str>,
    text: &str,
    key: &str,
) -> Option<(usize, usize)> {
    locate_key(doc, text, &parse_dotted(key))
}
