//! The risk-assessment report (数据安全风险评估报告): the end of the analyzer's flow. It reads
//! one period of statements, alerts with their lifecycle, and drills from ClickHouse, the
//! data catalog and the accounts from the policy files, and lays them out as Chinese
//! data-security risk assessments are (GB/T 45577-2025 and its implementation guide).
//!
//! ```text
//!  ClickHouse (statements, alerts + lifecycle, drills) ─┐
//!  catalog, accounts, [report] ─────────────────────────┼─► gather::Facts ─► assemble ─► Report
//!                                                       │   (I/O)            (pure: risk::*)
//!                                  html / md / csv / json ◄───────────────────────────────┘
//! ```
//!
//! [`Report`] is the whole model (the JSON format is it, serialized); the renderers only
//! lay it out. Times are kept in UTC and shown at the platform's `utc-offset`.

pub mod config;
pub mod csv;
pub mod doc;
pub(crate) mod gather;
pub mod html;
pub mod md;
pub mod risk;
pub mod svg;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rules::account::Accounts;
use rules::catalog::{Catalog, Opening, Sharing};
use serde::Serialize;
use uuid::Uuid;

use crate::config::ClickHouseConfig;
use crate::event::{AlertState, Resolution, Severity};
pub use config::{ReportConfig, ReportRaw};
pub use gather::Facts;
use risk::{Area, Kind, RiskLevel, Status};

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("ClickHouse at {url}: {source}")]
    ClickHouse {
        url: String,
        source: clickhouse::error::Error,
    },
    #[error("ClickHouse at {url}: no answer within {timeout:?} (clickhouse.timeout)")]
    Timeout { url: String, timeout: Duration },
    #[error(
        "ClickHouse at {url} has no database `{database}` (clickhouse.database); nothing to report on"
    )]
    NoDatabase { url: String, database: String },
    #[error("the period is empty: --from {from} is not before --to {to}")]
    Period {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One self-contained HTML file (inline CSS and SVG charts), printable on A4.
    Html,
    Markdown,
    /// A folder with the appendices `issues.csv`, `risks.csv` and `alerts.csv`.
    Csv,
    /// The whole [`Report`] model.
    Json,
}

/// What a report is made from, besides ClickHouse.
pub struct Inputs<'a> {
    pub clickhouse: &'a ClickHouseConfig,
    pub catalog: &'a Catalog,
    pub accounts: Option<&'a Accounts>,
    pub settings: &'a ReportConfig,
    /// Seconds east of UTC at which times are shown (the analyzer's `utc-offset`).
    pub utc_offset: i32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Reads the period from ClickHouse and builds the report.
pub async fn build(inputs: &Inputs<'_>) -> Result<Report, ReportError> {
    if inputs.from >= inputs.to {
        return Err(ReportError::Period {
            from: inputs.from,
            to: inputs.to,
        });
    }
    let facts = gather::gather(inputs).await?;
    Ok(assemble(inputs, facts))
}

/// A time as given to `--from`/`--to`: RFC 3339 (`2025-06-01T08:00:00+08:00`), or
/// `YYYY-MM-DD[ HH:MM[:SS]]` at `utc_offset` (seconds east of UTC). A date alone is the
/// start of that day, or with `end_of_day` the start of the next (so `--to 2025-06-30`
/// includes the 30th).
pub fn parse_time(text: &str, utc_offset: i32, end_of_day: bool) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDateTime, TimeZone};
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let offset = FixedOffset::east_opt(utc_offset)?;
    let local = if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let d = if end_of_day { d.succ_opt()? } else { d };
        d.and_hms_opt(0, 0, 0)?
    } else {
        [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())?
    };
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// A rendered report: one document, or (CSV) a folder of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Document(String),
    /// (file name, contents)
    Files(Vec<(&'static str, String)>),
}

/// Lays `report` out in `format`.
pub fn render(report: &Report, format: Format) -> Result<Rendered, serde_json::Error> {
    Ok(match format {
        Format::Html => Rendered::Document(html::render(report)),
        Format::Markdown => Rendered::Document(md::render(report)),
        Format::Csv => Rendered::Files(csv::render(report)),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            Rendered::Document(s)
        }
    })
}

// ---------------------------------------------------------------------------------------
// The model.

/// A risk-assessment report for one period.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub meta: Meta,
    pub basic: BasicInfo,
    pub scope: Scope,
    pub conclusion: Conclusion,
    pub assets: Assets,
    pub access: AccessStats,
    pub risks: Vec<Risk>,
    pub issues: Vec<Issue>,
    pub alerts: AlertStats,
    pub drills: Vec<DrillResult>,
    pub catalog_gaps: Vec<CatalogGap>,
    pub remediation: Vec<Remediation>,
    pub sign_off: SignOff,
}

