//! The report's charts as inline SVG: horizontal bars and the likelihood × impact risk
//! matrix. Plain markup, no script, no external font or link: the HTML report stays one
//! file that prints the same everywhere. Sizes are in user units with a `viewBox`, so a
//! chart scales to the column it sits in.

use std::fmt::Write as _;

use super::risk::{RiskLevel, rate};

const FONT: &str =
    "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif";
const WIDTH: u32 = 640;
const LABEL: u32 = 170;
const ROW: u32 = 26;

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// A CSS colour.
    pub color: &'static str,
}

/// Colours of classification levels 1–4 (index = level).
pub const LEVEL_COLORS: [&str; 5] = ["#9aa5b1", "#4c9f70", "#3b82c4", "#e0a030", "#c8453c"];
/// Colours of severities none…critical.
pub const SEVERITY_COLORS: [&str; 5] = ["#9aa5b1", "#4c9f70", "#e0a030", "#e06a30", "#b3261e"];

/// Text escaped for SVG/HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn open(height: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{t}\" font-family=\"{FONT}\" font-size=\"13\">\
         <title>{t}</title>",
        t = escape(title)
    )
}

/// A horizontal bar chart: one row per bar, bars scaled to the largest value, the value
/// written after each bar. Without bars, or with only zeros, the chart says 无数据.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let rows = bars.len().max(1) as u32;
    let height = 30 + rows * ROW + 8;
    let mut s = open(height, title);
    let _ = write!(
        s,
        "<text x=\"0\" y=\"18\" font-size=\"14\" font-weight=\"bold\" fill=\"#1f2933\">{}</text>",
        escape(title)
    );
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    if max == 0 {
        let _ = write!(
            s,
            "<text x=\"{LABEL}\" y=\"{}\" fill=\"#7b8794\">无数据</text></svg>",
            30 + ROW / 2 + 5
        );
        return s;
    }
    // Room after the longest bar for its value.
    let span = f64::from(WIDTH - LABEL - 70);
    for (i, b) in bars.iter().enumerate() {
        let y = 30 + i as u32 * ROW;
        let w = (b.value as f64 / max as f64 * span).round();
        let w = if b.value > 0 { w.max(1.0) } else { 0.0 };
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"#323f4b\">{label}</text>\
             <rect class=\"bar\" x=\"{LABEL}\" y=\"{ry}\" width=\"{w}\" height=\"{h}\" fill=\"{c}\"/>\
             <text x=\"{vx}\" y=\"{ty}\" fill=\"#1f2933\">{v}</text>",
            lx = LABEL - 8,
            ty = y + ROW / 2 + 5,
            label = escape(&super::risk::truncate(&b.label, 14)),
            ry = y + 4,
            h = ROW - 8,
            c = b.color,
            vx = f64::from(LABEL) + w + 6.0,
            v = b.value,
        );
    }
    s.push_str("</svg>");
    s
}

/// Colour of a risk level.
pub fn level_color(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::VeryLow => "#d9f0d3",
        RiskLevel::Low => "#a6dba0",
        RiskLevel::Medium => "#fee08b",
        RiskLevel::High => "#fc8d59",
        RiskLevel::VeryHigh => "#d73027",
    }
}

