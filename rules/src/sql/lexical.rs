//! The token level, before any parsing: MySQL executable comments turned into code,
//! tokenization, the comment flags, a bound on how deep the parse tree can get, and
//! statement boundaries. Everything here is iterative, so no input can exhaust the stack.

use std::borrow::Cow;
use std::ops::Range;

use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use super::Dialect;
use super::analysis::{Flag, Flags};

static POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};
static MYSQL: MySqlDialect = MySqlDialect {};

/// The sqlparser dialect for ours.
pub(crate) fn parser_dialect(dialect: Dialect) -> &'static dyn sqlparser::dialect::Dialect {
    match dialect {
        Dialect::Postgres => &POSTGRES,
        Dialect::MySql => &MYSQL,
    }
}

/// MySQL (and MariaDB) execute the contents of `/*! … */` and `/*!50000 … */` (and
/// MariaDB's `/*M! … */`) as code. For MySQL, returns the text with the markers (and the
/// version digits) blanked out so that the contents are analyzed as code; byte offsets
/// stay the same. `None` when there is no executable comment.
pub(crate) fn strip_executable_comments(sql: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return None;
    }
    let mut out = bytes.to_vec();
    let mut found = false;
    let mut in_exec = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == q {
                        if bytes.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => i = skip_line(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && bytes
                    .get(i + 2)
                    .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control()) =>
            {
                i = skip_line(bytes, i)
            }
            b'*' if in_exec && bytes.get(i + 1) == Some(&b'/') => {
                out[i] = b' ';
                out[i + 1] = b' ';
                in_exec = false;
                i += 2;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let marker = match (bytes.get(i + 2), bytes.get(i + 3)) {
                    (Some(b'!'), _) => Some(3),
                    (Some(b'M'), Some(b'!')) => Some(4),
                    _ => None,
                };
                match marker {
                    Some(len) if !in_exec => {
                        found = true;
                        in_exec = true;
                        let mut end = i + len;
                        while end < bytes.len() && end < i + len + 6 && bytes[end].is_ascii_digit()
                        {
                            end += 1;
                        }
                        out[i..end].fill(b' ');
                        i = end;
                    }
                    _ => {
                        // An ordinary comment: skip to its end.
                        i += 2;
                        while i < bytes.len()
                            && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/'))
                        {
                            i += 1;
                        }
                        i += 2;
                    }
                }
            }
            _ => i += 1,
        }
    }
    if !found {
        return None;
    }
    // Only ASCII bytes were replaced by ASCII spaces, so the text stays UTF-8.
    String::from_utf8(out).ok()
}

fn skip_line(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' {
        i += 1;
    }
    i
}

/// The text to analyze for a dialect, and whether it had executable comments.
pub(crate) fn effective_text(sql: &str, dialect: Dialect) -> (Cow<'_, str>, bool) {
    if dialect == Dialect::MySql
        && let Some(stripped) = strip_executable_comments(sql)
    {
        return (Cow::Owned(stripped), true);
    }
    (Cow::Borrowed(sql), false)
}

/// The key of a statement's *template*: the same for two texts exactly when they differ
/// only in the values of their literals (not their kinds), in whitespace and in what their
/// comments say (not where comments are: the comment flags are part of the key). `None`
/// when the text does not tokenize.
///
/// An analysis that never read a literal's value ([`Analysis::literals_read`]) depends on
/// nothing else, so it holds for every text with its template key: the decision cache
/// keys such analyses by template, and applications that inline their values (simple
/// query protocol) hit it as prepared statements do.
///
/// [`Analysis::literals_read`]: super::Analysis::literals_read
pub fn template_key(sql: &str, dialect: Dialect) -> Option<u128> {
    use std::hash::{Hash, Hasher};
    let (text, executable) = effective_text(sql, dialect);
    let mut tokens = Vec::new();
    sqlparser::tokenizer::Tokenizer::new(parser_dialect(dialect), &text)
        .tokenize_with_location_into_buf(&mut tokens)
        .ok()?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    executable.hash(&mut h);
    comment_flags(&tokens).hash(&mut h);
    for t in &tokens {
        if is_space(&t.token) {
            continue;
        }
        if is_literal(&t.token) {
            std::mem::discriminant(&t.token).hash(&mut h);
        } else {
            t.token.hash(&mut h);
        }
    }
    h.write_u8(0xff);
    Some(h.digest128())
}

