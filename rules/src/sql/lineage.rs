//! The walk over a parsed statement's queries and expressions: name scopes (aliases, CTEs,
//! derived tables, joins, outer references), column resolution through the [`Schema`],
//! output-column lineage, predicates ([`predicate`]) and the shape flags that need the
//! tree. [`super::statement`] drives it statement by statement.
//!
//! Every recursive entry point ([`Walker::query`], [`Walker::expr`], [`Walker::predicate`],
//! [`Walker::table_factor`]) counts depth and gives up past [`MAX_WALK_DEPTH`] (the
//! statement then goes to the fallback), and grows the stack on the heap when it runs
//! low, like sqlparser's own parser does; [`super::lexical::nesting_bound`] keeps trees
//! that deep from being built in the first place.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments,
    GroupByExpr, Ident, JoinConstraint, JoinOperator, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetOperator, TableAlias, TableFactor, TableWithJoins,
    WindowType,
};

use super::analysis::{
    Access, Clause, Clauses, ColumnUse, Derivation, Flag, Flags, ObjectUse, Predicate,
    PredicateKind, Source,
};
use super::name::{ColumnRef, Context, ObjectName, Schema};
use super::shape::{self, FunctionClass};
use super::{Dialect, StatementKind};

mod predicate;

/// How deep the walk goes before it gives up on a statement.
pub(crate) const MAX_WALK_DEPTH: usize = 10_000;

/// How much lineage (sources created or copied, nodes entered) the walk may produce for
/// one statement before it gives up: bounds time and memory on statements built to blow
/// up (`SELECT *` over a thousand-column CTE joined to itself a thousand times).
pub(crate) const MAX_WALK_WORK: usize = 2_000_000;

/// The walk gave up: too deep or too much lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkError {
    TooComplex,
}

pub(crate) type R<T> = Result<T, WalkError>;

/// Where the values of one expression come from.
pub(crate) type Lineage = Vec<Source>;

/// An output column while walking.
#[derive(Debug, Clone)]
pub(crate) struct OutCol {
    pub(crate) name: String,
    pub(crate) lineage: Lineage,
}

/// The columns of something in a `FROM` clause.
enum Cols<'s> {
    /// A base table or view: columns from the schema when known, and the alias column list
    /// (`FROM t AS x(a, b)` renames the first columns).
    Base {
        table: ObjectName,
        known: Option<&'s [String]>,
        renames: Vec<String>,
    },
    /// A derived table, a CTE reference, `VALUES`, `UNNEST`: columns with lineage.
    Derived(Vec<OutCol>),
    /// A table function or an unknown construct: its columns derive from no catalogued
    /// table (the function itself is recorded and flagged).
    Opaque,
}

struct Relation<'s> {
    /// The name columns are qualified with: the alias, or the table's own name.
    name: String,
    aliased: bool,
    cols: Cols<'s>,
}

#[derive(Default)]
struct Scope<'s> {
    relations: Vec<Relation<'s>>,
}

struct CteDef {
    name: String,
    /// `None` while a recursive CTE's own body is being walked.
    cols: Option<Vec<OutCol>>,
}

/// Accumulates everything a statement's walk finds.
pub(crate) struct Walker<'a, 's> {
    pub(super) cx: &'a Context<'a>,
    schema: &'s dyn Schema,
    depth: usize,
    work: usize,
    scopes: Vec<Scope<'s>>,
    ctes: Vec<CteDef>,
    /// 1 while walking the top-level query of a statement.
    pub(super) query_depth: usize,
    in_exists: usize,
    system_reads: usize,
    /// A data-modifying statement inside a query (PostgreSQL `WITH x AS (DELETE …)`).
    pub(super) nested_write: bool,
    pub(super) objects: Vec<ObjectUse>,
    pub(super) columns: Vec<ColumnUse>,
    pub(super) predicates: Vec<Predicate>,
    pub(super) functions: Vec<String>,
    pub(super) flags: Flags,
    pub(super) limit: Option<u64>,
    pub(super) export: Option<super::analysis::Endpoint>,
    pub(super) import: Option<super::analysis::Endpoint>,
    pub(super) switches_schema: Option<String>,
    pub(super) cursor: Option<super::analysis::CursorUse>,
}

