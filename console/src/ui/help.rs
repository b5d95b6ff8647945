//! The `?` overlay: every binding of the key registry ([`crate::keys::BINDINGS`]) with what
//! it does and where, in the interface language; scrolls when the terminal is small.
//!
//! ```text
//! ┌ Keys ─────────────────────────────────────────────┐
//! │ keys        action                  where         │
//! │ q  Ctrl-c   quit                    all screens   │
//! └ ?/Esc: close  j/k: scroll ────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Clear, Row, Table};

use super::titled;
use crate::app::App;
use crate::i18n::Msg;
use crate::keys::{BINDINGS, view_names};

pub fn draw(f: &mut Frame<'_>, app: &App, body: Rect) {
    let area = body;
    f.render_widget(Clear, area);
    let shown = usize::from(area.height.saturating_sub(3));
    let skip = app.help_scroll.min(BINDINGS.len().saturating_sub(shown));
    let header =
        Row::new([Msg::KeyCol, Msg::ActionCol, Msg::WhereCol].map(|m| Cell::from(app.t(m))))
            .style(Style::default().add_modifier(Modifier::UNDERLINED));
    let rows = BINDINGS.iter().skip(skip).take(shown).map(|b| {
        Row::new(vec![
            Cell::from(b.label).style(Style::default().fg(Color::Cyan)),
            Cell::from(b.describe(app.lang)),
            Cell::from(view_names(b, app.lang)).style(Style::default().fg(Color::DarkGray)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Min(20),
            Constraint::Length(if area.width >= 110 { 30 } else { 16 }),
        ],
    )
    .header(header)
    .block(titled(app.t(Msg::Help)).title_bottom(Span::styled(
        format!(" {} ", app.t(Msg::HelpClose)),
        Style::default().fg(Color::DarkGray),
    )));
    f.render_widget(table, area);
}