thread_local! {
    static LITERAL_READ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records that the analysis running on this thread read a literal's value (or its kind)
/// to decide something. Every such place in the analysis calls this; see [`template_key`].
pub(crate) fn literal_read() {
    LITERAL_READ.with(|r| r.set(true));
}

/// Watches one analysis for [`literal_read`].
pub(crate) struct LiteralWatch {
    outer: bool,
}

impl LiteralWatch {
    pub(crate) fn start() -> Self {
        LiteralWatch {
            outer: LITERAL_READ.with(|r| r.replace(false)),
        }
    }

    /// Whether a literal was read since `start`.
    pub(crate) fn finish(self) -> bool {
        LITERAL_READ.with(|r| {
            let read = r.get();
            r.set(self.outer || read);
            read
        })
    }
}

/// Tokenizes with sqlparser's tokenizer for the dialect.
#[cfg(test)]
pub(crate) fn tokenize(
    sql: &str,
    dialect: Dialect,
) -> Result<Vec<TokenWithSpan>, sqlparser::tokenizer::TokenizerError> {
    sqlparser::tokenizer::Tokenizer::new(parser_dialect(dialect), sql).tokenize_with_location()
}

/// Whether a token is whitespace or a comment.
pub(crate) fn is_space(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

fn is_comment(token: &Token) -> bool {
    matches!(
        token,
        Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_))
    )
}

/// Whether a token is a literal value (numbers and every kind of string).
pub(crate) fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
}

/// Comment flags: [`Flag::Comment`] for any comment, [`Flag::CommentEvasion`] for a
/// comment glued to a word, number or string on both sides (`SEL/**/ECT`,
/// `UNION/**/SELECT`, `'x'/**/OR`), the classic way to slip keywords past filters.
pub(crate) fn comment_flags(tokens: &[TokenWithSpan]) -> Flags {
    let mut flags = Flags::EMPTY;
    let glued = |t: &Token| matches!(t, Token::Word(_)) || is_literal(t);
    // Whether the last token that was not a comment is glued-kind and directly before
    // the current run of comments (no real whitespace in between).
    let mut before_glued = false;
    let mut in_run = false;
    for t in tokens {
        if is_comment(&t.token) {
            flags.insert(Flag::Comment);
            in_run = true;
            continue;
        }
        if in_run && before_glued && glued(&t.token) {
            flags.insert(Flag::CommentEvasion);
        }
        in_run = false;
        before_glued = glued(&t.token);
    }
    flags
}

/// An upper bound on how deep the parse tree of these tokens can get through chains of
/// operators (`a+a+…`, `x OR y OR …`, `UNION` chains, `::` casts, subscripts) and nesting.
/// sqlparser builds such chains iteratively and its recursion limit does not cover them,
/// but dropping (and walking) the tree recurses once per level, so a statement whose bound
/// exceeds [`super::MAX_OPERATOR_DEPTH`] is not handed to the parser.
///
/// Per parenthesized level, operators are counted per comma-separated item; a level
/// adds one plus its deepest item to the item that holds it.
pub(crate) fn nesting_bound(tokens: &[TokenWithSpan]) -> usize {
    #[derive(Default)]
    struct Level {
        item: usize,
        child: usize,
        best: usize,
    }
    let mut stack = vec![Level::default()];
    let close = |stack: &mut Vec<Level>| {
        if let Some(level) = stack.pop() {
            let bound = level.best.max(level.item + level.child) + 1;
            if let Some(parent) = stack.last_mut() {
                parent.child = parent.child.max(bound);
            }
            bound
        } else {
            0
        }
    };
    for t in tokens {
        match &t.token {
            Token::LParen | Token::LBrace => stack.push(Level::default()),
            Token::LBracket => {
                if let Some(level) = stack.last_mut() {
                    level.item += 1;
                }
                stack.push(Level::default());
            }
            Token::RParen | Token::RBracket | Token::RBrace if stack.len() > 1 => {
                close(&mut stack);
            }
            Token::Comma | Token::SemiColon => {
                if let Some(level) = stack.last_mut() {
                    level.best = level.best.max(level.item + level.child);
                    level.item = 0;
                    level.child = 0;
                }
            }
            token if counts_as_operator(token) => {
                if let Some(level) = stack.last_mut() {
                    level.item += 1;
                }
            }
            _ => {}
        }
    }
    let mut bound = 0;
    while !stack.is_empty() {
        bound = close(&mut stack);
    }
    bound
}

fn counts_as_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) => {
            w.quote_style.is_none()
                && matches!(
                    w.keyword,
                    Keyword::AND
                        | Keyword::OR
                        | Keyword::XOR
                        | Keyword::NOT
                        | Keyword::IS
                        | Keyword::IN
                        | Keyword::LIKE
                        | Keyword::ILIKE
                        | Keyword::BETWEEN
                        | Keyword::UNION
                        | Keyword::EXCEPT
                        | Keyword::INTERSECT
                        | Keyword::MINUS
                        | Keyword::COLLATE
                        | Keyword::AT
                        | Keyword::REGEXP
                        | Keyword::RLIKE
                        | Keyword::SIMILAR
                        | Keyword::DIV
                        | Keyword::MOD
                        | Keyword::OVERLAPS
                        | Keyword::MEMBER
                        | Keyword::ESCAPE
                        | Keyword::SELECT
                )
        }
        Token::Whitespace(_)
        | Token::EOF
        | Token::Comma
        | Token::SemiColon
        | Token::Period
        | Token::Placeholder(_)
        | Token::LParen
        | Token::RParen
        | Token::LBracket
        | Token::RBracket
        | Token::LBrace
        | Token::RBrace => false,
        token => !is_literal(token),
    }
}