/// The cover: what this report is.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Report number, e.g. `TM-RA-20250601-20250630`.
    pub number: String,
    pub title: String,
    pub generated: DateTime<Utc>,
    /// The period, `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Seconds east of UTC at which times are shown.
    pub utc_offset: i32,
    /// Nothing was recorded in the period: no statement, API call, alert or drill.
    pub empty: bool,
    /// `tianmu <version>`.
    pub tool: String,
}

/// 评估对象基本信息.
#[derive(Debug, Clone, Serialize)]
pub struct BasicInfo {
    pub organization: Option<String>,
    pub platform: Option<String>,
    pub assessor_organization: Option<String>,
    /// ClickHouse URL and database the evidence comes from.
    pub evidence_store: String,
    /// Producers that recorded statements through a firewall, and through a sensor.
    pub firewalls: Vec<String>,
    pub sensors: Vec<String>,
    /// Database servers (`ip:port`) statements went to.
    pub servers: Vec<String>,
    /// Statements recorded by firewalls and by sensors (one statement may be seen by both).
    pub firewall_statements: u64,
    pub sensor_statements: u64,
    pub api_calls: u64,
    pub tables_catalogued: usize,
    /// Accounts in the accounts file; `None` when `[policy] accounts` is not configured.
    pub accounts_registered: Option<usize>,
}

/// 评估范围、方法与依据.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub standards: Vec<Standard>,
    /// The method, one step a line.
    pub method: Vec<String>,
    /// How likelihood, impact and the risk level are scored.
    pub scoring: Vec<String>,
    /// What the assessment could not see.
    pub limits: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Standard {
    pub code: String,
    pub title: String,
}

/// 评估结论.
#[derive(Debug, Clone, Serialize)]
pub struct Conclusion {
    /// The highest risk level found; `None` when no risk was found.
    pub overall: Option<RiskLevel>,
    /// Risks per level, highest first: (level, count).
    pub by_level: Vec<(RiskLevel, usize)>,
    pub summary: String,
}

/// 数据资产 (分类分级): the catalog, with how often each table was read in the period.
#[derive(Debug, Clone, Serialize)]
pub struct Assets {
    pub default_level: u8,
    pub tables: Vec<AssetTable>,
    pub by_category: Vec<CategoryCount>,
    /// Tables per level, index = level (0 unused).
    pub tables_by_level: [u64; 5],
    /// Columns per level, index = level (0 unused).
    pub columns_by_level: [u64; 5],
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetTable {
    pub name: String,
    pub title: String,
    pub category: String,
    pub level: u8,
    pub sharing: Sharing,
    pub opening: Opening,
    /// Columns per level, index = level (0 unused).
    pub columns: [u64; 5],
    /// Holds level-4 columns: treated as sensitive personal information.
    pub personal: bool,
    /// Statements that touched it in the period.
    pub statements: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub tables: u64,
    /// Columns per level, index = level (0 unused).
    pub columns: [u64; 5],
}

/// 数据访问统计.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessStats {
    pub statements: u64,
    pub blocked: u64,
    pub masked: u64,
    pub limited: u64,
    pub rows: u64,
    /// Statements by the highest level they touched, index = level (0: nothing classified).
    pub by_level: [u64; 5],
    pub accounts: Vec<AccountAccess>,
    /// Blocked statements by (account, rule), most first.
    pub blocked_groups: Vec<BlockedGroup>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountAccess {
    pub account: String,
    /// Listed in the accounts file (always true when none is configured).
    pub registered: bool,
    pub department: Option<String>,
    pub environment: Option<String>,
    pub clearance: Option<u8>,
    pub statements: u64,
    pub blocked: u64,
    pub masked: u64,
    pub limited: u64,
    pub rows: u64,
    /// Index = highest level touched (0: nothing classified).
    pub by_level: [u64; 5],
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedGroup {
    pub account: String,
    /// The rule that blocked (empty: the policy's default).
    pub rule: String,
    pub statements: u64,
    pub max_level: u8,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// One of the statements, normalized.
    pub sample: String,
}

/// A risk (风险清单 entry): issues of one kind, scored.
#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    pub id: String,
    pub area: Area,
    pub kind: Kind,
    pub title: String,
    pub description: String,
    /// Ids of the issues behind it.
    pub issues: Vec<String>,
    pub likelihood: u8,
    pub impact: u8,
    pub score: u8,
    pub level: RiskLevel,
    pub recommendation: String,
    pub status: Status,
}

/// A finding (问题清单 entry), with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub id: String,
    pub area: Area,
    pub kind: Kind,
    pub title: String,
    pub detail: String,
    /// Alert ids, or a description of the statements behind it.
    pub evidence: Vec<String>,
    /// Events behind it (statements, alerts, …).
    pub events: u64,
    pub max_level: u8,
    pub severity: Severity,
    /// Every attempt behind it was stopped by the firewall.
    pub blocked_only: bool,
    pub status: Status,
    /// The risk it belongs to.
    pub risk: String,
}

