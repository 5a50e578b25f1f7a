//! `bangfu import households|incomes FILE [--dry-run]`: the same import as the page and the API,
//! with a progress bar, and every problem printed by row and column.

use crate::progress::TerminalProgress;
use anyhow::{Result, bail};
use domain::Caller;
use std::path::Path;
use store::Db;
use store::registry_import::{ImportOptions, ImportOutcome};

pub enum Kind {
    Members,
    Incomes,
}

pub async fn import(db: &Db, kind: Kind, path: &Path, dry_run: bool) -> Result<()> {
    let table = store::tabular::open_path_with(path, &crate::config::current().read_limits()?)
        .map_err(|e| anyhow::anyhow!("{}：{e}", path.display()))?;
    let options = ImportOptions {
        dry_run,
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let progress = TerminalProgress::new();
    let caller = Caller::system();
    let outcome = match kind {
        Kind::Members => db.import_members(&caller, table, &options, &progress).await,
        Kind::Incomes => db.import_incomes(&caller, table, &options, &progress).await,
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    report(&outcome)
}

fn report(o: &ImportOutcome) -> Result<()> {
    if o.problem_count > 0 {
        for p in &o.problems {
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
        if o.problem_count as usize > o.problems.len() {
            eprintln!(
                "……另有 {} 处问题未列出",
                o.problem_count as usize - o.problems.len()
            );
        }
        bail!(
            "共 {} 行，发现 {} 处问题，未写入任何数据",
            o.rows,
            o.problem_count
        );
    }
    let verb = if o.dry_run {
        "检查通过（试运行，未写入）"
    } else {
        "导入完成"
    };
    println!(
        "{verb}：共 {} 行；新增 {} 户、更新 {} 户；新增成员 {} 人、更新 {} 人；收入 {} 条",
        o.rows,
        o.households_added,
        o.households_updated,
        o.members_added,
        o.members_updated,
        o.incomes_written
    );
    if let Some(b) = o.batch_id {
        println!("导入批次 {b}，文件 SHA-256 {}", o.sha256);
    }
    Ok(())
}
