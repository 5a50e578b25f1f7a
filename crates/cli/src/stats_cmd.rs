//! `bangfu stats publish --as-of DATE [--region CODE] [--since YEAR]`: freezes the overview
//! figures as of a day into the append-only published_figures table.

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
}

pub async fn run(db: &Db, cmd: StatsCommand) -> Result<()> {
    match cmd {
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
