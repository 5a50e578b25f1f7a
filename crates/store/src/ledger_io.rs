//! Import and export of projects and transactions as CSV/XLSX, with the registry import's
//! behaviour: every row checked and every problem reported by row and column before anything
//! is written; all or nothing; `dry_run` checks without writing. Files are read with
//! `store::tabular` (encoding detection, XLSX) and error reports use the registry's writers.
//!
//! Projects: one row per project; a 项目编号 already in the database updates that project's
//! fields, locations and organisations. Transactions: one row per entry, appended in file
//! order under one lock; 转拨凭证号 / 冲销凭证号 name the entry passed on / reversed by its
//! voucher number, in the ledger or in an earlier row, and 到账对应拨付凭证号 (optional) names
//! the Shenzhen side's disbursement a county's 资金到账 receives (not counted again). A row identical to an entry already in
//! the ledger is refused, so importing the same file twice cannot double the money.

use crate::activity::ImportKind;
use crate::ledger::{Links, MoneySums, Posting, TransactionInput};
use crate::projects::{
    LocationInput, PROJECT_COLUMNS as PROJECT_SELECT, ProjectInput, ProjectOrganisationInput,
    ProjectRow, parse_status, parse_theme, project_scope, project_scope_clause,
};
use crate::registry_export::{SheetWriter, csv_head, csv_record};
use crate::registry_import::RowProblem;
use crate::tabular::Table;
use crate::{Db, StoreResult, on_db};
use domain::Caller;
use domain::ledger::{ReversalDraft, TxType};
use domain::money::Fen;
use domain::project::OrgRole;
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// Problems kept for the report; beyond that only counted.
const MAX_PROBLEMS: usize = 10_000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerImportOutcome {
    pub committed: bool,
    pub dry_run: bool,
    pub rows: u64,
    pub projects_added: u64,
    pub projects_updated: u64,
    pub transactions_added: u64,
    pub problem_count: u64,
    pub problems: Vec<RowProblem>,
    pub sha256: String,
}

impl LedgerImportOutcome {
    fn problem(&mut self, row: u64, column: &str, value: &str, message: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(RowProblem {
                row,
                column: column.into(),
                value: value.into(),
                message: message.into(),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    /// From a file name's extension (.csv or .xlsx).
    pub fn from_file_name(name: &str) -> Option<ExportFormat> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".csv") {
            Some(ExportFormat::Csv)
        } else if n.ends_with(".xlsx") {
            Some(ExportFormat::Xlsx)
        } else {
            None
        }
    }
}

/// What a ledger export writes: projects, or the ledger's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Projects,
    Transactions,
}

impl ExportKind {
    /// The import's columns, then the read-only ones.
    pub fn headers(self) -> Vec<&'static str> {
        match self {
            ExportKind::Projects => PROJECT_COLUMNS
                .iter()
                .chain(&PROJECT_INFO_COLUMNS)
                .copied()
                .collect(),
            ExportKind::Transactions => TRANSACTION_COLUMNS
                .iter()
                .chain(&TRANSACTION_INFO_COLUMNS)
                .copied()
                .collect(),
        }
    }

    pub fn sheet_name(self) -> &'static str {
        match self {
            ExportKind::Projects => "项目",
            ExportKind::Transactions => "资金台账",
        }
    }
}

/// Projects or entries per page of an export. Each page costs the same few queries however
/// many rows it holds, so a larger page means fewer round trips for the same memory bound.
pub const EXPORT_PAGE: i64 = 2_000;

/// A running export: where it is (keyset by id) and what every page needs.
pub struct LedgerExport {
    kind: ExportKind,
    orgs: OrgResolver,
    /// Project id → 项目编号 (transactions only).
    project_codes: HashMap<i64, String>,
    after: i64,
    done: bool,
}

pub const PROJECT_COLUMNS: [&str; 15] = [
    "项目编号",
    "项目名称",
    "主题",
    "子类型",
    "民生项目",
    "对口关系编号",
    "立项日期",
    "开始日期",
    "结束日期",
    "状态",
    "状态日期",
    "预算（元）",
    "项目地点",
    "参与机构",
    "项目简介",
];
const PROJECT_REQUIRED: [&str; 6] = [
    "项目编号",
    "项目名称",
    "主题",
    "立项日期",
    "预算（元）",
    "项目地点",
];
/// Written by the export for reading; the import ignores them.
const PROJECT_INFO_COLUMNS: [&str; 8] = [
    "系统编号",
    "受益户数",
    "受益人数",
    "承诺（元）",
    "拨付（元）",
    "支出（元）",
    "拨付进度",
    "支出进度",
];

