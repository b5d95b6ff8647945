//! One alert: what it is, its SLA timers, the timeline of its transitions and the
//! statements behind it.
//!
//! ```text
//!  HIGH bulk-exfiltration · analyst_li · 3f2a9c1e
//!  analyst_li read 120,000 rows of level-3 data in 5 minutes
//!  state new · assignee - · window 03:00–03:05 · raised 03:06
//!  SLA to acknowledge 4m10s (running) · to contain - · to close -
//! ─ Timeline ───────────────────────────────────────────────
//!  03:06:01 new        analyzer  analyst_li read …
//! ─ Evidence (12) ──────────────────────────────────────────
//!  time      account     decision rows   statement
//! ```

use analyzer::lifecycle::{self, AlertRecord};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{
    header_row, local, section, severity_style, severity_word, short_id, span, state_style,
};
use crate::app::App;
use crate::data::action_name;
use crate::i18n::Msg;

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(r) = app.target() else {
        f.render_widget(
            Paragraph::new(format!(" {}", app.t(Msg::NoAlertSelected))),
            area,
        );
        return;
    };
    let steps = r.timeline.steps.len() as u16;
    let timeline_h = (steps + 1).clamp(2, (area.height / 3).max(2));
    let [head, timeline, evidence] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(timeline_h),
        Constraint::Min(3),
    ])
    .areas(area);
    draw_head(f, app, r, head);
    draw_timeline(f, app, r, timeline);
    draw_evidence(f, app, r, evidence);
}

fn draw_head(f: &mut Frame<'_>, app: &App, r: &AlertRecord, area: Rect) {
    let a = &r.alert;
    let state = r.timeline.state();
    let hm = |t| local(app, t).format("%H:%M").to_string();
    let sla = r.timeline.sla();
    let since_raise = (app.now - r.raised).to_std().unwrap_or_default();
    let open = r.timeline.is_open();
    let timer = |label: Msg, took: Option<std::time::Duration>| -> Span<'static> {
        match took {
            Some(d) => Span::styled(
                format!("· {} {} ", app.t(label), span(d)),
                Style::default().fg(Color::Green),
            ),
            None if open => Span::styled(
                format!(
                    "· {} {} ({}) ",
                    app.t(label),
                    span(since_raise),
                    app.t(Msg::Running)
                ),
                Style::default().fg(Color::Yellow),
            ),
            None => Span::raw(format!("· {} - ", app.t(label))),
        }
    };
    let mut first = vec![
        Span::styled(
            format!(" {} ", severity_word(a.severity)),
            severity_style(a.severity),
        ),
        Span::styled(
            format!("{} · {} · {}", a.detector, a.entity, short_id(&a.alert_id)),
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ];
    if r.drill {
        first.push(Span::styled(
            " · drill",
            Style::default().fg(Color::DarkGray),
        ));
    }
    let lines = vec![
        Line::from(first),
        Line::raw(format!(" {}", a.title)),
        Line::from(vec![
            Span::raw(format!(" {} ", app.t(Msg::State))),
            Span::styled(lifecycle::state_name(state), state_style(state)),
            Span::raw(format!(
                " · {} {} · {} {}–{} · {}",
                app.t(Msg::Assignee),
                r.timeline.assignee().unwrap_or("-"),
                app.t(Msg::Window),
                hm(a.window_start),
                hm(a.window_end),
                local(app, r.raised).format("%m-%d %H:%M:%S"),
            )),
        ]),
        Line::from(vec![
            Span::raw(format!(" {} ", app.t(Msg::Sla))),
            timer(Msg::SlaAck, sla.acknowledge),
            timer(Msg::SlaContain, sla.contain),
            timer(Msg::SlaClose, sla.close),
        ]),
    ];
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_timeline(f: &mut Frame<'_>, app: &App, r: &AlertRecord, area: Rect) {
    let shown = usize::from(area.height.saturating_sub(1));
    // The newest steps when they do not all fit.
    let skip = r.timeline.steps.len().saturating_sub(shown);
    let rows = r.timeline.steps.iter().skip(skip).map(|s| {
        let mut note = s.note.replace('\n', " · ");
        if s.resolution != analyzer::event::Resolution::None {
            note = format!("{} {note}", lifecycle::resolution_name(s.resolution));
        }
        Row::new(vec![
            Cell::from(local(app, s.time).format("%m-%d %H:%M:%S").to_string()),
            Cell::from(lifecycle::state_name(s.state)).style(state_style(s.state)),
            Cell::from(s.actor.clone()),
            Cell::from(note),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Min(10),
        ],
    )
    .block(section(format!(" {} ", app.t(Msg::Timeline))));
    f.render_widget(table, area);
}

fn draw_evidence(f: &mut Frame<'_>, app: &App, r: &AlertRecord, area: Rect) {
    let ids = r.alert.evidence.len();
    let title = format!(" {} ({ids}) ", app.t(Msg::Evidence));
    let rows = match &app.evidence {
        Some((id, Ok(rows))) if *id == r.alert.alert_id => rows,
        Some((id, Err(e))) if *id == r.alert.alert_id => {
            f.render_widget(
                Paragraph::new(Line::styled(
                    format!(" {}: {e}", app.t(Msg::Failed)),
                    Style::default().fg(Color::Red),
                ))
                .block(section(title)),
                area,
            );
            return;
        }
        _ => {
            let msg = if ids == 0 {
                Msg::NoEvidence
            } else {
                Msg::Loading
            };
            f.render_widget(
                Paragraph::new(Line::styled(
                    format!(" {}", app.t(msg)),
                    Style::default().fg(Color::DarkGray),
                ))
                .block(section(title)),
                area,
            );
            return;
        }
    };
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new(format!(" {}", app.t(Msg::NoEvidence))).block(section(title)),
            area,
        );
        return;
    }
    let header = header_row(
        app,
        [
            Msg::Time,
            Msg::Account,
            Msg::Client,
            Msg::Decision,
            Msg::Rows,
            Msg::Statement,
        ],
    );
    let page = usize::from(area.height.saturating_sub(2));
    let skip = app.detail_scroll.min(rows.len().saturating_sub(page));
    let body = rows.iter().skip(skip).take(page).map(|e| {
        Row::new(vec![
            Cell::from(local(app, e.time).format("%H:%M:%S").to_string()),
            Cell::from(e.account.clone()),
            Cell::from(e.client.clone()),
            Cell::from(action_name(e.action)),
            Cell::from(e.rows.to_string()),
            Cell::from(e.normalized.clone()),
        ])
    });
    let table = Table::new(
        body,
        [
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(15),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(section(title));
    f.render_widget(table, area);
}