/// 告警统计. Drill alerts are listed but kept out of every count and time here.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertStats {
    /// Real alerts raised in the period.
    pub total: u64,
    /// Drill alerts raised in the period (excluded from the statistics).
    pub drill: u64,
    /// Real alerts by severity, index = `Severity as usize` (none, low, medium, high, critical).
    pub by_severity: [u64; 5],
    pub by_detector: Vec<DetectorCount>,
    /// Real alerts closed (or merged into another).
    pub closed: u64,
    /// closed / total; `None` without real alerts.
    pub closure_rate: Option<f64>,
    /// Mean time to acknowledge (first operator step), over real alerts that have one.
    pub mtta_secs: Option<f64>,
    /// Mean time to contain.
    pub mttc_secs: Option<f64>,
    /// Mean time to close (MTTR: raise to the close that stands).
    pub mttr_secs: Option<f64>,
    /// Real alerts acknowledged later than `acknowledge-within`, or not at all by the end.
    pub late_acknowledge: u64,
    /// Real alerts closed later than `close-within`, or not at all by the end.
    pub late_close: u64,
    /// Every alert raised in the period, drills included (flagged), oldest first.
    pub list: Vec<AlertItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectorCount {
    pub detector: String,
    /// Index = `Severity as usize`.
    pub by_severity: [u64; 5],
    pub total: u64,
    pub closed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertItem {
    pub alert_id: Uuid,
    pub detector: String,
    pub entity: String,
    pub severity: Severity,
    pub title: String,
    pub raised: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Raised by a drill.
    pub drill: bool,
    pub state: AlertState,
    pub resolution: Resolution,
    pub acknowledge_secs: Option<u64>,
    pub contain_secs: Option<u64>,
    pub close_secs: Option<u64>,
    /// Evidence events.
    pub evidence: usize,
    /// Highest level the evidence statements touched (0: none or unknown).
    pub max_level: u8,
    /// The evidence touched a table holding sensitive personal information.
    pub personal: bool,
    /// Every evidence statement was blocked by the firewall (the attempt failed).
    pub blocked: bool,
    /// The issue it is evidence of (none for drill alerts).
    pub issue: Option<String>,
}

/// 应急演练结果: one drill, timed from its first injection (or its start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillResult {
    pub drill_id: Uuid,
    pub scenario: String,
    pub started: DateTime<Utc>,
    pub alert_id: Option<Uuid>,
    pub detect_secs: Option<u64>,
    pub acknowledge_secs: Option<u64>,
    pub contain_secs: Option<u64>,
    pub close_secs: Option<u64>,
    pub outcome: DrillOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillOutcome {
    /// Reached `closed`.
    Completed,
    Aborted,
    /// Neither closed nor aborted by the end of the period.
    Unfinished,
}

/// 分类分级目录缺口: a table read in the period that the catalog does not list, or a
/// first access an account made to a table.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogGap {
    pub object: String,
    pub gap: GapKind,
    pub statements: u64,
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// Not in the catalog: its level is the catalog's default, not a decision.
    Uncatalogued,
    /// The first-access detector saw an account read it for the first time.
    FirstAccess,
}

/// 整改与处置状态: one real alert's handling.
#[derive(Debug, Clone, Serialize)]
pub struct Remediation {
    pub alert_id: Uuid,
    pub issue: Option<String>,
    pub detector: String,
    pub entity: String,
    pub state: AlertState,
    pub resolution: Resolution,
    pub status: Status,
    pub close_secs: Option<u64>,
}

