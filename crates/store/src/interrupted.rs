//! Work left `running` by a process that died (killed, power lost) is found and marked
//! `interrupted` at the next start (issue 19). The work itself is one transaction and leaves
//! nothing behind; only the row that announced it stays `running` and must not stay so forever.
//!
//! Every running row names its owner: a process identity that any other process sharing the
//! database can check, without trusting clocks or heartbeats (an assessment holds SQLite's write
//! lock for minutes, so no heartbeat could be written meanwhile):
//! - SQLite (a local file): `local:{boot id}:{pid namespace}:{pid}:{start time}`. The owner lives
//!   while `/proc/{pid}/stat` shows the same start time in the same boot; a pid reused by another
//!   process has another start time. An owner in another pid namespace (a container) cannot be
//!   checked from here and counts as alive: that side marks its own rows at its next start.
//! - PostgreSQL: `pg:{backend pid}:{backend start}` of a connection each process keeps open for
//!   its lifetime (the lease). The server drops a dead client's connection, so the owner lives
//!   while `pg_stat_activity` shows that backend; this holds for clients on any machine.
//!
//! Import batches, the demo load and the summary rebuild write their rows in the same
//! transaction as their work, so they are never seen `running`: only assessment runs are.

use crate::{BUSY_TIMEOUT, Db, StoreResult, now_rfc3339, on_db};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Why an interrupted run ended, shown on its page.
pub const INTERRUPTED_MESSAGE: &str =
    "执行评估的进程在完成前停止（被终止、断电或服务关闭），本批次未写入任何结论，可重新评估";

/// The lease connections of this process, one per PostgreSQL database, never closed.
fn leases() -> &'static Mutex<HashMap<String, (String, sqlx::PgConnection)>> {
    static LEASES: OnceLock<Mutex<HashMap<String, (String, sqlx::PgConnection)>>> = OnceLock::new();
    LEASES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The start time of a local process (clock ticks since boot), if it exists.
fn process_start(pid: &str) -> Option<String> {
    start_from_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn start_from_stat(stat: &str) -> Option<String> {
    // Field 2, the command name, may hold spaces and parentheses: count from the last ')'.
    // Field 22 (starttime) is then the 20th.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    rest.split_whitespace().nth(19).map(String::from)
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().replace(':', "_"))
}

fn local_identity() -> String {
    let pid = std::process::id().to_string();
    match (boot_id(), pid_namespace(), process_start(&pid)) {
        (Some(boot), Some(ns), Some(start)) => format!("local:{boot}:{ns}:{pid}:{start}"),
        // Without /proc nothing can be checked: such an owner always counts as alive.
        _ => format!("local:unknown:{pid}"),
    }
}

/// Whether a local owner is certainly gone.
fn local_owner_gone(owner: &str) -> bool {
    let parts: Vec<&str> = owner.split(':').collect();
    let [_, boot, ns, pid, start] = parts[..] else {
        return false;
    };
    if boot_id().as_deref() != Some(boot) {
        // Another boot of this machine: every process of the earlier one is gone. (Another
        // machine sharing the file cannot be told apart; SQLite is not for that.)
        return true;
    }
    if pid_namespace().as_deref() != Some(ns) {
        return false;
    }
    process_start(pid).as_deref() != Some(start)
}

