//! The situation screen: what is happening right now.
//!
//! ```text
//! ─ 12.3 events/s ───────────┬─ per minute, last hour ─────────────────────
//!  open alerts               │ blocked   3/min ▁▁▂▁▁▃▁▁▁▂
//!  CRIT 0 HIGH 2 MED 1 LOW 0 │ masked   40/min ▅▆▅▇▆▅▆▇▆▅
//!                            │ limited   0/min
//! ─ top accounts by rows ─┬─ top accounts by level ─┬─ top tables ─────────
//!  analyst_li   120,345   │ dba_admin  L4  12       │ publicdata.population
//! ─ producers ──────────────────────────────────────────────────────────────
//!  producer  kind  status  last seen  counters
//! ```

use analyzer::event::HealthStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table};

use super::{cut, header_row, section, severity_style, span};
use crate::app::App;
use crate::data::{Minute, ProducerHealth, Situation};
use crate::i18n::Msg;

/// A producer quiet this long is shown as silent (the analyzer's silent-producer default).
const SILENT_AFTER: chrono::Duration = chrono::Duration::seconds(60);

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let empty = Situation::default();
    let s = app.data.as_ref().map_or(&empty, |d| &d.situation);
    let tops = if area.height >= 30 { 8 } else { 6 };
    let [head, tops_area, producers] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(tops),
        Constraint::Min(3),
    ])
    .areas(area);
    draw_head(f, app, s, head);
    draw_tops(f, app, s, tops_area);
    draw_producers(f, app, &s.producers, producers);
}

fn draw_head(f: &mut Frame<'_>, app: &App, s: &Situation, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(28), Constraint::Min(20)]).areas(area);
    let rate = if app.data.is_some() {
        format!(" {:.1} {} ", s.events_per_sec, app.t(Msg::EventsPerSec))
    } else {
        format!(" {} ", app.t(Msg::Loading))
    };
    let open = app.open_by_severity();
    let sev = |label: &str, n: usize, s: analyzer::event::Severity| {
        let style = if n > 0 {
            severity_style(s)
        } else {
            Style::default().fg(Color::DarkGray)
        };
        Span::styled(format!("{label} {n} "), style)
    };
    use analyzer::event::Severity as S;
    let lines = vec![
        Line::raw(format!(" {}", app.t(Msg::OpenAlerts))),
        Line::from(vec![
            Span::raw(" "),
            sev("CRIT", open[3], S::Critical),
            sev("HIGH", open[2], S::High),
            sev("MED", open[1], S::Medium),
            sev("LOW", open[0], S::Low),
        ]),
    ];
    f.render_widget(Paragraph::new(lines).block(section(rate)), left);
    let block = section(format!(" {} ", app.t(Msg::PerMinute)));
    let inner = block.inner(right);
    f.render_widget(block, right);
    let rows = Layout::vertical([Constraint::Length(1); 3]).split(inner);
    type Series = (Msg, fn(&Minute) -> u64, Color);
    let series: [Series; 3] = [
        (Msg::Blocked, |m| m.blocked, Color::Red),
        (Msg::Masked, |m| m.masked, Color::Yellow),
        (Msg::Limited, |m| m.limited, Color::Magenta),
    ];
    for ((msg, get, color), row) in series.into_iter().zip(rows.iter()) {
        let values: Vec<u64> = s.minutes.iter().map(get).collect();
        let last = values.last().copied().unwrap_or(0);
        let label = format!(" {:<8}{:>6}/min ", app.t(msg), last);
        let lw = (Span::raw(label.as_str()).width() as u16).min(row.width);
        let [l, spark] =
            Layout::horizontal([Constraint::Length(lw), Constraint::Min(0)]).areas(*row);
        f.render_widget(Paragraph::new(label), l);
        // The newest minutes, as many as fit.
        let shown = &values[values.len().saturating_sub(usize::from(spark.width))..];
        f.render_widget(
            Sparkline::default()
                .data(shown)
                .style(Style::default().fg(color)),
            spark,
        );
    }
}

