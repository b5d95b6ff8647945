//! Risk identification and scoring. Findings (alerts, blocked statements, catalog gaps,
//! unregistered accounts, late handling, unfinished drills) become issues (问题清单), each
//! of one [`Kind`] in one of GB/T 45577's four areas; the issues of one kind make a risk
//! (风险清单), scored likelihood × impact:
//!
//! ```text
//! likelihood 1–5   occurrences:          1     2–3    4+
//!                  all blocked           1     2      3
//!                  not all blocked       3     4      5
//! impact 1–5       max(level: L4 5, L3 4, L2 3, L1 2; severity: critical 5, high 4,
//!                      medium 3, low 2, none 1)
//! score = likelihood × impact: 20–25 very high, 15–19 high, 8–14 medium, 4–7 low, 1–3 very low
//! ```

use std::time::Duration;

use serde::Serialize;

use super::{
    AccountAccess, AlertItem, BlockedGroup, CatalogGap, DrillOutcome, DrillResult, GapKind, Issue,
    Risk, detector_zh, duration_zh, outcome_zh,
};
use crate::event::{AlertState, Severity};

/// The four areas a data-security risk assessment covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// 数据安全管理
    Management,
    /// 数据处理活动
    Processing,
    /// 数据安全技术
    Technical,
    /// 个人信息保护
    PersonalInformation,
}

impl Area {
    pub const ALL: [Area; 4] = [
        Area::Management,
        Area::Processing,
        Area::Technical,
        Area::PersonalInformation,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            Area::Management => "数据安全管理",
            Area::Processing => "数据处理活动",
            Area::Technical => "数据安全技术",
            Area::PersonalInformation => "个人信息保护",
        }
    }

    /// What the area covers, and what of it this report can see.
    pub fn scope_zh(self) -> &'static str {
        match self {
            Area::Management => {
                "关注账号与第三方（外包、开发测试）人员管理、分类分级目录维护、告警处置时效与应急演练。"
            }
            Area::Processing => {
                "关注数据使用、加工、提供等处理活动中的批量导出、非工作时间访问和超出授权基线的访问。"
            }
            Area::Technical => "关注访问控制、注入攻击防护与监测覆盖等技术措施的有效性。",
            Area::PersonalInformation => {
                "关注含敏感个人信息（4级字段）的数据被批量获取、非工作时间访问或首次访问的情况。"
            }
        }
    }
}

/// The kinds of risk this report identifies; each belongs to one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    SupplyChain,
    UnregisteredAccount,
    CatalogGap,
    LateResponse,
    DrillIncomplete,
    BulkExport,
    OffHours,
    FirstAccess,
    Injection,
    AccessViolation,
    MonitoringGap,
    OtherDetection,
    PersonalInformation,
}

impl Kind {
    pub fn area(self) -> Area {
        match self {
            Kind::SupplyChain
            | Kind::UnregisteredAccount
            | Kind::CatalogGap
            | Kind::LateResponse
            | Kind::DrillIncomplete => Area::Management,
            Kind::BulkExport | Kind::OffHours | Kind::FirstAccess => Area::Processing,
            Kind::Injection
            | Kind::AccessViolation
            | Kind::MonitoringGap
            | Kind::OtherDetection => Area::Technical,
            Kind::PersonalInformation => Area::PersonalInformation,
        }
    }