/// 签署: names from `[report]`; the assessor's date is the report's, the others sign by hand.
#[derive(Debug, Clone, Serialize)]
pub struct SignOff {
    pub assessor: Option<String>,
    pub assessed_on: NaiveDate,
    pub reviewer: Option<String>,
    pub approver: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Labels (the report is written in Chinese).

/// The detector's name in Chinese.
pub fn detector_zh(d: &str) -> &str {
    match d {
        "bulk-exfiltration" => "批量导出",
        "off-hours" => "非工作时间访问",
        "first-access" => "首次访问",
        "non-production-account" => "非生产账号访问生产数据",
        "injection-campaign" => "注入攻击",
        "silent-producer" => "监测节点失联",
        "volume-anomaly" => "数据量异常",
        "auth-failure-burst" => "认证失败爆发",
        "bypass" => "绕过防火墙访问",
        "sharing-violation" => "共享属性违规",
        "flow-back" => "数据回流",
        other => other,
    }
}

pub fn severity_zh(s: Severity) -> &'static str {
    match s {
        Severity::None => "无",
        Severity::Low => "低",
        Severity::Medium => "中",
        Severity::High => "高",
        Severity::Critical => "严重",
    }
}

pub const SEVERITIES: [Severity; 5] = [
    Severity::None,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

pub fn state_zh(s: AlertState) -> &'static str {
    match s {
        AlertState::New => "新建",
        AlertState::Acknowledged => "已确认",
        AlertState::Assigned => "已分派",
        AlertState::InProgress => "处置中",
        AlertState::Pending => "挂起",
        AlertState::Contained => "已遏制",
        AlertState::Resolved => "已解决",
        AlertState::Closed => "已关闭",
        AlertState::Merged => "已合并",
        AlertState::Escalated => "已升级",
        AlertState::Reopened => "已重开",
        AlertState::SignedOff => "已复核",
        AlertState::Noted => "已备注",
        AlertState::Lifted => "已解除遏制",
    }
}

pub fn resolution_zh(r: Resolution) -> &'static str {
    match r {
        Resolution::None => "—",
        Resolution::TruePositiveWithImpact => "真实事件（有影响）",
        Resolution::TruePositiveWithoutImpact => "真实事件（无影响）",
        Resolution::FalsePositive => "误报",
        Resolution::LegitimateActivity => "合规业务活动",
        Resolution::Unknown => "无法判定",
    }
}

pub fn sharing_zh(s: Sharing) -> &'static str {
    match s {
        Sharing::Unconditional => "无条件共享",
        Sharing::Restricted => "有条件共享",
        Sharing::NotShared => "不予共享",
    }
}

pub fn opening_zh(o: Opening) -> &'static str {
    match o {
        Opening::Unconditional => "无条件开放",
        Opening::Restricted => "有条件开放",
        Opening::Forbidden => "禁止开放",
    }
}

/// Catalog categories in Chinese, for the ones the demo platform and common catalogs use.
pub fn category_zh(c: &str) -> &str {
    match c {
        "population" => "人口",
        "legal-person" => "法人",
        "credit" => "信用",
        "license" => "电子证照",
        "finance" => "金融",
        "open-data" => "开放数据",
        "geography" => "自然资源与空间地理",
        other => other,
    }
}

pub fn gap_zh(g: GapKind) -> &'static str {
    match g {
        GapKind::Uncatalogued => "未纳入分类分级目录",
        GapKind::FirstAccess => "账号首次访问（授权基线外）",
    }
}

pub fn outcome_zh(o: DrillOutcome) -> &'static str {
    match o {
        DrillOutcome::Completed => "已完成",
        DrillOutcome::Aborted => "已中止",
        DrillOutcome::Unfinished => "未完成",
    }
}

/// `1 h 05 min`, `3 min 20 s`, `45 s`; `—` for none.
pub fn duration_zh(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return "—".into();
    };
    let s = s.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let (big, small) = if d > 0 {
        (format!("{d}天"), (h > 0).then(|| format!("{h}小时")))
    } else if h > 0 {
        (format!("{h}小时"), (m > 0).then(|| format!("{m}分")))
    } else if m > 0 {
        (format!("{m}分"), (sec > 0).then(|| format!("{sec}秒")))
    } else {
        (format!("{sec}秒"), None)
    };
    big + small.as_deref().unwrap_or("")
}

/// `12.5%`; `—` for none.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or("—".into(), |r| format!("{:.1}%", r * 100.0))
}

