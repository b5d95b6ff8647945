//! What [`analyze`](super::analyze) says about a statement text: the types the policy
//! engine decides on and the events record. Building them is the job of the sibling
//! modules; this one only defines them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name::{ColumnRef, ObjectName};
use super::{Dialect, StatementKind};

/// The analysis of one statement text (one query message; it may hold several
/// statements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The dialect the text was read with.
    pub dialect: Dialect,
    /// How well the text could be read: the worst of its statements.
    pub parse: Parse,
    /// The statements, in order. More than one: stacked statements ([`Flag::Stacked`]).
    /// Empty for a text without any statement (only whitespace or comments).
    pub statements: Vec<StatementAnalysis>,
    /// Every statement's flags plus those of the text itself (comments, stacking).
    pub flags: Flags,
    /// The text with literals and parameters replaced by `?`, lists of them collapsed,
    /// comments removed, whitespace and keyword case normalized and unquoted identifiers
    /// folded: the "normalized statement" events store. Computed from tokens, so statements
    /// that do not parse get one too.
    pub normalized: String,
    /// 64-bit FNV-1a of `normalized`: the same for every statement of the same shape, on
    /// every run and platform.
    pub fingerprint: u64,
    /// Whether the analysis read the value of a literal (a constant comparison, a `LIMIT`,
    /// an `ORDER BY` ordinal, a string run as SQL…): then it holds for this text only, not
    /// for every text of its shape (see [`template_key`](super::template_key)).
    #[serde(skip)]
    pub literals_read: bool,
}

impl Analysis {
    /// Whether every statement was read by the parser.
    pub fn is_parsed(&self) -> bool {
        self.parse == Parse::Parsed
    }

    /// Every object of every statement.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectUse> {
        self.statements.iter().flat_map(|s| s.objects.iter())
    }
}

/// How well a statement could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Parse {
    /// The parser read it: everything in the analysis is exact.
    Parsed,
    /// The parser could not read it; a token-level scan found what it could. Objects and
    /// functions found are "possibly touched" and must be treated as touched, the kind is
    /// guessed from keywords and outputs, columns and predicates are unknown: the fallback
    /// only ever makes a decision stricter.
    Fallback {
        /// Why the parser gave up.
        error: String,
    },
    /// Not even the tokenizer could read it (an unterminated string or comment, say).
    Unreadable {
        /// Why the tokenizer gave up.
        error: String,
    },
}

impl Parse {
    fn rank(&self) -> u8 {
        match self {
            Parse::Parsed => 0,
            Parse::Fallback { .. } => 1,
            Parse::Unreadable { .. } => 2,
        }
    }

