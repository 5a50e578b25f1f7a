//! The fund ledger in the database. The rules are domain::ledger's; this module loads the state
//! they need, serialises appends so the hash chain never forks (SQLite: one `BEGIN IMMEDIATE`
//! writer; PostgreSQL: a transaction-scoped advisory lock taken before reading the head), and
//! replays the whole ledger for `verify`. The table refuses UPDATE, DELETE and TRUNCATE itself.

use crate::projects::{
    ProjectMoney, parse_status, project_scope, project_scope_clause, project_write_clause,
};
use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::Caller;
use domain::ledger::{
    Draft, Entry, EntryFacts, FundSource, Ledger, ProjectFacts, ReversalDraft, TxType,
    Verification, Verifier,
};
use domain::money::Fen;
use domain::project::{self, Progress};
use domain::validation::{FieldError, Problems};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// The key of the PostgreSQL advisory lock that serialises appends ("bangfu" in ASCII).
pub const LEDGER_LOCK_KEY: i64 = 0x6261_6e67_6675;

/// A ledger entry as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub id: i64,
    #[serde(rename = "type")]
    pub tx_type: TxType,
    pub type_name: &'static str,
    /// Fen; negative for a reversal.
    pub amount: Fen,
    pub amount_yuan: String,
    pub value_date: String,
    pub provider_id: i64,
    pub provider_name: String,
    pub provider_shenzhen: bool,
    pub receiver_id: i64,
    pub receiver_name: String,
    pub receiver_shenzhen: bool,
    pub fund_source: FundSource,
    pub fund_source_name: &'static str,
    /// 财政 or 社会.
    pub fund_category: &'static str,
    pub project_id: i64,
    pub project_name: String,
    pub voucher_no: String,
    pub memo: String,
    pub passes_on: Option<i64>,
    pub reverses: Option<i64>,
    pub reversed_by: Option<i64>,
    pub over_commitment_reason: Option<String>,
    /// Counted as invested (投入): Shenzhen side → recipient side, once per chain.
    pub invested: bool,
    /// For a 资金到账: the Shenzhen side's disbursement it receives (not counted again).
    pub receives: Option<i64>,
    /// For a disbursement: the live 资金到账 that receives it.
    pub received_by: Option<i64>,
    pub recorded_at: String,
    pub recorded_by: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A transaction as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransactionInput {
    #[serde(default, rename = "type")]
    pub tx_type: String,
    /// Fen, a positive integer.
    pub amount: Option<i64>,
    #[serde(default)]
    pub value_date: String,
    pub provider_id: Option<i64>,
    pub receiver_id: Option<i64>,
    #[serde(default)]
    pub fund_source: String,
    pub project_id: Option<i64>,
    pub voucher_no: Option<String>,
    pub memo: Option<String>,
    /// The entry this one passes on (city → district → county chains).
    pub passes_on: Option<i64>,
    /// A disbursement above the project's commitments, deliberately; needs a reason.
    pub over_commitment: Option<bool>,
    pub over_commitment_reason: Option<String>,
    /// For a 资金到账: the Shenzhen side's disbursement (already on the ledger) it receives.
    pub receives: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReversalInput {
    #[serde(default)]
    pub reason: String,
    /// Defaults to today.
    pub value_date: Option<String>,
    pub voucher_no: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    pub project_id: Option<i64>,
    /// As provider or receiver.
    pub organisation_id: Option<i64>,
    pub tx_type: Option<TxType>,
    pub year: Option<i64>,
    pub invested: Option<bool>,
}

/// Earlier postings of the same import that a posting names; their ids exist only once they
/// are appended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Links {
    /// The posting an entry passes on, or a reversal reverses.
    pub upstream: Option<usize>,
    /// The disbursement a 资金到账 receives.
    pub receives: Option<usize>,
}

/// One thing to append.
#[derive(Debug, Clone)]
pub enum Posting {
    Entry(Draft),
    Reversal(ReversalDraft),
}

fn clean(s: Option<&str>, max: usize, field: &str, what: &str, problems: &mut Problems) -> String {
    let t = domain::text::normalize(s.unwrap_or_default());
    if t.chars().count() > max {
        problems.push(field, format!("{what}不能超过 {max} 个字"));
    }
    t
}

