//! Statement by statement: what kind of statement it is, which command, which objects it
//! writes, defines or exports, and the walk of its queries through [`super::lineage`].
//!
//! Kinds, decided here:
//! - `Read`: `SELECT`, `VALUES`, `TABLE`, `SHOW` of metadata, `EXPLAIN` (without
//!   `ANALYZE`), `DESCRIBE`, cursors.
//! - `Write`: `INSERT`, `REPLACE`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE` (which also gets
//!   [`Flag::NoWhere`]: it removes every row), `COPY … FROM`, `LOAD DATA`, `CALL`, `LOCK`,
//!   and any query holding a data-modifying CTE. `EXPLAIN ANALYZE` runs its statement and
//!   takes that statement's kind.
//! - `Ddl`: `CREATE`/`ALTER`/`DROP`/`RENAME`/`COMMENT` of tables, views, indexes, schemas,
//!   functions…, PostgreSQL `SELECT … INTO new_table`.
//! - `Admin`: `GRANT`, `REVOKE`, users and roles, `SET ROLE`, `SET GLOBAL`, `KILL`,
//!   maintenance (`VACUUM`, `ANALYZE`, `OPTIMIZE`), and statements not known otherwise.
//! - `Export`: `COPY … TO` — to the client (`STDOUT`, [`Endpoint::Client`]), to a server
//!   file ([`Endpoint::ServerFile`], also [`Flag::FileAccess`]) or to a program
//!   ([`Endpoint::Program`], also [`Flag::Program`]); `INTO OUTFILE` (fallback, see there).
//! - `Session`: transactions, `SET`, `USE`, `SHOW` of settings, `PREPARE`'d-statement
//!   housekeeping, `LISTEN`/`NOTIFY`, `EXECUTE` (with [`Flag::DynamicSql`]).

use std::ops::ControlFlow;

use sqlparser::ast::{
    self, Assignment, AssignmentTarget, CopySource, CopyTarget, Expr, FromTable, GrantObjects,
    Ident, MergeAction, MergeInsertKind, ObjectType, OnConflictAction, OnInsert, SelectItem,
    SetExpr, Statement, TableObject, UpdateTableFromKind, Use,
};

use super::StatementKind;
use super::analysis::{
    Access, Clause, Clauses, ColumnUse, Command, CursorUse, Derivation, Endpoint, Flag,
    OutputColumn, Parse, StatementAnalysis,
};
use super::lineage::{OutCol, R, WalkError, Walker};
use super::name::{ColumnRef, Context, ObjectName, Schema};

/// Analyzes one parsed statement.
pub(crate) fn analyze_statement(
    st: &Statement,
    cx: &Context<'_>,
    schema: &dyn Schema,
) -> Result<StatementAnalysis, WalkError> {
    let mut w = Walker::new(cx, schema);
    let (kind, command, outs) = w.statement(st)?;
    let kind = w.escalate(kind);
    // Every function call anywhere (DDL defaults, constraints, constructs the walk has no
    // rule for) from the parser's own visitor: the function list and flags are complete.
    let _ = ast::visit_expressions(st, |e: &Expr| {
        if let Expr::Function(f) = e {
            let last = w.record_function(&f.name);
            w.flag_function(&last);
        }
        ControlFlow::<()>::Continue(())
    });
    w.finish_lists();
    let mut analysis = StatementAnalysis::new(Parse::Parsed, kind, command);
    analysis.outputs = outs.into_iter().map(output_column).collect();
    analysis.limit = w.limit;
    analysis.export = w.export;
    analysis.import = w.import;
    analysis.switches_schema = w.switches_schema.take();
    analysis.cursor = w.cursor.take();
    analysis.flags = w.flags;
    analysis.objects = std::mem::take(&mut w.objects);
    analysis.columns = std::mem::take(&mut w.columns);
    analysis.predicates = std::mem::take(&mut w.predicates);
    analysis.functions = std::mem::take(&mut w.functions);
    Ok(analysis)
}

