//! Statement fingerprints: the normalized text events store ("the statement with literals
//! removed") and its 64-bit hash, computed from tokens so that statements the parser
//! cannot read get one too, and cheaper than printing a rewritten syntax tree.
//!
//! Normalization: literals (numbers, strings of every kind) and parameters (`$1`, `?`,
//! `:name`) become `?`, a minus sign in front of a number goes with it, `IN (?, ?, …)`
//! becomes `IN (?)`, identical consecutive groups (`VALUES (?, ?), (?, ?)`) collapse to
//! one, comments go, tokens are separated by single spaces (none inside parentheses or
//! around `.`), structural keywords are upper case and everything else unquoted is folded
//! to lower case; quoted identifiers stay quoted unless folding would not change them
//! (MySQL: backticks always fold). A trailing `;` is dropped.

use std::fmt::Write as _;

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use super::Dialect;
use super::lexical::{is_literal, is_space};

/// 64-bit FNV-1a: fixed, so fingerprints are stable across runs and platforms.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    /// An identifier or a non-structural word (function names).
    Name,
    Keyword,
    Literal,
    Open,
    Close,
    Comma,
    Dot,
    Op,
}

struct Group {
    /// Offset of the `(` in the output.
    open: usize,
    /// Whether the group follows `IN`.
    after_in: bool,
    /// Whether only placeholders and commas were written inside so far.
    only_params: bool,
    /// The last group closed directly inside this one, as output offsets, while only
    /// commas followed it.
    last_child: Option<(usize, usize)>,
}

/// The normalized text of a token stream.
pub(crate) fn normalize(tokens: &[TokenWithSpan], dialect: Dialect) -> String {
    let mut out = String::with_capacity(tokens.len() * 4);
    let mut last = Last::Start;
    let mut last_was_in = false;
    let mut groups = vec![Group {
        open: 0,
        after_in: false,
        only_params: false,
        last_child: None,
    }];
    let significant: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !is_space(t) && **t != Token::EOF)
        .collect();
    let end = match significant.last() {
        Some(Token::SemiColon) => significant.len() - 1,
        _ => significant.len(),
    };
    let mut i = 0;
    while i < end {
        let token = significant[i];
        i += 1;
        // A sign directly before a number belongs to the literal.
        if matches!(token, Token::Minus | Token::Plus)
            && matches!(significant.get(i), Some(Token::Number(..)))
            && !matches!(last, Last::Name | Last::Literal | Last::Close)
        {
            continue;
        }
        let (piece, kind): (Piece, Last) = match token {
            t if is_literal(t) || matches!(t, Token::Placeholder(_)) => {
                (Piece::Str("?"), Last::Literal)
            }
            Token::Word(w) => word(w, dialect),
            Token::LParen => (Piece::Str("("), Last::Open),
            Token::RParen => (Piece::Str(")"), Last::Close),
            Token::LBracket => (Piece::Str("["), Last::Open),
            Token::RBracket => (Piece::Str("]"), Last::Close),
            Token::Comma => (Piece::Str(","), Last::Comma),
            Token::Period => (Piece::Str("."), Last::Dot),
            Token::DoubleColon => (Piece::Str("::"), Last::Dot),
            Token::SemiColon => (Piece::Str(";"), Last::Comma),
            other => (Piece::Token(other), Last::Op),
        };
        if let Some(g) = groups.last_mut() {
            // Any token but a comma or an opening parenthesis ends a run of sibling groups.
            if !matches!(kind, Last::Comma | Last::Open) {
                g.last_child = None;
            }
            if !matches!(kind, Last::Comma | Last::Literal | Last::Close) {
                g.only_params = false;
            }
        }
        let space = !matches!(
            (last, kind),
            (Last::Start | Last::Open | Last::Dot, _)
                | (_, Last::Close | Last::Comma | Last::Dot)
                | (Last::Name, Last::Open)
        );
        if space {
            out.push(' ');
        }
        match kind {
            Last::Open => {
                if let Some(g) = groups.last_mut() {
                    g.only_params = false;
                }
                groups.push(Group {
                    open: out.len(),
                    after_in: last_was_in,
                    only_params: true,
                    last_child: None,
                });
                out.push_str(piece.text());
            }
            Last::Close => {
                let group = if groups.len() > 1 { groups.pop() } else { None };
                if let Some(group) = group {
                    if group.after_in && group.only_params && out.len() > group.open + 1 {
                        out.truncate(group.open + 1);
                        out.push('?');
                    }
                    out.push_str(piece.text());
                    let this = (group.open, out.len());
                    if let Some(parent) = groups.last_mut() {
                        match parent.last_child {
                            Some((start, stop))
                                if out.get(stop..this.0) == Some(", ")
                                    && out.get(start..stop) == out.get(this.0..this.1) =>
                            {
                                out.truncate(stop);
                            }
                            _ => parent.last_child = Some(this),
                        }
                    }
                } else {
                    out.push_str(piece.text());
                }
            }
            _ => piece.write(&mut out),
        }
        last_was_in =
            matches!(token, Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::IN);
        last = kind;
    }
    out
}

