//! Reading the registry out again: household and people counts per region for the drill-down
//! pages, the export of any filtered household list as one row per member in the columns of the
//! members template (so a corrected export imports back), the XLSX templates, and the error
//! report of an import as CSV/XLSX.
//!
//! An export walks the list in keyset pages of households, so memory does not grow with its
//! size. ID and phone numbers leave masked; a re-import treats masked cells as "unchanged", which
//! works because every row carries a 人编号: members get a generated, permanent one when they are
//! written (`registry_import::assign_member_numbers`), never by an export.

use crate::registry::{
    HouseholdCursor, HouseholdFilter, HouseholdSort, HouseholdSummary, household_scope_sql,
};
use crate::registry_import::RowProblem;
use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, audit, on_db};
use domain::codes::CodeTables;
use domain::id_number::mask_phone;
use domain::registry::{
    HOUSEHOLD_TYPE_NOT_REGISTERED, HOUSEHOLD_TYPE_REGISTERED, INCOME_COLUMNS, MEMBER_COLUMNS,
    OPTIONAL_HOUSEHOLD_COLUMNS,
};
use domain::{Caller, RegionCode, RegionLevel};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::collections::HashMap;

/// Households per page of an export.
pub const EXPORT_PAGE: i64 = 500;
/// Data rows an XLSX sheet holds under its 1,048,576-row limit (one row is the header).
pub const XLSX_SHEET_ROWS: u32 = 1_048_575;
/// Columns whose digits must stay text in a spreadsheet (long numbers, leading zeros).
const TEXT_COLUMNS: [&str; 5] = ["户编号", "人编号", "行政区划代码", "证件号码", "联系电话"];

/// The members template's columns: the required ones in template order, then the optional
/// household columns. Exports use exactly these.
pub fn member_columns() -> Vec<&'static str> {
    MEMBER_COLUMNS
        .iter()
        .map(|c| c.0)
        .chain(OPTIONAL_HOUSEHOLD_COLUMNS)
        .collect()
}

/// Households and people below one region (or per county of the caller's scope).
#[derive(Debug, Clone)]
pub struct RegionTally {
    pub code: RegionCode,
    pub name: String,
    /// Names of the ancestors, province first ("广东省 河源市"), for lists of counties.
    pub parents: String,
    pub households: i64,
    pub people: i64,
}

/// What the first pass of an export found.
#[derive(Debug, Clone, Default)]
pub struct ExportPlan {
    pub households: u64,
    pub rows: u64,
}

fn xlsx_error(e: XlsxError) -> StoreError {
    StoreError::Internal(format!("无法生成 Excel 文件：{e}"))
}

fn pow10(n: usize) -> i64 {
    10_i64.pow(n as u32)
}

fn flag(b: Option<bool>) -> String {
    match b {
        Some(true) => "是".into(),
        Some(false) => "否".into(),
        None => String::new(),
    }
}

/// A human-readable account of a filter for the audit log (values are codes).
pub fn describe_filter(f: &HouseholdFilter, sort: HouseholdSort) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), serde_json::Value::String(v));
        }
    };
    put("region", f.region.map(|r| r.to_string()));
    put("status", f.status.clone());
    put("attribute", f.attribute.clone());
    put("cause", f.cause.clone());
    put("identified_year", f.identified_year.map(|y| y.to_string()));
    put("income_year", f.income_year.map(|y| y.to_string()));
    put("income_min_fen", f.income_min_fen.map(|y| y.to_string()));
    put("income_max_fen", f.income_max_fen.map(|y| y.to_string()));
    put("monitored", f.monitored.map(|y| y.to_string()));
    put("monitoring_type", f.monitoring_type.clone());
    put("include_removed", f.include_removed.then(|| "true".into()));
    put("q", f.name.clone());
    put(
        "sort",
        Some(
            match sort {
                HouseholdSort::HouseholdNo => "household_no",
                HouseholdSort::IdentifiedYear => "identified_year",
                HouseholdSort::MemberCount => "member_count",
            }
            .into(),
        ),
    );
    serde_json::Value::Object(m)
}

