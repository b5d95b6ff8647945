//! The state machine behind the keys: which keys give which commands, what asks for
//! confirmation, what read-only mode refuses, and the command line.

use std::time::Duration;

use analyzer::event::{AlertState, Resolution};
use console::app::{App, Command, ContainKind, Mode, Screen, SortKey};
use console::config::{ConsoleConfig, Language};
use console::data::{EventFilter, Update};
use console::fixture;
use console::keys::View;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use rules::policy::containment::Target;

fn app(read_only: bool) -> App {
    let cfg = ConsoleConfig {
        language: Language::En,
        refresh: Duration::from_secs(2),
        read_only,
    };
    let mut app = App::new(&cfg, "zhang.wei", fixture::now());
    app.resize(80, 24);
    app.update(Update::Snapshot(Box::new(fixture::snapshot(0, 40))));
    app
}

fn press(app: &mut App, keys: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            '\t' => KeyCode::Tab,
            '\x08' => KeyCode::Backspace,
            c => KeyCode::Char(c),
        };
        out.extend(app.handle_key(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    out
}

/// The one transition in `cmds`.
fn recorded(cmds: &[Command]) -> &analyzer::event::Transition {
    match cmds {
        [Command::Act { preview, .. }] => preview,
        other => panic!("expected one Act, got {other:?}"),
    }
}

#[test]
fn screens_switch_with_tab_digits_and_back() {
    let mut a = app(false);
    assert_eq!(a.screen, Screen::Situation);
    press(&mut a, "\t");
    assert_eq!(a.screen, Screen::Alerts);
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.screen, Screen::Situation);
    press(&mut a, "3");
    assert_eq!(a.screen, Screen::Events);
    press(&mut a, "2j");
    let cmds = press(&mut a, "\n");
    assert!(matches!(cmds.as_slice(), [Command::LoadEvidence { ids, .. }] if ids.len() == 12));
    assert_eq!(a.view(), View::AlertDetail);
    press(&mut a, "\x1b");
    assert_eq!(a.view(), View::Alerts);
    assert_eq!(press(&mut a, "q"), vec![Command::Quit]);
    assert!(a.quit);
}

#[test]
fn acknowledge_is_one_key_and_checked_against_the_lifecycle() {
    let mut a = app(false);
    press(&mut a, "2j"); // bulk exfiltration, new
    let cmds = press(&mut a, "a");
    let t = recorded(&cmds);
    assert_eq!(t.state, AlertState::Acknowledged);
    assert_eq!(t.actor, "zhang.wei");
    assert_eq!(
        t.alert_id,
        a.target().map(|r| r.alert.alert_id).unwrap_or_default()
    );
    // The first row is already acknowledged (and assigned): the lifecycle says no.
    press(&mut a, "g");
    assert!(press(&mut a, "a").is_empty());
    assert!(a.notice.as_ref().is_some_and(|n| n.error), "{:?}", a.notice);
}

#[test]
fn assign_and_note_prompt_for_text() {
    let mut a = app(false);
    press(&mut a, "2j");
    assert!(press(&mut a, "s").is_empty());
    assert!(matches!(a.mode, Mode::Input { .. }));
    let cmds = press(&mut a, "li.nx\x08a\n");
    let t = recorded(&cmds);
    assert_eq!((t.state, t.note.as_str()), (AlertState::Assigned, "li.na"));
    // Esc abandons a prompt.
    assert!(press(&mut a, "nsomething\x1b").is_empty());
    assert_eq!(a.mode, Mode::Normal);
    let cmds = press(&mut a, "ncalled the analyst\n");
    let t = recorded(&cmds);
    assert_eq!(
        (t.state, t.note.as_str()),
        (AlertState::Noted, "called the analyst")
    );
}

