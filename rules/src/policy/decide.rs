//! How a [`Decision`] is reached: the built-in checks, then the rules, combined as the
//! module documentation of [`super`] says.

use crate::account::{Account, Learning};
use crate::catalog::{Column, Level, Table, TableName};
use crate::decision::{Action, Severity};
use crate::mask::Mask;
use crate::sql::{Analysis, ColumnRef, Derivation, PredicateKind};

use super::rule::{Conditions, Rule, Shape, UnknownAccount};
use super::{Decision, LearningCheck, Limit, Match, OutputMask, Policy, Request, RowAlert};

fn strength(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Limit => 1,
        Action::Mask => 2,
        Action::Block => 3,
    }
}

/// What the checks and rules have said so far.
struct Verdict {
    matched: Vec<Match>,
    reasons: Vec<String>,
    masks: Vec<OutputMask>,
    limit: Option<Limit>,
    alert_rows: Option<RowAlert>,
}

impl Verdict {
    fn add(&mut self, rule: &str, action: Action, severity: Severity, why: String, reason: String) {
        self.matched.push(Match {
            rule: rule.to_owned(),
            action,
            severity,
            why,
        });
        self.reasons.push(reason);
    }

    fn limit(&mut self, rows: Option<u64>, bytes: Option<u64>, rule: &str, alert: Severity) {
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.limit = Some(match self.limit.take() {
            None => Limit {
                rows,
                bytes,
                rule: rule.to_owned(),
                alert,
            },
            Some(l) => Limit {
                rows: min(l.rows, rows),
                bytes: min(l.bytes, bytes),
                rule: l.rule,
                alert: l.alert.max(alert),
            },
        });
    }

    fn mask(&mut self, m: OutputMask) {
        match self.masks.iter_mut().find(|o| o.index == m.index) {
            // Two masks for one output: the one that reveals less.
            Some(o) if o.mask != m.mask => o.mask = Mask::Redact,
            Some(_) => {}
            None => self.masks.push(m),
        }
    }
}

/// A column's catalog entry and level, as seen on the session.
struct Resolved<'p> {
    name: String,
    level: Level,
    column: Option<&'p Column>,
}

fn resolve<'p>(policy: &'p Policy, req: &Request<'_>, c: &ColumnRef) -> Resolved<'p> {
    let default = policy.catalog.default_level;
    let table_of = |o| {
        (
            Policy::table_name(req.dialect, req.database, o),
            policy.table(req.dialect, req.database, o),
        )
    };
    match &c.table {
        Some(t) => {
            let (name, table) = table_of(t);
            if c.is_all() {
                Resolved {
                    name: format!("{name}.*"),
                    level: table.map_or(default, |t| t.level),
                    column: None,
                }
            } else {
                let column = table.and_then(|t| t.column(&c.name));
                Resolved {
                    name: format!("{name}.{}", c.name),
                    level: column.map_or(default, |c| c.level),
                    column,
                }
            }
        }
        // Not resolved to one table: the most sensitive of the candidates.
        None => {
            let mut best = Resolved {
                name: c.name.clone(),
                level: if c.candidates.is_empty() { 1 } else { default },
                column: None,
            };
            for cand in &c.candidates {
                let (name, table) = table_of(cand);
                let column = table.and_then(|t| t.column(&c.name));
                let level = column.map_or(default, |c| c.level);
                if level >= best.level {
                    best = Resolved {
                        name: format!("{name}.{}", c.name),
                        level,
                        column,
                    };
                }
            }
            best
        }
    }
}

/// A column's catalog-style name and level, for `explain`.
pub(super) fn describe(policy: &Policy, req: &Request<'_>, c: &ColumnRef) -> (String, Level) {
    let r = resolve(policy, req, c);
    (r.name, r.level)
}

