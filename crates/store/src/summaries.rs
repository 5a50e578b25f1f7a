//! The dashboard summaries (stats_* tables): their one definition, their upkeep before every
//! commit, and their recomputation from the records.
//!
//! Every summary is defined once, in `TABLES`, by a portable SELECT (the same text runs on
//! SQLite and PostgreSQL). The triggers (migration 0016) only note which keys changed, in
//! stats_dirty; `commit!` recomputes those keys from the definitions in the transaction that
//! changed them, just before it commits; `rebuild_sql` runs the same definitions over all keys.
//! A summary is either `Defined` (its rows as a function of a set of keys: a county's
//! households, a project's money) or a `SumOf` a per-key table (the national and regional sums,
//! kept by adding the change of the parts, so that one project's new entry does not recompute
//! a national sum over every project). Adding a summary means a table and the triggers that
//! note its dirty keys (a migration) and one entry here (see docs/ARCHITECTURE.md).
//!
//! Two jobs want every summary computed in one pass: the demo loader (millions of rows: per-row
//! triggers would cost more than the rows themselves) and an operator's check that the
//! summaries still equal the records (`bangfu stats check`, `bangfu stats rebuild`). Both run
//! `rebuild_sql`, with the `stats_` triggers suspended inside the transaction, so no other
//! connection ever sees them missing. Every trigger that notes a dirty key or bumps
//! stats_version is named `stats_…`; that is how they are found. Suspending them takes write
//! locks, so a check or rebuild holds up writers to the summarised tables while it runs.

use crate::{Backend, Db, StoreResult, on_db};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::sync::LazyLock;

/// Empties and refills every summary table from its definition over all keys, forgets the
/// dirty keys, then bumps stats_version. Only with the triggers suspended (see the file's
/// header). The same text on both engines.
pub fn rebuild_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let defined = TABLES
            .iter()
            .filter(|t| matches!(t.upkeep, Upkeep::Defined(_)));
        let sums = TABLES
            .iter()
            .filter(|t| matches!(t.upkeep, Upkeep::SumOf { .. }));
        let mut sql: String = defined.chain(sums).map(SummaryTable::rebuild_sql).collect();
        sql += "DELETE FROM stats_dirty;\nUPDATE stats_version SET version = version + 1 WHERE id = 1;\n";
        sql
    });
    SQL.as_str()
}

/// Whether the transaction left keys to recompute: one row, 0 or 1.
pub const ANY_DIRTY_SQL: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM stats_dirty LIMIT 1) AS d";

/// Recomputes the dirty keys of every summary and forgets them. Runs in the writing
/// transaction (see `commit!`); the same text on both engines.
pub fn refresh_sql() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let mut sql: String = TABLES.iter().map(SummaryTable::refresh_sql).collect();
        sql += "DELETE FROM stats_dirty;\n";
        sql
    });
    SQL.as_str()
}

/// Commits a store transaction (`sqlx::Transaction` of either engine) after bringing the
/// summaries up to date with its writes. Every transaction of the store that may write a
/// summarised record commits through here; the value is `Result<(), sqlx::Error>`.
#[macro_export]
macro_rules! commit {
    ($tx:ident) => {
        async {
            let dirty: i64 = sqlx::query_scalar($crate::summaries::ANY_DIRTY_SQL)
                .fetch_one(&mut *$tx)
                .await?;
            if dirty > 0 {
                sqlx::raw_sql($crate::summaries::refresh_sql())
                    .execute(&mut *$tx)
                    .await?;
            }
            $tx.commit().await
        }
        .await
    };
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
    /// Rows whose measures are all zero or empty say nothing (a sum keeps them when the last
    /// record of a group goes); they are ignored when comparing.
    measures: &'static [&'static str],
    upkeep: Upkeep,
}

