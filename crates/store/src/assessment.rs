//! Exit assessment (贫困退出): rules as versioned data, the yearly batch over the registry
//! (household decisions with their figures, village and county incidence, monitoring
//! candidates), county review samples, and the exit procedure of each household.
//!
//! The batch reads households with their incomes in key-ordered chunks (one query per chunk,
//! incomes joined by primary key), decides in Rust, bulk-inserts the decisions, and computes
//! incidence with GROUP BY over the households joined with the rural population. Everything a
//! run writes is one transaction; the run row itself is committed first so that its progress
//! and, on failure, its error can be shown.

use crate::regions::Progress;
use crate::registry::household_scope_sql;
use crate::sqlrt::{Tx, Ty, Val, insert_many};
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::assessment::{
    CountyReview, Criterion, DecisionRecord, ExitStep, HouseholdFacts, RiskFacts, Rules,
    StepRecord, bp_percent, check_exit_step, county_review_criteria, format_date,
    household_criterion_name, incidence_bp, incidence_criterion, monitoring_candidate,
    monitoring_category_name, parse_date, publicity_end,
};
use domain::money::Fen;
use domain::{Caller, RegionCode, RegionLevel, Role, Scope};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

use domain::poverty_status::{SOURCE_EXIT_PROCEDURE, StatusDoor, check_status_change};
/// 脱贫状态 codes: still poor (未脱贫, 返贫) and exited (享受政策 / 不再享受政策).
pub use domain::poverty_status::{
    STATUS_EXITED, STATUS_EXITED_NO_POLICY, STATUS_NOT_OUT, STATUS_RETURNED,
};
/// 一般农户 kept for monitoring only (never registered as poor).
pub use domain::registry::STATUS_NOT_REGISTERED;

use domain::poverty_status::{is_exited_code as is_exited, is_poor_code as is_poor};

/// Household ids per chunk of the batch.
const CHUNK: i64 = 20_000;

pub(crate) use crate::registry::{require_read, require_write};

/// SQL restriction of any region-key column to a scope; numbers only.
pub(crate) fn key_scope_sql(scope: &Scope, column: &str) -> String {
    match scope.region_ranges() {
        None => String::new(),
        Some(ranges) if ranges.is_empty() => " AND 1 = 0".into(),
        Some(ranges) => {
            let parts: Vec<String> = ranges
                .iter()
                .map(|(lo, hi)| format!("({column} >= {lo} AND {column} < {hi})"))
                .collect();
            format!(" AND ({})", parts.join(" OR "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rules.

#[derive(Debug, Clone, Serialize)]
pub struct RuleVersion {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub note: String,
    pub rules: Rules,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleVersionInfo {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub note: String,
}

fn parse_rules(json: &str, version: i64) -> StoreResult<Rules> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Internal(format!("规则版本 {version} 无法读取：{e}")))
}

const RULE_TYS: [Ty; 5] = [Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str];

fn rule_version_from(r: &[Val]) -> StoreResult<RuleVersion> {
    let version = r[0].i64().unwrap_or_default();
    Ok(RuleVersion {
        version,
        created_at: r[1].string(),
        created_by: r[2].string(),
        note: r[3].string(),
        rules: parse_rules(r[4].str().unwrap_or("{}"), version)?,
    })
}

/// The newest rule version; on first use, version 1 from the built-in defaults.
pub(crate) async fn current_rules_in<T: Tx>(tx: &mut T) -> StoreResult<RuleVersion> {
    let rows = tx.rows("SELECT id, created_at, created_by, note, rules_json FROM rule_versions ORDER BY id DESC LIMIT 1", &[], &RULE_TYS).await?;
    if let Some(r) = rows.first() {
        return rule_version_from(r);
    }
    let rules = Rules::default();
    let json = serde_json::to_string(&rules).expect("rules serialise");
    let now = now_rfc3339();
    let note = "内置默认规则（DOMAIN.md §6–§7）";
    let ids = tx
        .rows(
            "INSERT INTO rule_versions (created_at, created_by, note, rules_json) VALUES ($1, 'system', $2, $3) RETURNING id",
            &[now.clone().into(), note.into(), json.into()],
            &[Ty::I64],
        )
        .await?;
    Ok(RuleVersion {
        version: ids[0][0].i64().unwrap_or(1),
        created_at: now,
        created_by: "system".into(),
        note: note.into(),
        rules,
    })
}

async fn rule_version_in<T: Tx>(tx: &mut T, version: i64) -> StoreResult<Option<RuleVersion>> {
    let rows = tx
        .rows(
            "SELECT id, created_at, created_by, note, rules_json FROM rule_versions WHERE id = $1",
            &[version.into()],
            &RULE_TYS,
        )
        .await?;
    rows.first().map(|r| rule_version_from(r)).transpose()
}

impl Db {
    /// The rules in force (the newest version).
    pub async fn current_rules(&self) -> StoreResult<RuleVersion> {
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = current_rules_in(&mut tx).await?;
            crate::commit!(tx)?;
            Ok(r)
        })
    }

    pub async fn rule_version(&self, version: i64) -> StoreResult<Option<RuleVersion>> {
        self.current_rules().await?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = rule_version_in(&mut tx, version).await?;
            crate::commit!(tx)?;
            Ok(r)
        })
    }

    /// All versions, newest first.
    pub async fn rule_versions(&self) -> StoreResult<Vec<RuleVersionInfo>> {
        self.current_rules().await?;
        let rows: Vec<(i64, String, String, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT id, created_at, created_by, note FROM rule_versions ORDER BY id DESC").fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|(version, created_at, created_by, note)| RuleVersionInfo {
                version,
                created_at,
                created_by,
                note,
            })
            .collect())
    }

    /// Stores an edited rule set as a NEW version (administrators only). Earlier decisions keep
    /// the version they were made with.
    pub async fn save_rules(
        &self,
        caller: &Caller,
        rules: &Rules,
        note: &str,
    ) -> StoreResult<RuleVersion> {
        if caller.role != Role::Admin {
            return Err(StoreError::Forbidden(
                "只有管理员可以修改退出与监测规则".into(),
            ));
        }
        let problems = rules.validate();
        if !problems.is_empty() {
            return Err(StoreError::invalid(problems));
        }
        let json = serde_json::to_string(rules).expect("rules serialise");
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let before = current_rules_in(&mut tx).await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO rule_versions (created_at, created_by, note, rules_json) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(&now).bind(&caller.username).bind(note.trim()).bind(&json).fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "update", "rule_versions", Some(id.to_string()), None,
                Some(serde_json::json!({"version": before.version})), Some(serde_json::json!({"version": id})), note.trim().to_string());
            crate::commit!(tx)?;
            Ok(RuleVersion { version: id, created_at: now, created_by: caller.username.clone(), note: note.trim().to_string(), rules: rules.clone() })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Batch runs.

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CountByKey {
    pub key: String,
    pub name: String,
    pub count: i64,
}

/// What a run found, as printed by `bangfu assess` and shown on the run's page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub year: i64,
    pub region_code: Option<String>,
    pub rule_version: i64,
    /// Households assessed (all registered households, not removed).
    pub assessed: i64,
    /// 一般农户 (never registered) screened for monitoring only, not assessed for exit.
    #[serde(default)]
    pub not_registered: i64,
    /// Of which still poor (未脱贫 or 返贫).
    pub poor_assessed: i64,
    pub may_exit: i64,
    /// Still-poor households that may exit: candidates for the exit procedure.
    pub may_exit_poor: i64,
    pub may_not_exit: i64,
    /// Households failing each criterion (a household may fail several).
    pub failing: Vec<CountByKey>,
    pub villages: i64,
    pub villages_passed: i64,
    pub villages_without_population: i64,
    /// False for runs of a town or village: a county's verdict needs the whole county.
    pub counties_assessed: bool,
    pub counties: i64,
    pub counties_passed: i64,
    pub counties_without_population: i64,
    /// Monitoring candidates found by category (1 脱贫不稳定户, 2 边缘易致贫户, 3 突发严重困难户).
    pub candidates: Vec<CountByKey>,
    /// Cases opened by this run (candidates not already under monitoring).
    pub new_cases: i64,
    pub elapsed_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssessmentRun {
    pub id: i64,
    pub year: i64,
    pub region_code: Option<String>,
    pub rule_version: i64,
    /// running | done | failed | interrupted (its process stopped before the end; see
    /// `store::interrupted`)
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub username: String,
    pub error: Option<String>,
    pub summary: Option<RunSummary>,
}