impl<'a, 's> Walker<'a, 's> {
    pub(crate) fn new(cx: &'a Context<'a>, schema: &'s dyn Schema) -> Self {
        Self {
            cx,
            schema,
            depth: 0,
            work: 0,
            scopes: Vec::new(),
            ctes: Vec::new(),
            query_depth: 0,
            in_exists: 0,
            system_reads: 0,
            nested_write: false,
            objects: Vec::new(),
            columns: Vec::new(),
            predicates: Vec::new(),
            functions: Vec::new(),
            flags: Flags::EMPTY,
            limit: None,
            export: None,
            import: None,
            switches_schema: None,
            cursor: None,
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        self.charge(1)
    }

    /// Accounts for work done; fails past the depth or work limit.
    fn charge(&mut self, work: usize) -> R<()> {
        self.work = self.work.saturating_add(work);
        if self.depth > MAX_WALK_DEPTH || self.work > MAX_WALK_WORK {
            return Err(WalkError::TooComplex);
        }
        Ok(())
    }

    fn dialect(&self) -> Dialect {
        self.cx.dialect
    }

    fn fold(&self, ident: &Ident) -> String {
        self.cx.fold_ident(ident)
    }

    // ----- recording -------------------------------------------------------------------

    pub(super) fn record_object(&mut self, name: ObjectName, access: Access) {
        let system = name.is_system(self.dialect());
        if system {
            self.flags.insert(Flag::SystemCatalog);
            self.system_reads += 1;
        }
        self.objects.push(ObjectUse {
            name,
            access,
            system,
        });
    }

    /// Records a function call by its (lower-cased, dotted) name and flags it.
    pub(super) fn record_function(&mut self, name: &ast::ObjectName) -> String {
        let mut full = String::new();
        let mut last = String::new();
        for (i, part) in name.0.iter().enumerate() {
            let ident = match part {
                ast::ObjectNamePart::Identifier(ident) => ident,
                ast::ObjectNamePart::Function(f) => &f.name,
            };
            last = ident.value.to_lowercase();
            if i > 0 {
                full.push('.');
            }
            full.push_str(&last);
        }
        self.functions.push(full);
        last
    }

    fn use_lineage(&mut self, lineage: &Lineage, clause: Clause) {
        for source in lineage {
            self.columns.push(ColumnUse {
                column: source.column.clone(),
                clauses: Clauses::of(clause),
            });
        }
    }

    // ----- queries ---------------------------------------------------------------------

    /// Walks a query and returns its output columns.
    #[recursive::recursive]
    pub(crate) fn query(&mut self, q: &Query) -> R<Vec<OutCol>> {
        self.enter()?;
        self.query_depth += 1;
        let cte_mark = self.ctes.len();
        let scope_mark = self.scopes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.cte(cte, with.recursive)?;
            }
        }
        let outs = self.set_expr(&q.body, true)?;
        if let Some(order_by) = &q.order_by
            && let OrderByKind::Expressions(list) = &order_by.kind
        {
            for item in list {
                self.output_ref(&item.expr, &outs, Clause::OrderBy, true)?;
            }
        }
        if let Some(limit) = &q.limit_clause {
            match limit {
                ast::LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => {
                    if let Some(e) = limit {
                        self.expr(e, Clause::Other)?;
                    }
                    if let Some(o) = offset {
                        self.expr(&o.value, Clause::Other)?;
                    }
                    for e in limit_by {
                        self.expr(e, Clause::Other)?;
                    }
                }
                ast::LimitClause::OffsetCommaLimit { offset, limit } => {
                    self.expr(offset, Clause::Other)?;
                    self.expr(limit, Clause::Other)?;
                }
            }
        }
        if let Some(fetch) = &q.fetch
            && let Some(e) = &fetch.quantity
        {
            self.expr(e, Clause::Other)?;
        }
        self.scopes.truncate(scope_mark);
        self.ctes.truncate(cte_mark);
        self.query_depth -= 1;
        self.depth -= 1;
        Ok(outs)
    }

    fn cte(&mut self, cte: &ast::Cte, recursive: bool) -> R<()> {
        let name = self.fold(&cte.alias.name);
        if recursive {
            // First pass with the CTE opaque to itself, second with the first pass's
            // columns, so that lineage flowing through the recursion is kept.
            self.ctes.push(CteDef {
                name: name.clone(),
                cols: None,
            });
            let first = self.query(&cte.query)?;
            let first = self.rename(first, &cte.alias);
            if let Some(def) = self.ctes.last_mut() {
                def.cols = Some(first.clone());
            }
            let second = self.query(&cte.query)?;
            let second = self.rename(second, &cte.alias);
            let merged = self.merge_positional(first, second)?;
            if let Some(def) = self.ctes.last_mut() {
                def.cols = Some(merged);
            }
        } else {
            let outs = self.query(&cte.query)?;
            let outs = self.rename(outs, &cte.alias);
            self.ctes.push(CteDef {
                name,
                cols: Some(outs),
            });
        }
        Ok(())
    }

    /// Applies an alias column list (`AS t(a, b)`) to output columns.
    fn rename(&self, mut outs: Vec<OutCol>, alias: &TableAlias) -> Vec<OutCol> {
        for (out, col) in outs.iter_mut().zip(&alias.columns) {
            out.name = self.fold(&col.name);
        }
        outs
    }

    /// Walks a query body. A plain `SELECT` leaves its scope on the stack when
    /// `keep_scope` (for the enclosing query's `ORDER BY`); the caller truncates it.
    fn set_expr(&mut self, body: &SetExpr, keep_scope: bool) -> R<Vec<OutCol>> {
        match body {
            SetExpr::Select(select) => {
                let mark = self.scopes.len();
                let outs = self.select(select)?;
                if !keep_scope {
                    self.scopes.truncate(mark);
                }
                Ok(outs)
            }
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation {
                left, op, right, ..
            } => {
                self.enter()?;
                let system_before = self.system_reads;
                let l = self.set_expr(left, false)?;
                let r = self.set_expr(right, false)?;
                if *op == SetOperator::Union {
                    self.flags.insert(Flag::Union);
                    if self.system_reads > system_before {
                        self.flags.insert(Flag::UnionSystemCatalog);
                    }
                }
                self.depth -= 1;
                self.merge_positional(l, r)
            }
            SetExpr::Values(values) => {
                let mut outs: Vec<OutCol> = Vec::new();
                for row in &values.rows {
                    for (i, e) in row.content.iter().enumerate() {
                        let lineage = self.expr(e, Clause::Value)?;
                        match outs.get_mut(i) {
                            Some(out) => merge(&mut out.lineage, lineage),
                            None => outs.push(OutCol {
                                name: format!("column{}", i + 1),
                                lineage,
                            }),
                        }
                    }
                }
                Ok(outs)
            }
            SetExpr::Insert(st)
            | SetExpr::Update(st)
            | SetExpr::Delete(st)
            | SetExpr::Merge(st) => {
                self.nested_write = true;
                let (_, _, outs) = self.statement(st)?;
                Ok(outs)
            }
            SetExpr::Table(table) => {
                let Some(name) = &table.table_name else {
                    return Ok(Vec::new());
                };
                let mut parts: Vec<String> = Vec::new();
                if let Some(schema) = &table.schema_name {
                    parts.push(self.cx.fold(schema, false));
                }
                parts.push(self.cx.fold(name, false));
                let obj = self.cx.resolve_parts(parts);
                self.record_object(obj.clone(), Access::READ);
                let rel = self.base_relation(obj, None);
                let outs = self.expand(&rel);
                self.charge_outs(&outs)?;
                for out in &outs {
                    self.use_lineage(&out.lineage, Clause::Select);
                }
                if self.in_exists == 0 {
                    self.flags.insert(Flag::SelectStar);
                }
                if self.query_depth == 1 {
                    self.flags.insert(Flag::NoWhere);
                }
                Ok(outs)
            }
        }
    }

    /// Walks a `SELECT`, leaving its scope on the stack.
    fn select(&mut self, s: &Select) -> R<Vec<OutCol>> {
        self.scopes.push(Scope::default());
        for twj in &s.from {
            self.table_with_joins(twj, Access::READ)?;
        }
        let mut outs = Vec::with_capacity(s.projection.len());
        for item in &s.projection {
            self.select_item(item, Clause::Select, &mut outs)?;
        }
        match &s.selection {
            Some(selection) => self.condition(selection, Clause::Where)?,
            None if self.query_depth == 1 && !s.from.is_empty() => self.flags.insert(Flag::NoWhere),
            None => {}
        }
        if let Some(prewhere) = &s.prewhere {
            self.condition(prewhere, Clause::Where)?;
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                self.output_ref(e, &outs, Clause::GroupBy, false)?;
            }
        }
        if let Some(having) = &s.having {
            self.condition(having, Clause::Having)?;
        }
        if let Some(qualify) = &s.qualify {
            self.condition(qualify, Clause::Where)?;
        }
        for window in &s.named_window {
            if let ast::NamedWindowExpr::WindowSpec(spec) = &window.1 {
                self.window_spec(spec)?;
            }
        }
        for e in s.cluster_by.iter().chain(&s.distribute_by) {
            self.expr(e, Clause::Other)?;
        }
        for o in &s.sort_by {
            self.expr(&o.expr, Clause::OrderBy)?;
        }
        Ok(outs)
    }

    /// One select-list (or `RETURNING`) item, appended to `outs`.
    pub(super) fn select_item(
        &mut self,
        item: &SelectItem,
        clause: Clause,
        outs: &mut Vec<OutCol>,
    ) -> R<()> {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let lineage = self.expr(e, clause)?;
                outs.push(OutCol {
                    name: self.output_name(e),
                    lineage,
                });
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let lineage = self.expr(expr, clause)?;
                outs.push(OutCol {
                    name: self.fold(alias),
                    lineage,
                });
            }
            SelectItem::ExprWithAliases { expr, aliases } => {
                let lineage = self.expr(expr, clause)?;
                outs.push(OutCol {
                    name: aliases
                        .first()
                        .map_or_else(|| self.output_name(expr), |a| self.fold(a)),
                    lineage,
                });
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                if self.in_exists == 0 {
                    self.flags.insert(Flag::SelectStar);
                }
                match kind {
                    SelectItemQualifiedWildcardKind::ObjectName(name) => {
                        let qualifier: Vec<String> = name
                            .0
                            .iter()
                            .filter_map(|p| p.as_ident())
                            .map(|i| self.fold(i))
                            .collect();
                        let expanded = self.expand_qualified(&qualifier);
                        self.charge_outs(&expanded)?;
                        for out in &expanded {
                            self.use_lineage(&out.lineage, clause);
                        }
                        outs.extend(expanded);
                    }
                    SelectItemQualifiedWildcardKind::Expr(e) => {
                        let lineage = self.expr(e, clause)?;
                        outs.push(OutCol {
                            name: ColumnRef::ALL.to_owned(),
                            lineage,
                        });
                    }
                }
            }
            SelectItem::Wildcard(_) => {
                if self.in_exists == 0 {
                    self.flags.insert(Flag::SelectStar);
                }
                let mut expanded = Vec::new();
                if let Some(scope) = self.scopes.last() {
                    for rel in &scope.relations {
                        expanded.extend(self.expand(rel));
                    }
                }
                self.charge_outs(&expanded)?;
                for out in &expanded {
                    self.use_lineage(&out.lineage, clause);
                }
                outs.extend(expanded);
            }
        }
        Ok(())
    }

    /// The name a client sees for an unaliased expression.
    fn output_name(&self, e: &Expr) -> String {
        match e {
            Expr::Identifier(i) => self.fold(i),
            Expr::CompoundIdentifier(ids) => ids.last().map_or_else(String::new, |i| self.fold(i)),
            Expr::Function(f) => f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map_or_else(String::new, |i| i.value.to_lowercase()),
            Expr::Cast { expr, .. } | Expr::Nested(expr) => self.output_name(expr),
            Expr::Substring {
                shorthand: true, ..
            } => "substr".to_owned(),
            Expr::Substring { .. } => "substring".to_owned(),
            Expr::Trim { .. } => "btrim".to_owned(),
            Expr::Position { .. } => "position".to_owned(),
            Expr::Extract { .. } => "extract".to_owned(),
            Expr::Ceil { .. } => "ceil".to_owned(),
            Expr::Floor { .. } => "floor".to_owned(),
            Expr::Overlay { .. } => "overlay".to_owned(),
            Expr::Case { .. } => "case".to_owned(),
            Expr::Subquery(q) => match &*q.body {
                SetExpr::Select(s) => match s.projection.first() {
                    Some(SelectItem::UnnamedExpr(e)) => self.output_name(e),
                    Some(SelectItem::ExprWithAlias { alias, .. }) => self.fold(alias),
                    _ => "?column?".to_owned(),
                },
                _ => "?column?".to_owned(),
            },
            Expr::Exists { .. } => "exists".to_owned(),
            Expr::Array(_) => "array".to_owned(),
            _ => "?column?".to_owned(),
        }
    }

    /// An `ORDER BY` or `GROUP BY` item: an output name or ordinal, else an expression
    /// over the input. `ORDER BY` prefers output names, `GROUP BY` input columns.
    fn output_ref(
        &mut self,
        e: &Expr,
        outs: &[OutCol],
        clause: Clause,
        prefer_output: bool,
    ) -> R<()> {
        if matches!(e, Expr::Value(_)) {
            super::lexical::literal_read();
        }
        if let Expr::Value(v) = e
            && let ast::Value::Number(n, _) = &v.value
        {
            if let Some(out) = n
                .parse::<usize>()
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| outs.get(i))
            {
                let lineage = out.lineage.clone();
                self.use_lineage(&lineage, clause);
            }
            return Ok(());
        }
        if let Expr::Identifier(ident) = e {
            let name = self.fold(ident);
            if let Some(out) = outs.iter().find(|o| o.name == name)
                && (prefer_output || !self.resolves_in_scope(&name))
            {
                let lineage = out.lineage.clone();
                self.use_lineage(&lineage, clause);
                return Ok(());
            }
        }
        self.expr(e, clause)?;
        Ok(())
    }

    fn resolves_in_scope(&self, name: &str) -> bool {
        self.scopes.last().is_some_and(|scope| {
            scope.relations.iter().any(|rel| match &rel.cols {
                Cols::Base {
                    known: Some(cols), ..
                } => cols.iter().any(|c| c == name),
                Cols::Base { known: None, .. } | Cols::Opaque => true,
                Cols::Derived(cols) => cols.iter().any(|c| c.name == name),
            })
        })
    }

    // ----- FROM ------------------------------------------------------------------------

    pub(super) fn push_scope(&mut self) {
        self.scopes.push(Scope::default());
    }

    pub(super) fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    /// A `FROM` item with its joins; `access` applies to the first relation (the target of
    /// `UPDATE`), joined relations are read.
    pub(super) fn table_with_joins(&mut self, twj: &TableWithJoins, access: Access) -> R<()> {
        self.table_factor(&twj.relation, access)?;
        for join in &twj.joins {
            self.table_factor(&join.relation, Access::READ)?;
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::AsOf {
                    match_condition,
                    constraint,
                } => {
                    self.condition(match_condition, Clause::Join)?;
                    Some(constraint)
                }
                _ => None,
            };
            match constraint {
                Some(JoinConstraint::On(e)) => self.condition(e, Clause::Join)?,
                Some(JoinConstraint::Using(names)) => {
                    for name in names {
                        let idents: Vec<Ident> = name
                            .0
                            .iter()
                            .filter_map(|p| p.as_ident())
                            .cloned()
                            .collect();
                        // `USING (c)` compares `c` of both sides: every relation that has it.
                        let lineage = match idents.as_slice() {
                            [ident] => {
                                let lineage = self.resolve_in_each(&self.fold(ident));
                                self.use_lineage(&lineage, Clause::Join);
                                lineage
                            }
                            _ => Vec::new(),
                        };
                        let lineage = if lineage.is_empty() {
                            self.column(&idents, Clause::Join)?
                        } else {
                            lineage
                        };
                        self.push_predicates(&lineage, PredicateKind::Other, true, Clause::Join);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[recursive::recursive]
    pub(super) fn table_factor(&mut self, tf: &TableFactor, access: Access) -> R<()> {
        self.enter()?;
        let relation = match tf {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if let Some(args) = args {
                    // A function in FROM: `pg_read_file(…)`, `generate_series(…)`.
                    let last = self.record_function(name);
                    self.flag_function(&last);
                    for arg in &args.args {
                        self.function_arg(arg, Clause::Other)?;
                    }
                    Relation {
                        name: alias.as_ref().map_or(last, |a| self.fold(&a.name)),
                        aliased: alias.is_some(),
                        cols: Cols::Opaque,
                    }
                } else if let Some(cols) = self.cte_columns(name) {
                    if let Some(cols) = &cols {
                        self.charge_outs(cols)?;
                    }
                    let cte_name = self.fold_last(name);
                    let cols = match (cols, alias) {
                        (Some(cols), Some(alias)) => Cols::Derived(self.rename(cols, alias)),
                        (Some(cols), None) => Cols::Derived(cols),
                        (None, _) => Cols::Opaque,
                    };
                    Relation {
                        name: alias.as_ref().map_or(cte_name, |a| self.fold(&a.name)),
                        aliased: alias.is_some(),
                        cols,
                    }
                } else if self.dialect() == Dialect::MySql
                    && name.0.len() == 1
                    && self.fold_last(name) == "dual"
                {
                    // MySQL's `DUAL` is no table.
                    Relation {
                        name: "dual".to_owned(),
                        aliased: false,
                        cols: Cols::Opaque,
                    }
                } else {
                    let obj = self.cx.resolve_object(name);
                    self.record_object(obj.clone(), access);
                    self.base_relation(obj, alias.as_ref())
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let outs = self.query(subquery)?;
                let outs = match alias {
                    Some(alias) => self.rename(outs, alias),
                    None => outs,
                };
                Relation {
                    name: alias
                        .as_ref()
                        .map_or_else(String::new, |a| self.fold(&a.name)),
                    aliased: alias.is_some(),
                    cols: Cols::Derived(outs),
                }
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                let last = self.record_function(name);
                self.flag_function(&last);
                for arg in args {
                    self.function_arg(arg, Clause::Other)?;
                }
                Relation {
                    name: alias.as_ref().map_or(last, |a| self.fold(&a.name)),
                    aliased: alias.is_some(),
                    cols: Cols::Opaque,
                }
            }
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                let mut outs = Vec::new();
                for (i, e) in array_exprs.iter().enumerate() {
                    let lineage = self.expr(e, Clause::Other)?;
                    let name = alias
                        .as_ref()
                        .and_then(|a| a.columns.get(i))
                        .map_or_else(|| "unnest".to_owned(), |c| self.fold(&c.name));
                    outs.push(OutCol { name, lineage });
                }
                Relation {
                    name: alias
                        .as_ref()
                        .map_or_else(|| "unnest".to_owned(), |a| self.fold(&a.name)),
                    aliased: alias.is_some(),
                    cols: Cols::Derived(outs),
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.table_with_joins(table_with_joins, access)?;
                self.depth -= 1;
                return Ok(());
            }
            TableFactor::TableFunction { expr, alias } => {
                self.expr(expr, Clause::Other)?;
                Relation {
                    name: alias
                        .as_ref()
                        .map_or_else(String::new, |a| self.fold(&a.name)),
                    aliased: alias.is_some(),
                    cols: Cols::Opaque,
                }
            }
            TableFactor::Pivot { table, alias, .. }
            | TableFactor::Unpivot { table, alias, .. }
            | TableFactor::MatchRecognize { table, alias, .. } => {
                self.table_factor(table, access)?;
                self.opaque_exprs(tf, Clause::Other)?;
                Relation {
                    name: alias
                        .as_ref()
                        .map_or_else(String::new, |a| self.fold(&a.name)),
                    aliased: alias.is_some(),
                    cols: Cols::Opaque,
                }
            }
            other => {
                // JSON_TABLE, XMLTABLE and the like: their expressions read columns of
                // relations to the left; what they produce is not a catalogued table.
                self.opaque_exprs(other, Clause::Other)?;
                Relation {
                    name: String::new(),
                    aliased: false,
                    cols: Cols::Opaque,
                }
            }
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.relations.push(relation);
        }
        self.depth -= 1;
        Ok(())
    }

    fn fold_last(&self, name: &ast::ObjectName) -> String {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .map_or_else(String::new, |i| self.fold(i))
    }

    /// The columns of the CTE an unqualified name refers to, innermost first:
    /// `Some(None)` for a recursive CTE inside its own body.
    fn cte_columns(&self, name: &ast::ObjectName) -> Option<Option<Vec<OutCol>>> {
        if name.0.len() != 1 {
            return None;
        }
        let folded = self.fold_last(name);
        self.ctes
            .iter()
            .rev()
            .find(|c| c.name == folded)
            .map(|c| c.cols.clone())
    }

    fn base_relation(&self, table: ObjectName, alias: Option<&TableAlias>) -> Relation<'s> {
        let known = self.schema.columns(&table);
        let (name, aliased, renames) = match alias {
            Some(alias) => (
                self.fold(&alias.name),
                true,
                alias.columns.iter().map(|c| self.fold(&c.name)).collect(),
            ),
            None => (table.name.clone(), false, Vec::new()),
        };
        Relation {
            name,
            aliased,
            cols: Cols::Base {
                table,
                known,
                renames,
            },
        }
    }

    /// Adds a base table to the current scope without recording it (already recorded).
    pub(super) fn push_base(&mut self, table: ObjectName, alias: Option<&TableAlias>) {
        let rel = self.base_relation(table, alias);
        if let Some(scope) = self.scopes.last_mut() {
            scope.relations.push(rel);
        }
    }

    /// Adds a relation named `name` whose columns are those of `table` (PostgreSQL's
    /// `excluded` in `ON CONFLICT`).
    pub(super) fn push_alias_of(&mut self, table: ObjectName, name: &str) {
        let mut rel = self.base_relation(table, None);
        rel.name = name.to_owned();
        rel.aliased = true;
        if let Some(scope) = self.scopes.last_mut() {
            scope.relations.push(rel);
        }
    }

    /// The base table a qualifier (alias or table name) in the current scope stands for.
    pub(super) fn relation_table(&self, qualifier: &[String]) -> Option<ObjectName> {
        let scope = self.scopes.last()?;
        scope
            .relations
            .iter()
            .find(|rel| self.relation_matches(rel, qualifier))
            .and_then(|rel| match &rel.cols {
                Cols::Base { table, .. } => Some(table.clone()),
                _ => None,
            })
    }

    /// All columns of a relation, as `*` gives them.
    fn expand(&self, rel: &Relation<'_>) -> Vec<OutCol> {
        // Charged by the callers through `charge_outs`.
        match &rel.cols {
            Cols::Base {
                table,
                known: Some(cols),
                renames,
            } => cols
                .iter()
                .enumerate()
                .map(|(i, c)| OutCol {
                    name: renames.get(i).unwrap_or(c).clone(),
                    lineage: vec![plain(ColumnRef::new(table.clone(), c))],
                })
                .collect(),
            Cols::Base {
                table, known: None, ..
            } => vec![OutCol {
                name: ColumnRef::ALL.to_owned(),
                lineage: vec![plain(ColumnRef::new(table.clone(), ColumnRef::ALL))],
            }],
            Cols::Derived(cols) => cols.clone(),
            Cols::Opaque => vec![OutCol {
                name: ColumnRef::ALL.to_owned(),
                lineage: Vec::new(),
            }],
        }
    }

    /// `t.*`: the relation named by the qualifier, in the innermost scope that has it.
    fn expand_qualified(&self, qualifier: &[String]) -> Vec<OutCol> {
        for scope in self.scopes.iter().rev() {
            if let Some(rel) = scope
                .relations
                .iter()
                .find(|rel| self.relation_matches(rel, qualifier))
            {
                return self.expand(rel);
            }
        }
        // Unknown qualifier: the server rejects it; keep the guess.
        let table = self.cx.resolve_parts(qualifier.to_vec());
        vec![OutCol {
            name: ColumnRef::ALL.to_owned(),
            lineage: vec![plain(ColumnRef::new(table, ColumnRef::ALL))],
        }]
    }

    fn relation_matches(&self, rel: &Relation<'_>, qualifier: &[String]) -> bool {
        match qualifier {
            [] => false,
            [name] => rel.name == *name,
            longer => {
                !rel.aliased
                    && matches!(&rel.cols, Cols::Base { table, .. }
                        if *table == self.cx.resolve_parts(longer.to_vec()))
            }
        }
    }

    // ----- columns ---------------------------------------------------------------------

    /// Resolves a column reference and records its use.
    fn column(&mut self, idents: &[Ident], clause: Clause) -> R<Lineage> {
        let lineage = self.resolve(idents);
        self.charge(lineage.len())?;
        self.use_lineage(&lineage, clause);
        Ok(lineage)
    }

    fn charge_outs(&mut self, outs: &[OutCol]) -> R<()> {
        self.charge(outs.iter().map(|o| o.lineage.len() + 1).sum())
    }

    fn resolve(&self, idents: &[Ident]) -> Lineage {
        let Some((last, qualifier)) = idents.split_last() else {
            return Vec::new();
        };
        if qualifier.is_empty() && last.quote_style.is_none() && last.value.starts_with('@') {
            // A MySQL user or system variable, not a column.
            return Vec::new();
        }
        let name = self.fold(last);
        if qualifier.is_empty() {
            for scope in self.scopes.iter().rev() {
                if let Some(lineage) = self.lookup_unqualified(scope, &name) {
                    return lineage;
                }
            }
            // Not a column of any table in scope as the schema knows them (a stale
            // catalog, or a name the server will reject): the innermost tables may hold it.
            let candidates = self
                .scopes
                .iter()
                .rev()
                .find(|s| !s.relations.is_empty())
                .map(|s| {
                    s.relations
                        .iter()
                        .filter_map(|r| match &r.cols {
                            Cols::Base { table, .. } => Some(table.clone()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            return vec![plain(ColumnRef {
                table: None,
                name,
                candidates,
            })];
        }
        let qualifier: Vec<String> = qualifier.iter().map(|i| self.fold(i)).collect();
        for scope in self.scopes.iter().rev() {
            if let Some(rel) = scope
                .relations
                .iter()
                .find(|rel| self.relation_matches(rel, &qualifier))
            {
                return lookup_in(rel, &name);
            }
        }
        // A qualifier that names nothing in scope: the server rejects it (or it is a
        // composite field); keep the guessed table as the only candidate.
        vec![plain(ColumnRef {
            table: None,
            name,
            candidates: vec![self.cx.resolve_parts(qualifier)],
        })]
    }

    /// A column looked up in every relation of the current scope that has it for sure.
    fn resolve_in_each(&self, name: &str) -> Lineage {
        let mut lineage = Vec::new();
        if let Some(scope) = self.scopes.last() {
            for rel in &scope.relations {
                let has = match &rel.cols {
                    Cols::Base {
                        known: Some(cols),
                        renames,
                        ..
                    } => renames.iter().any(|r| r == name) || cols.iter().any(|c| c == name),
                    Cols::Base { known: None, .. } | Cols::Opaque => false,
                    Cols::Derived(cols) => cols.iter().any(|c| c.name == name),
                };
                if has {
                    merge(&mut lineage, lookup_in(rel, name));
                }
            }
        }
        lineage
    }

    fn lookup_unqualified(&self, scope: &Scope<'_>, name: &str) -> Option<Lineage> {
        // Definite matches, with the base table when the match is one.
        let mut definite: Vec<(Option<ObjectName>, Lineage)> = Vec::new();
        let mut maybe: Vec<ObjectName> = Vec::new();
        let mut opaque = false;
        let mut whole_row: Option<&Relation<'_>> = None;
        for rel in &scope.relations {
            match &rel.cols {
                Cols::Base {
                    table,
                    known,
                    renames,
                } => {
                    if let Some(i) = renames.iter().position(|r| r == name) {
                        let col = known
                            .and_then(|cols| cols.get(i))
                            .map_or(ColumnRef::ALL, String::as_str);
                        definite.push((None, vec![plain(ColumnRef::new(table.clone(), col))]));
                    } else if let Some(cols) = known {
                        if cols.iter().any(|c| c == name) {
                            definite.push((Some(table.clone()), Vec::new()));
                        }
                    } else {
                        maybe.push(table.clone());
                    }
                }
                Cols::Derived(cols) => {
                    if let Some(col) = cols.iter().find(|c| c.name == name) {
                        definite.push((None, col.lineage.clone()));
                    }
                }
                Cols::Opaque => opaque = true,
            }
            if self.dialect() == Dialect::Postgres && rel.name == name {
                whole_row = Some(rel);
            }
        }
        let mut lineage = match (definite.len(), maybe.len()) {
            (1, _) => {
                let (table, lineage) = definite.remove(0);
                return Some(match table {
                    Some(table) => vec![plain(ColumnRef::new(table, name))],
                    None => lineage,
                });
            }
            (n, _) if n > 1 => {
                // Ambiguous (the server rejects it): the tables that have it stay
                // candidates, derived columns give their lineage.
                let mut all = Vec::new();
                let mut candidates = Vec::new();
                for (table, lineage) in definite {
                    match table {
                        Some(table) => candidates.push(table),
                        None => merge(&mut all, lineage),
                    }
                }
                if !candidates.is_empty() {
                    merge(
                        &mut all,
                        vec![plain(ColumnRef {
                            table: None,
                            name: name.to_owned(),
                            candidates,
                        })],
                    );
                }
                return Some(all);
            }
            (_, 1) if !opaque => vec![plain(ColumnRef::new(maybe.remove(0), name))],
            (_, 0) if opaque => Vec::new(),
            (_, 0) => {
                // No column of that name here; PostgreSQL reads a relation name as its
                // whole row.
                return whole_row.map(|rel| row_lineage(&self.expand(rel)));
            }
            _ => vec![plain(ColumnRef {
                table: None,
                name: name.to_owned(),
                candidates: maybe,
            })],
        };
        if let Some(rel) = whole_row
            && matches!(rel.cols, Cols::Base { known: None, .. })
        {
            // Without a schema `p` may be a column or the whole row of `p`: both.
            merge(&mut lineage, row_lineage(&self.expand(rel)));
        }
        Some(lineage)
    }

    // ----- expressions -----------------------------------------------------------------

    /// Walks an expression: records the columns it uses (with `clause`), the functions it
    /// calls and the subqueries it holds, and returns the lineage of its value.
    #[recursive::recursive]
    pub(crate) fn expr(&mut self, e: &Expr, clause: Clause) -> R<Lineage> {
        self.enter()?;
        let lineage = self.expr_inner(e, clause)?;
        self.depth -= 1;
        Ok(lineage)
    }

    fn transformed(&mut self, exprs: &[&Expr], clause: Clause) -> R<Lineage> {
        let mut lineage = Vec::new();
        for e in exprs {
            let l = self.expr(e, clause)?;
            merge(&mut lineage, l);
        }
        set_all(&mut lineage, Derivation::Transformed);
        Ok(lineage)
    }

    fn expr_inner(&mut self, e: &Expr, clause: Clause) -> R<Lineage> {
        Ok(match e {
            Expr::Identifier(ident) => self.column(std::slice::from_ref(ident), clause)?,
            Expr::CompoundIdentifier(idents) => self.column(idents, clause)?,
            Expr::Value(_) | Expr::TypedString(_) | Expr::Wildcard(_) => Vec::new(),
            Expr::Nested(inner)
            | Expr::Collate { expr: inner, .. }
            | Expr::Named { expr: inner, .. }
            | Expr::OuterJoin(inner)
            | Expr::Prior(inner)
            | Expr::Prefixed { value: inner, .. } => self.expr(inner, clause)?,
            Expr::Cast {
                expr, data_type, ..
            } => {
                let mut lineage = self.expr(expr, clause)?;
                if !shape::is_text_type(data_type) {
                    set_all(&mut lineage, Derivation::Transformed);
                }
                lineage
            }
            Expr::Convert {
                expr, data_type, ..
            } => {
                let mut lineage = self.expr(expr, clause)?;
                if data_type.as_ref().is_some_and(|t| !shape::is_text_type(t)) {
                    set_all(&mut lineage, Derivation::Transformed);
                }
                lineage
            }
            Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsNull(x)
            | Expr::IsNotNull(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x)
            | Expr::IsJson { expr: x, .. }
            | Expr::IsNormalized { expr: x, .. }
            | Expr::UnaryOp { expr: x, .. }
            | Expr::Extract { expr: x, .. }
            | Expr::Ceil { expr: x, .. }
            | Expr::Floor { expr: x, .. }
            | Expr::JsonAccess { value: x, .. } => self.transformed(&[x], clause)?,
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::BinaryOp {
                left: a, right: b, ..
            }
            | Expr::AnyOp {
                left: a, right: b, ..
            }
            | Expr::AllOp {
                left: a, right: b, ..
            }
            | Expr::InUnnest {
                expr: a,
                array_expr: b,
                ..
            }
            | Expr::AtTimeZone {
                timestamp: a,
                time_zone: b,
            }
            | Expr::Position { expr: a, r#in: b } => self.transformed(&[a, b], clause)?,
            Expr::InList { expr, list, .. } => {
                let mut all: Vec<&Expr> = vec![expr];
                all.extend(list.iter());
                self.transformed(&all, clause)?
            }
            Expr::InSubquery { expr, subquery, .. } => {
                let mut lineage = self.expr(expr, clause)?;
                let outs = self.query(subquery)?;
                for out in outs {
                    merge(&mut lineage, out.lineage);
                }
                set_all(&mut lineage, Derivation::Transformed);
                lineage
            }
            Expr::Between {
                expr, low, high, ..
            } => self.transformed(&[expr, low, high], clause)?,
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                let mut all: Vec<&Expr> = vec![expr, pattern];
                all.extend(escape_char.as_deref());
                self.transformed(&all, clause)?
            }
            Expr::RLike { expr, pattern, .. } => self.transformed(&[expr, pattern], clause)?,
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut all: Vec<&Expr> = vec![expr];
                all.extend(substring_from.as_deref());
                all.extend(substring_for.as_deref());
                self.transformed(&all, clause)?
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                let mut all: Vec<&Expr> = vec![expr];
                all.extend(trim_what.as_deref());
                all.extend(trim_characters.iter().flatten());
                self.transformed(&all, clause)?
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let mut all: Vec<&Expr> = vec![expr, overlay_what, overlay_from];
                all.extend(overlay_for.as_deref());
                self.transformed(&all, clause)?
            }
            Expr::Function(f) => self.function(f, clause)?,
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut lineage = Vec::new();
                let mut tested: Vec<&Expr> = Vec::new();
                tested.extend(operand.as_deref());
                for when in conditions {
                    tested.push(&when.condition);
                }
                let tested = self.transformed(&tested, clause)?;
                for when in conditions {
                    let l = self.expr(&when.result, clause)?;
                    merge(&mut lineage, l);
                }
                if let Some(e) = else_result {
                    let l = self.expr(e, clause)?;
                    merge(&mut lineage, l);
                }
                merge(&mut lineage, tested);
                lineage
            }
            Expr::Exists { subquery, .. } => {
                self.in_exists += 1;
                let outs = self.query(subquery);
                self.in_exists -= 1;
                let mut lineage = Vec::new();
                for out in outs? {
                    merge(&mut lineage, out.lineage);
                }
                set_all(&mut lineage, Derivation::Transformed);
                lineage
            }
            Expr::Subquery(q) => {
                let outs = self.query(q)?;
                let mut lineage = Vec::new();
                for out in outs {
                    merge(&mut lineage, out.lineage);
                }
                lineage
            }
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                let mut lineage = Vec::new();
                for e in sets.iter().flatten() {
                    let l = self.expr(e, clause)?;
                    merge(&mut lineage, l);
                }
                lineage
            }
            Expr::Tuple(items) | Expr::Struct { values: items, .. } => {
                let all: Vec<&Expr> = items.iter().collect();
                self.transformed(&all, clause)?
            }
            Expr::Array(array) => {
                let all: Vec<&Expr> = array.elem.iter().collect();
                self.transformed(&all, clause)?
            }
            Expr::Interval(interval) => self.transformed(&[&interval.value], clause)?,
            Expr::QualifiedWildcard(name, _) => {
                let qualifier: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident())
                    .map(|i| self.fold(i))
                    .collect();
                let outs = self.expand_qualified(&qualifier);
                self.charge_outs(&outs)?;
                let lineage = row_lineage(&outs);
                self.use_lineage(&lineage, clause);
                lineage
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                let mut lineage = self.expr(root, clause)?;
                for access in access_chain {
                    match access {
                        ast::AccessExpr::Dot(e) => {
                            // `(row).field`: not a column reference of its own.
                            if !matches!(e, Expr::Identifier(_)) {
                                let l = self.expr(e, clause)?;
                                merge(&mut lineage, l);
                            }
                        }
                        ast::AccessExpr::Subscript(_) => {
                            self.opaque_exprs(access, clause)?;
                        }
                    }
                }
                set_all(&mut lineage, Derivation::Transformed);
                lineage
            }
            Expr::MatchAgainst { columns, .. } => {
                let mut lineage = Vec::new();
                for name in columns {
                    let idents: Vec<Ident> = name
                        .0
                        .iter()
                        .filter_map(|p| p.as_ident())
                        .cloned()
                        .collect();
                    let l = self.column(&idents, clause)?;
                    merge(&mut lineage, l);
                }
                set_all(&mut lineage, Derivation::Transformed);
                lineage
            }
            other => {
                // Dictionaries, maps, lambdas, MEMBER OF: whatever columns they hold.
                let mut lineage = self.opaque_exprs(other, clause)?;
                set_all(&mut lineage, Derivation::Transformed);
                lineage
            }
        })
    }

    /// Walks the outermost expressions inside a node the walker has no rule for
    /// (columns, functions, subqueries), without scoping subtleties: conservative, and
    /// only for rare constructs.
    fn opaque_exprs<V: ast::Visit>(&mut self, node: &V, clause: Clause) -> R<Lineage> {
        struct Outermost {
            depth: usize,
            found: Vec<Expr>,
        }
        impl ast::Visitor for Outermost {
            type Break = ();
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                if self.depth == 0 {
                    self.found.push(e.clone());
                }
                self.depth += 1;
                ControlFlow::Continue(())
            }
            fn post_visit_expr(&mut self, _e: &Expr) -> ControlFlow<()> {
                self.depth -= 1;
                ControlFlow::Continue(())
            }
        }
        let mut outermost = Outermost {
            depth: 0,
            found: Vec::new(),
        };
        let _ = node.visit(&mut outermost);
        let mut lineage = Vec::new();
        for e in &outermost.found {
            let l = self.expr(e, clause)?;
            merge(&mut lineage, l);
        }
        Ok(lineage)
    }

    fn function_arg(&mut self, arg: &FunctionArg, clause: Clause) -> R<Lineage> {
        let arg = match arg {
            FunctionArg::Named { arg, .. }
            | FunctionArg::ExprNamed { arg, .. }
            | FunctionArg::Unnamed(arg) => arg,
        };
        Ok(match arg {
            FunctionArgExpr::Expr(e) => self.expr(e, clause)?,
            FunctionArgExpr::QualifiedWildcard(name) => {
                let qualifier: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident())
                    .map(|i| self.fold(i))
                    .collect();
                let outs = self.expand_qualified(&qualifier);
                self.charge_outs(&outs)?;
                let lineage = row_lineage(&outs);
                self.use_lineage(&lineage, clause);
                lineage
            }
            FunctionArgExpr::Wildcard | FunctionArgExpr::WildcardWithOptions(_) => Vec::new(),
        })
    }

    pub(super) fn flag_function(&mut self, last: &str) {
        if shape::is_time_delay(last) {
            self.flags.insert(Flag::TimeDelay);
        }
        if shape::is_file_access(last) {
            self.flags.insert(Flag::FileAccess);
        }
    }

    pub(super) fn function(&mut self, f: &ast::Function, clause: Clause) -> R<Lineage> {
        let last = self.record_function(&f.name);
        self.flag_function(&last);
        let class = shape::classify_function(&last);
        let mut lineage = Vec::new();
        match &f.args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(q) => {
                for out in self.query(q)? {
                    merge(&mut lineage, out.lineage);
                }
            }
            FunctionArguments::List(list) => {
                for (i, arg) in list.args.iter().enumerate() {
                    let mut l = self.function_arg(arg, clause)?;
                    let keep = match class {
                        FunctionClass::Choice { first_args } => first_args.is_none_or(|n| i < n),
                        _ if last == "if" || last == "iif" => i > 0,
                        _ => true,
                    };
                    if !keep {
                        set_all(&mut l, Derivation::Transformed);
                    }
                    merge(&mut lineage, l);
                }
                for c in &list.clauses {
                    match c {
                        FunctionArgumentClause::OrderBy(items) => {
                            for item in items {
                                self.expr(&item.expr, Clause::OrderBy)?;
                            }
                        }
                        FunctionArgumentClause::Limit(e) => {
                            self.expr(e, Clause::Other)?;
                        }
                        FunctionArgumentClause::Where(e) => self.condition(e, Clause::Where)?,
                        _ => {}
                    }
                }
            }
        }
        match class {
            FunctionClass::Counting => {
                set_all(&mut lineage, Derivation::Aggregate { reveals: false })
            }
            FunctionClass::Revealing => {
                raise(&mut lineage, Derivation::Aggregate { reveals: true })
            }
            FunctionClass::Choice { .. } => {}
            FunctionClass::Scalar if last == "if" || last == "iif" => {}
            FunctionClass::Scalar => set_all(&mut lineage, Derivation::Transformed),
        }
        // `percentile_cont(0.5) WITHIN GROUP (ORDER BY salary)` returns salary values.
        for item in &f.within_group {
            let mut l = self.expr(&item.expr, Clause::OrderBy)?;
            raise(&mut l, Derivation::Aggregate { reveals: true });
            merge(&mut lineage, l);
        }
        if let Some(filter) = &f.filter {
            self.condition(filter, Clause::Where)?;
        }
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            self.window_spec(spec)?;
        }
        Ok(lineage)
    }

    fn window_spec(&mut self, spec: &ast::WindowSpec) -> R<()> {
        for e in &spec.partition_by {
            self.expr(e, Clause::Window)?;
        }
        for o in &spec.order_by {
            self.expr(&o.expr, Clause::Window)?;
        }
        Ok(())
    }

    /// Output `i` of a set operation derives from output `i` of both sides; when the
    /// sides disagree on the number of columns (the server rejects that, or `*` was not
    /// expanded) every output gets everything.
    fn merge_positional(&mut self, mut left: Vec<OutCol>, right: Vec<OutCol>) -> R<Vec<OutCol>> {
        if left.len() == right.len() {
            self.charge(right.iter().map(|o| o.lineage.len()).sum())?;
            for (l, r) in left.iter_mut().zip(right) {
                merge(&mut l.lineage, r.lineage);
            }
            return Ok(left);
        }
        let mut all = Vec::new();
        for out in left.iter().chain(&right) {
            merge(&mut all, out.lineage.clone());
        }
        if left.is_empty() {
            left = right;
        }
        self.charge(left.len().saturating_mul(all.len()))?;
        for out in &mut left {
            merge(&mut out.lineage, all.clone());
        }
        Ok(left)
    }

    // ----- results ---------------------------------------------------------------------

    /// Deduplicates what was recorded (first appearance wins the position).
    pub(crate) fn finish_lists(&mut self) {
        self.objects = dedup(
            std::mem::take(&mut self.objects),
            |o| hash_of(&o.name),
            |a, b| a.name == b.name,
            |a, b| a.access.merge(b.access),
        );
        self.columns = dedup(
            std::mem::take(&mut self.columns),
            |c| hash_of(&c.column),
            |a, b| a.column == b.column,
            |a, b| {
                for clause in b.clauses.iter() {
                    a.clauses.insert(clause);
                }
            },
        );
        self.predicates = dedup(
            std::mem::take(&mut self.predicates),
            |p| hash_of(&(&p.column, p.kind, p.clause)),
            |a, b| a.column == b.column && a.kind == b.kind && a.clause == b.clause,
            |_, _| {},
        );
        self.functions = dedup(
            std::mem::take(&mut self.functions),
            hash_of,
            |a, b| a == b,
            |_, _| {},
        );
    }

    /// The kind a statement that wrote through a nested statement gets.
    pub(crate) fn escalate(&self, kind: StatementKind) -> StatementKind {
        if self.nested_write && kind == StatementKind::Read {
            StatementKind::Write
        } else {
            kind
        }
    }
}

