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

use crate::regions::Progress;
use crate::sqlrt::{Cell, Tx, Ty, Val, insert_many, placeholders_for};
use crate::tabular::{Table, TabularError};
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::Caller;
use domain::codes::CodeTables;
use domain::registry::{
    CellProblem, CheckContext, ColumnMap, HOUSEHOLD_TYPE_NOT_REGISTERED, IdCell, IncomeRow,
    MemberRow, STATUS_NOT_OUT, STATUS_NOT_REGISTERED, check_household_group, check_income_row,
    check_member_row, household_differences, per_capita,
};
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
const STATUS_HISTORY_COLUMNS: [&str; 6] = [
    "household_id",
    "status",
    "year",
    "note",
    "recorded_at",
    "recorded_by",
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

fn problem(line: u64, p: CellProblem) -> RowProblem {
    RowProblem {
        row: line,
        column: p.column,
        value: p.value,
        message: p.message,
    }
}

fn today() -> (i32, u32, u32) {
    let now = now_rfc3339();
    let y = now[0..4].parse().unwrap_or(2026);
    let m = now[5..7].parse().unwrap_or(1);
    let d = now[8..10].parse().unwrap_or(1);
    (y, m, d)
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
        today: today(),
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
    let this_year = today().0 as i64;
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
        let tables = self.code_tables().await?;
        let closed_after = self.current_rules().await?.rules.registry_closed_after_year;
        let sha = table.sha256.clone();
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
            let r = import_in_tx(&mut tx, caller, options, kind, &mut receiver, &done_sender, progress).await;
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
                        tx.commit().await?;
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
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut state = begin_batch(&mut tx, caller.username.clone(), &options, "members").await?;
            apply_groups(&mut tx, caller.username.clone(), &mut state, &groups).await?;
            finish_members(&mut tx, &mut state).await?;
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
                return Err(StoreError::ImportRejected(state.outcome.problems));
            }
            tx.commit().await?;
            Ok(state.outcome)
        })
    }
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
    username: String,
    options: &ImportOptions,
    kind: &str,
) -> StoreResult<RunState> {
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
    })
}

async fn import_in_tx<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    options: &ImportOptions,
    kind: &str,
    receiver: &mut tokio::sync::mpsc::Receiver<Chunk>,
    done: &std::sync::mpsc::Sender<Vec<Group>>,
    progress: &dyn Progress,
) -> StoreResult<ImportOutcome> {
    let mut state = begin_batch(tx, caller.username.clone(), options, kind).await?;
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
                apply_groups(tx, caller.username.clone(), &mut state, &groups).await?;
                // Freed by the reader (if it has finished, here).
                let _ = done.send(groups);
                progress.advance(seen);
            }
            Chunk::Incomes(rows, problems, seen) => {
                problems.into_iter().for_each(|p| state.push(p));
                state.outcome.rows += seen;
                apply_incomes(tx, &mut state, rows).await?;
                progress.advance(seen);
            }
        }
    }
    if kind == "members" {
        finish_members(tx, &mut state).await?;
    }
    let o = &state.outcome;
    tx.exec(
        "UPDATE import_batches SET rows = $1, households_added = $2, households_updated = $3, members_added = $4, members_updated = $5 WHERE id = $6",
        &[(o.rows as i64).into(), (o.households_added as i64).into(), (o.households_updated as i64).into(),
          (o.members_added as i64).into(), (o.members_updated as i64).into(), state.batch_id.into()],
    )
    .await?;
    state.outcome.problems.sort_by_key(|p| p.row);
    Ok(state.outcome)
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