    /// The worse of two.
    pub(crate) fn worst(self, other: Parse) -> Parse {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The analysis of one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementAnalysis {
    /// How well this statement could be read.
    pub parse: Parse,
    /// What the statement does, coarsely.
    pub kind: StatementKind,
    /// Which command it is.
    pub command: Command,
    /// Tables and views touched, once each, in order of first appearance. CTE names,
    /// derived tables and table functions are not objects.
    pub objects: Vec<ObjectUse>,
    /// Base-table columns referenced anywhere, once each, with the clauses they appear in.
    /// References through derived tables and CTEs are traced to the base columns.
    pub columns: Vec<ColumnUse>,
    /// The columns of the result set sent to the client (a query, `RETURNING`, `COPY … TO`),
    /// in order, with their lineage. Empty when the statement returns no data.
    pub outputs: Vec<OutputColumn>,
    /// How columns are filtered on in `WHERE`, `ON` and `HAVING` (and aggregate `FILTER`).
    pub predicates: Vec<Predicate>,
    /// Functions called, lower-cased, qualified as written (`pg_catalog.pg_sleep`), once each.
    pub functions: Vec<String>,
    /// The literal row limit of the top-level query (`LIMIT n`, `FETCH FIRST n ROWS`), if any.
    pub limit: Option<u64>,
    /// Shape flags of this statement.
    pub flags: Flags,
    /// Where data goes when the statement exports it (`COPY … TO`, `INTO OUTFILE`).
    pub export: Option<Endpoint>,
    /// Where data comes from when the statement imports it (`COPY … FROM`, `LOAD DATA`).
    pub import: Option<Endpoint>,
    /// The default schema (PostgreSQL `SET search_path`) or database (MySQL `USE`) the
    /// statement switches the session to, normalized.
    pub switches_schema: Option<String>,
    /// The SQL cursor the statement opens, reads or closes (PostgreSQL `DECLARE`, `FETCH`,
    /// `CLOSE`): a `FETCH` returns the rows of its `DECLARE`, whose outputs decide masks.
    pub cursor: Option<CursorUse>,
}

/// What a statement does with a named SQL cursor; names are folded like identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorUse {
    Declare(String),
    Fetch(String),
    /// `CLOSE name`; `None` is `CLOSE ALL`.
    Close(Option<String>),
}

impl StatementAnalysis {
    pub(crate) fn new(parse: Parse, kind: StatementKind, command: Command) -> Self {
        Self {
            parse,
            kind,
            command,
            objects: Vec::new(),
            columns: Vec::new(),
            outputs: Vec::new(),
            predicates: Vec::new(),
            functions: Vec::new(),
            limit: None,
            flags: Flags::EMPTY,
            export: None,
            import: None,
            switches_schema: None,
            cursor: None,
        }
    }
}

/// Which command a statement is: finer than [`StatementKind`], for rules such as "no
/// `TRUNCATE`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    Select,
    Insert,
    /// MySQL `REPLACE`.
    Replace,
    Update,
    Delete,
    Merge,
    /// Removes every row: kind [`StatementKind::Write`] with [`Flag::NoWhere`].
    Truncate,
    Copy,
    /// MySQL `LOAD DATA [LOCAL] INFILE`.
    LoadData,
    /// `CALL procedure(…)`.
    Call,
    /// PostgreSQL `DO $$ … $$`: anonymous procedural code.
    Do,
    Create,
    Alter,
    Drop,
    Rename,
    Comment,
    Grant,
    Revoke,
    /// `CREATE/ALTER/DROP USER` or `ROLE`.
    Account,
    Set,
    /// `SET ROLE`, `SET SESSION AUTHORIZATION`.
    SetRole,
    Show,
    Explain,
    Describe,
    Use,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints.
    Transaction,
    Prepare,
    Execute,
    /// `DECLARE … CURSOR`, `FETCH`, `CLOSE`.
    Cursor,
    Kill,
    Lock,
    /// `VACUUM`, `ANALYZE`, `OPTIMIZE TABLE` and the like.
    Maintenance,
    /// `LISTEN`, `NOTIFY`, `DISCARD`, `RESET` and other session housekeeping.
    Session,
    Other,
}

/// One side of a data transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// The client connection: `COPY … TO STDOUT` / `FROM STDIN`, `LOAD DATA LOCAL`.
    Client,
    /// A file on the database server: `COPY … TO 'file'`, `INTO OUTFILE`, `LOAD DATA INFILE`.
    ServerFile,
    /// A program the database server runs: `COPY … TO/FROM PROGRAM`.
    Program,
}

/// A table or view a statement touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectUse {
    /// The resolved name.
    pub name: ObjectName,
    /// How it is touched.
    pub access: Access,
    /// Whether it is a system catalog (`pg_catalog`, `information_schema`, `mysql`, …).
    pub system: bool,
}

/// How an object is touched; several at once are possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Access {
    /// Its rows are read (queried, joined, copied out, returned).
    pub read: bool,
    /// Its rows are changed (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `COPY FROM`, …).
    pub write: bool,
    /// Its definition or privileges are changed (DDL, `GRANT`, maintenance).
    pub define: bool,
}

impl Access {
    /// Read access.
    pub const READ: Access = Access {
        read: true,
        write: false,
        define: false,
    };
    /// Write access.
    pub const WRITE: Access = Access {
        read: false,
        write: true,
        define: false,
    };
    /// Definition access.
    pub const DEFINE: Access = Access {
        read: false,
        write: false,
        define: true,
    };