impl Db {
    /// Households and people per child region of `parent` in the caller's scope (per county
    /// when `parent` is None). Only regions that have households appear.
    pub async fn registry_tally(
        &self,
        caller: &Caller,
        parent: Option<RegionCode>,
    ) -> StoreResult<Vec<RegionTally>> {
        crate::registry::require_read(caller)?;
        let scope = household_scope_sql(&caller.scope, "h");
        let totals = "COUNT(*), CAST(COALESCE(SUM(h.member_count), 0) AS BIGINT)";
        // Registered households only: a 一般农户 kept for monitoring is in no registry figure.
        let scope = format!(
            " AND h.status <> '{}'{scope}",
            domain::registry::STATUS_NOT_REGISTERED
        );
        let (sql, child_level) = match parent {
            None => (
                format!(
                    "SELECT h.county_key, {totals} FROM households h WHERE h.removed_year IS NULL{scope} GROUP BY h.county_key ORDER BY h.county_key"
                ),
                None,
            ),
            Some(p) => {
                let Some(child) = p.level().child() else {
                    return Ok(Vec::new());
                };
                // The child's code is a prefix of the village code: one integer division of the key.
                let div = pow10(13 - child.digits());
                let range = if p.level() == RegionLevel::County {
                    format!("h.county_key = {}", p.key())
                } else {
                    let (lo, hi) = p.subtree_key_range();
                    format!("h.village_key >= {lo} AND h.village_key < {hi}")
                };
                (
                    format!(
                        "SELECT h.village_key / {div}, {totals} FROM households h WHERE {range} AND h.removed_year IS NULL{scope}
                         GROUP BY h.village_key / {div} ORDER BY 1"
                    ),
                    Some(child),
                )
            }
        };
        let rows: Vec<(i64, i64, i64)> = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = tx.rows(&sql, &[], &[Ty::I64, Ty::I64, Ty::I64]).await?;
            crate::commit!(tx)?;
            r.iter().map(|r| (r[0].i64().unwrap_or_default(), r[1].i64().unwrap_or_default(), r[2].i64().unwrap_or_default())).collect()
        });
        let codes: Vec<RegionCode> = rows
            .iter()
            .filter_map(|(k, _, _)| match child_level {
                None => RegionCode::from_key(*k),
                Some(level) => Some(RegionCode::from_padded(
                    k * pow10(12 - level.digits()),
                    level,
                )),
            })
            .collect();
        let mut keys: Vec<i64> = codes.iter().map(|c| c.key()).collect();
        if parent.is_none() {
            keys.extend(codes.iter().flat_map(|c| c.ancestors()).map(|a| a.key()));
        }
        keys.sort_unstable();
        keys.dedup();
        let mut names: HashMap<i64, String> = HashMap::new();
        for chunk in keys.chunks(500) {
            let list = chunk
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let found: Vec<(i64, String)> = on_db!(self, p => {
                let mut tx = p.begin().await?;
                let r = tx.rows(&format!("SELECT key, name FROM regions WHERE key IN ({list})"), &[], &[Ty::I64, Ty::Str]).await?;
                crate::commit!(tx)?;
                r.iter().map(|r| (r[0].i64().unwrap_or_default(), r[1].string())).collect()
            });
            names.extend(found);
        }
        Ok(codes
            .into_iter()
            .zip(rows)
            .map(|(code, (_, households, people))| RegionTally {
                name: names
                    .get(&code.key())
                    .cloned()
                    .unwrap_or_else(|| code.to_string()),
                parents: if parent.is_none() {
                    code.ancestors()
                        .iter()
                        .filter_map(|a| names.get(&a.key()).cloned())
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    String::new()
                },
                code,
                households,
                people,
            })
            .collect())
    }

    /// Gives every active member of these households a 人编号 if it lacks one (recorded in the
    /// audit log), and returns member id → 人编号 of all their active members.
    pub async fn ensure_member_numbers(
        &self,
        caller: &Caller,
        household_ids: &[i64],
    ) -> StoreResult<HashMap<i64, String>> {
        if !caller.can_write_registry() {
            return Err(StoreError::Forbidden("您没有修改建档立卡数据的权限".into()));
        }
        let list = household_ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let n = crate::registry_import::assign_member_numbers(&mut tx, household_ids).await?;
            if n > 0 {
                audit!(&mut *tx, caller, "update", "members", None, None, None,
                    Some(serde_json::json!({"member_no_assigned": n, "households": household_ids})),
                    format!("为 {n} 名成员生成人编号（M+成员序号）"));
            }
            let rows = tx.rows(&format!("SELECT id, member_no FROM members WHERE household_id IN ({list}) AND active"), &[], &[Ty::I64, Ty::Str]).await?;
            crate::commit!(tx)?;
            Ok(rows.iter().map(|r| (r[0].i64().unwrap_or_default(), r[1].string())).collect())
        })
    }

    /// The first pass of an export: counts the rows and records the export in the audit log
    /// (personal data), committed before any row is written. Reads nothing else and writes
    /// nothing else: members got their 人编号 when they were written.
    pub async fn begin_member_export(
        &self,
        caller: &Caller,
        filter: &HouseholdFilter,
        sort: HouseholdSort,
        format_name: &str,
    ) -> StoreResult<ExportPlan> {
        let mut plan = ExportPlan::default();
        let mut after: Option<HouseholdCursor> = None;
        loop {
            let page = self
                .list_households(caller, filter, sort, after.as_ref(), EXPORT_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(Db::household_cursor(sort, last));
            let list = page
                .iter()
                .map(|h| h.id.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let rows: i64 = on_db!(self, p => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM members WHERE household_id IN ({list}) AND active"))).fetch_one(p).await)?;
            plan.households += page.len() as u64;
            plan.rows += rows as u64;
            if (page.len() as i64) < EXPORT_PAGE {
                break;
            }
        }
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let described = describe_filter(filter, sort);
            audit!(&mut *tx, caller, "export", "households", None, None, None,
                Some(serde_json::json!({"format": format_name, "rows": plan.rows, "households": plan.households, "filter": described})),
                format!("导出户成员 {format_name}：{} 行（{} 户）；筛选：{described}", plan.rows, plan.households));
            crate::commit!(tx)?;
        });
        Ok(plan)
    }

    /// One page of an export: up to `limit` households after `after`, as rows in the columns
    /// of [`member_columns`], and the cursor for the next page (None at the end).
    pub async fn member_export_page(
        &self,
        caller: &Caller,
        tables: &CodeTables,
        filter: &HouseholdFilter,
        sort: HouseholdSort,
        after: Option<&HouseholdCursor>,
        limit: i64,
    ) -> StoreResult<(Vec<Vec<String>>, Option<HouseholdCursor>)> {
        let page = self
            .list_households(caller, filter, sort, after, limit)
            .await?;
        let next = if (page.len() as i64) < limit {
            None
        } else {
            page.last().map(|h| Db::household_cursor(sort, h))
        };
        if page.is_empty() {
            return Ok((Vec::new(), None));
        }
        let list = page
            .iter()
            .map(|h| h.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT m.household_id, m.member_no, m.name, m.sex, m.id_number, m.relation, m.ethnicity, m.education, m.schooling,
             m.health, m.labour, m.migrant_months, m.phone, h.housing_dangerous, h.housing_structure, h.safe_water, h.food_secure,
             h.clothing_secure, h.education_secure, h.medical_secure, h.housing_secure, m.disability_suffix
             FROM members m JOIN households h ON h.id = m.household_id
             WHERE m.household_id IN ({list}) AND m.active ORDER BY m.household_id, m.relation, m.id"
        );
        let tys = [
            Ty::I64,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::Str,
            Ty::I64,
            Ty::Str,
            Ty::Bool,
            Ty::Str,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Str,
        ];
        let members = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = tx.rows(&sql, &[], &tys).await?;
            crate::commit!(tx)?;
            r
        });
        let mut by_household: HashMap<i64, Vec<Vec<Val>>> = HashMap::new();
        for m in members {
            by_household
                .entry(m[0].i64().unwrap_or_default())
                .or_default()
                .push(m);
        }
        let mut out = Vec::new();
        for h in &page {
            for m in by_household.remove(&h.id).unwrap_or_default() {
                out.push(export_row(h, &m, tables));
            }
        }
        Ok((out, next))
    }
}