/// Ranges of `tokens` that form one statement each: split at `;`, dropping empty ones.
pub(crate) fn split_statements(tokens: &[TokenWithSpan]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.token == Token::SemiColon {
            if tokens[start..i].iter().any(|t| !is_space(&t.token)) {
                ranges.push(start..i);
            }
            start = i + 1;
        }
    }
    if tokens[start..]
        .iter()
        .any(|t| !is_space(&t.token) && t.token != Token::EOF)
    {
        ranges.push(start..tokens.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_comments_become_code() {
        let cases: &[(&str, Option<&str>)] = &[
            ("SELECT 1", None),
            ("/*!50000UNION*/ SELECT", Some("        UNION   SELECT")),
            ("/*!UNION*/", Some("   UNION  ")),
            ("/*M!100101 SELECT*/", Some("           SELECT  ")),
            ("SELECT '/*!x*/'", None),
            ("SELECT `/*!x*/`", None),
            ("SELECT 1 -- /*!x*/\n", None),
            ("SELECT 1 # /*!x*/\n", None),
            ("/* plain /*! */ SELECT", None),
            (
                "SELECT 'a\\'/*!b*/' /*!c*/",
                Some("SELECT 'a\\'/*!b*/'    c  "),
            ),
            ("/*!50000 SELECT '*/' */", Some("         SELECT '*/'   ")),
            ("/*!", Some("   ")),
        ];
        for (sql, want) in cases {
            assert_eq!(strip_executable_comments(sql).as_deref(), *want, "{sql}");
        }
    }

    #[test]
    fn comment_flag_table() {
        let cases: &[(&str, Dialect, &[Flag])] = &[
            ("SELECT 1", Dialect::Postgres, &[]),
            ("SELECT 1 -- hi", Dialect::Postgres, &[Flag::Comment]),
            ("/* app */ SELECT 1", Dialect::Postgres, &[Flag::Comment]),
            (
                "SEL/**/ECT 1",
                Dialect::Postgres,
                &[Flag::Comment, Flag::CommentEvasion],
            ),
            (
                "SELECT 1 UNION/**/SELECT 2",
                Dialect::MySql,
                &[Flag::Comment, Flag::CommentEvasion],
            ),
            (
                "SELECT/**/name/**/FROM/**/population",
                Dialect::Postgres,
                &[Flag::Comment, Flag::CommentEvasion],
            ),
            ("SELECT a /**/ FROM t", Dialect::Postgres, &[Flag::Comment]),
            ("SELECT a,/**/b FROM t", Dialect::Postgres, &[Flag::Comment]),
        ];
        for (sql, dialect, want) in cases {
            let tokens = tokenize(sql, *dialect).expect("test SQL tokenizes");
            let want: Flags = want.iter().copied().collect();
            assert_eq!(comment_flags(&tokens), want, "{sql}");
        }
    }

    #[test]
    fn nesting_bounds() {
        let bound =
            |sql: &str| nesting_bound(&tokenize(sql, Dialect::Postgres).expect("tokenizes"));
        assert!(bound("SELECT a FROM t WHERE b = 1") < 10);
        assert!(bound(&format!("SELECT 1{}", "+1".repeat(5000))) >= 5000);
        assert!(bound(&format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300))) >= 300);
        assert!(bound(&format!("SELECT a{}", "[1]".repeat(100))) >= 100);
        // Long but flat lists stay small.
        let values = vec!["(1, 'a', -2)"; 5000].join(", ");
        assert!(bound(&format!("INSERT INTO t VALUES {values}")) < 10);
        let list = vec!["1"; 5000].join(", ");
        assert!(bound(&format!("SELECT a FROM t WHERE a IN ({list})")) < 10);
        // Unbalanced input does not panic.
        assert!(bound(")))((( + +") < 10);
    }

    #[test]
    fn statement_split() {
        let tokens = tokenize("SELECT 1; ; SELECT ';' ;", Dialect::Postgres).expect("tokenizes");
        assert_eq!(split_statements(&tokens).len(), 2);
        let tokens = tokenize("  -- nothing\n", Dialect::Postgres).expect("tokenizes");
        assert!(split_statements(&tokens).is_empty());
    }
}