    pub(crate) fn merge(&mut self, other: Access) {
        self.read |= other.read;
        self.write |= other.write;
        self.define |= other.define;
    }
}

/// A column referenced by a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnUse {
    /// The column.
    pub column: ColumnRef,
    /// Where it appears.
    pub clauses: Clauses,
}

/// Where in a statement a column appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Clause {
    /// The select list (of any query, including subqueries).
    Select = 0,
    Where = 1,
    /// `JOIN … ON` / `USING`, `MERGE … ON`.
    Join = 2,
    GroupBy = 3,
    Having = 4,
    OrderBy = 5,
    /// `OVER (PARTITION BY … ORDER BY …)`.
    Window = 6,
    /// A column written: `INSERT` column list, `UPDATE SET` target.
    Target = 7,
    /// An expression computing written values: `VALUES`, `SET x = expr`.
    Value = 8,
    Returning = 9,
    /// Anywhere else (function arguments in `FROM`, `LIMIT` expressions, DDL).
    Other = 10,
}

impl Clause {
    const ALL: [Clause; 11] = [
        Clause::Select,
        Clause::Where,
        Clause::Join,
        Clause::GroupBy,
        Clause::Having,
        Clause::OrderBy,
        Clause::Window,
        Clause::Target,
        Clause::Value,
        Clause::Returning,
        Clause::Other,
    ];
}

/// A set of [`Clause`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Clauses(u16);

impl Clauses {
    /// The set with one clause.
    pub fn of(clause: Clause) -> Self {
        Self(1 << clause as u16)
    }

    /// Whether `clause` is in the set.
    pub fn contains(self, clause: Clause) -> bool {
        self.0 & (1 << clause as u16) != 0
    }

    /// Adds a clause.
    pub fn insert(&mut self, clause: Clause) {
        self.0 |= 1 << clause as u16;
    }

    /// The clauses in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Clause> {
        Clause::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for Clauses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Clauses {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Clauses {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Clause>::deserialize(deserializer)?;
        let mut set = Clauses::default();
        for clause in list {
            set.insert(clause);
        }
        Ok(set)
    }
}

/// One column of a result set and where its values come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputColumn {
    /// The name the client sees: the alias, the column name, the function name, or
    /// `?column?`.
    pub name: String,
    /// The strongest derivation among the sources ([`Derivation::Constant`] when none).
    pub derivation: Derivation,
    /// The base columns the values derive from, each with how. For a `UNION`, the
    /// sources of the same position in every branch.
    pub sources: Vec<Source>,
}

/// A base column an output derives from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The column.
    pub column: ColumnRef,
    /// How the output derives from it.
    pub derivation: Derivation,
}

/// How an output value derives from a source column, weakest first. The policy masks
/// `Plain` outputs; it cannot mask a `Transformed` one faithfully and must block it when
/// the source needs masking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "derivation")]
pub enum Derivation {
    /// Derives from no column: literals, parameters, `count(*)`, `now()`.
    Constant,
    /// An aggregate over the column: `count(col)`, `count(DISTINCT col)` do not reveal
    /// values (`reveals: false`); `min`, `max`, `sum`, `avg`, `string_agg`,
    /// `group_concat`, `array_agg`, … do (`reveals: true`).
    Aggregate {
        /// Whether source values can be read from the result.
        reveals: bool,
    },
    /// The value itself: `col`, `t.col`, `col AS x`, a cast to a text type, one of the
    /// choices of `CASE`/`COALESCE`, a `UNION` branch.
    Plain,
    /// A computed value: functions, operators, `||`, casts to other types, and the columns
    /// a `CASE` condition tests.
    Transformed,
}

impl Derivation {
    fn rank(self) -> u8 {
        match self {
            Derivation::Constant => 0,
            Derivation::Aggregate { reveals: false } => 1,
            Derivation::Plain => 2,
            Derivation::Aggregate { reveals: true } => 3,
            Derivation::Transformed => 4,
        }
    }