impl TransactionInput {
    /// Parses the fields; the ledger rules are checked afterwards, against the database.
    pub fn to_draft(&self) -> Result<Draft, Vec<FieldError>> {
        let mut p = Problems::default();
        let tx_type = TxType::parse_loose(&self.tx_type);
        if tx_type.is_none() {
            p.push(
                "type",
                format!(
                    "交易类型“{}”无效，应为：{}",
                    self.tx_type,
                    TxType::choices_zh()
                ),
            );
        }
        let fund_source = FundSource::parse_loose(&self.fund_source);
        if fund_source.is_none() {
            p.push(
                "fund_source",
                format!(
                    "资金来源“{}”无效，应为：{}",
                    self.fund_source,
                    FundSource::choices_zh()
                ),
            );
        }
        if self.amount.is_none() {
            p.push("amount", "请填写金额（单位：分，正整数）");
        }
        let value_date = match project::parse_date(&self.value_date) {
            Ok(d) => Some(d),
            Err(e) => {
                p.push("value_date", format!("记账日期：{e}"));
                None
            }
        };
        for (field, v, what) in [
            ("provider_id", self.provider_id, "付款方机构"),
            ("receiver_id", self.receiver_id, "收款方机构"),
            ("project_id", self.project_id, "项目"),
        ] {
            if v.is_none() {
                p.push(field, format!("请填写{what}编号"));
            }
        }
        let voucher_no = clean(
            self.voucher_no.as_deref(),
            64,
            "voucher_no",
            "凭证号",
            &mut p,
        );
        let memo = clean(self.memo.as_deref(), 500, "memo", "摘要", &mut p);
        let reason = self
            .over_commitment_reason
            .as_deref()
            .map(domain::text::normalize)
            .unwrap_or_default();
        let over_commitment_reason = match self.over_commitment {
            Some(true) => Some(reason),
            _ if !reason.is_empty() => Some(reason),
            _ => None,
        };
        p.into_result()?;
        Ok(Draft {
            tx_type: tx_type.expect("checked"),
            amount: Fen(self.amount.expect("checked")),
            value_date: value_date.expect("checked"),
            provider_id: self.provider_id.expect("checked"),
            receiver_id: self.receiver_id.expect("checked"),
            fund_source: fund_source.expect("checked"),
            project_id: self.project_id.expect("checked"),
            voucher_no,
            memo,
            passes_on: self.passes_on,
            over_commitment_reason,
            receives: self.receives,
        })
    }
}