impl Report {
    fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.meta.utc_offset)
            .unwrap_or(FixedOffset::east_opt(0).expect("UTC is a valid offset"))
    }

    /// `2025-06-01 08:00` at the platform's offset.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `2025年06月01日` at the platform's offset.
    pub fn date(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset())
            .format("%Y年%m月%d日")
            .to_string()
    }

    /// `UTC+08:00`.
    pub fn zone(&self) -> String {
        let o = self.meta.utc_offset;
        let sign = if o < 0 { '-' } else { '+' };
        let a = o.unsigned_abs();
        format!("UTC{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    }

    /// `[from, to)` as text.
    pub fn period(&self) -> String {
        format!(
            "{} 至 {}（{}，不含结束时刻）",
            self.time(self.meta.from),
            self.time(self.meta.to),
            self.zone()
        )
    }

    /// The sentence every format shows for a period without records.
    pub const EMPTY_NOTE: &'static str = "本评估期内未采集到任何数据访问记录、接口调用、告警或应急演练记录。以下各章据此如实呈现：资产清单来自分类分级目录，其余章节为空。请确认评估期与监测部署是否正确。";

    /// The risks of `area`, in id order.
    pub fn risks_in(&self, area: Area) -> impl Iterator<Item = &Risk> {
        self.risks.iter().filter(move |r| r.area == area)
    }

    pub fn issue(&self, id: &str) -> Option<&Issue> {
        self.issues.iter().find(|i| i.id == id)
    }
}

// ---------------------------------------------------------------------------------------
// Assembling: facts → report.

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

fn mean(values: impl Iterator<Item = u64>) -> Option<f64> {
    let (mut n, mut sum) = (0u64, 0f64);
    for v in values {
        n += 1;
        sum += v as f64;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Splits a touched object's catalog-style name, `database[.schema].table`.
fn split_object(name: &str) -> Option<(&str, Option<&str>, &str)> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        [d, t] => Some((d, None, t)),
        [d, s, t] => Some((d, Some(s), t)),
        _ => None,
    }
}

/// System schemas and databases: reads of them are not reads of data assets.
fn is_system(name: &str) -> bool {
    name.split('.').any(|p| {
        matches!(
            p.to_ascii_lowercase().as_str(),
            "pg_catalog" | "information_schema" | "mysql" | "performance_schema" | "sys"
        )
    })
}

/// Builds the report from what was read (no I/O: unit-testable).
pub fn assemble(inputs: &Inputs<'_>, facts: Facts) -> Report {
    let settings = inputs.settings;
    let catalog = inputs.catalog;
    let local_day = |t: DateTime<Utc>| {
        t.with_timezone(
            &FixedOffset::east_opt(inputs.utc_offset)
                .unwrap_or(FixedOffset::east_opt(0).expect("UTC is a valid offset")),
        )
        .format("%Y%m%d")
        .to_string()
    };
    let last_second = inputs.to - chrono::Duration::seconds(1);
    let meta = Meta {
        number: format!(
            "TM-RA-{}-{}",
            local_day(inputs.from),
            local_day(last_second.max(inputs.from))
        ),
        title: "数据安全风险评估报告".into(),
        generated: inputs.now,
        from: inputs.from,
        to: inputs.to,
        utc_offset: inputs.utc_offset,
        empty: facts.is_empty(),
        tool: format!("tianmu {}", env!("CARGO_PKG_VERSION")),
    };

    // Assets: the catalog, with the period's statements per table.
    let mut touched: HashMap<String, u64> = HashMap::new();
    let mut gaps = Vec::new();
    for o in &facts.objects {
        if is_system(&o.object) {
            continue;
        }
        let table = split_object(&o.object).and_then(|(d, s, t)| catalog.table(d, s, t));
        match table {
            Some(t) => *touched.entry(t.name.to_string()).or_default() += o.statements,
            None => gaps.push(CatalogGap {
                object: o.object.clone(),
                gap: GapKind::Uncatalogued,
                statements: o.statements,
                accounts: o.accounts.clone(),
            }),
        }
    }
    let mut tables = Vec::new();
    let mut tables_by_level = [0u64; 5];
    let mut columns_by_level = [0u64; 5];
    let mut categories: BTreeMap<String, CategoryCount> = BTreeMap::new();
    for t in catalog.tables() {
        let mut columns = [0u64; 5];
        for c in &t.columns {
            columns[usize::from(c.level.min(4))] += 1;
        }
        let level = t.level.min(4);
        tables_by_level[usize::from(level)] += 1;
        let cat = categories
            .entry(t.category.clone())
            .or_insert_with(|| CategoryCount {
                category: t.category.clone(),
                tables: 0,
                columns: [0; 5],
            });
        cat.tables += 1;
        for l in 1..5 {
            cat.columns[l] += columns[l];
            columns_by_level[l] += columns[l];
        }
        let name = t.name.to_string();
        tables.push(AssetTable {
            statements: touched.get(&name).copied().unwrap_or(0),
            name,
            title: t.title.clone(),
            category: t.category.clone(),
            level,
            sharing: t.sharing,
            opening: t.opening,
            personal: columns[4] > 0,
            columns,
        });
    }
    let personal_tables: HashSet<String> = tables
        .iter()
        .filter(|t| t.personal)
        .map(|t| t.name.clone())
        .collect();
    let is_personal = |object: &str| {
        split_object(object)
            .and_then(|(d, s, t)| catalog.table(d, s, t))
            .is_some_and(|t| personal_tables.contains(&t.name.to_string()))
    };
    let assets = Assets {
        default_level: catalog.default_level,
        tables,
        by_category: categories.into_values().collect(),
        tables_by_level,
        columns_by_level,
    };

    // Access by account and level.
    let mut access = AccessStats::default();
    let mut by_account: BTreeMap<String, AccountAccess> = BTreeMap::new();
    for r in &facts.access {
        let l = usize::from(r.level.min(4));
        let a = by_account.entry(r.account.clone()).or_insert_with(|| {
            let acc = inputs.accounts.and_then(|x| x.get(&r.account));
            AccountAccess {
                account: r.account.clone(),
                registered: inputs.accounts.is_none() || acc.is_some(),
                department: acc.map(|a| a.department.clone()).filter(|d| !d.is_empty()),
                environment: acc.map(|a| {
                    serde_json::to_value(a.environment)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                }),
                clearance: acc.map(|a| a.clearance),
                ..AccountAccess::default()
            }
        });
        a.statements += r.statements;
        a.blocked += r.blocked;
        a.masked += r.masked;
        a.limited += r.limited;
        a.rows += r.rows;
        a.by_level[l] += r.statements;
        access.statements += r.statements;
        access.blocked += r.blocked;
        access.masked += r.masked;
        access.limited += r.limited;
        access.rows += r.rows;
        access.by_level[l] += r.statements;
    }
    access.accounts = by_account.into_values().collect();
    access.blocked_groups = facts
        .blocked
        .iter()
        .map(|b| BlockedGroup {
            account: b.account.clone(),
            rule: b.rule.clone(),
            statements: b.statements,
            max_level: b.level,
            first: gather::at(b.first),
            last: gather::at(b.last),
            sample: b.sample.clone(),
        })
        .collect();

    // Alerts with their handling.
    let ack_target = settings.acknowledge_within.as_secs();
    let close_target = settings.close_within.as_secs();
    let elapsed = |raised: DateTime<Utc>| (inputs.now - raised).num_seconds().max(0) as u64;
    let mut alerts = AlertStats::default();
    let mut detectors: BTreeMap<String, DetectorCount> = BTreeMap::new();
    for a in &facts.alerts {
        let sla = a.timeline.sla();
        let (level, personal, blocked_only) =
            facts.evidence_summary(&a.alert.evidence, &is_personal);
        let state = a.timeline.state();
        let closed = !a.timeline.is_open();
        let item = AlertItem {
            alert_id: a.alert.alert_id,
            detector: a.alert.detector.clone(),
            entity: a.alert.entity.clone(),
            severity: a.alert.severity,
            title: a.alert.title.clone(),
            raised: a.raised,
            window_start: a.alert.window_start,
            window_end: a.alert.window_end,
            drill: a.drill,
            state,
            resolution: a.timeline.resolution(),
            acknowledge_secs: secs(sla.acknowledge),
            contain_secs: secs(sla.contain),
            close_secs: secs(sla.close),
            evidence: a.alert.evidence.len(),
            max_level: level,
            personal,
            blocked: blocked_only,
            issue: None,
        };
        if !a.drill {
            alerts.total += 1;
            alerts.by_severity[a.alert.severity as usize] += 1;
            let d = detectors
                .entry(a.alert.detector.clone())
                .or_insert_with(|| DetectorCount {
                    detector: a.alert.detector.clone(),
                    by_severity: [0; 5],
                    total: 0,
                    closed: 0,
                });
            d.by_severity[a.alert.severity as usize] += 1;
            d.total += 1;
            if closed {
                alerts.closed += 1;
                d.closed += 1;
            }
            if item
                .acknowledge_secs
                .map_or(elapsed(a.raised) > ack_target, |s| s > ack_target)
            {
                alerts.late_acknowledge += 1;
            }
            if item
                .close_secs
                .map_or(elapsed(a.raised) > close_target, |s| s > close_target)
            {
                alerts.late_close += 1;
            }
        } else {
            alerts.drill += 1;
        }
        alerts.list.push(item);
    }
    alerts.list.sort_by_key(|a| (a.raised, a.alert_id));
    let real = || alerts.list.iter().filter(|a| !a.drill);
    alerts.mtta_secs = mean(real().filter_map(|a| a.acknowledge_secs));
    alerts.mttc_secs = mean(real().filter_map(|a| a.contain_secs));
    alerts.mttr_secs = mean(real().filter_map(|a| a.close_secs));
    alerts.closure_rate = (alerts.total > 0).then(|| alerts.closed as f64 / alerts.total as f64);
    alerts.by_detector = detectors.into_values().collect();

    // First accesses are catalog gaps too: a use of data outside the account's baseline.
    for a in real().filter(|a| a.detector == "first-access") {
        let (account, object) = a
            .entity
            .split_once(" → ")
            .unwrap_or(("", a.entity.as_str()));
        gaps.push(CatalogGap {
            object: object.to_owned(),
            gap: GapKind::FirstAccess,
            statements: a.evidence as u64,
            accounts: vec![account.to_owned()],
        });
    }

    // Drills.
    let drills = gather::drill_results(&facts.drills);

    // Issues, then risks from them.
    let mut issues = risk::issues(&risk::Findings {
        alerts: &alerts.list,
        blocked: &access.blocked_groups,
        gaps: &gaps,
        accounts: &access.accounts,
        drills: &drills,
        late_acknowledge: alerts.late_acknowledge,
        late_close: alerts.late_close,
        acknowledge_within: settings.acknowledge_within,
        close_within: settings.close_within,
        default_level: catalog.default_level,
    });
    let risks = risk::risks(&mut issues);
    for a in &mut alerts.list {
        a.issue = issues
            .iter()
            .find(|i| i.evidence.iter().any(|e| *e == a.alert_id.to_string()))
            .map(|i| i.id.clone());
    }
    let remediation = alerts
        .list
        .iter()
        .filter(|a| !a.drill)
        .map(|a| Remediation {
            alert_id: a.alert_id,
            issue: a.issue.clone(),
            detector: a.detector.clone(),
            entity: a.entity.clone(),
            state: a.state,
            resolution: a.resolution,
            status: risk::alert_status(a.state),
            close_secs: a.close_secs,
        })
        .collect();

    let conclusion = conclusion(&risks, meta.empty, &alerts);
    let basic = BasicInfo {
        organization: settings.organization.clone(),
        platform: settings.platform.clone(),
        assessor_organization: settings.assessor_organization.clone(),
        evidence_store: format!(
            "ClickHouse {} / {}",
            inputs.clickhouse.url, inputs.clickhouse.database
        ),
        firewalls: facts.firewalls.clone(),
        sensors: facts.sensors.clone(),
        servers: facts.servers.clone(),
        firewall_statements: facts.firewall_statements,
        sensor_statements: facts.sensor_statements,
        api_calls: facts.api_calls,
        tables_catalogued: catalog.tables().len(),
        accounts_registered: inputs.accounts.map(|a| a.iter().count()),
    };
    Report {
        meta,
        basic,
        scope: scope(settings),
        conclusion,
        assets,
        access,
        risks,
        issues,
        alerts,
        drills,
        catalog_gaps: gaps,
        remediation,
        sign_off: SignOff {
            assessor: settings.assessor.clone(),
            assessed_on: inputs
                .now
                .with_timezone(
                    &FixedOffset::east_opt(inputs.utc_offset)
                        .unwrap_or(FixedOffset::east_opt(0).expect("UTC is a valid offset")),
                )
                .date_naive(),
            reviewer: settings.reviewer.clone(),
            approver: settings.approver.clone(),
        },
    }
}

fn conclusion(risks: &[Risk], empty: bool, alerts: &AlertStats) -> Conclusion {
    let overall = risks.iter().map(|r| r.level).max();
    let by_level: Vec<(RiskLevel, usize)> = RiskLevel::ALL
        .iter()
        .rev()
        .map(|l| (*l, risks.iter().filter(|r| r.level == *l).count()))
        .collect();
    let summary = if empty {
        "本评估期内无监测记录，未能识别风险；该结论不代表平台不存在风险。".to_owned()
    } else if risks.is_empty() {
        "本评估期内监测数据未显示数据安全风险。".to_owned()
    } else {
        let counts: Vec<String> = by_level
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(l, n)| format!("{}风险{n}项", l.zh()))
            .collect();
        format!(
            "本评估期共识别风险{}项（{}），整体风险等级为“{}”。评估期内产生告警{}条（不含演练告警{}条），关闭率{}。",
            risks.len(),
            counts.join("，"),
            overall.map_or("—", RiskLevel::zh),
            alerts.total,
            alerts.drill,
            percent(alerts.closure_rate),
        )
    };
    Conclusion {
        overall,
        by_level,
        summary,
    }
}

