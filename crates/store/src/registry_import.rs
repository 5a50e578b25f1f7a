//! Importing the registry: member rows (one per person, household columns repeated) and
//! income rows (one per household and year). One path serves a file of a million rows, an
//! upload and a single household created through the API:
//!
//! - rows are read and checked on a blocking thread and arrive in chunks of whole households,
//!   so memory does not grow with the file;
//! - every chunk is checked against the registry (villages exist, a person is an active member
//!   of one household only, 户编号/人编号 matches) and written inside ONE transaction, new rows
//!   with bulk inserts (`Tx::insert_rows`: prepared multi-row statements with the strings
//!   bound in place on SQLite, COPY on PostgreSQL);
//! - any problem anywhere means the transaction is rolled back: all or nothing. A dry run is
//!   the same run, always rolled back. A killed process leaves the database as it was.

use crate::activity::ImportKind;
use crate::audit::{ClashSource, IdentityClash};
use crate::regions::Progress;
use crate::sqlrt::{Cell, Tx, Ty, Val, insert_many, placeholders_for};
use crate::tabular::{Table, TabularError};
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::Caller;
use domain::codes::CodeTables;
use domain::poverty_status::{SOURCE_CHANGE, SOURCE_IMPORT};
use domain::registry::{
    CellProblem, CheckContext, ColumnMap, HEAD_RELATION, HOUSEHOLD_TYPE_NOT_REGISTERED, IdCell,
    IncomeRow, MemberRow, STATUS_NOT_OUT, STATUS_NOT_REGISTERED, check_head_count,
    check_household_group, check_income_row, check_member_row, household_differences, per_capita,
};
use domain::scope::Scope;
use domain::{RegionCode, RegionLevel};
use serde::Serialize;
// Fx-hashed maps: every row of a file goes through several of them, keyed by its own data.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Rows per chunk sent from the reader to the writer (whole households only). Each chunk
/// costs a few lookups and prepared statements; a few chunks in flight bound the memory.
const CHUNK_ROWS: usize = 4_000;
/// Known households or members updated by one PostgreSQL statement (at most 21 values each:
/// well within its limit on bound values); see `update_by_id`.
const UPDATE_BATCH: usize = 500;
/// Imported statuses are history carried in from the file (source 导入), not transitions.
const STATUS_HISTORY_COLUMNS: [&str; 7] = [
    "household_id",
    "status",
    "year",
    "note",
    "recorded_at",
    "recorded_by",
    "source",
];
/// Problems kept for the report; beyond that only counted.
const MAX_PROBLEMS: usize = 100_000;

/// One problem in an import, as the user should find it in the spreadsheet.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowProblem {
    /// Spreadsheet row (header = 1); 1 for problems with the header itself.
    pub row: u64,
    pub column: String,
    /// Masked when personal.
    pub value: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportOutcome {
    pub committed: bool,
    pub dry_run: bool,
    pub batch_id: Option<i64>,
    pub rows: u64,
    pub households_added: u64,
    pub households_updated: u64,
    pub members_added: u64,
    pub members_updated: u64,
    pub incomes_written: u64,
    pub problem_count: u64,
    pub problems: Vec<RowProblem>,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub file_name: String,
}

/// A member row with its spreadsheet row number.
#[derive(Debug, Clone)]
pub struct ParsedRow {
    pub line: u64,
    pub row: MemberRow,
}

/// Consecutive rows of one household.
#[derive(Debug, Clone)]
pub struct Group {
    pub rows: Vec<ParsedRow>,
}

enum Chunk {
    Groups(Vec<Group>, Vec<RowProblem>, u64),
    Incomes(Vec<(u64, IncomeRow)>, Vec<RowProblem>, u64),
    Fatal(String),
}

/// The answer for a household the caller may not touch, the same whether it exists elsewhere
/// or not at all, so that it says nothing about other regions' registries.
pub fn household_out_of_scope(household_no: &str) -> String {
    format!("户编号 {household_no} 不在您的管辖范围内或不存在")
}

/// The answer for a person who is an active member of a household outside the caller's scope:
/// the writer must learn that the person is taken, but not where.
pub const PERSON_REGISTERED_ELSEWHERE: &str = "此人已在其他地区登记为在册成员，请联系上级核实";

/// The answer for a 户编号 taken by a household outside the caller's scope.
pub fn household_no_taken(household_no: &str) -> String {
    format!("户编号 {household_no} 已被使用，请换用其他户编号或联系上级核实")
}

/// Is a stored household (by its village key) inside this scope?
pub(crate) fn village_key_in_scope(scope: &Scope, village_key: i64) -> bool {
    match scope {
        Scope::Everything => true,
        _ => RegionCode::from_key(village_key).is_some_and(|v| scope.allows_region(v)),
    }
}

fn problem(line: u64, p: CellProblem) -> RowProblem {
    RowProblem {
        row: line,
        column: p.column,
        value: p.value,
        message: p.message,
    }
}

/// Reads and checks a members table on the calling (blocking) thread, sending whole households.
///
/// Chunks the writer is done with come back through `done` and are freed here: the rows were
/// allocated on this thread, and the writer, the slower side, is spared the work.
fn read_member_chunks(
    table: Table,
    tables: CodeTables,
    registry_closed_after_year: i64,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    done: std::sync::mpsc::Receiver<Vec<Group>>,
) {
    let map = ColumnMap::members(&table.headers);
    let missing = map.missing_member_columns();
    if !missing.is_empty() {
        let _ = tx.blocking_send(Chunk::Fatal(format!(
            "第 1 行：缺少必填列：{}",
            missing.join("、")
        )));
        return;
    }
    let ctx = CheckContext {
        tables: &tables,
        today: crate::today(),
        registry_closed_after_year,
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut problems = Vec::new();
    let mut rows_in_chunk = 0usize;
    let mut seen = 0u64;
    let mut current: Option<Group> = None;
    for r in table.rows {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Chunk::Fatal(e.to_string()));
                return;
            }
        };
        seen += 1;
        match check_member_row(&map, &r.cells, &ctx) {
            Err(ps) => problems.extend(ps.into_iter().map(|p| problem(r.line, p))),
            Ok(row) => {
                let same = current.as_ref().is_some_and(|g| {
                    g.rows[0].row.household.household_no == row.household.household_no
                });
                if !same {
                    if let Some(g) = current.take() {
                        rows_in_chunk += g.rows.len();
                        groups.push(g);
                    }
                    if rows_in_chunk >= CHUNK_ROWS {
                        if tx
                            .blocking_send(Chunk::Groups(
                                std::mem::take(&mut groups),
                                std::mem::take(&mut problems),
                                seen,
                            ))
                            .is_err()
                        {
                            return;
                        }
                        done.try_iter().for_each(drop);
                        rows_in_chunk = 0;
                        seen = 0;
                    }
                    current = Some(Group {
                        rows: Vec::with_capacity(8),
                    });
                }
                current
                    .as_mut()
                    .expect("set above")
                    .rows
                    .push(ParsedRow { line: r.line, row });
            }
        }
    }
    if let Some(g) = current.take() {
        groups.push(g);
    }
    let _ = tx.blocking_send(Chunk::Groups(groups, problems, seen));
}

fn read_income_chunks(table: Table, tx: tokio::sync::mpsc::Sender<Chunk>) {
    let map = ColumnMap::incomes(&table.headers);
    let missing = map.missing_income_columns();
    if !missing.is_empty() {
        let _ = tx.blocking_send(Chunk::Fatal(format!(
            "第 1 行：缺少必填列：{}",
            missing.join("、")
        )));
        return;
    }
    let this_year = crate::current_year();
    let (mut rows, mut problems, mut seen) = (Vec::new(), Vec::new(), 0u64);
    for r in table.rows {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Chunk::Fatal(e.to_string()));
                return;
            }
        };
        seen += 1;
        match check_income_row(&map, &r.cells, this_year) {
            Ok(row) => rows.push((r.line, row)),
            Err(ps) => problems.extend(ps.into_iter().map(|p| problem(r.line, p))),
        }
        if rows.len() >= CHUNK_ROWS {
            if tx
                .blocking_send(Chunk::Incomes(
                    std::mem::take(&mut rows),
                    std::mem::take(&mut problems),
                    seen,
                ))
                .is_err()
            {
                return;
            }
            seen = 0;
        }
    }
    let _ = tx.blocking_send(Chunk::Incomes(rows, problems, seen));
}

