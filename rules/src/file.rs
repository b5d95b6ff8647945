//! Loading the TOML files an operator writes — `tianmu.toml`, the data catalog, the accounts
//! and the policy — so that every mistake is reported with the file, the line and the key.
//!
//! A file is loaded in two steps: serde turns the text into a raw struct (syntax, unknown keys
//! and wrong types stop here, with the position toml reports), then a validator turns the raw
//! struct into the validated type that running code sees, collecting *all* semantic problems
//! at once. Problems name a key path (`firewall.listeners[1].listen`); [`load`] finds the line
//! of that key in the source so the operator can jump to it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One thing wrong with a file, before it is located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path with array indices, e.g. `firewall.listeners[1].listen`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Collects the problems a validator finds; see [`load`].
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records that the value at `key` is wrong.
    pub fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// A problem with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// 1-based line, when the key could be found in the text.
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Why a file could not be loaded. Its `Display` lists every problem, one per line, as
/// `path:line: key: message`.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Located>,
    },
}

fn render(path: &Path, problems: &[Located]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string_in(path));
    }
    out
}

impl Located {
    fn to_string_in(&self, path: &Path) -> String {
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.key)
        };
        match self.line {
            Some(line) => format!("{}:{line}: {key}{}", path.display(), self.message),
            None => format!("{}: {key}{}", path.display(), self.message),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Reads `path`, deserializes it into `R` and validates it into `V`.
///
/// `validate` always returns a value (it may fill placeholders for bad fields) and records
/// what is wrong in the [`Problems`]; when any were recorded, the value is discarded and all
/// problems are returned, located.
pub fn load<R: DeserializeOwned, V>(
    path: &Path,
    validate: impl FnOnce(R, &mut Problems) -> V,
) -> Result<V, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, validate)
}

/// [`load`] for text already in memory; `path` is only used in messages.
pub fn parse<R: DeserializeOwned, V>(
    path: &Path,
    text: &str,
    validate: impl FnOnce(R, &mut Problems) -> V,
) -> Result<V, FileError> {
    let invalid = |problems| FileError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let raw: R = toml::from_str(text).map_err(|e| invalid(vec![locate_de_error(text, &e)]))?;
    let mut problems = Problems::default();
    let valid = validate(raw, &mut problems);
    if problems.is_empty() {
        return Ok(valid);
    }
    let tree = DeTable::parse(text).ok();
    let located = problems
        .into_vec()
        .into_iter()
        .map(|p| Located {
            line: tree
                .as_ref()
                .and_then(|t| span_of_key(t, &p.key))
                .map(|span| line_of(text, span.start)),
            key: p.key,
            message: p.message,
        })
        .collect();
    Err(invalid(located))
}