pub(super) fn decide(policy: &Policy, req: &Request<'_>, a: &Analysis) -> Decision {
    let mut v = Verdict {
        matched: Vec::new(),
        reasons: Vec::new(),
        masks: Vec::new(),
        limit: None,
        alert_rows: None,
    };
    let objects: Vec<(TableName, Option<&Table>, &crate::sql::ObjectUse)> = a
        .objects()
        .map(|o| {
            (
                Policy::table_name(req.dialect, req.database, &o.name),
                policy.table(req.dialect, req.database, &o.name),
                o,
            )
        })
        .collect();
    let level = touched_level(policy, req, a, &objects);
    let account = policy.accounts.get(req.account);
    let mut learning = LearningCheck {
        mode: Learning::Off,
        known: false,
        record: false,
    };
    match account {
        None => {
            let why = format!("`{}` is not in the accounts file", req.account);
            match policy.rules.unknown_account {
                UnknownAccount::Block => v.add(
                    "account",
                    Action::Block,
                    Severity::High,
                    why,
                    format!(
                        "account `{}` is not authorized by the data firewall",
                        req.account
                    ),
                ),
                UnknownAccount::Alert => v.add(
                    "account",
                    Action::Allow,
                    Severity::Medium,
                    why,
                    String::new(),
                ),
            }
        }
        Some(acc) => {
            account_checks(policy, req, a, acc, &objects, &mut v);
            learning = learning_check(policy, req, a, acc, &mut v);
        }
    }
    for rule in &policy.rules.rules {
        if let Some(why) = matches(&rule.when, policy, req, a, account, &objects, level) {
            apply(rule, why, policy, req, a, account, &mut v);
        }
    }

    let action = v
        .matched
        .iter()
        .map(|m| m.action)
        .max_by_key(|a| strength(*a))
        .unwrap_or(Action::Allow);
    let severity = v
        .matched
        .iter()
        .map(|m| m.severity)
        .max()
        .unwrap_or(Severity::None);
    // Among the matches with the winning action, the loudest, and of those the first; for
    // an allow, the first that alerted loudest.
    let loudest = v
        .matched
        .iter()
        .filter(|m| m.action == action)
        .map(|m| m.severity)
        .max()
        .unwrap_or(Severity::None);
    let decider = v.matched.iter().position(|m| match action {
        Action::Allow => severity != Severity::None && m.severity == severity,
        _ => m.action == action && m.severity == loudest,
    });
    let rule = decider
        .map(|i| v.matched[i].rule.clone())
        .unwrap_or_default();
    let reason = match decider {
        Some(i) if action == Action::Block => v.reasons[i].clone(),
        _ => String::new(),
    };
    // A blocked statement has no result to mask or limit.
    let blocked = action == Action::Block;
    Decision {
        action,
        rule,
        reason,
        severity,
        masks: if blocked { Vec::new() } else { v.masks },
        limit: v.limit.filter(|_| !blocked),
        alert_rows: v.alert_rows.filter(|_| !blocked),
        learning,
        level,
        matched: v.matched,
    }
}

/// The highest level among the columns the statement reads or returns; for what it
/// touches without known columns (an unparsed statement, `count(*)`), the tables' levels.
fn touched_level(
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    objects: &[(TableName, Option<&Table>, &crate::sql::ObjectUse)],
) -> Level {
    let mut level = 0;
    for s in &a.statements {
        for c in &s.columns {
            level = level.max(resolve(policy, req, &c.column).level);
        }
        for o in &s.outputs {
            for src in &o.sources {
                level = level.max(resolve(policy, req, &src.column).level);
            }
        }
    }
    if !a.is_parsed() || level == 0 {
        for (_, table, o) in objects {
            if !o.system {
                level = level.max(table.map_or(policy.catalog.default_level, |t| t.level));
            }
        }
    }
    level
}