impl AssessmentRun {
    pub fn status_name(&self) -> &'static str {
        match self.status.as_str() {
            "running" => "进行中",
            "done" => "已完成",
            "failed" => "失败",
            "interrupted" => "已中断",
            _ => "未知",
        }
    }
}

const RUN_COLUMNS: &str = "id, year, region_key, rule_version_id, status, started_at, finished_at, username, error, summary_json";
const RUN_TYS: [Ty; 10] = [
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn run_from(r: &[Val]) -> AssessmentRun {
    AssessmentRun {
        id: r[0].i64().unwrap_or_default(),
        year: r[1].i64().unwrap_or_default(),
        region_code: r[2]
            .i64()
            .and_then(RegionCode::from_key)
            .map(|c| c.to_string()),
        rule_version: r[3].i64().unwrap_or_default(),
        status: r[4].string(),
        started_at: r[5].string(),
        finished_at: r[6].str().map(String::from),
        username: r[7].string(),
        error: r[8].str().map(String::from),
        summary: r[9].str().and_then(|s| serde_json::from_str(s).ok()),
    }
}

fn run_visible(caller: &Caller, run: &AssessmentRun) -> bool {
    match (
        &caller.scope,
        run.region_code
            .as_deref()
            .and_then(|c| RegionCode::parse(c).ok()),
    ) {
        (Scope::Everything, _) => true,
        (scope, Some(code)) => scope.allows_region(code),
        (_, None) => false,
    }
}

/// A store kept busy past the wait by another writer (on SQLite, most likely another run
/// writing its decisions) is a conflict to try again later, not a server error.
fn another_run_busy(e: StoreError) -> StoreError {
    if e.is_busy() {
        StoreError::Conflict(
            "另一评估正在运行（或另一写入尚未完成），数据库正忙，请稍后再试".into(),
        )
    } else {
        e
    }
}

/// Runs of one process do not overlap: on SQLite the second would wait for the first's
/// write lock anyway, and two runs of the same data at once help nobody.
static RUN_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Db {
    /// Records a new run (status `running`) after checking who asks and for what; the work is
    /// done by `execute_assessment_run`. A caller limited to some regions must stay inside them.
    pub async fn start_assessment_run(
        &self,
        caller: &Caller,
        year: i64,
        region: Option<RegionCode>,
    ) -> StoreResult<AssessmentRun> {
        if !caller.can_write_registry() {
            return Err(StoreError::Forbidden("您没有进行退出评估的权限".into()));
        }
        let mut problems = domain::validation::Problems::default();
        if !(2000..=2100).contains(&year) {
            problems.push("year", "评估年度应为 2000–2100 之间的年份");
        }
        let region = match (region, &caller.scope) {
            (Some(r), scope) => {
                if self.get_region(r).await?.is_none() {
                    problems.push("region", format!("区划代码 {r} 不存在"));
                } else if !scope.allows_region(r) {
                    return Err(StoreError::Forbidden(format!(
                        "区划 {r} 不在您的管辖范围内"
                    )));
                }
                Some(r)
            }
            (None, Scope::Everything) => None,
            (None, Scope::Regions(roots)) if roots.len() == 1 => Some(roots[0]),
            (None, _) => {
                problems.push("region", "请指定评估的区划（您的权限限于部分地区）");
                None
            }
        };
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        let owner = self.owner_token().await?;
        let begin = self.write_begin_sql();
        let started: StoreResult<AssessmentRun> = on_db!(self, p => {
            // Reads the rules, then writes the run: on SQLite the transaction holds the write
            // lock from its start, so that it waits for a run still writing instead of failing
            // with "database is locked" when that run commits in between.
            let mut tx = p.begin_with(begin).await?;
            let rules = current_rules_in(&mut tx).await?;
            let rows = tx.rows(
                &format!("INSERT INTO assessment_runs (year, region_key, rule_version_id, status, started_at, username, owner) VALUES ($1, $2, $3, 'running', $4, $5, $6) RETURNING {RUN_COLUMNS}"),
                &[year.into(), region.map(|r| r.key()).into(), rules.version.into(), now.into(), caller.username.clone().into(), owner.into()],
                &RUN_TYS,
            ).await?;
            crate::commit!(tx)?;
            Ok(run_from(&rows[0]))
        });
        started.map_err(another_run_busy)
    }

    /// Does the work of a run recorded by `start_assessment_run`: one transaction with every
    /// decision, result and new monitoring case. On failure the run is marked failed with the
    /// reason and nothing else is kept.
    pub async fn execute_assessment_run(
        &self,
        caller: &Caller,
        run_id: i64,
        progress: &dyn Progress,
    ) -> StoreResult<RunSummary> {
        let _guard = RUN_LOCK.lock().await;
        let started = std::time::Instant::now();
        let run = self
            .assessment_run(&Caller::system(), run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("评估批次 {run_id} 不存在")))?;
        if run.status != "running" {
            return Err(StoreError::Conflict(format!(
                "评估批次 {run_id} 已结束（{}）",
                run.status_name()
            )));
        }
        let result: StoreResult<RunSummary> = async {
            let version = self.rule_version(run.rule_version).await?.ok_or_else(|| StoreError::NotFound(format!("规则版本 {} 不存在", run.rule_version)))?;
            let region = run.region_code.as_deref().and_then(|c| RegionCode::parse(c).ok());
            let begin = self.write_begin_sql();
            on_db!(self, p => {
                let mut tx = p.begin_with(begin).await.map_err(|e| another_run_busy(e.into()))?;
                let outcome = run_in_tx(&mut tx, &run, region, &version, &caller.username, progress, started).await;
                match outcome {
                    Ok(summary) => {
                        audit!(&mut *tx, caller, "assess", "assessment_runs", Some(run_id.to_string()), None, None,
                            Some(serde_json::json!({"year": run.year, "region": run.region_code, "rule_version": version.version,
                                "assessed": summary.assessed, "may_exit": summary.may_exit, "new_cases": summary.new_cases})),
                            format!("{} 年退出评估", run.year));
                        crate::commit!(tx)?;
                        Ok(summary)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            })
        }
        .await;
        progress.finish();
        if let Err(e) = &result {
            let message = e.to_string();
            let now = now_rfc3339();
            let _ = on_db!(self, p => sqlx::query("UPDATE assessment_runs SET status = 'failed', finished_at = $1, error = $2 WHERE id = $3")
                .bind(&now).bind(&message).bind(run_id).execute(p).await.map(|_| ()));
        }
        result
    }

    /// Starts and executes a run (the command line's path).
    pub async fn assess(
        &self,
        caller: &Caller,
        year: i64,
        region: Option<RegionCode>,
        progress: &dyn Progress,
    ) -> StoreResult<(AssessmentRun, RunSummary)> {
        let run = self.start_assessment_run(caller, year, region).await?;
        let summary = self
            .execute_assessment_run(caller, run.id, progress)
            .await?;
        let run = self.assessment_run(caller, run.id).await?.unwrap_or(run);
        Ok((run, summary))
    }

    pub async fn assessment_run(
        &self,
        caller: &Caller,
        id: i64,
    ) -> StoreResult<Option<AssessmentRun>> {
        require_read(caller)?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM assessment_runs WHERE id = $1");
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[id.into()], &RUN_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows
            .first()
            .map(|r| run_from(r))
            .filter(|r| run_visible(caller, r)))
    }

    /// Runs the caller may see, newest first.
    pub async fn assessment_runs(
        &self,
        caller: &Caller,
        limit: i64,
    ) -> StoreResult<Vec<AssessmentRun>> {
        require_read(caller)?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM assessment_runs ORDER BY id DESC LIMIT {}",
            limit.clamp(1, 1000) * 4
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[], &RUN_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows
            .iter()
            .map(|r| run_from(r))
            .filter(|r| run_visible(caller, r))
            .take(limit.max(1) as usize)
            .collect())
    }
}

/// Per village or county, what the household loop counts for the results: registered
/// households in the registry at the end of the year, those still poor then and their people,
/// and those of them that may exit.
#[derive(Default, Clone, Copy)]
struct AreaCounts {
    households: i64,
    poor_households: i64,
    remaining: i64,
    may_exit_households: i64,
    may_exit_people: i64,
}

