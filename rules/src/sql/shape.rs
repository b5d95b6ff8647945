//! Shape knowledge shared by the parsed and the fallback analysis: which functions delay,
//! touch server files or aggregate, which types are text, and a small evaluator for
//! constant expressions that tells tautologies (`OR 1=1`, `OR 2>1`, `OR 'a'='a'`) apart.
//!
//! The evaluator follows the dialect where it matters for "is this always true": MySQL
//! compares strings case-insensitively and ignoring trailing spaces (its default
//! collations), turns strings into numbers by their numeric prefix, and treats any non-zero
//! number as true; PostgreSQL compares strings exactly. It gives up (`None`) on anything it
//! does not know, and its recursion is bounded.

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
    Value,
};

use super::Dialect;

/// Whether a function (its last name part, lower case) delays execution.
pub(crate) fn is_time_delay(name: &str) -> bool {
    matches!(
        name,
        "pg_sleep" | "pg_sleep_for" | "pg_sleep_until" | "sleep" | "benchmark" | "waitfor"
    )
}

/// Whether a function (its last name part, lower case) reads, lists or writes server
/// files.
pub(crate) fn is_file_access(name: &str) -> bool {
    matches!(
        name,
        "pg_read_file"
            | "pg_read_binary_file"
            | "pg_ls_dir"
            | "pg_stat_file"
            | "pg_ls_logdir"
            | "pg_ls_waldir"
            | "pg_ls_tmpdir"
            | "pg_ls_archive_statusdir"
            | "pg_file_write"
            | "pg_file_rename"
            | "pg_file_unlink"
            | "lo_import"
            | "lo_export"
            | "load_file"
    )
}

/// How an aggregate or window function passes values of its arguments on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FunctionClass {
    /// An aggregate whose result does not reveal argument values (`count`).
    Counting,
    /// An aggregate whose result reveals argument values (`min`, `max`, `string_agg`).
    Revealing,
    /// Returns one of its arguments unchanged: `coalesce`, `greatest`, `lag`.
    /// `first_args` is how many leading arguments are candidates (`None`: all).
    Choice { first_args: Option<usize> },
    /// Anything else: the result is computed from the arguments.
    Scalar,
}

pub(crate) fn classify_function(name: &str) -> FunctionClass {
    match name {
        "count"
        | "count_big"
        | "approx_count_distinct"
        | "row_number"
        | "rank"
        | "dense_rank"
        | "percent_rank"
        | "cume_dist"
        | "ntile"
        | "grouping" => FunctionClass::Counting,
        "min" | "max" | "sum" | "avg" | "string_agg" | "group_concat" | "array_agg"
        | "json_agg" | "jsonb_agg" | "json_object_agg" | "jsonb_object_agg" | "json_arrayagg"
        | "json_objectagg" | "xmlagg" | "listagg" | "any_value" | "bit_and" | "bit_or"
        | "bit_xor" | "bool_and" | "bool_or" | "every" | "stddev" | "stddev_pop"
        | "stddev_samp" | "std" | "variance" | "var_pop" | "var_samp" | "median" | "mode"
        | "percentile_cont" | "percentile_disc" | "corr" | "covar_pop" | "covar_samp"
        | "regr_avgx" | "regr_avgy" | "regr_count" | "regr_intercept" | "regr_r2"
        | "regr_slope" | "regr_sxx" | "regr_sxy" | "regr_syy" => FunctionClass::Revealing,
        "coalesce" | "ifnull" | "nvl" | "greatest" | "least" => {
            FunctionClass::Choice { first_args: None }
        }
        "nullif" | "lag" | "lead" | "first_value" | "last_value" | "nth_value" => {
            FunctionClass::Choice {
                first_args: Some(1),
            }
        }
        _ => FunctionClass::Scalar,
    }
}

/// Whether a cast to this type keeps the text of a value (so masking it stays faithful).
pub(crate) fn is_text_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Text
        | DataType::TinyText
        | DataType::MediumText
        | DataType::LongText
        | DataType::Character(_)
        | DataType::Char(_)
        | DataType::CharacterVarying(_)
        | DataType::CharVarying(_)
        | DataType::Varchar(_)
        | DataType::Nvarchar(_)
        | DataType::String(_)
        | DataType::Clob(_)
        | DataType::CharacterLargeObject(_)
        | DataType::CharLargeObject(_) => true,
        DataType::Custom(name, _) => name.0.last().is_some_and(|part| {
            part.as_ident().is_some_and(|i| {
                matches!(
                    i.value.to_ascii_lowercase().as_str(),
                    "citext" | "bpchar" | "name" | "nchar" | "nvarchar2" | "varchar2"
                )
            })
        }),
        _ => false,
    }
}