fn account_checks(
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    acc: &Account,
    objects: &[(TableName, Option<&Table>, &crate::sql::ObjectUse)],
    v: &mut Verdict,
) {
    if !acc.from_network(req.client) {
        v.add(
            "account.networks",
            Action::Block,
            Severity::High,
            format!(
                "client {} is outside the networks of `{}`",
                req.client, acc.name
            ),
            format!(
                "connections of `{}` are not allowed from {}",
                acc.name, req.client
            ),
        );
    }
    if let Some(hours) = acc.office_hours {
        let local = req.time.with_timezone(&policy.rules.utc_offset).time();
        if !hours.contains(local) {
            v.add(
                "account.hours",
                Action::Allow,
                Severity::Medium,
                format!(
                    "{} is outside the office hours {hours} of `{}`",
                    local.format("%H:%M"),
                    acc.name
                ),
                String::new(),
            );
        }
    }
    for (name, _, o) in objects {
        if o.system {
            continue; // system catalogs are the rules' business
        }
        for (granted, list, verb) in [
            (o.access.read, &acc.read, "read"),
            (o.access.write, &acc.write, "write"),
        ] {
            if let Some(list) = list
                && granted
                && !list.iter().any(|p| p.matches(name))
            {
                v.add(
                    &format!("account.{verb}"),
                    Action::Block,
                    Severity::High,
                    format!("`{}` may not {verb} `{name}`", acc.name),
                    format!("`{}` is not allowed to {verb} {name}", acc.name),
                );
            }
        }
    }
    clearance(policy, req, a, acc, objects, v);
    if acc.row_limit.is_some() || acc.byte_limit.is_some() {
        let returns_rows = !a.is_parsed() || a.statements.iter().any(|s| !s.outputs.is_empty());
        if returns_rows {
            v.limit(
                acc.row_limit,
                acc.byte_limit,
                "account.limits",
                Severity::High,
            );
            let describe = |n: Option<u64>, unit: &str| n.map(|n| format!("{n} {unit}"));
            let limits: Vec<String> = [
                describe(acc.row_limit, "rows"),
                describe(acc.byte_limit, "bytes"),
            ]
            .into_iter()
            .flatten()
            .collect();
            v.add(
                "account.limits",
                Action::Limit,
                Severity::None,
                format!("results of `{}` stop at {}", acc.name, limits.join(" / ")),
                String::new(),
            );
        }
    }
}

/// Columns above the account's clearance: masked when shown as they are, blocked when
/// derived (no mask is faithful to `upper(name)` or `encode(id_card::bytea, 'hex')`) or when
/// filtered on by pattern or range (that enumerates them).
fn clearance(
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    acc: &Account,
    objects: &[(TableName, Option<&Table>, &crate::sql::ObjectUse)],
    v: &mut Verdict,
) {
    let cl = acc.clearance;
    if !a.is_parsed() {
        for (name, table, o) in objects {
            let level = table.map_or(policy.catalog.default_level, |t| t.level);
            if !o.system && level > cl {
                v.add(
                    "clearance",
                    Action::Block,
                    Severity::Medium,
                    format!("the statement could not be read and touches `{name}` (level {level}, above clearance {cl})"),
                    format!("statement not understood; it touches {name}, which holds data above the account's clearance"),
                );
            }
        }
        return;
    }
    let mut index = 0;
    for s in &a.statements {
        for out in &s.outputs {
            for src in &out.sources {
                let r = resolve(policy, req, &src.column);
                if r.level <= cl {
                    continue;
                }
                match src.derivation {
                    Derivation::Constant | Derivation::Aggregate { reveals: false } => {}
                    // COPY and INTO OUTFILE data are not result rows a mask can rewrite.
                    Derivation::Plain if s.export.is_some() => v.add(
                        "clearance",
                        Action::Block,
                        Severity::High,
                        format!(
                            "exports `{}` (level {}, above clearance {cl}), which could only be shown masked",
                            r.name, r.level
                        ),
                        format!("exporting {} is not allowed; query it instead", r.name),
                    ),
                    Derivation::Plain => v.mask(OutputMask {
                        index,
                        output: out.name.clone(),
                        column: r.name.clone(),
                        mask: r.column.map_or(policy.catalog.default_mask, |c| c.mask),
                        rule: "clearance".into(),
                    }),
                    Derivation::Transformed | Derivation::Aggregate { reveals: true } => v.add(
                        "clearance",
                        Action::Block,
                        Severity::High,
                        format!(
                            "output `{}` is computed from `{}` (level {}, above clearance {cl}) and cannot be masked faithfully",
                            out.name, r.name, r.level
                        ),
                        format!("column {} is computed from {}, which the account may not see", out.name, r.name),
                    ),
                }
            }
            index += 1;
        }
        // Writing values computed from hidden columns copies them somewhere the account may
        // read them back unmasked (`INSERT … SELECT id_card`, `UPDATE … SET phone = id_card`):
        // in a write, what a select list produces is written.
        let writes = s.kind == crate::sql::StatementKind::Write;
        for c in &s.columns {
            use crate::sql::Clause;
            if c.clauses.contains(Clause::Value) || (writes && c.clauses.contains(Clause::Select)) {
                let r = resolve(policy, req, &c.column);
                if r.level > cl {
                    v.add(
                        "clearance",
                        Action::Block,
                        Severity::High,
                        format!(
                            "writes values taken from `{}` (level {}, above clearance {cl})",
                            r.name, r.level
                        ),
                        format!("copying {} into other rows is not allowed", r.name),
                    );
                }
            }
        }
        for p in &s.predicates {
            if matches!(
                p.kind,
                PredicateKind::Pattern | PredicateKind::Range | PredicateKind::Transformed
            ) {
                let r = resolve(policy, req, &p.column);
                if r.level > cl {
                    let how = match p.kind {
                        PredicateKind::Pattern => "a pattern",
                        PredicateKind::Range => "a range",
                        _ => "a function of it",
                    };
                    v.add(
                        "clearance",
                        Action::Block,
                        Severity::High,
                        format!(
                            "filters `{}` (level {}, above clearance {cl}) by {how}: that enumerates hidden values",
                            r.name, r.level
                        ),
                        format!("filtering {} by {how} is not allowed; look it up by its full value", r.name),
                    );
                }
            }
        }
    }
    if v.masks.iter().any(|m| m.rule == "clearance") {
        let cols: Vec<&str> = v
            .masks
            .iter()
            .filter(|m| m.rule == "clearance")
            .map(|m| m.output.as_str())
            .collect();
        v.add(
            "clearance",
            Action::Mask,
            Severity::None,
            format!(
                "columns above clearance {cl} are masked: {}",
                cols.join(", ")
            ),
            String::new(),
        );
    }
}