    /// The risk's name.
    pub fn title_zh(self) -> &'static str {
        match self {
            Kind::SupplyChain => "外包及开发测试人员接触生产敏感数据",
            Kind::UnregisteredAccount => "存在未登记的数据访问账号",
            Kind::CatalogGap => "分类分级目录未覆盖实际使用的数据",
            Kind::LateResponse => "安全告警处置不及时",
            Kind::DrillIncomplete => "应急演练未完成闭环",
            Kind::BulkExport => "数据被批量导出",
            Kind::OffHours => "非工作时间访问敏感数据",
            Kind::FirstAccess => "账号超出既有访问基线访问敏感数据",
            Kind::Injection => "SQL注入攻击",
            Kind::AccessViolation => "越权或违规访问尝试",
            Kind::MonitoringGap => "监测节点失联导致监测盲区",
            Kind::OtherDetection => "其他异常数据访问",
            Kind::PersonalInformation => "敏感个人信息遭批量获取或超范围访问",
        }
    }

    /// What could happen.
    pub fn description_zh(self) -> &'static str {
        match self {
            Kind::SupplyChain => {
                "第三方或非生产环境账号访问生产环境3–4级数据，可能导致数据经供应链渠道泄露。"
            }
            Kind::UnregisteredAccount => {
                "未纳入账号清单的账号访问数据，其身份、权限与责任人无法追溯。"
            }
            Kind::CatalogGap => {
                "被访问的数据表未纳入分类分级目录，仅按默认级别防护，可能防护不足。"
            }
            Kind::LateResponse => "告警未在规定时限内确认或关闭，事件可能持续扩大而未被遏制。",
            Kind::DrillIncomplete => "应急演练中止或未闭环，应急预案与处置流程的有效性未得到验证。",
            Kind::BulkExport => "单一账号在短时间内读取大量数据，存在数据泄露风险。",
            Kind::OffHours => "在工作时间以外访问3–4级数据，存在账号被冒用或违规使用的风险。",
            Kind::FirstAccess => "账号首次访问此前从未使用的敏感数据表，可能超出业务所需范围。",
            Kind::Injection => "针对数据库的注入攻击尝试，成功时可导致数据被窃取或篡改。",
            Kind::AccessViolation => "账号尝试访问其无权访问的数据或执行被禁止的操作。",
            Kind::MonitoringGap => "探针或防火墙停止上报，失联期间的数据访问无法被监测和审计。",
            Kind::OtherDetection => "检测器发现的其他异常数据访问。",
            Kind::PersonalInformation => {
                "含敏感个人信息的数据被批量读取、在非工作时间或首次被访问，可能侵害个人信息权益。"
            }
        }
    }

    /// What to do about it.
    pub fn recommendation_zh(self) -> &'static str {
        match self {
            Kind::SupplyChain => {
                "收紧外包及开发测试账号权限，仅允许访问脱敏或开放数据；对确需访问的生产数据实行审批与全程审计。"
            }
            Kind::UnregisteredAccount => "将账号纳入账号清单并明确责任人与权限，或停用该账号。",
            Kind::CatalogGap => "将相关数据表纳入分类分级目录并确定类别、级别与共享开放属性。",
            Kind::LateResponse => {
                "明确值守与处置时限要求，对超时告警开展复盘，必要时调整人员与升级机制。"
            }
            Kind::DrillIncomplete => "补做或重做演练直至闭环，并根据演练暴露的问题修订应急预案。",
            Kind::BulkExport => {
                "核实导出的业务必要性；对账号设置单次返回行数上限，对批量导出实行审批。"
            }
            Kind::OffHours => "核实访问事由；对非工作时间访问敏感数据实行审批或临时授权。",
            Kind::FirstAccess => "核实新增访问的业务依据，按最小必要原则调整账号授权。",
            Kind::Injection => "排查攻击来源并封禁；修复应用中拼接SQL的代码，使用参数化查询。",
            Kind::AccessViolation => "核实账号用途与授权范围，对反复越权的账号进行约谈或停用。",
            Kind::MonitoringGap => "恢复失联节点并排查原因，为监测节点设置存活告警与冗余部署。",
            Kind::OtherDetection => "核实告警所涉访问行为并按流程处置。",
            Kind::PersonalInformation => {
                "核实个人信息处理的合法性基础与最小必要性；对敏感个人信息字段实行脱敏返回与批量访问审批。"
            }
        }
    }
}

/// Risk levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskLevel {
    VeryLow,
    Low,
    Medium,
    High,
    VeryHigh,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 5] = [
        RiskLevel::VeryLow,
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::VeryHigh,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            RiskLevel::VeryLow => "很低",
            RiskLevel::Low => "低",
            RiskLevel::Medium => "中",
            RiskLevel::High => "高",
            RiskLevel::VeryHigh => "很高",
        }
    }
}

/// Where an issue or risk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// 待整改: nothing has stopped it yet.
    Open,
    /// 已控制: contained, resolved, or blocked by the firewall.
    Controlled,
    /// 已闭环: closed.
    Closed,
}

impl Status {
    pub fn zh(self) -> &'static str {
        match self {
            Status::Open => "待整改",
            Status::Controlled => "已控制",
            Status::Closed => "已闭环",
        }
    }
}

/// Likelihood (1–5) of a risk seen `occurrences` times; `controlled` when the firewall
/// stopped every attempt.
pub fn likelihood(occurrences: usize, controlled: bool) -> u8 {
    let band = match occurrences {
        0 | 1 => 0,
        2 | 3 => 1,
        _ => 2,
    };
    if controlled { 1 + band } else { 3 + band }
}