#[test]
fn escalate_and_close_ask_for_confirmation() {
    let mut a = app(false);
    press(&mut a, "2j");
    assert!(press(&mut a, "e").is_empty());
    assert!(matches!(a.mode, Mode::Confirm { .. }));
    assert!(press(&mut a, "n").is_empty(), "n declines");
    assert_eq!(a.mode, Mode::Normal);
    press(&mut a, "e");
    assert!(press(&mut a, "x").is_empty(), "other keys wait for y/n");
    let cmds = press(&mut a, "y");
    assert_eq!(recorded(&cmds).state, AlertState::Escalated);

    // Close: pick a resolution (3: false positive), then confirm.
    assert!(press(&mut a, "x").is_empty());
    assert!(matches!(a.mode, Mode::Resolution { .. }));
    assert!(press(&mut a, "3\n").is_empty());
    assert!(matches!(a.mode, Mode::Confirm { .. }));
    let cmds = press(&mut a, "y");
    let t = recorded(&cmds);
    assert_eq!(
        (t.state, t.resolution),
        (AlertState::Closed, Resolution::FalsePositive)
    );
}

#[test]
fn contain_prefills_the_entity_and_confirms() {
    let mut a = app(false);
    press(&mut a, "2j"); // analyst_li
    press(&mut a, "c");
    let Mode::Contain(form) = &a.mode else {
        panic!("c opens the containment form: {:?}", a.mode);
    };
    assert_eq!(
        (form.kind, form.value.as_str(), form.duration.as_str()),
        (ContainKind::Account, "analyst_li", "1h")
    );
    // Duration field: 1h → 30m; kind stays account.
    press(&mut a, "\t\t\x08\x0830m");
    let Mode::Contain(form) = &a.mode else {
        panic!("still in the form");
    };
    assert_eq!(form.duration, "30m");
    assert!(press(&mut a, "\n").is_empty());
    assert!(matches!(a.mode, Mode::Confirm { .. }));
    let cmds = press(&mut a, "y");
    let [
        Command::Contain {
            target,
            duration,
            preview: transition,
            ..
        },
    ] = cmds.as_slice()
    else {
        panic!("expected a Contain, got {cmds:?}");
    };
    assert_eq!(*target, Target::Account("analyst_li".into()));
    assert_eq!(*duration, Duration::from_secs(1800));
    assert_eq!(transition.state, AlertState::Contained);
    assert!(
        transition
            .note
            .starts_with("account analyst_li blocked for 30m"),
        "{}",
        transition.note
    );

    // A bad duration keeps the form open with a message.
    press(&mut a, "c\t\t\x08\x08soon\n");
    assert!(matches!(a.mode, Mode::Contain(_)));
    assert!(a.notice.as_ref().is_some_and(|n| n.error));
    // So does a value that is not of its kind: an account name as an address.
    press(&mut a, "\x1b");
    let right = KeyEvent::new(KeyCode::Right, KeyModifiers::NONE);
    press(&mut a, "c");
    a.handle_key(right);
    assert!(matches!(&a.mode, Mode::Contain(f) if f.kind == ContainKind::Address));
    assert!(press(&mut a, "\n").is_empty());
    assert!(matches!(a.mode, Mode::Contain(_)));
    assert!(
        a.notice
            .as_ref()
            .is_some_and(|n| n.error && n.text.contains("not an IP address")),
        "{:?}",
        a.notice
    );
}

#[test]
fn read_only_refuses_every_action() {
    let mut a = app(true);
    press(&mut a, "2j");
    for k in ["a", "s", "n", "e", "c", "r", "x", "o"] {
        a.notice = None;
        assert!(press(&mut a, k).is_empty(), "{k} gave a command");
        assert_eq!(a.mode, Mode::Normal, "{k} opened a prompt");
        assert!(
            a.notice
                .as_ref()
                .is_some_and(|n| n.error && n.text.contains("read-only")),
            "{k}: {:?}",
            a.notice
        );
    }
    // Looking around still works.
    assert!(!press(&mut a, "\n").is_empty());
}