fn draw_tops(f: &mut Frame<'_>, app: &App, s: &Situation, area: Rect) {
    let cols = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(area);
    let width = |r: Rect| usize::from(r.width).saturating_sub(2);
    let n = usize::from(area.height.saturating_sub(1));
    let no_data = || vec![Line::styled(" -", Style::default().fg(Color::DarkGray))];
    let pair = |name: &str, value: String, w: usize| {
        let vw = value.len() + 1;
        Line::raw(format!(
            " {:<nw$}{value:>vw$}",
            cut(name, w.saturating_sub(vw)),
            nw = w.saturating_sub(vw)
        ))
    };
    let mut rows: Vec<Line<'_>> = s
        .top_rows
        .iter()
        .take(n)
        .map(|(a, r)| pair(a, thousands(*r), width(cols[0])))
        .collect();
    if rows.is_empty() {
        rows = no_data();
    }
    f.render_widget(
        Paragraph::new(rows).block(section(format!(" {} ", app.t(Msg::TopRows)))),
        cols[0],
    );
    let mut levels: Vec<Line<'_>> = s
        .top_level
        .iter()
        .take(n)
        .map(|(a, l, c)| pair(a, format!("L{l} {}", thousands(*c)), width(cols[1])))
        .collect();
    if levels.is_empty() {
        levels = no_data();
    }
    f.render_widget(
        Paragraph::new(levels).block(section(format!(" {} ", app.t(Msg::TopLevel)))),
        cols[1],
    );
    let mut tables: Vec<Line<'_>> = s
        .top_tables
        .iter()
        .take(n)
        .map(|(t, c)| pair(t, thousands(*c), width(cols[2])))
        .collect();
    if tables.is_empty() {
        tables = no_data();
    }
    f.render_widget(
        Paragraph::new(tables).block(section(format!(" {} ", app.t(Msg::TopTables)))),
        cols[2],
    );
}

/// The counters worth a glance: drops, failures, queue depths; the spool's depth derived
/// from appended − shipped.
pub fn key_counters(p: &ProducerHealth) -> String {
    let get = |name: &str| p.counters.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let mut out = Vec::new();
    if let (Some(a), Some(s)) = (get("appended"), get("shipped")) {
        out.push(format!("spool={}", a.saturating_sub(s)));
    }
    for (k, v) in &p.counters {
        let key = [
            "drop",
            "depth",
            "quarantined",
            "failed",
            "skipped",
            "refused",
            "active",
        ]
        .iter()
        .any(|w| k.contains(w));
        if key {
            out.push(format!("{k}={v}"));
        }
    }
    if out.is_empty() {
        out.extend(p.counters.iter().take(4).map(|(k, v)| format!("{k}={v}")));
    }
    out.join(" ")
}

fn draw_producers(f: &mut Frame<'_>, app: &App, producers: &[ProducerHealth], area: Rect) {
    let block = section(format!(" {} ", app.t(Msg::Producers)));
    if producers.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled(
                format!(" {}", app.t(Msg::NoData)),
                Style::default().fg(Color::DarkGray),
            ))
            .block(block),
            area,
        );
        return;
    }
    let header = header_row(
        app,
        [
            Msg::Producer,
            Msg::Component,
            Msg::Status,
            Msg::LastSeen,
            Msg::Counters,
        ],
    );
    let rows = producers.iter().map(|p| {
        let silent = app.now - p.last_seen > SILENT_AFTER;
        let (status, style) = if silent {
            (
                app.t(Msg::Silent),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else {
            match p.status {
                HealthStatus::Ok => ("ok", Style::default().fg(Color::Green)),
                HealthStatus::Degraded => ("degraded", Style::default().fg(Color::Yellow)),
                HealthStatus::Down => ("down", Style::default().fg(Color::Red)),
            }
        };
        let age = (app.now - p.last_seen).to_std().unwrap_or_default();
        let mut counters = key_counters(p);
        if !p.message.is_empty() {
            counters = format!("{counters} {}", p.message);
        }
        Row::new(vec![
            Cell::from(p.producer.clone()),
            Cell::from(p.component.clone()),
            Cell::from(status).style(style),
            Cell::from(format!("{} {}", span(age), app.t(Msg::Ago))),
            Cell::from(counters),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(block);
    f.render_widget(table, area);
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