fn output_column(out: OutCol) -> OutputColumn {
    let lineage = super::lineage::dedup_lineage(out.lineage);
    let derivation = lineage
        .iter()
        .fold(Derivation::Constant, |d, s| d.max(s.derivation));
    OutputColumn {
        name: out.name,
        derivation,
        sources: lineage,
    }
}

/// The literal value of a `LIMIT`/`FETCH` expression.
fn literal_u64(e: &Expr) -> Option<u64> {
    match e {
        Expr::Value(v) => {
            super::lexical::literal_read();
            match &v.value {
                ast::Value::Number(n, _) => n.parse().ok(),
                _ => None,
            }
        }
        Expr::Nested(inner) => literal_u64(inner),
        _ => None,
    }
}

fn query_limit(q: &ast::Query) -> Option<Option<u64>> {
    if let Some(limit) = &q.limit_clause {
        let e = match limit {
            ast::LimitClause::LimitOffset { limit, .. } => limit.as_ref(),
            ast::LimitClause::OffsetCommaLimit { limit, .. } => Some(limit),
        };
        if let Some(e) = e {
            return Some(literal_u64(e));
        }
    }
    if let Some(fetch) = &q.fetch {
        return Some(fetch.quantity.as_ref().and_then(literal_u64));
    }
    None
}

