//! Every screen drawn from the fixture (console::fixture) on ratatui's TestBackend at 80×24
//! and 120×40, compared as text with the snapshots in `tests/snapshots/` (insta; accept a
//! deliberate change with `INSTA_UPDATE=always` or `cargo insta review`).

use console::app::{App, Screen};
use console::config::{ConsoleConfig, Language};
use console::data::Update;
use console::fixture;
use console::keys::{Action, BINDINGS};
use console::ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Duration;

fn config(lang: Language) -> ConsoleConfig {
    ConsoleConfig {
        language: lang,
        refresh: Duration::from_secs(2),
        read_only: false,
    }
}

fn app(lang: Language, (w, h): (u16, u16)) -> App {
    let mut app = App::new(&config(lang), "zhang.wei", fixture::now());
    app.resize(w, h);
    app.update(Update::Snapshot(Box::new(fixture::snapshot(0, 40))));
    app
}

/// The screen as text, one line per row (wide characters once, trailing blanks cut).
fn render(app: &App) -> String {
    let (w, h) = app.size;
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..w {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            skip = ratatui::text::Span::raw(sym).width().saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn each_size(name: &str, lang: Language, setup: impl Fn(&mut App)) {
    for size in SIZES {
        let mut a = app(lang, size);
        setup(&mut a);
        let screen = render(&a);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), screen);
    }
}

#[test]
fn situation() {
    each_size("situation_en", Language::En, |_| {});
    each_size("situation_zh", Language::Zh, |_| {});
}

#[test]
fn alert_queue() {
    each_size("alerts_en", Language::En, |a| {
        a.handle(Action::GotoAlerts);
        a.handle(Action::Down);
    });
    each_size("alerts_zh", Language::Zh, |a| {
        a.handle(Action::GotoAlerts);
    });
}

#[test]
fn alert_detail_with_evidence() {
    each_size("alert_detail_en", Language::En, |a| {
        a.handle(Action::GotoAlerts);
        a.handle(Action::Down); // the critical injection campaign is first; the bulk exfiltration second
        let cmds = a.handle(Action::Open);
        let Some(console::app::Command::LoadEvidence { alert, ids, .. }) = cmds.first().cloned()
        else {
            panic!("Enter asks for the evidence: {cmds:?}");
        };
        let rows = fixture::events(40, fixture::now())
            .into_iter()
            .filter(|e| ids.contains(&e.id))
            .collect();
        a.update(Update::Evidence {
            alert,
            rows: Ok(rows),
        });
    });
}

#[test]
fn event_explorer() {
    each_size("events_en", Language::En, |a| {
        a.handle(Action::GotoEvents);
        a.handle(Action::Down);
        a.handle(Action::Down);
    });
}

#[test]
fn help_overlay() {
    each_size("help_zh", Language::Zh, |a| {
        a.handle(Action::Help);
    });
}

#[test]
fn prompts_and_confirmations() {
    each_size("contain_form_en", Language::En, |a| {
        a.handle(Action::GotoAlerts);
        a.handle(Action::Down);
        a.handle(Action::Contain);
    });
    each_size("close_resolution_en", Language::En, |a| {
        a.handle(Action::GotoAlerts);
        a.handle(Action::Close);
        a.handle_key(key('3'));
    });
    each_size("confirm_escalate_en", Language::En, |a| {
        a.handle(Action::GotoAlerts);
        a.handle(Action::Down);
        a.handle(Action::Escalate);
    });
    each_size("filter_input_en", Language::En, |a| {
        a.handle(Action::GotoEvents);
        a.handle(Action::Filter);
        for c in " level>=4".chars() {
            a.handle_key(key(c));
        }
    });
}

#[test]
fn stale_and_loading() {
    // Nothing loaded yet, ClickHouse down: a loading screen with the stale marker.
    let mut a = App::new(&config(Language::En), "zhang.wei", fixture::now());
    a.resize(80, 24);
    a.update(Update::Failed {
        at: fixture::now(),
        error: "no answer from ClickHouse within 5s (clickhouse.timeout)".into(),
    });
    insta::assert_snapshot!("stale_no_data_80x24", render(&a));
    // Data, then the clock runs on without a new load: stale, with the data's age.
    let mut a = app(Language::En, (80, 24));
    a.tick(fixture::now() + chrono::Duration::seconds(45));
    let screen = render(&a);
    assert!(
        screen
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("STALE data 47s ago"),
        "{screen}"
    );
}

