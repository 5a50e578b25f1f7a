//! The dashboard summaries (stats_* tables of migrations 0007–0009) recomputed from the records.
//!
//! Day to day the summaries are kept by triggers in the same transaction as the records. Two
//! jobs want them computed in one pass instead: the demo loader (millions of rows: per-row
//! triggers would cost more than the rows themselves) and an operator's check that the
//! summaries still equal the records (`bangfu stats check`, `bangfu stats rebuild`). Both run
//! the same SQL, with the `stats_` triggers suspended inside the transaction, so no other
//! connection ever sees them missing. Every trigger that maintains a summary (or bumps
//! stats_version) is named `stats_…`; that is how they are found. Suspending them takes write
//! locks, so a check or rebuild holds up writers to the summarised tables while it runs.

use crate::{Backend, Db, StoreResult, on_db};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::sync::LazyLock;

/// Empties and refills every summary table, then bumps stats_version. Only with the triggers
/// suspended (see the file's header).
pub fn rebuild_sql(backend: Backend) -> &'static str {
    const POSTGRES: &str = include_str!("../sql/rebuild_summaries.sql");
    static SQLITE: LazyLock<String> = LazyLock::new(|| POSTGRES.replace("GREATEST(", "MAX("));
    match backend {
        Backend::Sqlite => SQLITE.as_str(),
        Backend::Postgres => POSTGRES,
    }
}

/// The summary triggers, as two text columns: SQLite (name, CREATE statement), PostgreSQL
/// (table, trigger name).
pub fn summary_triggers_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'stats\\_%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT c.relname::TEXT, t.tgname::TEXT FROM pg_trigger t
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT t.tgisinternal AND t.tgname LIKE 'stats\\_%' AND n.nspname = current_schema()
             ORDER BY c.relname, t.tgname"
        }
    }
}

/// How to take one summary trigger out of a transaction and put it back: SQLite drops and
/// re-creates it (its DDL is transactional), PostgreSQL disables and enables it.
#[derive(Debug, Clone)]
pub struct TriggerToggle {
    pub suspend: String,
    pub restore: String,
}

impl TriggerToggle {
    /// From one row of `summary_triggers_sql`.
    pub fn new(backend: Backend, first: String, second: String) -> TriggerToggle {
        match backend {
            Backend::Sqlite => TriggerToggle {
                suspend: format!("DROP TRIGGER \"{first}\""),
                restore: second,
            },
            Backend::Postgres => TriggerToggle {
                suspend: format!("ALTER TABLE \"{first}\" DISABLE TRIGGER \"{second}\""),
                restore: format!("ALTER TABLE \"{first}\" ENABLE TRIGGER \"{second}\""),
            },
        }
    }
}

struct SummaryTable {
    name: &'static str,
    keys: &'static [&'static str],
    /// Rows whose measures are all zero or empty say nothing (a trigger leaves them behind when
    /// the last record of a group goes); they are ignored when comparing.
    measures: &'static [&'static str],
}

const TABLES: &[SummaryTable] = &[
    SummaryTable {
        name: "stats_household_members",
        keys: &["county_key", "status", "exit_year"],
        measures: &["households", "members"],
    },
    SummaryTable {
        name: "stats_village_members",
        keys: &["village_key", "status", "exit_year"],
        measures: &["households", "members"],
    },
    SummaryTable {
        name: "stats_invested",
        keys: &[
            "project_id",
            "year",
            "fund_source",
            "provider_id",
            "receiver_id",
        ],
        measures: &["amount"],
    },
    SummaryTable {
        name: "stats_project_regions",
        keys: &["project_id", "region_key"],
        measures: &[],
    },
    SummaryTable {
        name: "stats_projects",
        keys: &["region_key", "theme", "year"],
        measures: &["projects"],
    },
    SummaryTable {
        name: "stats_indicators",
        keys: &["region_key", "theme", "indicator", "year"],
        measures: &["value"],
    },
    SummaryTable {
        name: "stats_sites",
        keys: &["county_key", "year"],
        measures: &["elevation_min", "elevation_max"],
    },
    SummaryTable {
        name: "stats_funds",
        keys: &["region_key", "theme", "year", "fund_source"],
        measures: &["amount"],
    },
];

