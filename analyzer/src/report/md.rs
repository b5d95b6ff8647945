//! The report as Markdown (GitHub-flavoured tables), for review in a repository or a
//! wiki. Same chapters as the HTML; charts are left out, their figures are in the tables.

use std::fmt::Write as _;

use super::Report;
use super::doc::{self, Block};

/// A table cell: pipes escaped, line breaks folded.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn table(out: &mut String, head: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(
        out,
        "| {} |",
        head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out.push('\n');
}

/// The report as a Markdown document.
pub fn render(r: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let pair = |k: &str, v: &str| vec![k.to_owned(), v.to_owned()];
    for block in doc::blocks(r) {
        match block {
            Block::Cover {
                title,
                subtitle,
                fields,
            } => {
                let _ = writeln!(out, "# {title}\n\n**{}**\n", cell(&subtitle));
                let rows: Vec<Vec<String>> = fields.iter().map(|(k, v)| pair(k, v)).collect();
                table(&mut out, &["项目".into(), "内容".into()], &rows);
            }
            Block::Chapter(t) => {
                let _ = writeln!(out, "## {t}\n");
            }
            Block::Heading(t) => {
                let _ = writeln!(out, "### {t}\n");
            }
            Block::Para(t) => {
                let _ = writeln!(out, "{t}\n");
            }
            Block::Note(t) => {
                let _ = writeln!(out, "> **注意：** {t}\n");
            }
            Block::List(items) => {
                for (i, t) in items.iter().enumerate() {
                    let _ = writeln!(out, "{}. {t}", i + 1);
                }
                out.push('\n');
            }
            Block::Fields(fields) => {
                let rows: Vec<Vec<String>> = fields.iter().map(|(k, v)| pair(k, v)).collect();
                table(&mut out, &["项目".into(), "内容".into()], &rows);
            }
            Block::Table(t) => {
                if t.rows.is_empty() {
                    let _ = writeln!(out, "{}\n", t.empty);
                } else {
                    table(&mut out, &t.head, &t.rows);
                }
            }
            Block::Figures(f) => {
                let rows: Vec<Vec<String>> = f.iter().map(|(k, v)| pair(k, v)).collect();
                table(&mut out, &["指标".into(), "数值".into()], &rows);
            }
            Block::Charts(_) => {}
            Block::Signatures(rows) => {
                let rows: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|(role, name, date)| {
                        vec![
                            role,
                            name.unwrap_or_default(),
                            String::new(),
                            date.unwrap_or_else(|| "　　年　　月　　日".into()),
                        ]
                    })
                    .collect();
                table(
                    &mut out,
                    &["角色".into(), "姓名".into(), "签字".into(), "日期".into()],
                    &rows,
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "---\n\n{} · {} · 由 {} 生成",
        r.meta.title, r.meta.number, r.meta.tool
    );
    out
}
