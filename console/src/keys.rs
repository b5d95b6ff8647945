//! The one key registry: every binding of the console — its keys, the [`Action`] it
//! triggers, what it does in Chinese and English, and the views where it is active. Key
//! handling ([`crate::app::App::handle_key`]) looks keys up here, and the `?` overlay
//! (`ui::help`) and the README's key table are generated from it, so they cannot drift.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::Language;

/// Where the operator is; bindings are active in some views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Situation,
    Alerts,
    AlertDetail,
    Events,
    Drills,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Situation,
        View::Alerts,
        View::AlertDetail,
        View::Events,
        View::Drills,
    ];
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    NextScreen,
    PrevScreen,
    GotoSituation,
    GotoAlerts,
    GotoEvents,
    GotoDrills,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Help,
    Filter,
    CommandLine,
    Refresh,
    Sort,
    ReverseSort,
    ToggleTail,
    Acknowledge,
    Assign,
    Note,
    Escalate,
    Contain,
    Resolve,
    Close,
    Reopen,
    StartDrill,
    AbortDrill,
}

impl Action {
    /// Actions that change an alert or run a drill (refused in read-only mode).
    pub fn changes_alert(self) -> bool {
        matches!(
            self,
            Action::Acknowledge
                | Action::Assign
                | Action::Note
                | Action::Escalate
                | Action::Contain
                | Action::Resolve
                | Action::Close
                | Action::Reopen
                | Action::StartDrill
                | Action::AbortDrill
        )
    }
}

/// One key: a code and the modifiers that matter (Ctrl, Alt; Shift is in the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    /// The registry's form of a key event.
    pub fn of(e: &KeyEvent) -> Key {
        Key {
            code: e.code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
        }
    }
}

/// One binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// The keys as the help shows them.
    pub label: &'static str,
    pub action: Action,
    pub en: &'static str,
    pub zh: &'static str,
    /// Views where the binding is active; empty: everywhere.
    pub views: &'static [View],
}

impl Binding {
    pub fn describe(&self, lang: Language) -> &'static str {
        match lang {
            Language::En => self.en,
            Language::Zh => self.zh,
        }
    }

    pub fn active_in(&self, view: View) -> bool {
        self.views.is_empty() || self.views.contains(&view)
    }
}

const LISTS: &[View] = &[View::Alerts, View::Events, View::AlertDetail, View::Drills];
const ALERT: &[View] = &[View::Alerts, View::AlertDetail];

