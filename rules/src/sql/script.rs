//! SQL scripts and logs as statements, and how many of them the analysis reads: the
//! parser-coverage measurement behind `tianmu rules coverage`.

use serde::Serialize;

use super::{Context, Dialect, NoSchema, Parse, analyze};

/// Splits a script into statements the way psql and the mysql client do: at `;` outside
/// quotes, dollar quotes (PostgreSQL), backticks (MySQL) and comments; psql meta-command
/// lines (`\…`) are skipped, and so is `COPY … FROM stdin` data up to its `\.` line.
pub fn split_statements(script: &str, dialect: Dialect) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let b = script.as_bytes();
    let mut i = 0;
    let mut at_line_start = true;
    let mut copy_data = false;
    while i < b.len() {
        if at_line_start {
            let line_end = script[i..].find('\n').map_or(b.len(), |n| i + n);
            let line = &script[i..line_end];
            if copy_data {
                if line.trim_end() == "\\." {
                    copy_data = false;
                }
                i = (line_end + 1).min(b.len());
                continue;
            }
            if cur.trim().is_empty() && line.trim_start().starts_with('\\') {
                i = (line_end + 1).min(b.len());
                continue;
            }
        }
        let c = b[i];
        at_line_start = c == b'\n';
        match c {
            b'\'' | b'"' => i = copy_quoted(script, i, c, dialect == Dialect::MySql, &mut cur),
            b'`' if dialect == Dialect::MySql => i = copy_quoted(script, i, c, false, &mut cur),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let end = script[i..].find('\n').map_or(b.len(), |n| i + n);
                i = end;
            }
            b'#' if dialect == Dialect::MySql => {
                let end = script[i..].find('\n').map_or(b.len(), |n| i + n);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = copy_comment(script, i, dialect, &mut cur),
            b'$' if dialect == Dialect::Postgres => i = copy_dollar(script, i, &mut cur),
            b';' => {
                let stmt = cur.trim().to_owned();
                if !stmt.is_empty() {
                    copy_data = dialect == Dialect::Postgres && is_copy_from_stdin(&stmt);
                    out.push(stmt);
                }
                cur.clear();
                i += 1;
            }
            _ => {
                let ch = script[i..].chars().next().unwrap_or(' ');
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    let stmt = cur.trim();
    if !stmt.is_empty() {
        out.push(stmt.to_owned());
    }
    out
}

fn is_copy_from_stdin(stmt: &str) -> bool {
    let s = stmt.to_ascii_lowercase();
    s.starts_with("copy") && s.contains("from stdin")
}

/// Copies a quoted run starting at `i` (the quote) into `cur`; returns the index after it.
fn copy_quoted(s: &str, i: usize, q: u8, backslash: bool, cur: &mut String) -> usize {
    let b = s.as_bytes();
    let mut j = i + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            j += 1;
            break;
        }
        j += 1;
    }
    let j = j.min(b.len());
    cur.push_str(s.get(i..j).unwrap_or(""));
    j
}

/// Copies a block comment (kept: MySQL runs `/*! … */`); PostgreSQL's nest.
fn copy_comment(s: &str, i: usize, dialect: Dialect, cur: &mut String) -> usize {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < b.len() {
        if b[j] == b'/' && b[j + 1] == b'*' {
            depth += 1;
            j += 2;
            if dialect == Dialect::MySql && depth > 1 {
                depth = 1;
            }
            continue;
        }
        if b[j] == b'*' && b[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                break;
            }
            continue;
        }
        j += 1;
    }
    let j = if depth > 0 { b.len() } else { j };
    cur.push_str(s.get(i..j).unwrap_or(""));
    j
}

/// Copies `$tag$ … $tag$` when `i` starts a dollar quote; otherwise just the `$`.
fn copy_dollar(s: &str, i: usize, cur: &mut String) -> usize {
    let rest = &s[i + 1..];
    let tag_len = rest.find('$').filter(|&n| {
        rest[..n].chars().all(|c| c.is_alphanumeric() || c == '_')
            && !rest[..n].starts_with(|c: char| c.is_ascii_digit())
    });
    let Some(n) = tag_len else {
        cur.push('$');
        return i + 1;
    };
    let tag = &s[i..i + n + 2];
    let body_start = i + n + 2;
    let end = s[body_start..]
        .find(tag)
        .map_or(s.len(), |k| body_start + k + tag.len());
    cur.push_str(&s[i..end]);
    end
}