/// Impact (1–5) of a risk touching data up to `level` with alerts up to `severity`.
pub fn impact(level: u8, severity: Severity) -> u8 {
    let by_level = match level {
        4.. => 5,
        3 => 4,
        2 => 3,
        1 => 2,
        0 => 1,
    };
    let by_severity = match severity {
        Severity::Critical => 5,
        Severity::High => 4,
        Severity::Medium => 3,
        Severity::Low => 2,
        Severity::None => 1,
    };
    by_level.max(by_severity)
}

/// The level of a likelihood × impact score (1–25).
pub fn rate(score: u8) -> RiskLevel {
    match score {
        20.. => RiskLevel::VeryHigh,
        15..=19 => RiskLevel::High,
        8..=14 => RiskLevel::Medium,
        4..=7 => RiskLevel::Low,
        _ => RiskLevel::VeryLow,
    }
}

/// What an alert's state says about its handling.
pub fn alert_status(state: AlertState) -> Status {
    match state {
        AlertState::Closed | AlertState::Merged | AlertState::SignedOff => Status::Closed,
        AlertState::Contained | AlertState::Resolved => Status::Controlled,
        _ => Status::Open,
    }
}

/// The kind of risk an alert is evidence of.
pub fn kind_of_alert(detector: &str, personal: bool) -> Kind {
    match detector {
        "bulk-exfiltration" | "volume-anomaly" | "flow-back" | "sharing-violation"
        | "off-hours" | "first-access"
            if personal =>
        {
            Kind::PersonalInformation
        }
        "bulk-exfiltration" | "volume-anomaly" | "flow-back" => Kind::BulkExport,
        "sharing-violation" | "bypass" | "auth-failure-burst" => Kind::AccessViolation,
        "off-hours" => Kind::OffHours,
        "first-access" => Kind::FirstAccess,
        "non-production-account" => Kind::SupplyChain,
        "injection-campaign" => Kind::Injection,
        "silent-producer" => Kind::MonitoringGap,
        _ => Kind::OtherDetection,
    }
}

/// Everything issues are made from.
pub struct Findings<'a> {
    pub alerts: &'a [AlertItem],
    pub blocked: &'a [BlockedGroup],
    pub gaps: &'a [CatalogGap],
    pub accounts: &'a [AccountAccess],
    pub drills: &'a [DrillResult],
    pub late_acknowledge: u64,
    pub late_close: u64,
    pub acknowledge_within: Duration,
    pub close_within: Duration,
    pub default_level: u8,
}

