//! The report as one self-contained HTML file: inline CSS, charts as inline SVG, no
//! script, no external font or link. Printed (or saved as PDF) it lays out on A4: the
//! cover on its own page, each chapter starting a new page, table headers repeated.

use std::fmt::Write as _;

use super::Report;
use super::doc::{self, Block};
use super::svg::escape;

const CSS: &str = r#"
@page { size: A4; margin: 16mm 14mm 16mm 14mm; }
* { box-sizing: border-box; }
html { background: #e4e7eb; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif;
       font-size: 10.5pt; line-height: 1.6; color: #1f2933; background: #fff;
       width: 210mm; margin: 0 auto; padding: 14mm; }
@media print { html { background: none; } body { width: auto; margin: 0; padding: 0; } }
h1, h2, h3 { line-height: 1.3; }
h2.chapter { break-before: page; font-size: 16pt; border-bottom: 2px solid #1f4e79; padding-bottom: 4px; color: #1f4e79; margin-top: 0; }
h3 { font-size: 12pt; margin: 14px 0 6px; color: #243b53; break-after: avoid; }
p { margin: 6px 0; text-align: justify; }
.cover { min-height: 250mm; display: flex; flex-direction: column; justify-content: center; text-align: center; break-after: page; }
.cover h1 { font-size: 28pt; letter-spacing: 4px; margin: 0 0 8px; color: #102a43; }
.cover .subtitle { font-size: 16pt; color: #334e68; margin-bottom: 40mm; }
.cover table { width: 70%; margin: 0 auto; font-size: 11pt; }
.cover th { width: 30%; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin: 6px 0 10px; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border: 1px solid #bcccdc; padding: 3px 5px; vertical-align: top; text-align: left; overflow-wrap: break-word; }
.nw { white-space: nowrap; }
th { background: #f0f4f8; font-weight: bold; }
table.fields th { width: 28%; }
td.empty { text-align: center; color: #627d98; }
.note { border-left: 4px solid #d9822b; background: #fff8eb; padding: 8px 12px; margin: 8px 0; }
ol { margin: 6px 0; padding-left: 22px; }
.figures { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; margin: 8px 0; }
.figure { border: 1px solid #bcccdc; border-radius: 4px; padding: 6px 8px; break-inside: avoid; }
.figure .label { font-size: 8.5pt; color: #52606d; }
.figure .value { font-size: 15pt; font-weight: bold; color: #102a43; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.charts svg { width: 100%; max-width: 180mm; height: auto; break-inside: avoid; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-weight: bold; }
.b5 { background: #d73027; color: #fff; } .b4 { background: #fc8d59; } .b3 { background: #fee08b; }
.b2 { background: #a6dba0; } .b1 { background: #d9f0d3; }
table.signatures td, table.signatures tbody th { height: 18mm; vertical-align: middle; }
.footer { margin-top: 16px; font-size: 8pt; color: #7b8794; text-align: center; }
"#;

/// Badge class of a level, severity or risk-level word.
fn badge(text: &str) -> Option<&'static str> {
    Some(match text {
        "很高" | "严重" | "4级" => "b5",
        "高" | "3级" => "b4",
        "中" | "2级" => "b3",
        "低" | "1级" => "b2",
        "很低" => "b1",
        _ => return None,
    })
}

/// Short cells (counts, levels, states, account names) never wrap: a line break in `待整改`
/// or `12,345` only makes the table taller and harder to read.
fn nowrap(text: &str, max: usize) -> &'static str {
    let n = text.chars().count();
    if n <= max || (text.is_ascii() && n <= 12) {
        " class=\"nw\""
    } else {
        ""
    }
}

fn table(out: &mut String, t: &doc::Table) {
    out.push_str("<table><thead><tr>");
    for h in &t.head {
        let _ = write!(out, "<th{}>{}</th>", nowrap(h, 4), escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    if t.rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td class=\"empty\" colspan=\"{}\">{}</td></tr>",
            t.head.len().max(1),
            escape(&t.empty)
        );
    }
    for row in &t.rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            match badge(cell).filter(|_| t.badges.contains(&i)) {
                Some(class) => {
                    let _ = write!(
                        out,
                        "<td class=\"nw\"><span class=\"badge {class}\">{}</span></td>",
                        escape(cell)
                    );
                }
                None => {
                    let _ = write!(out, "<td{}>{}</td>", nowrap(cell, 6), escape(cell));
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

fn fields(out: &mut String, class: &str, rows: &[(String, String)]) {
    let _ = write!(out, "<table class=\"{class}\"><tbody>");
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    out.push_str("</tbody></table>\n");
}

/// The report as an HTML document.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"{}\">\n<title>{} {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&r.meta.tool),
        escape(&r.meta.title),
        escape(&r.meta.number)
    );
    for block in doc::blocks(r) {
        match block {
            Block::Cover {
                title,
                subtitle,
                fields: f,
            } => {
                let _ = write!(
                    out,
                    "<section class=\"cover\"><h1>{}</h1><div class=\"subtitle\">{}</div>",
                    escape(&title),
                    escape(&subtitle)
                );
                fields(&mut out, "cover-fields", &f);
                out.push_str("</section>\n");
            }
            Block::Chapter(t) => {
                let _ = writeln!(out, "<h2 class=\"chapter\">{}</h2>", escape(&t));
            }
            Block::Heading(t) => {
                let _ = writeln!(out, "<h3>{}</h3>", escape(&t));
            }
            Block::Para(t) => {
                let _ = writeln!(out, "<p>{}</p>", escape(&t));
            }
            Block::Note(t) => {
                let _ = writeln!(out, "<div class=\"note\">{}</div>", escape(&t));
            }
            Block::List(items) => {
                out.push_str("<ol>");
                for i in items {
                    let _ = write!(out, "<li>{}</li>", escape(&i));
                }
                out.push_str("</ol>\n");
            }
            Block::Fields(f) => fields(&mut out, "fields", &f),
            Block::Table(t) => table(&mut out, &t),
            Block::Figures(f) => {
                out.push_str("<div class=\"figures\">");
                for (label, value) in f {
                    let _ = write!(
                        out,
                        "<div class=\"figure\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
                        escape(&label),
                        escape(&value)
                    );
                }
                out.push_str("</div>\n");
            }
            Block::Charts(svgs) => {
                out.push_str("<div class=\"charts\">");
                for s in svgs {
                    out.push_str(&s);
                }
                out.push_str("</div>\n");
            }
            Block::Signatures(rows) => {
                out.push_str(
                    "<table class=\"signatures\"><colgroup><col style=\"width:14%\"><col style=\"width:24%\"><col style=\"width:36%\"><col style=\"width:26%\"></colgroup>\
                     <thead><tr><th>角色</th><th>姓名</th><th>签字</th><th>日期</th></tr></thead><tbody>",
                );
                for (role, name, date) in rows {
                    let _ = write!(
                        out,
                        "<tr><th>{}</th><td>{}</td><td></td><td>{}</td></tr>",
                        escape(&role),
                        escape(name.as_deref().unwrap_or("")),
                        escape(date.as_deref().unwrap_or("　　年　　月　　日"))
                    );
                }
                out.push_str("</tbody></table>\n");
            }
        }
    }
    let _ = write!(
        out,
        "<div class=\"footer\">{} · {} · 由 {} 生成</div>\n</body>\n</html>\n",
        escape(&r.meta.title),
        escape(&r.meta.number),
        escape(&r.meta.tool)
    );
    out
}
