//! The Drills screen (应急演练): the scenarios to pick from, the drill running from this
//! console with its timer and phases as they are recorded, and the history of drills with
//! their scores (read from the `drills` table, scored as the report scores them).
//!
//! ```text
//!  Scenarios ───────────────────── Drill bulk-exfil · fbbff16a ─────── ⏱ 00:42 running
//!  > bulk-exfil  analyst_li pages… +00:00 started       by wang, timeout 30m
//!    sqli        an injection ca…  +00:01 injected ×50  analyst_li postgres: SELECT …
//!    …                             +00:06 detected      alert df665037 about analyst_li
//!  alert: bulk-exfiltration …      waiting for the alert to be acknowledged
//!  History ──────────────────────────────────────────────────────────────────────────
//!  started      scenario     outcome     detect    ack  contain  close  alert
//! ```

use std::time::Duration;

use analyzer::drill::{SCENARIOS, phase_name};
use analyzer::event::DrillPhase;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{cut, empty_note, header_row, local, section, selected, short_id, span};
use crate::app::{App, DrillRun, outcome_msg};
use crate::config::Language;
use crate::i18n::Msg;

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let history = app.data.as_ref().map_or(0, |d| d.drills.len()) as u16;
    let history_h = (history.max(1) + 2).min(area.height / 2).max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(history_h)]).areas(area);
    let left_w = if area.width >= 110 { 44 } else { 30 };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(0)]).areas(top);
    draw_scenarios(f, app, left);
    draw_run(f, app, right);
    draw_history(f, app, bottom);
}