pub const TRANSACTION_COLUMNS: [&str; 13] = [
    "交易类型",
    "金额（元）",
    "记账日期",
    "付款方",
    "收款方",
    "资金来源",
    "项目编号",
    "凭证号",
    "摘要",
    "转拨凭证号",
    "超承诺理由",
    "冲销凭证号",
    "到账对应拨付凭证号",
];
const TRANSACTION_REQUIRED: [&str; 7] = [
    "交易类型",
    "金额（元）",
    "记账日期",
    "付款方",
    "收款方",
    "资金来源",
    "项目编号",
];
const TRANSACTION_INFO_COLUMNS: [&str; 9] = [
    "交易编号",
    "计入投入",
    "转拨交易编号",
    "冲销交易编号",
    "到账对应拨付交易编号",
    "记录时间",
    "记录人",
    "上一条哈希",
    "哈希",
];

fn header_key(h: &str) -> String {
    domain::text::normalize_compact(h)
        .trim_start_matches('\u{feff}')
        .to_string()
}

/// Where each known column is in the file.
struct Columns {
    at: HashMap<&'static str, usize>,
}

impl Columns {
    fn new(headers: &[String], known: &[&'static str]) -> Columns {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let at = known
            .iter()
            .filter_map(|k| {
                keys.iter()
                    .position(|h| *h == header_key(k))
                    .map(|i| (*k, i))
            })
            .collect();
        Columns { at }
    }

    fn get<'a>(&self, cells: &'a [String], name: &str) -> &'a str {
        self.at
            .get(name)
            .and_then(|i| cells.get(*i))
            .map(|s| s.trim())
            .unwrap_or("")
    }

    fn missing(&self, required: &[&'static str]) -> Vec<&'static str> {
        required
            .iter()
            .copied()
            .filter(|r| !self.at.contains_key(r))
            .collect()
    }
}

/// An API field name → the column it came from.
fn project_column(field: &str) -> &'static str {
    let head = field.split(['[', '.']).next().unwrap_or(field);
    match head {
        "code" => "项目编号",
        "name" => "项目名称",
        "theme" => "主题",
        "sub_type" => "子类型",
        "livelihood" => "民生项目",
        "pairing_id" => "对口关系编号",
        "approved_on" => "立项日期",
        "start_date" => "开始日期",
        "end_date" => "结束日期",
        "status" => "状态",
        "status_date" => "状态日期",
        "budget" => "预算（元）",
        "locations" => "项目地点",
        "organisations" => "参与机构",
        "description" => "项目简介",
        _ => "",
    }
}

fn transaction_column(field: &str) -> &'static str {
    match field {
        "type" => "交易类型",
        "amount" => "金额（元）",
        "value_date" => "记账日期",
        "provider_id" => "付款方",
        "receiver_id" => "收款方",
        "fund_source" => "资金来源",
        "project_id" => "项目编号",
        "voucher_no" => "凭证号",
        "memo" | "reason" => "摘要",
        "passes_on" => "转拨凭证号",
        "over_commitment" | "over_commitment_reason" => "超承诺理由",
        "reverses" => "冲销凭证号",
        "receives" => "到账对应拨付凭证号",
        _ => "",
    }
}

fn parse_bool_cell(s: &str) -> Result<Option<bool>, String> {
    match domain::text::normalize_compact(s).as_str() {
        "" => Ok(None),
        "是" | "true" | "1" | "Y" | "y" => Ok(Some(true)),
        "否" | "false" | "0" | "N" | "n" => Ok(Some(false)),
        other => Err(format!("“{other}”应为“是”或“否”")),
    }
}

/// "名称(12)" → 12; "12" → 12.
fn trailing_id(s: &str) -> Option<i64> {
    let t = domain::text::normalize(s);
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let inner = t.strip_suffix(')')?.rsplit_once('(')?.1;
    inner.parse().ok()
}

/// Resolves organisations as written in files: an id, "名称(编号)", a 统一社会信用代码, or an
/// exact, unique name.
struct OrgResolver {
    by_id: HashMap<i64, String>,
    by_code: HashMap<String, i64>,
    by_name: HashMap<String, Vec<i64>>,
}