/// Every binding of the console, in the order the help lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[k('q'), ctrl('c')],
        label: "q  Ctrl-c",
        action: Action::Quit,
        en: "quit",
        zh: "退出",
        views: &[],
    },
    Binding {
        keys: &[code(KeyCode::Tab)],
        label: "Tab",
        action: Action::NextScreen,
        en: "next screen",
        zh: "下一个界面",
        views: &[],
    },
    Binding {
        keys: &[code(KeyCode::BackTab)],
        label: "Shift-Tab",
        action: Action::PrevScreen,
        en: "previous screen",
        zh: "上一个界面",
        views: &[],
    },
    Binding {
        keys: &[k('1')],
        label: "1",
        action: Action::GotoSituation,
        en: "situation screen",
        zh: "态势界面",
        views: &[],
    },
    Binding {
        keys: &[k('2')],
        label: "2",
        action: Action::GotoAlerts,
        en: "alert queue",
        zh: "告警队列",
        views: &[],
    },
    Binding {
        keys: &[k('3')],
        label: "3",
        action: Action::GotoEvents,
        en: "event explorer",
        zh: "事件查询",
        views: &[],
    },
    Binding {
        keys: &[k('4')],
        label: "4",
        action: Action::GotoDrills,
        en: "drills",
        zh: "应急演练",
        views: &[],
    },
    Binding {
        keys: &[k('j'), code(KeyCode::Down)],
        label: "j  ↓",
        action: Action::Down,
        en: "next row",
        zh: "下一行",
        views: LISTS,
    },
    Binding {
        keys: &[k('k'), code(KeyCode::Up)],
        label: "k  ↑",
        action: Action::Up,
        en: "previous row",
        zh: "上一行",
        views: LISTS,
    },
    Binding {
        keys: &[ctrl('d'), code(KeyCode::PageDown)],
        label: "Ctrl-d  PgDn",
        action: Action::PageDown,
        en: "page down",
        zh: "下一页",
        views: LISTS,
    },
    Binding {
        keys: &[ctrl('u'), code(KeyCode::PageUp)],
        label: "Ctrl-u  PgUp",
        action: Action::PageUp,
        en: "page up",
        zh: "上一页",
        views: LISTS,
    },
    Binding {
        keys: &[k('g'), code(KeyCode::Home)],
        label: "g  Home",
        action: Action::Top,
        en: "first row",
        zh: "第一行",
        views: LISTS,
    },
    Binding {
        keys: &[k('G'), code(KeyCode::End)],
        label: "G  End",
        action: Action::Bottom,
        en: "last row",
        zh: "最后一行",
        views: LISTS,
    },
    Binding {
        keys: &[code(KeyCode::Enter), k('l')],
        label: "Enter  l",
        action: Action::Open,
        en: "open: an alert's detail; the alert a statement is evidence of",
        zh: "打开：告警详情；语句所属的告警",
        views: &[View::Alerts, View::Events],
    },
    Binding {
        keys: &[code(KeyCode::Esc), k('h')],
        label: "Esc  h",
        action: Action::Back,
        en: "back",
        zh: "返回",
        views: &[],
    },
    Binding {
        keys: &[k('?'), code(KeyCode::F(1))],
        label: "?  F1",
        action: Action::Help,
        en: "this help",
        zh: "本帮助",
        views: &[],
    },
    Binding {
        keys: &[k('/')],
        label: "/",
        action: Action::Filter,
        en: "filter (alerts: text; events: account= table= level>= decision= source= since= until=)",
        zh: "筛选（告警：文字；事件：account= table= level>= decision= source= since= until=）",
        views: &[View::Alerts, View::Events],
    },
    Binding {
        keys: &[k(':')],
        label: ":",
        action: Action::CommandLine,
        en: "command line (:q, :lang en|zh, :filter …, :sort severity|time|state)",
        zh: "命令行（:q、:lang en|zh、:filter …、:sort severity|time|state）",
        views: &[],
    },
    Binding {
        keys: &[ctrl('r'), code(KeyCode::F(5))],
        label: "Ctrl-r  F5",
        action: Action::Refresh,
        en: "reload now",
        zh: "立即刷新",
        views: &[],
    },
    Binding {
        keys: &[k('S')],
        label: "S",
        action: Action::Sort,
        en: "sort by the next column (severity, time, state)",
        zh: "切换排序列（级别、时间、状态）",
        views: &[View::Alerts],
    },
    Binding {
        keys: &[k('~')],
        label: "~",
        action: Action::ReverseSort,
        en: "reverse the order",
        zh: "倒序",
        views: &[View::Alerts],
    },
    Binding {
        keys: &[k('t')],
        label: "t",
        action: Action::ToggleTail,
        en: "pause / resume the live tail",
        zh: "暂停/恢复实时滚动",
        views: &[View::Events],
    },
    Binding {
        keys: &[k('a')],
        label: "a",
        action: Action::Acknowledge,
        en: "acknowledge",
        zh: "确认告警",
        views: ALERT,
    },
    Binding {
        keys: &[k('s')],
        label: "s",
        action: Action::Assign,
        en: "assign (asks for a name)",
        zh: "指派（输入处理人）",
        views: ALERT,
    },
    Binding {
        keys: &[k('n')],
        label: "n",
        action: Action::Note,
        en: "add a note",
        zh: "添加备注",
        views: ALERT,
    },
    Binding {
        keys: &[k('e')],
        label: "e",
        action: Action::Escalate,
        en: "escalate (asks to confirm)",
        zh: "升级（需确认）",
        views: ALERT,
    },
    Binding {
        keys: &[k('c')],
        label: "c",
        action: Action::Contain,
        en: "contain: block an account, address or fingerprint for a while (asks to confirm)",
        zh: "遏制：在一段时间内阻断账号、地址或语句指纹（需确认）",
        views: ALERT,
    },
    Binding {
        keys: &[k('r')],
        label: "r",
        action: Action::Resolve,
        en: "resolve",
        zh: "标记已处置",
        views: ALERT,
    },
    Binding {
        keys: &[k('x')],
        label: "x",
        action: Action::Close,
        en: "close with a resolution (asks to confirm)",
        zh: "关闭并给出结论（需确认）",
        views: ALERT,
    },
    Binding {
        keys: &[k('o')],
        label: "o",
        action: Action::Reopen,
        en: "reopen",
        zh: "重新打开",
        views: ALERT,
    },
    Binding {
        keys: &[code(KeyCode::Enter)],
        label: "Enter",
        action: Action::StartDrill,
        en: "start a drill of the selected scenario (asks to confirm)",
        zh: "启动所选场景的演练（需确认）",
        views: &[View::Drills],
    },
    Binding {
        keys: &[k('X')],
        label: "X",
        action: Action::AbortDrill,
        en: "abort the running drill (asks to confirm)",
        zh: "中止正在进行的演练（需确认）",
        views: &[View::Drills],
    },
];