/// What a run has gathered so far.
pub(crate) struct RunState {
    batch_id: i64,
    pub(crate) outcome: ImportOutcome,
    valid_villages: HashSet<i64>,
    invalid_villages: HashSet<i64>,
    /// County key of each village key seen.
    counties: HashMap<i64, i64>,
    /// Households that existed before this run and were changed: (id, first row) to recheck.
    touched: Vec<(i64, u64)>,
    /// The caller's scope: every household written, before and after, must lie inside it.
    scope: Scope,
    /// Clashes with records outside the scope, recorded after the run (see `audit`).
    pub(crate) clashes: Vec<IdentityClash>,
    /// Set for edits (the API's and the household form's): a known household's status changes
    /// only as `POST …/status` allows. Unset for file imports, which carry historical statuses.
    status_rule: Option<StatusRule>,
}

/// The status door's rule as the edit doors apply it: a change is dated `year` (today's; an
/// edit carries no date) and checked with `domain::poverty_status::check_status_change`.
#[derive(Debug, Clone, Copy)]
struct StatusRule {
    year: i64,
    returned_last_year: i64,
}

impl StatusRule {
    /// The problem with changing a stored household `e` to the row's `h`, if any.
    fn problem(
        &self,
        e: &ExistingHousehold,
        h: &domain::registry::HouseholdFields,
    ) -> Option<RowProblem> {
        use domain::poverty_status::{StatusDoor, check_status_change, status_name};
        let (column, value, message) = if e.status == STATUS_NOT_REGISTERED {
            // Identification of a 一般农户 (allowed up to the registry's closing year, checked
            // with the row): it enters the registry as 未脱贫, as every registered household did.
            if !h.is_registered() || h.status == STATUS_NOT_OUT {
                return None;
            }
            (
                "脱贫状态",
                h.status.clone(),
                format!(
                    "新识别的建档立卡户脱贫状态应为“未脱贫”，不能直接登记为“{}”；脱贫须经退出程序销号",
                    status_name(&h.status)
                ),
            )
        } else if e.status != h.status {
            match check_status_change(
                &e.status,
                &h.status,
                self.year,
                StatusDoor::Change,
                e.exit_year,
                self.returned_last_year,
            ) {
                Err(m) => ("脱贫状态", h.status.clone(), m),
                Ok(exit_year) if exit_year != h.exit_year => (
                    "脱贫年度",
                    h.exit_year.map(|y| y.to_string()).unwrap_or_default(),
                    format!(
                        "由“{}”改为“{}”时脱贫年度不变，应为 {}",
                        status_name(&e.status),
                        status_name(&h.status),
                        exit_year
                            .map(|y| y.to_string())
                            .unwrap_or_else(|| "空".into())
                    ),
                ),
                Ok(_) => return None,
            }
        } else if e.exit_year != h.exit_year {
            (
                "脱贫年度",
                h.exit_year.map(|y| y.to_string()).unwrap_or_default(),
                format!(
                    "脱贫年度只能由退出程序销号确定，编辑时不能修改（当前为 {}）",
                    e.exit_year
                        .map(|y| y.to_string())
                        .unwrap_or_else(|| "空".into())
                ),
            )
        } else {
            return None;
        };
        Some(RowProblem {
            row: 0,
            column: column.into(),
            value,
            message,
        })
    }
}

impl RunState {
    fn push(&mut self, p: RowProblem) {
        self.outcome.problem_count += 1;
        if self.outcome.problems.len() < MAX_PROBLEMS {
            self.outcome.problems.push(p);
        }
    }
}

impl Db {
    /// Imports a members table (one row per person). See the module comment.
    pub async fn import_members(
        &self,
        caller: &Caller,
        table: Table,
        options: &ImportOptions,
        progress: &dyn Progress,
    ) -> StoreResult<ImportOutcome> {
        self.run_import(caller, table, options, progress, "members")
            .await
    }

    /// Imports an incomes table (one row per household and year).
    pub async fn import_incomes(
        &self,
        caller: &Caller,
        table: Table,
        options: &ImportOptions,
        progress: &dyn Progress,
    ) -> StoreResult<ImportOutcome> {
        self.run_import(caller, table, options, progress, "incomes")
            .await
    }

    async fn run_import(
        &self,
        caller: &Caller,
        table: Table,
        options: &ImportOptions,
        progress: &dyn Progress,
        kind: &'static str,
    ) -> StoreResult<ImportOutcome> {
        if !caller.can_write_registry() {
            return Err(StoreError::Forbidden("您没有修改建档立卡数据的权限".into()));
        }
        self.require_not_blocked(caller).await?;
        let tables = self.code_tables().await?;
        let closed_after = self.current_rules().await?.rules.registry_closed_after_year;
        let sha = table.sha256.clone();
        let mut clashes = Vec::new();
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Chunk>(2);
        let (done_sender, done) = std::sync::mpsc::channel::<Vec<Group>>();
        let reader = tokio::task::spawn_blocking(move || match kind {
            "members" => read_member_chunks(table, tables, closed_after, sender, done),
            _ => read_income_chunks(table, sender),
        });
        progress.start(
            if kind == "members" {
                "导入成员"
            } else {
                "导入收入"
            },
            0,
        );
        let result = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = import_in_tx(&mut tx, caller, options, kind, &mut receiver, &done_sender, progress, &mut clashes).await;
            match r {
                Ok(mut outcome) => {
                    let _ = reader.await;
                    outcome.sha256 = sha.lock().ok().and_then(|h| h.clone()).unwrap_or_default();
                    if outcome.problem_count == 0 && !options.dry_run {
                        audit!(&mut *tx, caller, "import", "import_batches", outcome.batch_id.map(|b| b.to_string()), outcome.batch_id, None,
                            Some(serde_json::json!({
                                "kind": kind, "file": options.file_name, "sha256": outcome.sha256, "rows": outcome.rows,
                                "households_added": outcome.households_added, "households_updated": outcome.households_updated,
                                "members_added": outcome.members_added, "members_updated": outcome.members_updated,
                                "incomes_written": outcome.incomes_written
                            })),
                            format!("导入 {}（{} 行）", options.file_name, outcome.rows));
                        sqlx::query("UPDATE import_batches SET sha256 = $1 WHERE id = $2")
                            .bind(&outcome.sha256).bind(outcome.batch_id).execute(&mut *tx).await?;
                        crate::commit!(tx)?;
                        outcome.committed = true;
                    } else {
                        tx.rollback().await?;
                        outcome.batch_id = None;
                    }
                    Ok(outcome)
                }
                Err(e) => {
                    receiver.close();
                    let _ = reader.await;
                    tx.rollback().await?;
                    Err(e)
                }
            }
        });
        progress.finish();
        let source = ClashSource {
            file_name: options.file_name.clone(),
            sha256: result.as_ref().ok().map(|o| o.sha256.clone()),
        };
        self.record_identity_clashes(caller, &source, &clashes)
            .await?;
        result
    }

    /// Creates or updates one household from rows given through the API (same checks and
    /// writes as a file import). Problems come back as `StoreError::Invalid`.
    pub async fn apply_household_rows(
        &self,
        caller: &Caller,
        rows: Vec<MemberRow>,
        file_name: &str,
    ) -> StoreResult<ImportOutcome> {
        self.apply_household_rows_with_event(caller, rows, file_name, None)
            .await
    }

    /// Like `apply_household_rows`; with `event`, the one member the rows add is recorded as a
    /// 动态调整 event (birth, marriage in, return) in the same transaction.
    pub async fn apply_household_rows_with_event(
        &self,
        caller: &Caller,
        rows: Vec<MemberRow>,
        file_name: &str,
        event: Option<MemberAdded>,
    ) -> StoreResult<ImportOutcome> {
        if !caller.can_write_registry() {
            return Err(StoreError::Forbidden("您没有修改建档立卡数据的权限".into()));
        }
        self.require_not_blocked(caller).await?;
        let groups = vec![Group {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| ParsedRow {
                    line: i as u64,
                    row,
                })
                .collect(),
        }];
        let options = ImportOptions {
            dry_run: false,
            file_name: file_name.into(),
        };
        let household_no = groups[0]
            .rows
            .first()
            .map(|r| r.row.household.household_no.clone())
            .unwrap_or_default();
        let mut clashes = Vec::new();
        let status_rule = StatusRule {
            year: crate::current_year(),
            returned_last_year: self.current_rules().await?.rules.returned_status_last_year,
        };
        let result = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let before = household_snapshot(&mut tx, &household_no).await?;
            let mut state = begin_batch(&mut tx, caller, &options, "members").await?;
            state.status_rule = Some(status_rule);
            apply_groups(&mut tx, caller.username.clone(), &mut state, &groups).await?;
            clashes.append(&mut state.clashes);
            finish_members(&mut tx, &mut state).await?;
            // A member added by an event has that event's entry (below); any other create or
            // edit of a household gets one here, whichever door it came through.
            if state.outcome.problem_count == 0 && event.is_none()
                && let Some((id, after)) = household_snapshot(&mut tx, &household_no).await?
            {
                let (old, new, detail) = household_changes(&household_no, before.map(|(_, b)| b), after);
                let action = if old.is_none() { "create" } else { "update" };
                audit!(&mut *tx, caller, action, "households", Some(id.to_string()), Some(state.batch_id), old, Some(new), detail);
            }
            if state.outcome.problem_count == 0 && let Some(e) = &event {
                if state.outcome.members_added != 1 {
                    state.push(RowProblem { row: 0, column: "证件号码".into(), value: String::new(), message: "此人已是本户成员，不能作为新增成员".into() });
                } else {
                    let found = tx.rows("SELECT MAX(id) FROM members WHERE household_id = $1 AND last_batch_id = $2",
                        &[e.household_id.into(), state.batch_id.into()], &[Ty::I64]).await?;
                    let member_id = found.first().and_then(|r| r[0].i64());
                    sqlx::query("INSERT INTO household_events (household_id, member_id, event_type, event_date, note, recorded_at, recorded_by, batch_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(e.household_id).bind(member_id).bind(&e.kind).bind(&e.date).bind(&e.note).bind(now_rfc3339())
                        .bind(&caller.username).bind(state.batch_id).execute(&mut *tx).await?;
                    audit!(&mut *tx, caller, "event", "households", Some(e.household_id.to_string()), Some(state.batch_id), None,
                        Some(serde_json::json!({"event": e.kind, "member_id": member_id, "date": e.date})), e.note.clone());
                }
            }
            if state.outcome.problem_count > 0 {
                tx.rollback().await?;
                Err(StoreError::ImportRejected(state.outcome.problems))
            } else {
                crate::commit!(tx)?;
                Ok(state.outcome)
            }
        });
        self.record_identity_clashes(
            caller,
            &ClashSource {
                file_name: file_name.into(),
                sha256: None,
            },
            &clashes,
        )
        .await?;
        result
    }
}