fn export_row(h: &HouseholdSummary, m: &[Val], t: &CodeTables) -> Vec<String> {
    let name = |table: &str, i: usize| {
        let code = m[i].str().unwrap_or_default();
        t.get(table)
            .and_then(|tb| tb.name_of(code))
            .unwrap_or(code)
            .to_string()
    };
    let mut row = vec![
        h.household_no.clone(),
        m[1].string(),
        h.village_code.clone(),
        m[2].string(),
        name("sex", 3),
        m[4].str()
            .map(|n| crate::registry::mask_id_or_certificate(n, m[21].str()))
            .unwrap_or_default(),
        name("relation", 5),
        name("ethnicity", 6),
        name("education", 7),
        name("schooling", 8),
        name("health", 9),
        name("labour", 10),
        m[11].i64().map(|v| v.to_string()).unwrap_or_default(),
    ];
    // A 一般农户 has no identification data: empty cells, as its import row had.
    let registered = [
        h.attribute.name.clone(),
        h.identification_standard.name.clone(),
        h.main_cause.name.clone(),
        h.other_causes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        h.identified_year.to_string(),
        h.status.name.clone(),
        h.exit_year.map(|y| y.to_string()).unwrap_or_default(),
    ];
    if h.registered {
        row.extend(registered);
    } else {
        row.extend(std::iter::repeat_n(String::new(), registered.len()));
    }
    row.extend([
        mask_phone(m[12].str().unwrap_or_default()),
        h.group_name.clone(),
        flag(m[13].bool()),
        m[14].string(),
        flag(m[15].bool()),
        flag(m[16].bool()),
        flag(m[17].bool()),
        flag(m[18].bool()),
        flag(m[19].bool()),
        flag(m[20].bool()),
        if h.registered {
            HOUSEHOLD_TYPE_REGISTERED
        } else {
            HOUSEHOLD_TYPE_NOT_REGISTERED
        }
        .to_string(),
    ]);
    row
}