enum Upkeep {
    /// Rows as a function of a set of keys, recomputed for the dirty ones.
    Defined(Defined),
    /// Sums over the rows of a `Defined` table (`parts`): `rows` is a SELECT of this table's
    /// columns from `{parts}`, linear in them (sums of sums), so that the change of the parts
    /// (their new rows, and their old rows negated) is added to the kept sums. Listed before
    /// its parts: the change is taken before the parts are recomputed.
    SumOf {
        parts: &'static str,
        rows: &'static str,
    },
}

struct Defined {
    /// The key column recomputed as a whole.
    key: &'static str,
    /// The keys to recompute: a SELECT of one column named `key`, from stats_dirty (whose
    /// `kind` names the column the noted values come from) and the records.
    dirty: &'static str,
    /// Every key, for a rebuild; None: every record (`{in_keys}` becomes `IS NOT NULL`).
    every: Option<&'static str>,
    /// A portable SELECT of the table's columns (keys then measures, named like them), over
    /// the records whose `key` satisfies `{in_keys}`.
    rows: &'static str,
}

/// The project ids noted dirty by the triggers on projects, their locations, indicators and
/// microloans and on invested ledger entries.
const DIRTY_PROJECTS: &str = "SELECT key FROM stats_dirty WHERE kind = 'projects.id'";