/// Household columns an audit entry compares: (column, label). The phone is masked.
const AUDITED_HOUSEHOLD_COLUMNS: [(&str, &str, Ty); 19] = [
    ("village_key", "行政区划代码", Ty::I64),
    ("group_name", "组", Ty::Str),
    ("identification_standard", "识别标准", Ty::Str),
    ("attribute", "贫困户属性", Ty::Str),
    ("main_cause", "主要致贫原因", Ty::Str),
    ("other_causes", "其他致贫原因", Ty::Str),
    ("identified_year", "识别年度", Ty::I64),
    ("status", "脱贫状态", Ty::Str),
    ("exit_year", "脱贫年度", Ty::I64),
    ("housing_dangerous", "住房是否危房", Ty::Bool),
    ("housing_structure", "住房结构", Ty::Str),
    ("safe_water", "是否安全饮水", Ty::Bool),
    ("food_secure", "不愁吃", Ty::Bool),
    ("clothing_secure", "不愁穿", Ty::Bool),
    ("education_secure", "义务教育有保障", Ty::Bool),
    ("medical_secure", "基本医疗有保障", Ty::Bool),
    ("housing_secure", "住房安全有保障", Ty::Bool),
    ("phone", "联系电话", Ty::Str),
    ("head_name", "户主姓名", Ty::Str),
];

/// Member columns an audit entry compares; ID numbers and phones masked.
const AUDITED_MEMBER_COLUMNS: [(&str, Ty); 14] = [
    ("member_no", Ty::Str),
    ("name", Ty::Str),
    ("sex", Ty::Str),
    ("id_number", Ty::Str),
    ("disability_suffix", Ty::Str),
    ("relation", Ty::Str),
    ("ethnicity", Ty::Str),
    ("education", Ty::Str),
    ("schooling", Ty::Str),
    ("health", Ty::Str),
    ("labour", Ty::Str),
    ("migrant_months", Ty::I64),
    ("phone", Ty::Str),
    ("active", Ty::Bool),
];

fn audit_value(column: &str, v: &Val) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Val::I64(Some(n)) if column == "village_key" => RegionCode::from_key(*n)
            .map(|c| Value::from(c.to_string()))
            .unwrap_or(Value::Null),
        Val::I64(n) => n.map(Value::from).unwrap_or(Value::Null),
        Val::Bool(b) => b.map(Value::from).unwrap_or(Value::Null),
        Val::F64(f) => f.map(Value::from).unwrap_or(Value::Null),
        Val::Str(None) => Value::Null,
        Val::Str(Some(s)) if s.is_empty() => Value::from(""),
        Val::Str(Some(s)) => Value::from(match column {
            "id_number" => domain::id_number::mask_id(s),
            // Category and grade of a 残疾人证号: sensitive, only whether it changed shows.
            "disability_suffix" => "**".to_string(),
            "phone" => domain::id_number::mask_phone(s),
            _ => s.clone(),
        }),
    }
}

/// A household and its members as its audit entry shows them (personal numbers masked):
/// household columns by name, and `members` by member id. None when there is no such household.
async fn household_snapshot<T: Tx>(
    tx: &mut T,
    household_no: &str,
) -> StoreResult<Option<(i64, serde_json::Map<String, serde_json::Value>)>> {
    let columns: Vec<&str> = AUDITED_HOUSEHOLD_COLUMNS.iter().map(|c| c.0).collect();
    let mut tys = vec![Ty::I64];
    tys.extend(AUDITED_HOUSEHOLD_COLUMNS.iter().map(|c| c.2));
    let sql = format!(
        "SELECT id, {} FROM households WHERE household_no = $1",
        columns.join(", ")
    );
    let rows = tx.rows(&sql, &[household_no.into()], &tys).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let id = row[0].i64().unwrap_or_default();
    let mut out: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .zip(&row[1..])
        .map(|(c, v)| (c.to_string(), audit_value(c, v)))
        .collect();
    let member_columns: Vec<&str> = AUDITED_MEMBER_COLUMNS.iter().map(|c| c.0).collect();
    let mut tys = vec![Ty::I64];
    tys.extend(AUDITED_MEMBER_COLUMNS.iter().map(|c| c.1));
    let sql = format!(
        "SELECT id, {} FROM members WHERE household_id = $1 ORDER BY id",
        member_columns.join(", ")
    );
    let members: serde_json::Map<String, serde_json::Value> = tx
        .rows(&sql, &[id.into()], &tys)
        .await?
        .iter()
        .map(|m| {
            let fields = member_columns
                .iter()
                .zip(&m[1..])
                .map(|(c, v)| (c.to_string(), audit_value(c, v)))
                .collect();
            (
                m[0].i64().unwrap_or_default().to_string(),
                serde_json::Value::Object(fields),
            )
        })
        .collect();
    out.insert("members".into(), serde_json::Value::Object(members));
    Ok(Some((id, out)))
}

