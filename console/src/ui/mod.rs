//! Rendering: one function per screen region, drawn from the [`App`] state alone (the
//! loader's last snapshot is part of it; nothing here waits or locks). The geometry helpers
//! ([`list_rows`], [`row_at`], [`tab_at`]) are shared with `App`, so a mouse click and the
//! drawn rows agree.
//!
//! ```text
//! ┌ 1 态势 │ 2 告警 │ 3 事件 │ 4 演练 ─────────────────── 2025-01-01 12:00:00 ┐  tabs + clock
//! │                                                                       │
//! │ the screen: situation | alerts (list or detail) | events | drills      │  body
//! │                                                                       │
//! └ data 2s ago | notice | read-only | operator ──────────────────────────┘  status line
//! ```
//! Popups (help, prompts, confirmations) are drawn over the body.

mod alert_detail;
mod alerts;
mod drills;
mod events;
mod help;
mod situation;

use std::time::Duration;

use analyzer::event::{AlertState, Severity};
use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::{App, ContainKind, Freshness, InputKind, Mode, RESOLUTIONS, Screen};
use crate::i18n::Msg;
use crate::keys::View;

/// Draws the whole console.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let (tabs, body, status) = areas(f.area());
    draw_tabs(f, app, tabs);
    match app.view() {
        View::Situation => situation::draw(f, app, body),
        View::Alerts => alerts::draw(f, app, body),
        View::AlertDetail => alert_detail::draw(f, app, body),
        View::Events => events::draw(f, app, body),
        View::Drills => drills::draw(f, app, body),
    }
    draw_status(f, app, status);
    match &app.mode {
        Mode::Help => help::draw(f, app, body),
        Mode::Contain(form) => {
            let area = popup(body, 60, 7);
            f.render_widget(Clear, area);
            let field = |i: usize, label: Msg, value: String| {
                let style = if form.field == i {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                Line::from(vec![
                    Span::raw(format!(" {:<10}", app.t(label))),
                    Span::styled(value, style),
                ])
            };
            let kinds = ContainKind::ALL
                .iter()
                .map(|k| {
                    if *k == form.kind {
                        format!("[{}]", k.name())
                    } else {
                        format!(" {} ", k.name())
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let lines = vec![
                field(0, Msg::Kind, kinds),
                field(1, Msg::Value, format!("{}▏", form.value)),
                field(2, Msg::Duration, format!("{}▏", form.duration)),
                Line::styled(
                    format!(" {}", app.t(Msg::FormHelp)),
                    Style::default().fg(Color::DarkGray),
                ),
            ];
            f.render_widget(
                Paragraph::new(lines).block(titled(app.t(Msg::PromptContain))),
                area,
            );
        }
        Mode::Resolution { index, .. } => {
            let area = popup(body, 50, RESOLUTIONS.len() as u16 + 2);
            f.render_widget(Clear, area);
            let lines: Vec<Line<'_>> = RESOLUTIONS
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let text = format!(" {} {}", i + 1, analyzer::lifecycle::resolution_name(*r));
                    if i == *index {
                        Line::styled(text, Style::default().add_modifier(Modifier::REVERSED))
                    } else {
                        Line::raw(text)
                    }
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines).block(titled(app.t(Msg::PromptClose))),
                area,
            );
        }
        Mode::Confirm { command, question } => {
            let area = popup(body, 64, 6);
            f.render_widget(Clear, area);
            let what = match command.as_ref() {
                crate::app::Command::StartDrill { scenario } => format!(
                    "{} — {}",
                    scenario.name,
                    match app.lang {
                        crate::config::Language::En => scenario.en,
                        crate::config::Language::Zh => scenario.zh,
                    }
                ),
                crate::app::Command::AbortDrill => app
                    .drill
                    .as_ref()
                    .map(|r| r.scenario.name.to_owned())
                    .unwrap_or_default(),
                crate::app::Command::Act { preview: t, .. }
                | crate::app::Command::Contain { preview: t, .. } => {
                    let mut s = format!(
                        "{} → {}",
                        short_id(&t.alert_id),
                        analyzer::lifecycle::state_name(t.state)
                    );
                    if !t.note.is_empty() {
                        s.push_str(": ");
                        s.push_str(t.note.lines().next().unwrap_or(""));
                    }
                    s
                }
                _ => String::new(),
            };
            let lines = vec![
                Line::raw(format!(" {}", app.t(*question))),
                Line::raw(format!(" {what}")),
                Line::raw(""),
                Line::styled(
                    format!(" {}", app.t(Msg::YesNo)),
                    Style::default().fg(Color::DarkGray),
                ),
            ];
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(titled(app.t(Msg::Confirm))),
                area,
            );
        }
        Mode::Normal | Mode::Input { .. } => {}
    }
}

