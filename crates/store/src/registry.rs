//! The household registry (建档立卡): reading households and members within the caller's scope,
//! the dated history around them (status, incomes, cadres, measures, events), explicit changes
//! (动态调整), and revealing a masked number (always recorded).
//!
//! Personal numbers leave this module masked; only `reveal_member` returns them whole.

use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::codes::{CodeEntry, CodeTables};
use domain::id_number::{mask_id, mask_phone};
use domain::money::Fen;
use domain::{Caller, RegionCode, Scope};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Coded {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HouseholdSummary {
    pub id: i64,
    pub household_no: String,
    pub village_code: String,
    pub village_name: String,
    pub group_name: String,
    pub head_name: String,
    pub member_count: i64,
    /// A registered poor household (建档立卡户); false for a 一般农户 kept for monitoring, whose
    /// status is 一般农户 and whose identification fields are empty (identified_year 0).
    pub registered: bool,
    pub status: Coded,
    pub attribute: Coded,
    pub identification_standard: Coded,
    pub main_cause: Coded,
    pub other_causes: Vec<Coded>,
    pub identified_year: i64,
    pub exit_year: Option<i64>,
    pub monitoring_type: Option<Coded>,
    pub removed_year: Option<i64>,
    /// Per-capita net income of the year asked for in the filter, in fen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_capita_fen: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: i64,
    pub member_no: Option<String>,
    pub name: String,
    pub sex: Coded,
    /// Always masked: 4416**********0010 (a 残疾人证号 also hides its last two digits:
    /// 4416**********0010**).
    pub id_number: Option<String>,
    pub id_was_15: bool,
    /// Category and grade of a member registered with a 20-digit 残疾人证号.
    pub disability: Option<DisabilityInfo>,
    pub relation: Coded,
    pub ethnicity: Coded,
    pub education: Coded,
    pub schooling: Coded,
    pub health: Coded,
    pub labour: Coded,
    pub migrant_months: Option<i64>,
    /// Always masked.
    pub phone: String,
    pub active: bool,
    pub left_reason: Option<String>,
    pub left_date: Option<String>,
}

/// What a 残疾人证号 says: category (1–7) and grade (1–4), with their names.
#[derive(Debug, Clone, Serialize)]
pub struct DisabilityInfo {
    pub category: u8,
    pub category_name: String,
    pub grade: u8,
    pub grade_name: &'static str,
}

impl DisabilityInfo {
    fn from_suffix(s: Option<&str>) -> Option<DisabilityInfo> {
        let d = domain::id_number::Disability::from_suffix(s?)?;
        Some(DisabilityInfo {
            category: d.category,
            category_name: d.category_zh(),
            grade: d.grade,
            grade_name: d.grade_zh(),
        })
    }
}

/// The masked 证件号码: the ID number's mask, and "**" for the two digits a 残疾人证号 adds.
pub fn mask_id_or_certificate(id_number: &str, disability_suffix: Option<&str>) -> String {
    let mut m = mask_id(id_number);
    if disability_suffix.is_some() {
        m.push_str("**");
    }
    m
}

#[derive(Debug, Clone, Serialize)]
pub struct IncomeYear {
    pub year: i64,
    pub wage_fen: i64,
    pub business_fen: i64,
    pub property_fen: i64,
    pub transfer_fen: i64,
    pub business_cost_fen: i64,
    pub net_fen: i64,
    pub household_size: i64,
    pub per_capita_fen: i64,
    pub per_capita_yuan: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    pub status: Coded,
    pub year: i64,
    pub note: String,
    /// 导入, 状态变更 or 退出程序 (see domain::poverty_status).
    pub source: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cadre {
    pub name: String,
    pub unit: String,
    pub unit_level: String,
    pub phone: String,
    pub start_date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub id: i64,
    pub measure_type: String,
    pub project_id: Option<i64>,
    pub amount_fen: Option<i64>,
    pub measure_date: String,
    pub relocated_from: Option<String>,
    pub relocated_to: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HouseholdEvent {
    pub id: i64,
    pub event_type: String,
    pub event_name: &'static str,
    pub member_id: Option<i64>,
    pub event_date: String,
    pub note: String,
    pub recorded_at: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HouseholdDetail {
    #[serde(flatten)]
    pub summary: HouseholdSummary,
    pub region_path: Vec<(String, String)>,
    /// Masked.
    pub phone: String,
    pub housing_dangerous: Option<bool>,
    pub housing_structure: String,
    pub safe_water: Option<bool>,
    pub food_secure: Option<bool>,
    pub clothing_secure: Option<bool>,
    pub education_secure: Option<bool>,
    pub medical_secure: Option<bool>,
    pub housing_secure: Option<bool>,
    pub members: Vec<Member>,
    pub incomes: Vec<IncomeYear>,
    pub status_history: Vec<StatusChange>,
    pub cadres: Vec<Cadre>,
    pub measures: Vec<Measure>,
    pub events: Vec<HouseholdEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HouseholdSort {
    HouseholdNo,
    IdentifiedYear,
    MemberCount,
}

impl HouseholdSort {
    pub fn parse(s: &str) -> Option<HouseholdSort> {
        match s {
            "household_no" | "" => Some(HouseholdSort::HouseholdNo),
            "identified_year" => Some(HouseholdSort::IdentifiedYear),
            "member_count" => Some(HouseholdSort::MemberCount),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HouseholdFilter {
    pub region: Option<RegionCode>,
    pub status: Option<String>,
    pub attribute: Option<String>,
    pub cause: Option<String>,
    pub identified_year: Option<i64>,
    /// Per-capita income range [min, max] in fen for `income_year`.
    pub income_year: Option<i64>,
    pub income_min_fen: Option<i64>,
    pub income_max_fen: Option<i64>,
    /// Some(true): any monitoring category; Some(false): none.
    pub monitored: Option<bool>,
    pub monitoring_type: Option<String>,
    pub include_removed: bool,
    pub name: Option<String>,
}

/// A keyset position: the sort value and the id of the last row seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdCursor {
    pub sort_value: String,
    pub id: i64,
}

impl HouseholdCursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", hex_encode(&self.sort_value), self.id)
    }

    pub fn decode(s: &str) -> Option<HouseholdCursor> {
        let (v, id) = s.rsplit_once('.')?;
        Some(HouseholdCursor {
            sort_value: hex_decode(v)?,
            id: id.parse().ok()?,
        })
    }
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub(crate) fn coded(tables: &CodeTables, table: &str, code: &str) -> Coded {
    if table == "poverty_status" && code == domain::registry::STATUS_NOT_REGISTERED {
        return Coded {
            code: code.to_string(),
            name: domain::registry::NOT_REGISTERED_NAME.to_string(),
        };
    }
    let name = tables
        .get(table)
        .and_then(|t| t.name_of(code))
        .unwrap_or(code)
        .to_string();
    Coded {
        code: code.to_string(),
        name,
    }
}

/// SQL restriction of households to a scope; numbers only.
pub(crate) fn household_scope_sql(scope: &Scope, alias: &str) -> String {
    match scope.region_ranges() {
        None => String::new(),
        Some(ranges) if ranges.is_empty() => " AND 1 = 0".into(),
        Some(ranges) => {
            let parts: Vec<String> = ranges
                .iter()
                .map(|(lo, hi)| {
                    format!("({alias}.village_key >= {lo} AND {alias}.village_key < {hi})")
                })
                .collect();
            format!(" AND ({})", parts.join(" OR "))
        }
    }
}

/// Who may read personal records at all: the public is asked to log in (401), a logged-in
/// account without registry access is refused (403). Every registry, assessment, monitoring
/// and export read starts here.
pub(crate) fn require_read(caller: &Caller) -> StoreResult<()> {
    if caller.can_read_registry() {
        Ok(())
    } else if !caller.is_authenticated() {
        Err(StoreError::LoginRequired("请先登录".into()))
    } else {
        Err(StoreError::Forbidden("您没有查看建档立卡数据的权限".into()))
    }
}

/// Refuses callers who may not change the registry (see `Caller::can_write_registry`).
pub fn require_write(caller: &Caller) -> StoreResult<()> {
    if caller.can_write_registry() {
        Ok(())
    } else {
        Err(StoreError::Forbidden("您没有修改建档立卡数据的权限".into()))
    }
}

/// Incomes and measures: field work, which village first secretaries record too.
pub fn require_field_work(caller: &Caller) -> StoreResult<()> {
    if caller.can_record_field_work() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "您没有录入走访、收入和帮扶措施的权限".into(),
        ))
    }
}

const SUMMARY_COLUMNS: &str = "h.id, h.household_no, h.village_key, r.name, h.group_name, h.head_name, h.member_count, h.status,
    h.attribute, h.identification_standard, h.main_cause, h.other_causes, h.identified_year, h.exit_year, h.monitoring_type, h.removed_year";
const SUMMARY_TYS: [Ty; 16] = [
    Ty::I64,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::I64,
];

fn summary_from(r: &[Val], t: &CodeTables) -> HouseholdSummary {
    let village = RegionCode::from_key(r[2].i64().unwrap_or_default());
    HouseholdSummary {
        id: r[0].i64().unwrap_or_default(),
        household_no: r[1].string(),
        village_code: village.map(|v| v.to_string()).unwrap_or_default(),
        village_name: r[3].string(),
        group_name: r[4].string(),
        head_name: r[5].string(),
        member_count: r[6].i64().unwrap_or_default(),
        registered: r[7].str() != Some(domain::registry::STATUS_NOT_REGISTERED),
        status: coded(t, "poverty_status", r[7].str().unwrap_or_default()),
        attribute: coded(t, "household_attribute", r[8].str().unwrap_or_default()),
        identification_standard: coded(
            t,
            "identification_standard",
            r[9].str().unwrap_or_default(),
        ),
        main_cause: coded(t, "cause", r[10].str().unwrap_or_default()),
        other_causes: r[11]
            .str()
            .unwrap_or_default()
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| coded(t, "cause", c))
            .collect(),
        identified_year: r[12].i64().unwrap_or_default(),
        exit_year: r[13].i64(),
        monitoring_type: r[14]
            .str()
            .filter(|s| !s.is_empty())
            .map(|m| coded(t, "monitoring_type", m)),
        removed_year: r[15].i64(),
        per_capita_fen: None,
    }
}

impl Db {
    /// The code tables in force: the shipped ones plus values administrators added.
    pub async fn code_tables(&self) -> StoreResult<CodeTables> {
        let mut tables = CodeTables::builtin();
        let added: Vec<(String, String, String, String, Option<i64>)> = on_db!(self, p => sqlx::query_as(
            "SELECT table_name, code, name, aliases, valid_from FROM code_values ORDER BY table_name, code").fetch_all(p).await)?;
        for (table, code, name, aliases, valid_from) in added {
            if let Some(t) = tables.get_mut(&table)
                && t.by_code(&code).is_none()
            {
                let aliases: Vec<&str> = aliases.split('|').filter(|a| !a.is_empty()).collect();
                let mut entry = CodeEntry::new(code, name).with_aliases(&aliases);
                if let Some(y) = valid_from {
                    entry = entry.with_valid_from(y as i32);
                }
                t.add_entry(entry);
            }
        }
        Ok(tables)
    }

    /// Adds a value to a code table from a start year; old records keep theirs.
    pub async fn add_code_value(
        &self,
        caller: &Caller,
        table: &str,
        code: &str,
        name: &str,
        aliases: &[String],
        valid_from: Option<i64>,
    ) -> StoreResult<()> {
        if caller.role != domain::Role::Admin {
            return Err(StoreError::Forbidden("只有管理员可以修改代码表".into()));
        }
        let tables = self.code_tables().await?;
        let Some(t) = tables.get(table) else {
            return Err(StoreError::invalid_field(
                "table",
                format!("没有名为 {table} 的代码表"),
            ));
        };
        if t.by_code(code).is_some() || t.lookup(name).is_some() {
            return Err(StoreError::invalid_field(
                "code",
                format!("代码 {code} 或名称“{name}”已在{}中", t.label_zh()),
            ));
        }
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO code_values (table_name, code, name, aliases, valid_from) VALUES ($1, $2, $3, $4, $5)")
                .bind(table).bind(code).bind(name).bind(aliases.join("|")).bind(valid_from).execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "create", "code_values", Some(format!("{table}:{code}")), None, None,
                Some(serde_json::json!({"name": name, "aliases": aliases, "valid_from": valid_from})), String::new());
            crate::commit!(tx)?;
        });
        Ok(())
    }

    /// Lists households in the caller's scope, filtered and sorted, one keyset page.
    pub async fn list_households(
        &self,
        caller: &Caller,
        filter: &HouseholdFilter,
        sort: HouseholdSort,
        after: Option<&HouseholdCursor>,
        limit: i64,
    ) -> StoreResult<Vec<HouseholdSummary>> {
        require_read(caller)?;
        let tables = self.code_tables().await?;
        let mut vals: Vec<Val> = Vec::new();
        let arg = |v: Val, vals: &mut Vec<Val>| {
            vals.push(v);
            format!("${}", vals.len())
        };
        let mut sql = format!("SELECT {SUMMARY_COLUMNS}");
        let income = filter.income_year.is_some();
        if income {
            sql += ", i.per_capita_fen";
        }
        sql += " FROM households h JOIN regions r ON r.key = h.village_key";
        if let Some(year) = filter.income_year {
            let p = arg(year.into(), &mut vals);
            sql += &format!(" JOIN household_incomes i ON i.household_id = h.id AND i.year = {p}");
        }
        sql += " WHERE 1 = 1";
        if let Some(region) = filter.region {
            if region.level() == domain::RegionLevel::County {
                sql += &format!(" AND h.county_key = {}", region.key());
            } else {
                let (lo, hi) = region.subtree_key_range();
                sql += &format!(" AND h.village_key >= {lo} AND h.village_key < {hi}");
            }
        }
        sql += &household_scope_sql(&caller.scope, "h");
        if !filter.include_removed {
            sql += " AND h.removed_year IS NULL";
        }
        if let Some(s) = &filter.status {
            sql += &format!(" AND h.status = {}", arg(s.as_str().into(), &mut vals));
        }
        if let Some(a) = &filter.attribute {
            sql += &format!(" AND h.attribute = {}", arg(a.as_str().into(), &mut vals));
        }
        if let Some(c) = &filter.cause {
            let p1 = arg(c.as_str().into(), &mut vals);
            let p2 = arg(format!("%{c}%").into(), &mut vals);
            sql += &format!(" AND (h.main_cause = {p1} OR h.other_causes LIKE {p2})");
        }
        if let Some(y) = filter.identified_year {
            sql += &format!(" AND h.identified_year = {}", arg(y.into(), &mut vals));
        }
        if let Some(min) = filter.income_min_fen.filter(|_| income) {
            sql += &format!(" AND i.per_capita_fen >= {}", arg(min.into(), &mut vals));
        }
        if let Some(max) = filter.income_max_fen.filter(|_| income) {
            sql += &format!(" AND i.per_capita_fen <= {}", arg(max.into(), &mut vals));
        }
        match filter.monitored {
            Some(true) => sql += " AND h.monitoring_type IS NOT NULL",
            Some(false) => sql += " AND h.monitoring_type IS NULL",
            None => {}
        }
        if let Some(m) = &filter.monitoring_type {
            sql += &format!(
                " AND h.monitoring_type = {}",
                arg(m.as_str().into(), &mut vals)
            );
        }
        if let Some(n) = &filter.name {
            let p = arg(
                format!("%{}%", crate::regions::escape_like(n)).into(),
                &mut vals,
            );
            sql += &format!(
                " AND (h.head_name LIKE {p} ESCAPE '\\' OR h.household_no LIKE {p} ESCAPE '\\')"
            );
        }
        let (column, numeric) = match sort {
            HouseholdSort::HouseholdNo => ("h.household_no", false),
            HouseholdSort::IdentifiedYear => ("h.identified_year", true),
            HouseholdSort::MemberCount => ("h.member_count", true),
        };
        if let Some(c) = after {
            let v = if numeric {
                Val::I64(c.sort_value.parse().ok())
            } else {
                Val::from(c.sort_value.as_str())
            };
            let pv = arg(v, &mut vals);
            let pid = arg(c.id.into(), &mut vals);
            sql += &format!(" AND ({column} > {pv} OR ({column} = {pv} AND h.id > {pid}))");
        }
        sql += &format!(" ORDER BY {column}, h.id LIMIT {}", limit.clamp(1, 10_001));
        let mut tys = SUMMARY_TYS.to_vec();
        if income {
            tys.push(Ty::I64);
        }
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &vals, &tys).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows
            .iter()
            .map(|r| {
                let mut s = summary_from(r, &tables);
                if income {
                    s.per_capita_fen = r[16].i64();
                }
                s
            })
            .collect())
    }

    /// The keyset cursor after a row, for a sort.
    pub fn household_cursor(sort: HouseholdSort, h: &HouseholdSummary) -> HouseholdCursor {
        let sort_value = match sort {
            HouseholdSort::HouseholdNo => h.household_no.clone(),
            HouseholdSort::IdentifiedYear => h.identified_year.to_string(),
            HouseholdSort::MemberCount => h.member_count.to_string(),
        };
        HouseholdCursor {
            sort_value,
            id: h.id,
        }
    }

    /// 一户一档: everything about one household in the caller's scope (None outside it).
    pub async fn household_detail(
        &self,
        caller: &Caller,
        id: i64,
    ) -> StoreResult<Option<HouseholdDetail>> {
        require_read(caller)?;
        let tables = self.code_tables().await?;
        let scope_sql = household_scope_sql(&caller.scope, "h");
        let head = format!(
            "SELECT {SUMMARY_COLUMNS}, h.phone, h.housing_dangerous, h.housing_structure, h.safe_water, h.food_secure, h.clothing_secure,
             h.education_secure, h.medical_secure, h.housing_secure
             FROM households h JOIN regions r ON r.key = h.village_key WHERE h.id = $1{scope_sql}"
        );
        let mut tys = SUMMARY_TYS.to_vec();
        tys.extend([
            Ty::Str,
            Ty::Bool,
            Ty::Str,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
            Ty::Bool,
        ]);
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&head, &[id.into()], &tys).await?;
            let Some(r) = rows.first() else { return Ok(None) };
            let summary = summary_from(r, &tables);
            let members = tx.rows(
                "SELECT id, member_no, name, sex, id_number, id_was_15, relation, ethnicity, education, schooling, health, labour,
                 migrant_months, phone, active, left_reason, left_date, disability_suffix FROM members WHERE household_id = $1 ORDER BY active DESC, relation, id",
                &[id.into()],
                &[Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Bool, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::I64, Ty::Str, Ty::Bool, Ty::Str, Ty::Str, Ty::Str],
            ).await?;
            let members = members.iter().map(|m| member_from(m, &tables)).collect();
            let incomes = tx.rows(
                "SELECT year, wage_fen, business_fen, property_fen, transfer_fen, business_cost_fen, net_fen, household_size, per_capita_fen
                 FROM household_incomes WHERE household_id = $1 ORDER BY year",
                &[id.into()], &[Ty::I64; 9]).await?;
            let incomes = incomes.iter().map(|r| {
                let v = |i: usize| r[i].i64().unwrap_or_default();
                IncomeYear { year: v(0), wage_fen: v(1), business_fen: v(2), property_fen: v(3), transfer_fen: v(4), business_cost_fen: v(5),
                    net_fen: v(6), household_size: v(7), per_capita_fen: v(8), per_capita_yuan: Fen(v(8)).yuan_string() }
            }).collect();
            let history = tx.rows(
                "SELECT status, year, note, recorded_at, recorded_by, source FROM household_status_history WHERE household_id = $1 ORDER BY year, id",
                &[id.into()], &[Ty::Str, Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str]).await?;
            let status_history = history.iter().map(|r| StatusChange {
                status: coded(&tables, "poverty_status", r[0].str().unwrap_or_default()), year: r[1].i64().unwrap_or_default(),
                note: r[2].string(), source: r[5].string(), recorded_at: r[3].string(), recorded_by: r[4].string() }).collect();
            let cadres = tx.rows(
                "SELECT name, unit, unit_level, phone, start_date FROM household_cadres WHERE household_id = $1 ORDER BY start_date, id",
                &[id.into()], &[Ty::Str; 5]).await?;
            let cadres = cadres.iter().map(|r| Cadre { name: r[0].string(), unit: r[1].string(), unit_level: r[2].string(),
                phone: mask_phone(r[3].str().unwrap_or_default()), start_date: r[4].string() }).collect();
            let measures = tx.rows(
                "SELECT id, measure_type, project_id, amount_fen, measure_date, relocated_from_key, relocated_to_key, note
                 FROM household_measures WHERE household_id = $1 ORDER BY measure_date, id",
                &[id.into()], &[Ty::I64, Ty::Str, Ty::I64, Ty::I64, Ty::Str, Ty::I64, Ty::I64, Ty::Str]).await?;
            let measures = measures.iter().map(|r| Measure { id: r[0].i64().unwrap_or_default(), measure_type: r[1].string(),
                project_id: r[2].i64(), amount_fen: r[3].i64(), measure_date: r[4].string(),
                relocated_from: r[5].i64().and_then(RegionCode::from_key).map(|c| c.to_string()),
                relocated_to: r[6].i64().and_then(RegionCode::from_key).map(|c| c.to_string()), note: r[7].string() }).collect();
            let events = tx.rows(
                "SELECT id, event_type, member_id, event_date, note, recorded_at, recorded_by FROM household_events WHERE household_id = $1 ORDER BY event_date, id",
                &[id.into()], &[Ty::I64, Ty::Str, Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str]).await?;
            let events = events.iter().map(|r| {
                let t = r[1].string();
                HouseholdEvent { id: r[0].i64().unwrap_or_default(), event_name: EventType::parse(&t).map(|e| e.name_zh()).unwrap_or(""),
                    event_type: t, member_id: r[2].i64(), event_date: r[3].string(), note: r[4].string(),
                    recorded_at: r[5].string(), recorded_by: r[6].string() }
            }).collect();
            crate::commit!(tx)?;
            let village = RegionCode::from_key(r[2].i64().unwrap_or_default());
            let region_path = match village {
                Some(v) => self.region_ancestors(v).await?.into_iter().map(|a| (a.code.to_string(), a.name)).collect(),
                None => Vec::new(),
            };
            let b = |i: usize| r[i].bool();
            Ok(Some(HouseholdDetail {
                phone: mask_phone(r[16].str().unwrap_or_default()),
                housing_dangerous: b(17),
                housing_structure: r[18].string(),
                safe_water: b(19), food_secure: b(20), clothing_secure: b(21), education_secure: b(22), medical_secure: b(23), housing_secure: b(24),
                summary, region_path, members, incomes, status_history, cadres, measures, events,
            }))
        })
    }

    pub async fn household_id_by_no(
        &self,
        caller: &Caller,
        household_no: &str,
    ) -> StoreResult<Option<i64>> {
        require_read(caller)?;
        let sql = format!(
            "SELECT h.id FROM households h WHERE h.household_no = $1{}",
            household_scope_sql(&caller.scope, "h")
        );
        Ok(on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[household_no.into()], &[Ty::I64]).await?;
            crate::commit!(tx)?;
            rows.first().and_then(|r| r[0].i64())
        }))
    }

    /// Refuses a 户编号 for a new household when it is taken. Inside the caller's scope this is
    /// the usual conflict; outside it the answer says only that the number is taken (not where)
    /// and the attempt is recorded as an identity clash (see `audit`), which may block the user.
    pub async fn require_household_no_free(
        &self,
        caller: &Caller,
        household_no: &str,
        source: &str,
    ) -> StoreResult<()> {
        require_write(caller)?;
        self.require_not_blocked(caller).await?;
        let no = domain::text::normalize(household_no);
        if no.is_empty() {
            return Ok(());
        }
        let village: Option<i64> = on_db!(self, p => sqlx::query_scalar("SELECT village_key FROM households WHERE household_no = $1").bind(&no).fetch_optional(p).await)?;
        match village {
            None => Ok(()),
            Some(v) if crate::registry_import::village_key_in_scope(&caller.scope, v) => Err(
                StoreError::Conflict(format!("户编号 {no} 已存在，请修改该户而不是新建")),
            ),
            Some(_) => {
                let clash = crate::audit::IdentityClash {
                    kind: "household_no",
                    value: no.clone(),
                    row: None,
                };
                let source = crate::audit::ClashSource {
                    file_name: source.to_string(),
                    sha256: None,
                };
                self.record_identity_clashes(caller, &source, &[clash])
                    .await?;
                Err(StoreError::Conflict(
                    crate::registry_import::household_no_taken(&no),
                ))
            }
        }
    }

    /// Returns the full ID and phone numbers of a member; every reveal is recorded.
    pub async fn reveal_member(
        &self,
        caller: &Caller,
        member_id: i64,
        reason: &str,
    ) -> StoreResult<(Option<String>, String)> {
        require_read(caller)?;
        if !caller.can_reveal {
            return Err(StoreError::Forbidden("您没有查看完整证件号码的权限".into()));
        }
        let reason = domain::auth::check_reveal_reason(reason)
            .map_err(|m| StoreError::invalid_field("reason", m))?;
        let sql = format!(
            "SELECT m.id_number, m.phone, h.household_no, m.disability_suffix FROM members m JOIN households h ON h.id = m.household_id WHERE m.id = $1{}",
            household_scope_sql(&caller.scope, "h")
        );
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[member_id.into()], &[Ty::Str, Ty::Str, Ty::Str, Ty::Str]).await?;
            let Some(r) = rows.first() else {
                return Err(StoreError::NotFound(format!("成员 {member_id} 不存在")));
            };
            audit!(&mut *tx, caller, "reveal", "members", Some(member_id.to_string()), None, None, None,
                format!("户编号 {}；事由：{reason}", r[2].string()));
            crate::commit!(tx)?;
            // The 证件号码 as registered: a 残疾人证号 whole.
            let id = r[0].str().map(|n| format!("{n}{}", r[3].str().unwrap_or_default()));
            Ok((id, r[1].string()))
        })
    }

    /// Records a 动态调整 event; member changes happen in the same transaction.
    pub async fn record_household_event(
        &self,
        caller: &Caller,
        household_id: i64,
        event: NewEvent,
    ) -> StoreResult<i64> {
        require_write(caller)?;
        let detail = self
            .household_detail(caller, household_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("户 {household_id} 不存在")))?;
        if !valid_date(&event.date) {
            return Err(StoreError::invalid_field("date", "日期应为 YYYY-MM-DD"));
        }
        let now = now_rfc3339();
        let member = match (event.kind.removes_member(), event.member_id) {
            (true, None) => return Err(StoreError::invalid_field("member_id", "请指定减少的成员")),
            (true, Some(m)) => match detail.members.iter().find(|x| x.id == m && x.active) {
                None => {
                    return Err(StoreError::invalid_field(
                        "member_id",
                        format!("成员 {m} 不是本户的在册成员"),
                    ));
                }
                Some(x) if x.relation.code == domain::registry::HEAD_RELATION => {
                    // The members left behind must still have exactly one 户主 (a household
                    // whose last member leaves has none left to count).
                    let left: Vec<_> = detail
                        .members
                        .iter()
                        .filter(|o| o.active && o.id != m)
                        .collect();
                    let heads = left
                        .iter()
                        .filter(|o| o.relation.code == domain::registry::HEAD_RELATION)
                        .count();
                    if !left.is_empty()
                        && let Err(e) = domain::registry::check_head_count(
                            &detail.summary.household_no,
                            heads,
                            true,
                        )
                    {
                        return Err(StoreError::invalid_field(
                            "member_id",
                            format!("户主不能直接减少：请先变更户主（减少后{e}）"),
                        ));
                    }
                    Some(m)
                }
                Some(_) => Some(m),
            },
            (false, m) => m,
        };
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            if event.kind.removes_member() {
                sqlx::query("UPDATE members SET active = FALSE, left_reason = $1, left_date = $2, updated_at = $3 WHERE id = $4")
                    .bind(event.kind.as_str()).bind(&event.date).bind(&now).bind(member).execute(&mut *tx).await?;
                sqlx::query("UPDATE households SET member_count = member_count - 1, updated_at = $1 WHERE id = $2")
                    .bind(&now).bind(household_id).execute(&mut *tx).await?;
            }
            if event.kind == EventType::HouseholdRemoved {
                let year: i64 = event.date[..4].parse().unwrap_or_default();
                sqlx::query("UPDATE households SET removed_year = $1, removed_reason = $2, updated_at = $3 WHERE id = $4")
                    .bind(year).bind(&event.note).bind(&now).bind(household_id).execute(&mut *tx).await?;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO household_events (household_id, member_id, event_type, event_date, note, recorded_at, recorded_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
                .bind(household_id).bind(member).bind(event.kind.as_str()).bind(&event.date).bind(&event.note).bind(&now).bind(&caller.username)
                .fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "event", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"event": event.kind.as_str(), "member_id": member, "date": event.date})), event.note.clone());
            crate::commit!(tx)?;
            Ok(id)
        })
    }

    /// Appends a status change (and keeps the current status on the household for lists): only
    /// the transitions of `domain::poverty_status` that go through this door; a change out of
    /// poverty is the exit procedure's 销号 (`record_exit_step`).
    pub async fn change_household_status(
        &self,
        caller: &Caller,
        household_id: i64,
        status: &str,
        year: i64,
        note: &str,
    ) -> StoreResult<()> {
        require_write(caller)?;
        let detail = self
            .household_detail(caller, household_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("户 {household_id} 不存在")))?;
        if !detail.summary.registered {
            // Becoming a registered household is identification (识别), with its own data: an import row with 户类型 建档立卡户.
            return Err(StoreError::invalid_field(
                "status",
                "该户为一般农户（未建档立卡），没有脱贫状态；如经识别纳入建档立卡，请以“建档立卡户”重新导入或编辑该户",
            ));
        }
        let tables = self.code_tables().await?;
        let Some(entry) = tables.poverty_status.lookup(status) else {
            return Err(StoreError::invalid_field(
                "status",
                format!(
                    "脱贫状态“{status}”无效，可选：{}",
                    tables.poverty_status.choices_zh()
                ),
            ));
        };
        if year < detail.summary.identified_year || year > crate::current_year() {
            return Err(StoreError::invalid_field(
                "year",
                "年份应在识别年度与今年之间",
            ));
        }
        let code = entry.code.clone();
        let rules = self.current_rules().await?.rules;
        let exit_year = domain::poverty_status::check_status_change(
            &detail.summary.status.code,
            &code,
            year,
            domain::poverty_status::StatusDoor::Change,
            detail.summary.exit_year,
            rules.returned_status_last_year,
        )
        .map_err(|m| StoreError::invalid_field("status", m))?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO household_status_history (household_id, status, year, note, recorded_at, recorded_by, source) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(household_id).bind(&code).bind(year).bind(note).bind(&now).bind(&caller.username)
                .bind(domain::poverty_status::SOURCE_CHANGE).execute(&mut *tx).await?;
            sqlx::query("UPDATE households SET status = $1, exit_year = $2, updated_at = $3 WHERE id = $4")
                .bind(&code).bind(exit_year).bind(&now).bind(household_id).execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "status", "households", Some(household_id.to_string()),
                None, Some(serde_json::json!({"status": detail.summary.status.code})), Some(serde_json::json!({"status": code, "year": year})), note.to_string());
            crate::commit!(tx)?;
        });
        Ok(())
    }

    /// Writes one year of income (components in fen); the net and per-capita figures are computed.
    pub async fn record_income(
        &self,
        caller: &Caller,
        household_id: i64,
        income: &domain::registry::IncomeRow,
    ) -> StoreResult<IncomeYear> {
        require_field_work(caller)?;
        let detail = self
            .household_detail(caller, household_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("户 {household_id} 不存在")))?;
        let net = income
            .net()
            .ok_or_else(|| StoreError::invalid_field("wage", "收入合计超出范围"))?;
        let size = detail.summary.member_count;
        let pc = domain::registry::per_capita(net, size).ok_or_else(|| {
            StoreError::invalid_field("household", "本户没有在册成员，无法计算人均纯收入")
        })?;
        let now = now_rfc3339();
        let before = detail
            .incomes
            .iter()
            .find(|i| i.year == income.year)
            .map(|i| serde_json::json!({"net_fen": i.net_fen}));
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO household_incomes (household_id, year, wage_fen, business_fen, property_fen, transfer_fen, business_cost_fen,
                 net_fen, household_size, per_capita_fen, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (household_id, year) DO UPDATE SET wage_fen = excluded.wage_fen, business_fen = excluded.business_fen,
                 property_fen = excluded.property_fen, transfer_fen = excluded.transfer_fen, business_cost_fen = excluded.business_cost_fen,
                 net_fen = excluded.net_fen, household_size = excluded.household_size, per_capita_fen = excluded.per_capita_fen, recorded_at = excluded.recorded_at")
                .bind(household_id).bind(income.year).bind(income.wage.0).bind(income.business.0).bind(income.property.0)
                .bind(income.transfer.0).bind(income.business_cost.0).bind(net.0).bind(size).bind(pc.0).bind(&now)
                .execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "income", "households", Some(household_id.to_string()), None, before,
                Some(serde_json::json!({"year": income.year, "net_fen": net.0, "per_capita_fen": pc.0})), String::new());
            crate::commit!(tx)?;
        });
        Ok(IncomeYear {
            year: income.year,
            wage_fen: income.wage.0,
            business_fen: income.business.0,
            property_fen: income.property.0,
            transfer_fen: income.transfer.0,
            business_cost_fen: income.business_cost.0,
            net_fen: net.0,
            household_size: size,
            per_capita_fen: pc.0,
            per_capita_yuan: pc.yuan_string(),
        })
    }

    /// Appends a 帮扶责任人 (the newest start date is the current one).
    pub async fn add_cadre(
        &self,
        caller: &Caller,
        household_id: i64,
        cadre: &Cadre,
    ) -> StoreResult<()> {
        require_write(caller)?;
        self.household_detail(caller, household_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("户 {household_id} 不存在")))?;
        let mut problems = domain::validation::Problems::default();
        if cadre.name.trim().is_empty() {
            problems.push("name", "请填写帮扶责任人姓名");
        }
        if cadre.unit.trim().is_empty() {
            problems.push("unit", "请填写工作单位");
        }
        if !["省直", "市直", "县直", "乡镇", "村"].contains(&cadre.unit_level.as_str()) {
            problems.push("unit_level", "单位层级应为：省直、市直、县直、乡镇、村");
        }
        if !valid_date(&cadre.start_date) {
            problems.push("start_date", "日期应为 YYYY-MM-DD");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO household_cadres (household_id, name, unit, unit_level, phone, start_date, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(household_id).bind(cadre.name.trim()).bind(cadre.unit.trim()).bind(&cadre.unit_level).bind(&cadre.phone).bind(&cadre.start_date).bind(&now)
                .execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "cadre", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"name": cadre.name, "unit": cadre.unit, "start_date": cadre.start_date, "phone": mask_phone(&cadre.phone)})), String::new());
            crate::commit!(tx)?;
        });
        Ok(())
    }

    /// Records a 帮扶措施; relocation (易地扶贫搬迁) records the villages moved from and to.
    pub async fn add_measure(
        &self,
        caller: &Caller,
        household_id: i64,
        m: &NewMeasure,
    ) -> StoreResult<i64> {
        require_field_work(caller)?;
        self.household_detail(caller, household_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("户 {household_id} 不存在")))?;
        let mut problems = domain::validation::Problems::default();
        if !MEASURE_TYPES.contains(&m.measure_type.as_str()) {
            problems.push(
                "measure_type",
                format!("措施类型应为：{}", MEASURE_TYPES.join("、")),
            );
        }
        if !valid_date(&m.date) {
            problems.push("date", "日期应为 YYYY-MM-DD");
        }
        if m.amount_fen.is_some_and(|a| a < 0) {
            problems.push("amount", "金额不能为负数");
        }
        let is_relocation = m.measure_type == "易地扶贫搬迁";
        let mut village = |field: &str, code: &Option<String>| -> Option<RegionCode> {
            match code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None if is_relocation => {
                    problems.push(field, "易地扶贫搬迁须填写迁出村和迁入村（12 位村级代码）");
                    None
                }
                None => None,
                Some(c) => match RegionCode::parse(c) {
                    Ok(v) if v.level() == domain::RegionLevel::Village => Some(v),
                    _ => {
                        problems.push(field, "应为 12 位村级区划代码");
                        None
                    }
                },
            }
        };
        let from = village("relocated_from", &m.relocated_from);
        let to = village("relocated_to", &m.relocated_to);
        for (field, v) in [("relocated_from", from), ("relocated_to", to)] {
            if let Some(v) = v
                && self.get_region(v).await?.is_none()
            {
                problems.push(field, format!("区划代码 {v} 不存在"));
            }
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO household_measures (household_id, measure_type, project_id, amount_fen, measure_date,
                 relocated_from_key, relocated_to_key, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                .bind(household_id).bind(&m.measure_type).bind(m.project_id).bind(m.amount_fen).bind(&m.date)
                .bind(from.map(|c| c.key())).bind(to.map(|c| c.key())).bind(&m.note).bind(&now)
                .fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "measure", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"measure_type": m.measure_type, "amount_fen": m.amount_fen, "date": m.date})), String::new());
            crate::commit!(tx)?;
            Ok(id)
        })
    }

    /// Registry totals for a scope (used by pages and, later, dashboards).
    pub async fn registry_counts(&self, caller: &Caller) -> StoreResult<(i64, i64)> {
        require_read(caller)?;
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(h.member_count), 0) AS BIGINT) FROM households h WHERE h.removed_year IS NULL{}",
            household_scope_sql(&caller.scope, "h")
        );
        Ok(on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = tx.rows(&sql, &[], &[Ty::I64, Ty::I64]).await?;
            crate::commit!(tx)?;
            (r[0][0].i64().unwrap_or_default(), r[0][1].i64().unwrap_or_default())
        }))
    }
}

