//! The one decision path: every protocol session asks [`judge`] about a statement and gets
//! a [`Verdict`]; protocol modules only translate it into their own error packets and row
//! rewriting.

use std::sync::Arc;

use rules::decision::{Action, Severity};
use rules::mask::Mask;
use rules::policy::containment::Containment;
use rules::policy::{Evaluated, OutputMask, Policy, Request};
use rules::sql::Parse;

use crate::config::FailMode;

/// What a session does with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it; cut the result at `limit` when one is set.
    Allow { limit: Option<ResultLimit> },
    /// Answer the client with an error naming the rule; the server never sees it.
    Block { rule: String, reason: String },
    /// Forward it and rewrite the masked columns of the result; cut it at `limit`.
    Mask {
        masks: Vec<OutputMask>,
        limit: Option<ResultLimit>,
    },
}

/// Where a result stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLimit {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub rule: String,
    /// The alert raised when a result reaches the limit.
    pub alert: Severity,
}

/// The verdict with what the audit event needs.
#[derive(Debug, Clone)]
pub struct Judged {
    pub verdict: Verdict,
    pub evaluated: Arc<Evaluated>,
    /// The alert raised now (`None`: none), after the listener's fail mode.
    pub severity: Severity,
    /// The rule recorded in the event.
    pub rule: String,
    pub action: Action,
}

/// Asks the policy about `text` and applies the listener's fail mode: a statement the
/// engine cannot judge — one nothing could read — is refused when the listener fails
/// closed, forwarded and alerted when it fails open. (A statement the parser could not read
/// but the token-level fallback could is judged by the policy's own `unparsed` rules.)
pub fn judge(
    policy: &Policy,
    blocks: &Containment,
    req: &Request<'_>,
    text: &str,
    fail: FailMode,
) -> Judged {
    let evaluated = policy.evaluate(req, text);
    // Containment overrides everything: the SOC has shut this account, address or shape
    // out while it handles an incident.
    if let Some(b) = blocks.refuses(
        req.account,
        req.client,
        evaluated.analysis.fingerprint,
        req.time,
    ) {
        let rule = format!("containment:{}", b.id);
        return Judged {
            verdict: Verdict::Block {
                rule: rule.clone(),
                reason: b.message(),
            },
            severity: Severity::Medium,
            rule,
            action: Action::Block,
            evaluated: evaluated.clone(),
        };
    }
    let d = &evaluated.decision;
    if matches!(evaluated.analysis.parse, Parse::Unreadable { .. }) && d.action != Action::Block {
        return match fail {
            FailMode::Closed => Judged {
                verdict: Verdict::Block {
                    rule: "fail-closed".into(),
                    reason: "the data firewall cannot read this statement".into(),
                },
                severity: d.severity.max(Severity::Medium),
                rule: "fail-closed".into(),
                action: Action::Block,
                evaluated: evaluated.clone(),
            },
            FailMode::Open => Judged {
                verdict: Verdict::Allow { limit: limit_of(d) },
                severity: d.severity.max(Severity::Medium),
                rule: "fail-open".into(),
                action: Action::Allow,
                evaluated: evaluated.clone(),
            },
        };
    }
    let verdict = match d.action {
        Action::Block => Verdict::Block {
            rule: d.rule.clone(),
            reason: d.reason.clone(),
        },
        Action::Mask => Verdict::Mask {
            masks: d.masks.clone(),
            limit: limit_of(d),
        },
        Action::Allow | Action::Limit => Verdict::Allow { limit: limit_of(d) },
    };
    Judged {
        verdict,
        severity: d.severity,
        rule: d.rule.clone(),
        action: d.action,
        evaluated: evaluated.clone(),
    }
}

/// The result columns a verdict's masks apply to, each column once, as (index, mask). The
/// policy names each masked output and its position; the result's own column names
/// (`names`, as the server sent them; empty when not known) win over the position, and a
/// mask whose name matches no column falls back to its position.
pub fn masked_columns(wanted: &[OutputMask], names: &[&str]) -> Vec<(usize, Mask)> {
    let mut out: Vec<(usize, Mask)> = Vec::with_capacity(wanted.len());
    let mut add = |index: usize, mask: Mask| {
        if !out.iter().any(|(i, _)| *i == index) {
            out.push((index, mask));
        }
    };
    for w in wanted {
        let mut matched = false;
        for (i, _) in names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.eq_ignore_ascii_case(&w.output))
        {
            matched = true;
            add(i, w.mask);
        }
        if !matched {
            add(w.index, w.mask);
        }
    }
    out
}

fn limit_of(d: &rules::policy::Decision) -> Option<ResultLimit> {
    d.limit.as_ref().map(|l| ResultLimit {
        rows: l.rows,
        bytes: l.bytes,
        rule: l.rule.clone(),
        alert: l.alert,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::sql::Dialect;

    fn policy() -> Policy {
        let accounts = "[[account]]\nname = 'app'\nkind = 'database'\nrole = 'application'\nenvironment = 'prod'\nclearance = 2\nrow-limit = 10\n";
        let catalog = "default-level = 1\n[[table]]\nname = 'db.t'\ncategory = 'c'\nsharing = 'restricted'\nopening = 'forbidden'\ncolumns = [{ name = 'secret', level = 3, mask = 'keep 1 1' }]\n";
        let rules = "[[rule]]\nname = 'no-sleep'\nshapes = ['time-delay']\naction = 'block'\nreason = 'no'\nalert = 'high'\n";
        Policy::parse(catalog, accounts, rules).unwrap_or_else(|e| panic!("{e}"))
    }

    fn req() -> Request<'static> {
        Request {
            account: "app",
            client: [127, 0, 0, 1].into(),
            database: "db",
            dialect: Dialect::Postgres,
            time: chrono::Utc::now(),
        }
    }

    #[test]
    fn verdicts_follow_the_decision() {
        let p = policy();
        let j = judge(
            &p,
            &Containment::default(),
            &req(),
            "SELECT secret FROM t",
            FailMode::Closed,
        );
        match j.verdict {
            Verdict::Mask { masks, limit } => {
                assert_eq!(masks[0].output, "secret");
                assert_eq!(limit.and_then(|l| l.rows), Some(10));
            }
            other => panic!("{other:?}"),
        }
        let j = judge(
            &p,
            &Containment::default(),
            &req(),
            "SELECT pg_sleep(1)",
            FailMode::Closed,
        );
        assert_eq!(
            j.verdict,
            Verdict::Block {
                rule: "no-sleep".into(),
                reason: "no".into()
            }
        );
    }

    #[test]
    fn unreadable_statements_follow_the_fail_mode() {
        let p = policy();
        let text = "SELECT 'unterminated";
        let closed = judge(&p, &Containment::default(), &req(), text, FailMode::Closed);
        assert!(matches!(closed.verdict, Verdict::Block { ref rule, .. } if rule == "fail-closed"));
        let open = judge(&p, &Containment::default(), &req(), text, FailMode::Open);
        assert!(matches!(open.verdict, Verdict::Allow { .. }));
        assert_eq!(
            (open.rule.as_str(), open.severity),
            ("fail-open", Severity::Medium)
        );
    }
}