/// What an audit entry of a household write records: before and after of the changed columns
/// only (all of them for a new household), and a Chinese summary naming them.
fn household_changes(
    household_no: &str,
    before: Option<serde_json::Map<String, serde_json::Value>>,
    after: serde_json::Map<String, serde_json::Value>,
) -> (Option<serde_json::Value>, serde_json::Value, String) {
    use serde_json::{Map, Value};
    let Some(before) = before else {
        let n = after["members"].as_object().map_or(0, |m| m.len());
        return (
            None,
            Value::Object(after),
            format!("新建户 {household_no}（{n} 名成员）"),
        );
    };
    let (mut old, mut new, mut labels) = (Map::new(), Map::new(), Vec::new());
    for (column, label, _) in AUDITED_HOUSEHOLD_COLUMNS {
        if before.get(column) != after.get(column) {
            old.insert(
                column.into(),
                before.get(column).cloned().unwrap_or(Value::Null),
            );
            new.insert(
                column.into(),
                after.get(column).cloned().unwrap_or(Value::Null),
            );
            labels.push(label.to_string());
        }
    }
    let empty = Map::new();
    let members = |m: &Map<String, Value>| {
        m.get("members")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let (was, now) = (members(&before), members(&after));
    let (mut old_members, mut new_members) = (Map::new(), Map::new());
    for (id, member) in &now {
        match was.get(id) {
            Some(prior) if prior == member => {}
            Some(prior) => {
                let (p, n) = (
                    prior.as_object().unwrap_or(&empty),
                    member.as_object().unwrap_or(&empty),
                );
                let changed: Vec<&String> = n.keys().filter(|k| p.get(*k) != n.get(*k)).collect();
                old_members.insert(
                    id.clone(),
                    Value::Object(
                        changed
                            .iter()
                            .map(|k| ((*k).clone(), p.get(*k).cloned().unwrap_or(Value::Null)))
                            .collect(),
                    ),
                );
                new_members.insert(
                    id.clone(),
                    Value::Object(
                        changed
                            .iter()
                            .map(|k| ((*k).clone(), n[*k].clone()))
                            .collect(),
                    ),
                );
                labels.push(format!("成员 {}", member["name"].as_str().unwrap_or(id)));
            }
            None => {
                new_members.insert(id.clone(), member.clone());
                labels.push(format!(
                    "新增成员 {}",
                    member["name"].as_str().unwrap_or(id)
                ));
            }
        }
    }
    if !new_members.is_empty() {
        old.insert("members".into(), Value::Object(old_members));
        new.insert("members".into(), Value::Object(new_members));
    }
    let detail = if labels.is_empty() {
        format!("修改户 {household_no}：内容无变化")
    } else {
        format!("修改户 {household_no}：{}", labels.join("、"))
    };
    (Some(Value::Object(old)), Value::Object(new), detail)
}

/// A member added by an explicit event, recorded with the member in one transaction.
#[derive(Debug, Clone)]
pub struct MemberAdded {
    pub household_id: i64,
    /// birth | marriage_in | return
    pub kind: String,
    pub date: String,
    pub note: String,
}

async fn begin_batch<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    options: &ImportOptions,
    kind: &str,
) -> StoreResult<RunState> {
    let username = caller.username.clone();
    let ids = insert_many(
        tx,
        "import_batches",
        &["kind", "file_name", "username", "started_at"],
        &[vec![
            kind.into(),
            options.file_name.clone().into(),
            username.into(),
            now_rfc3339().into(),
        ]],
        &[("id", Ty::I64)],
    )
    .await?;
    let batch_id = ids[0][0].i64().unwrap_or_default();
    Ok(RunState {
        batch_id,
        outcome: ImportOutcome {
            dry_run: options.dry_run,
            batch_id: Some(batch_id),
            ..Default::default()
        },
        valid_villages: HashSet::default(),
        invalid_villages: HashSet::default(),
        counties: HashMap::default(),
        touched: Vec::new(),
        scope: caller.scope.clone(),
        clashes: Vec::new(),
        status_rule: None,
    })
}

#[allow(clippy::too_many_arguments)]
async fn import_in_tx<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    options: &ImportOptions,
    kind: &str,
    receiver: &mut tokio::sync::mpsc::Receiver<Chunk>,
    done: &std::sync::mpsc::Sender<Vec<Group>>,
    progress: &dyn Progress,
    clashes: &mut Vec<IdentityClash>,
) -> StoreResult<ImportOutcome> {
    let mut state = begin_batch(tx, caller, options, kind).await?;
    let outcome = import_chunks(tx, caller, kind, receiver, done, progress, &mut state).await;
    // Found before any failure; recorded whatever becomes of the run.
    clashes.append(&mut state.clashes);
    outcome
}

async fn import_chunks<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    kind: &str,
    receiver: &mut tokio::sync::mpsc::Receiver<Chunk>,
    done: &std::sync::mpsc::Sender<Vec<Group>>,
    progress: &dyn Progress,
    state: &mut RunState,
) -> StoreResult<ImportOutcome> {
    while let Some(chunk) = receiver.recv().await {
        match chunk {
            Chunk::Fatal(message) => {
                state.push(RowProblem {
                    row: 1,
                    column: String::new(),
                    value: String::new(),
                    message,
                });
                break;
            }
            Chunk::Groups(groups, problems, seen) => {
                problems.into_iter().for_each(|p| state.push(p));
                state.outcome.rows += seen;
                crate::activity::count_import_rows(ImportKind::Members, seen);
                apply_groups(tx, caller.username.clone(), state, &groups).await?;
                // Freed by the reader (if it has finished, here).
                let _ = done.send(groups);
                progress.advance(seen);
            }
            Chunk::Incomes(rows, problems, seen) => {
                problems.into_iter().for_each(|p| state.push(p));
                state.outcome.rows += seen;
                crate::activity::count_import_rows(ImportKind::Incomes, seen);
                apply_incomes(tx, state, rows).await?;
                progress.advance(seen);
            }
        }
    }
    if kind == "members" {
        finish_members(tx, state).await?;
    }
    let o = &state.outcome;
    tx.exec(
        "UPDATE import_batches SET rows = $1, households_added = $2, households_updated = $3, members_added = $4, members_updated = $5 WHERE id = $6",
        &[(o.rows as i64).into(), (o.households_added as i64).into(), (o.households_updated as i64).into(),
          (o.members_added as i64).into(), (o.members_updated as i64).into(), state.batch_id.into()],
    )
    .await?;
    state.outcome.problems.sort_by_key(|p| p.row);
    Ok(std::mem::take(&mut state.outcome))
}

/// Existing household as far as an import needs it.
struct ExistingHousehold {
    id: i64,
    village_key: i64,
    attribute: String,
    standard: String,
    main_cause: String,
    other_causes: String,
    identified_year: i64,
    status: String,
    exit_year: Option<i64>,
    last_batch_id: Option<i64>,
}

struct ExistingMember {
    id: i64,
    household_id: i64,
    household_no: String,
    /// The village of the member's household: outside the caller's scope, messages name no
    /// household.
    village_key: i64,
    member_no: Option<String>,
    id_number: Option<String>,
    active: bool,
}

async fn lookup_in<T: Tx>(
    tx: &mut T,
    sql_head: &str,
    keys: &[String],
    tys: &[Ty],
) -> StoreResult<Vec<Vec<Val>>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(1_000) {
        // A few fixed list lengths (padded with NULL, which matches nothing), so the engine
        // prepares each statement once per run rather than once per chunk.
        let width = [16, 128, 1_000]
            .into_iter()
            .find(|w| *w >= chunk.len())
            .unwrap_or(chunk.len());
        let sql = format!(
            "{sql_head} ({})",
            placeholders_for(tx.is_postgres(), 1, width)
        );
        let mut vals: Vec<Val> = chunk.iter().map(|k| Val::from(k.as_str())).collect();
        vals.resize(width, Val::Str(None));
        out.extend(tx.rows(&sql, &vals, tys).await?);
    }
    Ok(out)
}

async fn check_villages<T: Tx>(
    tx: &mut T,
    state: &mut RunState,
    keys: Vec<i64>,
) -> StoreResult<()> {
    let unknown: Vec<i64> = keys
        .into_iter()
        .filter(|k| !state.valid_villages.contains(k) && !state.invalid_villages.contains(k))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let list = unknown
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let found = tx
        .rows(
            &format!("SELECT key FROM regions WHERE key IN ({list}) AND retired_year IS NULL"),
            &[],
            &[Ty::I64],
        )
        .await?;
    let found: HashSet<i64> = found.iter().filter_map(|r| r[0].i64()).collect();
    for k in unknown {
        if found.contains(&k) {
            state.valid_villages.insert(k);
        } else {
            state.invalid_villages.insert(k);
        }
    }
    Ok(())
}

fn bool_val(b: Option<bool>) -> Val {
    Val::Bool(b)
}

fn county_key(village: RegionCode) -> i64 {
    village
        .ancestors()
        .into_iter()
        .find(|c| c.level() == RegionLevel::County)
        .map(|c| c.key())
        .unwrap_or(village.key())
}

const HOUSEHOLD_INSERT_COLUMNS: [&str; 25] = [
    "household_no",
    "village_key",
    "county_key",
    "group_name",
    "identification_standard",
    "attribute",
    "main_cause",
    "other_causes",
    "identified_year",
    "status",
    "exit_year",
    "housing_dangerous",
    "housing_structure",
    "safe_water",
    "food_secure",
    "clothing_secure",
    "education_secure",
    "medical_secure",
    "housing_secure",
    "phone",
    "head_name",
    "member_count",
    "last_batch_id",
    "created_at",
    "updated_at",
];

const MEMBER_INSERT_COLUMNS: [&str; 18] = [
    "household_id",
    "member_no",
    "name",
    "sex",
    "id_number",
    "id_was_15",
    "relation",
    "ethnicity",
    "education",
    "schooling",
    "health",
    "labour",
    "migrant_months",
    "phone",
    "last_batch_id",
    "created_at",
    "updated_at",
    "disability_suffix",
];

/// The status history row a changed status adds to a known household: year, note, source.
type StatusHistoryRow = (i64, &'static str, &'static str);