/// A constant value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

/// Strings longer than this are not evaluated (LIKE matching is quadratic).
const MAX_CONST_LEN: usize = 256;
/// How deep the evaluator goes before giving up.
const MAX_EVAL_DEPTH: usize = 64;

impl Const {
    /// SQL truth: `None` is unknown (NULL or not a truth value).
    pub(crate) fn truth(&self, dialect: Dialect) -> Option<bool> {
        match self {
            Const::Null => None,
            Const::Bool(b) => Some(*b),
            Const::Int(i) => Some(*i != 0),
            Const::Float(f) => Some(*f != 0.0),
            Const::Str(s) => match dialect {
                Dialect::MySql => Some(numeric_prefix(s) != 0.0),
                Dialect::Postgres => match s.trim().to_ascii_lowercase().as_str() {
                    "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
                    "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
                    _ => None,
                },
            },
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Const::Int(i) => Some(*i as f64),
            Const::Float(f) => Some(*f),
            Const::Bool(b) => Some(f64::from(u8::from(*b))),
            Const::Str(s) => Some(numeric_prefix(s)),
            Const::Null => None,
        }
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Const::Str(s) => Some(s.clone()),
            Const::Int(i) => Some(i.to_string()),
            Const::Float(f) => Some(f.to_string()),
            Const::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
            Const::Null => None,
        }
    }
}

/// MySQL's string-to-number conversion: the longest numeric prefix, 0 if none.
fn numeric_prefix(s: &str) -> f64 {
    let s = s.trim_start();
    let mut end = 0;
    let bytes = s.as_bytes();
    if end < bytes.len() && (bytes[end] == b'-' || bytes[end] == b'+') {
        end += 1;
    }
    while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
        end += 1;
    }
    while end > 0 && s[..end].parse::<f64>().is_err() {
        end -= 1;
    }
    s[..end].parse().unwrap_or(0.0)
}

/// Whether an expression holds no column, subquery or variable: literals, parameters and
/// operators and functions over them. Parameters count as constants (their value is fixed
/// per execution).
pub(crate) fn is_constant(expr: &Expr) -> bool {
    is_constant_at(expr, 0)
}

fn is_constant_at(expr: &Expr, depth: usize) -> bool {
    if depth > MAX_EVAL_DEPTH {
        return false;
    }
    let c = |e: &Expr| is_constant_at(e, depth + 1);
    match expr {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::Identifier(ident) => ident.quote_style.is_none() && ident.value.starts_with('@'),
        Expr::Interval(interval) => c(&interval.value),
        Expr::Nested(e) | Expr::UnaryOp { expr: e, .. } | Expr::Collate { expr: e, .. } => c(e),
        Expr::Cast { expr, .. } | Expr::Convert { expr, .. } => c(expr),
        Expr::BinaryOp { left, right, .. } => c(left) && c(right),
        Expr::Tuple(items) => items.iter().all(c),
        Expr::Array(array) => array.elem.iter().all(c),
        Expr::Function(f) => {
            f.over.is_none()
                && f.filter.is_none()
                && match &f.args {
                    FunctionArguments::None => true,
                    FunctionArguments::Subquery(_) => false,
                    FunctionArguments::List(list) => list.args.iter().all(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::Expr(e),
                            ..
                        } => c(e),
                        _ => false,
                    }),
                }
        }
        _ => false,
    }
}

/// Evaluates a constant expression; `None` when it is not one the evaluator knows.
pub(crate) fn eval(expr: &Expr, dialect: Dialect) -> Option<Const> {
    eval_at(expr, dialect, 0)
}

