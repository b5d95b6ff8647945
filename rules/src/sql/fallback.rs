//! The conservative token-level analysis for statements the parser cannot read (dialect
//! gaps such as MySQL `INTO OUTFILE`, `LOAD DATA INFILE`, `CREATE USER … IDENTIFIED BY`,
//! PostgreSQL `DO` blocks; evasions such as `SEL/**/ECT`; truncated or garbled text).
//!
//! It only ever makes a decision stricter: the objects it finds after `FROM`, `JOIN`,
//! `INTO`, `UPDATE`, `TABLE`… and the functions it finds (an identifier followed by `(`,
//! also inside dollar-quoted bodies) are "possibly touched", and the policy treats them as
//! touched; the kind is guessed from the leading keywords (the strongest hint wins, e.g.
//! `INTO OUTFILE` makes it an export); the danger flags (time delays, file functions,
//! `INTO OUTFILE`, `PROGRAM`, `UNION`, tautologies) are looked for token by token. The
//! statement stays marked [`Parse::Fallback`] (or [`Parse::Unreadable`]) so the policy
//! knows the rest (columns, lineage, predicates) is unknown.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Word};

use super::analysis::{Access, Command, Endpoint, Flag, ObjectUse, Parse, StatementAnalysis};
use super::name::Context;
use super::shape::{self, Const};
use super::statement::stronger;
use super::{Dialect, StatementKind, analyze, lexical};

/// How deep dollar-quoted bodies and `PREPARE … FROM '…'` strings are looked into.
const MAX_NESTING: u8 = 2;

/// A token-level analysis of one statement's tokens (whitespace included or not).
pub(crate) fn analyze_tokens(
    tokens: &[Token],
    cx: &Context<'_>,
    schema: &dyn super::Schema,
    parse: Parse,
    nesting: u8,
) -> StatementAnalysis {
    let toks: Vec<&Token> = tokens
        .iter()
        .filter(|t| !lexical::is_space(t) && **t != Token::EOF)
        .collect();
    let (kind, command) = guess_kind(&toks);
    let mut out = StatementAnalysis::new(parse, kind, command);
    let mut scan = Scan {
        cx,
        toks: &toks,
        out: &mut out,
        first: keyword_at(&toks, 0),
    };
    scan.run(schema, nesting);
    finish(&mut out, cx.dialect);
    out
}

fn finish(out: &mut StatementAnalysis, dialect: Dialect) {
    let mut objects: Vec<ObjectUse> = Vec::new();
    for o in std::mem::take(&mut out.objects) {
        match objects.iter_mut().find(|e| e.name == o.name) {
            Some(e) => e.access.merge(o.access),
            None => objects.push(o),
        }
    }
    for o in &mut objects {
        o.system = o.name.is_system(dialect);
        if o.system {
            out.flags.insert(Flag::SystemCatalog);
        }
    }
    if out.flags.contains(Flag::Union) && objects.iter().any(|o| o.system) {
        out.flags.insert(Flag::UnionSystemCatalog);
    }
    out.objects = objects;
    let mut functions: Vec<String> = Vec::new();
    for f in std::mem::take(&mut out.functions) {
        if !functions.contains(&f) {
            functions.push(f);
        }
    }
    for f in &functions {
        let last = f.rsplit('.').next().unwrap_or(f);
        if shape::is_time_delay(last) {
            out.flags.insert(Flag::TimeDelay);
        }
        if shape::is_file_access(last) {
            out.flags.insert(Flag::FileAccess);
        }
    }
    out.functions = functions;
    if out.flags.contains(Flag::IntoOutfile) {
        out.kind = StatementKind::Export;
        out.export = Some(Endpoint::ServerFile);
        out.flags.insert(Flag::FileAccess);
    }
}

fn keyword_at(toks: &[&Token], i: usize) -> Keyword {
    match toks.get(i) {
        Some(Token::Word(w)) if w.quote_style.is_none() => w.keyword,
        _ => Keyword::NoKeyword,
    }
}

