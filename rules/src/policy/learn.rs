//! The fingerprints each (account, database) is known to send, for learning mode (see
//! [`Learning`](crate::account::Learning)). Kept in a text file, one fingerprint a line:
//!
//! ```text
//! app_portal<TAB>publicdata<TAB>9f3c2a1be0d4c5aa<TAB>select name from population where id_card = ?
//! ```
//!
//! The normalized text is there for the reviewer; only the first three fields count. Lines
//! are only ever appended, so a crash loses at most the line being written.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Why the fingerprints file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: expected `account<TAB>database<TAB>fingerprint(16 hex digits)[<TAB>text]`", path.display())]
    Malformed { path: PathBuf, line: usize },
}

type Key = (String, String, u64);

/// The known fingerprints, shared by every session; lookups take a read lock only.
#[derive(Debug, Default)]
pub struct Learned {
    path: Option<PathBuf>,
    known: RwLock<HashSet<Key>>,
}

impl Learned {
    /// Fingerprints kept in memory only (tests, `rules explain`).
    pub fn in_memory() -> Learned {
        Learned::default()
    }

    /// Loads `path` (a missing file is an empty set) and appends to it from then on.
    pub fn open(path: &Path) -> Result<Learned, LearnError> {
        let io = |source| LearnError::Io {
            path: path.to_owned(),
            source,
        };
        let mut known = HashSet::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let mut f = line.split('\t');
                    let parsed = match (f.next(), f.next(), f.next()) {
                        (Some(a), Some(d), Some(fp))
                            if !a.is_empty() && !d.is_empty() && fp.len() == 16 =>
                        {
                            u64::from_str_radix(fp, 16)
                                .ok()
                                .map(|fp| (a.to_owned(), d.to_lowercase(), fp))
                        }
                        _ => None,
                    };
                    let key = parsed.ok_or_else(|| LearnError::Malformed {
                        path: path.to_owned(),
                        line: i + 1,
                    })?;
                    known.insert(key);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        Ok(Learned {
            path: Some(path.to_owned()),
            known: RwLock::new(known),
        })
    }

    pub fn contains(&self, account: &str, database: &str, fingerprint: u64) -> bool {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        known.contains(&(account.to_owned(), database.to_lowercase(), fingerprint))
    }

    /// Adds a fingerprint; true when it was new. New ones are appended to the file.
    pub fn record(
        &self,
        account: &str,
        database: &str,
        fingerprint: u64,
        normalized: &str,
    ) -> Result<bool, LearnError> {
        let key = (account.to_owned(), database.to_lowercase(), fingerprint);
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.contains(&key) {
            return Ok(false);
        }
        if let Some(path) = &self.path {
            let text: String = normalized
                .chars()
                .map(|c| {
                    if c == '\t' || c == '\n' || c == '\r' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            let line = format!("{}\t{}\t{fingerprint:016x}\t{text}\n", key.0, key.1);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|source| LearnError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        known.insert(key);
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.known.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_fingerprints_survive_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("learned.tsv");
        let l = Learned::open(&path).expect("open");
        assert!(
            l.record("app_portal", "PublicData", 0xabc, "select\t1")
                .expect("record")
        );
        assert!(
            !l.record("app_portal", "publicdata", 0xabc, "select 1")
                .expect("again")
        );
        let l = Learned::open(&path).expect("reopen");
        assert!(l.contains("app_portal", "publicdata", 0xabc));
        assert!(!l.contains("share_api", "publicdata", 0xabc));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn a_malformed_line_is_located() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("learned.tsv");
        std::fs::write(&path, "a\tdb\t0000000000000001\tx\nbroken line\n").expect("write");
        let e = Learned::open(&path).expect_err("malformed");
        assert!(e.to_string().contains("learned.tsv:2: expected"), "{e}");
    }
}