fn range_sql(region: Option<RegionCode>) -> String {
    match region {
        Some(r) => {
            let (lo, hi) = r.subtree_key_range();
            format!(" AND h.village_key >= {lo} AND h.village_key < {hi}")
        }
        None => String::new(),
    }
}

/// A registered household's 脱贫状态 at the end of `year` (an SQL expression over `h`; `year` is
/// a number or a parameter): the last row of its status history dated `year` or earlier; a
/// household without any history row counts with its current status once identified; NULL
/// when it was identified later. The one definition of "still poor / exited in year Y" for
/// everything a run counts (households assessed, still poor, may exit, village and county
/// incidence), so a past year is counted as it stood then, not as it stands today.
fn status_as_of_sql(year: &str) -> String {
    format!(
        "COALESCE((SELECT s.status FROM household_status_history s WHERE s.household_id = h.id AND s.year <= {year} ORDER BY s.year DESC, s.id DESC LIMIT 1), \
         CASE WHEN h.identified_year <= {year} AND NOT EXISTS (SELECT 1 FROM household_status_history s0 WHERE s0.household_id = h.id) THEN h.status END)"
    )
}

/// Households still in the registry at the end of `year` (not removed by then).
fn present_sql(year: &str) -> String {
    format!("(h.removed_year IS NULL OR h.removed_year > {year})")
}

/// One household as the batch reads it: (id, village, county, status at the end of the year
/// (None: not identified yet), members, packed guarantees and removal, per-capita incomes,
/// net income).
#[derive(Debug, Deserialize)]
struct HouseholdRow(
    i64,
    i64,
    i64,
    Option<String>,
    i64,
    i64,
    Vec<Option<i64>>,
    Option<i64>,
);

/// Households in the registry at the end of the year with the incomes of the years the rules
/// look at (joined by primary key), with ids in `($1, $2]`: (id, village, county, status at the
/// end of the year (一般农户 as they are), members, packed guarantees and removal, per-capita
/// income of the year and the years before, net income of the year). Numbers only are spliced in.
fn household_select(year: i64, rules: &Rules, range_sql: &str) -> (String, String) {
    let years = rules.stable_years.max(2);
    // The six guarantees travel as one number (one digit in base 3 each: 1 yes, 2 no, 0 not
    // reported): every column costs a copy per row in the driver, and there are half a million rows.
    let flag = |column: &str, weight: i64| {
        format!("{weight} * (CASE WHEN h.{column} THEN 1 WHEN NOT h.{column} THEN 2 ELSE 0 END)")
    };
    let flags = GUARANTEE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| flag(c, 3i64.pow(i as u32)))
        .collect::<Vec<_>>()
        .join(" + ");
    // Above the guarantees' six digits: removed since (kept out of monitoring).
    let removed = format!(
        "{} * (CASE WHEN h.removed_year IS NULL THEN 0 ELSE 1 END)",
        REMOVED_WEIGHT
    );
    let y = year.to_string();
    let status = format!(
        "CASE WHEN h.status = '{STATUS_NOT_REGISTERED}' THEN h.status ELSE {} END",
        status_as_of_sql(&y)
    );
    let mut inner = format!(
        "SELECT h.id AS id, h.village_key AS village, h.county_key AS county, {status} AS status, h.member_count AS members, CAST({flags} + {removed} AS BIGINT) AS flags"
    );
    for k in 0..years {
        inner += &format!(", i{k}.per_capita_fen AS pc{k}");
    }
    inner += ", i0.net_fen AS net FROM households h";
    for k in 0..years {
        inner += &format!(
            " LEFT JOIN household_incomes i{k} ON i{k}.household_id = h.id AND i{k}.year = {}",
            year - k
        );
    }
    // A range of ids rather than ORDER BY … LIMIT: the plan stays an index range scan even
    // before the tables have statistics (right after a bulk import on PostgreSQL).
    inner += &format!(
        " WHERE {} AND h.id > $1 AND h.id <= $2{range_sql} ORDER BY h.id",
        present_sql(&y)
    );
    let incomes = (0..years)
        .map(|k| format!("x.pc{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    // SQLite: the chunk as one JSON text built inside the engine (the driver's cost per row
    // and column is what a half-million-row read spends most on). PostgreSQL: plain rows.
    let sqlite = format!(
        "SELECT json_group_array(json_array(x.id, x.village, x.county, x.status, x.members, x.flags, json_array({incomes}), x.net)) FROM ({inner}) x"
    );
    (sqlite, inner)
}

/// Reads the households with ids in `(after, upto]`.
async fn read_chunk<T: Tx>(
    tx: &mut T,
    select: &(String, String),
    years: i64,
    after: i64,
    upto: i64,
) -> StoreResult<Vec<HouseholdRow>> {
    if !tx.is_postgres() {
        let rows = tx
            .rows(&select.0, &[after.into(), upto.into()], &[Ty::Str])
            .await?;
        let json = rows.first().and_then(|r| r[0].str()).unwrap_or("[]");
        let mut out: Vec<HouseholdRow> = serde_json::from_str(json)
            .map_err(|e| StoreError::Internal(format!("读取户数据失败：{e}")))?;
        out.sort_unstable_by_key(|h| h.0);
        return Ok(out);
    }
    let mut tys = vec![Ty::I64, Ty::I64, Ty::I64, Ty::Str, Ty::I64, Ty::I64];
    tys.extend(std::iter::repeat_n(Ty::I64, years as usize + 1));
    let rows = tx
        .rows(&select.1, &[after.into(), upto.into()], &tys)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let v = |i: usize| r[i].i64().unwrap_or_default();
            HouseholdRow(
                v(0),
                v(1),
                v(2),
                r[3].str().map(String::from),
                v(4),
                v(5),
                (0..years as usize).map(|k| r[6 + k].i64()).collect(),
                r[6 + years as usize].i64(),
            )
        })
        .collect())
}

/// The guarantee columns of `households`, in the order of `HouseholdFacts`' guarantees.
const GUARANTEE_COLUMNS: [&str; 6] = [
    "food_secure",
    "clothing_secure",
    "education_secure",
    "medical_secure",
    "housing_secure",
    "safe_water",
];

/// The weight of "removed since" in the packed number of `household_select` (3^6).
const REMOVED_WEIGHT: i64 = 729;

