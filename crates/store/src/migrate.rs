//! Schema migrations, one folder per engine, embedded in the binary. Each migration runs in
//! its own transaction together with its bookkeeping row, so a crash never leaves half a schema.

use crate::{Db, StoreResult, now_rfc3339, on_db};
use sqlx::AssertSqlSafe;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_audit"),
    migration!(3, "0003_registry"),
    migration!(4, "0004_projects_ledger"),
    migration!(5, "0005_auth"),
    migration!(6, "0006_assessment"),
    migration!(7, "0007_stats"),
    migration!(8, "0008_dashboard"),
    migration!(9, "0009_household_summaries_per_statement"),
    migration!(10, "0010_rural_households"),
    migration!(11, "0011_member_numbers"),
    migration!(12, "0012_status_history_source"),
    migration!(13, "0013_elimination_procedure"),
    migration!(14, "0014_ledger_receives"),
    migration!(15, "0015_disability_certificate"),
    migration!(16, "0016_summaries_defined_once"),
    migration!(17, "0017_run_owner"),
    migration!(18, "0018_consumption"),
];

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Applies every migration not yet applied; returns how many ran. Then recomputes the summary
/// keys a migration marked dirty (one that changes how a summary is kept, like 0016, marks its
/// keys instead of repeating the summary's definition in SQL).
pub async fn run(db: &Db) -> StoreResult<usize> {
    let ran = run_up_to(db, i64::MAX).await?;
    db.refresh_summaries().await?;
    Ok(ran)
}

/// The versions of every shipped migration, in order.
pub fn versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// Applies the migrations not yet applied up to `last` (inclusive): a database as an older
/// release left it, for the upgrade tests.
pub async fn run_up_to(db: &Db, last: i64) -> StoreResult<usize> {
    on_db!(db, p => sqlx::raw_sql(BOOKKEEPING).execute(p).await.map(|_| ()))?;
    let applied: Vec<i64> = on_db!(db, p => sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(p).await)?;
    let mut ran = 0;
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version <= last && !applied.contains(&m.version))
    {
        let sql = match db {
            Db::Sqlite(_) => m.sqlite,
            Db::Postgres(_) => m.postgres,
        };
        on_db!(db, p => {
            let mut tx = p.begin().await?;
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(now_rfc3339())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        tracing::info!(version = m.version, name = m.name, "migration applied");
        ran += 1;
    }
    Ok(ran)
}

/// Table name → sorted (column, type family) pairs, for checking that both engines' schemas agree.
pub async fn schema_shape(db: &Db) -> StoreResult<Vec<(String, Vec<(String, String)>)>> {
    let rows: Vec<(String, String, String)> = match db {
        Db::Sqlite(p) => {
            sqlx::query_as(
                "SELECT m.name, c.name, c.type FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.name",
            )
            .fetch_all(p)
            .await?
        }
        Db::Postgres(p) => {
            sqlx::query_as(
                "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() ORDER BY table_name, column_name",
            )
            .fetch_all(p)
            .await?
        }
    };
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (table, column, ty) in rows {
        let family = type_family(&ty).to_string();
        match out.last_mut() {
            Some((t, cols)) if *t == table => cols.push((column, family)),
            _ => out.push((table, vec![(column, family)])),
        }
    }
    Ok(out)
}

fn type_family(ty: &str) -> &'static str {
    let t = ty.to_ascii_lowercase();
    if t.contains("int") {
        "integer"
    } else if t.contains("bool") {
        "boolean"
    } else if t.contains("double") || t.contains("real") || t.contains("numeric") {
        "real"
    } else if t.contains("text") || t.contains("char") {
        "text"
    } else if t.contains("blob") || t.contains("bytea") {
        "bytes"
    } else {
        "other"
    }
}
