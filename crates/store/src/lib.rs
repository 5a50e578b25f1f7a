//! Bangfu's storage: one `Db` with a SQLite arm (embedded, zero setup) and a PostgreSQL arm
//! (production). SQL is written once where both engines agree (`$1` placeholders work on both);
//! the `on_db!` macro runs the same code against whichever pool is live.

pub mod activity;
pub mod assessment;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod consumption;
pub mod dashboard;
pub mod error;
pub mod interrupted;
pub mod ledger;
pub mod ledger_io;
pub mod ledger_reports;
pub mod migrate;
pub mod monitoring;
pub mod organisations;
pub mod pairings;
pub mod projects;
pub mod regions;
pub mod registry;
pub mod registry_export;
pub mod registry_import;
pub mod sqlrt;
pub mod stats;
pub mod summaries;
pub mod tabular;
mod time;

pub use error::{StoreError, StoreResult};
pub use time::{current_year, now_rfc3339, today};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Runs `$body` with `$pool` bound to the live pool, whatever the backend. The body is
/// compiled once per backend, so it may only use API that both engines implement.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Imports, the assessment batch and the demo's summaries run statements of seconds by design;
/// sqlx's default warning would print their whole SQL text into the command's output.
const SLOW_STATEMENT_LEVEL: log::LevelFilter = log::LevelFilter::Debug;
const SLOW_STATEMENT: Duration = Duration::from_secs(1);
/// How long a SQLite statement waits for another writer's lock before failing as busy.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Db {
    /// Opens (and for SQLite, creates) the database named by a path or a `postgres://` URL.
    /// Does not migrate: see `open`.
    pub async fn connect(target: &str) -> StoreResult<Db> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(target)
                .map_err(|e| StoreError::Unavailable(format!("PostgreSQL 连接地址无效：{e}")))?
                .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(|e| StoreError::Unavailable(format!("无法连接 PostgreSQL 数据库：{e}")))?;
            return Ok(Db::Postgres(pool));
        }
        let path = target.strip_prefix("sqlite://").unwrap_or(target);
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Unavailable(format!("数据库路径无效：{e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across process crashes; only an OS crash may lose the
            // last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "无法打开 SQLite 数据库 {path}：{}",
                    error::database_message(&e)
                ))
            })?;
        Ok(Db::Sqlite(pool))
    }

    /// Connects and brings the schema up to date; loads the shipped regions into a fresh
    /// database; marks the work that a dead process left running as interrupted.
    pub async fn open(target: &str, progress: &dyn regions::Progress) -> StoreResult<Db> {
        let db = Db::connect(target).await?;
        migrate::run(&db).await?;
        if db.region_count().await? == 0 {
            db.load_shipped_regions(progress).await?;
        }
        db.mark_interrupted_runs(false).await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// How a transaction that reads before it writes begins: on SQLite with the write lock
    /// (waiting for it up to the busy timeout; a deferred one that read first fails at once with
    /// "database is locked" when another writer committed in between), on PostgreSQL as usual.
    pub(crate) fn write_begin_sql(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
