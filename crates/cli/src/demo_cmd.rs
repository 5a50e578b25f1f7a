//! `bangfu demo [--scale full|N%] [--seed N]`: loads the demo scenario into an empty database,
//! with a progress bar, then prints what it wrote, the headline figures as the overview API
//! computes them from those records, and a demo login.

use crate::progress::TerminalProgress;
use anyhow::{Result, anyhow};
use domain::Caller;
use std::time::Instant;
use store::Db;
use store::auth::NewUser;

pub async fn run(db: &Db, scale: &str, seed: u64) -> Result<()> {
    let scale = demo::parse_scale(scale).map_err(|e| anyhow!("--scale：{e}"))?;
    let started = Instant::now();
    let progress = TerminalProgress::new();
    let counts = demo::load(db, demo::DemoOptions { scale, seed }, &progress)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "演示数据已载入（规模 {:.0}%，种子 {seed}，用时 {elapsed:.1} 秒）",
        scale * 100.0
    );
    println!(
        "  机构 {}，结对关系 {}",
        counts.organisations, counts.pairings
    );
    println!(
        "  建档立卡户 {}，成员 {}，收入记录 {}",
        counts.households, counts.members, counts.incomes
    );
    println!(
        "  项目 {}，资金台账交易 {}",
        counts.projects, counts.ledger_entries
    );
    let o = db
        .stats_overview(&Default::default())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!(
        "数据概览（由记录计算）：{} 省 {} 县，面积 {} 平方公里（约 {} 个深圳），财政帮扶资金 {} 元，项目 {} 个，脱贫 {} 人，剩余 {} 人，海拔 {}–{} 米",
        o.provinces,
        o.counties,
        o.area_km2,
        o.shenzhen_equivalents,
        o.fiscal_funds_yuan,
        o.projects,
        o.people_out_of_poverty,
        o.people_remaining,
        o.elevation_min_m.unwrap_or(0),
        o.elevation_max_m.unwrap_or(0),
    );
    print_demo_login(db).await
}

/// A read-only demo account (auditor: sees everything, masked, changes nothing).
async fn print_demo_login(db: &Db) -> Result<()> {
    let password = store::auth::generate_password(store::auth::DEMO_USER);
    let input = NewUser {
        username: store::auth::DEMO_USER.into(),
        role: "auditor".into(),
        region: None,
        organisation_id: None,
        can_reveal: false,
    };
    match db.create_user(&Caller::system(), &input, &password).await {
        Ok(_) => {
            println!("演示登录（仅用于演示数据，只读、证件号脱敏）：用户名 demo，密码 {password}");
        }
        Err(e) => eprintln!("未创建演示登录：{e}"),
    }
    Ok(())
}
