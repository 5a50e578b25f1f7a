//! `bangfu ledger verify|head`: check the fund ledger's hash chain and every rule, and print the
//! head hash so it can be published and anchored outside the database. Also the import and
//! export of projects and transactions (`bangfu import projects|transactions`, `bangfu export`).

use anyhow::{Result, bail};
use clap::Subcommand;
use domain::Caller;
use std::path::{Path, PathBuf};
use store::Db;
use store::ledger_io::ExportFormat;

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Recompute the hash chain and replay every rule; names the first entry that breaks.
    Verify,
    /// Print the number of entries and the head hash (without checking).
    Head,
}

pub async fn run(db: &Db, what: LedgerCommand) -> Result<()> {
    match what {
        LedgerCommand::Verify => {
            let v = db
                .verify_ledger(&Caller::system())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some((id, message)) = v.first_problem {
                eprintln!("台账校验失败：交易 {id}：{message}");
                eprintln!(
                    "（在此之前的 {} 条交易校验通过，其哈希链头为 {}）",
                    v.count, v.head_hash
                );
                bail!("资金台账校验未通过，第一处问题在交易 {id}");
            }
            println!(
                "台账校验通过：共 {} 条交易，哈希链、金额规则与冲销关系均无误",
                v.count
            );
            println!("链头哈希：{}", v.head_hash);
        }
        LedgerCommand::Head => {
            let h = db.ledger_head().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("交易条数：{}", h.count);
            println!("链头哈希：{}", h.head_hash);
        }
    }
    Ok(())
}

/// What `bangfu export` writes.
#[derive(Subcommand)]
pub enum ExportCommand {
    /// All projects, in the columns of the project import (.csv or .xlsx by the file name).
    Projects { file: PathBuf },
    /// The whole fund ledger with ids and hashes (.csv or .xlsx by the file name).
    Transactions { file: PathBuf },
}

pub enum ImportKind {
    Projects,
    Transactions,
}

/// `bangfu import projects|transactions FILE [--dry-run]`: all or nothing, every problem by row
/// and column.
pub async fn import(db: &Db, kind: ImportKind, path: &Path, dry_run: bool) -> Result<()> {
    let table = store::tabular::open_path_with(path, &crate::config::current().read_limits()?)
        .map_err(|e| anyhow::anyhow!("{}：{e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let caller = Caller::system();
    let o = match kind {
        ImportKind::Projects => db.import_projects(&caller, table, dry_run, &name).await,
        ImportKind::Transactions => db.import_transactions(&caller, table, dry_run, &name).await,
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
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
    match kind {
        ImportKind::Projects => {
            println!(
                "{verb}：共 {} 行；新增项目 {} 个，更新 {} 个",
                o.rows, o.projects_added, o.projects_updated
            )
        }
        ImportKind::Transactions => println!(
            "{verb}：共 {} 行；记入台账 {} 笔",
            o.rows, o.transactions_added
        ),
    }
    println!("文件 SHA-256 {}", o.sha256);
    Ok(())
}

pub async fn export(db: &Db, what: ExportCommand) -> Result<()> {
    let (file, projects) = match &what {
        ExportCommand::Projects { file } => (file, true),
        ExportCommand::Transactions { file } => (file, false),
    };
    let name = file.to_string_lossy().to_string();
    let Some(format) = ExportFormat::from_file_name(&name) else {
        bail!("导出文件名应以 .csv 或 .xlsx 结尾：{name}")
    };
    if file.exists() {
        bail!("文件 {name} 已存在，不会覆盖");
    }
    let caller = Caller::system();
    let bytes = if projects {
        db.export_projects(&caller, format).await
    } else {
        db.export_transactions(&caller, format).await
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(file, &bytes).map_err(|e| anyhow::anyhow!("无法写入 {name}：{e}"))?;
    println!("已导出到 {name}（{} 字节）", bytes.len());
    Ok(())
}