impl OrgResolver {
    async fn load(db: &Db) -> StoreResult<OrgResolver> {
        let rows: Vec<(i64, String, Option<String>)> = on_db!(db, p => sqlx::query_as("SELECT id, name, credit_code FROM organisations").fetch_all(p).await)?;
        let mut r = OrgResolver {
            by_id: HashMap::new(),
            by_code: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (id, name, code) in rows {
            if let Some(c) = code {
                r.by_code.insert(c, id);
            }
            r.by_name.entry(name.clone()).or_default().push(id);
            r.by_id.insert(id, name);
        }
        Ok(r)
    }

    fn resolve(&self, cell: &str) -> Result<i64, String> {
        let t = domain::text::normalize(cell);
        if t.is_empty() {
            return Err("请填写机构（编号、统一社会信用代码或名称）".into());
        }
        if let Some(id) = trailing_id(&t) {
            return if self.by_id.contains_key(&id) {
                Ok(id)
            } else {
                Err(format!("机构 {id} 不存在"))
            };
        }
        if let Some(id) = self.by_code.get(&t.to_uppercase()) {
            return Ok(*id);
        }
        match self.by_name.get(&t).map(Vec::as_slice) {
            Some([one]) => Ok(*one),
            Some(many) => Err(format!(
                "有 {} 个机构名为“{t}”，请写成“名称(编号)”",
                many.len()
            )),
            None => Err(format!("没有名为“{t}”的机构")),
        }
    }

    fn label(&self, id: i64) -> String {
        format!("{}({id})", self.by_id.get(&id).cloned().unwrap_or_default())
    }
}

/// "441621:2、451024" → locations with weights.
fn parse_locations(cell: &str) -> Vec<LocationInput> {
    domain::text::split_multi(cell)
        .into_iter()
        .map(|part| match part.split_once(':') {
            Some((code, w)) => LocationInput {
                region_code: code.to_string(),
                weight: Some(w.trim().parse().unwrap_or(-1)),
            },
            None => LocationInput {
                region_code: part,
                weight: None,
            },
        })
        .collect()
}

/// "出资方:中广核(3)；实施方:91440300…" → organisations with roles.
fn parse_organisations(
    cell: &str,
    orgs: &OrgResolver,
) -> Result<Vec<ProjectOrganisationInput>, String> {
    let mut out = Vec::new();
    for part in domain::text::normalize(cell)
        .split([';', '；', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((role, org)) = part.split_once(':') else {
            return Err(format!(
                "“{part}”应写成“角色:机构”，如“出资方:中广核(3)”；角色为：{}",
                OrgRole::choices_zh()
            ));
        };
        let role = role.trim();
        if OrgRole::parse(role).is_none() {
            return Err(format!("角色“{role}”无效，应为：{}", OrgRole::choices_zh()));
        }
        out.push(ProjectOrganisationInput {
            organisation_id: Some(orgs.resolve(org)?),
            role: role.to_string(),
        });
    }
    Ok(out)
}

impl Db {
    /// Imports projects; see the module documentation.
    pub async fn import_projects(
        &self,
        caller: &Caller,
        table: Table,
        dry_run: bool,
        file_name: &str,
    ) -> StoreResult<LedgerImportOutcome> {
        crate::projects::require_project_writer(caller)?;
        self.require_not_blocked(caller).await?;
        let mut out = LedgerImportOutcome {
            dry_run,
            ..Default::default()
        };
        let cols = Columns::new(&table.headers, &PROJECT_COLUMNS);
        for m in cols.missing(&PROJECT_REQUIRED) {
            out.problem(1, m, "", format!("缺少“{m}”列"));
        }
        if out.problem_count > 0 {
            return Ok(out);
        }
        let orgs = OrgResolver::load(self).await?;
        let mut checked = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut rows = table.rows;
        for row in rows.by_ref() {
            let row = row?;
            out.rows += 1;
            crate::activity::count_import_rows(ImportKind::Projects, 1);
            let line = row.line;
            let c = |name: &str| cols.get(&row.cells, name).to_string();
            let before = out.problem_count;
            let code = domain::text::normalize(&c("项目编号"));
            if code.is_empty() {
                out.problem(line, "项目编号", "", "请填写项目编号（导入时用于识别项目）");
            } else if let Some(first) = seen.insert(code.clone(), line) {
                out.problem(
                    line,
                    "项目编号",
                    &code,
                    format!("项目编号与第 {first} 行重复"),
                );
            }
            let livelihood = match parse_bool_cell(&c("民生项目")) {
                Ok(v) => v,
                Err(e) => {
                    out.problem(line, "民生项目", &c("民生项目"), e);
                    None
                }
            };
            let pairing_id = match c("对口关系编号").as_str() {
                "" => None,
                s => match domain::text::parse_int_cell(s) {
                    Some(v) => Some(v),
                    None => {
                        out.problem(line, "对口关系编号", s, "对口关系编号应为整数");
                        None
                    }
                },
            };
            let budget = match Fen::parse_yuan(&c("预算（元）")) {
                Ok(f) => Some(f.0),
                Err(e) => {
                    out.problem(line, "预算（元）", &c("预算（元）"), e.to_string());
                    None
                }
            };
            let organisations = match parse_organisations(&c("参与机构"), &orgs) {
                Ok(o) => o,
                Err(e) => {
                    out.problem(line, "参与机构", &c("参与机构"), e);
                    Vec::new()
                }
            };
            let opt = |s: String| (!s.is_empty()).then_some(s);
            let input = ProjectInput {
                code: opt(code.clone()),
                name: c("项目名称"),
                theme: c("主题"),
                sub_type: opt(c("子类型")),
                livelihood,
                pairing_id,
                approved_on: c("立项日期"),
                start_date: opt(c("开始日期")),
                end_date: opt(c("结束日期")),
                status: opt(c("状态")),
                status_date: opt(c("状态日期")),
                budget: budget.or(Some(0)),
                description: opt(c("项目简介")),
                locations: parse_locations(&c("项目地点")),
                organisations,
                ..Default::default()
            };
            let existing = if code.is_empty() {
                None
            } else {
                self.project_id_by_code(&code).await?
            };
            if let Some(id) = existing
                && !self.project_writable(caller, id).await?
            {
                // Someone else's project: refused without a word about it.
                out.problem(
                    line,
                    "项目编号",
                    &code,
                    crate::projects::project_out_of_scope(&code),
                );
                continue;
            }
            match self.check_project_row(caller, &input, existing).await? {
                Ok(p) if out.problem_count == before => checked.push(p),
                Ok(_) => {}
                Err(details) => {
                    for d in details {
                        let column = project_column(&d.field);
                        let value = if column.is_empty() {
                            String::new()
                        } else {
                            c(column)
                        };
                        out.problem(line, column, &value, d.message);
                    }
                }
            }
        }
        out.sha256 = table
            .sha256
            .lock()
            .ok()
            .and_then(|h| h.clone())
            .unwrap_or_default();
        if out.problem_count > 0 {
            return Ok(out);
        }
        if dry_run {
            // What the import would do.
            out.projects_updated = checked.iter().filter(|c| c.existing.is_some()).count() as u64;
            out.projects_added = checked.len() as u64 - out.projects_updated;
            return Ok(out);
        }
        let detail = format!("导入项目文件 {file_name}（SHA-256 {}）", out.sha256);
        let (added, updated) = self
            .write_imported_projects(caller, &checked, detail)
            .await?;
        out.projects_added = added;
        out.projects_updated = updated;
        out.committed = true;
        Ok(out)
    }

    /// Imports transactions; see the module documentation.
    pub async fn import_transactions(
        &self,
        caller: &Caller,
        table: Table,
        dry_run: bool,
        file_name: &str,
    ) -> StoreResult<LedgerImportOutcome> {
        crate::projects::require_project_writer(caller)?;
        self.require_not_blocked(caller).await?;
        let mut out = LedgerImportOutcome {
            dry_run,
            ..Default::default()
        };
        let cols = Columns::new(&table.headers, &TRANSACTION_COLUMNS);
        for m in cols.missing(&TRANSACTION_REQUIRED) {
            out.problem(1, m, "", format!("缺少“{m}”列"));
        }
        if out.problem_count > 0 {
            return Ok(out);
        }
        let orgs = OrgResolver::load(self).await?;
        let mut project_ids: HashMap<String, Option<i64>> = HashMap::new();
        // Postings in file order, with the row they came from and the cells for messages.
        let mut postings: Vec<Posting> = Vec::new();
        let mut links: Vec<Links> = Vec::new();
        let mut lines: Vec<(u64, Vec<String>)> = Vec::new();
        // Voucher → postings of this file that can be passed on / reversed.
        let mut file_vouchers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut rows = table.rows;
        for row in rows.by_ref() {
            let row = row?;
            out.rows += 1;
            crate::activity::count_import_rows(ImportKind::Transactions, 1);
            let line = row.line;
            let c = |name: &str| cols.get(&row.cells, name).to_string();
            let before = out.problem_count;
            let voucher = domain::text::normalize(&c("凭证号"));
            let reversal_of = domain::text::normalize(&c("冲销凭证号"));
            let (posting, link) = if !reversal_of.is_empty() {
                let target = self
                    .resolve_voucher(caller, &reversal_of, None, &file_vouchers, &postings)
                    .await?;
                let value_date = domain::project::parse_date(&c("记账日期"));
                if let Err(e) = &value_date {
                    out.problem(line, "记账日期", &c("记账日期"), format!("记账日期：{e}"));
                }
                let (reverses, link) = match target {
                    Ok(t) => t,
                    Err(e) => {
                        out.problem(line, "冲销凭证号", &reversal_of, e);
                        (0, None)
                    }
                };
                let memo = domain::text::normalize(&c("摘要"));
                if memo.is_empty() {
                    out.problem(line, "摘要", "", "冲销须在“摘要”中说明原因");
                }
                (
                    Posting::Reversal(ReversalDraft {
                        reverses,
                        value_date: value_date.unwrap_or_default(),
                        voucher_no: voucher.clone(),
                        reason: memo,
                    }),
                    Links {
                        upstream: link,
                        receives: None,
                    },
                )
            } else {
                let amount = match Fen::parse_yuan(&c("金额（元）")) {
                    Ok(f) => Some(f.0),
                    Err(e) => {
                        out.problem(line, "金额（元）", &c("金额（元）"), e.to_string());
                        None
                    }
                };
                let mut party = |column: &str| match orgs.resolve(&c(column)) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        out.problem(line, column, &c(column), e);
                        None
                    }
                };
                let provider_id = party("付款方");
                let receiver_id = party("收款方");
                let code = domain::text::normalize(&c("项目编号"));
                let project_id = match project_ids.get(&code) {
                    Some(id) => *id,
                    None => {
                        let mut id = self.project_id_by_code(&code).await?;
                        if id.is_none() {
                            id = code.strip_prefix('#').unwrap_or(&code).parse::<i64>().ok();
                        }
                        // Money goes only to projects the caller may change; any other is
                        // answered like one that does not exist.
                        if let Some(i) = id
                            && !self.project_writable(caller, i).await?
                        {
                            id = None;
                        }
                        project_ids.insert(code.clone(), id);
                        id
                    }
                };
                if project_id.is_none() {
                    out.problem(
                        line,
                        "项目编号",
                        &code,
                        crate::projects::project_out_of_scope(&code),
                    );
                }
                let passes = domain::text::normalize(&c("转拨凭证号"));
                let (passes_on, link) = if passes.is_empty() {
                    (None, None)
                } else {
                    let kinds = [TxType::Disbursement, TxType::IncomingFunds];
                    match self
                        .resolve_voucher(caller, &passes, Some(&kinds), &file_vouchers, &postings)
                        .await?
                    {
                        Ok((id, link)) => (Some(id), link),
                        Err(e) => {
                            out.problem(line, "转拨凭证号", &passes, e);
                            (None, None)
                        }
                    }
                };
                let receipt_of = domain::text::normalize(&c("到账对应拨付凭证号"));
                let (receives, receives_link) = if receipt_of.is_empty() {
                    (None, None)
                } else {
                    let kinds = [TxType::Disbursement];
                    match self
                        .resolve_voucher(
                            caller,
                            &receipt_of,
                            Some(&kinds),
                            &file_vouchers,
                            &postings,
                        )
                        .await?
                    {
                        Ok((id, link)) => (Some(id), link),
                        Err(e) => {
                            out.problem(line, "到账对应拨付凭证号", &receipt_of, e);
                            (None, None)
                        }
                    }
                };
                let reason = domain::text::normalize(&c("超承诺理由"));
                let input = TransactionInput {
                    tx_type: c("交易类型"),
                    amount,
                    value_date: c("记账日期"),
                    provider_id,
                    receiver_id,
                    fund_source: c("资金来源"),
                    project_id,
                    voucher_no: Some(voucher.clone()),
                    memo: Some(c("摘要")),
                    passes_on,
                    over_commitment: None,
                    over_commitment_reason: (!reason.is_empty()).then_some(reason),
                    receives,
                };
                match input.to_draft() {
                    Ok(d) => {
                        if !voucher.is_empty()
                            && let Some(dup) = self.identical_entry(&d).await?
                        {
                            out.problem(
                                line,
                                "凭证号",
                                &voucher,
                                format!("与台账中的交易 {dup} 完全相同，不会重复记账"),
                            );
                        }
                        (
                            Posting::Entry(d),
                            Links {
                                upstream: link,
                                receives: receives_link,
                            },
                        )
                    }
                    Err(details) => {
                        if out.problem_count == before {
                            for f in details {
                                let column = transaction_column(&f.field);
                                out.problem(line, column, &c(column), f.message);
                            }
                        }
                        continue;
                    }
                }
            };
            if out.problem_count > before {
                continue;
            }
            if !voucher.is_empty() {
                file_vouchers
                    .entry(voucher)
                    .or_default()
                    .push(postings.len());
            }
            postings.push(posting);
            links.push(link);
            lines.push((line, row.cells.clone()));
        }
        out.sha256 = table
            .sha256
            .lock()
            .ok()
            .and_then(|h| h.clone())
            .unwrap_or_default();
        if out.problem_count > 0 {
            return Ok(out);
        }
        let detail = format!("导入交易文件 {file_name}（SHA-256 {}）", out.sha256);
        let results = self
            .append_batch(caller, &postings, &links, !dry_run, Some(detail))
            .await?;
        for (i, r) in results.iter().enumerate() {
            if let Err(problems) = r {
                let (line, cells) = &lines[i];
                for f in problems {
                    let column = transaction_column(&f.field);
                    out.problem(*line, column, cols.get(cells, column), f.message.clone());
                }
            }
        }
        if out.problem_count == 0 {
            // On a dry run: what the import would append.
            out.transactions_added = results.len() as u64;
            out.committed = !dry_run;
        }
        Ok(out)
    }