#[test]
fn command_line_quits_switches_language_and_filters() {
    let mut a = app(false);
    press(&mut a, ":lang zh\n");
    assert_eq!(a.lang, Language::Zh);
    press(&mut a, "3");
    let cmds = press(&mut a, ":filter account=analyst_li level>=3\n");
    let want = EventFilter::parse("account=analyst_li level>=3").expect("parses");
    assert_eq!(cmds, vec![Command::SetEventFilter(want.clone())]);
    assert_eq!(a.event_filter, want);
    assert!(press(&mut a, ":filter level>=9\n").is_empty());
    assert!(a.notice.as_ref().is_some_and(|n| n.error));
    press(&mut a, "2:sort time\n");
    assert_eq!(a.sort, SortKey::Time);
    press(&mut a, ":frobnicate\n");
    assert!(a.notice.as_ref().is_some_and(|n| n.error));
    assert_eq!(press(&mut a, ":q\n"), vec![Command::Quit]);
}

#[test]
fn alert_filter_and_sort() {
    let mut a = app(false);
    press(&mut a, "2/analyst\n");
    let shown: Vec<_> = a.alerts().iter().map(|r| r.alert.entity.clone()).collect();
    assert_eq!(shown, ["analyst_li", "analyst_li"]);
    press(&mut a, "/\x08\x08\x08\x08\x08\x08\x08\n");
    assert_eq!(a.alerts().len(), 6);
    let sev: Vec<_> = a.alerts().iter().map(|r| r.alert.severity).collect();
    assert!(sev.windows(2).all(|w| w[0] >= w[1]), "{sev:?}");
    press(&mut a, "S"); // time
    let t: Vec<_> = a.alerts().iter().map(|r| r.raised).collect();
    assert!(t.windows(2).all(|w| w[0] >= w[1]));
    press(&mut a, "~");
    let t: Vec<_> = a.alerts().iter().map(|r| r.raised).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]));
    press(&mut a, "S"); // state: new ones first
    press(&mut a, "~");
    let first = a.alerts()[0].timeline.state();
    assert_eq!(first, AlertState::New);
}

#[test]
fn selection_survives_a_refresh_and_the_tail_can_pause() {
    let mut a = app(false);
    press(&mut a, "2jj");
    let before = a.target().map(|r| r.alert.alert_id);
    a.update(Update::Snapshot(Box::new(fixture::snapshot(10, 40))));
    assert_eq!(a.target().map(|r| r.alert.alert_id), before);
    press(&mut a, "3t");
    assert!(!a.tail);
    a.update(Update::Snapshot(Box::new(fixture::snapshot(0, 5))));
    assert_eq!(a.events.rows.len(), 40, "paused: the rows stay");
    press(&mut a, "t");
    assert_eq!(a.events.rows.len(), 5, "resumed: the newest rows");
}

#[test]
fn mouse_scrolls_selects_and_switches_tabs() {
    let mut a = app(false);
    let click = |col, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: col,
        row,
        modifiers: KeyModifiers::NONE,
    };
    a.handle_mouse(click(16, 0)); // the "2 Alerts" tab
    assert_eq!(a.screen, Screen::Alerts);
    a.handle_mouse(click(10, 5)); // tabs, info line, header: row 5 is the third alert
    assert_eq!(a.alerts_sel.selected, 2);
    let cmds = a.handle_mouse(click(10, 5)); // a second click opens it
    assert!(matches!(cmds.as_slice(), [Command::LoadEvidence { .. }]));
    press(&mut a, "\x1b");
    a.handle_mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(a.alerts_sel.selected, 3);
}

#[test]
fn an_event_opens_the_alert_it_is_evidence_of() {
    let mut a = app(false);
    press(&mut a, "3");
    let cmds = press(&mut a, "\n"); // the newest statement is evidence of several alerts
    assert!(
        matches!(cmds.as_slice(), [Command::LoadEvidence { .. }]),
        "{cmds:?}"
    );
    assert_eq!(a.view(), View::AlertDetail);
}