fn word_is(t: Option<&&Token>, k: Keyword) -> bool {
    matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == k)
}

fn value_is(t: Option<&&Token>, value: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(value))
}

fn upper_word(t: Option<&&Token>) -> Option<String> {
    match t {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// The kind and command the leading keywords suggest.
fn guess_kind(toks: &[&Token]) -> (StatementKind, Command) {
    use Command as C;
    use StatementKind as K;
    let second = upper_word(toks.get(1)).unwrap_or_default();
    let Some(first) = upper_word(toks.first()) else {
        return (K::Unparsed, C::Other);
    };
    let has = |k: Keyword| toks.iter().any(|t| word_is(Some(t), k));
    match first.as_str() {
        "SELECT" | "VALUES" | "TABLE" | "HANDLER" => (K::Read, C::Select),
        "WITH" => {
            let writes = toks.iter().any(|t| {
                matches!(t, Token::Word(w) if w.quote_style.is_none()
                    && matches!(w.keyword, Keyword::INSERT | Keyword::UPDATE | Keyword::DELETE | Keyword::MERGE))
            });
            if writes {
                (K::Write, C::Other)
            } else {
                (K::Read, C::Select)
            }
        }
        "SHOW" => (K::Read, C::Show),
        "EXPLAIN" => (K::Read, C::Explain),
        "DESCRIBE" | "DESC" => (K::Read, C::Describe),
        "INSERT" => (K::Write, C::Insert),
        "REPLACE" => (K::Write, C::Replace),
        "UPDATE" => (K::Write, C::Update),
        "DELETE" => (K::Write, C::Delete),
        "MERGE" => (K::Write, C::Merge),
        "TRUNCATE" => (K::Write, C::Truncate),
        "LOAD" => (K::Write, C::LoadData),
        "CALL" => (K::Write, C::Call),
        "LOCK" => (K::Write, C::Lock),
        "COPY" if has(Keyword::TO) => (K::Export, C::Copy),
        "COPY" => (K::Write, C::Copy),
        "CREATE" | "ALTER" | "DROP" | "RENAME" => {
            let command = match first.as_str() {
                "CREATE" => C::Create,
                "ALTER" => C::Alter,
                "DROP" => C::Drop,
                _ => C::Rename,
            };
            match second.as_str() {
                "USER" | "ROLE" | "GROUP" => (K::Admin, C::Account),
                "SYSTEM" | "SERVER" | "EXTENSION" => (K::Admin, command),
                _ => (K::Ddl, command),
            }
        }
        "COMMENT" => (K::Ddl, C::Comment),
        "GRANT" => (K::Admin, C::Grant),
        "REVOKE" => (K::Admin, C::Revoke),
        "KILL" => (K::Admin, C::Kill),
        "DO" => (K::Admin, C::Do),
        "SHUTDOWN" | "INSTALL" | "UNINSTALL" | "PURGE" | "FLUSH" | "CHECKPOINT" | "CLUSTER"
        | "REINDEX" | "VACUUM" | "ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK" => {
            (K::Admin, C::Maintenance)
        }
        "SET" => match second.as_str() {
            "ROLE" | "SESSION" if has(Keyword::AUTHORIZATION) || second == "ROLE" => {
                (K::Admin, C::SetRole)
            }
            "GLOBAL" | "PASSWORD" | "PERSIST" => (K::Admin, C::Set),
            _ => (K::Session, C::Set),
        },
        "RESET" if second == "MASTER" || second == "SLAVE" || second == "REPLICA" => {
            (K::Admin, C::Maintenance)
        }
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "END" | "ABORT" => {
            (K::Session, C::Transaction)
        }
        "USE" => (K::Session, C::Use),
        "PREPARE" => (K::Session, C::Prepare),
        "EXECUTE" => (K::Session, C::Execute),
        "DEALLOCATE" => (K::Session, C::Prepare),
        "DECLARE" | "FETCH" | "CLOSE" | "MOVE" => (K::Read, C::Cursor),
        "LISTEN" | "UNLISTEN" | "NOTIFY" | "DISCARD" | "RESET" => (K::Session, C::Session),
        "WAITFOR" => (K::Session, C::Other),
        _ => (K::Unparsed, C::Other),
    }
}

/// Words that are never table or function names in the positions we look at.
fn is_structural(w: &Word) -> bool {
    use Keyword as K;
    if w.quote_style.is_none()
        && (w.value.eq_ignore_ascii_case("outfile") || w.value.eq_ignore_ascii_case("dumpfile"))
    {
        return true;
    }
    w.quote_style.is_none()
        && matches!(
            w.keyword,
            K::SELECT
                | K::FROM
                | K::WHERE
                | K::JOIN
                | K::ON
                | K::USING
                | K::AS
                | K::IN
                | K::VALUES
                | K::EXISTS
                | K::OVER
                | K::FILTER
                | K::ANY
                | K::ALL
                | K::SOME
                | K::AND
                | K::OR
                | K::NOT
                | K::INTO
                | K::TABLE
                | K::KEY
                | K::INDEX
                | K::UNIQUE
                | K::PRIMARY
                | K::CHECK
                | K::REFERENCES
                | K::WITH
                | K::RETURNING
                | K::ROW
                | K::LATERAL
                | K::WHEN
                | K::THEN
                | K::ELSE
                | K::CASE
                | K::SET
                | K::BY
                | K::WITHIN
                | K::GROUP
                | K::ORDER
                | K::PARTITION
                | K::UNION
                | K::DISTINCT
                | K::LIMIT
                | K::HAVING
                | K::IF
                | K::ONLY
                | K::NATURAL
                | K::LEFT
                | K::RIGHT
                | K::INNER
                | K::OUTER
                | K::FULL
                | K::CROSS
        )
}

struct Scan<'t, 'o, 'c> {
    cx: &'c Context<'c>,
    toks: &'t [&'t Token],
    out: &'o mut StatementAnalysis,
    first: Keyword,
}