/// Looks a column up in one relation (qualified reference).
fn lookup_in(rel: &Relation<'_>, name: &str) -> Lineage {
    match &rel.cols {
        Cols::Base {
            table,
            known,
            renames,
        } => {
            if let Some(i) = renames.iter().position(|r| r == name) {
                let col = known
                    .and_then(|cols| cols.get(i))
                    .map_or(ColumnRef::ALL, String::as_str);
                vec![plain(ColumnRef::new(table.clone(), col))]
            } else {
                // Also when the schema does not list it: keep what was written.
                vec![plain(ColumnRef::new(table.clone(), name))]
            }
        }
        Cols::Derived(cols) => cols
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.lineage.clone())
            .unwrap_or_default(),
        Cols::Opaque => Vec::new(),
    }
}

/// A whole row as one value: every column, transformed.
fn row_lineage(outs: &[OutCol]) -> Lineage {
    let mut lineage = Vec::new();
    for out in outs {
        merge(&mut lineage, out.lineage.clone());
    }
    set_all(&mut lineage, Derivation::Transformed);
    lineage
}

fn plain(column: ColumnRef) -> Source {
    Source {
        column,
        derivation: Derivation::Plain,
    }
}

/// Adds sources, keeping the stronger derivation for a column already there. Long
/// lineages only append (a linear search each time would be quadratic); they are
/// deduplicated by [`dedup_lineage`] when they become output columns.
pub(crate) fn merge(into: &mut Lineage, from: Lineage) {
    if into.len() + from.len() > 32 {
        into.extend(from);
        return;
    }
    for source in from {
        match into.iter_mut().find(|s| s.column == source.column) {
            Some(existing) => existing.derivation = existing.derivation.max(source.derivation),
            None => into.push(source),
        }
    }
}