/// Issues, numbered `Q-001`… in the order: real alerts, blocked statements, catalog gaps,
/// unregistered accounts, late handling, unfinished drills. `risk` is filled by [`risks`].
pub fn issues(f: &Findings<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut push = |kind: Kind,
                    title: String,
                    detail: String,
                    evidence: Vec<String>,
                    events: u64,
                    max_level: u8,
                    severity: Severity,
                    blocked_only: bool,
                    status: Status| {
        out.push(Issue {
            id: String::new(),
            area: kind.area(),
            kind,
            title,
            detail,
            evidence,
            events,
            max_level,
            severity,
            blocked_only,
            status,
            risk: String::new(),
        });
    };
    for a in f.alerts.iter().filter(|a| !a.drill) {
        push(
            kind_of_alert(&a.detector, a.personal),
            format!("{}：{}", detector_zh(&a.detector), a.entity),
            a.title.clone(),
            vec![a.alert_id.to_string()],
            a.evidence as u64,
            a.max_level,
            a.severity,
            a.blocked,
            if a.blocked && alert_status(a.state) == Status::Open {
                Status::Controlled
            } else {
                alert_status(a.state)
            },
        );
    }
    for b in f.blocked {
        let injection = b.rule.starts_with("sqli");
        let rule = if b.rule.is_empty() {
            "默认策略".to_owned()
        } else {
            b.rule.clone()
        };
        push(
            if injection {
                Kind::Injection
            } else {
                Kind::AccessViolation
            },
            format!("账号 {} 的语句被阻断（{rule}）", b.account),
            format!(
                "防火墙依规则“{rule}”阻断该账号语句{}条，所涉数据最高{}级。示例：{}",
                b.statements,
                b.max_level,
                truncate(&b.sample, 120)
            ),
            vec![format!(
                "阻断语句{}条（{} / {rule}）",
                b.statements, b.account
            )],
            b.statements,
            b.max_level,
            if injection {
                Severity::High
            } else {
                Severity::Medium
            },
            true,
            Status::Controlled,
        );
    }
    for g in f.gaps.iter().filter(|g| g.gap == GapKind::Uncatalogued) {
        push(
            Kind::CatalogGap,
            format!("数据表 {} 未纳入分类分级目录", g.object),
            format!(
                "评估期内被访问{}次（账号：{}），按默认级别{}级处理。",
                g.statements,
                g.accounts.join("、"),
                f.default_level
            ),
            vec![format!("访问语句{}条", g.statements)],
            g.statements,
            f.default_level,
            Severity::Medium,
            false,
            Status::Open,
        );
    }
    for a in f.accounts.iter().filter(|a| !a.registered) {
        push(
            Kind::UnregisteredAccount,
            format!("账号 {} 未登记", a.account),
            format!(
                "该账号不在账号清单中，评估期内执行语句{}条，其中被阻断{}条。",
                a.statements, a.blocked
            ),
            vec![format!("语句{}条", a.statements)],
            a.statements,
            a.by_level
                .iter()
                .rposition(|n| *n > 0)
                .map_or(0, |l| l as u8),
            Severity::Medium,
            a.blocked == a.statements && a.statements > 0,
            Status::Open,
        );
    }
    if f.late_acknowledge > 0 || f.late_close > 0 {
        let late: Vec<String> = f
            .alerts
            .iter()
            .filter(|a| !a.drill)
            .filter(|a| {
                a.acknowledge_secs
                    .is_none_or(|s| s > f.acknowledge_within.as_secs())
                    || a.close_secs.is_none_or(|s| s > f.close_within.as_secs())
            })
            .map(|a| a.alert_id.to_string())
            .collect();
        let worst = f
            .alerts
            .iter()
            .filter(|a| !a.drill)
            .map(|a| a.severity)
            .max()
            .unwrap_or(Severity::Medium);
        push(
            Kind::LateResponse,
            "告警未在规定时限内确认或关闭".into(),
            format!(
                "{}条告警未在{}内确认，{}条未在{}内关闭（截至报告生成时）。",
                f.late_acknowledge,
                duration_zh(Some(f.acknowledge_within.as_secs_f64())),
                f.late_close,
                duration_zh(Some(f.close_within.as_secs_f64()))
            ),
            late,
            f.late_acknowledge.max(f.late_close),
            0,
            worst.min(Severity::High),
            false,
            Status::Open,
        );
    }
    for d in f
        .drills
        .iter()
        .filter(|d| d.outcome != DrillOutcome::Completed)
    {
        push(
            Kind::DrillIncomplete,
            format!("演练 {} {}", d.scenario, outcome_zh(d.outcome)),
            "演练未进行到关闭阶段。".into(),
            vec![d.drill_id.to_string()],
            1,
            0,
            Severity::Medium,
            false,
            Status::Open,
        );
    }
    for (i, issue) in out.iter_mut().enumerate() {
        issue.id = format!("Q-{:03}", i + 1);
    }
    out
}