/// A cell as a CSV file may carry it. A spreadsheet runs a cell that begins with `=`, `+`, `-`
/// or `@` as a formula (and tab or CR can smuggle one in), and names and memos in exports are
/// typed by whoever registered them: such a text cell leaves with a leading `'`, which Excel and
/// LibreOffice read as "text" and the imports strip again. A plain number ("-12.50", "-3")
/// stays as it is, so money and counts remain numbers.
pub fn csv_safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    let starts_formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if starts_formula && !is_plain_number(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// An optional sign, digits, an optional fraction and an optional `%`: what the exports write
/// for money, counts and progress.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let digits = digits.strip_suffix('%').unwrap_or(digits);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// One CSV record (with its line break), quoted as needed; every cell through [`csv_safe_cell`].
/// Every CSV the system writes is made of these records.
pub fn csv_record<S: AsRef<str>>(cells: &[S]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(cells.iter().map(|c| csv_safe_cell(c.as_ref()).into_owned()));
    w.into_inner().unwrap_or_default()
}

/// The start of a CSV file Excel opens as UTF-8: the BOM and the header row.
pub fn csv_head<S: AsRef<str>>(headers: &[S]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(csv_record(headers));
    out
}

/// An XLSX workbook written row by row in constant memory (rows go to temporary files), that
/// starts a new sheet, header repeated, when one is full.
pub struct SheetWriter {
    workbook: Workbook,
    base_name: String,
    headers: Vec<String>,
    text_columns: Vec<bool>,
    rows_per_sheet: u32,
    sheet: usize,
    row: u32,
    header_format: Format,
    text_format: Format,
}

impl SheetWriter {
    pub fn new(base_name: &str, headers: &[&str]) -> StoreResult<SheetWriter> {
        SheetWriter::with_rows_per_sheet(base_name, headers, XLSX_SHEET_ROWS)
    }

    pub fn with_rows_per_sheet(
        base_name: &str,
        headers: &[&str],
        rows_per_sheet: u32,
    ) -> StoreResult<SheetWriter> {
        let mut w = SheetWriter {
            workbook: Workbook::new(),
            base_name: base_name.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            text_columns: headers.iter().map(|h| TEXT_COLUMNS.contains(h)).collect(),
            rows_per_sheet: rows_per_sheet.max(1),
            sheet: 0,
            row: 0,
            header_format: Format::new().set_bold(),
            text_format: Format::new().set_num_format("@"),
        };
        w.start_sheet()?;
        Ok(w)
    }

    fn start_sheet(&mut self) -> StoreResult<()> {
        let name = if self.sheet == 0 {
            self.base_name.clone()
        } else {
            format!("{}{}", self.base_name, self.sheet + 1)
        };
        let ws = self
            .workbook
            .add_worksheet_with_constant_memory()
            .map_err(xlsx_error)?;
        ws.set_name(name).map_err(xlsx_error)?;
        for (c, h) in self.headers.iter().enumerate() {
            let width = if self.text_columns[c] { 20.0 } else { 12.0 };
            ws.set_column_width(c as u16, width).map_err(xlsx_error)?;
            if self.text_columns[c] {
                ws.set_column_format(c as u16, &self.text_format)
                    .map_err(xlsx_error)?;
            }
            ws.write_string_with_format(0, c as u16, h, &self.header_format)
                .map_err(xlsx_error)?;
        }
        ws.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        self.row = 0;
        Ok(())
    }

    /// Appends a data row, starting a new sheet when this one is full.
    pub fn push<S: AsRef<str>>(&mut self, cells: &[S]) -> StoreResult<()> {
        if self.row >= self.rows_per_sheet {
            self.sheet += 1;
            self.start_sheet()?;
        }
        self.row += 1;
        let row = self.row;
        let sheet = self.sheet;
        let text_columns = self.text_columns.clone();
        let ws = self
            .workbook
            .worksheet_from_index(sheet)
            .map_err(xlsx_error)?;
        for (c, v) in cells.iter().enumerate() {
            let v = v.as_ref();
            if v.is_empty() {
                continue;
            }
            if text_columns.get(c).copied().unwrap_or(false) {
                ws.write_string_with_format(row, c as u16, v, &self.text_format)
                    .map_err(xlsx_error)?;
            } else {
                ws.write_string(row, c as u16, v).map_err(xlsx_error)?;
            }
        }
        Ok(())
    }

    pub fn sheets(&self) -> usize {
        self.sheet + 1
    }

    pub fn finish_to_buffer(mut self) -> StoreResult<Vec<u8>> {
        self.workbook.save_to_buffer().map_err(xlsx_error)
    }

    /// Saves to an anonymous temporary file and returns it opened at the start; the file is
    /// gone from the directory already, so nothing is left behind.
    pub fn finish_to_file(mut self) -> StoreResult<std::fs::File> {
        let path = std::env::temp_dir().join(format!(
            "bangfu-export-{}-{}.xlsx",
            std::process::id(),
            rand::random::<u64>()
        ));
        self.workbook.save(&path).map_err(xlsx_error)?;
        let file = std::fs::File::open(&path)
            .map_err(|e| StoreError::Internal(format!("无法读取导出文件：{e}")));
        let _ = std::fs::remove_file(&path);
        file
    }
}

/// The members template: sheet 成员 (headers only, text columns formatted as text), sheet 示例
/// with one example row (not read by an import, which takes the first sheet), and sheet 代码表
/// with the accepted values of each coded column.
pub fn member_template_xlsx(tables: &CodeTables) -> StoreResult<Vec<u8>> {
    let headers = member_columns();
    let example: Vec<&str> = vec![
        "4416210001",
        "",
        "441621103212",
        "王大山",
        "男",
        "441621197003050011",
        "户主",
        "汉族",
        "初中",
        "非在校生",
        "健康",
        "普通劳动力",
        "6",
        "一般贫困户",
        "国家标准",
        "因病",
        "缺技术、缺资金",
        "2014",
        "已脱贫（享受政策）",
        "2018",
        "13800001234",
        "三组",
        "否",
        "砖混",
        "是",
        "是",
        "是",
        "是",
        "是",
        "是",
        HOUSEHOLD_TYPE_REGISTERED,
    ];
    template_workbook(&headers, &example, "成员", Some(tables))
}

/// The incomes template (one row per household and year; amounts in yuan).
pub fn income_template_xlsx() -> StoreResult<Vec<u8>> {
    let example = [
        "4416210001",
        "2019",
        "12,000.50",
        "3000",
        "0",
        "1500",
        "600.50",
    ];
    template_workbook(&INCOME_COLUMNS, &example, "收入", None)
}

fn template_workbook(
    headers: &[&str],
    example: &[&str],
    sheet: &str,
    tables: Option<&CodeTables>,
) -> StoreResult<Vec<u8>> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let note = Format::new().set_italic();
    for (i, name) in [sheet, "示例"].into_iter().enumerate() {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(xlsx_error)?;
        for (c, h) in headers.iter().enumerate() {
            let is_text = TEXT_COLUMNS.contains(h);
            ws.set_column_width(c as u16, if is_text { 20.0 } else { 12.0 })
                .map_err(xlsx_error)?;
            if is_text {
                ws.set_column_format(c as u16, &text).map_err(xlsx_error)?;
            }
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(xlsx_error)?;
            if i == 1 {
                let v = example.get(c).copied().unwrap_or("");
                if is_text {
                    ws.write_string_with_format(1, c as u16, v, &text)
                        .map_err(xlsx_error)?;
                } else {
                    ws.write_string(1, c as u16, v).map_err(xlsx_error)?;
                }
            }
        }
        ws.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        if i == 1 {
            ws.write_string_with_format(3, 0, "示例：此页仅供参考，导入时只读取第一个工作表。金额单位为元；证件号码请按文本填写。", &note)
                .map_err(xlsx_error)?;
        }
    }
    if let Some(t) = tables {
        let ws = wb.add_worksheet();
        ws.set_name("代码表").map_err(xlsx_error)?;
        ws.write_string_with_format(0, 0, "列", &bold)
            .map_err(xlsx_error)?;
        ws.write_string_with_format(0, 1, "可填写的值", &bold)
            .map_err(xlsx_error)?;
        ws.set_column_width(0, 16).map_err(xlsx_error)?;
        ws.set_column_width(1, 100).map_err(xlsx_error)?;
        let coded = [
            ("性别", &t.sex),
            ("与户主关系", &t.relation),
            ("民族", &t.ethnicity),
            ("文化程度", &t.education),
            ("在校生状况", &t.schooling),
            ("健康状况", &t.health),
            ("劳动技能", &t.labour),
            ("贫困户属性", &t.household_attribute),
            ("识别标准", &t.identification_standard),
            ("主要致贫原因", &t.cause),
            ("其他致贫原因", &t.cause),
            ("脱贫状态", &t.poverty_status),
        ];
        for (r, (column, table)) in coded.iter().enumerate() {
            ws.write_string(r as u32 + 1, 0, *column)
                .map_err(xlsx_error)?;
            ws.write_string(r as u32 + 1, 1, table.choices_zh())
                .map_err(xlsx_error)?;
        }
    }
    wb.save_to_buffer().map_err(xlsx_error)
}