/// One source per column, with the strongest derivation.
pub(crate) fn dedup_lineage(lineage: Lineage) -> Lineage {
    dedup(
        lineage,
        |s| hash_of(&s.column),
        |a, b| a.column == b.column,
        |a, b| a.derivation = a.derivation.max(b.derivation),
    )
}

fn set_all(lineage: &mut Lineage, derivation: Derivation) {
    for source in lineage {
        source.derivation = derivation;
    }
}

fn raise(lineage: &mut Lineage, derivation: Derivation) {
    for source in lineage {
        source.derivation = source.derivation.max(derivation);
    }
}

fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Keeps the first of equal items, merging later ones into it; linear for short lists,
/// hashed for long ones.
fn dedup<T>(
    items: Vec<T>,
    hash: impl Fn(&T) -> u64,
    same: impl Fn(&T, &T) -> bool,
    fold: impl Fn(&mut T, T),
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    if items.len() <= 16 {
        for item in items {
            match out.iter_mut().find(|e| same(e, &item)) {
                Some(existing) => fold(existing, item),
                None => out.push(item),
            }
        }
        return out;
    }
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for item in items {
        let h = hash(&item);
        let slots = index.entry(h).or_default();
        match slots.iter().copied().find(|&i| same(&out[i], &item)) {
            Some(i) => fold(&mut out[i], item),
            None => {
                slots.push(out.len());
                out.push(item);
            }
        }
    }
    out
}