impl Walker<'_, '_> {
    /// Walks a statement: its kind, command and result columns.
    pub(super) fn statement(&mut self, st: &Statement) -> R<(StatementKind, Command, Vec<OutCol>)> {
        use Command as C;
        use StatementKind as K;
        let none = Vec::new;
        Ok(match st {
            Statement::Query(q) => {
                let top = self.query_depth == 0;
                let outs = self.query(q)?;
                if top {
                    match query_limit(q) {
                        Some(limit) => self.limit = limit,
                        None if !self.objects.is_empty() => self.flags.insert(Flag::NoLimit),
                        None => {}
                    }
                }
                match &*q.body {
                    SetExpr::Select(s) if s.into.is_some() => {
                        if self.cx.dialect == super::Dialect::Postgres {
                            // `SELECT … INTO new_table`: creates and fills a table.
                            if let Some(into) = &s.into {
                                for target in &into.targets {
                                    self.define_expr_name(target);
                                }
                            }
                            (K::Ddl, C::Create, none())
                        } else {
                            // MySQL `INTO @variables`: the values stay in the session.
                            (K::Read, C::Select, none())
                        }
                    }
                    _ => (K::Read, C::Select, outs),
                }
            }
            Statement::Insert(ins) => self.insert(ins)?,
            Statement::Update(u) => self.update(u)?,
            Statement::Delete(d) => self.delete(d)?,
            Statement::Merge(m) => self.merge(m)?,
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    let obj = self.cx.resolve_object(&target.name);
                    self.record_object(obj, Access::WRITE);
                }
                self.flags.insert(Flag::NoWhere);
                (K::Write, C::Truncate, none())
            }
            Statement::Copy {
                source, to, target, ..
            } => self.copy(source, *to, target)?,
            Statement::Explain {
                analyze, statement, ..
            } => {
                let (kind, command, _) = self.statement(statement)?;
                if *analyze {
                    // EXPLAIN ANALYZE runs the statement.
                    (kind, command, none())
                } else {
                    for object in &mut self.objects {
                        object.access = Access::READ;
                    }
                    (K::Read, C::Explain, none())
                }
            }
            Statement::ExplainTable { table_name, .. } => {
                let obj = self.cx.resolve_object(table_name);
                self.record_object(obj, Access::READ);
                (K::Read, C::Describe, none())
            }
            Statement::CreateTable(ct) => {
                self.define(&ct.name);
                if let Some(q) = &ct.query {
                    self.query(q)?;
                }
                if let Some(like) = &ct.like {
                    let (ast::CreateTableLikeKind::Parenthesized(l)
                    | ast::CreateTableLikeKind::Plain(l)) = like;
                    let obj = self.cx.resolve_object(&l.name);
                    self.record_object(obj, Access::READ);
                }
                if let Some(clone) = &ct.clone {
                    let obj = self.cx.resolve_object(clone);
                    self.record_object(obj, Access::READ);
                }
                (K::Ddl, C::Create, none())
            }
            Statement::CreateView(cv) => {
                self.define(&cv.name);
                self.query(&cv.query)?;
                (K::Ddl, C::Create, none())
            }
            Statement::CreateIndex(ci) => {
                self.define(&ci.table_name);
                (K::Ddl, C::Create, none())
            }
            Statement::AlterTable(at) => {
                self.define(&at.name);
                (K::Ddl, C::Alter, none())
            }
            Statement::Drop {
                object_type, names, ..
            } => match object_type {
                ObjectType::Role | ObjectType::User => (K::Admin, C::Account, none()),
                ObjectType::Table
                | ObjectType::View
                | ObjectType::MaterializedView
                | ObjectType::Index
                | ObjectType::Sequence => {
                    for name in names {
                        self.define(name);
                    }
                    (K::Ddl, C::Drop, none())
                }
                _ => (K::Ddl, C::Drop, none()),
            },
            Statement::RenameTable(renames) => {
                for r in renames {
                    self.define(&r.old_name);
                    self.define(&r.new_name);
                }
                (K::Ddl, C::Rename, none())
            }
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => {
                match object_type {
                    ast::CommentObject::Table
                    | ast::CommentObject::View
                    | ast::CommentObject::MaterializedView => self.define(object_name),
                    ast::CommentObject::Column => {
                        let mut table = object_name.clone();
                        table.0.pop();
                        self.define(&table);
                    }
                    _ => {}
                }
                (K::Ddl, C::Comment, none())
            }
            Statement::CreateRole(_)
            | Statement::CreateUser(_)
            | Statement::AlterUser(_)
            | Statement::AlterRole { .. } => (K::Admin, C::Account, none()),
            Statement::Grant(g) => {
                self.grant_objects(g.objects.as_ref());
                (K::Admin, C::Grant, none())
            }
            Statement::Revoke(r) => {
                self.grant_objects(r.objects.as_ref());
                (K::Admin, C::Revoke, none())
            }
            Statement::Deny(d) => {
                self.grant_objects(Some(&d.objects));
                (K::Admin, C::Revoke, none())
            }
            Statement::Set(set) => self.set(set)?,
            Statement::Use(u) => {
                let name = match u {
                    Use::Catalog(n)
                    | Use::Schema(n)
                    | Use::Database(n)
                    | Use::Warehouse(n)
                    | Use::Object(n) => n.0.last().and_then(|p| p.as_ident()),
                    _ => None,
                };
                self.switches_schema = name.map(|i| self.cx.fold_ident(i));
                (K::Session, C::Use, none())
            }
            Statement::StartTransaction {
                statements,
                exception,
                ..
            } => {
                // A compound `BEGIN … END` block: its statements run.
                let mut kind = K::Session;
                for inner in statements
                    .iter()
                    .chain(exception.iter().flatten().flat_map(|e| &e.statements))
                {
                    let (k, _, _) = self.statement(inner)?;
                    kind = stronger(kind, k);
                }
                (kind, C::Transaction, none())
            }
            Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => (K::Session, C::Transaction, none()),
            Statement::Prepare { statement, .. } => {
                // Judged when prepared, like the statement it will run.
                let (kind, _, outs) = self.statement(statement)?;
                (kind, C::Prepare, outs)
            }
            Statement::Execute { parameters, .. } => {
                for p in parameters {
                    self.expr(p, Clause::Value)?;
                }
                self.flags.insert(Flag::DynamicSql);
                (K::Session, C::Execute, none())
            }
            Statement::Deallocate { .. } => (K::Session, C::Prepare, none()),
            Statement::Kill { .. } => (K::Admin, C::Kill, none()),
            Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowStatus { .. }
            | Statement::ShowCollation { .. }
            | Statement::ShowCharset(_) => (K::Session, C::Show, none()),
            Statement::ShowCreate { obj_name, .. } => {
                let obj = self.cx.resolve_object(obj_name);
                self.record_object(obj, Access::READ);
                self.flags.insert(Flag::SystemCatalog);
                (K::Read, C::Show, none())
            }
            Statement::ShowColumns { show_options, .. } => {
                if let Some(name) = show_options
                    .show_in
                    .as_ref()
                    .and_then(|i| i.parent_name.as_ref())
                {
                    let obj = self.cx.resolve_object(name);
                    self.record_object(obj, Access::READ);
                }
                self.flags.insert(Flag::SystemCatalog);
                (K::Read, C::Show, none())
            }
            Statement::ShowTables { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowObjects(_)
            | Statement::ShowCatalogs { .. }
            | Statement::ShowProcessList { .. } => {
                self.flags.insert(Flag::SystemCatalog);
                (K::Read, C::Show, none())
            }
            Statement::Call(f) => {
                self.function(f, Clause::Value)?;
                (K::Write, C::Call, none())
            }
            Statement::Declare { stmts } => {
                // The cursor's query is the result its FETCHes return: its outputs (for
                // masks) and its limit are the statement's.
                let mut outs = none();
                for d in stmts {
                    if let Some(q) = &d.for_query {
                        outs = self.query(q)?;
                        match query_limit(q) {
                            Some(limit) => self.limit = limit,
                            None if !self.objects.is_empty() => self.flags.insert(Flag::NoLimit),
                            None => {}
                        }
                    }
                    if let Some(name) = d.names.first() {
                        self.cursor = Some(CursorUse::Declare(self.cx.fold_ident(name)));
                    }
                }
                (K::Read, C::Cursor, outs)
            }
            Statement::Fetch { name, .. } => {
                self.cursor = Some(CursorUse::Fetch(self.cx.fold_ident(name)));
                (K::Read, C::Cursor, none())
            }
            Statement::Close { cursor } => {
                self.cursor = Some(CursorUse::Close(match cursor {
                    ast::CloseCursor::All => None,
                    ast::CloseCursor::Specific { name } => Some(self.cx.fold_ident(name)),
                }));
                (K::Session, C::Cursor, none())
            }
            Statement::Lock(lock) => {
                for t in &lock.tables {
                    let obj = self.cx.resolve_object(&t.name);
                    self.record_object(obj, Access::WRITE);
                }
                (K::Write, C::Lock, none())
            }
            Statement::LockTables { tables } => {
                for t in tables {
                    let obj = self.cx.resolve_parts(vec![self.cx.fold_ident(&t.table)]);
                    self.record_object(obj, Access::WRITE);
                }
                (K::Write, C::Lock, none())
            }
            Statement::UnlockTables => (K::Session, C::Lock, none()),
            Statement::Vacuum(v) => {
                if let Some(name) = &v.table_name {
                    self.define(name);
                }
                (K::Admin, C::Maintenance, none())
            }
            Statement::Analyze(a) => {
                if let Some(name) = &a.table_name {
                    self.define(name);
                }
                (K::Admin, C::Maintenance, none())
            }
            Statement::LISTEN { .. }
            | Statement::UNLISTEN { .. }
            | Statement::NOTIFY { .. }
            | Statement::Discard { .. }
            | Statement::Reset(_) => (K::Session, C::Session, none()),
            Statement::Directory { source, .. } => {
                self.query(source)?;
                self.export = Some(Endpoint::ServerFile);
                self.flags.insert(Flag::FileAccess);
                (K::Export, C::Other, none())
            }
            Statement::LoadData {
                local, table_name, ..
            } => {
                let obj = self.cx.resolve_object(table_name);
                self.record_object(obj, Access::WRITE);
                self.import = Some(if *local {
                    Endpoint::Client
                } else {
                    self.flags.insert(Flag::FileAccess);
                    Endpoint::ServerFile
                });
                (K::Write, C::LoadData, none())
            }
            Statement::WaitFor(_) => {
                self.flags.insert(Flag::TimeDelay);
                (K::Session, C::Other, none())
            }
            other => self.other_statement(other),
        })
    }

    /// Statements without a rule of their own: kind from the leading keyword, objects
    /// from the parser's visitor (possibly touched: read and written, or defined).
    fn other_statement(&mut self, st: &Statement) -> (StatementKind, Command, Vec<OutCol>) {
        let text = st.to_string();
        let first = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let (kind, command) = match first.as_str() {
            "CREATE" => (StatementKind::Ddl, Command::Create),
            "ALTER" => (StatementKind::Ddl, Command::Alter),
            "DROP" => (StatementKind::Ddl, Command::Drop),
            "OPTIMIZE" | "MSCK" | "CACHE" | "UNCACHE" | "FLUSH" => {
                (StatementKind::Admin, Command::Maintenance)
            }
            "PRAGMA" => (StatementKind::Session, Command::Session),
            _ => (StatementKind::Admin, Command::Other),
        };
        let access = if kind == StatementKind::Ddl {
            Access::DEFINE
        } else {
            Access {
                read: true,
                write: true,
                define: false,
            }
        };
        let mut names = Vec::new();
        let _ = ast::visit_relations(st, |name| {
            names.push(self.cx.resolve_object(name));
            ControlFlow::<()>::Continue(())
        });
        for name in names {
            self.record_object(name, access);
        }
        (kind, command, Vec::new())
    }

    fn define(&mut self, name: &ast::ObjectName) {
        let obj = self.cx.resolve_object(name);
        self.record_object(obj, Access::DEFINE);
    }

    fn define_expr_name(&mut self, e: &Expr) {
        let parts: Vec<String> = match e {
            Expr::Identifier(i) => vec![self.cx.fold_ident(i)],
            Expr::CompoundIdentifier(ids) => ids.iter().map(|i| self.cx.fold_ident(i)).collect(),
            _ => return,
        };
        let obj = self.cx.resolve_parts(parts);
        self.record_object(obj, Access::DEFINE);
    }

    fn grant_objects(&mut self, objects: Option<&GrantObjects>) {
        match objects {
            Some(
                GrantObjects::Tables(names)
                | GrantObjects::Views(names)
                | GrantObjects::Sequences(names),
            ) => {
                for name in names {
                    self.define(name);
                }
            }
            Some(GrantObjects::AllTablesInSchema { schemas }) => {
                for schema in schemas {
                    let schema_name = schema
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| self.cx.fold_ident(i));
                    let obj = ObjectName {
                        schema: schema_name,
                        name: ColumnRef::ALL.to_owned(),
                    };
                    self.record_object(obj, Access::DEFINE);
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, set: &ast::Set) -> R<(StatementKind, Command, Vec<OutCol>)> {
        use ast::{ContextModifier, Set};
        let mut kind = StatementKind::Session;
        let mut command = Command::Set;
        match set {
            Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let var = variable
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident())
                    .map(|i| i.value.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(".");
                if matches!(scope, Some(ContextModifier::Global)) || var.starts_with("@@global.") {
                    kind = StatementKind::Admin;
                }
                match var.as_str() {
                    "role" | "session_authorization" => {
                        kind = StatementKind::Admin;
                        command = Command::SetRole;
                    }
                    "search_path" => {
                        self.switches_schema = values.first().and_then(|v| match v {
                            Expr::Identifier(i) => Some(self.cx.fold_ident(i)),
                            Expr::Value(v) => {
                                super::lexical::literal_read();
                                match &v.value {
                                    ast::Value::SingleQuotedString(s) => {
                                        s.split(',').next().map(|s| self.cx.table(s).name)
                                    }
                                    _ => None,
                                }
                            }
                            _ => None,
                        });
                    }
                    _ => {}
                }
                for v in values {
                    self.expr(v, Clause::Value)?;
                }
            }
            Set::ParenthesizedAssignments { values, .. } => {
                for v in values {
                    self.expr(v, Clause::Value)?;
                }
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    if matches!(a.scope, Some(ContextModifier::Global)) {
                        kind = StatementKind::Admin;
                    }
                    self.expr(&a.value, Clause::Value)?;
                }
            }
            Set::SetRole { .. } | Set::SetSessionAuthorization(_) => {
                kind = StatementKind::Admin;
                command = Command::SetRole;
            }
            _ => {}
        }
        Ok((kind, command, Vec::new()))
    }

    fn copy(
        &mut self,
        source: &CopySource,
        to: bool,
        target: &CopyTarget,
    ) -> R<(StatementKind, Command, Vec<OutCol>)> {
        let mut outs = Vec::new();
        match source {
            CopySource::Table {
                table_name,
                columns,
            } => {
                let obj = self.cx.resolve_object(table_name);
                let access = if to { Access::READ } else { Access::WRITE };
                self.record_object(obj.clone(), access);
                let clause = if to { Clause::Select } else { Clause::Target };
                if columns.is_empty() {
                    if to {
                        // The whole table: like `SELECT *`.
                        self.push_scope();
                        self.push_base(obj, None);
                        let mut items = Vec::new();
                        self.select_item(
                            &SelectItem::Wildcard(ast::WildcardAdditionalOptions::default()),
                            clause,
                            &mut items,
                        )?;
                        self.pop_scope();
                        outs = items;
                    }
                } else {
                    for c in columns {
                        let name = self.cx.fold_ident(c);
                        let column = ColumnRef::new(obj.clone(), &name);
                        self.columns.push(ColumnUse {
                            column: column.clone(),
                            clauses: Clauses::of(clause),
                        });
                        if to {
                            outs.push(OutCol {
                                name,
                                lineage: vec![super::analysis::Source {
                                    column,
                                    derivation: Derivation::Plain,
                                }],
                            });
                        }
                    }
                }
            }
            CopySource::Query(q) => {
                outs = self.query(q)?;
            }
        }
        let endpoint = match target {
            CopyTarget::Stdin | CopyTarget::Stdout => Endpoint::Client,
            CopyTarget::File { .. } => {
                self.flags.insert(Flag::FileAccess);
                Endpoint::ServerFile
            }
            CopyTarget::Program { .. } => {
                self.flags.insert(Flag::Program);
                Endpoint::Program
            }
        };
        Ok(if to {
            self.export = Some(endpoint);
            (StatementKind::Export, Command::Copy, outs)
        } else {
            self.import = Some(endpoint);
            (StatementKind::Write, Command::Copy, Vec::new())
        })
    }

    /// `RETURNING` items over the current scope: the written rows come back.
    fn returning(&mut self, items: Option<&Vec<SelectItem>>) -> R<Vec<OutCol>> {
        let mut outs = Vec::new();
        if let Some(items) = items {
            for item in items {
                self.select_item(item, Clause::Returning, &mut outs)?;
            }
        }
        Ok(outs)
    }

    /// Marks the objects written (`targets`) as also read, when their rows are returned.
    fn mark_read(&mut self, targets: &[ObjectName]) {
        for object in &mut self.objects {
            if targets.contains(&object.name) {
                object.access.read = true;
            }
        }
    }

    /// An `UPDATE SET`/upsert assignment: the target column is written, the value read.
    fn assignment(&mut self, a: &Assignment, target_table: Option<&ObjectName>) -> R<()> {
        let names: Vec<&ast::ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(ns) => ns.iter().collect(),
        };
        for name in names {
            let idents: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
            let Some((last, qualifier)) = idents.split_last() else {
                continue;
            };
            let column = self.cx.fold_ident(last);
            let table = if qualifier.is_empty() {
                target_table.cloned()
            } else {
                let q: Vec<String> = qualifier.iter().map(|i| self.cx.fold_ident(i)).collect();
                let table = self.relation_table(&q);
                if let Some(t) = &table {
                    // MySQL multi-table UPDATE writes every table it assigns to.
                    self.record_object(t.clone(), Access::WRITE);
                }
                table
            };
            self.columns.push(ColumnUse {
                column: ColumnRef {
                    table,
                    name: column,
                    candidates: Vec::new(),
                },
                clauses: Clauses::of(Clause::Target),
            });
        }
        self.expr(&a.value, Clause::Value)?;
        Ok(())
    }

    fn insert(&mut self, ins: &ast::Insert) -> R<(StatementKind, Command, Vec<OutCol>)> {
        let command = if ins.replace_into {
            Command::Replace
        } else {
            Command::Insert
        };
        let target = match &ins.table {
            TableObject::TableName(name) => {
                let obj = self.cx.resolve_object(name);
                self.record_object(obj.clone(), Access::WRITE);
                Some(obj)
            }
            TableObject::TableFunction(f) => {
                self.function(f, Clause::Target)?;
                None
            }
            TableObject::TableQuery(q) => {
                self.query(q)?;
                None
            }
        };
        for c in &ins.columns {
            if let Some(ident) = c.0.last().and_then(|p| p.as_ident()) {
                let name = self.cx.fold_ident(ident);
                self.columns.push(ColumnUse {
                    column: ColumnRef {
                        table: target.clone(),
                        name,
                        candidates: Vec::new(),
                    },
                    clauses: Clauses::of(Clause::Target),
                });
            }
        }
        if let Some(source) = &ins.source {
            self.query(source)?;
        }
        self.push_scope();
        if let Some(t) = &target {
            let alias = ins.table_alias.as_ref().map(|a| ast::TableAlias {
                explicit: true,
                name: a.alias.clone(),
                columns: Vec::new(),
                at: None,
            });
            self.push_base(t.clone(), alias.as_ref());
        }
        for a in &ins.assignments {
            self.assignment(a, target.as_ref())?;
        }
        match &ins.on {
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                for a in assignments {
                    self.assignment(a, target.as_ref())?;
                }
            }
            Some(OnInsert::OnConflict(conflict)) => {
                if let OnConflictAction::DoUpdate(update) = &conflict.action {
                    // `excluded` is the row proposed for insertion.
                    self.push_scope();
                    if let Some(t) = &target {
                        self.push_base(t.clone(), None);
                        self.push_alias_of(t.clone(), "excluded");
                    }
                    for a in &update.assignments {
                        self.assignment(a, target.as_ref())?;
                    }
                    if let Some(selection) = &update.selection {
                        self.condition(selection, Clause::Where)?;
                    }
                    self.pop_scope();
                }
            }
            _ => {}
        }
        let outs = self.returning(ins.returning.as_ref())?;
        self.pop_scope();
        if !outs.is_empty() {
            self.mark_read(target.as_slice());
        }
        Ok((StatementKind::Write, command, outs))
    }

    fn update(&mut self, u: &ast::Update) -> R<(StatementKind, Command, Vec<OutCol>)> {
        self.push_scope();
        self.table_with_joins(&u.table, Access::WRITE)?;
        let target = match &u.table.relation {
            ast::TableFactor::Table {
                name, args: None, ..
            } => Some(self.cx.resolve_object(name)),
            _ => None,
        };
        if let Some(from) = &u.from {
            let (UpdateTableFromKind::BeforeSet(tables) | UpdateTableFromKind::AfterSet(tables)) =
                from;
            for twj in tables {
                self.table_with_joins(twj, Access::READ)?;
            }
        }
        for a in &u.assignments {
            self.assignment(a, target.as_ref())?;
        }
        match &u.selection {
            Some(selection) => self.condition(selection, Clause::Where)?,
            None => self.flags.insert(Flag::NoWhere),
        }
        for o in &u.order_by {
            self.expr(&o.expr, Clause::OrderBy)?;
        }
        if let Some(limit) = &u.limit {
            self.expr(limit, Clause::Other)?;
        }
        let outs = self.returning(u.returning.as_ref())?;
        self.pop_scope();
        if !outs.is_empty() {
            self.mark_read(target.as_slice());
        }
        Ok((StatementKind::Write, Command::Update, outs))
    }

    fn delete(&mut self, d: &ast::Delete) -> R<(StatementKind, Command, Vec<OutCol>)> {
        self.push_scope();
        let from = match &d.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        let mut targets = Vec::new();
        for twj in from {
            let access = if d.tables.is_empty() {
                Access::WRITE
            } else {
                Access::READ
            };
            self.table_with_joins(twj, access)?;
            if d.tables.is_empty()
                && let ast::TableFactor::Table {
                    name, args: None, ..
                } = &twj.relation
            {
                targets.push(self.cx.resolve_object(name));
            }
        }
        for name in &d.tables {
            // MySQL `DELETE p FROM population p JOIN …`: aliases (or names) of targets.
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| self.cx.fold_ident(i))
                .collect();
            let table = self
                .relation_table(&parts)
                .unwrap_or_else(|| self.cx.resolve_parts(parts));
            self.record_object(table.clone(), Access::WRITE);
            targets.push(table);
        }
        if let Some(using) = &d.using {
            for twj in using {
                self.table_with_joins(twj, Access::READ)?;
            }
        }
        match &d.selection {
            Some(selection) => self.condition(selection, Clause::Where)?,
            None => self.flags.insert(Flag::NoWhere),
        }
        for o in &d.order_by {
            self.expr(&o.expr, Clause::OrderBy)?;
        }
        if let Some(limit) = &d.limit {
            self.expr(limit, Clause::Other)?;
        }
        let outs = self.returning(d.returning.as_ref())?;
        self.pop_scope();
        if outs.is_empty() {
            // The joined-in target of a multi-table DELETE is written, not read.
            for object in &mut self.objects {
                if targets.contains(&object.name) {
                    object.access.read = false;
                }
            }
        } else {
            self.mark_read(&targets);
        }
        Ok((StatementKind::Write, Command::Delete, outs))
    }

    fn merge(&mut self, m: &ast::Merge) -> R<(StatementKind, Command, Vec<OutCol>)> {
        self.push_scope();
        self.table_factor(&m.table, Access::WRITE)?;
        let target = match &m.table {
            ast::TableFactor::Table {
                name, args: None, ..
            } => Some(self.cx.resolve_object(name)),
            _ => None,
        };
        self.table_factor(&m.source, Access::READ)?;
        self.condition(&m.on, Clause::Join)?;
        for clause in &m.clauses {
            if let Some(p) = &clause.predicate {
                self.condition(p, Clause::Where)?;
            }
            match &clause.action {
                MergeAction::Insert(insert) => {
                    for c in &insert.columns {
                        if let Some(ident) = c.0.last().and_then(|p| p.as_ident()) {
                            let name = self.cx.fold_ident(ident);
                            self.columns.push(ColumnUse {
                                column: ColumnRef {
                                    table: target.clone(),
                                    name,
                                    candidates: Vec::new(),
                                },
                                clauses: Clauses::of(Clause::Target),
                            });
                        }
                    }
                    if let MergeInsertKind::Values(values) = &insert.kind {
                        for row in &values.rows {
                            for e in &row.content {
                                self.expr(e, Clause::Value)?;
                            }
                        }
                    }
                }
                MergeAction::Update(update) => {
                    if let ast::MergeUpdateKind::Set(assignments) = &update.kind {
                        for a in assignments {
                            self.assignment(a, target.as_ref())?;
                        }
                    }
                }
                _ => {}
            }
        }
        self.pop_scope();
        Ok((StatementKind::Write, Command::Merge, Vec::new()))
    }
}

/// The stricter of two kinds, for blocks of statements.
pub(crate) fn stronger(a: StatementKind, b: StatementKind) -> StatementKind {
    fn rank(k: StatementKind) -> u8 {
        match k {
            StatementKind::Session => 0,
            StatementKind::Read => 1,
            StatementKind::Write => 2,
            StatementKind::Export => 3,
            StatementKind::Ddl => 4,
            StatementKind::Admin => 5,
            StatementKind::Unparsed => 6,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}