fn learning_check(
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    acc: &Account,
    v: &mut Verdict,
) -> LearningCheck {
    let mode = acc.learning(req.database);
    let known = mode != Learning::Off
        && policy
            .learned
            .contains(&acc.name, req.database, a.fingerprint);
    let fp = format!("{:016x}", a.fingerprint);
    match (mode, known) {
        (Learning::Detecting, false) => v.add(
            "learning",
            Action::Allow,
            Severity::Medium,
            format!(
                "fingerprint {fp} is new for `{}` on `{}` (detecting: alerted, not blocked)",
                acc.name, req.database
            ),
            String::new(),
        ),
        (Learning::Protecting, false) => v.add(
            "learning",
            Action::Block,
            Severity::High,
            format!(
                "fingerprint {fp} is new for `{}` on `{}` (protecting: blocked)",
                acc.name, req.database
            ),
            "this statement is not among the statements learned for the account".into(),
        ),
        _ => {}
    }
    LearningCheck {
        mode,
        known,
        record: mode == Learning::Recording && !known,
    }
}

/// Why the rule's conditions hold, or `None` when one does not.
fn matches(
    w: &Conditions,
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    account: Option<&Account>,
    objects: &[(TableName, Option<&Table>, &crate::sql::ObjectUse)],
    level: Level,
) -> Option<String> {
    let mut why = Vec::new();
    let named = |list: &[String]| list.iter().any(|n| n == req.account);
    if !w.accounts.is_empty() {
        named(&w.accounts).then_some(())?;
        why.push(format!("account {}", req.account));
    }
    if named(&w.except_accounts) {
        return None;
    }
    if !w.roles.is_empty() {
        let role = &account?.role;
        w.roles.contains(role).then_some(())?;
        why.push(format!("role {role}"));
    }
    if !w.environments.is_empty() {
        let env = account?.environment;
        w.environments.contains(&env).then_some(())?;
        why.push(format!("environment {}", kebab(&env)));
    }
    let mut any_of = |what: &str, found: Option<String>| -> Option<()> {
        why.push(format!("{what} {}", found?));
        Some(())
    };
    if !w.kinds.is_empty() {
        any_of(
            "kind",
            first_in(&w.kinds, a.statements.iter().map(|s| s.kind)),
        )?;
    }
    if !w.commands.is_empty() {
        any_of(
            "command",
            first_in(&w.commands, a.statements.iter().map(|s| s.command)),
        )?;
    }
    if !w.exports.is_empty() {
        any_of(
            "export to",
            first_in(&w.exports, a.statements.iter().filter_map(|s| s.export)),
        )?;
    }
    if !w.shapes.is_empty() {
        let shape = w.shapes.iter().find(|s| match s {
            Shape::Flag(f) => a.flags.contains(*f),
            Shape::Unparsed => !a.is_parsed(),
        })?;
        why.push(format!("shape {}", kebab(shape)));
    }
    if !w.objects.is_empty() {
        let (name, _, _) = objects
            .iter()
            .find(|(n, _, _)| w.objects.iter().any(|p| p.matches(n)))?;
        why.push(format!("object {name}"));
    }
    if let Some(min) = w.min_level {
        (level >= min).then_some(())?;
        why.push(format!("level {level} >= {min}"));
    }
    if !w.functions.is_empty() {
        let f = a
            .statements
            .iter()
            .flat_map(|s| s.functions.iter())
            .find(|f| {
                let bare = f.rsplit('.').next().unwrap_or(f);
                w.functions.iter().any(|w| w == *f || w == bare)
            })?;
        why.push(format!("function {f}"));
    }
    if let Some(hours) = w.hours {
        let local = req.time.with_timezone(&policy.rules.utc_offset).time();
        hours.contains(local).then_some(())?;
        why.push(format!("time {} in {hours}", local.format("%H:%M")));
    }
    if !w.sources.is_empty() {
        w.sources
            .iter()
            .any(|n| n.contains(&req.client))
            .then_some(())?;
        why.push(format!("client {}", req.client));
    }
    Some(if why.is_empty() {
        "always".into()
    } else {
        why.join(", ")
    })
}