/// Tab bar, body and status line.
fn areas(area: Rect) -> (Rect, Rect, Rect) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    (tabs, body, status)
}

/// Rows a list view shows at `size` (the list's own header and info line excluded).
pub fn list_rows(size: (u16, u16), view: View) -> usize {
    list_area(size, view).map_or(1, |a| usize::from(a.height).max(1))
}

/// Where a list view's rows are drawn (below its info line and column header).
fn list_area(size: (u16, u16), view: View) -> Option<Rect> {
    let (_, body, _) = areas(Rect::new(0, 0, size.0, size.1));
    let below = match view {
        View::Alerts => 0,
        View::Events => events::PREVIEW,
        _ => return None,
    };
    let height = body.height.saturating_sub(2 + below);
    Some(Rect::new(body.x, body.y + 2, body.width, height))
}

/// The list row (from the first shown) at a terminal cell.
pub fn row_at(size: (u16, u16), view: View, col: u16, row: u16) -> Option<usize> {
    let a = list_area(size, view)?;
    (row >= a.y && row < a.y + a.height && col < a.x + a.width).then(|| usize::from(row - a.y))
}

fn tab_labels(app: &App) -> Vec<(Screen, String)> {
    Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, format!(" {} {} ", i + 1, app.t(s.title()))))
        .collect()
}

/// The screen whose tab is at a terminal cell.
pub fn tab_at(app: &App, col: u16, row: u16) -> Option<Screen> {
    if row != 0 {
        return None;
    }
    let mut x = 0u16;
    for (screen, label) in tab_labels(app) {
        let w = Span::raw(label.as_str()).width() as u16;
        if col >= x && col < x + w {
            return Some(screen);
        }
        x += w + 1;
    }
    None
}

