//! Backup and restore on both engines (`bangfu backup FILE`, `bangfu restore FILE`).
//!
//! A backup is one consistent snapshot: SQLite's `VACUUM INTO`, PostgreSQL's `pg_dump -Fc` run
//! on a snapshot exported from a transaction in which the ledger's head is read, so the head
//! printed with a backup is the head inside it. A restore goes only into a database without
//! records, is wholly done or not at all (SQLite: a checked copy renamed into place; PostgreSQL:
//! `pg_restore --single-transaction`), and ends by verifying the restored ledger's whole chain.

use crate::ledger::{LEDGER_COUNT_SQL, LEDGER_HEAD_SQL, LedgerHead};
use crate::{Db, StoreError, StoreResult, on_db, regions};
use domain::Caller;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tables whose rows are records (not reference data such as regions or code tables): a
/// database holding any of them is not overwritten by a restore or mixed with the demo.
const RECORD_TABLES: &[(&str, &str)] = &[
    ("households", "建档立卡户"),
    ("projects", "项目"),
    ("ledger_entries", "资金台账"),
    ("pairings", "结对关系"),
];

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const PG_DUMP_MAGIC: &[u8] = b"PGDMP";

/// What a backup file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackupKind {
    Sqlite,
    PgDump,
}

impl Db {
    /// The first kind of record this database holds ("建档立卡户（12 条）"), or `None`.
    /// A database whose schema was never created holds none.
    pub async fn existing_records(&self) -> StoreResult<Option<String>> {
        for (table, label) in RECORD_TABLES {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: Result<i64, sqlx::Error> = on_db!(self, p =>
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await);
            match n {
                Ok(n) if n > 0 => return Ok(Some(format!("{label}（{n} 条）"))),
                Ok(_) => {}
                Err(e) if is_missing_table(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Writes a consistent copy of the whole database to `dest` (never overwriting a file) and
    /// returns the ledger's head inside the copy. `target` is the database's own path or URL
    /// (PostgreSQL's copy is made by `pg_dump`, which connects by itself).
    pub async fn backup_to(&self, target: &str, dest: &Path) -> StoreResult<LedgerHead> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "备份文件 {} 已存在，不会覆盖",
                dest.display()
            )));
        }
        match self {
            Db::Sqlite(p) => {
                let path = dest.to_string_lossy().to_string();
                sqlx::query("VACUUM INTO $1").bind(&path).execute(p).await?;
                let copy = Db::connect_read_only(&path).await?;
                let head = copy.ledger_head().await;
                copy.close().await;
                head
            }
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                    .fetch_one(&mut *tx)
                    .await?;
                let last: Option<(i64, String)> = sqlx::query_as(LEDGER_HEAD_SQL)
                    .fetch_optional(&mut *tx)
                    .await?;
                let count: i64 = sqlx::query_scalar(LEDGER_COUNT_SQL)
                    .fetch_one(&mut *tx)
                    .await?;
                let (url, dest_owned) = (target.to_string(), dest.to_path_buf());
                let dumped = tokio::task::spawn_blocking(move || {
                    run_tool(
                        Command::new("pg_dump")
                            .args(["--format=custom", "--no-owner", "--no-privileges"])
                            .arg(format!("--snapshot={snapshot}"))
                            .arg("--file")
                            .arg(&dest_owned)
                            .arg("--dbname")
                            .arg(&url),
                        "pg_dump",
                    )
                })
                .await
                .map_err(|e| StoreError::Unavailable(format!("备份任务异常结束：{e}")))?;
                // The snapshot had to stay open until pg_dump was done with it.
                tx.rollback().await?;
                if let Err(e) = dumped {
                    let _ = std::fs::remove_file(dest);
                    return Err(e);
                }
                Ok(LedgerHead::of(last, count))
            }
        }
    }

    /// Opens a SQLite file without writing to it (nor creating it).
    async fn connect_read_only(path: &str) -> StoreResult<Db> {
        use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
        use std::str::FromStr;
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Unavailable(format!("数据库路径无效：{e}")))?
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(format!("无法打开 SQLite 文件 {path}：{e}")))?;
        Ok(Db::Sqlite(pool))
    }
}

/// Restores the backup `file` into the database `target` (a SQLite path or a PostgreSQL URL),
/// which must hold no records; brings the schema up to date, verifies the whole ledger and
/// returns its head. On any failure the target is left as it was.
pub async fn restore(
    target: &str,
    file: &Path,
    progress: &dyn regions::Progress,
) -> StoreResult<LedgerHead> {
    let kind = backup_kind(file)?;
    let postgres = target.starts_with("postgres://") || target.starts_with("postgresql://");
    match (kind, postgres) {
        (BackupKind::Sqlite, true) => {
            return Err(StoreError::invalid_field(
                "file",
                "这是 SQLite 数据库的备份，只能恢复到 SQLite 数据库文件",
            ));
        }
        (BackupKind::PgDump, false) => {
            return Err(StoreError::invalid_field(
                "file",
                "这是 PostgreSQL 的备份（pg_dump），只能恢复到 PostgreSQL 数据库",
            ));
        }
        _ => {}
    }
    refuse_target_with_records(target, postgres).await?;
    if postgres {
        let (url, file_owned) = (target.to_string(), file.to_path_buf());
        tokio::task::spawn_blocking(move || {
            run_tool(
                Command::new("pg_restore")
                    .args([
                        "--clean",
                        "--if-exists",
                        "--no-owner",
                        "--no-privileges",
                        "--single-transaction",
                        "--exit-on-error",
                    ])
                    .arg("--dbname")
                    .arg(&url)
                    .arg(&file_owned),
                "pg_restore",
            )
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("恢复任务异常结束：{e}")))??;
        let db = Db::open(target, progress).await?;
        let verified = verified_head(&db).await;
        db.close().await;
        verified
    } else {
        restore_sqlite(target, file, progress).await
    }
}

