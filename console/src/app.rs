//! The console's state and what input does to it. Pure: keys, mouse, data updates and the
//! clock go in, [`Command`]s come out (load this, record that transition, quit); nothing
//! here touches the terminal or ClickHouse, so every screen and every action is tested
//! without either. `lib.rs` runs the loop: draw, wait for input or data, handle, execute.
//!
//! ```text
//!  Mode::Normal ──key──► keys::lookup ──► Action ──► App::handle ──► Vec<Command>
//!       ▲  │ a s n e c r x o (alert actions: refused in read-only mode)
//!       │  ├─ a, r, o ───────────────────────────────► Command::Act
//!       │  ├─ s, n ──────────► Mode::Input  ──Enter──► Command::Act
//!       │  ├─ e ─────────────► Mode::Confirm ──y─────► Command::Act
//!       │  ├─ c ─► Mode::Contain (form) ──Enter──► Mode::Confirm ──y──► Command::Contain
//!       │  └─ x ─► Mode::Resolution (pick one of five) ──Enter──► Mode::Confirm ──y──► Act
//! Every action is first checked against the alert's timeline as loaded (immediate
//! feedback); the desk checks it again against ClickHouse when it records it.
//!       └──────── Esc (back) ◄── every mode
//! ```

use std::time::Duration;

use analyzer::drill::{Progress, SCENARIOS, Scenario};
use analyzer::event::{AlertState, DrillPhase, Resolution, Severity, Transition};
use analyzer::lifecycle::{self, AlertRecord};
use analyzer::report::DrillResult;
use chrono::{DateTime, FixedOffset, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use rules::policy::containment::Target;
use uuid::Uuid;

use crate::config::{ConsoleConfig, Language};
use crate::data::{EventFilter, EventPage, EventRow, Snapshot, Update};
use crate::i18n::Msg;
use crate::keys::{self, Action, Key, View};
use crate::ui;

/// The four screens (tabs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Situation,
    Alerts,
    Events,
    Drills,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Situation,
        Screen::Alerts,
        Screen::Events,
        Screen::Drills,
    ];

    pub fn title(self) -> Msg {
        match self {
            Screen::Situation => Msg::Situation,
            Screen::Alerts => Msg::Alerts,
            Screen::Events => Msg::Events,
            Screen::Drills => Msg::Drills,
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// How the alert queue is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Most severe first, then newest.
    Severity,
    /// Newest first.
    Time,
    /// Least advanced state first (new before acknowledged …), then most severe.
    State,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Severity => SortKey::Time,
            SortKey::Time => SortKey::State,
            SortKey::State => SortKey::Severity,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Severity => "severity",
            SortKey::Time => "time",
            SortKey::State => "state",
        }
    }

    fn parse(s: &str) -> Option<SortKey> {
        [SortKey::Severity, SortKey::Time, SortKey::State]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// What the operator can contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainKind {
    Account,
    Address,
    Fingerprint,
}

impl ContainKind {
    pub const ALL: [ContainKind; 3] = [
        ContainKind::Account,
        ContainKind::Address,
        ContainKind::Fingerprint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ContainKind::Account => "account",
            ContainKind::Address => "address",
            ContainKind::Fingerprint => "fingerprint",
        }
    }

    /// A guess from an alert's entity: an IP address, a fingerprint (digits) or an account.
    fn guess(entity: &str) -> ContainKind {
        let host = entity.rsplit_once(':').map_or(entity, |(h, _)| h);
        if host.parse::<std::net::IpAddr>().is_ok() || entity.parse::<std::net::IpAddr>().is_ok() {
            ContainKind::Address
        } else if !entity.is_empty() && entity.chars().all(|c| c.is_ascii_digit()) {
            ContainKind::Fingerprint
        } else {
            ContainKind::Account
        }
    }
}

/// What the loop must do for the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    /// Load now.
    Reload,
    /// The explorer's filter changed.
    SetEventFilter(EventFilter),
    /// Load the statements behind an alert.
    LoadEvidence {
        alert: Uuid,
        ids: Vec<Uuid>,
        around: (DateTime<Utc>, DateTime<Utc>),
    },
    /// Take `action` on `alert` through the desk (`analyzer::lifecycle::Desk`), which checks
    /// it against the alert's transitions in ClickHouse and records it. `preview` is the
    /// step as the console's data allowed it.
    Act {
        alert: Uuid,
        action: lifecycle::Action,
        note: String,
        preview: Transition,
    },
    /// Block `target` for `duration` on every firewall and record the alert's `contained`
    /// step (`Desk::contain`).
    Contain {
        alert: Uuid,
        target: Target,
        duration: Duration,
        preview: Transition,
    },
    /// Run a drill of `scenario` in the background (`analyzer::drill::Drills::run`).
    StartDrill {
        scenario: &'static Scenario,
    },
    /// Abort the running drill.
    AbortDrill,
}