fn apply(
    rule: &Rule,
    why: String,
    policy: &Policy,
    req: &Request<'_>,
    a: &Analysis,
    account: Option<&Account>,
    v: &mut Verdict,
) {
    if let Some(rows) = rule.alert_rows
        && v.alert_rows.as_ref().is_none_or(|r| rows < r.rows)
    {
        v.alert_rows = Some(RowAlert {
            rows,
            severity: rule.alert.max(Severity::Medium),
            rule: rule.name.clone(),
        });
    }
    // With `alert-rows`, the alert waits for the result to pass the count.
    let alert = if rule.alert_rows.is_some() {
        Severity::None
    } else {
        rule.alert
    };
    match rule.action {
        Action::Allow | Action::Block => {
            v.add(&rule.name, rule.action, alert, why, rule.reason.clone());
        }
        Action::Limit => {
            v.limit(
                rule.rows,
                rule.bytes,
                &rule.name,
                rule.alert.max(Severity::High),
            );
            v.add(&rule.name, Action::Limit, alert, why, String::new());
        }
        Action::Mask => {
            // Explicit columns, or every column above the rule's level (the account's
            // clearance when the rule names none).
            let floor = rule
                .when
                .min_level
                .unwrap_or_else(|| account.map_or(0, |a| a.clearance) + 1);
            let mut index = 0;
            let mut masked = false;
            for s in &a.statements {
                for out in &s.outputs {
                    for src in &out.sources {
                        let r = resolve(policy, req, &src.column);
                        let mask = if rule.mask.is_empty() {
                            (r.level >= floor)
                                .then(|| r.column.map_or(policy.catalog.default_mask, |c| c.mask))
                        } else {
                            rule.mask.get(&r.name).copied()
                        };
                        let Some(mask) = mask else { continue };
                        match src.derivation {
                            Derivation::Plain => {
                                masked = true;
                                v.mask(OutputMask {
                                    index,
                                    output: out.name.clone(),
                                    column: r.name.clone(),
                                    mask,
                                    rule: rule.name.clone(),
                                });
                            }
                            Derivation::Transformed | Derivation::Aggregate { reveals: true } => v
                                .add(
                                    &rule.name,
                                    Action::Block,
                                    alert.max(Severity::Medium),
                                    format!(
                                        "output `{}` is computed from masked `{}`",
                                        out.name, r.name
                                    ),
                                    format!(
                                        "column {} is computed from {}, which is masked",
                                        out.name, r.name
                                    ),
                                ),
                            _ => {}
                        }
                    }
                    index += 1;
                }
            }
            if masked {
                v.add(&rule.name, Action::Mask, alert, why, String::new());
            } else if alert != Severity::None {
                v.add(&rule.name, Action::Allow, alert, why, String::new());
            }
        }
    }
}

/// The first of `have` that `want` lists, by its name.
fn first_in<T: PartialEq + serde::Serialize>(
    want: &[T],
    mut have: impl Iterator<Item = T>,
) -> Option<String> {
    have.find(|h| want.contains(h)).map(|h| kebab(&h))
}

/// The kebab-case name serde gives a value.
fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