    /// A voucher number → the one entry it names: in the ledger (an id) or earlier in this file
    /// (a link to that posting). `kinds` limits the types that qualify.
    /// Entries of projects the caller does not see are not there for it.
    async fn resolve_voucher(
        &self,
        caller: &Caller,
        voucher: &str,
        kinds: Option<&[TxType]>,
        file_vouchers: &HashMap<String, Vec<usize>>,
        postings: &[Posting],
    ) -> StoreResult<Result<(i64, Option<usize>), String>> {
        let sql = format!(
            "SELECT e.id, e.tx_type FROM ledger_entries e JOIN projects p ON p.id = e.project_id WHERE e.voucher_no = $1 AND e.reverses IS NULL{}",
            crate::projects::project_scope_clause(&crate::projects::project_scope(caller))
        );
        let in_ledger: Vec<(i64, String)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(voucher).fetch_all(p).await)?;
        let ok_kind = |t: &str| kinds.is_none_or(|ks| ks.iter().any(|k| k.as_str() == t));
        let ledger: Vec<i64> = in_ledger
            .iter()
            .filter(|(_, t)| ok_kind(t))
            .map(|(id, _)| *id)
            .collect();
        let file: Vec<usize> = file_vouchers
            .get(voucher)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|i| matches!(&postings[*i], Posting::Entry(d) if ok_kind(d.tx_type.as_str())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(match (ledger.as_slice(), file.as_slice()) {
            ([id], []) => Ok((*id, None)),
            ([], [i]) => Ok((0, Some(*i))),
            ([], []) => Err(format!("台账和本文件中都没有凭证号为“{voucher}”的交易")),
            _ => Err(format!("凭证号“{voucher}”对应多笔交易，无法确定是哪一笔")),
        })
    }

