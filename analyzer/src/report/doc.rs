//! The report as a document: the chapters in order, as blocks (headings, paragraphs,
//! tables, charts) that the HTML and Markdown renderers lay out each in their own way, so
//! that both say the same thing in the same order.
//!
//! Order (after GB/T 45577's report structure): cover and declaration; summary; 1 overview
//! (basic information, scope and period, standards, method and scoring); 2 assets; 3 access;
//! 4 risks by area with their evidence; 5 issue list; 6 risk list; 7 alerts and their
//! handling; 8 drills; 9 catalog gaps; 10 remediation; 11 sign-off.

use super::risk::{Area, Status};
use super::svg::{self, Bar, LEVEL_COLORS, SEVERITY_COLORS};
use super::*;

/// One block of the document.
#[derive(Debug, Clone)]
pub enum Block {
    /// The cover page: title, subtitle and fields.
    Cover {
        title: String,
        subtitle: String,
        fields: Vec<(String, String)>,
    },
    /// A chapter heading; a chapter starts on a new page when printed.
    Chapter(String),
    Heading(String),
    Para(String),
    /// Stands out: the empty-period notice, limits.
    Note(String),
    /// A numbered list.
    List(Vec<String>),
    /// A two-column table of names and values.
    Fields(Vec<(String, String)>),
    Table(Table),
    /// Key figures, shown as cards: (label, value).
    Figures(Vec<(String, String)>),
    /// Inline SVG charts (HTML only).
    Charts(Vec<String>),
    /// Sign-off: (role, name, date), blank where signed by hand.
    Signatures(Vec<(String, Option<String>, Option<String>)>),
}

#[derive(Debug, Clone)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Shown instead of rows when there are none.
    pub empty: String,
    /// Columns whose cells are levels or severities, shown as coloured badges.
    pub badges: Vec<usize>,
}

fn table(head: &[&str], rows: Vec<Vec<String>>, empty: &str) -> Block {
    Block::Table(Table {
        head: head.iter().map(|s| (*s).to_owned()).collect(),
        rows,
        empty: empty.into(),
        badges: Vec::new(),
    })
}

fn badged(head: &[&str], rows: Vec<Vec<String>>, empty: &str, badges: &[usize]) -> Block {
    Block::Table(Table {
        head: head.iter().map(|s| (*s).to_owned()).collect(),
        rows,
        empty: empty.into(),
        badges: badges.to_vec(),
    })
}

fn or_blank(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "（未填写）".into())
}