enum Piece<'a> {
    Str(&'a str),
    Owned(String),
    Token(&'a Token),
}

impl Piece<'_> {
    fn text(&self) -> &str {
        match self {
            Piece::Str(s) => s,
            Piece::Owned(s) => s,
            Piece::Token(_) => "",
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Piece::Token(t) => {
                let _ = write!(out, "{t}");
            }
            other => out.push_str(other.text()),
        }
    }
}

fn word<'a>(w: &'a Word, dialect: Dialect) -> (Piece<'a>, Last) {
    match w.quote_style {
        None if is_structural(w.keyword) => {
            (Piece::Owned(w.value.to_ascii_uppercase()), Last::Keyword)
        }
        None => (Piece::Owned(fold(&w.value, dialect)), Last::Name),
        Some(q) => {
            let folded = match dialect {
                Dialect::MySql => w.value.to_lowercase(),
                Dialect::Postgres => w.value.clone(),
            };
            let simple = folded
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && folded
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
            if simple {
                (Piece::Owned(folded), Last::Name)
            } else {
                let doubled = folded.replace(q, &format!("{q}{q}"));
                (Piece::Owned(format!("{q}{doubled}{q}")), Last::Name)
            }
        }
    }
}

fn fold(value: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => value.to_ascii_lowercase(),
        Dialect::MySql => value.to_lowercase(),
    }
}