/// The 5 × 5 risk matrix: likelihood across, impact up; each cell coloured by the level
/// of its score, with the number of risks at that (likelihood, impact).
pub fn risk_matrix(title: &str, risks: &[(u8, u8)]) -> String {
    const CELL: u32 = 56;
    const LEFT: u32 = 90;
    const TOP: u32 = 34;
    let height = TOP + 5 * CELL + 50;
    let mut s = open(height, title);
    let _ = write!(
        s,
        "<text x=\"0\" y=\"18\" font-size=\"14\" font-weight=\"bold\" fill=\"#1f2933\">{}</text>",
        escape(title)
    );
    for impact in 1..=5u8 {
        let y = TOP + u32::from(5 - impact) * CELL;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#323f4b\">{impact}</text>",
            LEFT - 8,
            y + CELL / 2 + 5
        );
        for likelihood in 1..=5u8 {
            let x = LEFT + u32::from(likelihood - 1) * CELL;
            let n = risks
                .iter()
                .filter(|(l, i)| *l == likelihood && *i == impact)
                .count();
            let _ = write!(
                s,
                "<rect class=\"cell\" x=\"{x}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"2\"/>",
                level_color(rate(likelihood * impact))
            );
            if n > 0 {
                let _ = write!(
                    s,
                    "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"15\" fill=\"#1f2933\"/>\
                     <text class=\"count\" x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"#ffffff\" font-weight=\"bold\">{n}</text>",
                    cx = x + CELL / 2,
                    cy = y + CELL / 2,
                    ty = y + CELL / 2 + 5,
                );
            }
        }
    }
    for likelihood in 1..=5u32 {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#323f4b\">{likelihood}</text>",
            LEFT + (likelihood - 1) * CELL + CELL / 2,
            TOP + 5 * CELL + 18
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#52606d\">可能性</text>\
         <text x=\"20\" y=\"{}\" text-anchor=\"middle\" fill=\"#52606d\" transform=\"rotate(-90 20 {})\">影响程度</text>",
        LEFT + 5 * CELL / 2,
        TOP + 5 * CELL + 40,
        TOP + 5 * CELL / 2,
        TOP + 5 * CELL / 2,
    );
    // Legend.
    let lx = LEFT + 5 * CELL + 30;
    for (i, level) in RiskLevel::ALL.iter().rev().enumerate() {
        let y = TOP + i as u32 * 26;
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{y}\" width=\"18\" height=\"18\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"#323f4b\">{}</text>",
            level_color(*level),
            lx + 26,
            y + 14,
            level.zh()
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that tags nest and close (a small XML well-formedness check: no parser
    /// dependency for what the charts emit).
    fn well_formed(svg: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').ok_or("unclosed <")? + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                if open != name {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or_default();
                stack.push(name.to_owned());
            }
            let text = &rest[end + 1
                ..rest[end + 1..]
                    .find('<')
                    .map_or(rest.len(), |i| i + end + 1)];
            if text.contains('>') || (text.contains('&') && !text.contains(';')) {
                return Err(format!("unescaped text {text:?}"));
            }
            rest = &rest[end + 1..];
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed {stack:?}"))
        }
    }

    fn widths(svg: &str) -> Vec<f64> {
        svg.split("class=\"bar\"")
            .skip(1)
            .filter_map(|s| {
                let w = s.split("width=\"").nth(1)?;
                w[..w.find('"')?].parse().ok()
            })
            .collect()
    }

    fn bar(label: &str, value: u64) -> Bar {
        Bar {
            label: label.into(),
            value,
            color: "#000",
        }
    }

    #[test]
    fn bars_are_proportional_and_well_formed() {
        let svg = bars(
            "访问 <按级别>",
            &[
                bar("1级", 100),
                bar("2级", 50),
                bar("3级", 0),
                bar("A&B", 1),
            ],
        );
        well_formed(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
        let w = widths(&svg);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0], f64::from(WIDTH - LABEL - 70));
        assert_eq!(w[1], (w[0] / 2.0).round());
        assert_eq!(w[2], 0.0);
        assert!(w[3] >= 1.0, "a non-zero value stays visible");
        assert!(svg.contains("访问 &lt;按级别&gt;") && svg.contains("A&amp;B"));
        assert!(!svg.contains("NaN") && !svg.contains("<script"));
    }

    #[test]
    fn empty_bars_say_so() {
        for data in [vec![], vec![bar("1级", 0)]] {
            let svg = bars("告警", &data);
            well_formed(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
            assert!(svg.contains("无数据"));
            assert!(widths(&svg).is_empty());
        }
    }

    #[test]
    fn the_matrix_counts_risks_per_cell_and_colours_by_level() {
        let svg = risk_matrix("风险矩阵", &[(3, 5), (3, 5), (1, 1)]);
        well_formed(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
        assert_eq!(svg.matches("class=\"cell\"").count(), 25);
        // (x, y, count) of each number drawn: (3, 5) is the third column of the top row,
        // (1, 1) the first of the bottom row.
        let counts: Vec<(u32, u32, String)> = svg
            .split("<text class=\"count\" ")
            .skip(1)
            .filter_map(|s| {
                let attr = |name: &str| -> Option<u32> {
                    let v = s.split(&format!("{name}=\"")).nth(1)?;
                    v[..v.find('"')?].parse().ok()
                };
                let n = s.split('>').nth(1)?.split('<').next()?.to_owned();
                Some((attr("x")?, attr("y")?, n))
            })
            .collect();
        assert_eq!(
            counts,
            [(118, 291, "1".to_owned()), (230, 67, "2".to_owned())]
        );
        // The top-right cell (5 × 5) is very high, the bottom-left (1 × 1) very low.
        assert_eq!(
            svg.matches(level_color(RiskLevel::VeryHigh)).count(),
            3 + 1,
            "cells scoring 20–25 (4×5, 5×4, 5×5) and the legend"
        );
    }
}
