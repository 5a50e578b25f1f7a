//! `bangfu`: the server, the administrator's command line and the data tools, in one binary.

mod assess_cmd;
mod config;
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
    /// Configuration file (TOML); without it ./bangfu.toml is read if present. The command line
    /// wins over the environment, which wins over the file.
    #[arg(long, global = true, env = "BANGFU_CONFIG")]
    config: Option<PathBuf>,

    /// SQLite file path or postgres:// URL; created and migrated on first use
    /// [env: BANGFU_DATABASE_URL] [file: database_url] [default: ./bangfu.db].
    #[arg(long, global = true)]
    database: Option<String>,

    /// Log lines as `text` (for people) or `json` (one object per line, for collectors)
    /// [env: BANGFU_LOG_FORMAT] [file: log_format] [default: text].
    #[arg(long, global = true)]
    log_format: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (pages and JSON API).
    Serve {
        /// Address to listen on [env: BANGFU_ADDR] [file: addr] [default: 127.0.0.1:8080].
        #[arg(long)]
        addr: Option<String>,
        /// Load the full demo scenario first if the database holds no business records
        /// [env: BANGFU_DEMO] [file: demo].
        #[arg(long)]
        demo: bool,
        /// Also serve /metrics without login on this address: `PORT` (on 127.0.0.1) or
        /// `HOST:PORT`, loopback only unless --metrics-allow-remote
        /// [env: BANGFU_METRICS_ADDR] [file: metrics_addr].
        #[arg(long)]
        metrics_addr: Option<String>,
        /// Allow a --metrics-addr that other machines can reach
        /// [env: BANGFU_METRICS_ALLOW_REMOTE] [file: metrics_allow_remote].
        #[arg(long)]
        metrics_allow_remote: bool,
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
    let config = config::install(config::Config::load(cli.config.as_deref())?);
    let format = LogFormat::resolve(config, cli.log_format.clone())?;
    init_logging(config, format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli, config, format))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn resolve(config: &config::Config, flag: Option<String>) -> Result<LogFormat> {
        let (value, origin) = match flag {
            Some(v) => (v, "--log-format".to_string()),
            None => match config.lookup("BANGFU_LOG_FORMAT") {
                Some(found) => (found.value, found.origin),
                None => return Ok(LogFormat::Text),
            },
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => anyhow::bail!("{origin} 的值“{value}”无效：应为 text 或 json"),
        }
    }
}

