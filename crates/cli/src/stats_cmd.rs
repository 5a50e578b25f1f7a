//! `bangfu stats publish --as-of DATE [--region CODE] [--since YEAR]`: freezes the overview
//! figures as of a day into the append-only published_figures table.
//! `bangfu stats check` / `bangfu stats rebuild`: compares the trigger-kept dashboard summaries
//! with the same summaries recomputed from the records (rebuild also saves the recomputed ones).

use anyhow::{Result, anyhow};
use clap::Subcommand;
use domain::{Caller, RegionCode};
use store::{Db, StoreError};

#[derive(Subcommand)]
pub enum StatsCommand {
    /// Freeze the overview figures as of a date (records dated after it left out).
    Publish {
        #[arg(long)]
        as_of: String,
        /// Only this region (any code prefix, e.g. 6531).
        #[arg(long)]
        region: Option<String>,
        /// From this year on.
        #[arg(long)]
        since: Option<i64>,
    },
    /// Recompute the dashboard summaries from the records and report any difference (changes
    /// nothing; holds up writers while it runs).
    Check,
    /// Recompute the dashboard summaries from the records and save them (a repair).
    Rebuild,
}

pub async fn run(db: &Db, cmd: StatsCommand) -> Result<()> {
    match cmd {
        StatsCommand::Check => check(db, false).await,
        StatsCommand::Rebuild => check(db, true).await,
        StatsCommand::Publish {
            as_of,
            region,
            since,
        } => {
            let region = region
                .map(|r| RegionCode::parse(&r).map_err(|e| anyhow!("--region：{e}")))
                .transpose()?;
            let p = db
                .publish_figures(&Caller::system(), &as_of, region, since)
                .await
                .map_err(|e| match e {
                    StoreError::Invalid { message, details } => {
                        let lines: Vec<String> = details
                            .iter()
                            .map(|d| format!("  {}：{}", d.field, d.message))
                            .collect();
                        anyhow!("{message}\n{}", lines.join("\n"))
                    }
                    other => anyhow!("{other}"),
                })?;
            println!("已发布截至 {} 的概览数字，编号 {}", p.as_of, p.id);
            println!("{}", serde_json::to_string_pretty(&p.figures)?);
            Ok(())
        }
    }
}

async fn check(db: &Db, apply: bool) -> Result<()> {
    let diffs = db
        .recompute_summaries(apply)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    // Padding counts characters; each CJK header character takes two columns.
    println!(
        "{:<23} {:>8} {:>7} {:>7}",
        "汇总表", "行数", "仅原有", "仅重算"
    );
    for d in &diffs {
        println!(
            "{:<26} {:>10} {:>10} {:>10}",
            d.table, d.rows, d.only_kept, d.only_recomputed
        );
    }
    let differing = diffs
        .iter()
        .filter(|d| d.only_kept + d.only_recomputed > 0)
        .count();
    match (differing, apply) {
        (0, _) => println!("汇总数据与明细记录一致"),
        (n, true) => println!("{n} 张汇总表与明细记录不一致，已按明细记录重算并保存"),
        (n, false) => {
            return Err(anyhow!(
                "{n} 张汇总表与明细记录不一致（可运行 bangfu stats rebuild 按明细重算）"
            ));
        }
    }
    Ok(())
}