/// The scenarios, the selected one's alert below them.
fn draw_scenarios(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = section(format!(" {} ", app.t(Msg::Scenarios)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line<'_>> = SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let about = match app.lang {
                Language::En => s.en,
                Language::Zh => s.zh,
            };
            let text = cut(
                &format!(
                    "{} {:<11} {about}",
                    if i == app.drill_sel { ">" } else { " " },
                    s.name
                ),
                width,
            );
            if i == app.drill_sel {
                Line::styled(text, selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    if let Some(s) = SCENARIOS.get(app.drill_sel) {
        lines.push(Line::raw(""));
        let about = format!(
            "{}: {}{}",
            app.t(Msg::AlertWord),
            s.detectors.join(" / "),
            s.entity.map(|e| format!(" · {e}")).unwrap_or_default()
        );
        lines.push(Line::styled(
            cut(&about, width),
            Style::default().fg(Color::DarkGray),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn phase_msg(p: DrillPhase) -> Option<Msg> {
    Some(match p {
        DrillPhase::Started => Msg::Started,
        DrillPhase::Injected => Msg::Injected,
        DrillPhase::Detected => Msg::PhaseDetected,
        DrillPhase::Acknowledged => Msg::PhaseAcknowledged,
        DrillPhase::Contained => Msg::PhaseContained,
        DrillPhase::Closed => Msg::PhaseClosed,
        DrillPhase::Aborted => Msg::Aborted,
    })
}

/// The running (or last) drill: timer, phases, what it waits for, its score.
fn draw_run(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(run) = &app.drill else {
        let block = section(format!(" {} ", app.t(Msg::DrillRun)));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let msg = if app.drills_enabled {
            Msg::NoDrill
        } else {
            Msg::DrillsDisabled
        };
        f.render_widget(
            Paragraph::new(Line::styled(
                format!(" {}", app.t(msg)),
                Style::default().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    };
    let title = format!(
        " {} {}{} ",
        app.t(Msg::DrillRun),
        run.scenario.name,
        run.drill_id
            .map(|id| format!(" · {}", analyzer::drill::short(&id)))
            .unwrap_or_default()
    );
    let (state, style) = match &run.ended {
        None => (
            app.t(Msg::Running).to_owned(),
            Style::default()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ),
        Some((_, Ok(Some(r)))) => (
            app.t(outcome_msg(r.outcome)).to_owned(),
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        ),
        Some(_) => (
            app.t(Msg::Failed).to_owned(),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let timer = format!(" ⏱ {} {state} ", clock(run.elapsed(app.now)));
    let block =
        section(title).title(ratatui::text::Line::from(Span::styled(timer, style)).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    f.render_widget(Paragraph::new(run_lines(app, run, inner.width)), inner);
}

fn run_lines<'a>(app: &App, run: &DrillRun, width: u16) -> Vec<Line<'a>> {
    let width = usize::from(width);
    let base = run
        .phases
        .iter()
        .find(|p| p.phase == DrillPhase::Started)
        .map_or(run.started, |p| p.time);
    let offset = |t: chrono::DateTime<chrono::Utc>| {
        format!("+{}", clock((t - base).to_std().unwrap_or_default()))
    };
    let label = |p: DrillPhase| phase_msg(p).map_or(phase_name(p), |m| app.t(m)).to_owned();
    let mut lines = Vec::new();
    let mut push = |at: String, what: String, detail: &str, style: Style| {
        let pad = 13usize.saturating_sub(Span::raw(what.as_str()).width());
        let text = cut(&format!(" {at} {what}{} {detail}", " ".repeat(pad)), width);
        lines.push(Line::styled(text, style));
    };
    let mut injected_shown = false;
    for p in &run.phases {
        // The injected steps sit after the start, before whatever followed them.
        if p.phase != DrillPhase::Started && !injected_shown {
            injected_line(app, run, &offset, &mut push);
            injected_shown = true;
        }
        let style = match p.phase {
            DrillPhase::Aborted => Style::default().fg(Color::Red),
            DrillPhase::Started => Style::default(),
            _ => Style::default().fg(Color::Green),
        };
        push(offset(p.time), label(p.phase), &p.detail, style);
    }
    if !injected_shown {
        injected_line(app, run, &offset, &mut push);
    }
    match &run.ended {
        None => lines.push(Line::styled(
            cut(
                &format!(" {} {}", app.t(Msg::WaitingFor), app.t(run.waiting_for())),
                width,
            ),
            Style::default().fg(Color::Yellow),
        )),
        Some((_, Ok(Some(r)))) => {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                cut(
                    &format!(
                        " {}: {} {} · {} {} · {} {} · {} {}",
                        app.t(Msg::Score),
                        app.t(Msg::Detect),
                        secs(r.detect_secs),
                        app.t(Msg::Ack),
                        secs(r.acknowledge_secs),
                        app.t(Msg::Contain),
                        secs(r.contain_secs),
                        app.t(Msg::CloseCol),
                        secs(r.close_secs)
                    ),
                    width,
                ),
                Style::default().add_modifier(Modifier::BOLD),
            ));
        }
        Some((_, Ok(None))) => {}
        Some((_, Err(e))) => lines.push(Line::styled(
            cut(&format!(" {e}"), width),
            Style::default().fg(Color::Red),
        )),
    }
    lines
}

fn injected_line(
    app: &App,
    run: &DrillRun,
    offset: &dyn Fn(chrono::DateTime<chrono::Utc>) -> String,
    push: &mut dyn FnMut(String, String, &str, Style),
) {
    if let (Some(first), Some(last)) = (run.first_injected, &run.last_injected) {
        push(
            offset(first),
            format!("{} ×{}", app.t(Msg::Injected), run.injected),
            &last.detail,
            Style::default().fg(Color::Cyan),
        );
    }
}

fn secs(s: Option<u64>) -> String {
    s.map_or("—".to_owned(), |s| span(Duration::from_secs(s)))
}

/// Past drills, newest first, with their scores.
fn draw_history(f: &mut Frame<'_>, app: &App, area: Rect) {
    let block = section(format!(" {} ", app.t(Msg::DrillHistory)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let drills = app
        .data
        .as_ref()
        .map(|d| d.drills.as_slice())
        .unwrap_or(&[]);
    if drills.is_empty() {
        f.render_widget(empty_note(app, Msg::NoDrills), inner);
        return;
    }
    let header = header_row(
        app,
        [
            Msg::Started,
            Msg::Scenario,
            Msg::Outcome,
            Msg::Detect,
            Msg::Ack,
            Msg::Contain,
            Msg::CloseCol,
            Msg::AlertWord,
        ],
    );
    let rows = drills
        .iter()
        .take(usize::from(inner.height.saturating_sub(1)))
        .map(|d| {
            let outcome = outcome_msg(d.outcome);
            let style = match d.outcome {
                analyzer::report::DrillOutcome::Completed => Style::default().fg(Color::Green),
                analyzer::report::DrillOutcome::Aborted => Style::default().fg(Color::Red),
                analyzer::report::DrillOutcome::Unfinished => Style::default().fg(Color::Yellow),
            };
            Row::new(vec![
                Cell::from(local(app, d.started).format("%m-%d %H:%M").to_string()),
                Cell::from(d.scenario.clone()),
                Cell::from(app.t(outcome)).style(style),
                Cell::from(secs(d.detect_secs)),
                Cell::from(secs(d.acknowledge_secs)),
                Cell::from(secs(d.contain_secs)),
                Cell::from(secs(d.close_secs)),
                Cell::from(d.alert_id.map(|a| short_id(&a)).unwrap_or_default()),
            ])
        });
    let widths = [
        Constraint::Length(11),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(8),
    ];
    f.render_widget(Table::new(rows, widths).header(header), inner);
}