const TABLES: &[SummaryTable] = &[
    // Active members of registry households (not 清退) by county, poverty status and exit
    // year (0 when none). households.member_count already counts active members.
    SummaryTable {
        name: "stats_household_members",
        keys: &["county_key", "status", "exit_year"],
        measures: &["households", "members"],
        upkeep: Upkeep::Defined(Defined {
            key: "county_key",
            dirty: "SELECT key FROM stats_dirty WHERE kind = 'households.county_key'",
            every: None,
            rows: "SELECT county_key, status, COALESCE(exit_year, 0) AS exit_year, COUNT(*) AS households,
                          COALESCE(SUM(member_count), 0) AS members
                   FROM households WHERE removed_year IS NULL AND county_key {in_keys}
                   GROUP BY county_key, status, COALESCE(exit_year, 0)",
        }),
    },
    // The same by village: the drill-down below the county.
    SummaryTable {
        name: "stats_village_members",
        keys: &["village_key", "status", "exit_year"],
        measures: &["households", "members"],
        upkeep: Upkeep::Defined(Defined {
            key: "village_key",
            dirty: "SELECT key FROM stats_dirty WHERE kind = 'households.village_key'",
            every: None,
            rows: "SELECT village_key, status, COALESCE(exit_year, 0) AS exit_year, COUNT(*) AS households,
                          COALESCE(SUM(member_count), 0) AS members
                   FROM households WHERE removed_year IS NULL AND village_key {in_keys}
                   GROUP BY village_key, status, COALESCE(exit_year, 0)",
        }),
    },
    // Funds invested (投入, ledger_entries.invested) by the grouping the invested-funds report
    // splits over project locations: project, value-date year, fund source, provider, receiver.
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
        upkeep: Upkeep::Defined(Defined {
            key: "project_id",
            dirty: DIRTY_PROJECTS,
            every: None,
            rows: "SELECT project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT) AS year, fund_source, provider_id,
                          receiver_id, SUM(amount) AS amount
                   FROM ledger_entries WHERE invested AND project_id {in_keys}
                   GROUP BY project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT), fund_source, provider_id, receiver_id",
        }),
    },
    // Every region a project counts in: the root (0) and each distinct ancestor (province,
    // prefecture, county, town, village) of each of its locations, once however many of its
    // locations lie inside (the overview's "a location in the region").
    SummaryTable {
        name: "stats_project_regions",
        keys: &["project_id", "region_key"],
        measures: &[],
        upkeep: Upkeep::Defined(Defined {
            key: "project_id",
            dirty: DIRTY_PROJECTS,
            every: None,
            rows: "SELECT id AS project_id, 0 AS region_key FROM projects WHERE id {in_keys}
                   UNION
                   SELECT l.project_id, (l.region_key / 10 / s.pad * s.pad) * 10 + s.lv
                   FROM project_locations l JOIN stats_levels s ON s.lv BETWEEN 1 AND l.region_key % 10
                   WHERE l.project_id {in_keys}",
        }),
    },
    // Elevation range of project sites and their counties (高度), by the site's county (or the
    // site itself above county level) and the project's start year. Recomputed by county: the
    // counties of changed locations, of regions whose elevation changed and of changed projects.
    SummaryTable {
        name: "stats_sites",
        keys: &["county_key", "year"],
        measures: &["elevation_min", "elevation_max"],
        upkeep: Upkeep::Defined(Defined {
            key: "county_key",
            dirty: "SELECT DISTINCT (CASE WHEN z.k % 10 >= 3 THEN (z.k / 10 / 1000000 * 1000000) * 10 + 3 ELSE z.k END) AS key
                    FROM (SELECT key AS k FROM stats_dirty WHERE kind IN ('project_locations.region_key', 'regions.key')
                          UNION ALL
                          SELECT region_key FROM project_locations WHERE project_id IN (SELECT key FROM stats_dirty WHERE kind = 'projects.id')) AS z",
            every: Some(
                "SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS key
                 FROM project_locations",
            ),
            rows: "SELECT u.ck AS county_key, u.y AS year, MIN(u.e) AS elevation_min, MAX(u.e) AS elevation_max FROM (
                       SELECT c.key AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
                       FROM regions c
                       JOIN project_locations l ON l.region_key >= c.key
                            AND l.region_key < (CASE WHEN c.key % 10 = 3 THEN (c.key / 10 + 1000000) * 10 ELSE c.key + 1 END)
                       JOIN projects p ON p.id = l.project_id
                       JOIN regions r ON r.key = l.region_key
                       WHERE c.key {in_keys}
                       UNION ALL
                       SELECT c.key, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
                       FROM regions c
                       JOIN project_locations l ON l.region_key >= c.key
                            AND l.region_key < (CASE WHEN c.key % 10 = 3 THEN (c.key / 10 + 1000000) * 10 ELSE c.key + 1 END)
                       JOIN projects p ON p.id = l.project_id
                       WHERE c.key {in_keys}
                   ) AS u GROUP BY u.ck, u.y",
        }),
    },
    // Projects by region (as stats_project_regions), theme and start year.
    SummaryTable {
        name: "stats_projects",
        keys: &["region_key", "theme", "year"],
        measures: &["projects"],
        upkeep: Upkeep::SumOf {
            parts: "stats_project_parts",
            rows: "SELECT region_key, theme, year, SUM(projects) AS projects FROM {parts} AS x
                   GROUP BY region_key, theme, year",
        },
    },
    SummaryTable {
        name: "stats_project_parts",
        keys: &["project_id", "region_key", "theme", "year"],
        measures: &["projects"],
        upkeep: Upkeep::Defined(Defined {
            key: "project_id",
            dirty: DIRTY_PROJECTS,
            every: None,
            rows: "SELECT r.project_id, r.region_key, p.theme, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS year,
                          1 AS projects
                   FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
                   WHERE r.project_id {in_keys}",
        }),
    },
    // Theme indicators (project_indicators, summed whole into every region of the project) by
    // region, theme, indicator and year; microloans as 'loans' (count) and 'loan_amount' (fen)
    // by year issued.
    SummaryTable {
        name: "stats_indicators",
        keys: &["region_key", "theme", "indicator", "year"],
        measures: &["value"],
        upkeep: Upkeep::SumOf {
            parts: "stats_indicator_parts",
            rows: "SELECT region_key, theme, indicator, year, SUM(value) AS value FROM {parts} AS x
                   GROUP BY region_key, theme, indicator, year",
        },
    },
    SummaryTable {
        name: "stats_indicator_parts",
        keys: &["project_id", "region_key", "theme", "indicator", "year"],
        measures: &["value"],
        upkeep: Upkeep::Defined(Defined {
            key: "project_id",
            dirty: DIRTY_PROJECTS,
            every: None,
            rows: "SELECT project_id, region_key, theme, indicator, year, SUM(value) AS value FROM (
                       SELECT r.project_id, r.region_key, p.theme, i.indicator, i.year, i.value
                       FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
                       JOIN project_indicators i ON i.project_id = r.project_id
                       WHERE r.project_id {in_keys}
                       UNION ALL
                       SELECT r.project_id, r.region_key, p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT),
                              CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END
                       FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
                       JOIN project_loans o ON o.project_id = r.project_id
                       JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') AS k ON true
                       WHERE r.project_id {in_keys}
                   ) AS z GROUP BY project_id, region_key, theme, indicator, year",
        }),
    },
    // Invested funds split over each project's locations by largest remainder per (project,
    // year, source, provider, receiver), exactly as the invested-funds report splits them
    // (domain::money::split_largest_remainder), and rolled up to every ancestor of the
    // location and the root (0).
    SummaryTable {
        name: "stats_funds",
        keys: &["region_key", "theme", "year", "fund_source"],
        measures: &["amount"],
        upkeep: Upkeep::SumOf {
            parts: "stats_fund_parts",
            rows: "SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv AS region_key, x.theme, x.year, x.fund_source,
                          SUM(x.amount) AS amount
                   FROM {parts} AS x JOIN stats_levels s ON s.lv <= x.region_key % 10
                   GROUP BY (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, x.theme, x.year, x.fund_source",
        },
    },
    // A project's invested money split over its locations (the location's own key).
    SummaryTable {
        name: "stats_fund_parts",
        keys: &["project_id", "region_key", "theme", "year", "fund_source"],
        measures: &["amount"],
        upkeep: Upkeep::Defined(Defined {
            key: "project_id",
            dirty: DIRTY_PROJECTS,
            every: None,
            rows: "SELECT q.project_id, q.region_key, q.theme, q.year, q.fund_source,
                          SUM((CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
                              * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END)) AS amount
                   FROM (SELECT g.project_id, p.theme, g.year, g.fund_source, g.amount, w.region_key,
                                ABS(g.amount) * w.weight / w.total AS base,
                                ROW_NUMBER() OVER (PARTITION BY g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id
                                                   ORDER BY ABS(g.amount) * w.weight % w.total DESC, w.position) AS rn,
                                SUM(ABS(g.amount) * w.weight / w.total)
                                    OVER (PARTITION BY g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
                         FROM stats_invested g
                         JOIN projects p ON p.id = g.project_id
                         JOIN (SELECT l.project_id, l.region_key, l.position,
                                      CASE WHEN t.wsum = 0 THEN 1 WHEN l.weight > 0 THEN l.weight ELSE 0 END AS weight,
                                      CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END AS total
                               FROM project_locations l
                               JOIN (SELECT project_id, CAST(SUM(CASE WHEN weight > 0 THEN weight ELSE 0 END) AS BIGINT) AS wsum,
                                            COUNT(*) AS n
                                     FROM project_locations WHERE project_id {in_keys} GROUP BY project_id) AS t
                                 ON t.project_id = l.project_id) AS w
                           ON w.project_id = g.project_id
                         WHERE g.project_id {in_keys}) AS q
                   GROUP BY q.project_id, q.region_key, q.theme, q.year, q.fund_source",
        }),
    },
];

fn table(name: &str) -> &'static SummaryTable {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no summary table {name}"))
}