fn locate_de_error(text: &str, err: &toml::de::Error) -> Located {
    let span = err.span();
    let key = match (&span, DeTable::parse(text)) {
        (Some(span), Ok(tree)) => key_at(&tree, span),
        _ => String::new(),
    };
    Located {
        line: span.map(|s| line_of(text, s.start)),
        key,
        message: err.message().trim_end().to_owned(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some((idx, tail)) = rest.split_once(']') {
            if let Ok(i) = idx.parse() {
                out.push(Segment::Index(i));
            }
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    out
}

/// The span of the deepest part of `path` present in the document: a key that is missing
/// (e.g. a required key left out) is reported at its parent table.
fn span_of_key(root: &Spanned<DeTable<'_>>, path: &str) -> Option<Range<usize>> {
    let mut best = root.span();
    let mut table = Some(root.get_ref());
    let mut value: Option<&Spanned<DeValue<'_>>> = None;
    for seg in segments(path) {
        let next = match (seg, table, value) {
            (Segment::Key(k), Some(t), _) => {
                t.iter()
                    .find(|(key, _)| key.get_ref() == k)
                    .map(|(key, v)| {
                        best = key.span();
                        v
                    })
            }
            (Segment::Index(i), _, Some(v)) => match v.get_ref() {
                DeValue::Array(a) => a.get(i).inspect(|v| best = v.span()),
                _ => None,
            },
            _ => None,
        };
        let Some(next) = next else { break };
        value = Some(next);
        table = match next.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    Some(best)
}

/// The key path of the innermost key or value whose span contains `span`. Every node is
/// visited: the span toml gives a `[table]` or `[[array]]` covers only its header, not the
/// keys under it.
fn key_at(root: &Spanned<DeTable<'_>>, span: &Range<usize>) -> String {
    fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
        outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
    }
    struct Best {
        path: String,
        width: usize,
    }
    fn consider(best: &mut Best, path: &str, candidate: &Range<usize>, span: &Range<usize>) {
        let width = candidate.end - candidate.start;
        if contains(candidate, span) && width <= best.width {
            best.path = path.to_owned();
            best.width = width;
        }
    }
    fn walk(value: &Spanned<DeValue<'_>>, path: &str, span: &Range<usize>, best: &mut Best) {
        consider(best, path, &value.span(), span);
        match value.get_ref() {
            DeValue::Table(t) => {
                for (key, v) in t.iter() {
                    let child = if path.is_empty() {
                        key.get_ref().to_string()
                    } else {
                        format!("{path}.{}", key.get_ref())
                    };
                    consider(best, &child, &key.span(), span);
                    walk(v, &child, span, best);
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), span, best);
                }
            }
            _ => {}
        }
    }
    let mut best = Best {
        path: String::new(),
        width: usize::MAX,
    };
    let root_value = Spanned::new(0..0, DeValue::Table(root.get_ref().clone()));
    walk(&root_value, "", span, &mut best);
    best.path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Raw {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
        #[allow(dead_code)] // parsed for its errors only
        server: Option<Server>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Item {
        port: u16,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)] // parsed for its errors only
    struct Server {
        listen: std::net::SocketAddr,
    }

    fn check(raw: Raw, p: &mut Problems) -> usize {
        for (i, item) in raw.items.iter().enumerate() {
            if item.port == 0 {
                p.add(format!("items[{i}].port"), "port 0 is not allowed");
            }
        }
        if raw.name.is_empty() {
            p.add("name", "must not be empty");
        }
        raw.items.len()
    }

    fn problems(text: &str) -> Vec<Located> {
        match parse(Path::new("t.toml"), text, check) {
            Err(FileError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_file_loads() {
        let n = parse(
            Path::new("t.toml"),
            "name = 'a'\n[[items]]\nport = 1\n",
            check,
        );
        assert_eq!(n.ok(), Some(1));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let p = problems("name = 'a'\n\n[server]\nlisten = '127.0.0.1:1'\nlsten = 3\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, Some(5));
        assert!(p[0].message.contains("unknown field `lsten`"), "{:?}", p[0]);
        assert_eq!(p[0].key, "server.lsten");
    }

    #[test]
    fn wrong_type_and_bad_address_are_located() {
        let p = problems("name = 'a'\n[[items]]\nport = 'x'\n");
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(3), "items[0].port"));
        let p = problems("name = 'a'\n[server]\nlisten = 'localhost'\n");
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(3), "server.listen"));
        assert!(
            p[0].message.contains("invalid socket address"),
            "{:?}",
            p[0]
        );
    }

    #[test]
    fn all_semantic_problems_are_reported_at_once() {
        let p = problems("name = ''\n[[items]]\nport = 1\n[[items]]\nport = 0\n");
        let got: Vec<_> = p.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(got, vec![(Some(5), "items[1].port"), (Some(1), "name")]);
        let err =
            parse(Path::new("t.toml"), "name = ''\n", check).expect_err("an empty name is refused");
        assert_eq!(err.to_string(), "t.toml:1: name: must not be empty");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let p = problems("name = 'a'\n[server\n");
        assert_eq!(p[0].line, Some(2));
    }

    #[test]
    fn key_paths_parse() {
        let segs = segments("a.b[2][3].c");
        assert_eq!(segs.len(), 5);
        assert!(matches!(segs[2], Segment::Index(2)));
        assert!(matches!(segs[3], Segment::Index(3)));
    }
}
