//! The report's appendices as CSV: a folder with `issues.csv` (附录A 问题清单),
//! `risks.csv` (附录B 风险清单) and `alerts.csv` (附录C 告警清单). Each file is UTF-8 with
//! a byte-order mark (so that spreadsheet programs read the Chinese right), one header
//! row, then one row per entry; a list with no entries has one row saying so. Cells that a
//! spreadsheet would take for a formula are prefixed with `'`.

use super::*;

/// The file names, in appendix order.
pub const FILES: [&str; 3] = ["issues.csv", "risks.csv", "alerts.csv"];

/// A CSV field: quoted when it holds a separator, a quote or a line break.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn file(head: &[&str], rows: Vec<Vec<String>>, none: &str) -> String {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    out.push_str(&line(head.iter().map(|h| (*h).to_owned()).collect()));
    out.push_str("\r\n");
    if rows.is_empty() {
        let mut empty = vec![none.to_owned()];
        empty.resize(head.len(), String::new());
        out.push_str(&line(empty));
        out.push_str("\r\n");
    }
    for row in rows {
        out.push_str(&line(row));
        out.push_str("\r\n");
    }
    out
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The appendices: (file name, contents) for each of [`FILES`].
pub fn render(r: &Report) -> Vec<(&'static str, String)> {
    let none = if r.meta.empty {
        "（本评估期内无监测记录）"
    } else {
        "（无）"
    };
    let issues = file(
        &[
            "问题编号",
            "方面",
            "风险类型",
            "问题",
            "详情",
            "证据",
            "涉及事件数",
            "最高级别",
            "严重程度",
            "仅被阻断",
            "状态",
            "所属风险",
        ],
        r.issues
            .iter()
            .map(|q| {
                vec![
                    q.id.clone(),
                    q.area.zh().into(),
                    q.kind.title_zh().into(),
                    q.title.clone(),
                    q.detail.clone(),
                    q.evidence.join("; "),
                    q.events.to_string(),
                    q.max_level.to_string(),
                    severity_zh(q.severity).into(),
                    if q.blocked_only { "是" } else { "否" }.into(),
                    q.status.zh().into(),
                    q.risk.clone(),
                ]
            })
            .collect(),
        none,
    );
    let risks = file(
        &[
            "风险编号",
            "方面",
            "风险",
            "描述",
            "可能性",
            "影响程度",
            "风险值",
            "风险等级",
            "关联问题",
            "整改建议",
            "状态",
        ],
        r.risks
            .iter()
            .map(|k| {
                vec![
                    k.id.clone(),
                    k.area.zh().into(),
                    k.title.clone(),
                    k.description.clone(),
                    k.likelihood.to_string(),
                    k.impact.to_string(),
                    k.score.to_string(),
                    k.level.zh().into(),
                    k.issues.join("; "),
                    k.recommendation.clone(),
                    k.status.zh().into(),
                ]
            })
            .collect(),
        none,
    );
    let alerts = file(
        &[
            "告警编号",
            "演练告警",
            "检测器",
            "检测器名称",
            "对象",
            "严重程度",
            "标题",
            "产生时间",
            "窗口开始",
            "窗口结束",
            "状态",
            "处置结论",
            "确认用时(秒)",
            "遏制用时(秒)",
            "关闭用时(秒)",
            "证据数",
            "最高级别",
            "所属问题",
        ],
        r.alerts
            .list
            .iter()
            .map(|a| {
                vec![
                    a.alert_id.to_string(),
                    if a.drill { "是" } else { "否" }.into(),
                    a.detector.clone(),
                    detector_zh(&a.detector).into(),
                    a.entity.clone(),
                    severity_zh(a.severity).into(),
                    a.title.clone(),
                    r.time(a.raised),
                    r.time(a.window_start),
                    r.time(a.window_end),
                    state_zh(a.state).into(),
                    resolution_zh(a.resolution).into(),
                    opt(a.acknowledge_secs),
                    opt(a.contain_secs),
                    opt(a.close_secs),
                    a.evidence.to_string(),
                    a.max_level.to_string(),
                    a.issue.clone().unwrap_or_default(),
                ]
            })
            .collect(),
        none,
    );
    vec![(FILES[0], issues), (FILES[1], risks), (FILES[2], alerts)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn an_empty_list_has_a_row_saying_so() {
        let f = file(&["a", "b"], vec![], "（无）");
        assert_eq!(f, "\u{feff}a,b\r\n（无）,\r\n");
    }
}
