//! `bangfu ledger verify|head`: check the fund ledger's hash chain and every rule, and print the
//! head hash so it can be published and anchored outside the database.

use anyhow::{Result, bail};
use clap::Subcommand;
use store::Db;

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
            let v = db.verify_ledger().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some((id, message)) = v.first_problem {
                eprintln!("台账校验失败：交易 {id}：{message}");
                eprintln!("（在此之前的 {} 条交易校验通过，其哈希链头为 {}）", v.count, v.head_hash);
                bail!("资金台账校验未通过，第一处问题在交易 {id}");
            }
            println!("台账校验通过：共 {} 条交易，哈希链、金额规则与冲销关系均无误", v.count);
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
