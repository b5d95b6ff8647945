//! The console's words in Chinese and English (`[console] language`, `:lang en|zh`). Every
//! fixed text on screen is a [`Msg`]; data (accounts, tables, alert titles) is shown as it is.

pub use crate::config::Language;

macro_rules! messages {
    ($($name:ident => $en:literal, $zh:literal;)*) => {
        /// A fixed text of the interface.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg { $($name),* }

        impl Msg {
            /// Every message, for the test that none is empty.
            pub const ALL: &'static [Msg] = &[$(Msg::$name),*];

            /// The text in `lang`.
            pub fn text(self, lang: Language) -> &'static str {
                match (self, lang) {
                    $((Msg::$name, Language::En) => $en,
                      (Msg::$name, Language::Zh) => $zh,)*
                }
            }
        }
    };
}

messages! {
    Situation => "Situation", "态势";
    Alerts => "Alerts", "告警";
    Events => "Events", "事件";
    AlertDetail => "Alert", "告警详情";
    Drills => "Drills", "演练";
    Scenarios => "Scenarios", "演练场景";
    DrillRun => "Drill", "演练";
    DrillHistory => "History", "演练记录";
    NoDrill => "no drill running: pick a scenario, Enter starts it", "当前无演练：选择场景后按 Enter 启动";
    NoDrills => "no drills run yet", "暂无演练记录";
    DrillsDisabled => "drills are not available in this console", "本控制台不能运行演练";
    DrillRunning => "a drill is running already", "已有演练正在进行";
    NoDrillRunning => "no drill is running", "当前没有演练";
    ConfirmDrill => "Start this drill? It injects traffic into the platform.", "启动该演练？将向平台注入演练流量。";
    ConfirmAbortDrill => "Abort the running drill?", "中止正在进行的演练？";
    Started => "started", "开始";
    Outcome => "outcome", "结果";
    Injected => "injected", "已注入";
    Detect => "detect", "发现";
    Ack => "ack", "响应";
    Contain => "contain", "遏制";
    CloseCol => "close", "关闭";
    WaitingFor => "waiting for", "等待";
    TheAlert => "its alert", "告警产生";
    TheAck => "the alert to be acknowledged", "告警被确认";
    TheClose => "containment and close", "遏制并关闭";
    Completed => "completed", "已完成";
    Aborted => "aborted", "已中止";
    Unfinished => "unfinished", "未完成";
    Scenario => "scenario", "场景";
    NotificationsOff => "notifications off", "桌面通知已关闭";
    PhaseDetected => "detected", "已发现";
    PhaseAcknowledged => "acknowledged", "已响应";
    PhaseContained => "contained", "已遏制";
    PhaseClosed => "closed", "已关闭";
    Score => "score", "成绩";
    AlertWord => "alert", "告警";
    Help => "Keys", "按键";
    EventsPerSec => "events/s", "事件/秒";
    Blocked => "blocked", "阻断";
    Masked => "masked", "脱敏";
    Limited => "limited", "限流";
    PerMinute => "per minute, last hour", "每分钟，近一小时";
    OpenAlerts => "Open alerts", "未关闭告警";
    TopRows => "Accounts by rows · 1h", "账号读取行数·1小时";
    TopLevel => "Accounts by level · 1h", "账号数据级别·1小时";
    TopTables => "Tables · 1h", "表访问次数·1小时";
    Producers => "Producers", "采集与防护组件";
    Producer => "producer", "组件";
    Component => "kind", "类型";
    LastSeen => "last seen", "最近上报";
    Status => "status", "状态";
    Counters => "counters", "计数";
    Silent => "silent", "失联";
    NoData => "no data yet", "暂无数据";
    Loading => "loading…", "加载中…";
    DataAge => "data", "数据";
    Stale => "STALE", "数据过期";
    Ago => "ago", "前";
    ReadOnly => "read-only", "只读";
    Severity => "sev", "级别";
    Time => "time", "时间";
    State => "state", "状态";
    Entity => "entity", "对象";
    Title => "title", "标题";
    Detector => "detector", "检测器";
    Assignee => "assignee", "处理人";
    SortBy => "sort", "排序";
    Filter => "filter", "筛选";
    Window => "window", "时间窗";
    Evidence => "Evidence", "证据";
    Timeline => "Timeline", "处置记录";
    Sla => "SLA", "时限";
    SlaAck => "to acknowledge", "响应";
    SlaContain => "to contain", "遏制";
    SlaClose => "to close", "关闭";
    Running => "running", "计时中";
    Account => "account", "账号";
    Client => "client", "客户端";
    Table => "table", "表";
    Level => "lvl", "级";
    Decision => "decision", "决定";
    Rule => "rule", "规则";
    Rows => "rows", "行数";
    Statement => "statement", "语句";
    Source => "source", "来源";
    Tail => "live", "实时";
    Paused => "paused", "暂停";
    Showing => "newest", "最新";
    Of => "of", "共";
    Capped => "list capped", "列表已截断";
    NoAlerts => "no alerts", "暂无告警";
    NoEvents => "no statements match", "没有匹配的语句";
    NoEvidence => "no evidence statements found", "未找到证据语句";
    Confirm => "Confirm", "确认";
    YesNo => "y: yes   n/Esc: no", "y：确定   n/Esc：取消";
    ActionsDisabled => "read-only mode: actions are disabled", "只读模式：不能执行处置操作";
    NoAlertSelected => "no alert selected", "未选中告警";
    PromptAssign => "Assign to", "指派给";
    PromptNote => "Note", "备注";
    PromptContain => "Contain", "遏制";
    PromptClose => "Close with resolution", "关闭并选择结论";
    Kind => "kind", "类型";
    Value => "value", "值";
    Duration => "duration", "时长";
    FormHelp => "Tab: next field  ←/→: choose  Enter: OK  Esc: cancel", "Tab：下一项  ←/→：选择  Enter：确定  Esc：取消";
    ConfirmClose => "Close this alert?", "关闭该告警？";
    ConfirmEscalate => "Escalate this alert?", "升级该告警？";
    ConfirmContain => "Put this containment in place?", "执行该遏制措施？";
    Recorded => "recorded", "已记录";
    Failed => "failed", "失败";
    UnknownCommand => "unknown command", "未知命令";
    BadFilter => "bad filter", "筛选条件有误";
    Language => "language", "语言";
    HelpClose => "?/Esc: close  j/k: scroll", "?/Esc：关闭  j/k：滚动";
    AllScreens => "all screens", "所有界面";
    KeyCol => "keys", "按键";
    ActionCol => "action", "作用";
    WhereCol => "where", "界面";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages() {
        for m in Msg::ALL {
            assert!(!m.text(Language::En).is_empty(), "{m:?} en");
            assert!(!m.text(Language::Zh).is_empty(), "{m:?} zh");
        }
        assert_eq!(Msg::Alerts.text(Language::Zh), "告警");
    }
}