impl Db {
    /// This process's name as the owner of the work it starts (see the module comment).
    pub(crate) async fn owner_token(&self) -> StoreResult<String> {
        let Db::Postgres(pool) = self else {
            return Ok(local_identity());
        };
        let key = self.identity();
        let kept = leases()
            .lock()
            .expect("leases")
            .get(&key)
            .map(|(t, _)| t.clone());
        if let Some(token) = kept {
            // A lease the server dropped (restarted, database recreated) names nobody alive.
            if !self.owner_gone(Some(&token)).await? {
                return Ok(token);
            }
            leases().lock().expect("leases").remove(&key);
        }
        let mut conn = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
        let (pid, start): (i32, i64) = sqlx::query_as(
            "SELECT pid, (extract(epoch FROM backend_start) * 1000000)::bigint
             FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .fetch_one(&mut conn)
        .await?;
        let token = format!("pg:{pid}:{start}");
        let mut leases = leases().lock().expect("leases");
        // Two first runs at once: the first lease kept serves both.
        let (token, _) = leases.entry(key).or_insert((token, conn));
        Ok(token.clone())
    }

    /// Whether the owner of a running row is certainly gone (a row without owner was left by
    /// a release before owners were recorded, whose process is gone by now).
    async fn owner_gone(&self, owner: Option<&str>) -> StoreResult<bool> {
        let Some(owner) = owner else {
            return Ok(true);
        };
        if let Some(rest) = owner.strip_prefix("pg:") {
            let Some((pid, start)) = rest.split_once(':') else {
                return Ok(true);
            };
            let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<i64>()) else {
                return Ok(true);
            };
            let Db::Postgres(p) = self else {
                return Ok(true);
            };
            let alive: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE pid = $1 AND (extract(epoch FROM backend_start) * 1000000)::bigint = $2",
            )
            .bind(pid)
            .bind(start)
            .fetch_one(p)
            .await?;
            return Ok(alive == 0);
        }
        Ok(owner.starts_with("local:") && local_owner_gone(owner))
    }

    /// Marks `interrupted` (with the time) every run left `running` by a process that is gone,
    /// and, with `own`, this process's own (its server is shutting down and has stopped them).
    /// Called once when the database is opened (`Db::open`) and by the server on shutdown.
    /// Returns the ids marked. A database kept busy by another writer is left for the next start.
    pub async fn mark_interrupted_runs(&self, own: bool) -> StoreResult<Vec<i64>> {
        let running: Vec<(i64, Option<String>)> = on_db!(self, p => sqlx::query_as(
            "SELECT id, owner FROM assessment_runs WHERE status = 'running' ORDER BY id")
            .fetch_all(p).await)?;
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let me = if own {
            Some(self.owner_token().await?)
        } else {
            None
        };
        let mut gone = Vec::new();
        for (id, owner) in running {
            let mine = me.is_some() && owner == me;
            if mine || self.owner_gone(owner.as_deref()).await? {
                gone.push(id);
            }
        }
        let now = now_rfc3339();
        let mut marked = Vec::new();
        for id in gone {
            // Only while still running: a run that finished meanwhile keeps its outcome.
            let sql =
                "UPDATE assessment_runs SET status = 'interrupted', finished_at = $1, error = $2
                       WHERE id = $3 AND status = 'running'";
            let done: Result<u64, sqlx::Error> = match self {
                Db::Sqlite(p) => {
                    // At a start, not the usual 30 s: it should not wait for another process's
                    // import. At shutdown, as long as the stopped run takes to roll back.
                    let wait = if own {
                        BUSY_TIMEOUT
                    } else {
                        Duration::from_secs(2)
                    };
                    let mut c = p.acquire().await?;
                    let pragma = format!("PRAGMA busy_timeout = {}", wait.as_millis());
                    sqlx::query(sqlx::AssertSqlSafe(pragma))
                        .execute(&mut *c)
                        .await?;
                    let r = sqlx::query(sql)
                        .bind(&now)
                        .bind(INTERRUPTED_MESSAGE)
                        .bind(id)
                        .execute(&mut *c)
                        .await
                        .map(|r| r.rows_affected());
                    let usual = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
                    sqlx::query(sqlx::AssertSqlSafe(usual))
                        .execute(&mut *c)
                        .await?;
                    r
                }
                Db::Postgres(p) => {
                    // A killed client's backend may still hold the row until its statement
                    // ends: at a start, wait a little and leave it for the next one.
                    let mut tx = p.begin().await?;
                    if !own {
                        sqlx::query("SET LOCAL lock_timeout = '2s'")
                            .execute(&mut *tx)
                            .await?;
                    }
                    let r = sqlx::query(sql)
                        .bind(&now)
                        .bind(INTERRUPTED_MESSAGE)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map(|r| r.rows_affected());
                    if r.is_ok() {
                        crate::commit!(tx)?;
                    }
                    r
                }
            };
            match done {
                Ok(1) => {
                    tracing::warn!(run = id, "assessment run interrupted (its process is gone)");
                    marked.push(id);
                }
                Ok(_) => {}
                Err(e) => {
                    let e = crate::StoreError::from(e);
                    if !e.is_busy() {
                        return Err(e);
                    }
                    tracing::info!(
                        run = id,
                        "database busy; the interrupted run is marked at the next start"
                    );
                    break;
                }
            }
        }
        Ok(marked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_exited_one_is_gone() {
        let me = local_identity();
        assert!(
            me.starts_with("local:") && me.split(':').count() == 5,
            "{me}"
        );
        assert!(!local_owner_gone(&me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let parts: Vec<&str> = me.split(':').collect();
        let dead = format!("local:{}:{}:{pid}:{}", parts[1], parts[2], parts[4]);
        assert!(local_owner_gone(&dead), "{dead}");
        // Same pid, another start time: the pid was reused by another process.
        let reused = format!("local:{}:{}:{}:1", parts[1], parts[2], parts[3]);
        assert!(local_owner_gone(&reused));
        // An earlier boot: gone; another pid namespace: cannot tell, so alive.
        let earlier = format!("local:other-boot:{}:{}:{}", parts[2], parts[3], parts[4]);
        assert!(local_owner_gone(&earlier));
        let container = format!("local:{}:pid_[1]:{pid}:{}", parts[1], parts[4]);
        assert!(!local_owner_gone(&container));
        assert!(!local_owner_gone("local:unknown:1"));
    }

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let fields: Vec<String> = (3..=52).map(|n| format!("f{n}")).collect();
        let stat = format!("4242 (bangfu (x) y) {}\n", fields.join(" "));
        assert_eq!(start_from_stat(&stat).as_deref(), Some("f22"));
        assert_eq!(start_from_stat("4242 (truncated"), None);
    }
}
