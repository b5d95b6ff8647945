//! `tianmu rules explain`: the analysis of a statement and the decision on it, as text for
//! people or as one JSON object for scripts (`decision` is `allow`, `block`, `mask` or
//! `limit`).

use std::fmt::Write;

use serde::Serialize;

use crate::account::Learning;
use crate::sql::{Analysis, Parse};

use super::{Decision, Policy, Request};

/// The JSON form: the decision's fields at the top, the analysis under `analysis`.
#[derive(Serialize)]
struct Explained<'a> {
    decision: &'a crate::decision::Action,
    #[serde(flatten)]
    detail: &'a Decision,
    account: &'a str,
    database: &'a str,
    analysis: &'a Analysis,
}

pub fn json(req: &Request<'_>, analysis: &Analysis, decision: &Decision) -> String {
    let e = Explained {
        decision: &decision.action,
        detail: decision,
        account: req.account,
        database: req.database,
        analysis,
    };
    serde_json::to_string_pretty(&e).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

pub fn text(policy: &Policy, req: &Request<'_>, a: &Analysis, d: &Decision) -> String {
    let mut o = String::new();
    let row = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "{k:<12}{v}");
    };
    let who = match policy.accounts.get(req.account) {
        Some(acc) => format!(
            "{} (role {}, {}, clearance {})",
            acc.name,
            acc.role,
            word(&acc.environment),
            acc.clearance
        ),
        None => format!("{} (not in the accounts file)", req.account),
    };
    row(&mut o, "account", &who);
    row(
        &mut o,
        "session",
        &format!(
            "{} database {} from {}",
            word(&req.dialect),
            req.database,
            req.client
        ),
    );
    row(
        &mut o,
        "parse",
        &match &a.parse {
            Parse::Parsed => "parsed".to_owned(),
            Parse::Fallback { error } => format!("NOT PARSED ({error}); token-level fallback used"),
            Parse::Unreadable { error } => format!("UNREADABLE ({error})"),
        },
    );
    row(
        &mut o,
        "fingerprint",
        &format!("{:016x}  {}", a.fingerprint, a.normalized),
    );
    for (i, s) in a.statements.iter().enumerate() {
        if a.statements.len() > 1 {
            let _ = writeln!(o, "statement {}", i + 1);
        }
        row(
            &mut o,
            "kind",
            &format!("{} ({})", word(&s.kind), word(&s.command)),
        );
        let objects: Vec<String> = s
            .objects
            .iter()
            .map(|ob| {
                let name = Policy::table_name(req.dialect, req.database, &ob.name);
                let level = policy.table(req.dialect, req.database, &ob.name).map_or(
                    format!("L{} (not catalogued)", policy.catalog.default_level),
                    |t| format!("L{}", t.level),
                );
                let mut how = Vec::new();
                if ob.access.read {
                    how.push("read");
                }
                if ob.access.write {
                    how.push("write");
                }
                if ob.access.define {
                    how.push("define");
                }
                if ob.system {
                    how.push("system catalog");
                }
                format!("{name} {level} [{}]", how.join(", "))
            })
            .collect();
        row(&mut o, "objects", &list(&objects));
        let outputs: Vec<String> = s
            .outputs
            .iter()
            .map(|out| {
                let sources: Vec<String> = out
                    .sources
                    .iter()
                    .map(|src| {
                        let r = super::decide::describe(policy, req, &src.column);
                        format!("{} L{} {}", r.0, r.1, derivation(src.derivation))
                    })
                    .collect();
                format!(
                    "{} ← {}",
                    out.name,
                    if sources.is_empty() {
                        "constant".into()
                    } else {
                        sources.join(" + ")
                    }
                )
            })
            .collect();
        row(&mut o, "outputs", &list(&outputs));
        let predicates: Vec<String> = s
            .predicates
            .iter()
            .map(|p| {
                let r = super::decide::describe(policy, req, &p.column);
                format!("{} L{} {} in {}", r.0, r.1, word(&p.kind), word(&p.clause))
            })
            .collect();
        row(&mut o, "predicates", &list(&predicates));
        row(&mut o, "functions", &list(&s.functions));
        if let Some(l) = s.limit {
            row(&mut o, "limit", &l.to_string());
        }
    }
    let flags: Vec<String> = a.flags.iter().map(|f| word(&f)).collect();
    row(&mut o, "shape", &list(&flags));
    row(&mut o, "level", &format!("L{} (highest touched)", d.level));
    let learning = match d.learning.mode {
        Learning::Off => "off".to_owned(),
        mode => format!(
            "{mode}: fingerprint {}{}",
            if d.learning.known { "known" } else { "new" },
            if d.learning.record {
                " (will be recorded)"
            } else {
                ""
            }
        ),
    };
    row(&mut o, "learning", &learning);
    let _ = writeln!(o);
    let by = if d.rule.is_empty() {
        "no rule matched".into()
    } else {
        format!("by {}", d.rule)
    };
    row(
        &mut o,
        "decision",
        &format!("{} {by}", word(&d.action).to_uppercase()),
    );
    if !d.reason.is_empty() {
        row(&mut o, "reason", &d.reason);
    }
    for m in &d.masks {
        row(
            &mut o,
            "mask",
            &format!(
                "#{} {} ({}) → {} [{}]",
                m.index + 1,
                m.output,
                m.column,
                m.mask,
                m.rule
            ),
        );
    }
    if let Some(l) = &d.limit {
        let mut parts = Vec::new();
        if let Some(r) = l.rows {
            parts.push(format!("{r} rows"));
        }
        if let Some(b) = l.bytes {
            parts.push(format!("{b} bytes"));
        }
        row(
            &mut o,
            "limit",
            &format!(
                "{} [{}], alert {} when reached",
                parts.join(" / "),
                l.rule,
                word(&l.alert)
            ),
        );
    }
    if let Some(r) = &d.alert_rows {
        row(
            &mut o,
            "alert rows",
            &format!("{} past {} rows [{}]", word(&r.severity), r.rows, r.rule),
        );
    }
    row(&mut o, "alert", &word(&d.severity));
    if !d.matched.is_empty() {
        let _ = writeln!(o, "matched");
        let width = d.matched.iter().map(|m| m.rule.len()).max().unwrap_or(0);
        for m in &d.matched {
            let _ = writeln!(
                o,
                "  {:<width$}  {:<5}  {:<8}  {}",
                m.rule,
                word(&m.action),
                word(&m.severity),
                m.why
            );
        }
    }
    o
}

fn derivation(d: crate::sql::Derivation) -> &'static str {
    use crate::sql::Derivation::*;
    match d {
        Constant => "constant",
        Aggregate { reveals: false } => "aggregate",
        Aggregate { reveals: true } => "revealing aggregate",
        Plain => "plain",
        Transformed => "transformed",
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join("; ")
    }
}