#[test]
fn stale_marker_follows_failures_and_age() {
    use console::app::Freshness;
    let mut a = app(false);
    assert!(matches!(a.freshness(), Freshness::Fresh(d) if d == Duration::from_secs(2)));
    a.update(Update::Failed {
        at: fixture::now(),
        error: "connection refused".into(),
    });
    assert!(matches!(a.freshness(), Freshness::Stale(Some(_), ref e) if e == "connection refused"));
    a.update(Update::Snapshot(Box::new(fixture::snapshot(0, 1))));
    assert!(matches!(a.freshness(), Freshness::Fresh(_)));
    a.tick(fixture::now() + chrono::Duration::seconds(60));
    assert!(matches!(a.freshness(), Freshness::Stale(Some(_), _)));
}

/// Drills: Enter on a scenario asks to confirm, y starts it (one at a time), X aborts it
/// after a confirmation; phases arrive and the drill ends with its score; read-only mode and
/// a console without an injector refuse.
#[test]
fn drills_start_once_abort_with_confirmation_and_end_with_a_score() {
    use analyzer::drill::{Progress, SCENARIOS};
    use analyzer::event::DrillPhase;
    let mut a = app(false);
    press(&mut a, "4");
    assert_eq!(a.view(), View::Drills);
    assert!(press(&mut a, "\n").is_empty());
    assert!(
        a.notice.as_ref().is_some_and(|n| n.error),
        "no injector: refused"
    );
    a.drills_enabled = true;
    press(&mut a, "jj");
    assert!(press(&mut a, "\n").is_empty());
    assert!(matches!(a.mode, Mode::Confirm { .. }));
    assert!(press(&mut a, "n").is_empty(), "n cancels");
    assert!(a.drill.is_none());
    press(&mut a, "\n");
    let cmds = press(&mut a, "y");
    assert_eq!(
        cmds,
        [Command::StartDrill {
            scenario: &SCENARIOS[2]
        }]
    );
    let run = a.drill.as_ref().expect("a drill runs");
    assert_eq!(run.scenario.name, "vendor-prod");
    assert!(run.running());
    // A second drill waits for the first.
    assert!(press(&mut a, "k\n").is_empty());
    assert_eq!(a.mode, Mode::Normal);
    let p = |phase, secs: i64| Progress {
        drill_id: uuid::Uuid::from_u128(1),
        scenario: "vendor-prod",
        phase,
        time: fixture::now() + chrono::Duration::seconds(secs),
        alert_id: None,
        detail: String::new(),
    };
    a.drill_progress(p(DrillPhase::Started, 0));
    a.drill_progress(p(DrillPhase::Injected, 1));
    a.drill_progress(p(DrillPhase::Injected, 2));
    a.drill_progress(p(DrillPhase::Detected, 5));
    let run = a.drill.as_ref().expect("a drill runs");
    assert_eq!((run.injected, run.phases.len()), (2, 2));
    assert_eq!(run.waiting_for(), console::i18n::Msg::TheAck);
    a.tick(fixture::now() + chrono::Duration::seconds(70));
    assert_eq!(run_elapsed(&a), 70);
    // Abort asks first.
    assert!(press(&mut a, "X").is_empty());
    assert_eq!(press(&mut a, "y"), [Command::AbortDrill]);
    a.drill_progress(p(DrillPhase::Aborted, 71));
    let score = analyzer::drill::score(&a.drill.as_ref().expect("run").phases);
    a.drill_ended(Ok(score));
    let run = a.drill.as_ref().expect("a drill ran");
    assert!(!run.running());
    a.tick(fixture::now() + chrono::Duration::seconds(500));
    assert_eq!(run_elapsed(&a), 70, "the timer stops at the end");
    assert!(press(&mut a, "X").is_empty(), "nothing to abort");
    // Read-only: no drills.
    let mut r = app(true);
    r.drills_enabled = true;
    press(&mut r, "4");
    assert!(press(&mut r, "\n").is_empty());
    assert_eq!(r.mode, Mode::Normal);
}

fn run_elapsed(a: &App) -> u64 {
    a.drill.as_ref().map_or(0, |r| r.elapsed(a.now).as_secs())
}