pub const MEASURE_TYPES: [&str; 11] = [
    "产业",
    "易地扶贫搬迁",
    "务工",
    "教育",
    "医疗",
    "低保兜底",
    "小额信贷",
    "入股分红",
    "光伏",
    "电商",
    "乡村旅游",
];

/// A 'YYYY-MM-DD' date that exists on the calendar.
pub fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[..4].parse::<i32>(),
        s[5..7].parse::<u32>(),
        s[8..].parse::<u32>(),
    ) else {
        return false;
    };
    domain::id_number::is_valid_date(y, m, d)
}

fn member_from(m: &[Val], t: &CodeTables) -> Member {
    Member {
        id: m[0].i64().unwrap_or_default(),
        member_no: m[1].str().map(String::from),
        name: m[2].string(),
        sex: coded(t, "sex", m[3].str().unwrap_or_default()),
        id_number: m[4].str().map(|n| mask_id_or_certificate(n, m[17].str())),
        id_was_15: m[5].bool().unwrap_or(false),
        disability: DisabilityInfo::from_suffix(m[17].str()),
        relation: coded(t, "relation", m[6].str().unwrap_or_default()),
        ethnicity: coded(t, "ethnicity", m[7].str().unwrap_or_default()),
        education: coded(t, "education", m[8].str().unwrap_or_default()),
        schooling: coded(t, "schooling", m[9].str().unwrap_or_default()),
        health: coded(t, "health", m[10].str().unwrap_or_default()),
        labour: coded(t, "labour", m[11].str().unwrap_or_default()),
        migrant_months: m[12].i64(),
        phone: mask_phone(m[13].str().unwrap_or_default()),
        active: m[14].bool().unwrap_or(false),
        left_reason: m[15].str().map(String::from),
        left_date: m[16].str().map(String::from),
    }
}