/// How a drill ended: its score (none when nothing was recorded), or why it could not run.
pub type DrillEnd = Result<Option<DrillResult>, String>;

/// The drill the console runs (one at a time), as its phases arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRun {
    pub scenario: &'static Scenario,
    /// Known once its start is recorded.
    pub drill_id: Option<Uuid>,
    /// When the operator started it: the timer runs from here.
    pub started: DateTime<Utc>,
    /// Its phases but the injected steps, in order.
    pub phases: Vec<Progress>,
    /// Injected steps so far, when the first was made, and the last one.
    pub injected: u64,
    pub first_injected: Option<DateTime<Utc>>,
    pub last_injected: Option<Progress>,
    /// When it ended, and its score (or why it could not run).
    pub ended: Option<(DateTime<Utc>, DrillEnd)>,
}

impl DrillRun {
    pub fn running(&self) -> bool {
        self.ended.is_none()
    }

    /// How long it has run (until its end).
    pub fn elapsed(&self, now: DateTime<Utc>) -> Duration {
        let end = self.ended.as_ref().map_or(now, |(t, _)| *t);
        (end - self.started).to_std().unwrap_or_default()
    }

    /// The phase it waits for next.
    pub fn waiting_for(&self) -> Msg {
        let has = |p: DrillPhase| self.phases.iter().any(|x| x.phase == p);
        if !has(DrillPhase::Detected) {
            Msg::TheAlert
        } else if !has(DrillPhase::Acknowledged) {
            Msg::TheAck
        } else {
            Msg::TheClose
        }
    }
}

/// Which text the input line is collecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    Command,
    Assign,
    Note,
}

/// The containment form: kind, value, duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainForm {
    pub alert: Uuid,
    pub kind: ContainKind,
    pub value: String,
    pub duration: String,
    /// 0 kind, 1 value, 2 duration.
    pub field: usize,
}

/// The resolutions an operator closes with.
pub const RESOLUTIONS: [Resolution; 5] = [
    Resolution::TruePositiveWithImpact,
    Resolution::TruePositiveWithoutImpact,
    Resolution::FalsePositive,
    Resolution::LegitimateActivity,
    Resolution::Unknown,
];

/// What keys go to.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    Input {
        kind: InputKind,
        text: String,
    },
    Contain(ContainForm),
    Resolution {
        alert: Uuid,
        index: usize,
    },
    Confirm {
        command: Box<Command>,
        question: Msg,
    },
}

/// A selection in a list and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub selected: usize,
    pub offset: usize,
}

impl Selection {
    fn moved(self, delta: isize, len: usize, page: usize) -> Selection {
        let last = len.saturating_sub(1);
        let selected = self.selected.saturating_add_signed(delta).min(last);
        Selection {
            selected,
            offset: self.offset,
        }
        .shown(page)
    }

    /// Keeps the selection within the `page` rows shown.
    fn shown(self, page: usize) -> Selection {
        let page = page.max(1);
        let mut offset = self.offset.min(self.selected);
        if self.selected >= offset + page {
            offset = self.selected + 1 - page;
        }
        Selection {
            selected: self.selected,
            offset,
        }
    }
}