/// Applies a chunk of households: checks against the registry, then writes the ones without
/// problems (the run is rolled back anyway if any problem was found).
pub(crate) async fn apply_groups<T: Tx>(
    tx: &mut T,
    username: String,
    state: &mut RunState,
    groups: &[Group],
) -> StoreResult<()> {
    let now = now_rfc3339();
    let village_keys: Vec<i64> = groups
        .iter()
        .flat_map(|g| g.rows.iter().map(|r| r.row.household.village.key()))
        .collect();
    check_villages(tx, state, village_keys).await?;

    let nos: Vec<String> = groups
        .iter()
        .map(|g| g.rows[0].row.household.household_no.clone())
        .collect();
    let existing_rows = lookup_in(
        tx,
        "SELECT id, household_no, village_key, attribute, identification_standard, main_cause, other_causes, identified_year, status, exit_year, last_batch_id FROM households WHERE household_no IN",
        &nos,
        &[Ty::I64, Ty::Str, Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::I64, Ty::Str, Ty::I64, Ty::I64],
    )
    .await?;
    let mut existing: HashMap<String, ExistingHousehold> = existing_rows
        .into_iter()
        .map(|r| {
            (
                r[1].string(),
                ExistingHousehold {
                    id: r[0].i64().unwrap_or_default(),
                    village_key: r[2].i64().unwrap_or_default(),
                    attribute: r[3].string(),
                    standard: r[4].string(),
                    main_cause: r[5].string(),
                    other_causes: r[6].string(),
                    identified_year: r[7].i64().unwrap_or_default(),
                    status: r[8].string(),
                    exit_year: r[9].i64(),
                    last_batch_id: r[10].i64(),
                },
            )
        })
        .collect();

    let member_nos: Vec<String> = groups
        .iter()
        .flat_map(|g| g.rows.iter().filter_map(|r| r.row.member.member_no.clone()))
        .collect();
    // A person in a household new to the registry can only clash with an active member of
    // another household. On SQLite the unique index on active ID numbers finds that while the
    // rows are inserted (and the clash is reported then, see below), so only members of known
    // households are looked up here; PostgreSQL aborts the transaction on a constraint error,
    // so there every number is looked up first.
    let look_up_all = tx.is_postgres();
    let ids: Vec<String> = groups
        .iter()
        .filter(|g| look_up_all || existing.contains_key(&g.rows[0].row.household.household_no))
        .flat_map(|g| {
            g.rows
                .iter()
                .filter_map(|r| r.row.member.id_number().map(|n| n.as_str().to_string()))
        })
        .collect();
    let member_select = "SELECT m.id, m.household_id, h.household_no, m.member_no, m.id_number, m.active, h.village_key FROM members m JOIN households h ON h.id = m.household_id WHERE";
    let tys = [
        Ty::I64,
        Ty::I64,
        Ty::Str,
        Ty::Str,
        Ty::Str,
        Ty::Bool,
        Ty::I64,
    ];
    let to_member = |r: Vec<Val>| ExistingMember {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        household_no: r[2].string(),
        village_key: r[6].i64().unwrap_or_default(),
        member_no: r[3].str().map(String::from),
        id_number: r[4].str().map(String::from),
        active: r[5].bool().unwrap_or(false),
    };
    let mut by_member_no: HashMap<String, ExistingMember> = HashMap::default();
    if !member_nos.is_empty() {
        for r in lookup_in(
            tx,
            &format!("{member_select} m.member_no IN"),
            &member_nos,
            &tys,
        )
        .await?
        {
            let m = to_member(r);
            by_member_no.insert(m.member_no.clone().unwrap_or_default(), m);
        }
    }
    let mut by_id: HashMap<String, ExistingMember> = HashMap::default();
    for r in lookup_in(
        tx,
        &format!("{member_select} m.active AND m.id_number IN"),
        &ids,
        &tys,
    )
    .await?
    {
        let m = to_member(r);
        by_id.insert(m.id_number.clone().unwrap_or_default(), m);
    }

    // Decide, group by group.
    let mut new_households: Vec<&Group> = Vec::new();
    let mut member_inserts: Vec<(&str, &ParsedRow)> = Vec::new(); // (household_no, row)
    let mut member_updates: Vec<(i64, &ParsedRow)> = Vec::new();
    let mut household_updates: Vec<(i64, &Group, Option<StatusHistoryRow>)> = Vec::new();
    let mut chunk_ids: HashMap<&str, &str> = HashMap::default(); // id number -> household_no within the chunk

    for g in groups {
        let first = &g.rows[0];
        let h = &first.row.household;
        let rows: Vec<&MemberRow> = g.rows.iter().map(|r| &r.row).collect();
        let mut bad = false;
        for (i, p) in check_household_group(&rows) {
            state.push(problem(g.rows[i].line, p));
            bad = true;
        }
        if state.invalid_villages.contains(&h.village.key()) {
            for r in &g.rows {
                state.push(RowProblem {
                    row: r.line,
                    column: "行政区划代码".into(),
                    value: h.village.to_string(),
                    message: format!("村级区划代码 {} 不存在或已撤销", h.village),
                });
            }
            bad = true;
        }
        let prior = existing.get(&h.household_no);
        let repeat_in_run = prior.is_some_and(|e| e.last_batch_id == Some(state.batch_id));
        // Scope, from the parsed village and the stored one: no writing outside it, and no
        // moving a household into or out of it. A village outside the scope is refused before
        // anything is said about the 户编号, so nothing here tells whether it exists.
        if !state.scope.allows_region(h.village) {
            state.push(RowProblem {
                row: first.line,
                column: "行政区划代码".into(),
                value: h.village.to_string(),
                message: format!("村 {} 不在您的管辖范围内", h.village),
            });
            continue;
        }
        if let Some(e) = prior
            && !village_key_in_scope(&state.scope, e.village_key)
        {
            // Taken elsewhere: the writer must hear it, bounded and audited (see `audit`).
            state.push(RowProblem {
                row: first.line,
                column: "户编号".into(),
                value: h.household_no.clone(),
                message: household_no_taken(&h.household_no),
            });
            state.clashes.push(IdentityClash {
                kind: "household_no",
                value: h.household_no.clone(),
                row: Some(first.line),
            });
            continue;
        }
        if let (Some(e), Some(rule), false) = (prior, state.status_rule, repeat_in_run)
            && let Some(p) = rule.problem(e, h)
        {
            state.push(RowProblem {
                row: first.line,
                ..p
            });
            continue;
        }
        if let Some(e) = prior.filter(|_| repeat_in_run) {
            // Rows of this household appeared earlier in the same file: they must agree.
            let stored = stored_fields(e, h);
            for column in household_differences(&stored, h) {
                state.push(RowProblem {
                    row: first.line,
                    column: column.into(),
                    value: String::new(),
                    message: format!("同一户（户编号 {}）各行的{column}不一致", h.household_no),
                });
                bad = true;
            }
        }
        // A new household's rows are all its members, so none of them being the head breaks
        // the rule already here (a second head was reported by `check_household_group`).
        let new_household = !repeat_in_run && prior.is_none();
        let heads = g.rows.iter().filter(|r| r.row.member.is_head()).count();
        if heads == 0
            && let Err(message) = check_head_count(&h.household_no, heads, new_household)
        {
            state.push(RowProblem {
                row: first.line,
                column: "与户主关系".into(),
                value: String::new(),
                message,
            });
            bad = true;
        }
        let household_id = prior.map(|e| e.id);
        let mut planned_inserts = Vec::new();
        let mut planned_updates = Vec::new();
        for r in &g.rows {
            let m = &r.row.member;
            let matched = m
                .member_no
                .as_ref()
                .and_then(|no| by_member_no.get(no))
                .or_else(|| {
                    m.id_number()
                        .and_then(|n| by_id.get(n.as_str()))
                        .filter(|e| Some(e.household_id) == household_id)
                });
            if let Some(e) = matched
                && Some(e.household_id) != household_id
            {
                let message = if village_key_in_scope(&state.scope, e.village_key) {
                    format!(
                        "人编号属于户编号 {} 的成员，不能用于户编号 {}",
                        e.household_no, h.household_no
                    )
                } else {
                    MEMBER_NO_TAKEN.to_string()
                };
                state.push(RowProblem {
                    row: r.line,
                    column: "人编号".into(),
                    value: m.member_no.clone().unwrap_or_default(),
                    message,
                });
                bad = true;
                continue;
            }
            if let Some(n) = m.id_number() {
                if let Some(other) = by_id
                    .get(n.as_str())
                    .filter(|e| e.active && Some(e.id) != matched.map(|x| x.id))
                    && other.household_no != h.household_no
                {
                    let message = person_taken(
                        state,
                        n,
                        r.line,
                        &other.household_no,
                        other.village_key,
                        &h.household_no,
                    );
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: n.masked(),
                        message,
                    });
                    bad = true;
                }
                if let Some(other_no) = chunk_ids.get(n.as_str())
                    && *other_no != h.household_no
                {
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: n.masked(),
                        message: format!(
                            "此人在本文件中同时出现在户编号 {other_no} 和 {}",
                            h.household_no
                        ),
                    });
                    bad = true;
                }
                chunk_ids.insert(n.as_str(), h.household_no.as_str());
            }
            match matched {
                Some(e) => planned_updates.push((e.id, r)),
                None if matches!(m.id, IdCell::Masked) => {
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: "****".into(),
                        message: "找不到此人编号对应的成员，脱敏的证件号码不能用于新增成员".into(),
                    });
                    bad = true;
                }
                None => planned_inserts.push(r),
            }
        }
        if prior.is_some_and(|e| {
            !repeat_in_run && e.status != STATUS_NOT_REGISTERED && !h.is_registered()
        }) {
            // Leaving the registry is 清退 (a removal with its reason), not a change of type.
            state.push(RowProblem {
                row: first.line,
                column: "户类型".into(),
                value: HOUSEHOLD_TYPE_NOT_REGISTERED.into(),
                message: format!(
                    "户编号 {} 已是建档立卡户，不能改为一般农户；如需退出建档立卡请办理清退",
                    h.household_no
                ),
            });
            bad = true;
        }
        if bad {
            continue;
        }
        match prior {
            None => {
                new_households.push(g);
                // Mark as seen in this run so a later chunk with the same 户编号 is compared.
                existing.insert(
                    h.household_no.clone(),
                    ExistingHousehold {
                        id: 0,
                        village_key: h.village.key(),
                        attribute: h.attribute.clone(),
                        standard: h.identification_standard.clone(),
                        main_cause: h.main_cause.clone(),
                        other_causes: h.other_causes.join(","),
                        identified_year: h.identified_year,
                        status: h.status.clone(),
                        exit_year: h.exit_year,
                        last_batch_id: Some(state.batch_id),
                    },
                );
            }
            Some(e) => {
                if !repeat_in_run {
                    let changed = e.status != h.status || e.exit_year != h.exit_year;
                    // An edit's change of a registered household was checked as a status change
                    // (see `StatusRule`) and is recorded as one; a file (or the identification
                    // of a 一般农户) carries history from before the system.
                    let history = match state.status_rule {
                        _ if !changed => None,
                        Some(rule) if e.status != STATUS_NOT_REGISTERED => {
                            Some((rule.year, "编辑", SOURCE_CHANGE))
                        }
                        _ => Some((
                            h.exit_year.unwrap_or(h.identified_year),
                            "导入更新",
                            SOURCE_IMPORT,
                        )),
                    };
                    household_updates.push((e.id, g, history));
                }
                state.touched.push((e.id, first.line));
            }
        }
        member_inserts.extend(
            planned_inserts
                .into_iter()
                .map(|r| (h.household_no.as_str(), r)),
        );
        member_updates.extend(planned_updates);
    }

    // Writes: bulk inserts (see `Tx::insert_rows`), the strings bound where they are.
    if !new_households.is_empty() {
        let causes: Vec<String> = new_households
            .iter()
            .map(|g| g.rows[0].row.household.other_causes.join(","))
            .collect();
        let mut cells: Vec<Cell> =
            Vec::with_capacity(new_households.len() * HOUSEHOLD_INSERT_COLUMNS.len());
        for (g, causes) in new_households.iter().zip(&causes) {
            let h = &g.rows[0].row.household;
            let head = g
                .rows
                .iter()
                .find(|r| r.row.member.is_head())
                .map(|r| &r.row.member);
            let county = *state
                .counties
                .entry(h.village.key())
                .or_insert_with(|| county_key(h.village));
            cells.extend([
                Cell::Str(&h.household_no),
                h.village.key().into(),
                county.into(),
                Cell::Str(h.group_name.as_deref().unwrap_or_default()),
                Cell::Str(&h.identification_standard),
                Cell::Str(&h.attribute),
                Cell::Str(&h.main_cause),
                Cell::Str(causes),
                h.identified_year.into(),
                Cell::Str(&h.status),
                h.exit_year.into(),
                h.housing_dangerous.into(),
                Cell::Str(h.housing_structure.as_deref().unwrap_or_default()),
                h.safe_water.into(),
                h.food_secure.into(),
                h.clothing_secure.into(),
                h.education_secure.into(),
                h.medical_secure.into(),
                h.housing_secure.into(),
                Cell::Str(head.and_then(|m| m.phone.as_deref()).unwrap_or_default()),
                Cell::Str(head.map(|m| m.name.as_str()).unwrap_or_default()),
                (g.rows.len() as i64).into(),
                state.batch_id.into(),
                Cell::Str(&now),
                Cell::Str(&now),
            ]);
        }
        let inserted = tx
            .insert_rows("households", &HOUSEHOLD_INSERT_COLUMNS, &cells, true)
            .await?;
        if let Some((_, message)) = inserted.conflicts.first() {
            return Err(StoreError::Conflict(format!("户编号重复：{message}")));
        }
        for (g, id) in new_households.iter().zip(&inserted.ids) {
            if let Some(e) = existing.get_mut(&g.rows[0].row.household.household_no) {
                e.id = *id;
            }
        }
        let mut history: Vec<Cell> = Vec::with_capacity(new_households.len() * 12);
        for (g, id) in new_households.iter().zip(&inserted.ids) {
            let h = &g.rows[0].row.household;
            // A 一般农户 was never identified as poor: no poverty status history.
            if !h.is_registered() {
                continue;
            }
            history.extend([
                Cell::I64(*id),
                Cell::Str(STATUS_NOT_OUT),
                h.identified_year.into(),
                Cell::Str("识别"),
                Cell::Str(&now),
                Cell::Str(&username),
                Cell::Str(SOURCE_IMPORT),
            ]);
            if h.status != STATUS_NOT_OUT {
                history.extend([
                    Cell::I64(*id),
                    Cell::Str(&h.status),
                    h.exit_year.unwrap_or(h.identified_year).into(),
                    Cell::Str(""),
                    Cell::Str(&now),
                    Cell::Str(&username),
                    Cell::Str(SOURCE_IMPORT),
                ]);
            }
        }
        tx.insert_rows(
            "household_status_history",
            &STATUS_HISTORY_COLUMNS,
            &history,
            false,
        )
        .await?;
        state.outcome.households_added += new_households.len() as u64;
    }
    // Households known to the registry: UPDATE_BATCH to a statement on PostgreSQL (see
    // `update_by_id`), not one each. There every statement on households runs the statement
    // triggers that note the summaries' dirty keys (migration 0016) once, joining the
    // statement's old and new rows: one statement per batch keeps that a few joins per import.
    let rows: Vec<Vec<Val>> = household_updates
        .iter()
        .map(|(id, g, _)| {
            let h = &g.rows[0].row.household;
            vec![
                (*id).into(),
                h.village.key().into(),
                county_key(h.village).into(),
                h.identification_standard.clone().into(),
                h.attribute.clone().into(),
                h.main_cause.clone().into(),
                h.other_causes.join(",").into(),
                h.identified_year.into(),
                h.status.clone().into(),
                h.exit_year.into(),
                Val::Str(h.group_name.clone()),
                state.batch_id.into(),
                now.clone().into(),
                bool_val(h.housing_dangerous),
                Val::Str(h.housing_structure.clone()),
                bool_val(h.safe_water),
                bool_val(h.food_secure),
                bool_val(h.clothing_secure),
                bool_val(h.education_secure),
                bool_val(h.medical_secure),
                bool_val(h.housing_secure),
            ]
        })
        .collect();
    update_by_id(
        tx,
        "households",
        HOUSEHOLD_UPDATE_SET,
        &HOUSEHOLD_UPDATE_TYPES,
        &rows,
    )
    .await?;
    let mut history: Vec<Cell> = Vec::new();
    for (id, g, status_changed) in &household_updates {
        let h = &g.rows[0].row.household;
        if let Some((year, note, source)) = *status_changed {
            history.extend([
                Cell::I64(*id),
                Cell::Str(&h.status),
                year.into(),
                Cell::Str(note),
                Cell::Str(&now),
                Cell::Str(&username),
                Cell::Str(source),
            ]);
        }
    }
    tx.insert_rows(
        "household_status_history",
        &STATUS_HISTORY_COLUMNS,
        &history,
        false,
    )
    .await?;
    state.outcome.households_updated += household_updates.len() as u64;
    if !member_inserts.is_empty() {
        let mut cells: Vec<Cell> =
            Vec::with_capacity(member_inserts.len() * MEMBER_INSERT_COLUMNS.len());
        for (no, r) in &member_inserts {
            let m = &r.row.member;
            let id = m.id_number();
            cells.extend([
                existing.get(*no).map(|e| e.id).unwrap_or_default().into(),
                m.member_no.as_deref().into(),
                Cell::Str(&m.name),
                Cell::Str(&m.sex),
                id.map(|n| n.as_str()).into(),
                id.is_some_and(|n| n.was_15_digit()).into(),
                Cell::Str(&m.relation),
                Cell::Str(&m.ethnicity),
                Cell::Str(&m.education),
                Cell::Str(&m.schooling),
                Cell::Str(&m.health),
                Cell::Str(&m.labour),
                m.migrant_months.into(),
                Cell::Str(m.phone.as_deref().unwrap_or_default()),
                state.batch_id.into(),
                Cell::Str(&now),
                Cell::Str(&now),
                m.disability.map(|d| d.suffix()).into(),
            ]);
        }
        let inserted = tx
            .insert_rows("members", &MEMBER_INSERT_COLUMNS, &cells, false)
            .await?;
        drop(cells);
        for (i, message) in &inserted.conflicts {
            let (no, r) = member_inserts[*i];
            let m = &r.row.member;
            match m.id_number().filter(|_| !message.contains("member_no")) {
                Some(n) => {
                    let other = tx
                        .rows(
                            "SELECT h.household_no, h.village_key FROM members m JOIN households h ON h.id = m.household_id WHERE m.active AND m.id_number = $1",
                            &[n.as_str().into()],
                            &[Ty::Str, Ty::I64],
                        )
                        .await?;
                    let (other, village_key) = other
                        .first()
                        .map(|r| (r[0].string(), r[1].i64().unwrap_or_default()))
                        .unwrap_or_default();
                    let message = person_taken(state, n, r.line, &other, village_key, no);
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: n.masked(),
                        message,
                    });
                }
                None => state.push(RowProblem {
                    row: r.line,
                    column: "人编号".into(),
                    value: m.member_no.clone().unwrap_or_default(),
                    message: MEMBER_NO_TAKEN.into(),
                }),
            }
        }
        state.outcome.members_added += (member_inserts.len() - inserted.conflicts.len()) as u64;
        // Every member carries a 人编号 from the moment it is written, so that an export (a GET)
        // never has to write one and a masked export imports back by number.
        let mut unnumbered: Vec<i64> = member_inserts
            .iter()
            .filter(|(_, r)| r.row.member.member_no.is_none())
            .filter_map(|(no, _)| existing.get(*no).map(|e| e.id))
            .collect();
        unnumbered.sort_unstable();
        unnumbered.dedup();
        assign_member_numbers(tx, &unnumbered).await?;
    }
    // Known members too (see `update_by_id`): on PostgreSQL a re-import of a large file would
    // otherwise cost one round trip per member.
    let rows: Vec<Vec<Val>> = member_updates
        .iter()
        .map(|(id, r)| {
            let m = &r.row.member;
            vec![
                (*id).into(),
                m.name.clone().into(),
                m.sex.clone().into(),
                Val::Str(m.id_number().map(|n| n.as_str().to_string())),
                m.id_number().is_some_and(|n| n.was_15_digit()).into(),
                m.relation.clone().into(),
                m.ethnicity.clone().into(),
                m.education.clone().into(),
                m.schooling.clone().into(),
                m.health.clone().into(),
                m.labour.clone().into(),
                m.migrant_months.into(),
                Val::Str(m.phone.clone()),
                Val::Str(m.member_no.clone()),
                state.batch_id.into(),
                now.clone().into(),
                Val::Str(m.disability.map(|d| d.suffix().to_string())),
            ]
        })
        .collect();
    state.outcome.members_updated += update_by_id(
        tx,
        "members",
        MEMBER_UPDATE_SET,
        &MEMBER_UPDATE_TYPES,
        &rows,
    )
    .await? as u64;
    // Rows of households seen earlier in this run add members: recount those at the end too.
    for g in groups {
        let no = &g.rows[0].row.household.household_no;
        if let Some(e) = existing.get(no)
            && e.last_batch_id == Some(state.batch_id)
            && !new_households.iter().any(|n| std::ptr::eq(*n, g))
            && e.id != 0
        {
            state.touched.push((e.id, g.rows[0].line));
        }
    }
    Ok(())
}

