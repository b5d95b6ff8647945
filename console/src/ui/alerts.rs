//! The alert queue.
//!
//! ```text
//!  42 alerts · sort severity ↓ · filter analyst
//!  sev  raised       state         detector            entity        title
//!  HIGH 01-02 03:04  new           bulk-exfiltration   analyst_li    analyst_li read …
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{
    cut, empty_note, header_row, local, selected, severity_style, severity_word, state_style,
};
use crate::app::App;
use crate::i18n::Msg;

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let [info, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let alerts = app.alerts();
    let mut spans = vec![Span::styled(
        format!(" {} {}", alerts.len(), app.t(Msg::Alerts)),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    spans.push(Span::raw(format!(
        " · {} {} {}",
        app.t(Msg::SortBy),
        app.sort.name(),
        if app.reverse { "↑" } else { "↓" }
    )));
    if !app.alert_filter.is_empty() {
        spans.push(Span::styled(
            format!(" · {} {}", app.t(Msg::Filter), app.alert_filter),
            Style::default().fg(Color::Yellow),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), info);
    if alerts.is_empty() {
        f.render_widget(
            empty_note(app, Msg::NoAlerts),
            Rect {
                y: list.y + 1,
                height: list.height.saturating_sub(1),
                ..list
            },
        );
    }
    let header = header_row(
        app,
        [
            Msg::Severity,
            Msg::Time,
            Msg::State,
            Msg::Detector,
            Msg::Entity,
            Msg::Title,
        ],
    );
    let wide = area.width >= 110;
    let title_width = usize::from(area.width).saturating_sub(if wide { 76 } else { 54 });
    // Narrow: the time of day only (the queue is mostly today's).
    let time_format = if wide { "%m-%d %H:%M" } else { "%H:%M" };
    let page = usize::from(list.height.saturating_sub(1));
    let rows = alerts
        .iter()
        .enumerate()
        .skip(app.alerts_sel.offset)
        .take(page)
        .map(|(i, r)| {
            let state = r.timeline.state();
            let mut state_text = analyzer::lifecycle::state_name(state).to_owned();
            if r.timeline.escalated() {
                state_text.push('↑');
            }
            let row = Row::new(vec![
                Cell::from(severity_word(r.alert.severity)).style(severity_style(r.alert.severity)),
                Cell::from(local(app, r.raised).format(time_format).to_string()),
                Cell::from(state_text).style(state_style(state)),
                Cell::from(r.alert.detector.clone()),
                Cell::from(r.alert.entity.clone()),
                Cell::from(cut(&r.alert.title, title_width)),
            ]);
            if i == app.alerts_sel.selected && app.detail.is_none() {
                row.style(selected())
            } else if r.drill {
                row.style(Style::default().fg(Color::DarkGray))
            } else {
                row
            }
        });
    let widths = if wide {
        [
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Length(13),
            Constraint::Length(22),
            Constraint::Length(20),
            Constraint::Min(10),
        ]
    } else {
        [
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Length(14),
            Constraint::Length(12),
            Constraint::Min(10),
        ]
    };
    f.render_widget(Table::new(rows, widths).header(header), list);
}
