//! `bangfu assess --year YEAR [--region CODE]`: the yearly exit assessment and monitoring
//! screening over the registry (the same run as the page starts), with a progress bar and a
//! summary table; `bangfu import visits FILE`: visits (入户走访) from CSV/XLSX, all or nothing.

use crate::progress::TerminalProgress;
use anyhow::{Result, anyhow, bail};
use domain::{Caller, RegionCode};
use std::path::Path;
use store::assessment::RunSummary;
use store::{Db, StoreError};

/// Display width of a string in a terminal (CJK characters take two columns).
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid { message, details } => {
            let lines: Vec<String> = details
                .iter()
                .map(|d| format!("  {}：{}", d.field, d.message))
                .collect();
            anyhow!("{message}\n{}", lines.join("\n"))
        }
        other => anyhow!("{other}"),
    }
}

pub async fn assess(db: &Db, year: i64, region: Option<&str>) -> Result<()> {
    let region = region
        .map(|r| RegionCode::parse(r).map_err(|e| anyhow!("--region：{e}")))
        .transpose()?;
    let progress = TerminalProgress::new();
    let (run, summary) = db
        .assess(&Caller::system(), year, region, &progress)
        .await
        .map_err(explain)?;
    print!("{}", summary_table(run.id, &summary));
    Ok(())
}

/// The summary as a plain table.
pub fn summary_table(run_id: i64, s: &RunSummary) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |label: &str, value: String| rows.push((label.to_string(), value));
    row("评估户数", grouped(s.assessed));
    row("  其中未脱贫或返贫", grouped(s.poor_assessed));
    row("可以退出", grouped(s.may_exit));
    row(
        "  其中未脱贫或返贫（可启动退出程序）",
        grouped(s.may_exit_poor),
    );
    row("不能退出", grouped(s.may_not_exit));
    for f in &s.failing {
        row(&format!("  未达到：{}", f.name), grouped(f.count));
    }
    let missing = |n: i64| {
        if n > 0 {
            format!("（{n} 个缺少农业户籍人口）")
        } else {
            String::new()
        }
    };
    row(
        "村：达到贫困发生率标准",
        format!(
            "{} / {}{}",
            grouped(s.villages_passed),
            grouped(s.villages),
            missing(s.villages_without_population)
        ),
    );
    if s.counties_assessed {
        row(
            "县：达到贫困发生率标准",
            format!(
                "{} / {}{}",
                grouped(s.counties_passed),
                grouped(s.counties),
                missing(s.counties_without_population)
            ),
        );
    } else {
        row("县：达到贫困发生率标准", "未判定（按乡镇或村评估）".into());
    }
    row("防返贫监测对象（本次筛查）", String::new());
    if s.not_registered > 0 {
        row(
            "  筛查一般农户（未建档立卡，不参加退出评估）",
            grouped(s.not_registered),
        );
    }
    for c in &s.candidates {
        row(&format!("  {}", c.name), grouped(c.count));
    }
    row("  新纳入监测", grouped(s.new_cases));
    let label_width = rows.iter().map(|r| width(&r.0)).max().unwrap_or(0);
    let value_width = rows.iter().map(|r| width(&r.1)).max().unwrap_or(0);
    let region = s
        .region_code
        .as_deref()
        .map(|r| format!("，区划 {r}"))
        .unwrap_or_default();
    let mut out = format!(
        "{} 年退出评估完成：批次 {run_id}，规则版本 {}{region}，用时 {:.1} 秒\n",
        s.year,
        s.rule_version,
        s.elapsed_ms as f64 / 1000.0
    );
    let rule = "-".repeat(label_width + value_width + 2);
    out += &format!("{rule}\n");
    for (label, value) in rows {
        let pad_l = label_width - width(&label);
        let pad_v = value_width - width(&value);
        out += &format!(
            "{label}{}  {}{value}\n",
            " ".repeat(pad_l),
            " ".repeat(pad_v)
        );
    }
    out += &format!("{rule}\n");
    out
}

pub async fn import_visits(db: &Db, path: &Path) -> Result<()> {
    let table = store::tabular::open_path_with(path, &crate::config::current().read_limits()?)
        .map_err(|e| anyhow!("{}：{e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match db.import_visits(&Caller::system(), table, &name).await {
        Ok(o) => {
            println!(
                "导入完成：共 {} 行，写入走访记录 {} 条（文件 SHA-256 {}）",
                o.rows, o.written, o.sha256
            );
            Ok(())
        }
        Err(StoreError::ImportRejected(problems)) => {
            for p in &problems {
                let column = if p.column.is_empty() {
                    String::new()
                } else {
                    format!(" {} 列", p.column)
                };
                let value = if p.value.is_empty() {
                    String::new()
                } else {
                    format!("（值：{}）", p.value)
                };
                eprintln!("第 {} 行{column}{value}：{}", p.row, p.message);
            }
            bail!("发现 {} 处问题，未写入任何数据", problems.len())
        }
        Err(e) => Err(explain(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_widths_count_chinese_double() {
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(12), "12");
        assert_eq!(width("村a"), 3);
    }
}