const MEMBER_NO_TAKEN: &str = "人编号已被其他成员使用，人编号不能重复";

/// The message for a person already an active member of another household: inside the scope it
/// names both 户编号; outside it names none and the clash is recorded (see `audit`).
fn person_taken(
    state: &mut RunState,
    n: &domain::id_number::IdNumber,
    line: u64,
    other_no: &str,
    other_village: i64,
    no: &str,
) -> String {
    if village_key_in_scope(&state.scope, other_village) {
        format!("此人已是户编号 {other_no} 的在册成员，不能同时属于户编号 {no}")
    } else {
        state.clashes.push(IdentityClash {
            kind: "id_number",
            value: n.masked(),
            row: Some(line),
        });
        PERSON_REGISTERED_ELSEWHERE.into()
    }
}

/// The columns a re-import sets on a known household, from the values `v.column2…` of
/// `update_by_id` (column1 is the id).
const HOUSEHOLD_UPDATE_SET: &str = "village_key = v.column2, county_key = v.column3, identification_standard = v.column4,
     attribute = v.column5, main_cause = v.column6, other_causes = v.column7, identified_year = v.column8,
     status = v.column9, exit_year = v.column10, group_name = COALESCE(v.column11, group_name),
     last_batch_id = v.column12, updated_at = v.column13, housing_dangerous = COALESCE(v.column14, housing_dangerous),
     housing_structure = COALESCE(v.column15, housing_structure), safe_water = COALESCE(v.column16, safe_water),
     food_secure = COALESCE(v.column17, food_secure), clothing_secure = COALESCE(v.column18, clothing_secure),
     education_secure = COALESCE(v.column19, education_secure), medical_secure = COALESCE(v.column20, medical_secure),
     housing_secure = COALESCE(v.column21, housing_secure)";