/// Unpacks guarantee `i` from the base-3 number of `household_select`.
fn guarantee(packed: i64, i: u32) -> Option<bool> {
    match packed / 3i64.pow(i) % 3 {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_in_tx<T: Tx>(
    tx: &mut T,
    run: &AssessmentRun,
    region: Option<RegionCode>,
    version: &RuleVersion,
    username: &str,
    progress: &dyn Progress,
    started: std::time::Instant,
) -> StoreResult<RunSummary> {
    let rules = &version.rules;
    let year = run.year;
    // Take the write lock first (SQLite): a transaction that only reads before it writes
    // could not write after another writer committed in between.
    tx.exec(
        "UPDATE assessment_runs SET rule_version_id = $1 WHERE id = $2",
        &[version.version.into(), run.id.into()],
    )
    .await?;
    tracing::debug!(since_start = ?started.elapsed(), "assessment: write lock taken");
    let range_sql = range_sql(region);
    // For the progress bar only: counted on an index, removed households included.
    let total = tx
        .rows(
            &format!("SELECT COUNT(*) FROM households h WHERE 1 = 1{range_sql}"),
            &[],
            &[Ty::I64],
        )
        .await?;
    progress.start(
        &format!("{year} 年退出评估"),
        total[0][0].i64().unwrap_or_default() as u64,
    );

    // The sparse monitoring data of the year, for the households in range.
    let (from, until) = (format!("{year:04}-01-01"), format!("{:04}-01-01", year + 1));
    let mut expenses: HashMap<i64, i64> = HashMap::new();
    for r in tx
        .rows(
            &format!(
                "SELECT e.household_id, CAST(SUM(e.amount_fen - e.reimbursed_fen) AS BIGINT) FROM rigid_expenses e JOIN households h ON h.id = e.household_id
                 WHERE e.expense_date >= $1 AND e.expense_date < $2{range_sql} GROUP BY e.household_id"
            ),
            &[from.clone().into(), until.clone().into()],
            &[Ty::I64, Ty::I64],
        )
        .await?
    {
        expenses.insert(r[0].i64().unwrap_or_default(), r[1].i64().unwrap_or_default());
    }
    let mut shocks: HashMap<i64, Vec<String>> = HashMap::new();
    for r in tx
        .rows(
            &format!(
                "SELECT s.household_id, s.kind, s.shock_date FROM shocks s JOIN households h ON h.id = s.household_id
                 WHERE s.shock_date >= $1 AND s.shock_date < $2{range_sql} ORDER BY s.shock_date, s.id"
            ),
            &[from.clone().into(), until.clone().into()],
            &[Ty::I64, Ty::Str, Ty::Str],
        )
        .await?
    {
        let kind = domain::assessment::ShockKind::parse(r[1].str().unwrap_or_default()).map(|k| k.name_zh()).unwrap_or("突发变故");
        shocks.entry(r[0].i64().unwrap_or_default()).or_default().push(format!("{kind}（{}）", r[2].string()));
    }
    let mut visit_risks: HashMap<i64, Vec<String>> = HashMap::new();
    for r in tx
        .rows(
            &format!(
                "SELECT v.household_id, v.risks, v.visit_date FROM visits v JOIN households h ON h.id = v.household_id
                 WHERE v.visit_date >= $1 AND v.visit_date < $2 AND v.risks <> ''{range_sql} ORDER BY v.visit_date, v.id"
            ),
            &[from.into(), until.into()],
            &[Ty::I64, Ty::Str, Ty::Str],
        )
        .await?
    {
        visit_risks.entry(r[0].i64().unwrap_or_default()).or_default().push(format!("{}（{}）", r[1].string(), r[2].string()));
    }
    let open: HashSet<i64> = tx
        .rows(
            &format!("SELECT c.household_id FROM monitoring_cases c JOIN households h ON h.id = c.household_id WHERE c.status = 'monitoring'{range_sql}"),
            &[],
            &[Ty::I64],
        )
        .await?
        .iter()
        .filter_map(|r| r[0].i64())
        .collect();

    let years = rules.stable_years.max(2);
    let mut s = RunSummary {
        year,
        region_code: region.map(|r| r.to_string()),
        rule_version: version.version,
        ..Default::default()
    };
    let mut failing: BTreeMap<String, i64> = BTreeMap::new();
    let mut candidates: BTreeMap<String, i64> = BTreeMap::new();
    let mut villages: HashMap<i64, AreaCounts> = HashMap::new();
    let mut counties: HashMap<i64, AreaCounts> = HashMap::new();
    let mut thresholds: HashMap<i64, Option<Fen>> = HashMap::new();
    let mut new_cases: Vec<Vec<Val>> = Vec::new();
    let mut new_case_types: Vec<(i64, String)> = Vec::new();
    let now = now_rfc3339();
    // A case found in a past year's data is dated at that year's end, so that the visits of
    // the following months count towards its elimination.
    let date = std::cmp::min(crate::today().to_string(), format!("{year:04}-12-31"));
    tracing::debug!(since_start = ?started.elapsed(), "assessment: monitoring data read");
    let select = household_select(year, rules, &range_sql);
    let bounds = tx
        .rows(
            &format!("SELECT MIN(h.id), MAX(h.id) FROM households h WHERE 1 = 1{range_sql}"),
            &[],
            &[Ty::I64, Ty::I64],
        )
        .await?;
    let (first, end) = (
        bounds[0][0].i64().unwrap_or(0),
        bounds[0][1].i64().unwrap_or(-1),
    );
    let mut after = first - 1;
    let (mut t_read, mut t_decide, mut t_insert) = (
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
    );
    while after < end {
        let t0 = std::time::Instant::now();
        let upto = after + CHUNK;
        let rows = read_chunk(tx, &select, years, after, upto).await?;
        after = upto;
        t_read += t0.elapsed();
        let t0 = std::time::Instant::now();
        let mut decisions: Vec<Vec<Val>> = Vec::with_capacity(rows.len());
        for HouseholdRow(id, village, county, status, members, packed, incomes, net) in &rows {
            // Identified after the year: not in that year's registry.
            let Some(status) = status.as_deref() else {
                continue;
            };
            let (id, village, county, members, packed, net) =
                (*id, *village, *county, *members, *packed, *net);
            let removed = packed / REMOVED_WEIGHT % 3 == 1;
            let mut per_capita = BTreeMap::new();
            for (k, v) in incomes.iter().enumerate() {
                if let Some(v) = v {
                    per_capita.insert(year - k as i64, Fen(*v));
                }
            }
            let facts = HouseholdFacts {
                per_capita,
                food_secure: guarantee(packed, 0),
                clothing_secure: guarantee(packed, 1),
                education_secure: guarantee(packed, 2),
                medical_secure: guarantee(packed, 3),
                housing_secure: guarantee(packed, 4),
                safe_water: guarantee(packed, 5),
            };
            // Monitoring screens exited households and 一般农户 (never registered, never assessed
            // for exit, counted in no poverty figure: possible 边缘易致贫户).
            let registered = status != STATUS_NOT_REGISTERED;
            if !removed && (!registered || is_exited(status)) {
                let threshold = *thresholds.entry(county).or_insert_with(|| {
                    RegionCode::from_key(county)
                        .and_then(|c| rules.monitoring_threshold(c.short_value(), year))
                        .map(|t| t.0)
                });
                let risk = RiskFacts {
                    exited: registered,
                    registered,
                    per_capita_this_year: facts
                        .per_capita
                        .get(&year)
                        .map(|f| f.0)
                        .filter(|_| threshold.is_some()),
                    per_capita_last_year: facts.per_capita.get(&(year - 1)).map(|f| f.0),
                    rigid_expenses_net: expenses.get(&id).copied().unwrap_or(0),
                    net_income: net,
                    shocks: shocks.get(&id).cloned().unwrap_or_default(),
                    declared: false,
                    visit_risks: visit_risks.get(&id).cloned().unwrap_or_default(),
                };
                if let Some(c) =
                    monitoring_candidate(threshold.unwrap_or(Fen(0)), rules, &risk, year)
                {
                    candidate_found(
                        &mut candidates,
                        &open,
                        &mut new_case_types,
                        &mut new_cases,
                        id,
                        c,
                        &date,
                        version.version,
                        run.id,
                        year,
                        username,
                        &now,
                    );
                }
            }
            if !registered {
                if !removed {
                    s.not_registered += 1;
                }
                continue;
            }
            let record = DecisionRecord::from_facts(rules, &facts, year);
            let keys = record.failing_keys();
            let may_exit = keys.is_empty();
            s.assessed += 1;
            let poor = is_poor(status);
            if poor {
                s.poor_assessed += 1;
            }
            // Incidence counts the same households with the same status as the exit counts.
            for (map, key) in [(&mut villages, village), (&mut counties, county)] {
                let c = map.entry(key).or_default();
                c.households += 1;
                if poor {
                    c.poor_households += 1;
                    c.remaining += members;
                    if may_exit {
                        c.may_exit_households += 1;
                        c.may_exit_people += members;
                    }
                }
            }
            if may_exit {
                s.may_exit += 1;
                if poor {
                    s.may_exit_poor += 1;
                }
            } else {
                s.may_not_exit += 1;
                for k in &keys {
                    *failing.entry(k.clone()).or_default() += 1;
                }
            }
            decisions.push(vec![
                run.id.into(),
                id.into(),
                year.into(),
                version.version.into(),
                status.into(),
                may_exit.into(),
                keys.join(",").into(),
                serde_json::to_string(&record)
                    .expect("record serialises")
                    .into(),
            ]);
        }
        t_decide += t0.elapsed();
        let t0 = std::time::Instant::now();
        insert_many(
            tx,
            "exit_decisions",
            &[
                "run_id",
                "household_id",
                "year",
                "rule_version_id",
                "household_status",
                "may_exit",
                "failing",
                "explanation_json",
            ],
            &decisions,
            &[],
        )
        .await?;
        t_insert += t0.elapsed();
        progress.advance(rows.len() as u64);
    }
    s.failing = failing
        .into_iter()
        .map(|(key, count)| CountByKey {
            name: if key == "income" {
                format!("{year}年人均纯收入高于贫困线")
            } else {
                household_criterion_name(&key)
            },
            key,
            count,
        })
        .collect();
    s.failing
        .sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    s.candidates = ["1", "2", "3"]
        .iter()
        .map(|c| CountByKey {
            key: c.to_string(),
            name: monitoring_category_name(c).into(),
            count: candidates.get(*c).copied().unwrap_or(0),
        })
        .collect();

    tracing::debug!(?t_read, ?t_decide, ?t_insert, since_start = ?started.elapsed(), "assessment: households decided");
    // New monitoring cases, and the category on the household for list filters.
    insert_many(
        tx,
        "monitoring_cases",
        &[
            "household_id",
            "category",
            "channel",
            "identified_at",
            "risk_score",
            "signals_json",
            "status",
            "rule_version_id",
            "run_id",
            "note",
            "opened_by",
            "recorded_at",
        ],
        &new_cases,
        &[],
    )
    .await?;
    s.new_cases = new_cases.len() as i64;
    for category in ["1", "2", "3"] {
        let ids: Vec<i64> = new_case_types
            .iter()
            .filter(|(_, c)| c == category)
            .map(|(id, _)| *id)
            .collect();
        for chunk in ids.chunks(1000) {
            let list = chunk
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            tx.exec(
                &format!("UPDATE households SET monitoring_type = $1 WHERE id IN ({list})"),
                &[category.into()],
            )
            .await?;
        }
    }

    // Village and county incidence.
    let reviews = latest_reviews(tx, year).await?;
    let village_rows = area_rows(tx, &villages, year).await?;
    let mut results = Vec::new();
    for a in &village_rows {
        let counts = villages.get(&a.key).copied().unwrap_or_default();
        let code = RegionCode::from_key(a.key)
            .ok_or_else(|| StoreError::Internal(format!("区划键 {} 无效", a.key)))?;
        let province = code.province_prefix();
        let mut criteria = vec![population_note(
            incidence_criterion(rules, code, a.remaining, a.population.unwrap_or(0)),
            a.population_year,
            year,
        )];
        criteria.extend(rules.extra_criteria_for(province, "village"));
        s.villages += 1;
        let passed = criteria[0].passed;
        if passed {
            s.villages_passed += 1;
        }
        if a.population.is_none() {
            s.villages_without_population += 1;
        }
        results.push(result_row(
            run.id,
            a,
            counts,
            rules.incidence_threshold_bp(code),
            passed,
            &criteria,
            None,
        ));
    }
    insert_many(tx, "village_results", &RESULT_COLUMNS, &results, &[]).await?;
    s.counties_assessed = region.is_none_or(|r| r.level() <= RegionLevel::County);
    if s.counties_assessed {
        let county_rows = area_rows(tx, &counties, year).await?;
        let mut results = Vec::new();
        for a in &county_rows {
            let counts = counties.get(&a.key).copied().unwrap_or_default();
            let code = RegionCode::from_key(a.key)
                .ok_or_else(|| StoreError::Internal(format!("区划键 {} 无效", a.key)))?;
            let province = code.province_prefix();
            let mut criteria = vec![population_note(
                incidence_criterion(rules, code, a.remaining, a.population.unwrap_or(0)),
                a.population_year,
                year,
            )];
            let review = reviews.get(&a.key).cloned().unwrap_or_default();
            criteria.extend(county_review_criteria(rules, &review));
            criteria.extend(rules.extra_criteria_for(province, "county"));
            s.counties += 1;
            let passed = criteria[0].passed;
            if passed {
                s.counties_passed += 1;
            }
            if a.population.is_none() {
                s.counties_without_population += 1;
            }
            let ready = criteria.iter().filter(|c| !c.manual).all(|c| c.passed);
            results.push(result_row(
                run.id,
                a,
                counts,
                rules.incidence_threshold_bp(code),
                passed,
                &criteria,
                Some(ready),
            ));
        }
        insert_many(tx, "county_results", &RESULT_COLUMNS, &results, &[]).await?;
    }
    tracing::debug!(since_start = ?started.elapsed(), "assessment: results written");
    s.elapsed_ms = started.elapsed().as_millis() as i64;
    tx.exec(
        "UPDATE assessment_runs SET status = 'done', finished_at = $1, summary_json = $2 WHERE id = $3",
        &[now_rfc3339().into(), serde_json::to_string(&s).expect("summary serialises").into(), run.id.into()],
    )
    .await?;
    Ok(s)
}

/// Counts a monitoring candidate of the batch and, unless the household already has an open
/// case, queues a new case (and its category for the household row).
#[allow(clippy::too_many_arguments)]
fn candidate_found(
    candidates: &mut BTreeMap<String, i64>,
    open: &HashSet<i64>,
    new_case_types: &mut Vec<(i64, String)>,
    new_cases: &mut Vec<Vec<Val>>,
    id: i64,
    c: domain::assessment::MonitoringCandidate,
    date: &str,
    rule_version: i64,
    run_id: i64,
    year: i64,
    username: &str,
    now: &str,
) {
    *candidates.entry(c.category.clone()).or_default() += 1;
    if !open.contains(&id) {
        new_case_types.push((id, c.category.clone()));
        new_cases.push(vec![
            id.into(),
            c.category.into(),
            "screening".into(),
            date.into(),
            c.risk_score.into(),
            serde_json::to_string(&c.signals)
                .expect("signals serialise")
                .into(),
            "monitoring".into(),
            rule_version.into(),
            run_id.into(),
            format!("{year} 年退出评估数据筛查").into(),
            username.into(),
            now.into(),
        ]);
    }
}

/// The criterion's detail says when the population figure is of an earlier year.
fn population_note(mut c: Criterion, population_year: Option<i64>, year: i64) -> Criterion {
    if let Some(py) = population_year.filter(|py| *py != year) {
        c.detail = format!("{}（农业户籍人口沿用 {py} 年数据）", c.detail);
    }
    c
}

const RESULT_COLUMNS: [&str; 12] = [
    "run_id",
    "region_key",
    "households",
    "poor_households",
    "may_exit_households",
    "remaining",
    "rural_population",
    "population_year",
    "incidence_bp",
    "threshold_bp",
    "passed",
    "explanation_json",
];

/// The stored explanation of a village or county result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AreaExplanation {
    criteria: Vec<Criterion>,
    /// Remaining poor people if every still-poor household that may exit does exit.
    remaining_after_exits: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit_ready: Option<bool>,
}

fn result_row(
    run_id: i64,
    a: &AreaRow,
    counts: AreaCounts,
    threshold_bp: i64,
    passed: bool,
    criteria: &[Criterion],
    ready: Option<bool>,
) -> Vec<Val> {
    let explanation = AreaExplanation {
        criteria: criteria.to_vec(),
        remaining_after_exits: (a.remaining - counts.may_exit_people).max(0),
        exit_ready: ready,
    };
    vec![
        run_id.into(),
        a.key.into(),
        a.households.into(),
        a.poor_households.into(),
        counts.may_exit_households.into(),
        a.remaining.into(),
        a.population.into(),
        a.population_year.into(),
        a.population
            .and_then(|p| incidence_bp(a.remaining, p))
            .into(),
        threshold_bp.into(),
        passed.into(),
        serde_json::to_string(&explanation)
            .expect("explanation serialises")
            .into(),
    ]
}

struct AreaRow {
    key: i64,
    households: i64,
    poor_households: i64,
    remaining: i64,
    population_year: Option<i64>,
    population: Option<i64>,
}

/// The villages or counties the household loop counted (households as they stood at the end
/// of `year`: `status_as_of_sql`; identified later or removed by then, left out), in key order,
/// each with its rural population of the year (or the latest earlier year on record). So the
/// incidence of a past year counts the people who were still poor in that year, not those
/// still poor today, and with the same households as the run's exit counts.
async fn area_rows<T: Tx>(
    tx: &mut T,
    counts: &HashMap<i64, AreaCounts>,
    year: i64,
) -> StoreResult<Vec<AreaRow>> {
    let mut keys: Vec<i64> = counts.keys().copied().collect();
    keys.sort_unstable();
    let mut population: HashMap<i64, (i64, i64)> = HashMap::new();
    for chunk in keys.chunks(1000) {
        let list = chunk
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let rows = tx
            .rows(
                &format!("SELECT region_key, year, rural_population FROM region_population WHERE region_key IN ({list}) AND year <= $1"),
                &[year.into()],
                &[Ty::I64, Ty::I64, Ty::I64],
            )
            .await?;
        for r in rows {
            let (key, y, n) = (
                r[0].i64().unwrap_or_default(),
                r[1].i64().unwrap_or_default(),
                r[2].i64().unwrap_or_default(),
            );
            let e = population.entry(key).or_insert((y, n));
            if y > e.0 {
                *e = (y, n);
            }
        }
    }
    Ok(keys
        .into_iter()
        .map(|key| {
            let c = counts[&key];
            let p = population.get(&key);
            AreaRow {
                key,
                households: c.households,
                poor_households: c.poor_households,
                remaining: c.remaining,
                population_year: p.map(|p| p.0),
                population: p.map(|p| p.1),
            }
        })
        .collect())
}

async fn latest_reviews<T: Tx>(tx: &mut T, year: i64) -> StoreResult<HashMap<i64, CountyReview>> {
    let rows = tx
        .rows(
            "SELECT county_key, sampled_exited, wrongly_exited, sampled_households, missed_poor, surveyed, approving FROM county_reviews WHERE year = $1 ORDER BY id",
            &[year.into()],
            &[Ty::I64; 7],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let v = |i: usize| r[i].i64().unwrap_or_default();
            (
                v(0),
                CountyReview {
                    sampled_exited: v(1),
                    wrongly_exited: v(2),
                    sampled_households: v(3),
                    missed_poor: v(4),
                    surveyed: v(5),
                    approving: v(6),
                },
            )
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Reading decisions and results.

#[derive(Debug, Clone, Serialize)]
pub struct StoredDecision {
    pub run_id: i64,
    pub year: i64,
    pub rule_version: i64,
    pub decided_at: String,
    /// 脱贫状态 code when decided.
    pub household_status: String,
    pub may_exit: bool,
    pub failing: Vec<String>,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AreaResult {
    pub run_id: i64,
    pub year: i64,
    pub code: String,
    pub name: String,
    pub households: i64,
    pub poor_households: i64,
    pub may_exit_households: i64,
    pub remaining: i64,
    pub remaining_after_exits: i64,
    pub rural_population: Option<i64>,
    pub population_year: Option<i64>,
    pub incidence_bp: Option<i64>,
    pub incidence: String,
    pub threshold_bp: i64,
    pub threshold: String,
    /// Meets the incidence threshold.
    pub passed: bool,
    /// Counties: every criterion the system decides is met (incidence and review samples).
    pub exit_ready: Option<bool>,
    pub criteria: Vec<Criterion>,
    pub assessed_at: String,
}

/// The household, if the caller may see it (404 otherwise, as for the registry).
pub(crate) async fn visible_household<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    id: i64,
) -> StoreResult<HouseholdRef> {
    let sql = format!(
        "SELECT h.id, h.county_key, h.status, h.exit_year FROM households h WHERE h.id = $1{}",
        household_scope_sql(&caller.scope, "h")
    );
    let rows = tx
        .rows(&sql, &[id.into()], &[Ty::I64, Ty::I64, Ty::Str, Ty::I64])
        .await?;
    let r = rows
        .first()
        .ok_or_else(|| StoreError::NotFound(format!("户 {id} 不存在")))?;
    Ok(HouseholdRef {
        id,
        county_key: r[1].i64().unwrap_or_default(),
        status: r[2].string(),
        exit_year: r[3].i64(),
    })
}

#[derive(Debug, Clone)]
pub(crate) struct HouseholdRef {
    pub id: i64,
    pub county_key: i64,
    pub status: String,
    pub exit_year: Option<i64>,
}

async fn decisions_in<T: Tx>(
    tx: &mut T,
    household_id: i64,
    year: Option<i64>,
) -> StoreResult<Vec<StoredDecision>> {
    let rows = tx
        .rows(
            // Run by run (CROSS JOIN keeps the small runs table outer on SQLite): point lookups
            // on the decisions' key.
            "SELECT d.run_id, d.year, d.rule_version_id, r.finished_at, d.household_status, d.may_exit, d.failing, d.explanation_json
             FROM assessment_runs r CROSS JOIN exit_decisions d
             WHERE d.run_id = r.id AND d.household_id = $1 AND ($2 IS NULL OR r.year = $2) AND r.status = 'done' ORDER BY d.year DESC, d.run_id DESC",
            &[household_id.into(), Val::I64(year)],
            &[Ty::I64, Ty::I64, Ty::I64, Ty::Str, Ty::Str, Ty::Bool, Ty::Str, Ty::Str],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let record: DecisionRecord = serde_json::from_str(r[7].str().unwrap_or_default())
            .map_err(|e| StoreError::Internal(format!("评估记录无法读取：{e}")))?;
        let decision = record.decision();
        out.push(StoredDecision {
            run_id: r[0].i64().unwrap_or_default(),
            year: r[1].i64().unwrap_or_default(),
            rule_version: r[2].i64().unwrap_or_default(),
            decided_at: r[3].string(),
            household_status: r[4].string(),
            may_exit: r[5].bool().unwrap_or(false),
            failing: r[6]
                .str()
                .unwrap_or_default()
                .split(',')
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect(),
            criteria: decision.criteria,
        });
    }
    Ok(out)
}

const AREA_SELECT: &str = "SELECT c.run_id, a.year, c.region_key, r.name, c.households, c.poor_households, c.may_exit_households, c.remaining,
    c.rural_population, c.population_year, c.incidence_bp, c.threshold_bp, c.passed, c.explanation_json, a.finished_at";
const AREA_TYS: [Ty; 15] = [
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::Bool,
    Ty::Str,
    Ty::Str,
];

fn area_from(r: &[Val]) -> AreaResult {
    let explanation: Option<AreaExplanation> =
        serde_json::from_str(r[13].str().unwrap_or_default()).ok();
    let incidence_bp = r[10].i64();
    let threshold_bp = r[11].i64().unwrap_or_default();
    let remaining = r[7].i64().unwrap_or_default();
    AreaResult {
        run_id: r[0].i64().unwrap_or_default(),
        year: r[1].i64().unwrap_or_default(),
        code: RegionCode::from_key(r[2].i64().unwrap_or_default())
            .map(|c| c.to_string())
            .unwrap_or_default(),
        name: r[3].string(),
        households: r[4].i64().unwrap_or_default(),
        poor_households: r[5].i64().unwrap_or_default(),
        may_exit_households: r[6].i64().unwrap_or_default(),
        remaining,
        remaining_after_exits: explanation
            .as_ref()
            .map(|e| e.remaining_after_exits)
            .unwrap_or(remaining),
        rural_population: r[8].i64(),
        population_year: r[9].i64(),
        incidence_bp,
        incidence: incidence_bp.map(bp_percent).unwrap_or_else(|| "—".into()),
        threshold_bp,
        threshold: bp_percent(threshold_bp),
        passed: r[12].bool().unwrap_or(false),
        exit_ready: explanation.as_ref().and_then(|e| e.exit_ready),
        criteria: explanation.map(|e| e.criteria).unwrap_or_default(),
        assessed_at: r[14].string(),
    }
}

impl Db {
    /// A household's decisions (of one year, or all), newest first, each explained with the
    /// figures and lines of its own run.
    pub async fn household_decisions(
        &self,
        caller: &Caller,
        household_id: i64,
        year: Option<i64>,
    ) -> StoreResult<Vec<StoredDecision>> {
        require_read(caller)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            visible_household(&mut tx, caller, household_id).await?;
            let d = decisions_in(&mut tx, household_id, year).await?;
            crate::commit!(tx)?;
            Ok(d)
        })
    }

    /// The latest result of each county (level "county") or village ("village") of a year within
    /// a region, from the newest completed run that assessed it.
    pub async fn exit_progress(
        &self,
        caller: &Caller,
        level: RegionLevel,
        year: i64,
        within: Option<RegionCode>,
    ) -> StoreResult<Vec<AreaResult>> {
        require_read(caller)?;
        let table = match level {
            RegionLevel::Village => "village_results",
            RegionLevel::County => "county_results",
            _ => return Err(StoreError::invalid_field("level", "只有村和县有退出结果")),
        };
        let within_sql = match within {
            Some(w) => {
                let (lo, hi) = w.subtree_key_range();
                format!(" AND c.region_key >= {lo} AND c.region_key < {hi}")
            }
            None => String::new(),
        };
        let sql = format!(
            "{AREA_SELECT} FROM {table} c JOIN assessment_runs a ON a.id = c.run_id JOIN regions r ON r.key = c.region_key
             WHERE a.year = $1 AND a.status = 'done'{within_sql}{}
               AND c.run_id = (SELECT MAX(c2.run_id) FROM {table} c2 JOIN assessment_runs a2 ON a2.id = c2.run_id
                               WHERE c2.region_key = c.region_key AND a2.year = $1 AND a2.status = 'done')
             ORDER BY c.region_key",
            key_scope_sql(&caller.scope, "c.region_key")
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[year.into()], &AREA_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows.iter().map(|r| area_from(r)).collect())
    }

    /// The results of one run at one level.
    pub async fn run_results(
        &self,
        caller: &Caller,
        run_id: i64,
        level: RegionLevel,
    ) -> StoreResult<Vec<AreaResult>> {
        require_read(caller)?;
        let table = if level == RegionLevel::Village {
            "village_results"
        } else {
            "county_results"
        };
        let sql = format!(
            "{AREA_SELECT} FROM {table} c JOIN assessment_runs a ON a.id = c.run_id JOIN regions r ON r.key = c.region_key
             WHERE c.run_id = $1{} ORDER BY c.region_key",
            key_scope_sql(&caller.scope, "c.region_key")
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[run_id.into()], &AREA_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows.iter().map(|r| area_from(r)).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// County review samples.

#[derive(Debug, Clone, Serialize)]
pub struct StoredReview {
    pub id: i64,
    pub county_code: String,
    pub year: i64,
    #[serde(flatten)]
    pub review: CountyReview,
    pub note: String,
    pub entered_by: String,
    pub entered_at: String,
    /// The review criteria under the rules in force.
    pub criteria: Vec<Criterion>,
}

/// id, the six sample figures, note, entered_by, entered_at.
type ReviewRow = (i64, i64, i64, i64, i64, i64, i64, String, String, String);

impl Db {
    /// Records a county's review samples for a year (a new row; the newest counts).
    pub async fn save_county_review(
        &self,
        caller: &Caller,
        county: RegionCode,
        year: i64,
        review: &CountyReview,
        note: &str,
    ) -> StoreResult<StoredReview> {
        require_write(caller)?;
        let mut problems = domain::validation::Problems::default();
        if county.level() != RegionLevel::County {
            problems.push("county", "应为县级区划代码（6 位）");
        } else if self.get_region(county).await?.is_none() {
            problems.push("county", format!("区划代码 {county} 不存在"));
        } else if !caller.scope.allows_region(county) {
            return Err(StoreError::Forbidden(format!(
                "县 {county} 不在您的管辖范围内"
            )));
        }
        if !(2000..=2100).contains(&year) {
            problems.push("year", "年份应在 2000–2100 之间");
        }
        problems.0.extend(review.validate());
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        let rules = self.current_rules().await?.rules;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO county_reviews (county_key, year, sampled_exited, wrongly_exited, sampled_households, missed_poor, surveyed, approving, note, entered_by, entered_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
                .bind(county.key()).bind(year).bind(review.sampled_exited).bind(review.wrongly_exited).bind(review.sampled_households)
                .bind(review.missed_poor).bind(review.surveyed).bind(review.approving).bind(note.trim()).bind(&caller.username).bind(&now)
                .fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "create", "county_reviews", Some(id.to_string()), None, None,
                Some(serde_json::to_value(review).unwrap_or_default()), format!("{county} {year} 年抽查数据"));
            crate::commit!(tx)?;
            Ok(StoredReview { id, county_code: county.to_string(), year, review: review.clone(), note: note.trim().to_string(),
                entered_by: caller.username.clone(), entered_at: now, criteria: county_review_criteria(&rules, review) })
        })
    }

    pub async fn county_review(
        &self,
        caller: &Caller,
        county: RegionCode,
        year: i64,
    ) -> StoreResult<Option<StoredReview>> {
        require_read(caller)?;
        if !caller.scope.allows_region(county) {
            return Ok(None);
        }
        let rules = self.current_rules().await?.rules;
        let row: Option<ReviewRow> = on_db!(self, p => sqlx::query_as(
            "SELECT id, sampled_exited, wrongly_exited, sampled_households, missed_poor, surveyed, approving, note, entered_by, entered_at
             FROM county_reviews WHERE county_key = $1 AND year = $2 ORDER BY id DESC LIMIT 1")
            .bind(county.key()).bind(year).fetch_optional(p).await)?;
        Ok(row.map(|r| {
            let review = CountyReview {
                sampled_exited: r.1,
                wrongly_exited: r.2,
                sampled_households: r.3,
                missed_poor: r.4,
                surveyed: r.5,
                approving: r.6,
            };
            StoredReview {
                id: r.0,
                county_code: county.to_string(),
                year,
                criteria: county_review_criteria(&rules, &review),
                review,
                note: r.7,
                entered_by: r.8,
                entered_at: r.9,
            }
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The exit procedure of a household.

#[derive(Debug, Clone, Serialize)]
pub struct ProcedureStep {
    pub id: i64,
    pub state: String,
    pub state_name: &'static str,
    pub date: String,
    pub responsible: String,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitProcedure {
    pub household_id: i64,
    pub year: i64,
    pub steps: Vec<ProcedureStep>,
    pub current: Option<String>,
    pub current_name: Option<&'static str>,
    /// (key, name) of the steps that may follow.
    pub next: Vec<(String, String)>,
    /// During 公示: its last day under the rules in force.
    pub publicity_until: Option<String>,
    pub publicity_days: i64,
    /// The whole procedure in words (with the rules' 公示 days).
    pub chain: String,
}

async fn steps_in<T: Tx>(
    tx: &mut T,
    household_id: i64,
    year: i64,
) -> StoreResult<Vec<ProcedureStep>> {
    let rows = tx
        .rows(
            "SELECT id, state, state_date, responsible, note, recorded_by, recorded_at FROM exit_procedures WHERE household_id = $1 AND year = $2 ORDER BY id",
            &[household_id.into(), year.into()],
            &[Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let state = r[1].string();
            ProcedureStep {
                id: r[0].i64().unwrap_or_default(),
                state_name: ExitStep::parse(&state).map(|s| s.name_zh()).unwrap_or(""),
                state,
                date: r[2].string(),
                responsible: r[3].string(),
                note: r[4].string(),
                recorded_by: r[5].string(),
                recorded_at: r[6].string(),
            }
        })
        .collect())
}

fn procedure_from(
    household_id: i64,
    year: i64,
    steps: Vec<ProcedureStep>,
    rules: &Rules,
) -> ExitProcedure {
    let current = steps.last().and_then(|s| ExitStep::parse(&s.state));
    let publicity_until = match (current, steps.last().and_then(|s| parse_date(&s.date))) {
        (Some(ExitStep::Publicity), Some(d)) => {
            Some(format_date(publicity_end(d, rules.publicity_days)))
        }
        _ => None,
    };
    ExitProcedure {
        household_id,
        year,
        current: current.map(|c| c.as_str().to_string()),
        current_name: current.map(|c| c.name_zh()),
        next: ExitStep::next_steps(current)
            .iter()
            .map(|s| (s.as_str().to_string(), s.name_zh().to_string()))
            .collect(),
        publicity_until,
        publicity_days: rules.publicity_days,
        chain: ExitStep::chain_zh(rules.publicity_days),
        steps,
    }
}

#[derive(Debug, Clone)]
pub struct NewStep {
    pub state: String,
    pub date: String,
    pub responsible: String,
    pub note: String,
}

impl Db {
    pub async fn exit_procedure(
        &self,
        caller: &Caller,
        household_id: i64,
        year: i64,
    ) -> StoreResult<ExitProcedure> {
        require_read(caller)?;
        let rules = self.current_rules().await?.rules;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            visible_household(&mut tx, caller, household_id).await?;
            let steps = steps_in(&mut tx, household_id, year).await?;
            crate::commit!(tx)?;
            Ok(procedure_from(household_id, year, steps, &rules))
        })
    }

    /// Records the next step of a household's exit procedure for a year. 拟退出 needs a decision
    /// of that year saying the household may exit; 销号 records the exit in the status history.
    pub async fn record_exit_step(
        &self,
        caller: &Caller,
        household_id: i64,
        year: i64,
        step: &NewStep,
    ) -> StoreResult<ExitProcedure> {
        require_write(caller)?;
        let rules = self.current_rules().await?.rules;
        let Some(next) = ExitStep::parse(&step.state) else {
            return Err(StoreError::invalid_field(
                "state",
                format!(
                    "步骤应为：{}",
                    ExitStep::ALL
                        .iter()
                        .map(|s| format!("{}（{}）", s.as_str(), s.name_zh()))
                        .collect::<Vec<_>>()
                        .join("、")
                ),
            ));
        };
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            // Writes first, so that two cadres recording at once are serialised (SQLite).
            tx.exec("UPDATE households SET updated_at = updated_at WHERE id = $1", &[household_id.into()]).await?;
            let h = visible_household(&mut tx, caller, household_id).await?;
            let steps = steps_in(&mut tx, household_id, year).await?;
            let history: Vec<StepRecord> = steps.iter().filter_map(|s| Some(StepRecord { step: ExitStep::parse(&s.state)?, date: parse_date(&s.date)? })).collect();
            let mut problems = check_exit_step(&rules, &history, next, step.date.trim(), &step.responsible, &step.note);
            // 销号 is the one way out of poverty (domain::poverty_status): 0 or 3 → 1, exit_year = the year.
            let exit = if next == ExitStep::Removed {
                match check_status_change(&h.status, STATUS_EXITED, year, StatusDoor::ExitProcedure, h.exit_year, rules.returned_status_last_year) {
                    Ok(e) => e,
                    Err(m) => {
                        problems.push(domain::validation::FieldError::new("state", m));
                        None
                    }
                }
            } else {
                None
            };
            if next == ExitStep::Proposed && problems.iter().all(|p| p.field != "state") {
                if h.status == STATUS_NOT_REGISTERED {
                    problems.push(domain::validation::FieldError::new("state", "该户为一般农户（未建档立卡），不参加贫困退出"));
                } else if !is_poor(&h.status) {
                    problems.push(domain::validation::FieldError::new("state", "该户已脱贫，无需退出程序"));
                } else {
                    match decisions_in(&mut tx, household_id, Some(year)).await?.first() {
                        None => problems.push(domain::validation::FieldError::new("year", format!("该户尚无 {year} 年的退出评估结果，请先进行评估"))),
                        Some(d) if !d.may_exit => {
                            let names: Vec<String> = d.criteria.iter().filter(|c| !c.passed).map(|c| c.name.clone()).collect();
                            problems.push(domain::validation::FieldError::new(
                                "year",
                                format!("该户 {year} 年评估结果为不能退出（未达到：{}）", names.join("、")),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            if !problems.is_empty() {
                tx.rollback().await?;
                return Err(StoreError::invalid(problems));
            }
            tx.exec(
                "INSERT INTO exit_procedures (household_id, year, state, state_date, responsible, note, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[household_id.into(), year.into(), next.as_str().into(), step.date.trim().into(), step.responsible.trim().into(),
                  step.note.trim().into(), caller.username.clone().into(), now.clone().into()],
            ).await?;
            if next == ExitStep::Removed {
                tx.exec(
                    "INSERT INTO household_status_history (household_id, status, year, note, recorded_at, recorded_by, source) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[household_id.into(), STATUS_EXITED.into(), year.into(), format!("退出程序销号（{}）", step.date.trim()).into(), now.clone().into(),
                      caller.username.clone().into(), SOURCE_EXIT_PROCEDURE.into()],
                ).await?;
                tx.exec("UPDATE households SET status = $1, exit_year = $2, updated_at = $3 WHERE id = $4",
                    &[STATUS_EXITED.into(), exit.into(), now.clone().into(), household_id.into()]).await?;
            }
            audit!(&mut *tx, caller, "exit_step", "households", Some(household_id.to_string()), None,
                Some(serde_json::json!({"state": history.last().map(|s| s.step.as_str())})),
                Some(serde_json::json!({"state": next.as_str(), "year": year, "date": step.date.trim(), "responsible": step.responsible.trim()})),
                step.note.trim().to_string());
            let steps = steps_in(&mut tx, household_id, year).await?;
            crate::commit!(tx)?;
            Ok(procedure_from(household_id, year, steps, &rules))
        })
    }
}

/// One household on a village's 公示 notice: names only, never an ID number.
#[derive(Debug, Clone, Serialize)]
pub struct PublicityEntry {
    pub household_no: String,
    pub group_name: String,
    pub head_name: String,
    pub member_count: i64,
    pub member_names: Vec<String>,
    pub per_capita_fen: Option<i64>,
    pub per_capita_yuan: Option<String>,
    pub from: String,
    pub until: String,
    pub responsible: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicityList {
    pub village_code: String,
    pub village_name: String,
    /// 省 市 县 乡 村.
    pub full_name: String,
    pub year: i64,
    pub publicity_days: i64,
    pub entries: Vec<PublicityEntry>,
}

impl Db {
    /// Households of a village whose exit procedure for the year is in 公示.
    pub async fn publicity_list(
        &self,
        caller: &Caller,
        village: RegionCode,
        year: i64,
    ) -> StoreResult<PublicityList> {
        require_read(caller)?;
        if village.level() != RegionLevel::Village {
            return Err(StoreError::invalid_field(
                "village",
                "应为 12 位村级区划代码",
            ));
        }
        let region = self
            .get_region(village)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("区划代码 {village} 不存在")))?;
        if !caller.scope.allows_region(village) {
            return Err(StoreError::NotFound(format!("区划代码 {village} 不存在")));
        }
        let rules = self.current_rules().await?.rules;
        let ancestors = self.region_ancestors(village).await?;
        let full_name = ancestors
            .iter()
            .map(|a| a.name.as_str())
            .chain(std::iter::once(region.name.as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(
                "SELECT h.id, h.household_no, h.group_name, h.head_name, h.member_count, p.state_date, p.responsible, i.per_capita_fen
                 FROM exit_procedures p JOIN households h ON h.id = p.household_id
                 LEFT JOIN household_incomes i ON i.household_id = h.id AND i.year = p.year
                 WHERE h.village_key = $1 AND p.year = $2 AND p.state = 'publicity'
                   AND p.id = (SELECT MAX(p2.id) FROM exit_procedures p2 WHERE p2.household_id = p.household_id AND p2.year = p.year)
                 ORDER BY h.group_name, h.household_no",
                &[village.key().into(), year.into()],
                &[Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::I64, Ty::Str, Ty::Str, Ty::I64],
            ).await?;
            let mut out = Vec::new();
            for r in rows {
                let names = tx.rows("SELECT name FROM members WHERE household_id = $1 AND active ORDER BY relation, id", &[r[0].clone()], &[Ty::Str]).await?;
                out.push((r, names.iter().map(|n| n[0].string()).collect::<Vec<_>>()));
            }
            crate::commit!(tx)?;
            out
        });
        let entries = rows
            .into_iter()
            .map(|(r, member_names)| {
                let from = r[5].string();
                let until = parse_date(&from)
                    .map(|d| format_date(publicity_end(d, rules.publicity_days)))
                    .unwrap_or_default();
                PublicityEntry {
                    household_no: r[1].string(),
                    group_name: r[2].string(),
                    head_name: r[3].string(),
                    member_count: r[4].i64().unwrap_or_default(),
                    member_names,
                    per_capita_fen: r[7].i64(),
                    per_capita_yuan: r[7].i64().map(|f| Fen(f).yuan_string()),
                    from,
                    until,
                    responsible: r[6].string(),
                }
            })
            .collect();
        Ok(PublicityList {
            village_code: village.to_string(),
            village_name: region.name,
            full_name,
            year,
            publicity_days: rules.publicity_days,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarantees_unpack_from_base_three() {
        // food yes, clothing no, education unknown, medical yes, housing no, water yes.
        // Base-3 digits, least significant first: 1 = yes, 2 = no, 0 = unknown.
        let digits: [i64; 6] = [1, 2, 0, 1, 2, 1];
        let packed = digits.iter().rev().fold(0, |acc, d| acc * 3 + d);
        let got: Vec<Option<bool>> = (0..6).map(|i| guarantee(packed, i)).collect();
        assert_eq!(
            got,
            [
                Some(true),
                Some(false),
                None,
                Some(true),
                Some(false),
                Some(true)
            ]
        );
    }
}