impl Scan<'_, '_, '_> {
    fn run(&mut self, schema: &dyn super::Schema, nesting: u8) {
        let toks = self.toks;
        let mut depth = 0usize;
        let mut delete_from_seen = false;
        let mut i = 0;
        while i < toks.len() {
            let token = toks[i];
            match token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                Token::DollarQuotedString(body) if nesting < MAX_NESTING => {
                    // Function bodies and DO blocks: look inside too.
                    self.nested(&body.value, schema, nesting, false);
                }
                Token::Word(w) if w.quote_style.is_none() => {
                    let next = toks.get(i + 1);
                    match w.keyword {
                        Keyword::FROM => {
                            let access = if self.first == Keyword::DELETE && !delete_from_seen {
                                delete_from_seen = true;
                                Access::WRITE
                            } else if self.first == Keyword::COPY {
                                Access::WRITE
                            } else {
                                Access::READ
                            };
                            if self.first == Keyword::PREPARE && depth == 0 {
                                self.prepare_from(i + 1, schema, nesting);
                            } else if self.first != Keyword::COPY {
                                self.names(i + 1, access, true);
                            }
                        }
                        Keyword::JOIN => self.names(i + 1, Access::READ, false),
                        Keyword::INTO => {
                            if value_is(next, "outfile") || value_is(next, "dumpfile") {
                                self.out.flags.insert(Flag::IntoOutfile);
                            } else if word_is(next, Keyword::TABLE) {
                                self.names(i + 2, Access::WRITE, false);
                            } else {
                                self.names(i + 1, Access::WRITE, false);
                            }
                        }
                        Keyword::UPDATE
                            if depth == 0
                                && !matches!(
                                    keyword_at(toks, i.wrapping_sub(1)),
                                    Keyword::KEY | Keyword::FOR | Keyword::DO
                                ) =>
                        {
                            self.names(i + 1, Access::WRITE, true);
                        }
                        Keyword::TRUNCATE => {
                            let start = if word_is(next, Keyword::TABLE) {
                                i + 2
                            } else {
                                i + 1
                            };
                            self.names(start, Access::WRITE, true);
                            self.out.flags.insert(Flag::NoWhere);
                        }
                        Keyword::TABLE | Keyword::VIEW if i > 0 || w.keyword == Keyword::TABLE => {
                            let prev = keyword_at(toks, i.wrapping_sub(1));
                            if !matches!(prev, Keyword::INTO | Keyword::TRUNCATE) {
                                let access = match self.first {
                                    Keyword::CREATE
                                    | Keyword::ALTER
                                    | Keyword::DROP
                                    | Keyword::RENAME => Access::DEFINE,
                                    Keyword::LOCK => Access::WRITE,
                                    _ => Access::READ,
                                };
                                self.names(i + 1, access, true);
                            }
                        }
                        Keyword::ON
                            if matches!(
                                self.first,
                                Keyword::GRANT | Keyword::REVOKE | Keyword::CREATE
                            ) =>
                        {
                            let start = if word_is(next, Keyword::TABLE) {
                                i + 2
                            } else {
                                i + 1
                            };
                            self.names(start, Access::DEFINE, true);
                        }
                        Keyword::COPY if i == 0 => {
                            let access = if self.out.kind == StatementKind::Export {
                                Access::READ
                            } else {
                                Access::WRITE
                            };
                            self.names(i + 1, access, false);
                        }
                        Keyword::DESCRIBE | Keyword::DESC if i == 0 => {
                            self.names(i + 1, Access::READ, false);
                        }
                        Keyword::PROGRAM
                            if matches!(
                                keyword_at(toks, i.wrapping_sub(1)),
                                Keyword::TO | Keyword::FROM
                            ) =>
                        {
                            self.out.flags.insert(Flag::Program);
                            if self.out.kind == StatementKind::Export {
                                self.out.export = Some(Endpoint::Program);
                            } else {
                                self.out.import = Some(Endpoint::Program);
                            }
                        }
                        _ if w.value.eq_ignore_ascii_case("infile") => {
                            let local = keyword_at(toks, i.wrapping_sub(1)) == Keyword::LOCAL;
                            self.out.import = Some(if local {
                                Endpoint::Client
                            } else {
                                self.out.flags.insert(Flag::FileAccess);
                                Endpoint::ServerFile
                            });
                        }
                        Keyword::UNION => self.out.flags.insert(Flag::Union),
                        Keyword::OR => self.tautology(i + 1),
                        Keyword::WHERE => self.where_tautology(i + 1),
                        Keyword::EXECUTE => self.out.flags.insert(Flag::DynamicSql),
                        _ => {}
                    }
                    if w.value.eq_ignore_ascii_case("waitfor") {
                        self.out.flags.insert(Flag::TimeDelay);
                    }
                    if let Some(Token::LParen) = next {
                        self.function(i);
                    }
                }
                Token::Word(_) => {
                    if let Some(Token::LParen) = toks.get(i + 1) {
                        self.function(i);
                    }
                }
                Token::StringConcat if self.cx.dialect == Dialect::MySql => self.tautology(i + 1),
                _ => {}
            }
            i += 1;
        }
    }

    /// Reads the (dotted) name starting at `i`: the folded parts and the index after it.
    fn name_at(&self, mut i: usize) -> Option<(Vec<String>, usize)> {
        let mut parts = Vec::new();
        loop {
            match self.toks.get(i) {
                Some(Token::Word(w)) if !is_structural(w) && !w.value.starts_with('@') => {
                    parts.push(self.cx.fold(&w.value, w.quote_style.is_some()));
                }
                _ => return None,
            }
            i += 1;
            if self.toks.get(i) == Some(&&Token::Period) {
                i += 1;
            } else {
                return Some((parts, i));
            }
        }
    }

    /// Object names from `i` on; after `FROM` also a comma-separated list with aliases.
    fn names(&mut self, mut i: usize, access: Access, list: bool) {
        // Skip `ONLY`, `IF [NOT] EXISTS`, `LOW_PRIORITY`, `IGNORE`.
        for _ in 0..4 {
            match self.toks.get(i) {
                Some(Token::Word(w))
                    if w.quote_style.is_none()
                        && matches!(
                            w.keyword,
                            Keyword::ONLY
                                | Keyword::IF
                                | Keyword::NOT
                                | Keyword::EXISTS
                                | Keyword::LOW_PRIORITY
                                | Keyword::IGNORE
                                | Keyword::LOCAL
                        ) =>
                {
                    i += 1
                }
                _ => break,
            }
        }
        loop {
            let Some((parts, next)) = self.name_at(i) else {
                return;
            };
            if self.toks.get(next) == Some(&&Token::LParen) && access == Access::READ {
                // `FROM f(…)`: a function, recorded as one.
                return;
            }
            let name = self.cx.resolve_parts(parts);
            self.out.objects.push(ObjectUse {
                name,
                access,
                system: false,
            });
            if !list {
                return;
            }
            // Skip an alias, then continue after a comma.
            let mut j = next;
            if word_is(self.toks.get(j), Keyword::AS) {
                j += 1;
            }
            if let Some(Token::Word(w)) = self.toks.get(j)
                && !is_structural(w)
            {
                j += 1;
            }
            if self.toks.get(j) == Some(&&Token::Comma) {
                i = j + 1;
            } else {
                return;
            }
        }
    }

    /// A function call at `i` (a word followed by `(`), with a dotted qualifier before it.
    fn function(&mut self, i: usize) {
        let Some(Token::Word(w)) = self.toks.get(i) else {
            return;
        };
        if is_structural(w) {
            return;
        }
        // A table name with a column list (`INSERT INTO t (a, b)`) is no call.
        let mut start = i;
        while start >= 2
            && self.toks.get(start - 1) == Some(&&Token::Period)
            && matches!(self.toks.get(start - 2), Some(Token::Word(_)))
        {
            start -= 2;
        }
        if matches!(
            keyword_at(self.toks, start.wrapping_sub(1)),
            Keyword::INTO
                | Keyword::TABLE
                | Keyword::UPDATE
                | Keyword::INDEX
                | Keyword::VIEW
                | Keyword::REFERENCES
        ) {
            return;
        }
        let mut name = String::new();
        let mut j = start;
        while j <= i {
            if let Some(Token::Word(part)) = self.toks.get(j) {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&part.value.to_lowercase());
            }
            j += 2;
        }
        self.out.functions.push(name);
    }

    /// `OR <always true>` at `i`.
    fn tautology(&mut self, i: usize) {
        if always_true_at(self.toks, i, self.cx.dialect) {
            self.out.flags.insert(Flag::Tautology);
        }
    }

    /// `WHERE 1=1` alone, `WHERE 1`.
    fn where_tautology(&mut self, i: usize) {
        let before = self.out.flags;
        self.tautology(i);
        if !before.contains(Flag::Tautology) && self.out.flags.contains(Flag::Tautology) {
            // `WHERE 1=1 AND x = 5` is a query builder's habit, not a tautology.
            let next = self.toks.get(i + 3).or(self.toks.get(i + 1));
            if word_is(next, Keyword::AND) {
                self.out.flags = before;
            }
        }
    }

    /// MySQL `PREPARE s FROM '…'`: the string is the statement that will run.
    fn prepare_from(&mut self, i: usize, schema: &dyn super::Schema, nesting: u8) {
        match self.toks.get(i) {
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s))
                if nesting < MAX_NESTING =>
            {
                let s = s.clone();
                self.nested(&s, schema, nesting, true);
            }
            _ => self.out.flags.insert(Flag::DynamicSql),
        }
    }

    /// Analyzes text inside the statement (a dollar-quoted body, a prepared string) and
    /// merges what it finds; `adopt_kind` makes its kind this statement's.
    fn nested(&mut self, text: &str, schema: &dyn super::Schema, nesting: u8, adopt_kind: bool) {
        let inner = analyze::analyze_nested(text, self.cx, schema, nesting + 1);
        for st in inner.statements {
            if adopt_kind {
                self.out.kind = if self.out.kind == StatementKind::Session {
                    st.kind
                } else {
                    stronger(self.out.kind, st.kind)
                };
            }
            self.out.objects.extend(st.objects);
            self.out.functions.extend(st.functions);
            self.out.flags = self.out.flags.union(st.flags);
        }
        // Text-level flags of the inner text (its comments), but not its stacking: a body
        // of several statements is not a stacked query.
        for flag in inner.flags.iter() {
            if flag != Flag::Stacked {
                self.out.flags.insert(flag);
            }
        }
    }
}