const HOUSEHOLD_UPDATE_TYPES: [&str; 21] = [
    "BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT",
    "TEXT", "BIGINT", "TEXT", "BOOLEAN", "TEXT", "BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN",
    "BOOLEAN", "BOOLEAN",
];

/// The columns a re-import sets on a known member (as above).
const MEMBER_UPDATE_SET: &str = "name = v.column2, sex = v.column3, id_number = COALESCE(v.column4, id_number),
     id_was_15 = CASE WHEN v.column4 IS NULL THEN id_was_15 ELSE v.column5 END, relation = v.column6,
     ethnicity = v.column7, education = v.column8, schooling = v.column9, health = v.column10, labour = v.column11,
     migrant_months = v.column12, phone = COALESCE(v.column13, phone), member_no = COALESCE(v.column14, member_no),
     last_batch_id = v.column15, updated_at = v.column16,
     disability_suffix = CASE WHEN v.column4 IS NULL THEN disability_suffix ELSE v.column17 END";
const MEMBER_UPDATE_TYPES: [&str; 17] = [
    "BIGINT", "TEXT", "TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT",
    "BIGINT", "TEXT", "TEXT", "BIGINT", "TEXT", "TEXT",
];

/// Updates rows by id (each row's first value), setting `set` from the row's values
/// (`v.column1`, `v.column2`, … in `set`). PostgreSQL: UPDATE_BATCH rows to one
/// `UPDATE … FROM (VALUES …)` statement, because a statement costs a round trip and, on
/// households, a run of the summary triggers. SQLite: one prepared statement per row, in process
/// and cheap, because SQLite plans `UPDATE … FROM` a VALUES list as a scan of the whole table.
/// An id given twice keeps its last row, as with one statement each. Returns the rows updated.
async fn update_by_id<T: Tx>(
    tx: &mut T,
    table: &str,
    set: &str,
    types: &[&str],
    rows: &[Vec<Val>],
) -> StoreResult<usize> {
    let mut last: HashMap<i64, usize> = HashMap::default();
    for (i, row) in rows.iter().enumerate() {
        last.insert(row[0].i64().unwrap_or_default(), i);
    }
    let rows: Vec<&Vec<Val>> = rows
        .iter()
        .enumerate()
        .filter(|(i, row)| last.get(&row[0].i64().unwrap_or_default()) == Some(i))
        .map(|(_, r)| r)
        .collect();
    if !tx.is_postgres() {
        let mut one_row = format!("UPDATE {table} SET ");
        let mut rest = set;
        while let Some(at) = rest.find("v.column") {
            one_row.push_str(&rest[..at]);
            rest = &rest[at + "v.column".len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            one_row.push('?');
            one_row.push_str(&rest[..digits]);
            rest = &rest[digits..];
        }
        one_row.push_str(rest);
        one_row.push_str(" WHERE id = ?1");
        for row in &rows {
            tx.exec(&one_row, row).await?;
        }
        return Ok(rows.len());
    }
    for batch in rows.chunks(UPDATE_BATCH) {
        // VALUES columns are column1, column2, … on PostgreSQL; the casts type them.
        let mut sql = format!("UPDATE {table} SET {set} FROM (VALUES ");
        let mut vals: Vec<Val> = Vec::with_capacity(batch.len() * types.len());
        for (n, row) in batch.iter().enumerate() {
            sql.push_str(if n == 0 { "(" } else { ", (" });
            for (i, ty) in types.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("CAST(${} AS {ty})", vals.len() + i + 1));
            }
            sql.push(')');
            vals.extend(row.iter().cloned());
        }
        sql.push_str(&format!(") AS v WHERE {table}.id = v.column1"));
        tx.exec(&sql, &vals).await?;
    }
    Ok(rows.len())
}