/// Risks from `issues` (one per kind present), numbered `R-01`… by area then kind; sets
/// each issue's `risk`.
pub fn risks(issues: &mut [Issue]) -> Vec<Risk> {
    let mut kinds: Vec<Kind> = issues.iter().map(|i| i.kind).collect();
    kinds.sort_by_key(|k| (k.area(), *k));
    kinds.dedup();
    let mut out = Vec::new();
    for (n, kind) in kinds.into_iter().enumerate() {
        let id = format!("R-{:02}", n + 1);
        let mine: Vec<&mut Issue> = issues.iter_mut().filter(|i| i.kind == kind).collect();
        let controlled = mine.iter().all(|i| i.blocked_only);
        let level = mine.iter().map(|i| i.max_level).max().unwrap_or(0);
        let severity = mine
            .iter()
            .map(|i| i.severity)
            .max()
            .unwrap_or(Severity::None);
        let l = likelihood(mine.len(), controlled);
        let im = impact(level, severity);
        let status = mine.iter().map(|i| i.status).min().unwrap_or(Status::Open);
        let ids: Vec<String> = mine.iter().map(|i| i.id.clone()).collect();
        for i in mine {
            i.risk = id.clone();
        }
        out.push(Risk {
            id,
            area: kind.area(),
            kind,
            title: kind.title_zh().into(),
            description: kind.description_zh().into(),
            issues: ids,
            likelihood: l,
            impact: im,
            score: l * im,
            level: rate(l * im),
            recommendation: kind.recommendation_zh().into(),
            status,
        });
    }
    out
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likelihood_by_occurrences_and_control() {
        let table: &[(usize, bool, u8)] = &[
            (1, true, 1),
            (1, false, 3),
            (2, true, 2),
            (3, false, 4),
            (4, true, 3),
            (50, false, 5),
        ];
        for &(n, controlled, want) in table {
            assert_eq!(likelihood(n, controlled), want, "{n} {controlled}");
        }
    }

    #[test]
    fn impact_is_the_higher_of_level_and_severity() {
        let table: &[(u8, Severity, u8)] = &[
            (4, Severity::Low, 5),
            (1, Severity::Critical, 5),
            (3, Severity::Medium, 4),
            (2, Severity::High, 4),
            (2, Severity::None, 3),
            (0, Severity::None, 1),
            (9, Severity::None, 5),
        ];
        for &(level, sev, want) in table {
            assert_eq!(impact(level, sev), want, "L{level} {sev:?}");
        }
    }

    #[test]
    fn scores_map_to_levels_at_the_stated_bounds() {
        let table: &[(u8, RiskLevel)] = &[
            (1, RiskLevel::VeryLow),
            (3, RiskLevel::VeryLow),
            (4, RiskLevel::Low),
            (7, RiskLevel::Low),
            (8, RiskLevel::Medium),
            (14, RiskLevel::Medium),
            (15, RiskLevel::High),
            (19, RiskLevel::High),
            (20, RiskLevel::VeryHigh),
            (25, RiskLevel::VeryHigh),
        ];
        for &(score, want) in table {
            assert_eq!(rate(score), want, "score {score}");
        }
        // Every product of the two 1–5 scales has a level.
        for l in 1..=5u8 {
            for i in 1..=5u8 {
                let _ = rate(l * i);
            }
        }
    }

    fn issue(kind: Kind, level: u8, sev: Severity, blocked: bool, status: Status) -> Issue {
        Issue {
            id: String::new(),
            area: kind.area(),
            kind,
            title: String::new(),
            detail: String::new(),
            evidence: vec![],
            events: 1,
            max_level: level,
            severity: sev,
            blocked_only: blocked,
            status,
            risk: String::new(),
        }
    }

    #[test]
    fn risks_group_issues_by_kind_and_score_them() {
        let mut issues = vec![
            issue(Kind::Injection, 4, Severity::High, true, Status::Controlled),
            issue(Kind::BulkExport, 3, Severity::Critical, false, Status::Open),
            issue(Kind::Injection, 2, Severity::High, true, Status::Closed),
            issue(Kind::CatalogGap, 2, Severity::Medium, false, Status::Open),
        ];
        for (n, i) in issues.iter_mut().enumerate() {
            i.id = format!("Q-{n}");
        }
        let risks = risks(&mut issues);
        let got: Vec<(&str, Kind, u8, u8, RiskLevel, Status)> = risks
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.kind,
                    r.likelihood,
                    r.impact,
                    r.level,
                    r.status,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // Management first, then processing, then technical.
                (
                    "R-01",
                    Kind::CatalogGap,
                    3,
                    3,
                    RiskLevel::Medium,
                    Status::Open
                ),
                (
                    "R-02",
                    Kind::BulkExport,
                    3,
                    5,
                    RiskLevel::High,
                    Status::Open
                ),
                // Two injections, all blocked: likelihood 2; L4 data: impact 5.
                (
                    "R-03",
                    Kind::Injection,
                    2,
                    5,
                    RiskLevel::Medium,
                    Status::Controlled
                ),
            ]
        );
        assert_eq!(risks[2].issues, ["Q-0", "Q-2"]);
        assert_eq!(issues[0].risk, "R-03");
        assert_eq!(issues[1].risk, "R-02");
    }

    #[test]
    fn personal_data_turns_processing_alerts_into_personal_information_risks() {
        assert_eq!(
            kind_of_alert("bulk-exfiltration", true),
            Kind::PersonalInformation
        );
        assert_eq!(kind_of_alert("bulk-exfiltration", false), Kind::BulkExport);
        assert_eq!(kind_of_alert("injection-campaign", true), Kind::Injection);
        assert_eq!(kind_of_alert("something-new", false), Kind::OtherDetection);
    }
}