fn eval_at(expr: &Expr, dialect: Dialect, depth: usize) -> Option<Const> {
    if depth > MAX_EVAL_DEPTH {
        return None;
    }
    let ev = |e: &Expr| eval_at(e, dialect, depth + 1);
    match expr {
        Expr::Value(v) => value(&v.value),
        Expr::Nested(e) => ev(e),
        Expr::UnaryOp { op, expr } => {
            let v = ev(expr)?;
            match op {
                UnaryOperator::Not | UnaryOperator::BangNot => {
                    Some(v.truth(dialect).map_or(Const::Null, |b| Const::Bool(!b)))
                }
                UnaryOperator::Minus => match v {
                    Const::Int(i) => Some(Const::Int(i.checked_neg()?)),
                    other => Some(Const::Float(-other.as_f64()?)),
                },
                UnaryOperator::Plus => Some(v),
                _ => None,
            }
        }
        Expr::BinaryOp { left, op, right } => binary(ev(left)?, op, ev(right)?, dialect),
        Expr::IsNull(e) => Some(Const::Bool(ev(e)? == Const::Null)),
        Expr::IsNotNull(e) => Some(Const::Bool(ev(e)? != Const::Null)),
        Expr::IsTrue(e) => Some(Const::Bool(ev(e)?.truth(dialect) == Some(true))),
        Expr::IsNotTrue(e) => Some(Const::Bool(ev(e)?.truth(dialect) != Some(true))),
        Expr::IsFalse(e) => Some(Const::Bool(ev(e)?.truth(dialect) == Some(false))),
        Expr::IsNotFalse(e) => Some(Const::Bool(ev(e)?.truth(dialect) != Some(false))),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let v = ev(expr)?;
            let lo = compare(&v, &ev(low)?, dialect)?;
            let hi = compare(&v, &ev(high)?, dialect)?;
            let inside = lo.is_ge() && hi.is_le();
            Some(Const::Bool(inside != *negated))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = ev(expr)?;
            let mut found = false;
            for item in list.iter().take(64) {
                if compare(&v, &ev(item)?, dialect)?.is_eq() {
                    found = true;
                }
            }
            if list.len() > 64 {
                return None;
            }
            Some(Const::Bool(found != *negated))
        }
        Expr::Like {
            negated,
            expr,
            pattern,
            escape_char: None,
            ..
        } => {
            let text = ev(expr)?.as_text()?;
            let pattern = ev(pattern)?.as_text()?;
            Some(Const::Bool(
                like(&text, &pattern, dialect == Dialect::MySql)? != *negated,
            ))
        }
        Expr::ILike {
            negated,
            expr,
            pattern,
            escape_char: None,
            ..
        } => {
            let text = ev(expr)?.as_text()?;
            let pattern = ev(pattern)?.as_text()?;
            Some(Const::Bool(like(&text, &pattern, true)? != *negated))
        }
        Expr::Cast { expr, .. } => ev(expr),
        Expr::Function(f) => function(f, dialect, depth),
        _ => None,
    }
}

fn value(v: &Value) -> Option<Const> {
    super::lexical::literal_read();
    match v {
        Value::Number(n, _) => n
            .parse::<i128>()
            .map(Const::Int)
            .ok()
            .or_else(|| n.parse::<f64>().ok().map(Const::Float)),
        Value::Boolean(b) => Some(Const::Bool(*b)),
        Value::Null => Some(Const::Null),
        Value::SingleQuotedString(s)
        | Value::DoubleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::UnicodeStringLiteral(s) => {
            (s.len() <= MAX_CONST_LEN).then(|| Const::Str(s.clone()))
        }
        Value::DollarQuotedString(d) => {
            (d.value.len() <= MAX_CONST_LEN).then(|| Const::Str(d.value.clone()))
        }
        _ => None,
    }
}

fn function(f: &sqlparser::ast::Function, dialect: Dialect, depth: usize) -> Option<Const> {
    if f.over.is_some() || f.filter.is_some() {
        return None;
    }
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let mut args = Vec::with_capacity(list.args.len());
    for arg in &list.args {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                args.push(eval_at(e, dialect, depth + 1)?)
            }
            _ => return None,
        }
    }
    match (name.as_str(), args.as_slice()) {
        ("concat", args) => {
            let mut s = String::new();
            for a in args {
                s.push_str(&a.as_text()?);
                if s.len() > MAX_CONST_LEN {
                    return None;
                }
            }
            Some(Const::Str(s))
        }
        ("lower" | "lcase", [a]) => Some(Const::Str(a.as_text()?.to_lowercase())),
        ("upper" | "ucase", [a]) => Some(Const::Str(a.as_text()?.to_uppercase())),
        ("length" | "char_length" | "character_length", [a]) => {
            Some(Const::Int(a.as_text()?.chars().count() as i128))
        }
        ("chr" | "char", args) if !args.is_empty() && args.len() <= MAX_CONST_LEN => {
            let mut s = String::new();
            for a in args {
                let code = u32::try_from(match a {
                    Const::Int(i) => *i,
                    _ => return None,
                })
                .ok()?;
                s.push(char::from_u32(code)?);
            }
            Some(Const::Str(s))
        }
        ("ascii", [a]) => Some(Const::Int(
            a.as_text()?.chars().next().map_or(0, |c| c as i128),
        )),
        ("abs", [Const::Int(i)]) => Some(Const::Int(i.checked_abs()?)),
        ("coalesce" | "ifnull", args) => Some(
            args.iter()
                .find(|a| **a != Const::Null)
                .cloned()
                .unwrap_or(Const::Null),
        ),
        _ => None,
    }
}