impl SummaryTable {
    /// One text line per meaningful row, in key order.
    fn snapshot_sql(&self) -> String {
        let cols: Vec<String> = self
            .keys
            .iter()
            .chain(self.measures)
            .map(|c| format!("COALESCE(CAST({c} AS TEXT), '')"))
            .collect();
        let filter = if self.measures.is_empty() {
            "1 = 1".to_string()
        } else {
            self.measures
                .iter()
                .map(|m| format!("COALESCE({m}, 0) <> 0"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        format!(
            "SELECT {} FROM {} WHERE {filter} ORDER BY {}",
            cols.join(" || '|' || "),
            self.name,
            self.keys.join(", ")
        )
    }
}

/// How one summary table kept by the triggers compares with the same table recomputed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SummaryDifference {
    pub table: &'static str,
    pub rows: usize,
    /// Rows present (or with other figures) only in the kept table.
    pub only_kept: usize,
    /// Rows present (or with other figures) only in the recomputed table.
    pub only_recomputed: usize,
}

fn compare(table: &'static str, kept: &[String], recomputed: &[String]) -> SummaryDifference {
    let a: std::collections::HashSet<&String> = kept.iter().collect();
    let b: std::collections::HashSet<&String> = recomputed.iter().collect();
    SummaryDifference {
        table,
        rows: recomputed.len(),
        only_kept: a.difference(&b).count(),
        only_recomputed: b.difference(&a).count(),
    }
}

impl Db {
    /// Recomputes every summary from the records and compares it with what the triggers kept.
    /// `apply` commits the recomputed tables (a repair); otherwise everything is rolled back.
    pub async fn recompute_summaries(&self, apply: bool) -> StoreResult<Vec<SummaryDifference>> {
        let backend = self.backend();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut kept = Vec::new();
            for t in TABLES {
                kept.push(sqlx::query_scalar::<_, String>(AssertSqlSafe(t.snapshot_sql())).fetch_all(&mut *tx).await?);
            }
            let listed: Vec<(String, String)> = sqlx::query_as(summary_triggers_sql(backend)).fetch_all(&mut *tx).await?;
            let toggles: Vec<TriggerToggle> = listed.into_iter().map(|(a, b)| TriggerToggle::new(backend, a, b)).collect();
            for t in &toggles {
                sqlx::raw_sql(AssertSqlSafe(t.suspend.clone())).execute(&mut *tx).await?;
            }
            sqlx::raw_sql(rebuild_sql(backend)).execute(&mut *tx).await?;
            let mut out = Vec::new();
            for (t, before) in TABLES.iter().zip(&kept) {
                let now = sqlx::query_scalar::<_, String>(AssertSqlSafe(t.snapshot_sql())).fetch_all(&mut *tx).await?;
                out.push(compare(t.name, before, &now));
            }
            for t in &toggles {
                sqlx::raw_sql(AssertSqlSafe(t.restore.clone())).execute(&mut *tx).await?;
            }
            if apply {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ignores_rows_a_trigger_emptied() {
        let t = &TABLES[0];
        let sql = t.snapshot_sql();
        assert!(
            sql.contains("COALESCE(households, 0) <> 0 OR COALESCE(members, 0) <> 0"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY county_key, status, exit_year"),
            "{sql}"
        );
    }

    #[test]
    fn differences_count_rows_on_each_side() {
        let kept = vec!["1|a|5".to_string(), "2|b|6".to_string()];
        let recomputed = vec![
            "1|a|5".to_string(),
            "2|b|7".to_string(),
            "3|c|1".to_string(),
        ];
        let d = compare("t", &kept, &recomputed);
        assert_eq!((d.rows, d.only_kept, d.only_recomputed), (3, 1, 2));
    }

    #[test]
    fn both_engines_rebuild_the_same_tables() {
        for b in [Backend::Sqlite, Backend::Postgres] {
            let sql = rebuild_sql(b);
            for t in TABLES {
                assert!(
                    sql.contains(&format!("DELETE FROM {};", t.name)),
                    "{b:?} misses {}",
                    t.name
                );
                assert!(
                    sql.contains(&format!("INSERT INTO {} (", t.name)),
                    "{b:?} misses {}",
                    t.name
                );
            }
        }
    }
}