/// Where the data stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Nothing loaded yet.
    Loading,
    /// Data this old.
    Fresh(Duration),
    /// The last load failed or is overdue; the data shown is this old (none at all yet
    /// when `None`).
    Stale(Option<Duration>, String),
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The console's whole state.
#[derive(Debug, Clone)]
pub struct App {
    pub lang: Language,
    pub read_only: bool,
    /// The operator: the OS user.
    pub actor: String,
    pub refresh: Duration,
    pub screen: Screen,
    /// The alert whose detail is open.
    pub detail: Option<Uuid>,
    pub mode: Mode,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub now: DateTime<Utc>,
    /// The time zone times are shown in.
    pub utc_offset: FixedOffset,
    pub data: Option<Snapshot>,
    /// The last failed load, when newer than the data.
    pub failure: Option<(DateTime<Utc>, String)>,
    pub alert_filter: String,
    pub sort: SortKey,
    pub reverse: bool,
    pub alerts_sel: Selection,
    pub events_sel: Selection,
    pub event_filter: EventFilter,
    /// The explorer follows new statements; paused, it keeps what it shows.
    pub tail: bool,
    pub events: EventPage,
    /// The open alert's evidence statements (or why they could not be read).
    pub evidence: Option<(Uuid, Result<Vec<EventRow>, String>)>,
    pub detail_scroll: usize,
    pub help_scroll: usize,
    pub notice: Option<Notice>,
    pub quit: bool,
    /// The scenario selected on the Drills screen (an index into `analyzer::drill::SCENARIOS`).
    pub drill_sel: usize,
    /// The drill started from this console, running or ended.
    pub drill: Option<DrillRun>,
    /// Whether this console can run drills (it has a desk and an injector).
    pub drills_enabled: bool,
    /// Why desktop notifications are off (`None`: on, or not known yet).
    pub notifications: Option<String>,
}

impl App {
    pub fn new(cfg: &ConsoleConfig, actor: impl Into<String>, now: DateTime<Utc>) -> App {
        App {
            lang: cfg.language,
            read_only: cfg.read_only,
            actor: actor.into(),
            refresh: cfg.refresh,
            screen: Screen::Situation,
            detail: None,
            mode: Mode::Normal,
            size: (80, 24),
            now,
            utc_offset: FixedOffset::east_opt(0).expect("0 is a valid offset"),
            data: None,
            failure: None,
            alert_filter: String::new(),
            sort: SortKey::Severity,
            reverse: false,
            alerts_sel: Selection::default(),
            events_sel: Selection::default(),
            event_filter: EventFilter::default(),
            tail: true,
            events: EventPage::default(),
            evidence: None,
            detail_scroll: 0,
            help_scroll: 0,
            notice: None,
            quit: false,
            drill_sel: 0,
            drill: None,
            drills_enabled: false,
            notifications: None,
        }
    }