/// The help overlay lists every binding of the registry (scrolling through at 80×24).
#[test]
fn help_lists_every_binding() {
    for (lang, size) in [(Language::En, (120, 40)), (Language::Zh, (80, 24))] {
        let mut a = app(lang, size);
        a.handle(Action::Help);
        let mut seen = String::new();
        for _ in 0..BINDINGS.len() {
            seen.push_str(&render(&a));
            a.handle_key(key('j'));
        }
        for b in BINDINGS {
            assert!(seen.contains(b.label), "{} missing from the help", b.label);
            let desc: String = b.describe(lang).chars().take(12).collect();
            assert!(
                seen.contains(&desc),
                "{desc:?} ({}) missing from the help",
                b.label
            );
        }
    }
}

/// Resizing redraws at the new size with the selection still shown.
#[test]
fn resizes_keep_the_selection_visible() {
    let mut a = app(Language::En, (120, 40));
    a.handle(Action::GotoEvents);
    for _ in 0..30 {
        a.handle(Action::Down);
    }
    a.resize(80, 24);
    let sel = a.events_sel;
    assert_eq!(sel.selected, 30);
    let rows = ui::list_rows(a.size, a.view());
    assert!(
        sel.offset <= 30 && 30 < sel.offset + rows,
        "{sel:?} with {rows} rows"
    );
    assert!(render(&a).contains(&fixture::events(40, fixture::now())[30].client));
    assert_eq!(a.screen, Screen::Events);
}

#[test]
fn drills() {
    use analyzer::drill::{Progress, SCENARIOS};
    use analyzer::event::DrillPhase;
    // Nothing running: the scenarios and the history.
    each_size("drills_idle_en", Language::En, |a| {
        a.drills_enabled = true;
        a.handle(Action::GotoDrills);
        a.handle(Action::Down);
    });
    // A drill running: timer, phases so far, what it waits for.
    let now = fixture::now();
    let phase = |phase, secs: i64, detail: &str| Progress {
        drill_id: uuid::Uuid::from_u128(0xd1),
        scenario: "bulk-exfil",
        phase,
        time: now + chrono::Duration::seconds(secs),
        alert_id: (phase == DrillPhase::Detected).then(|| uuid::Uuid::from_u128(0xa1)),
        detail: detail.into(),
    };
    let start = |a: &mut App| {
        a.drills_enabled = true;
        a.handle(Action::GotoDrills);
        a.handle(Action::StartDrill);
        let cmds = a.handle_key(key('y'));
        assert_eq!(
            cmds,
            [console::app::Command::StartDrill {
                scenario: &SCENARIOS[0]
            }]
        );
        a.drill_progress(phase(
            DrillPhase::Started,
            0,
            "bulk-exfil by zhang.wei, timeout 30m",
        ));
        for i in 0..50 {
            a.drill_progress(phase(
                DrillPhase::Injected,
                1 + i / 5,
                "analyst_li postgres: SELECT id, name, gender, district_code FROM population ORDER BY id LIMIT 1000 OFFSET 49000",
            ));
        }
        a.drill_progress(phase(
            DrillPhase::Detected,
            6,
            "alert 00000000-0000-0000-0000-0000000000a1 about analyst_li",
        ));
        a.tick(now + chrono::Duration::seconds(83));
    };
    each_size("drills_running_zh", Language::Zh, |a| {
        a.lang = Language::Zh;
        start(a);
    });
    // Ended: the score.
    each_size("drills_done_en", Language::En, |a| {
        start(a);
        a.drill_progress(phase(
            DrillPhase::Acknowledged,
            41,
            "acknowledged by zhang.wei",
        ));
        a.drill_progress(phase(
            DrillPhase::Contained,
            95,
            "account analyst_li blocked for 1h (c-1a2b3c4d) by zhang.wei",
        ));
        a.drill_progress(phase(DrillPhase::Closed, 312, "tp-no-impact by zhang.wei"));
        a.tick(now + chrono::Duration::seconds(313));
        let result = fixture::drills(now).into_iter().next();
        a.drill_ended(Ok(result));
    });
}

#[test]
fn drill_start_asks_to_confirm() {
    each_size("confirm_drill_en", Language::En, |a| {
        a.drills_enabled = true;
        a.handle(Action::GotoDrills);
        a.handle(Action::StartDrill);
    });
}

/// Without a notification service, the status line says why notifications are off.
#[test]
fn notifications_off_note() {
    let mut a = app(Language::En, (80, 24));
    a.notifications = Some("no D-Bus session bus".into());
    let screen = render(&a);
    let status = screen.lines().last().unwrap_or("");
    assert!(
        status.contains("notifications off: no D-Bus session bus"),
        "{status}"
    );
}