fn binary(l: Const, op: &BinaryOperator, r: Const, dialect: Dialect) -> Option<Const> {
    use BinaryOperator as B;
    let cmp = |f: fn(std::cmp::Ordering) -> bool| -> Option<Const> {
        if l == Const::Null || r == Const::Null {
            return Some(Const::Null);
        }
        Some(Const::Bool(f(compare(&l, &r, dialect)?)))
    };
    match op {
        B::Eq => cmp(|o| o.is_eq()),
        B::NotEq => cmp(|o| o.is_ne()),
        B::Lt => cmp(|o| o.is_lt()),
        B::LtEq => cmp(|o| o.is_le()),
        B::Gt => cmp(|o| o.is_gt()),
        B::GtEq => cmp(|o| o.is_ge()),
        B::Spaceship => {
            if l == Const::Null || r == Const::Null {
                Some(Const::Bool(l == r))
            } else {
                Some(Const::Bool(compare(&l, &r, dialect)?.is_eq()))
            }
        }
        B::And => Some(match (l.truth(dialect), r.truth(dialect)) {
            (Some(false), _) | (_, Some(false)) => Const::Bool(false),
            (Some(true), Some(true)) => Const::Bool(true),
            _ => Const::Null,
        }),
        B::Or => Some(match (l.truth(dialect), r.truth(dialect)) {
            (Some(true), _) | (_, Some(true)) => Const::Bool(true),
            (Some(false), Some(false)) => Const::Bool(false),
            _ => Const::Null,
        }),
        B::Xor => Some(match (l.truth(dialect), r.truth(dialect)) {
            (Some(a), Some(b)) => Const::Bool(a != b),
            _ => Const::Null,
        }),
        B::StringConcat if dialect == Dialect::Postgres => {
            let s = l.as_text()? + &r.as_text()?;
            (s.len() <= MAX_CONST_LEN).then_some(Const::Str(s))
        }
        // MySQL's default `||` is a logical OR.
        B::StringConcat => binary(l, &B::Or, r, dialect),
        B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo => arithmetic(l, op, r),
        _ => None,
    }
}

fn arithmetic(l: Const, op: &BinaryOperator, r: Const) -> Option<Const> {
    use BinaryOperator as B;
    if l == Const::Null || r == Const::Null {
        return Some(Const::Null);
    }
    if let (Const::Int(a), Const::Int(b)) = (&l, &r) {
        let v = match op {
            B::Plus => a.checked_add(*b),
            B::Minus => a.checked_sub(*b),
            B::Multiply => a.checked_mul(*b),
            B::Divide => a.checked_div(*b),
            B::Modulo => a.checked_rem(*b),
            _ => None,
        };
        return v.map(Const::Int);
    }
    let (a, b) = (l.as_f64()?, r.as_f64()?);
    let v = match op {
        B::Plus => a + b,
        B::Minus => a - b,
        B::Multiply => a * b,
        B::Divide if b != 0.0 => a / b,
        B::Modulo if b != 0.0 => a % b,
        _ => return None,
    };
    v.is_finite().then_some(Const::Float(v))
}