fn n(v: u64) -> String {
    // Thousands separators: 1,234,567.
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn level(l: u8) -> String {
    if l == 0 {
        "—".into()
    } else {
        format!("{l}级")
    }
}

fn secs(v: Option<u64>) -> String {
    duration_zh(v.map(|s| s as f64))
}

fn list_or(v: &[String], none: &str) -> String {
    if v.is_empty() {
        none.into()
    } else {
        v.join("、")
    }
}

/// Ids shortened to the shortest prefix (at least 8 characters) that tells every alert and
/// drill of the report apart: what an operator types to find one.
struct Short(usize);

impl Short {
    fn new(r: &Report) -> Short {
        let ids: Vec<String> = r
            .alerts
            .list
            .iter()
            .map(|a| a.alert_id.to_string())
            .chain(r.drills.iter().map(|d| d.drill_id.to_string()))
            .collect();
        let mut len = 8;
        while len < 36 {
            let mut seen = std::collections::HashSet::new();
            if ids
                .iter()
                .all(|id| seen.insert(id.get(..len).unwrap_or(id)))
            {
                break;
            }
            len += 1;
        }
        Short(len)
    }

    fn of(&self, id: &str) -> String {
        id.get(..self.0).unwrap_or(id).to_owned()
    }
}

const CN: [&str; 11] = [
    "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一",
];

/// The document for `r`.
pub fn blocks(r: &Report) -> Vec<Block> {
    let short = Short::new(r);
    let mut out = Vec::new();
    let mut chapter = 0usize;
    let mut ch = |out: &mut Vec<Block>, title: &str| {
        out.push(Block::Chapter(format!("{}、{title}", CN[chapter.min(10)])));
        chapter += 1;
    };
    let empty = |out: &mut Vec<Block>| {
        if r.meta.empty {
            out.push(Block::Note(Report::EMPTY_NOTE.into()));
        }
    };

    // Cover and declaration.
    out.push(Block::Cover {
        title: r.meta.title.clone(),
        subtitle: r
            .basic
            .platform
            .clone()
            .unwrap_or_else(|| "公共数据平台".into()),
        fields: vec![
            ("报告编号".into(), r.meta.number.clone()),
            ("被评估单位".into(), or_blank(&r.basic.organization)),
            ("被评估平台".into(), or_blank(&r.basic.platform)),
            ("评估单位".into(), or_blank(&r.basic.assessor_organization)),
            ("评估期".into(), r.period()),
            ("报告日期".into(), r.date(r.meta.generated)),
        ],
    });
    out.push(Block::Heading("评估声明（Declaration）".into()));
    out.push(Block::List(vec![
        "本报告依据天目（Tianmu）数据安全监测系统在评估期内自动采集的监测记录编制，评估结论仅反映被评估平台在评估期内的状况。".into(),
        "评估结论以监测记录完整、真实为前提；监测未覆盖的系统、时段以及管理制度类事项不在本报告结论范围之内。".into(),
        "评估期结束后被评估平台的系统、数据、账号或策略发生变化的，本报告的相关结论可能不再适用。".into(),
        "引用本报告应保持原意，不得删改、拼接或断章取义。".into(),
        "本报告经评估人编制、审核人审核、批准人批准后生效。".into(),
    ]));

    // Summary.
    out.push(Block::Chapter("报告摘要（Summary）".into()));
    empty(&mut out);
    out.push(Block::Para(r.conclusion.summary.clone()));
    out.push(Block::Figures(vec![
        (
            "整体风险等级".into(),
            r.conclusion
                .overall
                .map_or("—".into(), |l| l.zh().to_owned()),
        ),
        ("风险项".into(), r.risks.len().to_string()),
        ("问题项".into(), r.issues.len().to_string()),
        ("告警（不含演练）".into(), n(r.alerts.total)),
        ("告警关闭率".into(), percent(r.alerts.closure_rate)),
        ("平均确认时长 MTTA".into(), duration_zh(r.alerts.mtta_secs)),
        ("平均关闭时长 MTTR".into(), duration_zh(r.alerts.mttr_secs)),
        ("访问语句".into(), n(r.access.statements)),
        ("阻断语句".into(), n(r.access.blocked)),
    ]));
    let by_area: Vec<Bar> = Area::ALL
        .iter()
        .map(|a| Bar {
            label: a.zh().into(),
            value: r.risks_in(*a).count() as u64,
            color: "#3b6ea5",
        })
        .collect();
    out.push(Block::Charts(vec![
        svg::risk_matrix(
            "风险矩阵（可能性 × 影响程度）",
            &r.risks
                .iter()
                .map(|x| (x.likelihood, x.impact))
                .collect::<Vec<_>>(),
        ),
        svg::bars("各方面风险项数", &by_area),
    ]));

    // 1 Overview.
    ch(&mut out, "评估概述（Overview）");
    out.push(Block::Heading(
        "1.1 评估对象基本信息（Assessed platform）".into(),
    ));
    let b = &r.basic;
    out.push(Block::Fields(vec![
        ("被评估单位".into(), or_blank(&b.organization)),
        ("被评估平台".into(), or_blank(&b.platform)),
        ("评估单位".into(), or_blank(&b.assessor_organization)),
        ("监测证据来源".into(), b.evidence_store.clone()),
        (
            "数据库防火墙节点".into(),
            list_or(&b.firewalls, "评估期内无记录"),
        ),
        ("旁路监测探针".into(), list_or(&b.sensors, "评估期内无记录")),
        (
            "受保护数据库服务".into(),
            list_or(&b.servers, "评估期内无记录"),
        ),
        ("防火墙记录语句".into(), n(b.firewall_statements)),
        ("探针记录语句".into(), n(b.sensor_statements)),
        ("共享接口调用".into(), n(b.api_calls)),
        ("分类分级目录数据表".into(), b.tables_catalogued.to_string()),
        (
            "登记账号".into(),
            b.accounts_registered
                .map_or("未配置账号清单".into(), |n| n.to_string()),
        ),
    ]));
    out.push(Block::Heading(
        "1.2 评估范围与评估期（Scope and period）".into(),
    ));
    out.push(Block::Para(format!(
        "评估范围为被评估平台经数据库防火墙和旁路探针监测的数据库访问、共享接口调用、安全告警及其处置记录和应急演练记录。评估期为{}。报告生成于{}，处置状态截至该时刻。",
        r.period(),
        r.time(r.meta.generated)
    )));
    out.push(Block::Heading("1.3 评估依据（Standards）".into()));
    out.push(table(
        &["编号", "名称"],
        r.scope
            .standards
            .iter()
            .map(|s| vec![s.code.clone(), s.title.clone()])
            .collect(),
        "",
    ));
    out.push(Block::Heading("1.4 评估方法（Method）".into()));
    out.push(Block::List(r.scope.method.clone()));
    out.push(Block::Heading("1.5 风险计算方法（Scoring）".into()));
    out.push(Block::List(r.scope.scoring.clone()));
    out.push(Block::Heading("1.6 评估局限（Limits）".into()));
    out.push(Block::List(r.scope.limits.clone()));

    // 2 Assets.
    ch(&mut out, "数据资产识别（Asset inventory）");
    let a = &r.assets;
    out.push(Block::Para(format!(
        "分类分级目录共登记数据表{}张、字段{}个；未登记的数据表与字段按默认级别{}级处理。",
        a.tables.len(),
        a.columns_by_level.iter().sum::<u64>(),
        a.default_level
    )));
    out.push(Block::Charts(vec![svg::bars(
        "字段按级别分布",
        &(1..5)
            .map(|l| Bar {
                label: format!("{l}级"),
                value: a.columns_by_level[l],
                color: LEVEL_COLORS[l],
            })
            .collect::<Vec<_>>(),
    )]));
    out.push(Block::Heading("2.1 按类别统计（By category）".into()));
    out.push(table(
        &["类别", "数据表", "1级字段", "2级字段", "3级字段", "4级字段"],
        a.by_category
            .iter()
            .map(|c| {
                let mut row = vec![
                    format!("{}（{}）", category_zh(&c.category), c.category),
                    c.tables.to_string(),
                ];
                row.extend((1..5).map(|l| c.columns[l].to_string()));
                row
            })
            .collect(),
        "分类分级目录为空",
    ));
    out.push(Block::Heading("2.2 数据表清单（Tables）".into()));
    out.push(badged(
        &[
            "数据表",
            "名称",
            "类别",
            "级别",
            "共享属性",
            "开放属性",
            "敏感个人信息",
            "评估期访问",
        ],
        a.tables
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.title.clone(),
                    category_zh(&t.category).to_owned(),
                    level(t.level),
                    sharing_zh(t.sharing).into(),
                    opening_zh(t.opening).into(),
                    if t.personal { "是" } else { "否" }.into(),
                    n(t.statements),
                ]
            })
            .collect(),
        "分类分级目录为空",
        &[3],
    ));

    // 3 Access.
    ch(&mut out, "数据访问统计（Access statistics）");
    empty(&mut out);
    let x = &r.access;
    out.push(Block::Figures(vec![
        ("访问语句".into(), n(x.statements)),
        ("阻断".into(), n(x.blocked)),
        ("脱敏".into(), n(x.masked)),
        ("限量".into(), n(x.limited)),
        ("返回行数".into(), n(x.rows)),
        ("访问账号".into(), x.accounts.len().to_string()),
    ]));
    out.push(Block::Charts(vec![
        svg::bars(
            "访问语句按所涉最高级别",
            &(0..5)
                .map(|l| Bar {
                    label: if l == 0 {
                        "未分级".into()
                    } else {
                        format!("{l}级")
                    },
                    value: x.by_level[l],
                    color: LEVEL_COLORS[l],
                })
                .collect::<Vec<_>>(),
        ),
        svg::bars(
            "访问语句按账号",
            &x.accounts
                .iter()
                .map(|a| Bar {
                    label: a.account.clone(),
                    value: a.statements,
                    color: "#3b6ea5",
                })
                .collect::<Vec<_>>(),
        ),
    ]));
    out.push(Block::Heading(
        "3.1 按账号和级别（By account and level）".into(),
    ));
    out.push(table(
        &[
            "账号",
            "部门 / 环境 / 许可级别",
            "语句",
            "未分级",
            "1级",
            "2级",
            "3级",
            "4级",
            "阻断",
            "脱敏",
            "限量",
            "返回行数",
        ],
        x.accounts
            .iter()
            .map(|a| {
                let who = if a.registered {
                    format!(
                        "{} / {} / {}",
                        a.department.clone().unwrap_or_else(|| "—".into()),
                        a.environment.clone().unwrap_or_else(|| "—".into()),
                        a.clearance.map_or("—".into(), |c| format!("{c}级"))
                    )
                } else {
                    "未登记".into()
                };
                let mut row = vec![a.account.clone(), who, n(a.statements)];
                row.extend(a.by_level.iter().map(|v| n(*v)));
                row.extend([n(a.blocked), n(a.masked), n(a.limited), n(a.rows)]);
                row
            })
            .collect(),
        "评估期内无访问记录",
    ));
    out.push(Block::Heading(
        "3.2 被阻断的语句（Blocked statements）".into(),
    ));
    out.push(table(
        &[
            "账号",
            "阻断规则",
            "语句数",
            "最高级别",
            "首次",
            "末次",
            "语句示例",
        ],
        x.blocked_groups
            .iter()
            .map(|g| {
                vec![
                    g.account.clone(),
                    if g.rule.is_empty() {
                        "默认策略".into()
                    } else {
                        g.rule.clone()
                    },
                    n(g.statements),
                    level(g.max_level),
                    r.time(g.first),
                    r.time(g.last),
                    risk::truncate(&g.sample, 80),
                ]
            })
            .collect(),
        "评估期内无被阻断的语句",
    ));

    // 4 Risks by area.
    ch(&mut out, "风险识别与分析（Risks by area）");
    empty(&mut out);
    out.push(Block::Para(
        "按数据安全管理、数据处理活动、数据安全技术、个人信息保护四个方面列示识别出的风险及其证据（告警与被阻断的语句）。".into(),
    ));
    for (i, area) in Area::ALL.iter().enumerate() {
        out.push(Block::Heading(format!("4.{} {}", i + 1, area.zh())));
        out.push(Block::Para(area.scope_zh().into()));
        let risks: Vec<&Risk> = r.risks_in(*area).collect();
        if risks.is_empty() {
            out.push(Block::Para("评估期内本方面未发现风险。".into()));
            continue;
        }
        for k in risks {
            out.push(Block::Para(format!(
                "【{}】{}（风险等级：{}，风险值 {} = 可能性 {} × 影响程度 {}）。{}",
                k.id,
                k.title,
                k.level.zh(),
                k.score,
                k.likelihood,
                k.impact,
                k.description
            )));
            out.push(table(
                &["问题", "描述", "证据", "状态"],
                k.issues
                    .iter()
                    .filter_map(|id| r.issue(id))
                    .map(|q| {
                        vec![
                            q.id.clone(),
                            format!("{}。{}", q.title, q.detail),
                            q.evidence
                                .iter()
                                .map(|e| evidence_text(r, &short, e))
                                .collect::<Vec<_>>()
                                .join("；"),
                            q.status.zh().into(),
                        ]
                    })
                    .collect(),
                "",
            ));
        }
    }

    // 5 Issue list.
    ch(&mut out, "问题清单（Issue list）");
    empty(&mut out);
    out.push(badged(
        &[
            "编号",
            "方面",
            "问题",
            "涉及事件",
            "最高级别",
            "严重程度",
            "状态",
            "所属风险",
        ],
        r.issues
            .iter()
            .map(|q| {
                vec![
                    q.id.clone(),
                    q.area.zh().into(),
                    q.title.clone(),
                    n(q.events),
                    level(q.max_level),
                    severity_zh(q.severity).into(),
                    q.status.zh().into(),
                    q.risk.clone(),
                ]
            })
            .collect(),
        "评估期内未发现问题",
        &[5],
    ));

    // 6 Risk list.
    ch(&mut out, "风险清单（Risk list）");
    empty(&mut out);
    out.push(badged(
        &[
            "编号",
            "方面",
            "风险",
            "可能性",
            "影响程度",
            "风险值",
            "风险等级",
            "关联问题",
            "状态",
        ],
        r.risks
            .iter()
            .map(|k| {
                vec![
                    k.id.clone(),
                    k.area.zh().into(),
                    k.title.clone(),
                    k.likelihood.to_string(),
                    k.impact.to_string(),
                    k.score.to_string(),
                    k.level.zh().into(),
                    k.issues.join("、"),
                    k.status.zh().into(),
                ]
            })
            .collect(),
        "评估期内未识别出风险",
        &[6],
    ));
    out.push(Block::Para("风险值与等级的计算方法见1.5节。".into()));

    // 7 Alerts.
    ch(&mut out, "告警统计与处置（Alerts and response）");
    empty(&mut out);
    let s = &r.alerts;
    out.push(Block::Para(format!(
        "评估期内产生告警{}条，其中演练告警{}条不计入以下统计（演练告警：带有演练编号，或被演练记录引用的告警）。",
        s.total + s.drill,
        s.drill
    )));
    out.push(Block::Figures(vec![
        ("告警".into(), n(s.total)),
        ("已关闭".into(), n(s.closed)),
        ("关闭率".into(), percent(s.closure_rate)),
        ("平均确认时长 MTTA".into(), duration_zh(s.mtta_secs)),
        ("平均遏制时长".into(), duration_zh(s.mttc_secs)),
        ("平均关闭时长 MTTR".into(), duration_zh(s.mttr_secs)),
        ("超时未确认".into(), n(s.late_acknowledge)),
        ("超时未关闭".into(), n(s.late_close)),
    ]));
    out.push(Block::Charts(vec![
        svg::bars(
            "告警按严重程度",
            &(1..5)
                .rev()
                .map(|i| Bar {
                    label: severity_zh(SEVERITIES[i]).into(),
                    value: s.by_severity[i],
                    color: SEVERITY_COLORS[i],
                })
                .collect::<Vec<_>>(),
        ),
        svg::bars(
            "告警按检测器",
            &s.by_detector
                .iter()
                .map(|d| Bar {
                    label: detector_zh(&d.detector).into(),
                    value: d.total,
                    color: "#3b6ea5",
                })
                .collect::<Vec<_>>(),
        ),
    ]));
    out.push(Block::Heading(
        "7.1 按检测器和严重程度（By detector and severity）".into(),
    ));
    out.push(table(
        &[
            "检测器",
            "严重",
            "高",
            "中",
            "低",
            "合计",
            "已关闭",
            "关闭率",
        ],
        s.by_detector
            .iter()
            .map(|d| {
                vec![
                    format!("{}（{}）", detector_zh(&d.detector), d.detector),
                    n(d.by_severity[4]),
                    n(d.by_severity[3]),
                    n(d.by_severity[2]),
                    n(d.by_severity[1]),
                    n(d.total),
                    n(d.closed),
                    percent((d.total > 0).then(|| d.closed as f64 / d.total as f64)),
                ]
            })
            .collect(),
        "评估期内无告警",
    ));
    out.push(Block::Heading("7.2 告警明细（Alert list）".into()));
    out.push(badged(
        &[
            "告警",
            "检测器",
            "对象",
            "严重程度",
            "产生时间",
            "状态",
            "处置结论",
            "确认用时",
            "关闭用时",
            "问题",
        ],
        s.list
            .iter()
            .map(|a| {
                vec![
                    if a.drill {
                        format!("{}（演练）", short.of(&a.alert_id.to_string()))
                    } else {
                        short.of(&a.alert_id.to_string())
                    },
                    detector_zh(&a.detector).into(),
                    a.entity.clone(),
                    severity_zh(a.severity).into(),
                    r.time(a.raised),
                    state_zh(a.state).into(),
                    resolution_zh(a.resolution).into(),
                    secs(a.acknowledge_secs),
                    secs(a.close_secs),
                    a.issue.clone().unwrap_or_else(|| "—".into()),
                ]
            })
            .collect(),
        "评估期内无告警",
        &[3],
    ));

    // 8 Drills.
    ch(&mut out, "应急演练（Drills）");
    empty(&mut out);
    out.push(Block::Para(
        "演练用时自首次注入（无注入记录时自演练开始）起算。".into(),
    ));
    out.push(table(
        &[
            "演练",
            "场景",
            "开始时间",
            "告警",
            "发现",
            "确认",
            "遏制",
            "关闭",
            "结果",
        ],
        r.drills
            .iter()
            .map(|d| {
                vec![
                    short.of(&d.drill_id.to_string()),
                    d.scenario.clone(),
                    r.time(d.started),
                    d.alert_id.map_or("—".into(), |a| short.of(&a.to_string())),
                    secs(d.detect_secs),
                    secs(d.acknowledge_secs),
                    secs(d.contain_secs),
                    secs(d.close_secs),
                    outcome_zh(d.outcome).into(),
                ]
            })
            .collect(),
        "评估期内未开展应急演练",
    ));

    // 9 Catalog gaps.
    ch(&mut out, "分类分级目录缺口（Catalog gaps）");
    empty(&mut out);
    out.push(Block::Para(
        "列出评估期内被访问但未纳入分类分级目录的数据表，以及检测器发现的账号首次访问（超出其既有访问基线）。".into(),
    ));
    out.push(table(
        &["数据对象", "缺口类型", "语句数", "涉及账号"],
        r.catalog_gaps
            .iter()
            .map(|g| {
                vec![
                    g.object.clone(),
                    gap_zh(g.gap).into(),
                    n(g.statements),
                    g.accounts.join("、"),
                ]
            })
            .collect(),
        "评估期内未发现目录缺口",
    ));

    // 10 Remediation.
    ch(&mut out, "整改建议与处置状态（Remediation）");
    empty(&mut out);
    out.push(Block::Heading(
        "10.1 风险整改建议（Recommendations）".into(),
    ));
    out.push(table(
        &["风险", "整改建议", "状态"],
        r.risks
            .iter()
            .map(|k| {
                vec![
                    format!("{} {}", k.id, k.title),
                    k.recommendation.clone(),
                    k.status.zh().into(),
                ]
            })
            .collect(),
        "无需整改的风险",
    ));
    out.push(Block::Heading("10.2 告警处置状态（Alert handling）".into()));
    let open = r
        .remediation
        .iter()
        .filter(|m| m.status == Status::Open)
        .count();
    out.push(Block::Para(format!(
        "真实告警{}条：已闭环{}条，已控制{}条，待处置{}条。",
        r.remediation.len(),
        r.remediation
            .iter()
            .filter(|m| m.status == Status::Closed)
            .count(),
        r.remediation
            .iter()
            .filter(|m| m.status == Status::Controlled)
            .count(),
        open
    )));
    out.push(table(
        &[
            "告警",
            "问题",
            "检测器",
            "对象",
            "当前状态",
            "处置结论",
            "关闭用时",
            "整改状态",
        ],
        r.remediation
            .iter()
            .map(|m| {
                vec![
                    short.of(&m.alert_id.to_string()),
                    m.issue.clone().unwrap_or_else(|| "—".into()),
                    detector_zh(&m.detector).into(),
                    m.entity.clone(),
                    state_zh(m.state).into(),
                    resolution_zh(m.resolution).into(),
                    secs(m.close_secs),
                    m.status.zh().into(),
                ]
            })
            .collect(),
        "评估期内无需处置的告警",
    ));

    // 11 Sign-off.
    ch(&mut out, "签署（Sign-off）");
    out.push(Block::Para(
        "本报告由评估人编制，经审核人审核、批准人批准后生效。签署即确认报告内容与评估期内的监测记录相符。".into(),
    ));
    let so = &r.sign_off;
    out.push(Block::Signatures(vec![
        (
            "评估人".into(),
            so.assessor.clone(),
            Some(so.assessed_on.format("%Y年%m月%d日").to_string()),
        ),
        ("审核人".into(), so.reviewer.clone(), None),
        ("批准人".into(), so.approver.clone(), None),
    ]));
    out
}

/// An evidence entry as text: an alert id is shown with its detector and time.
fn evidence_text(r: &Report, short: &Short, e: &str) -> String {
    match r.alerts.list.iter().find(|a| a.alert_id.to_string() == e) {
        Some(a) => format!(
            "告警 {}（{}，{}，证据{}条）",
            short.of(e),
            detector_zh(&a.detector),
            r.time(a.raised),
            a.evidence
        ),
        None => match r.drills.iter().find(|d| d.drill_id.to_string() == e) {
            Some(d) => format!("演练 {}（{}）", short.of(e), r.time(d.started)),
            None => e.to_owned(),
        },
    }
}