impl SummaryTable {
    fn columns(&self) -> String {
        self.keys
            .iter()
            .chain(self.measures)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn defined(&self) -> &Defined {
        match &self.upkeep {
            Upkeep::Defined(d) => d,
            Upkeep::SumOf { .. } => panic!("{} is a sum, not a definition", self.name),
        }
    }

    /// Empties the table and fills it from its definition over all keys (a sum: from its
    /// parts, rebuilt before it).
    fn rebuild_sql(&self) -> String {
        let rows = match &self.upkeep {
            Upkeep::Defined(d) => {
                let every = match d.every {
                    Some(every) => format!("IN ({every})"),
                    None => "IS NOT NULL".to_string(),
                };
                d.rows.replace("{in_keys}", &every)
            }
            Upkeep::SumOf { parts, rows } => rows.replace("{parts}", parts),
        };
        format!(
            "DELETE FROM {t};\nINSERT INTO {t} ({cols})\n{rows};\n",
            t = self.name,
            cols = self.columns(),
        )
    }

    /// The definition's rows for the dirty keys.
    fn dirty_rows(&self) -> String {
        let d = self.defined();
        d.rows.replace("{in_keys}", &format!("IN ({})", d.dirty))
    }

    /// A definition: rows under a dirty key that the definition no longer gives go; its rows
    /// are written where new or where a figure changed (so stats_version, bumped by writes to
    /// the summaries on PostgreSQL, moves only when a figure does). A sum: the change of its
    /// parts (new rows, and the kept ones negated) is added where it is not zero. Rows are
    /// written in key order, so two transactions lock them in the same order.
    fn refresh_sql(&self) -> String {
        let t = self.name;
        let cols = self.columns();
        let keys = self.keys.join(", ");
        match &self.upkeep {
            Upkeep::Defined(d) => {
                let rows = self.dirty_rows();
                let same_keys: Vec<String> = self
                    .keys
                    .iter()
                    .map(|k| format!("d.{k} = {t}.{k}"))
                    .collect();
                let on_conflict = if self.measures.is_empty() {
                    "DO NOTHING".to_string()
                } else {
                    let set: Vec<String> = self
                        .measures
                        .iter()
                        .map(|m| format!("{m} = excluded.{m}"))
                        .collect();
                    let changed: Vec<String> = self
                        .measures
                        .iter()
                        .map(|m| format!("{t}.{m} IS DISTINCT FROM excluded.{m}"))
                        .collect();
                    format!(
                        "DO UPDATE SET {} WHERE {}",
                        set.join(", "),
                        changed.join(" OR ")
                    )
                };
                format!(
                    "DELETE FROM {t} WHERE {key} IN ({dirty})
    AND NOT EXISTS (SELECT 1 FROM ({rows}) AS d WHERE {same_keys});
INSERT INTO {t} ({cols})
SELECT {cols} FROM ({rows}) AS d WHERE true ORDER BY {keys}
ON CONFLICT ({keys}) {on_conflict};
",
                    key = d.key,
                    dirty = d.dirty,
                    same_keys = same_keys.join(" AND "),
                )
            }
            Upkeep::SumOf { parts, rows } => {
                let p = table(parts);
                let d = p.defined();
                let negated: Vec<String> = p
                    .keys
                    .iter()
                    .map(|k| k.to_string())
                    .chain(p.measures.iter().map(|m| format!("-{m}")))
                    .collect();
                let change = format!(
                    "(SELECT {pcols} FROM ({new}) AS n
      UNION ALL
      SELECT {negated} FROM {parts} WHERE {key} IN ({dirty}))",
                    pcols = p.columns(),
                    new = p.dirty_rows(),
                    negated = negated.join(", "),
                    key = d.key,
                    dirty = d.dirty,
                );
                let nonzero: Vec<String> =
                    self.measures.iter().map(|m| format!("{m} <> 0")).collect();
                let add: Vec<String> = self
                    .measures
                    .iter()
                    .map(|m| format!("{m} = {t}.{m} + excluded.{m}"))
                    .collect();
                format!(
                    "INSERT INTO {t} ({cols})
SELECT {cols} FROM ({rows}) AS d WHERE {nonzero} ORDER BY {keys}
ON CONFLICT ({keys}) DO UPDATE SET {add};
",
                    rows = rows.replace("{parts}", &change),
                    nonzero = nonzero.join(" OR "),
                    add = add.join(", "),
                )
            }
        }
    }

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
    /// Applies the dirty keys that writes from outside the store's transactions left behind
    /// (SQL run by hand against the database; every transaction of the store refreshes its own
    /// before it commits, see `commit!`). The readers of the summaries call it first, so such
    /// writes show at the next read.
    pub async fn refresh_summaries(&self) -> StoreResult<()> {
        on_db!(self, p => {
            let dirty: i64 = sqlx::query_scalar(ANY_DIRTY_SQL).fetch_one(p).await?;
            if dirty > 0 {
                let mut tx = p.begin().await?;
                crate::commit!(tx)?;
            }
            Ok(())
        })
    }