/// Columns of an import's error report.
pub const PROBLEM_COLUMNS: [&str; 4] = ["行号", "列", "值", "问题"];

fn problem_cells(p: &RowProblem) -> [String; 4] {
    [
        p.row.to_string(),
        p.column.clone(),
        p.value.clone(),
        p.message.clone(),
    ]
}

/// The error report as CSV (UTF-8 with BOM). Values in problems are already masked.
pub fn problems_csv(problems: &[RowProblem]) -> Vec<u8> {
    let mut out = csv_head(&PROBLEM_COLUMNS);
    for p in problems {
        out.extend(csv_record(&problem_cells(p)));
    }
    out
}

/// The error report as XLSX.
pub fn problems_xlsx(problems: &[RowProblem]) -> StoreResult<Vec<u8>> {
    let mut w = SheetWriter::new("问题清单", &PROBLEM_COLUMNS)?;
    for p in problems {
        w.push(&problem_cells(p))?;
    }
    w.finish_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Reader, open_workbook_auto_from_rs};
    use std::io::Cursor;

    fn sheets(bytes: Vec<u8>) -> Vec<(String, Vec<Vec<String>>)> {
        let mut wb = open_workbook_auto_from_rs(Cursor::new(bytes)).unwrap();
        let names = wb.sheet_names().to_vec();
        names
            .into_iter()
            .map(|n| {
                let range = wb.worksheet_range(&n).unwrap();
                let rows = range
                    .rows()
                    .map(|r| r.iter().map(|c| c.to_string()).collect())
                    .collect();
                (n, rows)
            })
            .collect()
    }

    #[test]
    fn full_sheets_continue_on_a_new_sheet_with_the_header_again() {
        let mut w = SheetWriter::with_rows_per_sheet("成员", &["户编号", "姓名"], 2).unwrap();
        for i in 0..5 {
            w.push(&[format!("H{i}"), "张三".to_string()]).unwrap();
        }
        assert_eq!(w.sheets(), 3);
        let got = sheets(w.finish_to_buffer().unwrap());
        let names: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["成员", "成员2", "成员3"]);
        assert_eq!(got[1].1[0], ["户编号", "姓名"]);
        assert_eq!(got[1].1[1], ["H2", "张三"]);
        assert_eq!(got[2].1.len(), 2, "header and the fifth row");
    }

    #[test]
    fn csv_starts_with_a_bom_and_quotes_what_needs_it() {
        let mut bytes = csv_head(&["户编号", "其他致贫原因"]);
        bytes.extend(csv_record(&["H1", "缺技术,缺资金"]));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert_eq!(
            text,
            "\u{feff}户编号,其他致贫原因\r\nH1,\"缺技术,缺资金\"\r\n"
        );
    }

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_leave_as_text_and_numbers_stay_numbers() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+86 123",
            "-cmd",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "-",
            "-1e5",
            "+-1",
            "-.5",
            "-1,000",
        ] {
            assert_eq!(csv_safe_cell(formula), format!("'{formula}"), "{formula:?}");
        }
        for number in ["-12.50", "-3", "+5", "0", "12.5", "1000.00", "-5.25%"] {
            assert_eq!(csv_safe_cell(number), number);
        }
        for text in ["", "王大山", "a=b", "1-", "'=already"] {
            assert_eq!(csv_safe_cell(text), text);
        }
        let text = String::from_utf8(csv_record(&["=1+1", "-600.00", "名称,含逗号"])).unwrap();
        assert_eq!(text, "'=1+1,-600.00,\"名称,含逗号\"\r\n");
    }

    #[test]
    fn templates_have_the_template_headers_and_keep_the_example_off_the_first_sheet() {
        let got = sheets(member_template_xlsx(&CodeTables::builtin()).unwrap());
        assert_eq!(got[0].0, "成员");
        assert_eq!(
            got[0].1.len(),
            1,
            "the sheet an import reads has only the header"
        );
        assert_eq!(got[0].1[0], member_columns());
        assert_eq!(got[1].0, "示例");
        assert_eq!(got[1].1[1][5], "441621197003050011");
        assert_eq!(got[1].1[1].len(), member_columns().len());
        assert!(
            domain::id_number::IdNumber::parse(&got[1].1[1][5]).is_ok(),
            "the example ID is valid"
        );
        let incomes = sheets(income_template_xlsx().unwrap());
        assert_eq!(incomes[0].1[0], INCOME_COLUMNS);
    }
}
