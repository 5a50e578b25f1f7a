//! `bangfu`: the server, the administrator's command line and the data tools, in one binary.

mod assess_cmd;
mod demo_cmd;
mod ledger_cmd;
mod progress;
mod region_files;
mod registry_cmd;
mod stats_cmd;
mod user_cmd;

/// Imports and the demo loader allocate and free millions of small row values; mimalloc does that
/// faster than the system allocator (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use progress::TerminalProgress;
use std::path::PathBuf;
use store::Db;

#[derive(Parser)]
#[command(
    name = "bangfu",
    version,
    about = "帮扶：对口帮扶信息系统 (Bangfu, paired-assistance information system)",
    long_about = "帮扶：对口帮扶信息系统 (Bangfu, paired-assistance information system)\n\n\
        命令行以系统管理员身份（system）操作数据库：导入、导出、评估和用户管理不受区划范围限制，\
        并以 system 记入审计日志。能登录服务器所在机器并读取数据库的人即拥有全部数据，请妥善保管。\n\
        The command line acts as the administrator (recorded as `system` in the audit log): imports, \
        exports, assessments and user management are not limited to a region scope."
)]
struct Cli {
    /// SQLite file path or postgres:// URL; created and migrated on first use.
    #[arg(
        long,
        global = true,
        env = "BANGFU_DATABASE_URL",
        default_value = "./bangfu.db"
    )]
    database: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (pages and JSON API).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Load the full demo scenario first if the database holds no business records.
        #[arg(long)]
        demo: bool,
    },
    /// Generate the demo scenario (演示数据) into an empty database.
    Demo {
        /// `full` or a percentage of people, projects and money, e.g. `5%`.
        #[arg(long, default_value = "full")]
        scale: String,
        /// Different seeds give different records with the same headline figures.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Create or upgrade the schema and load the shipped region list.
    Migrate,
    /// Import data files.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Make a consistent online copy of the whole database (SQLite: a database file; PostgreSQL:
    /// a pg_dump custom-format file) and print the ledger's head hash inside it.
    Backup { file: PathBuf },
    /// Restore a backup into a database without records (the server must be stopped), verify
    /// the restored ledger and print its head hash.
    Restore { file: PathBuf },
    /// Exit assessment of a year (households, villages, counties) and monitoring screening.
    Assess {
        #[arg(long)]
        year: i64,
        /// Only this region's subtree (province, county, town or village code).
        #[arg(long)]
        region: Option<String>,
    },
    /// The fund ledger: verify the hash chain and every rule, print the head hash.
    Ledger {
        #[command(subcommand)]
        what: ledger_cmd::LedgerCommand,
    },
    /// Export data files (.csv or .xlsx by the file name).
    Export {
        #[command(subcommand)]
        what: ledger_cmd::ExportCommand,
    },
    /// User accounts: add, list, disable, enable, reset-password.
    User {
        #[command(subcommand)]
        what: user_cmd::UserCommand,
    },
    /// Overview figures: publish (freeze) them as of a date.
    Stats {
        #[command(subcommand)]
        what: stats_cmd::StatsCommand,
    },
    /// API tokens for programs: create, list, revoke.
    Token {
        #[command(subcommand)]
        what: user_cmd::TokenCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A yearly division list (provinces/cities/areas/streets/villages CSV; level from the header).
    Regions {
        file: PathBuf,
        /// The year of the list; units missing from it are marked retired in this year.
        #[arg(long)]
        year: Option<i64>,
    },
    /// Region attributes: code, area_km2 (面积), elevation_m (海拔), year + rural_population (农业户籍人口).
    RegionAttributes { file: PathBuf },
    /// Projects (one row per project; 项目编号 identifies it). All or nothing.
    Projects {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Fund ledger transactions, appended in file order. All or nothing.
    Transactions {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Registry members (one row per person; CSV in UTF-8 or GBK, or XLSX). All or nothing.
    Households {
        file: PathBuf,
        /// Check everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Household incomes (one row per household and year). All or nothing.
    Incomes {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Visits (入户走访: 户编号, 走访日期, 走访人, 走访情况, 近12个月人均纯收入, 发现风险). All or nothing.
    Visits { file: PathBuf },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BANGFU_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn open(database: &str) -> Result<Db> {
    let progress = TerminalProgress::new();
    let db = Db::open(database, &progress)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    user_cmd::bootstrap_admin(&db).await?;
    Ok(db)
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { addr, demo } => {
            let limits = store::tabular::ReadLimits::from_env().map_err(anyhow::Error::msg)?;
            let db = open(&cli.database).await?;
            // The README's first command: the demo goes only into a database without records.
            if demo
                && !demo::has_records(&db)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                demo_cmd::run(&db, "full", 1).await?;
            }
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("无法监听地址 {addr}"))?;
            let local = listener.local_addr()?;
            eprintln!(
                "帮扶 Bangfu 已启动：http://{local}/  （数据库：{}）",
                describe_db(&cli.database)
            );
            web::serve(listener, web::AppState::new(db.clone(), limits)).await?;
            db.close().await;
        }
        Command::Demo { scale, seed } => {
            let db = open(&cli.database).await?;
            let result = demo_cmd::run(&db, &scale, seed).await;
            db.close().await;
            result?;
        }
        Command::Migrate => {
            let db = open(&cli.database).await?;
            let n = db.region_count().await.map_err(anyhow::Error::msg)?;
            println!(
                "数据库已就绪：{}，区划单位 {n} 个",
                describe_db(&cli.database)
            );
            db.close().await;
        }
        Command::Import { what } => {
            let db = open(&cli.database).await?;
            let result = match what {
                ImportCommand::Regions { file, year } => {
                    region_files::import_regions(&db, &file, year).await
                }
                ImportCommand::RegionAttributes { file } => {
                    region_files::import_attributes(&db, &file).await
                }
                ImportCommand::Projects { file, dry_run } => {
                    ledger_cmd::import(&db, ledger_cmd::ImportKind::Projects, &file, dry_run).await
                }
                ImportCommand::Transactions { file, dry_run } => {
                    ledger_cmd::import(&db, ledger_cmd::ImportKind::Transactions, &file, dry_run)
                        .await
                }
                ImportCommand::Households { file, dry_run } => {
                    registry_cmd::import(&db, registry_cmd::Kind::Members, &file, dry_run).await
                }
                ImportCommand::Incomes { file, dry_run } => {
                    registry_cmd::import(&db, registry_cmd::Kind::Incomes, &file, dry_run).await
                }
                ImportCommand::Visits { file } => assess_cmd::import_visits(&db, &file).await,
            };
            db.close().await;
            result?;
        }
        Command::User { what } => {
            let db = open(&cli.database).await?;
            let result = user_cmd::run_user(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Stats { what } => {
            let db = open(&cli.database).await?;
            let result = stats_cmd::run(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Token { what } => {
            let db = open(&cli.database).await?;
            let result = user_cmd::run_token(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Export { what } => {
            let db = open(&cli.database).await?;
            let result = ledger_cmd::export(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Ledger { what } => {
            let db = open(&cli.database).await?;
            let result = ledger_cmd::run(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Assess { year, region } => {
            let db = open(&cli.database).await?;
            let result = assess_cmd::assess(&db, year, region.as_deref()).await;
            db.close().await;
            result?;
        }
        Command::Backup { file } => {
            let db = open(&cli.database).await?;
            let r = db.backup_to(&cli.database, &file).await;
            db.close().await;
            let head = r.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("已备份到 {}", file.display());
            println!("交易条数：{}", head.count);
            println!("链头哈希：{}", head.head_hash);
        }
        Command::Restore { file } => {
            let progress = TerminalProgress::new();
            let head = store::backup::restore(&cli.database, &file, &progress)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "已从 {} 恢复到 {}",
                file.display(),
                describe_db(&cli.database)
            );
            println!(
                "台账校验通过：共 {} 条交易，哈希链、金额规则与冲销关系均无误",
                head.count
            );
            println!("链头哈希：{}", head.head_hash);
        }
    }
    Ok(())
}

/// The database target with any password removed, for messages.
fn describe_db(target: &str) -> String {
    match target.split_once('@') {
        Some((head, tail)) if head.contains("://") => {
            let scheme = head.split("://").next().unwrap_or("postgres");
            format!("{scheme}://…@{tail}")
        }
        _ => target.to_string(),
    }
}