fn draw_tabs(f: &mut Frame<'_>, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, (screen, label)) in tab_labels(app).into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("│", Style::default().fg(Color::DarkGray)));
        }
        let style = if screen == app.screen {
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::Cyan)
        };
        spans.push(Span::styled(label, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    let clock = format!("天目 {} ", local(app, app.now).format("%Y-%m-%d %H:%M:%S"));
    f.render_widget(
        Paragraph::new(clock).alignment(ratatui::layout::Alignment::Right),
        area,
    );
}

fn draw_status(f: &mut Frame<'_>, app: &App, area: Rect) {
    if let Mode::Input { kind, text } = &app.mode {
        let prompt = match kind {
            InputKind::Filter => "/".to_owned(),
            InputKind::Command => ":".to_owned(),
            InputKind::Assign => format!("{}: ", app.t(Msg::PromptAssign)),
            InputKind::Note => format!("{}: ", app.t(Msg::PromptNote)),
        };
        f.render_widget(Paragraph::new(format!("{prompt}{text}▏")), area);
        return;
    }
    let mut spans = Vec::new();
    match app.freshness() {
        Freshness::Loading => spans.push(Span::styled(
            app.t(Msg::Loading),
            Style::default().fg(Color::Yellow),
        )),
        Freshness::Fresh(age) => spans.push(Span::styled(
            format!("{} {} {}", app.t(Msg::DataAge), span(age), app.t(Msg::Ago)),
            Style::default().fg(Color::Green),
        )),
        Freshness::Stale(age, error) => {
            let age = age.map_or("—".to_owned(), |a| {
                format!("{} {}", span(a), app.t(Msg::Ago))
            });
            let mut text = format!("{} {} {age}", app.t(Msg::Stale), app.t(Msg::DataAge));
            if !error.is_empty() {
                text.push_str(": ");
                text.push_str(error.lines().next().unwrap_or(""));
            }
            spans.push(Span::styled(
                text,
                Style::default()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            ));
        }
    }
    if let Some(n) = &app.notice {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(
            n.text.lines().next().unwrap_or("").to_owned(),
            Style::default().fg(if n.error { Color::Red } else { Color::Green }),
        ));
    }
    if app.notice.is_none()
        && let Some(why) = &app.notifications
    {
        spans.push(Span::styled(
            format!(" │ {}: {why}", app.t(Msg::NotificationsOff)),
            Style::default().fg(Color::DarkGray),
        ));
    }
    let right = format!(
        "{}{} ?",
        if app.read_only {
            format!("{} │ ", app.t(Msg::ReadOnly))
        } else {
            String::new()
        },
        app.actor
    );
    let [left, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(Span::raw(right.as_str()).width() as u16 + 1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(Line::from(spans)), left);
    f.render_widget(
        Paragraph::new(right).alignment(ratatui::layout::Alignment::Right),
        r,
    );
}

/// A block with a title on its top border.
/// A table's header row: its columns' names in the interface language, underlined.
fn header_row<const N: usize>(app: &App, columns: [Msg; N]) -> ratatui::widgets::Row<'static> {
    ratatui::widgets::Row::new(columns.map(|m| ratatui::widgets::Cell::from(app.t(m))))
        .style(Style::default().add_modifier(Modifier::UNDERLINED))
}

/// The grey line an empty list shows: `none` once data has loaded, "loading" before.
fn empty_note(app: &App, none: Msg) -> Paragraph<'static> {
    let msg = if app.data.is_some() {
        none
    } else {
        Msg::Loading
    };
    Paragraph::new(Line::styled(
        format!(" {}", app.t(msg)),
        Style::default().fg(Color::DarkGray),
    ))
}

fn titled(title: &str) -> Block<'_> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(Span::styled(
            format!(" {title} "),
            Style::default().add_modifier(Modifier::BOLD),
        ))
}

/// A section: a title on a top rule only (saves lines at 80×24).
fn section(title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::TOP)
        .border_style(Style::default().fg(Color::DarkGray))
        .title(Span::styled(
            title,
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ))
}

/// A centred box at most `w`×`h`.
fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// `t` in the console's time zone.
fn local(app: &App, t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&app.utc_offset)
}

/// A short, human span: `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn short_id(id: &uuid::Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Critical => Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
        Severity::High => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Medium => Style::default().fg(Color::Yellow),
        Severity::Low => Style::default().fg(Color::Blue),
        Severity::None => Style::default().fg(Color::DarkGray),
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::High => "HIGH",
        Severity::Medium => "MED",
        Severity::Low => "LOW",
        Severity::None => "-",
    }
}

fn state_style(s: AlertState) -> Style {
    match s {
        AlertState::New | AlertState::Reopened => {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
        AlertState::Escalated => Style::default().fg(Color::Magenta),
        AlertState::Closed | AlertState::SignedOff | AlertState::Merged => {
            Style::default().fg(Color::DarkGray)
        }
        AlertState::Contained | AlertState::Resolved => Style::default().fg(Color::Green),
        _ => Style::default().fg(Color::Yellow),
    }
}

/// `s` cut to `n` columns, with `…` when cut.
fn cut(s: &str, n: usize) -> String {
    if Span::raw(s).width() <= n {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = Span::raw(c.to_string()).width();
        if w + cw + 1 > n {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// A selected row's style.
fn selected() -> Style {
    Style::default()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}