    pub fn t(&self, m: Msg) -> &'static str {
        m.text(self.lang)
    }

    /// Where the operator is.
    pub fn view(&self) -> View {
        match (self.screen, self.detail) {
            (Screen::Situation, _) => View::Situation,
            (Screen::Alerts, Some(_)) => View::AlertDetail,
            (Screen::Alerts, None) => View::Alerts,
            (Screen::Events, _) => View::Events,
            (Screen::Drills, _) => View::Drills,
        }
    }

    /// The alerts the queue shows: filtered and sorted.
    pub fn alerts(&self) -> Vec<&AlertRecord> {
        let Some(data) = &self.data else {
            return Vec::new();
        };
        let needle = self.alert_filter.to_lowercase();
        let mut out: Vec<&AlertRecord> = data
            .alerts
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || [
                        r.alert.title.as_str(),
                        r.alert.entity.as_str(),
                        r.alert.detector.as_str(),
                        lifecycle::state_name(r.timeline.state()),
                        crate::data::severity_name(r.alert.severity),
                        r.timeline.assignee().unwrap_or(""),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        let newest = |a: &&AlertRecord, b: &&AlertRecord| b.raised.cmp(&a.raised);
        match self.sort {
            SortKey::Severity => out.sort_by(|a, b| {
                b.alert
                    .severity
                    .cmp(&a.alert.severity)
                    .then_with(|| newest(a, b))
            }),
            SortKey::Time => out.sort_by(newest),
            SortKey::State => out.sort_by(|a, b| {
                state_rank(a.timeline.state())
                    .cmp(&state_rank(b.timeline.state()))
                    .then_with(|| b.alert.severity.cmp(&a.alert.severity))
                    .then_with(|| newest(a, b))
            }),
        }
        if self.reverse {
            out.reverse();
        }
        out
    }

    /// The alert actions apply to: the open detail, else the selected row.
    pub fn target(&self) -> Option<&AlertRecord> {
        let data = self.data.as_ref()?;
        match self.detail {
            Some(id) => data.alerts.iter().find(|r| r.alert.alert_id == id),
            None => self.alerts().get(self.alerts_sel.selected).copied(),
        }
    }

    /// Open alerts by severity: low, medium, high, critical.
    pub fn open_by_severity(&self) -> [usize; 4] {
        let mut out = [0; 4];
        for r in self.data.iter().flat_map(|d| &d.alerts) {
            if r.timeline.is_open() && !r.drill {
                let i = match r.alert.severity {
                    Severity::None | Severity::Low => 0,
                    Severity::Medium => 1,
                    Severity::High => 2,
                    Severity::Critical => 3,
                };
                out[i] += 1;
            }
        }
        out
    }

    pub fn freshness(&self) -> Freshness {
        let age = |t: DateTime<Utc>| (self.now - t).to_std().unwrap_or_default();
        let data_age = self.data.as_ref().map(|d| age(d.taken));
        if let Some((_, error)) = &self.failure {
            return Freshness::Stale(data_age, error.clone());
        }
        match data_age {
            None => Freshness::Loading,
            Some(a) if a > self.refresh * 3 + Duration::from_secs(2) => {
                Freshness::Stale(Some(a), String::new())
            }
            Some(a) => Freshness::Fresh(a),
        }
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
        });
    }

    /// The clock moved on.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    /// The terminal was resized.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.size = (cols, rows);
        self.alerts_sel = self.alerts_sel.shown(self.page(View::Alerts));
        self.events_sel = self.events_sel.shown(self.page(View::Events));
    }

    /// Rows a list shows at the current size.
    fn page(&self, view: View) -> usize {
        ui::list_rows(self.size, view)
    }

    /// A result of an executed command.
    pub fn done(&mut self, result: Result<String, String>) {
        match result {
            Ok(text) => self.say(text, false),
            Err(text) => self.say(text, true),
        }
    }

    /// A drill phase was recorded.
    pub fn drill_progress(&mut self, p: Progress) {
        let Some(run) = self.drill.as_mut() else {
            return;
        };
        run.drill_id = Some(p.drill_id);
        if p.phase == DrillPhase::Injected {
            run.injected += 1;
            run.first_injected.get_or_insert(p.time);
            run.last_injected = Some(p);
        } else {
            run.phases.push(p);
        }
    }

    /// The drill ended: its score, or why it could not run.
    pub fn drill_ended(&mut self, result: DrillEnd) {
        let Some(name) = self.drill.as_ref().map(|r| r.scenario.name) else {
            return;
        };
        let (text, failed) = match &result {
            Ok(Some(r)) => (
                format!(
                    "{} {name}: {}",
                    self.t(Msg::DrillRun),
                    self.t(outcome_msg(r.outcome))
                ),
                false,
            ),
            Ok(None) => (format!("{} {name}", self.t(Msg::DrillRun)), false),
            Err(e) => (format!("{} {name}: {e}", self.t(Msg::DrillRun)), true),
        };
        let now = self.now;
        if let Some(run) = self.drill.as_mut() {
            run.ended = Some((now, result));
        }
        self.say(text, failed);
    }

    /// The loader sent something.
    pub fn update(&mut self, update: Update) {
        match update {
            Update::Snapshot(s) => {
                let selected = self.target().map(|r| r.alert.alert_id);
                if self.tail {
                    self.events = s.events.clone();
                }
                self.data = Some(*s);
                self.failure = None;
                if let (Some(id), None) = (selected, self.detail)
                    && let Some(i) = self.alerts().iter().position(|r| r.alert.alert_id == id)
                {
                    self.alerts_sel.selected = i;
                }
                let n = self.alerts().len();
                self.alerts_sel.selected = self.alerts_sel.selected.min(n.saturating_sub(1));
                self.alerts_sel = self.alerts_sel.shown(self.page(View::Alerts));
                let n = self.events.rows.len();
                self.events_sel.selected = self.events_sel.selected.min(n.saturating_sub(1));
                self.events_sel = self.events_sel.shown(self.page(View::Events));
            }
            Update::Failed { at, error } => self.failure = Some((at, error)),
            Update::Evidence { alert, rows } => {
                if self.detail == Some(alert) {
                    self.evidence = Some((alert, rows));
                }
            }
        }
    }

    /// A key was pressed.
    pub fn handle_key(&mut self, e: KeyEvent) -> Vec<Command> {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && e.code == KeyCode::Char('c') {
            return self.handle(Action::Quit);
        }
        match self.mode.clone() {
            Mode::Normal => match keys::lookup(Key::of(&e), self.view()) {
                Some(a) => self.handle(a),
                None => Vec::new(),
            },
            Mode::Help => {
                match e.code {
                    KeyCode::Char('j') | KeyCode::Down => self.help_scroll += 1,
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.help_scroll = self.help_scroll.saturating_sub(1)
                    }
                    KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::F(1) => {
                        self.mode = Mode::Normal
                    }
                    _ => {}
                }
                Vec::new()
            }
            Mode::Input { kind, mut text } => match e.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    Vec::new()
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    self.submit(kind, text.trim())
                }
                KeyCode::Backspace => {
                    text.pop();
                    self.mode = Mode::Input { kind, text };
                    Vec::new()
                }
                KeyCode::Char('u') if ctrl => {
                    self.mode = Mode::Input {
                        kind,
                        text: String::new(),
                    };
                    Vec::new()
                }
                KeyCode::Char(c) if !ctrl => {
                    if text.chars().count() < 200 {
                        text.push(c);
                    }
                    self.mode = Mode::Input { kind, text };
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Mode::Contain(form) => self.contain_key(form, e),
            Mode::Resolution { alert, index } => match e.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    Vec::new()
                }
                KeyCode::Char('j') | KeyCode::Down => {
                    self.mode = Mode::Resolution {
                        alert,
                        index: (index + 1).min(RESOLUTIONS.len() - 1),
                    };
                    Vec::new()
                }
                KeyCode::Char('k') | KeyCode::Up => {
                    self.mode = Mode::Resolution {
                        alert,
                        index: index.saturating_sub(1),
                    };
                    Vec::new()
                }
                KeyCode::Char(c @ '1'..='5') => {
                    let index = c as usize - '1' as usize;
                    self.mode = Mode::Resolution { alert, index };
                    Vec::new()
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    let r = RESOLUTIONS[index.min(RESOLUTIONS.len() - 1)];
                    self.propose(lifecycle::Action::Close(r), "", Some(Msg::ConfirmClose))
                }
                _ => Vec::new(),
            },
            Mode::Confirm { command, .. } => match e.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.mode = Mode::Normal;
                    if let Command::StartDrill { scenario } = *command {
                        self.drill = Some(DrillRun {
                            scenario,
                            drill_id: None,
                            started: self.now,
                            phases: Vec::new(),
                            injected: 0,
                            first_injected: None,
                            last_injected: None,
                            ended: None,
                        });
                    }
                    vec![*command]
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    Vec::new()
                }
                _ => Vec::new(),
            },
        }
    }

    fn contain_key(&mut self, mut form: ContainForm, e: KeyEvent) -> Vec<Command> {
        let cycle = |k: ContainKind, d: isize| {
            let i = ContainKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as isize;
            ContainKind::ALL[(i + d).rem_euclid(3) as usize]
        };
        match e.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            KeyCode::Tab | KeyCode::Down => form.field = (form.field + 1) % 3,
            KeyCode::BackTab | KeyCode::Up => form.field = (form.field + 2) % 3,
            KeyCode::Left if form.field == 0 => form.kind = cycle(form.kind, -1),
            KeyCode::Right | KeyCode::Char(' ') if form.field == 0 => {
                form.kind = cycle(form.kind, 1)
            }
            KeyCode::Backspace => {
                match form.field {
                    1 => form.value.pop(),
                    2 => form.duration.pop(),
                    _ => None,
                };
            }
            KeyCode::Char(c) if form.field > 0 => {
                let f = if form.field == 1 {
                    &mut form.value
                } else {
                    &mut form.duration
                };
                if f.chars().count() < 200 {
                    f.push(c);
                }
            }
            KeyCode::Enter => {
                let value = form.value.trim().to_owned();
                let duration = humantime::parse_duration(form.duration.trim());
                match (value.is_empty(), duration) {
                    (true, _) => self.say(format!("{}: {}", self.t(Msg::Value), "?"), true),
                    (_, Err(_)) | (_, Ok(Duration::ZERO)) => self.say(
                        format!("{}: {}", self.t(Msg::Duration), "15m, 1h, 1d …"),
                        true,
                    ),
                    (false, Ok(duration)) => {
                        let target = match Target::parse(form.kind.name(), &value) {
                            Ok(t) => t,
                            Err(e) => {
                                self.say(e, true);
                                self.mode = Mode::Contain(form);
                                return Vec::new();
                            }
                        };
                        self.mode = Mode::Normal;
                        let what = format!(
                            "{target} blocked for {}",
                            humantime::format_duration(duration)
                        );
                        let action = lifecycle::Action::Contain(what);
                        return match self.check(form.alert, &action, "") {
                            Ok(preview) => {
                                self.mode = Mode::Confirm {
                                    command: Box::new(Command::Contain {
                                        alert: form.alert,
                                        target,
                                        duration,
                                        preview,
                                    }),
                                    question: Msg::ConfirmContain,
                                };
                                Vec::new()
                            }
                            Err(e) => {
                                self.say(e, true);
                                Vec::new()
                            }
                        };
                    }
                }
            }
            _ => {}
        }
        self.mode = Mode::Contain(form);
        Vec::new()
    }

    /// The transition `action` on `alert` records, checked against its timeline.
    fn check(
        &self,
        alert: Uuid,
        action: &lifecycle::Action,
        note: &str,
    ) -> Result<Transition, String> {
        let record = self
            .data
            .as_ref()
            .and_then(|d| d.alerts.iter().find(|r| r.alert.alert_id == alert))
            .ok_or_else(|| self.t(Msg::NoAlertSelected).to_owned())?;
        record
            .timeline
            .apply(alert, action, &self.actor, note)
            .map_err(|e| e.to_string())
    }

    /// `action` on the target alert: recorded at once, or after `confirm`.
    fn propose(
        &mut self,
        action: lifecycle::Action,
        note: &str,
        confirm: Option<Msg>,
    ) -> Vec<Command> {
        let Some(alert) = self.target().map(|r| r.alert.alert_id) else {
            self.say(self.t(Msg::NoAlertSelected), true);
            return Vec::new();
        };
        match self.check(alert, &action, note) {
            Ok(preview) => {
                let command = Command::Act {
                    alert,
                    action,
                    note: note.to_owned(),
                    preview,
                };
                match confirm {
                    Some(question) => {
                        self.mode = Mode::Confirm {
                            command: Box::new(command),
                            question,
                        };
                        Vec::new()
                    }
                    None => vec![command],
                }
            }
            Err(e) => {
                self.say(e, true);
                Vec::new()
            }
        }
    }

    fn submit(&mut self, kind: InputKind, text: &str) -> Vec<Command> {
        match kind {
            InputKind::Filter => self.set_filter(text),
            InputKind::Command => self.command_line(text),
            InputKind::Assign => {
                if text.is_empty() {
                    return Vec::new();
                }
                self.propose(lifecycle::Action::Assign(text.to_owned()), "", None)
            }
            InputKind::Note => {
                if text.is_empty() {
                    return Vec::new();
                }
                self.propose(lifecycle::Action::Note, text, None)
            }
        }
    }

    fn set_filter(&mut self, text: &str) -> Vec<Command> {
        match self.screen {
            Screen::Events => match EventFilter::parse(text) {
                Ok(f) => {
                    self.event_filter = f.clone();
                    self.events_sel = Selection::default();
                    vec![Command::SetEventFilter(f)]
                }
                Err(e) => {
                    self.say(format!("{}: {e}", self.t(Msg::BadFilter)), true);
                    Vec::new()
                }
            },
            _ => {
                self.alert_filter = text.to_owned();
                self.alerts_sel = Selection::default();
                Vec::new()
            }
        }
    }

    fn command_line(&mut self, text: &str) -> Vec<Command> {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        let rest = rest.trim();
        match word {
            "q" | "quit" | "q!" => self.handle(Action::Quit),
            "lang" | "language" => {
                match rest {
                    "en" => self.lang = Language::En,
                    "zh" => self.lang = Language::Zh,
                    _ => self.say(format!("{}: en | zh", self.t(Msg::Language)), true),
                }
                Vec::new()
            }
            "filter" => self.set_filter(rest),
            "sort" => {
                match SortKey::parse(rest) {
                    Some(k) => self.sort = k,
                    None => self.say("sort: severity | time | state", true),
                }
                Vec::new()
            }
            "" => Vec::new(),
            _ => {
                self.say(format!("{}: {text}", self.t(Msg::UnknownCommand)), true);
                Vec::new()
            }
        }
    }

    fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.detail = None;
        self.evidence = None;
    }

    /// Opens the detail of `alert` and asks for its evidence.
    fn open(&mut self, alert: Uuid) -> Vec<Command> {
        let Some(r) = self
            .data
            .as_ref()
            .and_then(|d| d.alerts.iter().find(|r| r.alert.alert_id == alert))
        else {
            return Vec::new();
        };
        let cmd = Command::LoadEvidence {
            alert,
            ids: r.alert.evidence.clone(),
            around: (r.alert.window_start, r.alert.window_end),
        };
        self.screen = Screen::Alerts;
        self.detail = Some(alert);
        self.evidence = None;
        self.detail_scroll = 0;
        vec![cmd]
    }

    fn move_by(&mut self, delta: isize) {
        match self.view() {
            View::Alerts => {
                let (n, page) = (self.alerts().len(), self.page(View::Alerts));
                self.alerts_sel = self.alerts_sel.moved(delta, n, page);
            }
            View::Events => {
                let (n, page) = (self.events.rows.len(), self.page(View::Events));
                self.events_sel = self.events_sel.moved(delta, n, page);
            }
            View::AlertDetail => {
                self.detail_scroll = self.detail_scroll.saturating_add_signed(delta);
            }
            View::Drills => {
                let last = SCENARIOS.len().saturating_sub(1) as isize;
                self.drill_sel = (self.drill_sel as isize)
                    .saturating_add(delta)
                    .clamp(0, last) as usize;
            }
            View::Situation => {}
        }
    }

    /// An action from the key registry.
    pub fn handle(&mut self, action: Action) -> Vec<Command> {
        if action.changes_alert() && self.read_only {
            self.say(self.t(Msg::ActionsDisabled), true);
            return Vec::new();
        }
        let page = self.page(self.view()) as isize;
        match action {
            Action::Quit => {
                self.quit = true;
                return vec![Command::Quit];
            }
            Action::NextScreen => {
                let n = Screen::ALL.len();
                self.go(Screen::ALL[(self.screen.index() + 1) % n])
            }
            Action::PrevScreen => {
                let n = Screen::ALL.len();
                self.go(Screen::ALL[(self.screen.index() + n - 1) % n])
            }
            Action::GotoSituation => self.go(Screen::Situation),
            Action::GotoAlerts => self.go(Screen::Alerts),
            Action::GotoEvents => self.go(Screen::Events),
            Action::GotoDrills => self.go(Screen::Drills),
            Action::StartDrill => {
                if !self.drills_enabled {
                    self.say(self.t(Msg::DrillsDisabled), true);
                } else if self.drill.as_ref().is_some_and(DrillRun::running) {
                    self.say(self.t(Msg::DrillRunning), true);
                } else if let Some(scenario) = SCENARIOS.get(self.drill_sel) {
                    self.mode = Mode::Confirm {
                        command: Box::new(Command::StartDrill { scenario }),
                        question: Msg::ConfirmDrill,
                    };
                }
            }
            Action::AbortDrill => {
                if self.drill.as_ref().is_some_and(DrillRun::running) {
                    self.mode = Mode::Confirm {
                        command: Box::new(Command::AbortDrill),
                        question: Msg::ConfirmAbortDrill,
                    };
                } else {
                    self.say(self.t(Msg::NoDrillRunning), true);
                }
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => match self.view() {
                View::Alerts => {
                    if let Some(id) = self.target().map(|r| r.alert.alert_id) {
                        return self.open(id);
                    }
                }
                View::Events => {
                    let Some(ev) = self.events.rows.get(self.events_sel.selected) else {
                        return Vec::new();
                    };
                    let id = ev.id;
                    let alert = self.data.as_ref().and_then(|d| {
                        d.alerts
                            .iter()
                            .find(|r| r.alert.evidence.contains(&id))
                            .map(|r| r.alert.alert_id)
                    });
                    match alert {
                        Some(a) => return self.open(a),
                        None => self.say(
                            match self.lang {
                                Language::En => "this statement is no alert's evidence",
                                Language::Zh => "该语句不属于任何告警",
                            },
                            false,
                        ),
                    }
                }
                _ => {}
            },
            Action::Back => {
                if self.detail.is_some() {
                    self.detail = None;
                    self.evidence = None;
                } else {
                    self.notice = None;
                }
            }
            Action::Help => {
                self.help_scroll = 0;
                self.mode = Mode::Help;
            }
            Action::Filter => {
                let text = match self.screen {
                    Screen::Events => self.event_filter.describe(),
                    _ => self.alert_filter.clone(),
                };
                self.mode = Mode::Input {
                    kind: InputKind::Filter,
                    text,
                };
            }
            Action::CommandLine => {
                self.mode = Mode::Input {
                    kind: InputKind::Command,
                    text: String::new(),
                }
            }
            Action::Refresh => return vec![Command::Reload],
            Action::Sort => {
                self.sort = self.sort.next();
                self.alerts_sel = Selection::default();
            }
            Action::ReverseSort => {
                self.reverse = !self.reverse;
                self.alerts_sel = Selection::default();
            }
            Action::ToggleTail => {
                self.tail = !self.tail;
                if self.tail
                    && let Some(d) = &self.data
                {
                    self.events = d.events.clone();
                }
            }
            Action::Acknowledge => return self.propose(lifecycle::Action::Acknowledge, "", None),
            Action::Resolve => return self.propose(lifecycle::Action::Resolve, "", None),
            Action::Reopen => return self.propose(lifecycle::Action::Reopen, "", None),
            Action::Escalate => {
                return self.propose(lifecycle::Action::Escalate, "", Some(Msg::ConfirmEscalate));
            }
            Action::Assign | Action::Note => {
                if self.target().is_none() {
                    self.say(self.t(Msg::NoAlertSelected), true);
                } else {
                    self.mode = Mode::Input {
                        kind: if action == Action::Assign {
                            InputKind::Assign
                        } else {
                            InputKind::Note
                        },
                        text: String::new(),
                    };
                }
            }
            Action::Contain => match self.target() {
                Some(r) => {
                    self.mode = Mode::Contain(ContainForm {
                        alert: r.alert.alert_id,
                        kind: ContainKind::guess(&r.alert.entity),
                        value: r.alert.entity.clone(),
                        duration: "1h".into(),
                        field: 0,
                    })
                }
                None => self.say(self.t(Msg::NoAlertSelected), true),
            },
            Action::Close => match self.target() {
                Some(r) => {
                    self.mode = Mode::Resolution {
                        alert: r.alert.alert_id,
                        index: 0,
                    }
                }
                None => self.say(self.t(Msg::NoAlertSelected), true),
            },
        }
        Vec::new()
    }

    /// The mouse did something: the wheel moves the selection, a click selects a row or a
    /// tab.
    pub fn handle_mouse(&mut self, m: MouseEvent) -> Vec<Command> {
        if self.mode != Mode::Normal {
            return Vec::new();
        }
        match m.kind {
            MouseEventKind::ScrollDown => self.handle(Action::Down),
            MouseEventKind::ScrollUp => self.handle(Action::Up),
            MouseEventKind::Down(MouseButton::Left) => {
                if let Some(screen) = ui::tab_at(self, m.column, m.row) {
                    self.go(screen);
                    return Vec::new();
                }
                let view = self.view();
                let Some(row) = ui::row_at(self.size, view, m.column, m.row) else {
                    return Vec::new();
                };
                match view {
                    View::Alerts => {
                        let i = self.alerts_sel.offset + row;
                        if i < self.alerts().len() {
                            if self.alerts_sel.selected == i {
                                return self.handle(Action::Open);
                            }
                            self.alerts_sel.selected = i;
                        }
                    }
                    View::Events => {
                        let i = self.events_sel.offset + row;
                        if i < self.events.rows.len() {
                            self.events_sel.selected = i;
                        }
                    }
                    _ => {}
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// A drill's outcome in the interface's words.
pub fn outcome_msg(o: analyzer::report::DrillOutcome) -> Msg {
    use analyzer::report::DrillOutcome as O;
    match o {
        O::Completed => Msg::Completed,
        O::Aborted => Msg::Aborted,
        O::Unfinished => Msg::Unfinished,
    }
}

/// Where a state stands in the queue's "state" order: untouched first.
fn state_rank(s: AlertState) -> u8 {
    use AlertState as S;
    match s {
        S::New => 0,
        S::Reopened => 1,
        S::Escalated => 2,
        S::Acknowledged => 3,
        S::Assigned => 4,
        S::InProgress => 5,
        S::Pending => 6,
        S::Contained => 7,
        S::Resolved => 8,
        S::Closed | S::SignedOff => 9,
        S::Merged | S::Noted | S::Lifted => 10,
    }
}
