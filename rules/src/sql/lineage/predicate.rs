//! Predicates: how `WHERE`, `ON` and `HAVING` (and aggregate `FILTER`) test columns — key
//! lookups, patterns, ranges, tests through functions — and the tautologies among them.
//! Part of the [`Walker`]; the columns tested are resolved like every other reference.

use sqlparser::ast::{
    self, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use super::{Lineage, R, Walker};
use crate::sql::Dialect;
use crate::sql::analysis::{Clause, Derivation, Flag, Predicate, PredicateKind, Source};
use crate::sql::shape;

impl Walker<'_, '_> {
    /// A `WHERE`/`ON`/`HAVING` condition: predicates, tautologies, and everything
    /// [`Walker::expr`] records.
    pub(crate) fn condition(&mut self, e: &Expr, clause: Clause) -> R<()> {
        if self.always_true(e) {
            self.flags.insert(Flag::Tautology);
        }
        self.predicate(e, clause)
    }

    fn always_true(&self, e: &Expr) -> bool {
        if shape::eval(e, self.dialect()).and_then(|c| c.truth(self.dialect())) == Some(true) {
            return true;
        }
        match e {
            Expr::Nested(inner) => self.always_true(inner),
            Expr::BinaryOp {
                left,
                op:
                    BinaryOperator::Eq
                    | BinaryOperator::GtEq
                    | BinaryOperator::LtEq
                    | BinaryOperator::Spaceship,
                right,
            } => self.same_column(left, right),
            Expr::Like {
                expr,
                pattern,
                negated: false,
                ..
            } => self.same_column(expr, pattern),
            _ => false,
        }
    }

    /// `x = x`: the same bare column on both sides.
    fn same_column(&self, a: &Expr, b: &Expr) -> bool {
        let idents = |e: &Expr| -> Option<Vec<String>> {
            match strip(e) {
                Expr::Identifier(i) => Some(vec![self.fold(i)]),
                Expr::CompoundIdentifier(ids) => Some(ids.iter().map(|i| self.fold(i)).collect()),
                _ => None,
            }
        };
        match (idents(a), idents(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    #[recursive::recursive]
    fn predicate(&mut self, e: &Expr, clause: Clause) -> R<()> {
        self.enter()?;
        self.predicate_inner(e, clause)?;
        self.depth -= 1;
        Ok(())
    }

    fn predicate_inner(&mut self, e: &Expr, clause: Clause) -> R<()> {
        use PredicateKind as K;
        match e {
            Expr::BinaryOp {
                left,
                op: op @ (BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor),
                right,
            } => {
                if *op == BinaryOperator::Or && (self.always_true(left) || self.always_true(right))
                {
                    self.flags.insert(Flag::Tautology);
                }
                self.predicate(left, clause)?;
                self.predicate(right, clause)?;
            }
            // MySQL's default `||` is OR too (sqlparser reads it as concatenation; see
            // `fallback::mysql_pipes_tautology` for the precedence it gets wrong).
            Expr::BinaryOp {
                left,
                op: BinaryOperator::StringConcat,
                right,
            } if self.dialect() == Dialect::MySql => {
                if self.always_true(left) || self.always_true(right) {
                    self.flags.insert(Flag::Tautology);
                }
                self.predicate(left, clause)?;
                self.predicate(right, clause)?;
            }
            Expr::Nested(inner)
            | Expr::UnaryOp {
                op: UnaryOperator::Not | UnaryOperator::BangNot,
                expr: inner,
            } => self.predicate(inner, clause)?,
            Expr::BinaryOp { left, op, right } => match comparison_kind(op) {
                Some(kind) => self.compare(left, right, kind, clause)?,
                None => self.generic(e, clause)?,
            },
            Expr::IsDistinctFrom(a, b) => self.compare(a, b, K::Other, clause)?,
            Expr::IsNotDistinctFrom(a, b) => self.compare(a, b, K::Equality, clause)?,
            Expr::InList {
                expr,
                list,
                negated,
            } if list.iter().all(shape::is_constant) => {
                let kind = if *negated { K::Other } else { K::Equality };
                self.side(expr, kind, clause)?;
                for item in list {
                    self.expr(item, clause)?;
                }
            }
            Expr::InSubquery { expr, subquery, .. } => {
                self.side(expr, K::Other, clause)?;
                self.query(subquery)?;
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } if shape::is_constant(low) && shape::is_constant(high) => {
                let kind = if *negated { K::Other } else { K::Range };
                self.side(expr, kind, clause)?;
                self.expr(low, clause)?;
                self.expr(high, clause)?;
            }
            Expr::Like { expr, pattern, .. }
            | Expr::ILike { expr, pattern, .. }
            | Expr::SimilarTo { expr, pattern, .. }
            | Expr::RLike { expr, pattern, .. }
                if shape::is_constant(pattern) =>
            {
                self.side(expr, K::Pattern, clause)?;
                self.expr(pattern, clause)?;
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } if shape::is_constant(right) => {
                let kind = comparison_kind(compare_op).unwrap_or(K::Other);
                self.side(left, kind, clause)?;
                self.expr(right, clause)?;
            }
            Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x) => self.side(x, K::Other, clause)?,
            Expr::Exists { subquery, .. } => {
                self.in_exists += 1;
                let r = self.query(subquery);
                self.in_exists -= 1;
                r?;
            }
            Expr::Function(f) if is_pattern_function(f) => {
                // `regexp_like(col, '^33')`: a pattern test on the first argument.
                let lineage = self.expr(e, clause)?;
                let first = match &f.args {
                    FunctionArguments::List(list) => list.args.first().and_then(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                        _ => None,
                    }),
                    _ => None,
                };
                let bare = first.is_some_and(is_bare);
                for source in &lineage {
                    let kind = if bare && !self.is_transformed_source(first, source) {
                        K::Pattern
                    } else {
                        K::Transformed
                    };
                    self.predicates.push(Predicate {
                        column: source.column.clone(),
                        kind,
                        clause,
                    });
                }
            }
            _ => self.generic(e, clause)?,
        }
        Ok(())
    }

    /// Whether a source of a pattern function's lineage came through a transformation
    /// other than the pattern function itself.
    fn is_transformed_source(&self, first: Option<&Expr>, source: &Source) -> bool {
        let Some(first) = first else { return true };
        let lineage = match strip(first) {
            Expr::Identifier(i) => self.resolve(std::slice::from_ref(i)),
            Expr::CompoundIdentifier(ids) => self.resolve(ids),
            _ => return true,
        };
        !lineage
            .iter()
            .any(|s| s.column == source.column && s.derivation == Derivation::Plain)
    }

    /// Any other boolean expression: its columns are tested in a way we do not classify;
    /// inside a function or operator that is a transformation.
    fn generic(&mut self, e: &Expr, clause: Clause) -> R<()> {
        let kind = if is_bare(e) {
            PredicateKind::Other
        } else {
            PredicateKind::Transformed
        };
        let lineage = self.expr(e, clause)?;
        self.push_predicates(&lineage, kind, true, clause);
        Ok(())
    }

    /// `a <op> b`: a column compared with a constant gets `kind`, column-to-column
    /// comparisons get `Other`.
    fn compare(&mut self, left: &Expr, right: &Expr, kind: PredicateKind, clause: Clause) -> R<()> {
        // `(a, b) = ($1, $2)`: pairwise.
        if let (Expr::Tuple(ls), Expr::Tuple(rs)) = (strip(left), strip(right))
            && ls.len() == rs.len()
        {
            for (l, r) in ls.iter().zip(rs) {
                self.compare(l, r, kind, clause)?;
            }
            return Ok(());
        }
        let (lc, rc) = (shape::is_constant(left), shape::is_constant(right));
        match (lc, rc) {
            (false, true) => {
                self.side(left, kind, clause)?;
                self.expr(right, clause)?;
            }
            (true, false) => {
                self.side(right, kind, clause)?;
                self.expr(left, clause)?;
            }
            (false, false) => {
                self.side(left, PredicateKind::Other, clause)?;
                self.side(right, PredicateKind::Other, clause)?;
            }
            (true, true) => {
                self.expr(left, clause)?;
                self.expr(right, clause)?;
            }
        }
        Ok(())
    }

    /// One side of a test: a bare column (through casts) gets `kind`, one inside a
    /// function or operator (or derived through one in a subquery) gets `Transformed`.
    fn side(&mut self, e: &Expr, kind: PredicateKind, clause: Clause) -> R<()> {
        let bare = is_bare(e);
        let lineage = self.expr(e, clause)?;
        self.push_predicates(&lineage, kind, bare, clause);
        Ok(())
    }

    pub(super) fn push_predicates(
        &mut self,
        lineage: &Lineage,
        kind: PredicateKind,
        bare: bool,
        clause: Clause,
    ) {
        for source in lineage {
            let kind = if bare && source.derivation == Derivation::Plain {
                kind
            } else {
                PredicateKind::Transformed
            };
            self.predicates.push(Predicate {
                column: source.column.clone(),
                kind,
                clause,
            });
        }
    }
}

/// Strips what does not change a value's identity for a test: parentheses, casts,
/// collations.
fn strip(e: &Expr) -> &Expr {
    let mut e = e;
    for _ in 0..64 {
        match e {
            Expr::Nested(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::Collate { expr: inner, .. } => e = inner,
            _ => break,
        }
    }
    e
}

/// Whether an expression is a plain column reference (through parentheses, casts and
/// collations).
fn is_bare(e: &Expr) -> bool {
    match strip(e) {
        Expr::Identifier(i) => !i.value.starts_with('@'),
        Expr::CompoundIdentifier(_) => true,
        _ => false,
    }
}

fn comparison_kind(op: &BinaryOperator) -> Option<PredicateKind> {
    use BinaryOperator as B;
    Some(match op {
        B::Eq | B::Spaceship => PredicateKind::Equality,
        B::Lt | B::LtEq | B::Gt | B::GtEq => PredicateKind::Range,
        B::PGRegexMatch
        | B::PGRegexIMatch
        | B::PGRegexNotMatch
        | B::PGRegexNotIMatch
        | B::PGLikeMatch
        | B::PGILikeMatch
        | B::PGNotLikeMatch
        | B::PGNotILikeMatch
        | B::PGStartsWith
        | B::Regexp
        | B::Match
        | B::Glob => PredicateKind::Pattern,
        B::NotEq => PredicateKind::Other,
        _ => return None,
    })
}

fn is_pattern_function(f: &ast::Function) -> bool {
    f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
        matches!(
            i.value.to_ascii_lowercase().as_str(),
            "regexp_like" | "starts_with" | "regexp_match" | "regexp_matches"
        )
    })
}