    /// The current stats_version, after applying keys left by writes from outside the store:
    /// one single-row query when none wait (the cached figures' path).
    pub async fn current_stats_version(&self) -> StoreResult<i64> {
        const SQL: &str =
            "SELECT version, (SELECT COUNT(*) FROM (SELECT 1 FROM stats_dirty LIMIT 1) AS d)
                           FROM stats_version WHERE id = 1";
        let (version, dirty): (i64, i64) =
            on_db!(self, p => sqlx::query_as(SQL).fetch_one(p).await)?;
        if dirty == 0 {
            return Ok(version);
        }
        self.refresh_summaries().await?;
        self.stats_version().await
    }

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
            sqlx::raw_sql(rebuild_sql()).execute(&mut *tx).await?;
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
    fn definitions_are_portable_and_read_only_the_dirty_keys() {
        for t in TABLES {
            let text = match &t.upkeep {
                Upkeep::Defined(d) => {
                    assert!(d.rows.contains("{in_keys}"), "{}: not by its keys", t.name);
                    assert!(d.dirty.contains("stats_dirty"), "{}", t.name);
                    d.rows
                }
                Upkeep::SumOf { parts, rows } => {
                    let p = table(parts);
                    assert!(matches!(p.upkeep, Upkeep::Defined(_)), "{}", t.name);
                    let [sum, part] =
                        [t.name, p.name].map(|n| TABLES.iter().position(|x| x.name == n));
                    assert!(sum < part, "{} is refreshed before its parts", t.name);
                    rows
                }
            };
            // What one engine has and the other lacks. (SQLite's two-argument MAX and MIN are
            // not caught here: the tests of both engines are.)
            for engine_only in ["GREATEST(", "LEAST(", "::", "IFNULL(", "ILIKE", "||"] {
                assert!(!text.contains(engine_only), "{}: {engine_only}", t.name);
            }
            let refresh = t.refresh_sql();
            assert!(!refresh.contains('{'), "{refresh}");
            assert!(refresh.contains("stats_dirty"), "{refresh}");
            assert!(!t.rebuild_sql().contains("stats_dirty"), "{}", t.name);
        }
        assert!(
            refresh_sql()
                .trim_end()
                .ends_with("DELETE FROM stats_dirty;")
        );
    }

    #[test]
    fn the_rebuild_refills_every_table_parts_before_their_sums() {
        let sql = rebuild_sql();
        for t in TABLES {
            assert!(
                sql.contains(&format!("DELETE FROM {};", t.name)),
                "misses {}",
                t.name
            );
            let filled = sql.find(&format!("INSERT INTO {} (", t.name));
            assert!(filled.is_some(), "misses {}", t.name);
            if let Upkeep::SumOf { parts, .. } = t.upkeep {
                assert!(
                    sql.find(&format!("INSERT INTO {parts} (")) < filled,
                    "{}",
                    t.name
                );
            }
        }
    }
}
