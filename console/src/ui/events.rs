//! The event explorer: the newest statements matching a filter, following new ones (the
//! live tail) unless paused, and the selected statement in full below.
//!
//! ```text
//!  live · newest 500 of 12,345 · since=1h decision=block
//!  time     account     decision lvl rows    table              statement
//!  03:04:05 analyst_li  block    L4  0       publicdata.bank_…  SELECT * FROM …
//! ─ fw-hz-01/pg-main · 10.0.0.5:51234 → publicdata · rule vendor-prod-block ─
//!  SELECT card_no FROM bank_account WHERE id = ?
//! ```

use analyzer::event::Action;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::{cut, empty_note, header_row, local, section, selected, situation::thousands};
use crate::app::App;
use crate::data::{EVENT_CAP, action_name};
use crate::i18n::Msg;

/// Lines under the list for the selected statement.
pub const PREVIEW: u16 = 4;

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let [info, list, preview] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(PREVIEW),
    ])
    .areas(area);
    let page = &app.events;
    let mut spans = vec![if app.tail {
        Span::styled(
            format!(" ● {}", app.t(Msg::Tail)),
            Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled(
            format!(" ‖ {}", app.t(Msg::Paused)),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )
    }];
    let capped = page.matching > page.rows.len() as u64;
    spans.push(Span::styled(
        format!(
            " · {} {} {} {}",
            app.t(Msg::Showing),
            page.rows.len(),
            app.t(Msg::Of),
            thousands(page.matching)
        ),
        if capped {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        },
    ));
    if capped && page.rows.len() >= EVENT_CAP {
        spans.push(Span::styled(
            format!(" ({})", app.t(Msg::Capped)),
            Style::default().fg(Color::Yellow),
        ));
    }
    spans.push(Span::raw(format!(" · {}", app.event_filter.describe())));
    f.render_widget(Paragraph::new(Line::from(spans)), info);
    if page.rows.is_empty() {
        f.render_widget(
            empty_note(app, Msg::NoEvents),
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
            Msg::Time,
            Msg::Account,
            Msg::Decision,
            Msg::Level,
            Msg::Rows,
            Msg::Table,
            Msg::Statement,
        ],
    );
    let wide = area.width >= 110;
    let table_w: u16 = if wide { 28 } else { 16 };
    let n = usize::from(list.height.saturating_sub(1));
    let rows = page
        .rows
        .iter()
        .enumerate()
        .skip(app.events_sel.offset)
        .take(n)
        .map(|(i, e)| {
            let decision_style = match e.action {
                Action::Block => Style::default().fg(Color::Red),
                Action::Mask => Style::default().fg(Color::Yellow),
                Action::Limit => Style::default().fg(Color::Magenta),
                Action::Allow => Style::default(),
            };
            let table = e.objects.first().map_or("", String::as_str);
            let row = Row::new(vec![
                Cell::from(local(app, e.time).format("%H:%M:%S").to_string()),
                Cell::from(e.account.clone()),
                Cell::from(action_name(e.action)).style(decision_style),
                Cell::from(format!("L{}", e.max_level)),
                Cell::from(thousands(e.rows)),
                Cell::from(cut(table, usize::from(table_w))),
                Cell::from(e.normalized.clone()),
            ]);
            if i == app.events_sel.selected {
                row.style(selected())
            } else {
                row
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(if wide { 14 } else { 11 }),
            Constraint::Length(8),
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Length(table_w),
            Constraint::Min(10),
        ],
    )
    .header(header);
    f.render_widget(table, list);
    if let Some(e) = page.rows.get(app.events_sel.selected) {
        let mut title = format!(" {} · {} → {}", e.producer, e.client, e.database);
        if !e.rule.is_empty() {
            title.push_str(&format!(" · {} {}", app.t(Msg::Rule), e.rule));
        }
        title.push(' ');
        f.render_widget(
            Paragraph::new(format!(" {}", e.normalized))
                .wrap(Wrap { trim: true })
                .block(section(title)),
            preview,
        );
    }
}