/// Keywords that structure a statement; they are printed upper case, every other word
/// (column and function names that happen to be keywords) lower case.
fn is_structural(keyword: Keyword) -> bool {
    use Keyword as K;
    matches!(
        keyword,
        K::SELECT
            | K::FROM
            | K::WHERE
            | K::AND
            | K::OR
            | K::NOT
            | K::IN
            | K::IS
            | K::NULL
            | K::LIKE
            | K::ILIKE
            | K::BETWEEN
            | K::JOIN
            | K::INNER
            | K::LEFT
            | K::RIGHT
            | K::FULL
            | K::OUTER
            | K::CROSS
            | K::NATURAL
            | K::LATERAL
            | K::ON
            | K::USING
            | K::AS
            | K::GROUP
            | K::BY
            | K::ORDER
            | K::HAVING
            | K::LIMIT
            | K::OFFSET
            | K::FETCH
            | K::FIRST
            | K::NEXT
            | K::ROWS
            | K::ONLY
            | K::UNION
            | K::ALL
            | K::DISTINCT
            | K::EXCEPT
            | K::INTERSECT
            | K::INSERT
            | K::INTO
            | K::VALUES
            | K::UPDATE
            | K::SET
            | K::DELETE
            | K::WITH
            | K::RECURSIVE
            | K::CASE
            | K::WHEN
            | K::THEN
            | K::ELSE
            | K::END
            | K::EXISTS
            | K::ASC
            | K::DESC
            | K::TRUE
            | K::FALSE
            | K::CREATE
            | K::ALTER
            | K::DROP
            | K::TABLE
            | K::VIEW
            | K::INDEX
            | K::TRUNCATE
            | K::COPY
            | K::TO
            | K::GRANT
            | K::REVOKE
            | K::BEGIN
            | K::COMMIT
            | K::ROLLBACK
            | K::RETURNING
            | K::CAST
            | K::OVER
            | K::PARTITION
            | K::FILTER
            | K::ANY
            | K::SOME
            | K::MERGE
            | K::MATCHED
            | K::EXPLAIN
            | K::ANALYZE
            | K::SHOW
            | K::USE
            | K::CALL
            | K::SIMILAR
            | K::REGEXP
            | K::RLIKE
            | K::ESCAPE
            | K::PROGRAM
            | K::STDOUT
            | K::STDIN
            | K::DUPLICATE
            | K::CONFLICT
            | K::KEY
            | K::DO
            | K::NOTHING
            | K::LOAD
            | K::DATA
            | K::IF
            | K::DEFAULT
            | K::FOR
            | K::WINDOW
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::lexical::tokenize;

    fn norm(sql: &str, dialect: Dialect) -> String {
        normalize(
            &tokenize(sql, dialect).expect("test SQL tokenizes"),
            dialect,
        )
    }

    #[test]
    fn normalized_text_table() {
        use Dialect::{MySql, Postgres};
        let cases: &[(Dialect, &str, &str)] = &[
            (
                Postgres,
                "SELECT name, phone FROM population WHERE id_card = $1",
                "SELECT name, phone FROM population WHERE id_card = ?",
            ),
            (
                Postgres,
                "select *  from T where ID=42",
                "SELECT * FROM t WHERE id = ?",
            ),
            (
                Postgres,
                "SELECT * FROM t WHERE id = -1;",
                "SELECT * FROM t WHERE id = ?",
            ),
            (Postgres, "SELECT a-1 FROM t", "SELECT a - ? FROM t"),
            (
                Postgres,
                "SELECT * FROM t WHERE id IN (1, 2, 3) AND x NOT IN ('a')",
                "SELECT * FROM t WHERE id IN (?) AND x NOT IN (?)",
            ),
            (
                Postgres,
                "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
                "INSERT INTO t(a, b) VALUES (?, ?)",
            ),
            (
                Postgres,
                "SELECT \"Population\".x, \"population\".y FROM \"Population\" /* c */ -- d",
                "SELECT \"Population\".x, population.y FROM \"Population\"",
            ),
            (
                Postgres,
                "SELECT count(*), upper(name) FROM population WHERE x::text = 'a'",
                "SELECT count(*), upper(name) FROM population WHERE x::text = ?",
            ),
            (
                MySql,
                "SELECT `Name` FROM `Population` WHERE id = ? AND n = \"x\"",
                "SELECT name FROM population WHERE id = ? AND n = ?",
            ),
            (
                Postgres,
                "SELECT $$body$$, E'x', X'ff', 1.5e3",
                "SELECT ?, ?, ?, ?",
            ),
        ];
        for (dialect, sql, want) in cases {
            assert_eq!(norm(sql, *dialect), *want, "{sql}");
        }
    }

    #[test]
    fn same_shape_same_fingerprint() {
        let a = norm("SELECT * FROM t WHERE id = 1", Dialect::Postgres);
        let b = norm("select *  from T where ID=42", Dialect::Postgres);
        assert_eq!(a, b);
        assert_eq!(fnv1a64(a.as_bytes()), fnv1a64(b.as_bytes()));
        let c = norm("SELECT * FROM t WHERE id IN (1,2,3,4,5)", Dialect::Postgres);
        let d = norm("SELECT * FROM t WHERE id IN ($1)", Dialect::Postgres);
        assert_eq!(c, d);
        // Quoted mixed case is another name in PostgreSQL.
        let e = norm("SELECT * FROM \"T\" WHERE id = 1", Dialect::Postgres);
        assert_ne!(a, e);
    }

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