/// How well a set of statements was read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Coverage {
    pub total: u64,
    pub parsed: u64,
    pub fallback: u64,
    pub unreadable: u64,
    /// The first failures, with the parser's message.
    pub failures: Vec<(String, String)>,
}

impl Coverage {
    pub fn percent(&self, n: u64) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * n as f64 / self.total as f64
        }
    }

    pub fn merge(&mut self, other: &Coverage, keep: usize) {
        self.total += other.total;
        self.parsed += other.parsed;
        self.fallback += other.fallback;
        self.unreadable += other.unreadable;
        for f in &other.failures {
            if self.failures.len() < keep {
                self.failures.push(f.clone());
            }
        }
    }
}

/// Analyzes each statement; keeps the first `keep` failures.
pub fn measure<'a>(
    statements: impl IntoIterator<Item = &'a str>,
    dialect: Dialect,
    keep: usize,
) -> Coverage {
    let ctx = match dialect {
        Dialect::Postgres => Context::postgres(Some("public")),
        Dialect::MySql => Context::mysql(None),
    };
    let mut c = Coverage::default();
    for s in statements {
        c.total += 1;
        let a = analyze(s, &ctx, &NoSchema);
        let failed = match a.parse {
            Parse::Parsed => {
                c.parsed += 1;
                None
            }
            Parse::Fallback { error } => {
                c.fallback += 1;
                Some(error)
            }
            Parse::Unreadable { error } => {
                c.unreadable += 1;
                Some(error)
            }
        };
        if let Some(error) = failed
            && c.failures.len() < keep
        {
            c.failures.push((s.chars().take(200).collect(), error));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{MySql as M, Postgres as P};

    #[test]
    fn splits_like_the_clients() {
        let cases: &[(Dialect, &str, &[&str])] = &[
            (P, "select 1; select 2;", &["select 1", "select 2"]),
            (
                P,
                "select ';' ; select \"a;b\" from t",
                &["select ';'", "select \"a;b\" from t"],
            ),
            (
                P,
                "select 'it''s;'; select 2",
                &["select 'it''s;'", "select 2"],
            ),
            (
                P,
                "create function f() returns int as $$ select 1; $$ language sql; select 2",
                &[
                    "create function f() returns int as $$ select 1; $$ language sql",
                    "select 2",
                ],
            ),
            (
                P,
                "create function f() returns int as $body$ begin; end $body$ language plpgsql;",
                &["create function f() returns int as $body$ begin; end $body$ language plpgsql"],
            ),
            (P, "select $1, $2;", &["select $1, $2"]),
            (
                P,
                "/* a /* nested; */ comment */ select 1; -- tail; comment\nselect 2",
                &["/* a /* nested; */ comment */ select 1", "select 2"],
            ),
            (
                P,
                "\\set x 1\nselect :x;\n\\d t\nselect 2;",
                &["select :x", "select 2"],
            ),
            (
                P,
                "copy t from stdin;\n1\tx;y\n2\tz\n\\.\nselect 3;",
                &["copy t from stdin", "select 3"],
            ),
            (
                M,
                "select 'a\\';b'; select `c;d` from t # comment; here\n; select 3",
                &["select 'a\\';b'", "select `c;d` from t", "select 3"],
            ),
            (M, "select /*!50000 1; */ 2;", &["select /*!50000 1; */ 2"]),
            (P, "select 'unterminated;", &["select 'unterminated;"]),
            (P, "", &[]),
        ];
        for (d, script, want) in cases {
            assert_eq!(split_statements(script, *d), *want, "{script:?}");
        }
    }

    #[test]
    fn coverage_counts() {
        let c = measure(["select 1", "selec 1 from", "select 'x"], P, 5);
        assert_eq!((c.total, c.parsed, c.fallback + c.unreadable), (3, 1, 2));
        assert_eq!(c.failures.len(), 2);
    }
}