    /// The stronger of two (the order of the variants, `reveals: true` above `Plain`).
    pub fn max(self, other: Derivation) -> Derivation {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// How a statement filters on a column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predicate {
    /// The base column.
    pub column: ColumnRef,
    /// The kind of test.
    pub kind: PredicateKind,
    /// Where: [`Clause::Where`], [`Clause::Join`] or [`Clause::Having`].
    pub clause: Clause,
}

/// The kind of test a predicate applies to a column, for inference checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredicateKind {
    /// `col = literal/parameter`, `col IN (list)`, `col = ANY($1)`: a key lookup.
    Equality,
    /// `LIKE`, `ILIKE`, `SIMILAR TO`, `~`, `REGEXP`/`RLIKE`.
    Pattern,
    /// `<`, `>`, `<=`, `>=`, `BETWEEN`.
    Range,
    /// The column inside a function or operator: `substr(id_card, 1, 6) = '330102'`.
    Transformed,
    /// Anything else: `<>`, `IS NULL`, column-to-column comparisons, `IN (subquery)`.
    Other,
}

/// A shape flag: something about a statement that rules and detections look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Flag {
    /// `SELECT` from a table, `UPDATE` or `DELETE` without `WHERE`; `TRUNCATE`.
    NoWhere = 0,
    /// `*` or `t.*` in a select list (not counting `EXISTS (SELECT * …)`).
    SelectStar = 1,
    /// A top-level query reading a table without `LIMIT`/`FETCH`.
    NoLimit = 2,
    /// A condition that is always true: `OR 1=1`, `OR 'a'='a'`, `OR 2>1`, `OR true`, `WHERE 1`.
    Tautology = 3,
    /// A `UNION`.
    Union = 4,
    /// A `UNION` one branch of which reads a system catalog.
    UnionSystemCatalog = 5,
    /// Reads a system catalog, or `SHOW`s server metadata.
    SystemCatalog = 6,
    /// More than one statement in one text.
    Stacked = 7,
    /// A time-delay function: `pg_sleep`, `sleep`, `benchmark`, `WAITFOR`.
    TimeDelay = 8,
    /// Server file access: `pg_read_file`, `lo_import`, `load_file`, `COPY` to or from a
    /// server file, `LOAD DATA INFILE`.
    FileAccess = 9,
    /// `SELECT … INTO OUTFILE` / `DUMPFILE`.
    IntoOutfile = 10,
    /// `COPY … TO/FROM PROGRAM`.
    Program = 11,
    /// The text has a comment.
    Comment = 12,
    /// A comment glued to words on both sides: `SEL/**/ECT`, `UNION/**/SELECT`.
    CommentEvasion = 13,
    /// A MySQL executable comment `/*! … */` (analyzed as code for MySQL).
    ExecutableComment = 14,
    /// Runs SQL the analysis cannot see: `EXECUTE`, `PREPARE … FROM` a variable.
    DynamicSql = 15,
    /// Too deeply nested or too long an expression chain for the parser: analyzed by the
    /// fallback.
    TooComplex = 16,
}

impl Flag {
    /// Every flag, in declaration order.
    pub const ALL: [Flag; 17] = [
        Flag::NoWhere,
        Flag::SelectStar,
        Flag::NoLimit,
        Flag::Tautology,
        Flag::Union,
        Flag::UnionSystemCatalog,
        Flag::SystemCatalog,
        Flag::Stacked,
        Flag::TimeDelay,
        Flag::FileAccess,
        Flag::IntoOutfile,
        Flag::Program,
        Flag::Comment,
        Flag::CommentEvasion,
        Flag::ExecutableComment,
        Flag::DynamicSql,
        Flag::TooComplex,
    ];
}

/// A set of [`Flag`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    /// No flag.
    pub const EMPTY: Flags = Flags(0);

    /// Whether `flag` is set.
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & (1 << flag as u32) != 0
    }

    /// Sets `flag`.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= 1 << flag as u32;
    }

    /// Both sets.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flags set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        let mut flags = Flags::EMPTY;
        for flag in iter {
            flags.insert(flag);
        }
        flags
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Flag>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}