/// Logs go to standard error, filtered by BANGFU_LOG (`info,sqlx=warn` by default). Nothing
/// logged names a person: requests are logged by route template (`bangfu::access`, debug level),
/// errors by their id and cause, database targets without password.
fn init_logging(config: &config::Config, format: LogFormat) -> Result<()> {
    let filter = match config.lookup("BANGFU_LOG") {
        None => tracing_subscriber::EnvFilter::new("info,sqlx=warn"),
        Some(found) => tracing_subscriber::EnvFilter::try_new(&found.value)
            .map_err(|e| anyhow::anyhow!("{} 的值“{}”无效：{e}", found.origin, found.value))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
    Ok(())
}

async fn open(database: &str) -> Result<Db> {
    let progress = TerminalProgress::new();
    let db = Db::open(database, &progress)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    user_cmd::bootstrap_admin(&db).await?;
    Ok(db)
}

async fn run(cli: Cli, config: &config::Config, format: LogFormat) -> Result<()> {
    let database = config.resolve(cli.database, "BANGFU_DATABASE_URL", "./bangfu.db");
    match cli.command {
        Command::Serve {
            addr,
            demo,
            metrics_addr,
            metrics_allow_remote,
        } => {
            let addr = config.resolve(addr, "BANGFU_ADDR", "127.0.0.1:8080");
            let demo = config.switch(demo, "BANGFU_DEMO")?;
            let metrics_addr = metrics_addr.or_else(|| config.value("BANGFU_METRICS_ADDR"));
            let metrics_allow_remote =
                config.switch(metrics_allow_remote, "BANGFU_METRICS_ALLOW_REMOTE")?;
            let limits = config.read_limits()?;
            web::configure_auth(|k| config.value(k));
            // Bound before the database is opened: a wrong address fails at once.
            let metrics_listener = match &metrics_addr {
                Some(a) => Some(metrics_listener(a, metrics_allow_remote).await?),
                None => None,
            };
            let db = open(&database).await?;
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
            let metrics_local = match &metrics_listener {
                Some(l) => Some(l.local_addr()?),
                None => None,
            };
            // Listening for SIGTERM from here on: a signal sent once the start is announced
            // stops the server (after the requests in flight) and the metrics address with it.
            let shutdown = web::shutdown_signal();
            let shown_db = describe_db(&database);
            match format {
                LogFormat::Text => {
                    eprintln!("帮扶 Bangfu 已启动：http://{local}/  （数据库：{shown_db}）");
                    if let Some(m) = metrics_local {
                        eprintln!("运行指标（免登录）：http://{m}/metrics");
                    }
                }
                LogFormat::Json => tracing::info!(
                    addr = %local,
                    metrics_addr = metrics_local.map(|m| m.to_string()),
                    database = %shown_db,
                    "帮扶 Bangfu 已启动"
                ),
            }
            let state = web::AppState::new(db.clone(), limits);
            let metrics_server =
                metrics_listener.map(|l| tokio::spawn(web::serve_metrics(l, state.clone())));
            web::serve_until(listener, state, shutdown).await?;
            if let Some(task) = metrics_server {
                task.abort();
            }
            db.close().await;
        }
        Command::Demo { scale, seed } => {
            let db = open(&database).await?;
            let result = demo_cmd::run(&db, &scale, seed).await;
            db.close().await;
            result?;
        }
        Command::Migrate => {
            let db = open(&database).await?;
            let n = db.region_count().await.map_err(anyhow::Error::msg)?;
            println!("数据库已就绪：{}，区划单位 {n} 个", describe_db(&database));
            db.close().await;
        }
        Command::Import { what } => {
            let db = open(&database).await?;
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
            let db = open(&database).await?;
            let result = user_cmd::run_user(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Stats { what } => {
            let db = open(&database).await?;
            let result = stats_cmd::run(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Token { what } => {
            let db = open(&database).await?;
            let result = user_cmd::run_token(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Export { what } => {
            let db = open(&database).await?;
            let result = ledger_cmd::export(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Ledger { what } => {
            let db = open(&database).await?;
            let result = ledger_cmd::run(&db, what).await;
            db.close().await;
            result?;
        }
        Command::Assess { year, region } => {
            let db = open(&database).await?;
            let result = assess_cmd::assess(&db, year, region.as_deref()).await;
            db.close().await;
            result?;
        }
        Command::Backup { file } => {
            let db = open(&database).await?;
            let r = db.backup_to(&database, &file).await;
            db.close().await;
            let head = r.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("已备份到 {}", file.display());
            println!("交易条数：{}", head.count);
            println!("链头哈希：{}", head.head_hash);
        }
        Command::Restore { file } => {
            let progress = TerminalProgress::new();
            let head = store::backup::restore(&database, &file, &progress)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("已从 {} 恢复到 {}", file.display(), describe_db(&database));
            println!(
                "台账校验通过：共 {} 条交易，哈希链、金额规则与冲销关系均无误",
                head.count
            );
            println!("链头哈希：{}", head.head_hash);
        }
    }
    Ok(())
}

/// Binds the metrics address: `PORT` or `:PORT` means 127.0.0.1; an address other machines
/// can reach is refused unless allowed, since /metrics answers there without login.
async fn metrics_listener(addr: &str, allow_remote: bool) -> Result<tokio::net::TcpListener> {
    let trimmed = addr.trim();
    let port_only = trimmed.trim_start_matches(':');
    let full = if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{port_only}")
    } else {
        trimmed.to_string()
    };
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&full)
        .await
        .with_context(|| format!("运行指标地址“{addr}”无效：应为 端口 或 主机:端口"))?
        .collect();
    if resolved.is_empty() {
        anyhow::bail!("运行指标地址“{addr}”无法解析");
    }
    if !allow_remote && resolved.iter().any(|a| !a.ip().is_loopback()) {
        anyhow::bail!(
            "运行指标地址 {full} 不是本机回环地址：该地址上的 /metrics 无需登录即可读取。\
             如确需让其他机器访问，请同时给出 --metrics-allow-remote（或 metrics_allow_remote = true）"
        );
    }
    tokio::net::TcpListener::bind(resolved.as_slice())
        .await
        .with_context(|| format!("无法监听运行指标地址 {full}"))
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