fn scope(settings: &ReportConfig) -> Scope {
    let standard = |code: &str, title: &str| Standard {
        code: code.into(),
        title: title.into(),
    };
    Scope {
        standards: vec![
            standard("GB/T 45577-2025", "数据安全技术 数据安全风险评估方法"),
            standard("GB/T 43697-2024", "数据安全技术 数据分类分级规则"),
            standard("GB/T 35273-2020", "信息安全技术 个人信息安全规范"),
            standard("GB/T 22239-2019", "信息安全技术 网络安全等级保护基本要求"),
            standard("—", "《中华人民共和国数据安全法》《中华人民共和国个人信息保护法》"),
            standard("—", "《浙江省公共数据条例》"),
        ],
        method: vec![
            "评估准备：确定评估对象为被评估平台的数据库访问与共享接口，评估期如封面所示。".into(),
            "资产识别：以策略配置中的分类分级目录为准，统计数据表与字段的类别和级别（1–4级）。".into(),
            "数据处理活动梳理：统计评估期内经数据库防火墙与旁路探针记录的全部语句，按账号和所涉最高级别汇总。".into(),
            "风险识别：以检测器产生的告警和防火墙阻断的语句为证据，归入数据安全管理、数据处理活动、数据安全技术、个人信息保护四个方面，形成问题清单。".into(),
            "风险分析与评价：对同类问题合并为风险项，按“可能性×影响程度”计算风险值并定级，形成风险清单。".into(),
            "处置核查：依据告警处置流转记录核查确认、遏制与关闭情况，计算关闭率、平均确认时长（MTTA）与平均关闭时长（MTTR），演练告警不计入。".into(),
        ],
        scoring: vec![
            "可能性（1–5）：按同类问题出现次数与控制措施是否奏效取值——出现1次、2–3次、4次及以上时，若全部被防火墙阻断分别取1、2、3，否则分别取3、4、5。".into(),
            "影响程度（1–5）：取所涉数据最高级别与告警严重程度两者中的较高者——4级数据或“严重”取5，3级或“高”取4，2级或“中”取3，1级或“低”取2，其余取1。".into(),
            "风险值 = 可能性 × 影响程度（1–25）；风险等级：20–25 很高，15–19 高，8–14 中，4–7 低，1–3 很低。".into(),
            format!(
                "处置时限：告警应在{}内确认、在{}内关闭（配置项 [report] acknowledge-within / close-within）。",
                duration_zh(Some(settings.acknowledge_within.as_secs_f64())),
                duration_zh(Some(settings.close_within.as_secs_f64()))
            ),
        ],
        limits: vec![
            "本报告依据平台自动采集的技术监测数据，数据安全管理制度、组织机构、人员培训等事项需结合文档审查与人员访谈另行评估。".into(),
            "含4级字段的数据表视为含敏感个人信息。".into(),
            "同一语句可能同时被数据库防火墙和旁路探针记录，访问统计包含两者。".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_bounds_parse_at_the_platform_offset() {
        let cst = 8 * 3600;
        let t = |s: &str, end: bool| parse_time(s, cst, end).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2025-06-01", false).as_deref(),
            Some("2025-05-31T16:00:00+00:00")
        );
        assert_eq!(
            t("2025-06-30", true).as_deref(),
            Some("2025-06-30T16:00:00+00:00")
        );
        assert_eq!(
            t("2025-06-01 08:30", true).as_deref(),
            Some("2025-06-01T00:30:00+00:00")
        );
        assert_eq!(
            t("2025-06-01T08:30:15", false).as_deref(),
            Some("2025-06-01T00:30:15+00:00")
        );
        assert_eq!(
            t("2025-06-01T08:30:00Z", false).as_deref(),
            Some("2025-06-01T08:30:00+00:00")
        );
        assert_eq!(t("yesterday", false), None);
        assert_eq!(t("2025-02-30", false), None);
    }

    #[test]
    fn durations_and_rates_read_in_chinese() {
        assert_eq!(duration_zh(None), "—");
        assert_eq!(duration_zh(Some(45.2)), "45秒");
        assert_eq!(duration_zh(Some(200.0)), "3分20秒");
        assert_eq!(duration_zh(Some(3900.0)), "1小时5分");
        assert_eq!(duration_zh(Some(90_000.0)), "1天1小时");
        assert_eq!(duration_zh(Some(1800.0)), "30分");
        assert_eq!(duration_zh(Some(7200.0)), "2小时");
        assert_eq!(duration_zh(Some(0.0)), "0秒");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(percent(None), "—");
    }
}