/// The action `key` triggers in `view`.
pub fn lookup(key: Key, view: View) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.active_in(view) && b.keys.contains(&key))
        .map(|b| b.action)
}

/// Names of views in the help and the README.
pub fn view_names(b: &Binding, lang: Language) -> String {
    use crate::i18n::Msg;
    if b.views.is_empty() {
        return Msg::AllScreens.text(lang).to_owned();
    }
    b.views
        .iter()
        .map(|v| {
            match v {
                View::Situation => Msg::Situation,
                View::Alerts => Msg::Alerts,
                View::AlertDetail => Msg::AlertDetail,
                View::Events => Msg::Events,
                View::Drills => Msg::Drills,
            }
            .text(lang)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The registry as a Markdown table (the README's key table).
pub fn markdown(lang: Language) -> String {
    let mut out = String::from("| keys | action | where |\n|---|---|---|\n");
    for b in BINDINGS {
        let label = b.label.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            label.split("  ").collect::<Vec<_>>().join("` `"),
            b.describe(lang).replace('|', "\\|"),
            view_names(b, lang)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No key means two things in one view.
    #[test]
    fn no_key_is_bound_twice_in_a_view() {
        for view in View::ALL {
            let mut seen = Vec::new();
            for b in BINDINGS.iter().filter(|b| b.active_in(view)) {
                for key in b.keys {
                    assert!(
                        !seen.contains(key),
                        "{key:?} bound twice in {view:?} (second: {:?})",
                        b.action
                    );
                    seen.push(*key);
                }
            }
        }
    }

    #[test]
    fn lookup_respects_views() {
        assert_eq!(lookup(k('a'), View::Alerts), Some(Action::Acknowledge));
        assert_eq!(lookup(k('a'), View::Situation), None);
        assert_eq!(lookup(ctrl('c'), View::Events), Some(Action::Quit));
        assert_eq!(lookup(k('c'), View::AlertDetail), Some(Action::Contain));
    }

    /// The README's key table is the registry's.
    #[test]
    fn readme_lists_the_registry() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .unwrap_or_default();
        let table = markdown(Language::En);
        assert!(
            readme.contains(&table),
            "README.md's console key table is stale; replace it with:\n\n{table}"
        );
    }
}