fn stored_fields(
    e: &ExistingHousehold,
    h: &domain::registry::HouseholdFields,
) -> domain::registry::HouseholdFields {
    let mut s = h.clone();
    if let Some(v) = RegionCode::from_key(e.village_key) {
        s.village = v;
    }
    s.attribute = e.attribute.clone();
    s.identification_standard = e.standard.clone();
    s.main_cause = e.main_cause.clone();
    s.other_causes = e
        .other_causes
        .split(',')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    s.identified_year = e.identified_year;
    s.status = e.status.clone();
    s.exit_year = e.exit_year;
    s
}

/// Recounts members and heads of households changed by this run; a household must end with
/// exactly one active 户主.
async fn finish_members<T: Tx>(tx: &mut T, state: &mut RunState) -> StoreResult<()> {
    state.touched.sort_unstable();
    state.touched.dedup_by_key(|t| t.0);
    let touched = std::mem::take(&mut state.touched);
    let chunks: Vec<Vec<(i64, u64)>> = touched.chunks(500).map(|c| c.to_vec()).collect();
    for chunk in chunks {
        let list = chunk
            .iter()
            .map(|t| t.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        tx.exec(
            &format!(
                "UPDATE households SET member_count = (SELECT COUNT(*) FROM members m WHERE m.household_id = households.id AND m.active),
                 head_name = COALESCE((SELECT MIN(m.name) FROM members m WHERE m.household_id = households.id AND m.active AND m.relation = '{HEAD_RELATION}'), head_name)
                 WHERE id IN ({list})"
            ),
            &[],
        )
        .await?;
        let heads = tx
            .rows(
                &format!(
                    "SELECT h.id, h.household_no, (SELECT COUNT(*) FROM members m WHERE m.household_id = h.id AND m.active AND m.relation = '{HEAD_RELATION}')
                     FROM households h WHERE h.id IN ({list})"
                ),
                &[],
                &[Ty::I64, Ty::Str, Ty::I64],
            )
            .await?;
        for r in heads {
            let n = r[2].i64().unwrap_or_default().max(0) as usize;
            if let Err(message) = check_head_count(&r[1].string(), n, true) {
                let line = chunk
                    .iter()
                    .find(|t| Some(t.0) == r[0].i64())
                    .map(|t| t.1)
                    .unwrap_or(1);
                state.push(RowProblem {
                    row: line,
                    column: "与户主关系".into(),
                    value: String::new(),
                    message: format!("导入后：{message}"),
                });
            }
        }
    }
    Ok(())
}

async fn apply_incomes<T: Tx>(
    tx: &mut T,
    state: &mut RunState,
    rows: Vec<(u64, IncomeRow)>,
) -> StoreResult<()> {
    let nos: Vec<String> = rows
        .iter()
        .map(|r| r.1.household_no.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found = lookup_in(
        tx,
        "SELECT id, household_no, member_count, village_key FROM households WHERE household_no IN",
        &nos,
        &[Ty::I64, Ty::Str, Ty::I64, Ty::I64],
    )
    .await?;
    // Households outside the scope are as unknown as those that do not exist.
    let households: HashMap<String, (i64, i64)> = found
        .into_iter()
        .filter(|r| village_key_in_scope(&state.scope, r[3].i64().unwrap_or_default()))
        .map(|r| {
            (
                r[1].string(),
                (
                    r[0].i64().unwrap_or_default(),
                    r[2].i64().unwrap_or_default(),
                ),
            )
        })
        .collect();
    let now = now_rfc3339();
    let mut seen: HashSet<(i64, i64)> = HashSet::default();
    for (line, r) in &rows {
        let Some(&(id, size)) = households.get(&r.household_no) else {
            state.push(RowProblem {
                row: *line,
                column: "户编号".into(),
                value: r.household_no.clone(),
                message: household_out_of_scope(&r.household_no),
            });
            continue;
        };
        if !seen.insert((id, r.year)) {
            state.push(RowProblem {
                row: *line,
                column: "年度".into(),
                value: r.year.to_string(),
                message: format!(
                    "户编号 {} 的 {} 年收入在本文件中出现多次",
                    r.household_no, r.year
                ),
            });
            continue;
        }
        let net = r.net().unwrap_or_default();
        let Some(pc) = per_capita(net, size) else {
            state.push(RowProblem {
                row: *line,
                column: "户编号".into(),
                value: r.household_no.clone(),
                message: format!("户编号 {} 没有在册成员，无法计算人均纯收入", r.household_no),
            });
            continue;
        };
        let vals: Vec<Val> = vec![
            id.into(),
            r.year.into(),
            r.wage.0.into(),
            r.business.0.into(),
            r.property.0.into(),
            r.transfer.0.into(),
            r.business_cost.0.into(),
            net.0.into(),
            size.into(),
            pc.0.into(),
            now.clone().into(),
        ];
        tx.exec(
            "INSERT INTO household_incomes (household_id, year, wage_fen, business_fen, property_fen, transfer_fen, business_cost_fen,
             net_fen, household_size, per_capita_fen, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (household_id, year) DO UPDATE SET wage_fen = excluded.wage_fen, business_fen = excluded.business_fen,
             property_fen = excluded.property_fen, transfer_fen = excluded.transfer_fen, business_cost_fen = excluded.business_cost_fen,
             net_fen = excluded.net_fen, household_size = excluded.household_size, per_capita_fen = excluded.per_capita_fen,
             recorded_at = excluded.recorded_at",
            &vals,
        )
        .await?;
        state.outcome.incomes_written += 1;
    }
    Ok(())
}

impl From<TabularError> for StoreError {
    fn from(e: TabularError) -> StoreError {
        StoreError::invalid_field("file", e.to_string())
    }
}

/// Gives the members of these households that have no 人编号 a generated, permanent one: "M" +
/// member id, or "M{id}-n" should that be taken by a number from a file. Migration 0011 gave
/// the members written before this rule the same numbers. Returns how many were numbered.
pub(crate) async fn assign_member_numbers<T: Tx>(
    tx: &mut T,
    household_ids: &[i64],
) -> StoreResult<u64> {
    let mut total = 0;
    for chunk in household_ids.chunks(1_000) {
        let list = chunk
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut numbered = false;
        for attempt in 0..5 {
            let number = if attempt == 0 {
                "'M' || CAST(members.id AS TEXT)".to_string()
            } else {
                format!("'M' || CAST(members.id AS TEXT) || '-{}'", attempt + 1)
            };
            total += tx
                .exec(
                    &format!(
                        "UPDATE members SET member_no = {number}
                         WHERE household_id IN ({list}) AND member_no IS NULL
                         AND NOT EXISTS (SELECT 1 FROM members o WHERE o.member_no = {number})"
                    ),
                    &[],
                )
                .await?;
            let left = tx
                .rows(
                    &format!("SELECT COUNT(*) FROM members WHERE household_id IN ({list}) AND member_no IS NULL"),
                    &[],
                    &[Ty::I64],
                )
                .await?;
            if left[0][0].i64().unwrap_or_default() == 0 {
                numbered = true;
                break;
            }
        }
        if !numbered {
            return Err(StoreError::Conflict(
                "无法为成员生成不重复的人编号，请联系管理员".into(),
            ));
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_household_is_in_scope_by_its_village() {
        let key = |c: &str| RegionCode::parse(c).unwrap().key();
        let county = Scope::Regions(vec![RegionCode::parse("441621").unwrap()]);
        assert!(village_key_in_scope(&county, key("441621103212")));
        assert!(!village_key_in_scope(&county, key("360730100001")));
        assert!(
            !village_key_in_scope(&Scope::Organisation(3), key("441621103212")),
            "organisations keep no registry"
        );
        assert!(village_key_in_scope(
            &Scope::Everything,
            key("360730100001")
        ));
        assert!(
            !village_key_in_scope(&county, -1),
            "an unreadable key is in no scope"
        );
    }
}