/// A copy next to the target is migrated and verified first, then renamed over the target, so
/// a failure at any step leaves the target as it was.
async fn restore_sqlite(
    target: &str,
    file: &Path,
    progress: &dyn regions::Progress,
) -> StoreResult<LedgerHead> {
    let target_path = PathBuf::from(target.strip_prefix("sqlite://").unwrap_or(target));
    let staging = with_suffix(&target_path, ".restoring");
    remove_sqlite_files(&staging);
    std::fs::copy(file, &staging).map_err(|e| {
        StoreError::Unavailable(format!("无法复制备份文件到 {}：{e}", staging.display()))
    })?;
    let checked = async {
        let db = Db::open(&staging.to_string_lossy(), progress).await?;
        let result = async {
            let check: String = on_db!(&db, p =>
                sqlx::query_scalar("PRAGMA integrity_check").fetch_one(p).await)?;
            if check != "ok" {
                return Err(StoreError::invalid_field(
                    "file",
                    format!("备份文件已损坏（SQLite 完整性检查：{check}），未恢复"),
                ));
            }
            let head = verified_head(&db).await?;
            // Everything into the main file before it is renamed (its log would not follow).
            on_db!(&db, p => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(p).await.map(|_| ()))?;
            Ok(head)
        }
        .await;
        db.close().await;
        result
    }
    .await;
    let head = match checked {
        Ok(head) => head,
        Err(e) => {
            remove_sqlite_files(&staging);
            return Err(e);
        }
    };
    // A stale write-ahead log of the old file would be replayed into the new one.
    remove_sqlite_files(&target_path);
    std::fs::rename(&staging, &target_path).map_err(|e| {
        StoreError::Unavailable(format!(
            "无法把恢复的数据库移到 {}：{e}",
            target_path.display()
        ))
    })?;
    Ok(head)
}

async fn refuse_target_with_records(target: &str, postgres: bool) -> StoreResult<()> {
    if !postgres {
        let path = Path::new(target.strip_prefix("sqlite://").unwrap_or(target));
        if !path.exists() {
            return Ok(());
        }
    }
    let db = Db::connect(target).await?;
    let existing = db.existing_records().await;
    db.close().await;
    if let Some(what) = existing? {
        return Err(StoreError::Conflict(format!(
            "目标数据库中已有{what}：只能恢复到没有业务数据的数据库（请换一个新的数据库）"
        )));
    }
    Ok(())
}

async fn verified_head(db: &Db) -> StoreResult<LedgerHead> {
    let v = db.verify_ledger(&Caller::system()).await?;
    if let Some((id, message)) = v.first_problem {
        return Err(StoreError::invalid_field(
            "file",
            format!("备份中的资金台账校验未通过（交易 {id}：{message}），未恢复"),
        ));
    }
    db.ledger_head().await
}

fn backup_kind(file: &Path) -> StoreResult<BackupKind> {
    let mut head = [0u8; 16];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| {
            StoreError::invalid_field("file", format!("无法读取备份文件 {}：{e}", file.display()))
        })?;
    let head = &head[..n];
    if head.starts_with(SQLITE_MAGIC) {
        Ok(BackupKind::Sqlite)
    } else if head.starts_with(PG_DUMP_MAGIC) {
        Ok(BackupKind::PgDump)
    } else {
        Err(StoreError::invalid_field(
            "file",
            format!(
                "{} 不是 bangfu backup 生成的备份文件（应为 SQLite 数据库或 pg_dump 自定义格式）",
                file.display()
            ),
        ))
    }
}

/// Runs a PostgreSQL client tool; its stderr (which names objects, never row data) becomes the
/// error, with any password in a URL left out.
fn run_tool(command: &mut Command, tool: &str) -> StoreResult<()> {
    let out = command.output().map_err(|e| {
        StoreError::Unavailable(format!(
            "无法运行 {tool}（PostgreSQL 客户端工具，需与服务器同一主版本）：{e}"
        ))
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr: String = stderr
        .lines()
        .take(5)
        .map(hide_password)
        .collect::<Vec<_>>()
        .join("；");
    Err(StoreError::Unavailable(format!("{tool} 失败：{stderr}")))
}

fn hide_password(line: &str) -> String {
    match (line.find("://"), line.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…{}", &line[..scheme], &line[at..])
        }
        _ => line.to_string(),
    }
}

fn is_missing_table(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    // PostgreSQL's undefined_table; SQLite says so in its message.
    d.code().is_some_and(|c| c == "42P01") || d.message().contains("no such table")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(path, suffix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_tool_messages_are_hidden() {
        assert_eq!(
            hide_password("connection to postgres://bangfu:s3cret@db:5432/x failed"),
            "connection to postgres://…@db:5432/x failed"
        );
        assert_eq!(hide_password("no url here"), "no url here");
    }

    #[test]
    fn a_backup_is_known_by_its_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"SQLite format 3\0rest").unwrap();
        assert_eq!(backup_kind(&f).unwrap(), BackupKind::Sqlite);
        std::fs::write(&f, b"PGDMP\x01\x0e").unwrap();
        assert_eq!(backup_kind(&f).unwrap(), BackupKind::PgDump);
        std::fs::write(&f, b"id,name\n").unwrap();
        assert!(backup_kind(&f).unwrap_err().to_string().contains("不是"));
        std::fs::write(&f, b"").unwrap();
        assert!(backup_kind(&f).is_err());
    }
}