/// 动态调整 events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Birth,
    MarriageIn,
    Return,
    Death,
    MarriageOut,
    MovedAway,
    Split,
    HouseholdRemoved,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Birth,
        EventType::MarriageIn,
        EventType::Return,
        EventType::Death,
        EventType::MarriageOut,
        EventType::MovedAway,
        EventType::Split,
        EventType::HouseholdRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Birth => "birth",
            EventType::MarriageIn => "marriage_in",
            EventType::Return => "return",
            EventType::Death => "death",
            EventType::MarriageOut => "marriage_out",
            EventType::MovedAway => "moved_away",
            EventType::Split => "split",
            EventType::HouseholdRemoved => "household_removed",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            EventType::Birth => "新增成员（出生）",
            EventType::MarriageIn => "新增成员（婚入）",
            EventType::Return => "新增成员（回流）",
            EventType::Death => "减少成员（死亡）",
            EventType::MarriageOut => "减少成员（婚出）",
            EventType::MovedAway => "减少成员（迁出）",
            EventType::Split => "减少成员（分户）",
            EventType::HouseholdRemoved => "识别不准清退",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == s || e.name_zh() == s)
    }

    pub fn removes_member(self) -> bool {
        matches!(
            self,
            EventType::Death | EventType::MarriageOut | EventType::MovedAway | EventType::Split
        )
    }

    pub fn adds_member(self) -> bool {
        matches!(
            self,
            EventType::Birth | EventType::MarriageIn | EventType::Return
        )
    }
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventType,
    pub member_id: Option<i64>,
    pub date: String,
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct NewMeasure {
    pub measure_type: String,
    pub project_id: Option<i64>,
    pub amount_fen: Option<i64>,
    pub date: String,
    pub relocated_from: Option<String>,
    pub relocated_to: Option<String>,
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_any_text() {
        let c = HouseholdCursor {
            sort_value: "4416-紫金.001".into(),
            id: 42,
        };
        assert_eq!(HouseholdCursor::decode(&c.encode()), Some(c));
        assert_eq!(HouseholdCursor::decode("zz.1"), None);
    }

    #[test]
    fn dates_are_checked() {
        assert!(valid_date("2020-02-29"));
        assert!(!valid_date("2019-02-29"));
        assert!(!valid_date("2019-2-1"));
    }
}