/// Whether the tokens from `i` on start with something always true: a literal comparison
/// that holds, `TRUE`, or a non-zero number, up to a boundary.
fn always_true_at(toks: &[&Token], i: usize, dialect: Dialect) -> bool {
    let boundary = |j: usize| match toks.get(j) {
        None => true,
        Some(Token::RParen | Token::SemiColon) => true,
        Some(Token::Word(w)) => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::ORDER
                | Keyword::GROUP
                | Keyword::LIMIT
                | Keyword::HAVING
                | Keyword::UNION
        ),
        _ => false,
    };
    let mut i = i;
    while toks.get(i) == Some(&&Token::LParen) {
        i += 1;
    }
    if let (Some(a), Some(op), Some(b)) = (
        constant(toks.get(i)),
        toks.get(i + 1),
        constant(toks.get(i + 2)),
    ) {
        let op = match op {
            Token::Eq | Token::DoubleEq => "=",
            Token::Neq => "<>",
            Token::Lt => "<",
            Token::LtEq => "<=",
            Token::Gt => ">",
            Token::GtEq => ">=",
            Token::Spaceship => "<=>",
            _ => "",
        };
        return shape::compare_with(&a, op, &b, dialect) == Some(true);
    }
    constant(toks.get(i)).is_some_and(|c| c.truth(dialect) == Some(true)) && boundary(i + 1)
}

/// MySQL reads `||` as `OR` (unless `PIPES_AS_CONCAT`), sqlparser as concatenation with a
/// higher precedence, so `x = '' || 1=1` does not look like a tautology in its tree. This
/// looks at the tokens instead.
pub(crate) fn mysql_pipes_tautology(tokens: &[sqlparser::tokenizer::TokenWithSpan]) -> bool {
    let toks: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !lexical::is_space(t))
        .collect();
    toks.iter()
        .enumerate()
        .any(|(i, t)| **t == Token::StringConcat && always_true_at(&toks, i + 1, Dialect::MySql))
}

fn constant(t: Option<&&Token>) -> Option<Const> {
    let t = t?;
    super::lexical::literal_read();
    match t {
        Token::Number(n, _) => n
            .parse::<i128>()
            .map(Const::Int)
            .ok()
            .or_else(|| n.parse::<f64>().ok().map(Const::Float)),
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::NationalStringLiteral(s)
        | Token::EscapedStringLiteral(s) => Some(Const::Str(s.clone())),
        Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::TRUE => {
            Some(Const::Bool(true))
        }
        Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::FALSE => {
            Some(Const::Bool(false))
        }
        _ => None,
    }
}