impl ReversalInput {
    pub fn to_draft(&self, reverses: i64) -> Result<ReversalDraft, Vec<FieldError>> {
        let mut p = Problems::default();
        let value_date = match self.value_date.as_deref().filter(|s| !s.trim().is_empty()) {
            None => Some(crate::today().to_string()),
            Some(s) => match project::parse_date(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    p.push("value_date", format!("冲销日期：{e}"));
                    None
                }
            },
        };
        let reason = clean(Some(&self.reason), 500, "reason", "冲销原因", &mut p);
        if reason.is_empty() {
            p.push("reason", "请说明冲销原因");
        }
        let voucher_no = clean(
            self.voucher_no.as_deref(),
            64,
            "voucher_no",
            "凭证号",
            &mut p,
        );
        p.into_result()?;
        Ok(ReversalDraft {
            reverses,
            value_date: value_date.expect("checked"),
            voucher_no,
            reason,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Appending, written once over either engine's transaction.

const ENTRY_COLUMNS: &str = "id, tx_type, amount, value_date, provider_id, receiver_id, provider_shenzhen, receiver_shenzhen,
    fund_source, project_id, voucher_no, memo, passes_on, reverses, over_commitment_reason, invested, recorded_at, recorded_by,
    prev_hash, hash, receives";

const ENTRY_TYPES: [Ty; 21] = [
    Ty::I64,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::Bool,
    Ty::Bool,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Bool,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
];

fn entry_from_vals(v: &[Val]) -> Entry {
    Entry {
        id: v[0].i64().unwrap_or_default(),
        tx_type: v[1].string(),
        amount: v[2].i64().unwrap_or_default(),
        value_date: v[3].string(),
        provider_id: v[4].i64().unwrap_or_default(),
        receiver_id: v[5].i64().unwrap_or_default(),
        provider_shenzhen: v[6].bool().unwrap_or_default(),
        receiver_shenzhen: v[7].bool().unwrap_or_default(),
        fund_source: v[8].string(),
        project_id: v[9].i64().unwrap_or_default(),
        voucher_no: v[10].string(),
        memo: v[11].string(),
        passes_on: v[12].i64(),
        reverses: v[13].i64(),
        over_commitment_reason: v[14].str().map(str::to_string),
        invested: v[15].bool().unwrap_or_default(),
        recorded_at: v[16].string(),
        recorded_by: v[17].string(),
        prev_hash: v[18].string(),
        hash: v[19].string(),
        receives: v[20].i64(),
    }
}

fn entry_vals(e: &Entry) -> Vec<Val> {
    vec![
        e.id.into(),
        e.tx_type.clone().into(),
        e.amount.into(),
        e.value_date.clone().into(),
        e.provider_id.into(),
        e.receiver_id.into(),
        e.provider_shenzhen.into(),
        e.receiver_shenzhen.into(),
        e.fund_source.clone().into(),
        e.project_id.into(),
        e.voucher_no.clone().into(),
        e.memo.clone().into(),
        e.passes_on.into(),
        e.reverses.into(),
        e.over_commitment_reason.clone().into(),
        e.invested.into(),
        e.recorded_at.clone().into(),
        e.recorded_by.clone().into(),
        e.prev_hash.clone().into(),
        e.hash.clone().into(),
        e.receives.into(),
    ]
}

/// The one definition of the ledger sums a project's money is made of: the rules' `Progress`
/// (appends), [`ProjectMoney`] (the project API, pages and exports) and the progress report all
/// read these rows and fold them with [`MoneySums::add`]. Per project, entry type, whether the
/// entry repeats money counted upstream (`Entry::repeats_upstream`: it passes money on, or
/// receives a recorded disbursement) and whether it counts as invested; `condition` selects entries of
/// `ledger_entries e` (a project, a page of projects, a range of value dates).
pub(crate) fn money_sums_sql(condition: &str) -> String {
    format!(
        "SELECT e.project_id, e.tx_type, CAST(CASE WHEN e.passes_on IS NULL AND e.receives IS NULL THEN 0 ELSE 1 END AS BIGINT),
         CAST(CASE WHEN e.invested THEN 1 ELSE 0 END AS BIGINT), CAST(SUM(e.amount) AS BIGINT)
         FROM ledger_entries e WHERE {condition}
         GROUP BY e.project_id, e.tx_type, CASE WHEN e.passes_on IS NULL AND e.receives IS NULL THEN 0 ELSE 1 END, CASE WHEN e.invested THEN 1 ELSE 0 END"
    )
}

/// The column types of [`money_sums_sql`] for `Tx::rows`.
const MONEY_SUMS_TYPES: [Ty; 5] = [Ty::I64, Ty::Str, Ty::I64, Ty::I64, Ty::I64];

/// A row of [`money_sums_sql`]: project, type, repeats upstream (0/1), invested (0/1), sum in fen.
pub(crate) type MoneySumsRow = (i64, String, i64, i64, i64);

/// One project's figures folded from rows of [`money_sums_sql`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MoneySums {
    pub totals: Progress,
    pub invested: Fen,
}

impl MoneySums {
    pub(crate) fn add(&mut self, kind: &str, repeats_upstream: i64, invested: i64, sum: i64) {
        if let Some(k) = TxType::parse(kind) {
            domain::ledger::add_to_totals(&mut self.totals, k, repeats_upstream == 1, Fen(sum));
        }
        if invested == 1 {
            self.invested = self.invested + Fen(sum);
        }
    }

    pub(crate) fn money(&self) -> ProjectMoney {
        ProjectMoney::from_progress(self.totals, self.invested)
    }

    /// Rows of several projects → each project's sums.
    pub(crate) fn by_project(
        rows: impl IntoIterator<Item = MoneySumsRow>,
    ) -> HashMap<i64, MoneySums> {
        let mut out: HashMap<i64, MoneySums> = HashMap::new();
        for (project, kind, repeats_upstream, invested, sum) in rows {
            out.entry(project)
                .or_default()
                .add(&kind, repeats_upstream, invested, sum);
        }
        out
    }
}

/// Takes the ledger's write lock. On SQLite the transaction was begun IMMEDIATE, which already
/// is the database's single write lock.
async fn lock<T: Tx>(tx: &mut T) -> StoreResult<()> {
    if tx.is_postgres() {
        tx.exec(
            "SELECT pg_advisory_xact_lock($1)",
            &[LEDGER_LOCK_KEY.into()],
        )
        .await?;
    }
    Ok(())
}

async fn head<T: Tx>(tx: &mut T) -> StoreResult<(i64, String)> {
    let rows = tx
        .rows(
            "SELECT id, hash FROM ledger_entries ORDER BY id DESC LIMIT 1",
            &[],
            &[Ty::I64, Ty::Str],
        )
        .await?;
    Ok(match rows.first() {
        Some(r) => (r[0].i64().unwrap_or_default(), r[1].string()),
        None => (0, domain::ledger::GENESIS_HASH.to_string()),
    })
}

async fn ensure_org<T: Tx>(tx: &mut T, ledger: &mut Ledger, id: i64) -> StoreResult<()> {
    if let std::collections::hash_map::Entry::Vacant(slot) = ledger.organisations.entry(id) {
        let rows = tx
            .rows(
                "SELECT shenzhen_side FROM organisations WHERE id = $1",
                &[id.into()],
                &[Ty::Bool],
            )
            .await?;
        if let Some(r) = rows.first() {
            slot.insert(r[0].bool().unwrap_or(false));
        }
    }
    Ok(())
}

async fn ensure_project<T: Tx>(
    tx: &mut T,
    ledger: &mut Ledger,
    id: i64,
    scope_sql: &str,
) -> StoreResult<()> {
    if ledger.projects.contains_key(&id) {
        return Ok(());
    }
    let sql = format!("SELECT p.approved_on, p.status FROM projects p WHERE p.id = $1{scope_sql}");
    let rows = tx.rows(&sql, &[id.into()], &[Ty::Str, Ty::Str]).await?;
    if let Some(r) = rows.first() {
        let rows = tx
            .rows(
                &money_sums_sql("e.project_id = $1"),
                &[id.into()],
                &MONEY_SUMS_TYPES,
            )
            .await?;
        let mut sums = MoneySums::default();
        for r in &rows {
            sums.add(
                r[1].str().unwrap_or_default(),
                r[2].i64().unwrap_or_default(),
                r[3].i64().unwrap_or_default(),
                r[4].i64().unwrap_or_default(),
            );
        }
        let totals = sums.totals;
        ledger.projects.insert(
            id,
            ProjectFacts {
                approved_on: r[0].string(),
                status: parse_status(r[1].str().unwrap_or_default()),
                totals,
            },
        );
    }
    Ok(())
}

/// Loads an entry and everything upstream of it along `passes_on`.
async fn ensure_chain<T: Tx>(
    tx: &mut T,
    ledger: &mut Ledger,
    mut id: Option<i64>,
) -> StoreResult<()> {
    while let Some(i) = id {
        if let Some(f) = ledger.entries.get(&i) {
            id = f.entry.passes_on;
            continue;
        }
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE id = $1");
        let rows = tx.rows(&sql, &[i.into()], &ENTRY_TYPES).await?;
        let Some(r) = rows.first() else { return Ok(()) };
        let entry = entry_from_vals(r);
        let passed = tx
            .rows(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE passes_on = $1",
                &[i.into()],
                &[Ty::I64],
            )
            .await?;
        let reversed = tx
            .rows(
                "SELECT id FROM ledger_entries WHERE reverses = $1",
                &[i.into()],
                &[Ty::I64],
            )
            .await?;
        let received = tx
            .rows(
                "SELECT r.id FROM ledger_entries r WHERE r.receives = $1 AND r.reverses IS NULL
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries c WHERE c.reverses = r.id)",
                &[i.into()],
                &[Ty::I64],
            )
            .await?;
        id = entry.passes_on;
        ledger.entries.insert(
            i,
            EntryFacts {
                entry,
                passed_on: Fen(passed.first().and_then(|r| r[0].i64()).unwrap_or(0)),
                reversed_by: reversed.first().and_then(|r| r[0].i64()),
                received_by: received.first().and_then(|r| r[0].i64()),
            },
        );
    }
    Ok(())
}

/// Appends postings in order inside `tx` (lock taken here). A refused posting is reported and
/// skipped; the caller decides whether to commit what was accepted (single postings and
/// all-or-nothing imports roll back on any refusal).
///
/// `links[i].upstream = Some(j)` makes posting i pass on (or reverse) whatever posting j
/// became, `links[i].receives = Some(j)` makes it receive it: an import names earlier rows of
/// its own file, whose ids exist only once they are appended.
pub(crate) async fn append_all<T: Tx>(
    tx: &mut T,
    postings: &[Posting],
    links: &[Links],
    scope_sql: &str,
    own_org: Option<i64>,
    recorded_by: &str,
) -> StoreResult<Vec<Result<Entry, Vec<FieldError>>>> {
    lock(tx).await?;
    let (mut head_id, mut head_hash) = head(tx).await?;
    let now = now_rfc3339();
    let mut ledger = Ledger::default();
    let mut out: Vec<Result<Entry, Vec<FieldError>>> = Vec::with_capacity(postings.len());
    let insert_sql = format!(
        "INSERT INTO ledger_entries ({ENTRY_COLUMNS}) VALUES ({})",
        crate::sqlrt::placeholders(1, 21)
    );
    for (i, posting) in postings.iter().enumerate() {
        let mut linked = posting.clone();
        let link = links.get(i).copied().unwrap_or_default();
        let upstream_field = if matches!(posting, Posting::Entry(_)) {
            "passes_on"
        } else {
            "reverses"
        };
        let mut unresolved = None;
        for (j, field) in [(link.upstream, upstream_field), (link.receives, "receives")]
            .into_iter()
            .filter_map(|(j, f)| j.map(|j| (j, f)))
        {
            let Some(Ok(target)) = out.get(j) else {
                unresolved = Some(FieldError::new(
                    field,
                    format!("所引用的第 {} 笔交易未通过检查", j + 1),
                ));
                break;
            };
            match (&mut linked, field) {
                (Posting::Entry(d), "receives") => d.receives = Some(target.id),
                (Posting::Entry(d), _) => d.passes_on = Some(target.id),
                (Posting::Reversal(r), _) => r.reverses = target.id,
            }
        }
        if let Some(problem) = unresolved {
            out.push(Err(vec![problem]));
            continue;
        }
        let posting = &linked;
        let result = match posting {
            Posting::Entry(d) => {
                ensure_org(tx, &mut ledger, d.provider_id).await?;
                ensure_org(tx, &mut ledger, d.receiver_id).await?;
                ensure_project(tx, &mut ledger, d.project_id, scope_sql).await?;
                ensure_chain(tx, &mut ledger, d.passes_on).await?;
                ensure_chain(tx, &mut ledger, d.receives).await?;
                let mut problems = ledger.check(d);
                if let Some(own) = own_org
                    && d.provider_id != own
                    && d.receiver_id != own
                {
                    problems.push(FieldError::new(
                        "provider_id",
                        "机构用户只能登记本机构付出或收到的资金（付款方或收款方须为本机构）",
                    ));
                }
                if problems.is_empty() {
                    Ok(ledger.entry_from_draft(d, head_id + 1, &now, recorded_by, &head_hash))
                } else {
                    Err(problems)
                }
            }
            Posting::Reversal(r) => {
                ensure_chain(tx, &mut ledger, Some(r.reverses)).await?;
                // A reversed receipt frees its disbursement: that entry's state must be known.
                let receives = ledger
                    .entries
                    .get(&r.reverses)
                    .and_then(|f| f.entry.receives);
                ensure_chain(tx, &mut ledger, receives).await?;
                if let Some(orig) = ledger.entries.get(&r.reverses).map(|f| f.entry.project_id) {
                    ensure_project(tx, &mut ledger, orig, scope_sql).await?;
                    if !ledger.projects.contains_key(&orig) {
                        // Outside the caller's scope: as if it did not exist.
                        ledger.entries.remove(&r.reverses);
                    }
                }
                let problems = ledger.check_reversal(r);
                if problems.is_empty() {
                    Ok(ledger.entry_from_reversal(r, head_id + 1, &now, recorded_by, &head_hash))
                } else {
                    Err(problems)
                }
            }
        };
        if let Ok(e) = &result {
            tx.exec(&insert_sql, &entry_vals(e)).await?;
            ledger.apply(e);
            head_id = e.id;
            head_hash = e.hash.clone();
        }
        out.push(result);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(sqlx::FromRow)]
struct TransactionRow {
    id: i64,
    tx_type: String,
    amount: i64,
    value_date: String,
    provider_id: i64,
    receiver_id: i64,
    provider_shenzhen: bool,
    receiver_shenzhen: bool,
    fund_source: String,
    project_id: i64,
    voucher_no: String,
    memo: String,
    passes_on: Option<i64>,
    reverses: Option<i64>,
    over_commitment_reason: Option<String>,
    invested: bool,
    recorded_at: String,
    recorded_by: String,
    prev_hash: String,
    hash: String,
    receives: Option<i64>,
    received_by: Option<i64>,
    provider_name: String,
    receiver_name: String,
    project_name: String,
    reversed_by: Option<i64>,
}

const TRANSACTION_SELECT: &str = "SELECT e.id, e.tx_type, e.amount, e.value_date, e.provider_id, e.receiver_id, e.provider_shenzhen,
    e.receiver_shenzhen, e.fund_source, e.project_id, e.voucher_no, e.memo, e.passes_on, e.reverses, e.over_commitment_reason,
    e.invested, e.recorded_at, e.recorded_by, e.prev_hash, e.hash, e.receives,
    (SELECT r.id FROM ledger_entries r WHERE r.receives = e.id AND r.reverses IS NULL
     AND NOT EXISTS (SELECT 1 FROM ledger_entries c WHERE c.reverses = r.id)) AS received_by, po.name AS provider_name, ro.name AS receiver_name,
    p.name AS project_name, (SELECT r.id FROM ledger_entries r WHERE r.reverses = e.id) AS reversed_by
    FROM ledger_entries e JOIN organisations po ON po.id = e.provider_id JOIN organisations ro ON ro.id = e.receiver_id
    JOIN projects p ON p.id = e.project_id";

impl TransactionRow {
    fn into_transaction(self) -> Transaction {
        let tx_type = TxType::parse(&self.tx_type).unwrap_or(TxType::Disbursement);
        let fund_source = FundSource::parse(&self.fund_source).unwrap_or(FundSource::Fiscal);
        Transaction {
            id: self.id,
            tx_type,
            type_name: tx_type.name_zh(),
            amount: Fen(self.amount),
            amount_yuan: Fen(self.amount).yuan_string(),
            value_date: self.value_date,
            provider_id: self.provider_id,
            provider_name: self.provider_name,
            provider_shenzhen: self.provider_shenzhen,
            receiver_id: self.receiver_id,
            receiver_name: self.receiver_name,
            receiver_shenzhen: self.receiver_shenzhen,
            fund_source,
            fund_source_name: fund_source.name_zh(),
            fund_category: fund_source.category_zh(),
            project_id: self.project_id,
            project_name: self.project_name,
            voucher_no: self.voucher_no,
            memo: self.memo,
            passes_on: self.passes_on,
            reverses: self.reverses,
            reversed_by: self.reversed_by,
            over_commitment_reason: self.over_commitment_reason,
            invested: self.invested,
            receives: self.receives,
            received_by: self.received_by,
            recorded_at: self.recorded_at,
            recorded_by: self.recorded_by,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// The head of the chain: what `bangfu ledger verify` prints and what can be published.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerHead {
    pub count: i64,
    pub head_id: Option<i64>,
    pub head_hash: String,
}

/// The last entry (id, hash) and the number of entries: the ledger's head, read by
/// `ledger_head` and inside a backup's snapshot.
pub(crate) const LEDGER_HEAD_SQL: &str =
    "SELECT id, hash FROM ledger_entries ORDER BY id DESC LIMIT 1";
pub(crate) const LEDGER_COUNT_SQL: &str = "SELECT COUNT(*) FROM ledger_entries";

impl LedgerHead {
    /// The head from the last entry and the count; an empty ledger's head is the genesis hash.
    pub(crate) fn of(last: Option<(i64, String)>, count: i64) -> LedgerHead {
        match last {
            Some((id, hash)) => LedgerHead {
                count,
                head_id: Some(id),
                head_hash: hash,
            },
            None => LedgerHead {
                count,
                head_id: None,
                head_hash: domain::ledger::GENESIS_HASH.to_string(),
            },
        }
    }
}

impl Db {
    /// Appends postings in one transaction; all or nothing. Returns the appended entries' ids,
    /// or every refusal (fields prefixed with `prefix(i)` for posting i).
    /// Appends postings in one transaction and returns each one's outcome. Commits only when
    /// `commit` is set and every posting was accepted (all or nothing); `audit` decides how the
    /// audit log records a committed batch (one entry per posting, or one for the batch).
    pub(crate) async fn append_batch(
        &self,
        caller: &Caller,
        postings: &[Posting],
        links: &[Links],
        commit: bool,
        batch_detail: Option<String>,
    ) -> StoreResult<Vec<Result<i64, Vec<FieldError>>>> {
        crate::projects::require_project_writer(caller)?;
        // Money is recorded only on projects the caller may change.
        let scope_sql = project_write_clause(&caller.scope);
        let begin = self.write_begin_sql();
        on_db!(self, p => {
            let mut tx = p.begin_with(begin).await?;
            let own_org = match caller.scope {
                domain::scope::Scope::Organisation(own) => Some(own),
                _ => None,
            };
            let results = append_all(&mut tx, postings, links, &scope_sql, own_org, &caller.username).await?;
            if !commit || results.iter().any(|r| r.is_err()) {
                tx.rollback().await?;
            } else {
                match &batch_detail {
                    Some(detail) => {
                        let ids: Vec<i64> = results.iter().flatten().map(|e| e.id).collect();
                        let after = serde_json::json!({ "entries": ids.len(), "first_id": ids.first(), "last_id": ids.last() });
                        audit!(&mut *tx, caller, "import", "ledger_entry", None, None, None, Some(after), detail.clone());
                    }
                    None => {
                        for r in results.iter().flatten() {
                            let action = if r.reverses.is_some() { "reverse" } else { "post" };
                            let after = serde_json::json!({ "type": r.tx_type, "amount": r.amount, "project_id": r.project_id, "hash": r.hash });
                            audit!(&mut *tx, caller, action, "ledger_entry", Some(r.id.to_string()), None, None, Some(after), r.memo.clone());
                        }
                    }
                }
                crate::commit!(tx)?;
            }
            Ok(results.into_iter().map(|r| r.map(|e| e.id)).collect())
        })
    }

    /// Appends postings given through the API; any refusal refuses them all.
    async fn append_postings(
        &self,
        caller: &Caller,
        postings: &[Posting],
    ) -> StoreResult<Vec<i64>> {
        let results = self.append_batch(caller, postings, &[], true, None).await?;
        let problems: Vec<FieldError> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .flatten()
            .cloned()
            .collect();
        if !problems.is_empty() {
            return Err(StoreError::invalid(problems));
        }
        Ok(results.into_iter().flatten().collect())
    }

    pub async fn post_transaction(
        &self,
        caller: &Caller,
        input: &TransactionInput,
    ) -> StoreResult<Transaction> {
        let draft = input.to_draft().map_err(StoreError::invalid)?;
        let ids = self
            .append_postings(caller, &[Posting::Entry(draft)])
            .await?;
        self.require_transaction(caller, ids[0]).await
    }

    pub async fn reverse_transaction(
        &self,
        caller: &Caller,
        id: i64,
        input: &ReversalInput,
    ) -> StoreResult<Transaction> {
        self.require_transaction(caller, id).await?;
        let draft = input.to_draft(id).map_err(StoreError::invalid)?;
        let ids = self
            .append_postings(caller, &[Posting::Reversal(draft)])
            .await?;
        self.require_transaction(caller, ids[0]).await
    }

    pub async fn get_transaction(
        &self,
        caller: &Caller,
        id: i64,
    ) -> StoreResult<Option<Transaction>> {
        let sql = format!(
            "{TRANSACTION_SELECT} WHERE e.id = $1{}",
            project_scope_clause(&project_scope(caller))
        );
        let row: Option<TransactionRow> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?;
        Ok(row.map(TransactionRow::into_transaction))
    }

    pub async fn require_transaction(&self, caller: &Caller, id: i64) -> StoreResult<Transaction> {
        self.get_transaction(caller, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("交易 {id} 不存在")))
    }

    /// Lists entries in ledger order (keyset by id).
    pub async fn list_transactions(
        &self,
        caller: &Caller,
        filter: &TransactionFilter,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Transaction>> {
        let mut sql = format!(
            "{TRANSACTION_SELECT} WHERE e.id > $1 AND ($2 IS NULL OR e.project_id = $2)
             AND ($3 IS NULL OR e.provider_id = $3 OR e.receiver_id = $3) AND ($4 IS NULL OR e.tx_type = $4)
             AND ($5 IS NULL OR e.invested = $5)"
        );
        if let Some(y) = filter.year {
            let y = y.clamp(0, 9999);
            sql +=
                &format!(" AND e.value_date >= '{y:04}-01-01' AND e.value_date <= '{y:04}-12-31'");
        }
        sql += &project_scope_clause(&project_scope(caller));
        sql += " ORDER BY e.id LIMIT $6";
        let rows: Vec<TransactionRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
            .bind(after.unwrap_or(0)).bind(filter.project_id).bind(filter.organisation_id)
            .bind(filter.tx_type.map(|t| t.as_str())).bind(filter.invested).bind(limit)
            .fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(TransactionRow::into_transaction)
            .collect())
    }

    /// A project's committed, disbursed, received, spent and invested money.
    pub async fn project_money(&self, project_id: i64) -> StoreResult<ProjectMoney> {
        Ok(self
            .projects_money(&[project_id])
            .await?
            .remove(&project_id)
            .unwrap_or_else(|| MoneySums::default().money()))
    }

    /// [`Db::project_money`] of many projects in one query (projects without entries are absent).
    pub async fn projects_money(
        &self,
        project_ids: &[i64],
    ) -> StoreResult<HashMap<i64, ProjectMoney>> {
        if project_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list = project_ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.projects_money_where(&format!("e.project_id IN ({list})"))
            .await
    }

    /// [`Db::project_money`] of the projects whose entries `condition` selects (on
    /// `ledger_entries e`), in one query.
    pub(crate) async fn projects_money_where(
        &self,
        condition: &str,
    ) -> StoreResult<HashMap<i64, ProjectMoney>> {
        let sql = money_sums_sql(condition);
        let rows: Vec<MoneySumsRow> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        Ok(MoneySums::by_project(rows)
            .into_iter()
            .map(|(id, s)| (id, s.money()))
            .collect())
    }

    pub async fn ledger_head(&self) -> StoreResult<LedgerHead> {
        let row: Option<(i64, String)> =
            on_db!(self, p => sqlx::query_as(LEDGER_HEAD_SQL).fetch_optional(p).await)?;
        let count: i64 =
            on_db!(self, p => sqlx::query_scalar(LEDGER_COUNT_SQL).fetch_one(p).await)?;
        Ok(LedgerHead::of(row, count))
    }

    /// Recomputes the whole chain and replays every rule, in id order; stops at the first entry
    /// that breaks. Reads one snapshot (a transaction), so concurrent appends do not interfere.
    /// It reads every entry, so it is for administrators and auditors (and the command line).
    pub async fn verify_ledger(&self, caller: &Caller) -> StoreResult<Verification> {
        if !caller.can_read_audit() {
            return Err(StoreError::Forbidden(
                "只有市级管理员和审计人员可以复核整个资金台账；其他人可用导出的交易及其哈希，或命令 bangfu ledger verify 核对链头哈希".into(),
            ));
        }
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut ledger = Ledger::default();
            let orgs: Vec<(i64, bool)> = sqlx::query_as("SELECT id, shenzhen_side FROM organisations").fetch_all(&mut *tx).await?;
            ledger.organisations.extend(orgs);
            let projects: Vec<(i64, String, String)> = sqlx::query_as("SELECT id, approved_on, status FROM projects").fetch_all(&mut *tx).await?;
            for (id, approved_on, status) in projects {
                ledger.projects.insert(id, ProjectFacts { approved_on, status: parse_status(&status), totals: Progress::default() });
            }
            let mut verifier = Verifier::new(ledger);
            let sql = format!("SELECT {ENTRY_COLUMNS} FROM ledger_entries ORDER BY id");
            {
                let mut rows = sqlx::query_as::<_, EntryRow>(AssertSqlSafe(sql)).fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    if !verifier.push(&row.into_entry()) {
                        break;
                    }
                }
            }
            tx.rollback().await?;
            Ok(verifier.finish())
        })
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    tx_type: String,
    amount: i64,
    value_date: String,
    provider_id: i64,
    receiver_id: i64,
    provider_shenzhen: bool,
    receiver_shenzhen: bool,
    fund_source: String,
    project_id: i64,
    voucher_no: String,
    memo: String,
    passes_on: Option<i64>,
    reverses: Option<i64>,
    over_commitment_reason: Option<String>,
    invested: bool,
    recorded_at: String,
    recorded_by: String,
    prev_hash: String,
    hash: String,
    receives: Option<i64>,
}

impl EntryRow {
    fn into_entry(self) -> Entry {
        Entry {
            id: self.id,
            tx_type: self.tx_type,
            amount: self.amount,
            value_date: self.value_date,
            provider_id: self.provider_id,
            receiver_id: self.receiver_id,
            provider_shenzhen: self.provider_shenzhen,
            receiver_shenzhen: self.receiver_shenzhen,
            fund_source: self.fund_source,
            project_id: self.project_id,
            voucher_no: self.voucher_no,
            memo: self.memo,
            passes_on: self.passes_on,
            reverses: self.reverses,
            over_commitment_reason: self.over_commitment_reason,
            invested: self.invested,
            recorded_at: self.recorded_at,
            recorded_by: self.recorded_by,
            prev_hash: self.prev_hash,
            hash: self.hash,
            receives: self.receives,
        }
    }
}

/// What an organisation paid and received, per transaction type (fen, net of reversals).
/// A 资金到账 that receives a recorded disbursement is that disbursement seen from the county,
/// already in the disbursement row: it is left out here so the flow is not shown twice.
#[derive(Debug, Clone, Serialize)]
pub struct OrganisationFlow {
    pub tx_type: TxType,
    pub type_name: &'static str,
    pub paid: Fen,
    pub received: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrganisationMoney {
    pub flows: Vec<OrganisationFlow>,
    /// Disbursed by this organisation and counted as invested (投入).
    pub invested: Fen,
}

impl Db {
    pub async fn organisation_money(&self, organisation_id: i64) -> StoreResult<OrganisationMoney> {
        let rows: Vec<(String, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT tx_type, CAST(SUM(CASE WHEN provider_id = $1 THEN amount ELSE 0 END) AS BIGINT),
             CAST(SUM(CASE WHEN receiver_id = $1 THEN amount ELSE 0 END) AS BIGINT)
             FROM ledger_entries WHERE (provider_id = $1 OR receiver_id = $1) AND receives IS NULL GROUP BY tx_type")
            .bind(organisation_id).fetch_all(p).await)?;
        let invested: i64 = on_db!(self, p => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE provider_id = $1 AND invested = $2")
            .bind(organisation_id).bind(true).fetch_one(p).await)?;
        let mut flows: Vec<OrganisationFlow> = rows
            .into_iter()
            .filter_map(|(t, paid, received)| {
                TxType::parse(&t).map(|k| OrganisationFlow {
                    tx_type: k,
                    type_name: k.name_zh(),
                    paid: Fen(paid),
                    received: Fen(received),
                })
            })
            .collect();
        flows.sort_by_key(|f| f.tx_type);
        Ok(OrganisationMoney {
            flows,
            invested: Fen(invested),
        })
    }
}