const MEMBER_INSERT_COLUMNS: [&str; 17] = [
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
];

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
    let member_select = "SELECT m.id, m.household_id, h.household_no, m.member_no, m.id_number, m.active FROM members m JOIN households h ON h.id = m.household_id WHERE";
    let tys = [Ty::I64, Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Bool];
    let to_member = |r: Vec<Val>| ExistingMember {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        household_no: r[2].string(),
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
    let mut household_updates: Vec<(i64, &Group, bool)> = Vec::new(); // (id, group, status changed)
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
        if !repeat_in_run && prior.is_none() && !g.rows.iter().any(|r| r.row.member.is_head()) {
            state.push(RowProblem {
                row: first.line,
                column: "与户主关系".into(),
                value: String::new(),
                message: format!("户编号 {} 没有户主，每户须有且只有一个户主", h.household_no),
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
                state.push(RowProblem {
                    row: r.line,
                    column: "人编号".into(),
                    value: m.member_no.clone().unwrap_or_default(),
                    message: format!(
                        "人编号属于户编号 {} 的成员，不能用于户编号 {}",
                        e.household_no, h.household_no
                    ),
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
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: n.masked(),
                        message: format!(
                            "此人已是户编号 {} 的在册成员，不能同时属于户编号 {}",
                            other.household_no, h.household_no
                        ),
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
                    household_updates.push((
                        e.id,
                        g,
                        e.status != h.status || e.exit_year != h.exit_year,
                    ));
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
            ]);
            if h.status != STATUS_NOT_OUT {
                history.extend([
                    Cell::I64(*id),
                    Cell::Str(&h.status),
                    h.exit_year.unwrap_or(h.identified_year).into(),
                    Cell::Str(""),
                    Cell::Str(&now),
                    Cell::Str(&username),
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
    // `update_by_id`), not one each. There every statement on households runs the summary
    // triggers (migration 0009) once, and a summary row changed by many statements of one
    // transaction costs more to change each time (its row versions pile up until the commit), so
    // a re-import that changes many households would again take time growing with their square.
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
        if *status_changed {
            history.extend([
                Cell::I64(*id),
                Cell::Str(&h.status),
                h.exit_year.unwrap_or(h.identified_year).into(),
                Cell::Str("导入更新"),
                Cell::Str(&now),
                Cell::Str(&username),
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
                            "SELECT h.household_no FROM members m JOIN households h ON h.id = m.household_id WHERE m.active AND m.id_number = $1",
                            &[n.as_str().into()],
                            &[Ty::Str],
                        )
                        .await?;
                    let other = other.first().map(|r| r[0].string()).unwrap_or_default();
                    state.push(RowProblem {
                        row: r.line,
                        column: "证件号码".into(),
                        value: n.masked(),
                        message: format!(
                            "此人已是户编号 {other} 的在册成员，不能同时属于户编号 {no}"
                        ),
                    });
                }
                None => state.push(RowProblem {
                    row: r.line,
                    column: "人编号".into(),
                    value: m.member_no.clone().unwrap_or_default(),
                    message: "人编号已被其他成员使用，人编号不能重复".into(),
                }),
            }
        }
        state.outcome.members_added += (member_inserts.len() - inserted.conflicts.len()) as u64;
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
     last_batch_id = v.column15, updated_at = v.column16";
const MEMBER_UPDATE_TYPES: [&str; 16] = [
    "BIGINT", "TEXT", "TEXT", "TEXT", "BOOLEAN", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT",
    "BIGINT", "TEXT", "TEXT", "BIGINT", "TEXT",
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
                 head_name = COALESCE((SELECT MIN(m.name) FROM members m WHERE m.household_id = households.id AND m.active AND m.relation = '01'), head_name)
                 WHERE id IN ({list})"
            ),
            &[],
        )
        .await?;
        let heads = tx
            .rows(
                &format!(
                    "SELECT h.id, h.household_no, (SELECT COUNT(*) FROM members m WHERE m.household_id = h.id AND m.active AND m.relation = '01')
                     FROM households h WHERE h.id IN ({list})"
                ),
                &[],
                &[Ty::I64, Ty::Str, Ty::I64],
            )
            .await?;
        for r in heads {
            let n = r[2].i64().unwrap_or_default();
            if n != 1 {
                let line = chunk
                    .iter()
                    .find(|t| Some(t.0) == r[0].i64())
                    .map(|t| t.1)
                    .unwrap_or(1);
                state.push(RowProblem {
                    row: line,
                    column: "与户主关系".into(),
                    value: String::new(),
                    message: format!(
                        "户编号 {} 导入后有 {n} 个户主，每户须有且只有一个户主",
                        r[1].string()
                    ),
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
        "SELECT id, household_no, member_count, removed_year FROM households WHERE household_no IN",
        &nos,
        &[Ty::I64, Ty::Str, Ty::I64, Ty::I64],
    )
    .await?;
    let households: HashMap<String, (i64, i64)> = found
        .into_iter()
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
                message: format!("户编号 {} 不在建档立卡名单中", r.household_no),
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