/// Compares two non-NULL constants the way the dialect would.
fn compare(l: &Const, r: &Const, dialect: Dialect) -> Option<std::cmp::Ordering> {
    match (l, r) {
        (Const::Null, _) | (_, Const::Null) => None,
        (Const::Str(a), Const::Str(b)) => Some(match dialect {
            Dialect::MySql => {
                let a = a.trim_end_matches(' ').to_lowercase();
                let b = b.trim_end_matches(' ').to_lowercase();
                a.cmp(&b)
            }
            Dialect::Postgres => a.cmp(b),
        }),
        (Const::Int(a), Const::Int(b)) => Some(a.cmp(b)),
        (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Public for the fallback: compares two literal constants with a comparison operator.
pub(crate) fn compare_with(l: &Const, op: &str, r: &Const, dialect: Dialect) -> Option<bool> {
    let o = compare(l, r, dialect)?;
    Some(match op {
        "=" | "==" | "<=>" => o.is_eq(),
        "<>" | "!=" => o.is_ne(),
        "<" => o.is_lt(),
        "<=" => o.is_le(),
        ">" => o.is_gt(),
        ">=" => o.is_ge(),
        _ => return None,
    })
}

/// SQL LIKE with `%` and `_` and `\` as escape; `None` when too long to match cheaply.
fn like(text: &str, pattern: &str, insensitive: bool) -> Option<bool> {
    if text.len() > MAX_CONST_LEN || pattern.len() > MAX_CONST_LEN {
        return None;
    }
    let fold = |s: &str| {
        if insensitive {
            s.to_lowercase().chars().collect::<Vec<_>>()
        } else {
            s.chars().collect()
        }
    };
    let t = fold(text);
    let p = fold(pattern);
    // Classic DP over (pattern position, text position).
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    let mut i = 0;
    while i < p.len() {
        let (c, escaped) = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            (p[i], true)
        } else {
            (p[i], false)
        };
        let mut next = vec![false; t.len() + 1];
        if c == '%' && !escaped {
            let mut any = false;
            for j in 0..=t.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..t.len() {
                if reach[j] && ((c == '_' && !escaped) || t[j] == c) {
                    next[j + 1] = true;
                }
            }
        }
        reach = next;
        i += 1;
    }
    Some(reach[t.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::lexical::parser_dialect;
    use sqlparser::parser::Parser;

    fn expr(sql: &str, dialect: Dialect) -> Expr {
        Parser::new(parser_dialect(dialect))
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .expect("test expression parses")
    }

    #[test]
    fn constant_truth_table() {
        use Dialect::{MySql, Postgres};
        let cases: &[(Dialect, &str, Option<bool>)] = &[
            (Postgres, "1=1", Some(true)),
            (Postgres, "2>1", Some(true)),
            (Postgres, "'a'='a'", Some(true)),
            (Postgres, "'a'='A'", Some(false)),
            (MySql, "'a'='A'", Some(true)),
            (MySql, "'a '='a'", Some(true)),
            (Postgres, "true", Some(true)),
            (MySql, "1", Some(true)),
            (MySql, "'1abc'", Some(true)),
            (MySql, "'abc'", Some(false)),
            (Postgres, "1=2", Some(false)),
            (Postgres, "NOT 1=2", Some(true)),
            (Postgres, "3-1=2", Some(true)),
            (Postgres, "'a'||'b'='ab'", Some(true)),
            (MySql, "concat('a','b')='ab'", Some(true)),
            (MySql, "'a'=char(97)", Some(true)),
            (Postgres, "1 BETWEEN 0 AND 2", Some(true)),
            (Postgres, "1 IN (3, 2, 1)", Some(true)),
            (Postgres, "'abc' LIKE 'a%'", Some(true)),
            (Postgres, "'abc' LIKE 'A%'", Some(false)),
            (MySql, "'abc' LIKE 'A%'", Some(true)),
            (Postgres, "NULL IS NULL", Some(true)),
            (Postgres, "NULL = NULL", None),
            (MySql, "NULL <=> NULL", Some(true)),
            (Postgres, "'1' = 1", Some(true)),
            (Postgres, "x = 1", None),
            (Postgres, "1/0 = 1", None),
            (Postgres, "2 > 1 AND 1 = 1", Some(true)),
        ];
        for (dialect, sql, want) in cases {
            let got = eval(&expr(sql, *dialect), *dialect).and_then(|c| c.truth(*dialect));
            assert_eq!(got, *want, "{sql} ({dialect:?})");
        }
    }

    #[test]
    fn like_matcher() {
        assert_eq!(like("330102", "3301%", false), Some(true));
        assert_eq!(like("330102", "3301_", false), Some(false));
        assert_eq!(like("a%b", "a\\%b", false), Some(true));
        assert_eq!(like("axb", "a\\%b", false), Some(false));
        assert_eq!(like("", "%", false), Some(true));
    }

    #[test]
    fn constants() {
        for (sql, want) in [
            ("1", true),
            ("$1", true),
            ("upper('a')", true),
            ("x", false),
            ("count(*) OVER ()", false),
            ("(SELECT 1)", false),
        ] {
            assert_eq!(is_constant(&expr(sql, Dialect::Postgres)), want, "{sql}");
        }
        assert!(is_constant(&expr("@x", Dialect::MySql)));
    }
}