    /// An entry with exactly these fields already in the ledger (not counting reversals).
    async fn identical_entry(&self, d: &domain::ledger::Draft) -> StoreResult<Option<i64>> {
        Ok(on_db!(self, p => sqlx::query_scalar(
            "SELECT id FROM ledger_entries WHERE voucher_no = $1 AND tx_type = $2 AND amount = $3 AND value_date = $4
             AND provider_id = $5 AND receiver_id = $6 AND project_id = $7 AND reverses IS NULL LIMIT 1")
            .bind(&d.voucher_no).bind(d.tx_type.as_str()).bind(d.amount.0).bind(&d.value_date)
            .bind(d.provider_id).bind(d.receiver_id).bind(d.project_id)
            .fetch_optional(p).await)?)
    }

    /// All projects the caller may see, in the import's columns (plus read-only figures), as
    /// one file in memory (the command line; the API streams the same pages).
    pub async fn export_projects(
        &self,
        caller: &Caller,
        format: ExportFormat,
    ) -> StoreResult<Vec<u8>> {
        self.export_file(caller, ExportKind::Projects, format).await
    }

    /// The whole ledger the caller may see, in id order, in the import's columns plus the
    /// chain (ids, hashes) for checking outside the system; one file in memory.
    pub async fn export_transactions(
        &self,
        caller: &Caller,
        format: ExportFormat,
    ) -> StoreResult<Vec<u8>> {
        self.export_file(caller, ExportKind::Transactions, format)
            .await
    }

    async fn export_file(
        &self,
        caller: &Caller,
        kind: ExportKind,
        format: ExportFormat,
    ) -> StoreResult<Vec<u8>> {
        let mut export = self.begin_ledger_export(caller, kind, format).await?;
        let mut sink = Sink::new(format, kind.sheet_name(), &kind.headers())?;
        while let Some(rows) = self.ledger_export_page(caller, &mut export).await? {
            for r in &rows {
                sink.push(r)?;
            }
        }
        sink.finish()
    }

    /// Starts an export of the projects or transactions the caller may see. A logged-in
    /// caller's export is recorded in the audit log, once; an anonymous download is not: the
    /// data is public, and recording it would let anyone grow the audit log at will.
    pub async fn begin_ledger_export(
        &self,
        caller: &Caller,
        kind: ExportKind,
        format: ExportFormat,
    ) -> StoreResult<LedgerExport> {
        if caller.is_authenticated() {
            let (entity, what) = match kind {
                ExportKind::Projects => ("project", "导出项目"),
                ExportKind::Transactions => ("ledger_entry", "导出资金台账"),
            };
            self.record_event(
                caller,
                "export",
                entity,
                None,
                format!("{what}（{format:?}）"),
            )
            .await?;
        }
        let project_codes = match kind {
            ExportKind::Projects => HashMap::new(),
            ExportKind::Transactions => {
                let codes: Vec<(i64, Option<String>)> = on_db!(self, p => sqlx::query_as("SELECT id, code FROM projects").fetch_all(p).await)?;
                codes
                    .into_iter()
                    .map(|(id, c)| (id, c.unwrap_or_else(|| format!("#{id}"))))
                    .collect()
            }
        };
        Ok(LedgerExport {
            kind,
            orgs: OrgResolver::load(self).await?,
            project_codes,
            after: 0,
            done: false,
        })
    }

    /// The next page of an export (up to [`EXPORT_PAGE`] projects or entries) as rows in the
    /// columns of [`ExportKind::headers`]; None when there are no more.
    pub async fn ledger_export_page(
        &self,
        caller: &Caller,
        export: &mut LedgerExport,
    ) -> StoreResult<Option<Vec<Vec<String>>>> {
        if export.done {
            return Ok(None);
        }
        let (rows, last, count) = match export.kind {
            ExportKind::Projects => self.project_export_page(caller, export).await?,
            ExportKind::Transactions => self.transaction_export_page(caller, export).await?,
        };
        export.done = count < EXPORT_PAGE as usize;
        match last {
            Some(id) => export.after = id,
            None => return Ok(None),
        }
        Ok(Some(rows))
    }

    /// A page of projects with their locations, roles, beneficiaries and money: one query
    /// each for the whole page, joined here by project id. The detail queries select the page's
    /// id range (an index range scan, several times cheaper than a list of 2,000 ids); rows of
    /// projects outside the caller's scope in that range are never looked up.
    async fn project_export_page(
        &self,
        caller: &Caller,
        export: &LedgerExport,
    ) -> StoreResult<(Vec<Vec<String>>, Option<i64>, usize)> {
        let sql = format!(
            "SELECT {PROJECT_SELECT} FROM projects p WHERE p.id > $1{} ORDER BY p.id LIMIT $2",
            project_scope_clause(&project_scope(caller))
        );
        let page: Vec<ProjectRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(export.after).bind(EXPORT_PAGE).fetch_all(p).await)?;
        let Some(last) = page.last().map(|p| p.id) else {
            return Ok((Vec::new(), None, 0));
        };
        let range = format!("project_id > {} AND project_id <= {last}", export.after);
        let weights: Vec<(i64, i64, i64)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(format!(
            "SELECT project_id, region_key, weight FROM project_locations WHERE {range} ORDER BY project_id, position"))).fetch_all(p).await)?;
        let mut locations: HashMap<i64, Vec<String>> = HashMap::new();
        for (pid, key, w) in weights {
            if let Some(c) = domain::RegionCode::from_key(key) {
                locations.entry(pid).or_default().push(if w == 1 {
                    c.to_string()
                } else {
                    format!("{c}:{w}")
                });
            }
        }
        let roles: Vec<(i64, i64, String)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(format!(
            "SELECT project_id, organisation_id, role FROM project_organisations WHERE {range} ORDER BY project_id, role, organisation_id"))).fetch_all(p).await)?;
        let mut parts: HashMap<i64, Vec<String>> = HashMap::new();
        for (pid, org, role) in roles {
            if let Some(r) = OrgRole::parse(&role) {
                parts.entry(pid).or_default().push(format!(
                    "{}:{}",
                    r.name_zh(),
                    export.orgs.label(org)
                ));
            }
        }
        let bens: Vec<(i64, i64, i64)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(format!(
            "SELECT project_id, CAST(SUM(households) AS BIGINT), CAST(SUM(people) AS BIGINT) FROM project_beneficiaries
             WHERE {range} GROUP BY project_id"))).fetch_all(p).await)?;
        let bens: HashMap<i64, (i64, i64)> =
            bens.into_iter().map(|(pid, h, n)| (pid, (h, n))).collect();
        let money_range = format!("e.project_id > {} AND e.project_id <= {last}", export.after);
        let mut money = self.projects_money_where(&money_range).await?;
        let count = page.len();
        let rows = page
            .into_iter()
            .map(|p| {
                let b = bens.get(&p.id).copied().unwrap_or((0, 0));
                let m = money
                    .remove(&p.id)
                    .unwrap_or_else(|| MoneySums::default().money());
                vec![
                    p.code.unwrap_or_default(),
                    p.name,
                    parse_theme(&p.theme).name_zh().to_string(),
                    p.sub_type,
                    if p.livelihood {
                        "是".into()
                    } else {
                        "否".into()
                    },
                    p.pairing_id.map(|v| v.to_string()).unwrap_or_default(),
                    p.approved_on,
                    p.start_date,
                    p.end_date.unwrap_or_default(),
                    parse_status(&p.status).name_zh().to_string(),
                    p.status_date,
                    Fen(p.budget).yuan_string(),
                    locations.remove(&p.id).unwrap_or_default().join("、"),
                    parts.remove(&p.id).unwrap_or_default().join("；"),
                    p.description,
                    p.id.to_string(),
                    b.0.to_string(),
                    b.1.to_string(),
                    m.committed.yuan_string(),
                    m.disbursed.yuan_string(),
                    m.expended.yuan_string(),
                    domain::project::format_bp(m.disbursement_progress_bp),
                    domain::project::format_bp(m.expenditure_progress_bp),
                ]
            })
            .collect();
        Ok((rows, Some(last), count))
    }

    /// A page of ledger entries; the voucher numbers of the entries they pass on or reverse
    /// (earlier entries the caller may see) come from one query for the page.
    async fn transaction_export_page(
        &self,
        caller: &Caller,
        export: &LedgerExport,
    ) -> StoreResult<(Vec<Vec<String>>, Option<i64>, usize)> {
        let page = self
            .list_transactions(caller, &Default::default(), Some(export.after), EXPORT_PAGE)
            .await?;
        let Some(last) = page.last().map(|t| t.id) else {
            return Ok((Vec::new(), None, 0));
        };
        let mut referenced: Vec<i64> = page
            .iter()
            .flat_map(|t| [t.passes_on, t.reverses, t.receives])
            .flatten()
            .collect();
        referenced.sort_unstable();
        referenced.dedup();
        let vouchers: HashMap<i64, String> = if referenced.is_empty() {
            HashMap::new()
        } else {
            let list = referenced
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let sql = format!(
                "SELECT e.id, e.voucher_no FROM ledger_entries e JOIN projects p ON p.id = e.project_id WHERE e.id IN ({list}){}",
                project_scope_clause(&project_scope(caller))
            );
            let found: Vec<(i64, String)> =
                on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
            found.into_iter().collect()
        };
        let voucher_of = |id: Option<i64>| {
            id.and_then(|i| vouchers.get(&i).cloned())
                .unwrap_or_default()
        };
        let orgs = &export.orgs;
        let count = page.len();
        let rows = page
            .into_iter()
            .map(|t| {
                vec![
                    t.type_name.to_string(),
                    t.amount.yuan_string(),
                    t.value_date,
                    orgs.label(t.provider_id),
                    orgs.label(t.receiver_id),
                    t.fund_source_name.to_string(),
                    export
                        .project_codes
                        .get(&t.project_id)
                        .cloned()
                        .unwrap_or_default(),
                    t.voucher_no,
                    t.memo,
                    if t.reverses.is_some() {
                        String::new()
                    } else {
                        voucher_of(t.passes_on)
                    },
                    t.over_commitment_reason.unwrap_or_default(),
                    voucher_of(t.reverses),
                    if t.reverses.is_some() {
                        String::new()
                    } else {
                        voucher_of(t.receives)
                    },
                    t.id.to_string(),
                    if t.invested {
                        "是".into()
                    } else {
                        "否".into()
                    },
                    t.passes_on.map(|v| v.to_string()).unwrap_or_default(),
                    t.reverses.map(|v| v.to_string()).unwrap_or_default(),
                    t.receives.map(|v| v.to_string()).unwrap_or_default(),
                    t.recorded_at,
                    t.recorded_by,
                    t.prev_hash,
                    t.hash,
                ]
            })
            .collect();
        Ok((rows, Some(last), count))
    }
}

/// Rows out to CSV (UTF-8 with BOM, for Excel) or XLSX.
enum Sink {
    Csv(Vec<u8>),
    Xlsx(Box<SheetWriter>),
}

impl Sink {
    fn new(format: ExportFormat, sheet: &str, headers: &[&str]) -> StoreResult<Sink> {
        Ok(match format {
            ExportFormat::Csv => Sink::Csv(csv_head(headers)),
            ExportFormat::Xlsx => Sink::Xlsx(Box::new(SheetWriter::new(sheet, headers)?)),
        })
    }

    fn push(&mut self, cells: &[String]) -> StoreResult<()> {
        match self {
            Sink::Csv(buf) => buf.extend(csv_record(cells)),
            Sink::Xlsx(w) => w.push(cells)?,
        }
        Ok(())
    }

    fn finish(self) -> StoreResult<Vec<u8>> {
        match self {
            Sink::Csv(buf) => Ok(buf),
            Sink::Xlsx(w) => w.finish_to_buffer(),
        }
    }
}
