//! Monitoring against relapse (防返贫监测): the dated records it needs (入户走访, rigid
//! expenses, shocks), an all-or-nothing import of visits, and monitoring cases from
//! identification (declaration, visit, screening) through the measures assigned to risk
//! elimination. Nothing is deleted: an eliminated case keeps its signals and the elimination
//! criteria as computed then, and `households.monitoring_type` follows the open case.

use crate::assessment::{
    HouseholdRef, current_rules_in, require_read, require_write, visible_household,
};
use crate::registry::{MEASURE_TYPES, household_scope_sql, require_field_work};
use crate::registry_import::RowProblem;
use crate::sqlrt::{Tx, Ty, Val, insert_many};
use crate::tabular::Table;
use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::assessment::{
    Channel, CheckedVisit, EliminationFacts, EliminationStep, ExitDecision, ExpenseKind, RiskFacts,
    RiskSignal, Rules, ShockKind, VisitIncome, VisitInput, check_case_category,
    check_elimination_step, check_visit, days_from_civil, format_date, labour_capacity,
    monitoring_candidate, monitoring_category_name, parse_date, parse_loose_date, publicity_end,
    risk_elimination,
};
use domain::money::Fen;
use domain::validation::{FieldError, Problems};
use domain::{Caller, RegionCode, RegionLevel};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    pub id: i64,
    pub household_id: i64,
    pub visit_date: String,
    pub visitor: String,
    pub findings: String,
    pub income_12m_fen: Option<i64>,
    pub income_12m_yuan: Option<String>,
    pub risks: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expense {
    pub id: i64,
    pub household_id: i64,
    pub expense_date: String,
    pub kind: String,
    pub kind_name: &'static str,
    pub amount_fen: i64,
    pub reimbursed_fen: i64,
    /// Not reimbursed: amount − reimbursed.
    pub net_fen: i64,
    pub amount_yuan: String,
    pub reimbursed_yuan: String,
    pub resolved: bool,
    pub resolved_date: Option<String>,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Shock {
    pub id: i64,
    pub household_id: i64,
    pub shock_date: String,
    pub kind: String,
    pub kind_name: &'static str,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A rigid expense as entered; amounts in 元 as typed.
#[derive(Debug, Clone, Default)]
pub struct NewExpense {
    pub expense_date: String,
    pub kind: String,
    pub amount: String,
    pub reimbursed: String,
    pub resolved: bool,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewShock {
    pub shock_date: String,
    pub kind: String,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseMeasure {
    pub id: i64,
    pub measure_type: String,
    pub responsible: String,
    pub measure_date: String,
    pub amount_fen: Option<i64>,
    pub amount_yuan: Option<String>,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonitoringCase {
    pub id: i64,
    pub household_id: i64,
    pub household_no: String,
    pub head_name: String,
    pub member_count: i64,
    pub village_code: String,
    pub village_name: String,
    pub county_code: String,
    /// 监测对象类型 code: 1 脱贫不稳定户, 2 边缘易致贫户, 3 突发严重困难户.
    pub category: String,
    pub category_name: &'static str,
    pub channel: String,
    pub channel_name: &'static str,
    pub identified_at: String,
    pub risk_score: i64,
    pub signals: Vec<RiskSignal>,
    /// monitoring | eliminated
    pub status: String,
    pub status_name: &'static str,
    pub eliminated_at: Option<String>,
    /// The elimination criteria as computed when the risk was eliminated.
    pub elimination: Option<StoredElimination>,
    pub rule_version: i64,
    pub run_id: Option<i64>,
    pub note: String,
    pub opened_by: String,
    pub measures: Vec<CaseMeasure>,
}

/// The elimination decision as stored with an eliminated case: the criteria, and the rule
/// version and monitoring threshold they were decided with (absent on cases eliminated before
/// these were kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredElimination {
    #[serde(flatten)]
    pub decision: ExitDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_yuan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_source: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonitoringRecords {
    pub visits: Vec<Visit>,
    pub expenses: Vec<Expense>,
    pub shocks: Vec<Shock>,
    pub cases: Vec<MonitoringCase>,
}

/// A case opened by a person (declaration, visit or screening).
#[derive(Debug, Clone, Default)]
pub struct NewCase {
    /// Code or name; inferred from the data when empty.
    pub category: String,
    pub channel: String,
    /// YYYY-MM-DD; today when empty.
    pub identified_at: String,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewCaseMeasure {
    pub measure_type: String,
    pub responsible: String,
    pub measure_date: String,
    pub amount: String,
    pub note: String,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub region: Option<RegionCode>,
    /// monitoring (default) | eliminated | all
    pub status: Option<String>,
    pub category: Option<String>,
}

/// The elimination check of a case: the criteria and the threshold they used.
#[derive(Debug, Clone, Serialize)]
pub struct EliminationCheck {
    pub case_id: i64,
    pub may_eliminate: bool,
    pub threshold_fen: i64,
    pub threshold_yuan: String,
    pub threshold_source: String,
    pub criteria: Vec<domain::assessment::Criterion>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct VisitImportOutcome {
    pub file_name: String,
    pub sha256: String,
    pub rows: u64,
    pub written: u64,
}

fn yuan(s: &str, field: &str, required: bool, problems: &mut Problems) -> Option<i64> {
    match s.trim() {
        "" if required => {
            problems.push(field, "请填写金额");
            None
        }
        "" => None,
        t => match Fen::parse_yuan(t) {
            Ok(f) if f.0 < 0 => {
                problems.push(field, "金额不能为负数");
                None
            }
            Ok(f) => Some(f.0),
            Err(e) => {
                problems.push(field, e.to_string());
                None
            }
        },
    }
}

fn date_not_future(s: &str, field: &str, problems: &mut Problems) {
    match parse_date(s.trim()) {
        None => problems.push(field, "日期应为 YYYY-MM-DD"),
        Some(d) if days_from_civil(d) > crate::today().days_since_epoch() => {
            problems.push(field, "日期不能晚于今天")
        }
        Some(_) => {}
    }
}

const VISIT_COLUMNS: &str = "id, household_id, visit_date, visitor, findings, income_12m_fen, risks, recorded_by, recorded_at";
const VISIT_TYS: [Ty; 9] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn visit_from(r: &[Val]) -> Visit {
    let income = r[5].i64();
    Visit {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        visit_date: r[2].string(),
        visitor: r[3].string(),
        findings: r[4].string(),
        income_12m_fen: income,
        income_12m_yuan: income.map(|f| Fen(f).yuan_string()),
        risks: r[6].string(),
        recorded_by: r[7].string(),
        recorded_at: r[8].string(),
    }
}

const EXPENSE_COLUMNS: &str = "id, household_id, expense_date, kind, amount_fen, reimbursed_fen, resolved, resolved_date, note, recorded_by, recorded_at";
const EXPENSE_TYS: [Ty; 11] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::Bool,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn expense_from(r: &[Val]) -> Expense {
    let kind = r[3].string();
    let (amount, reimbursed) = (
        r[4].i64().unwrap_or_default(),
        r[5].i64().unwrap_or_default(),
    );
    Expense {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        expense_date: r[2].string(),
        kind_name: ExpenseKind::parse(&kind).map(|k| k.name_zh()).unwrap_or(""),
        kind,
        amount_fen: amount,
        reimbursed_fen: reimbursed,
        net_fen: amount - reimbursed,
        amount_yuan: Fen(amount).yuan_string(),
        reimbursed_yuan: Fen(reimbursed).yuan_string(),
        resolved: r[6].bool().unwrap_or(false),
        resolved_date: r[7].str().map(String::from),
        note: r[8].string(),
        recorded_by: r[9].string(),
        recorded_at: r[10].string(),
    }
}

const SHOCK_COLUMNS: &str = "id, household_id, shock_date, kind, note, recorded_by, recorded_at";
const SHOCK_TYS: [Ty; 7] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn shock_from(r: &[Val]) -> Shock {
    let kind = r[3].string();
    Shock {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        shock_date: r[2].string(),
        kind_name: ShockKind::parse(&kind).map(|k| k.name_zh()).unwrap_or(""),
        kind,
        note: r[4].string(),
        recorded_by: r[5].string(),
        recorded_at: r[6].string(),
    }
}

const CASE_SELECT: &str = "SELECT c.id, c.household_id, h.household_no, h.head_name, h.member_count, h.village_key, r.name, h.county_key,
    c.category, c.channel, c.identified_at, c.risk_score, c.signals_json, c.status, c.eliminated_at, c.elimination_json,
    c.rule_version_id, c.run_id, c.note, c.opened_by
    FROM monitoring_cases c JOIN households h ON h.id = c.household_id JOIN regions r ON r.key = h.village_key";
const CASE_TYS: [Ty; 20] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::I64,
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
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
];

fn code_of(key: i64) -> String {
    RegionCode::from_key(key)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn case_from(r: &[Val]) -> MonitoringCase {
    let category = r[8].string();
    let channel = r[9].string();
    let status = r[13].string();
    MonitoringCase {
        id: r[0].i64().unwrap_or_default(),
        household_id: r[1].i64().unwrap_or_default(),
        household_no: r[2].string(),
        head_name: r[3].string(),
        member_count: r[4].i64().unwrap_or_default(),
        village_code: code_of(r[5].i64().unwrap_or_default()),
        village_name: r[6].string(),
        county_code: code_of(r[7].i64().unwrap_or_default()),
        category_name: monitoring_category_name(&category),
        category,
        channel_name: Channel::parse(&channel).map(|c| c.name_zh()).unwrap_or(""),
        channel,
        identified_at: r[10].string(),
        risk_score: r[11].i64().unwrap_or_default(),
        signals: serde_json::from_str(r[12].str().unwrap_or("[]")).unwrap_or_default(),
        status_name: if status == "monitoring" {
            "监测中"
        } else {
            "风险已消除"
        },
        status,
        eliminated_at: r[14].str().map(String::from),
        elimination: r[15].str().and_then(|s| serde_json::from_str(s).ok()),
        rule_version: r[16].i64().unwrap_or_default(),
        run_id: r[17].i64(),
        note: r[18].string(),
        opened_by: r[19].string(),
        measures: Vec::new(),
    }
}

async fn case_in<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    id: i64,
) -> StoreResult<Option<MonitoringCase>> {
    let sql = format!(
        "{CASE_SELECT} WHERE c.id = $1{}",
        household_scope_sql(&caller.scope, "h")
    );
    let rows = tx.rows(&sql, &[id.into()], &CASE_TYS).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let mut case = case_from(r);
    case.measures = tx
        .rows(
            "SELECT id, measure_type, responsible, measure_date, amount_fen, note, recorded_by, recorded_at FROM monitoring_measures WHERE case_id = $1 ORDER BY measure_date, id",
            &[id.into()],
            &[Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::I64, Ty::Str, Ty::Str, Ty::Str],
        )
        .await?
        .iter()
        .map(|m| CaseMeasure {
            id: m[0].i64().unwrap_or_default(),
            measure_type: m[1].string(),
            responsible: m[2].string(),
            measure_date: m[3].string(),
            amount_fen: m[4].i64(),
            amount_yuan: m[4].i64().map(|f| Fen(f).yuan_string()),
            note: m[5].string(),
            recorded_by: m[6].string(),
            recorded_at: m[7].string(),
        })
        .collect();
    Ok(Some(case))
}

/// What monitoring sees of one household in one year (the person-driven path; the batch
/// gathers the same facts for every household at once).
async fn risk_facts_for<T: Tx>(tx: &mut T, h: &HouseholdRef, year: i64) -> StoreResult<RiskFacts> {
    let incomes = tx
        .rows(
            "SELECT year, per_capita_fen, net_fen FROM household_incomes WHERE household_id = $1 AND year >= $2 AND year <= $3",
            &[h.id.into(), (year - 1).into(), year.into()],
            &[Ty::I64, Ty::I64, Ty::I64],
        )
        .await?;
    let income = |y: i64, col: usize| {
        incomes
            .iter()
            .find(|r| r[0].i64() == Some(y))
            .and_then(|r| r[col].i64())
    };
    let (from, until) = (format!("{year:04}-01-01"), format!("{:04}-01-01", year + 1));
    let expenses = tx
        .rows(
            "SELECT CAST(COALESCE(SUM(amount_fen - reimbursed_fen), 0) AS BIGINT) FROM rigid_expenses WHERE household_id = $1 AND expense_date >= $2 AND expense_date < $3",
            &[h.id.into(), from.clone().into(), until.clone().into()],
            &[Ty::I64],
        )
        .await?;
    let shocks = tx
        .rows(
            "SELECT kind, shock_date FROM shocks WHERE household_id = $1 AND shock_date >= $2 AND shock_date < $3 ORDER BY shock_date, id",
            &[h.id.into(), from.clone().into(), until.clone().into()],
            &[Ty::Str, Ty::Str],
        )
        .await?;
    let risks = tx
        .rows(
            "SELECT risks, visit_date FROM visits WHERE household_id = $1 AND visit_date >= $2 AND visit_date < $3 AND risks <> '' ORDER BY visit_date, id",
            &[h.id.into(), from.into(), until.into()],
            &[Ty::Str, Ty::Str],
        )
        .await?;
    let (registered, exited) = registration(h);
    Ok(RiskFacts {
        exited,
        registered,
        per_capita_this_year: income(year, 1),
        per_capita_last_year: income(year - 1, 1),
        rigid_expenses_net: expenses.first().and_then(|r| r[0].i64()).unwrap_or(0),
        net_income: income(year, 2),
        shocks: shocks
            .iter()
            .map(|r| {
                format!(
                    "{}（{}）",
                    ShockKind::parse(r[0].str().unwrap_or_default())
                        .map(|k| k.name_zh())
                        .unwrap_or("突发变故"),
                    r[1].string()
                )
            })
            .collect(),
        declared: false,
        visit_risks: risks
            .iter()
            .map(|r| format!("{}（{}）", r[0].string(), r[1].string()))
            .collect(),
    })
}

/// (registered as poor at all, registered and exited) for the monitoring rules.
fn registration(h: &HouseholdRef) -> (bool, bool) {
    (
        h.status != crate::assessment::STATUS_NOT_REGISTERED,
        domain::poverty_status::is_exited_code(&h.status),
    )
}

fn threshold_for(rules: &Rules, county_key: i64, year: i64) -> (Fen, String) {
    RegionCode::from_key(county_key)
        .and_then(|c| rules.monitoring_threshold(c.short_value(), year))
        .unwrap_or((Fen(0), format!("规则中没有 {year} 年的贫困线或监测标准")))
}

async fn elimination_in<T: Tx>(
    tx: &mut T,
    case: &MonitoringCase,
    h: &HouseholdRef,
    rules: &Rules,
) -> StoreResult<EliminationCheck> {
    let visits = tx
        .rows(
            "SELECT visit_date, income_12m_fen, risks FROM visits WHERE household_id = $1 AND visit_date >= $2 ORDER BY visit_date, id",
            &[h.id.into(), case.identified_at.clone().into()],
            &[Ty::Str, Ty::I64, Ty::Str],
        )
        .await?;
    let incomes: Vec<VisitIncome> = visits
        .iter()
        .filter_map(|r| {
            Some(VisitIncome {
                date: parse_date(r[0].str()?)?,
                per_capita_12m: r[1].i64()?,
            })
        })
        .collect();
    let unresolved = tx
        .rows(
            "SELECT COUNT(*) FROM rigid_expenses WHERE household_id = $1 AND NOT resolved",
            &[h.id.into()],
            &[Ty::I64],
        )
        .await?[0][0]
        .i64()
        .unwrap_or_default();
    let mut new_risks: Vec<String> = tx
        .rows(
            "SELECT kind, shock_date FROM shocks WHERE household_id = $1 AND shock_date > $2 ORDER BY shock_date, id",
            &[h.id.into(), case.identified_at.clone().into()],
            &[Ty::Str, Ty::Str],
        )
        .await?
        .iter()
        .map(|r| format!("{}（{}）", ShockKind::parse(r[0].str().unwrap_or_default()).map(|k| k.name_zh()).unwrap_or("突发变故"), r[1].string()))
        .collect();
    if let Some(last) = visits.last()
        && !last[2].str().unwrap_or_default().trim().is_empty()
    {
        new_risks.push(format!(
            "最近一次走访（{}）发现：{}",
            last[0].string(),
            last[2].string()
        ));
    }
    let labour = tx
        .rows(
            "SELECT labour FROM members WHERE household_id = $1 AND active",
            &[h.id.into()],
            &[Ty::Str],
        )
        .await?;
    let has_labour = labour_capacity(labour.iter().map(|r| r[0].str().unwrap_or_default()));
    let flags = tx
        .rows(
            "SELECT food_secure, clothing_secure, education_secure, medical_secure, housing_secure, safe_water FROM households WHERE id = $1",
            &[h.id.into()],
            &[Ty::Bool; 6],
        )
        .await?;
    let flags: Vec<Option<bool>> = flags
        .first()
        .map(|r| r.iter().map(|v| v.bool()).collect())
        .unwrap_or_default();
    let guarantees_secured = if flags.contains(&Some(false)) {
        Some(false)
    } else if flags.len() == 6 && flags.iter().all(|f| *f == Some(true)) {
        Some(true)
    } else {
        None
    };
    let year = incomes
        .iter()
        .map(|v| v.date)
        .max_by_key(|d| days_from_civil(*d))
        .map(|d| d.0 as i64)
        .unwrap_or_else(|| {
            parse_date(&case.identified_at)
                .map(|d| d.0 as i64)
                .unwrap_or_else(crate::current_year)
        });
    let (threshold, source) = threshold_for(rules, h.county_key, year);
    let facts = EliminationFacts {
        visits: incomes,
        unresolved_expenses: unresolved,
        new_risks,
        has_labour,
        guarantees_secured,
    };
    let decision = risk_elimination(rules, threshold, &facts);
    Ok(EliminationCheck {
        case_id: case.id,
        may_eliminate: decision.may_exit,
        threshold_fen: threshold.0,
        threshold_yuan: threshold.yuan_string(),
        threshold_source: source,
        criteria: decision.criteria,
    })
}

async fn household_for_write<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    id: i64,
) -> StoreResult<HouseholdRef> {
    // Writes first, so that two cadres recording at once are serialised (SQLite).
    tx.exec(
        "UPDATE households SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )
    .await?;
    visible_household(tx, caller, id).await
}

impl Db {
    /// Records a visit (入户走访).
    pub async fn add_visit(
        &self,
        caller: &Caller,
        household_id: i64,
        input: &VisitInput,
    ) -> StoreResult<Visit> {
        require_field_work(caller)?;
        let v = check_visit(input, crate::today()).map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            household_for_write(&mut tx, caller, household_id).await?;
            let rows = tx.rows(
                &format!("INSERT INTO visits (household_id, visit_date, visitor, findings, income_12m_fen, risks, recorded_by, recorded_at)
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {VISIT_COLUMNS}"),
                &[household_id.into(), v.visit_date.clone().into(), v.visitor.clone().into(), v.findings.clone().into(), v.income_12m_fen.into(),
                  v.risks.clone().into(), caller.username.clone().into(), now.into()],
                &VISIT_TYS,
            ).await?;
            let visit = visit_from(&rows[0]);
            audit!(&mut *tx, caller, "visit", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"visit_id": visit.id, "date": visit.visit_date, "visitor": visit.visitor, "income_12m_fen": visit.income_12m_fen, "risks": visit.risks})),
                String::new());
            crate::commit!(tx)?;
            Ok(visit)
        })
    }

    /// Records a rigid expense (医疗, 教育, 灾害) with the amount reimbursed.
    pub async fn add_expense(
        &self,
        caller: &Caller,
        household_id: i64,
        e: &NewExpense,
    ) -> StoreResult<Expense> {
        require_field_work(caller)?;
        let mut problems = Problems::default();
        date_not_future(&e.expense_date, "expense_date", &mut problems);
        let kind = ExpenseKind::parse(&e.kind);
        if kind.is_none() {
            problems.push(
                "kind",
                "支出类型应为 medical（医疗）、schooling（教育）或 disaster（灾害）",
            );
        }
        let amount = yuan(&e.amount, "amount", true, &mut problems);
        let reimbursed = yuan(&e.reimbursed, "reimbursed", false, &mut problems).unwrap_or(0);
        if let Some(a) = amount
            && reimbursed > a
        {
            problems.push("reimbursed", "报销金额不能超过支出金额");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let (kind, amount) = (kind.expect("checked"), amount.expect("checked"));
        let now = now_rfc3339();
        let resolved_date = e.resolved.then(|| e.expense_date.trim().to_string());
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            household_for_write(&mut tx, caller, household_id).await?;
            let rows = tx.rows(
                &format!("INSERT INTO rigid_expenses (household_id, expense_date, kind, amount_fen, reimbursed_fen, resolved, resolved_date, note, recorded_by, recorded_at)
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {EXPENSE_COLUMNS}"),
                &[household_id.into(), e.expense_date.trim().into(), kind.as_str().into(), amount.into(), reimbursed.into(), e.resolved.into(),
                  resolved_date.into(), e.note.trim().into(), caller.username.clone().into(), now.into()],
                &EXPENSE_TYS,
            ).await?;
            let expense = expense_from(&rows[0]);
            audit!(&mut *tx, caller, "expense", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"expense_id": expense.id, "date": expense.expense_date, "kind": expense.kind, "amount_fen": amount, "reimbursed_fen": reimbursed})),
                String::new());
            crate::commit!(tx)?;
            Ok(expense)
        })
    }

    /// Marks a rigid expense resolved (paid off, reimbursed or otherwise settled).
    pub async fn resolve_expense(
        &self,
        caller: &Caller,
        expense_id: i64,
        date: &str,
        reimbursed: &str,
        note: &str,
    ) -> StoreResult<Expense> {
        require_field_work(caller)?;
        let mut problems = Problems::default();
        date_not_future(date, "date", &mut problems);
        let reimbursed = yuan(reimbursed, "reimbursed", false, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&format!("SELECT {EXPENSE_COLUMNS} FROM rigid_expenses WHERE id = $1"), &[expense_id.into()], &EXPENSE_TYS).await?;
            let Some(before) = rows.first().map(|r| expense_from(r)) else {
                return Err(StoreError::NotFound(format!("刚性支出 {expense_id} 不存在")));
            };
            household_for_write(&mut tx, caller, before.household_id).await.map_err(|_| StoreError::NotFound(format!("刚性支出 {expense_id} 不存在")))?;
            if before.resolved {
                return Err(StoreError::Conflict(format!("刚性支出 {expense_id} 已于 {} 解决", before.resolved_date.clone().unwrap_or_default())));
            }
            let reimbursed = reimbursed.unwrap_or(before.reimbursed_fen);
            if reimbursed > before.amount_fen {
                return Err(StoreError::invalid_field("reimbursed", "报销金额不能超过支出金额"));
            }
            let note = if note.trim().is_empty() { before.note.clone() } else if before.note.is_empty() { note.trim().to_string() } else { format!("{}；{}", before.note, note.trim()) };
            tx.exec("UPDATE rigid_expenses SET resolved = TRUE, resolved_date = $1, reimbursed_fen = $2, note = $3 WHERE id = $4",
                &[date.trim().into(), reimbursed.into(), note.into(), expense_id.into()]).await?;
            audit!(&mut *tx, caller, "expense_resolved", "households", Some(before.household_id.to_string()), None,
                Some(serde_json::json!({"expense_id": expense_id, "resolved": false, "reimbursed_fen": before.reimbursed_fen})),
                Some(serde_json::json!({"expense_id": expense_id, "resolved": true, "resolved_date": date.trim(), "reimbursed_fen": reimbursed})),
                String::new());
            let rows = tx.rows(&format!("SELECT {EXPENSE_COLUMNS} FROM rigid_expenses WHERE id = $1"), &[expense_id.into()], &EXPENSE_TYS).await?;
            crate::commit!(tx)?;
            Ok(expense_from(&rows[0]))
        })
    }

    /// Records a shock (重大疾病, 自然灾害, 意外事故, 失业).
    pub async fn add_shock(
        &self,
        caller: &Caller,
        household_id: i64,
        s: &NewShock,
    ) -> StoreResult<Shock> {
        require_field_work(caller)?;
        let mut problems = Problems::default();
        date_not_future(&s.shock_date, "shock_date", &mut problems);
        let kind = ShockKind::parse(&s.kind);
        if kind.is_none() {
            problems.push("kind", "变故类型应为 illness（重大疾病）、disaster（自然灾害）、accident（意外事故）或 job_loss（失业）");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let kind = kind.expect("checked");
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            household_for_write(&mut tx, caller, household_id).await?;
            let rows = tx.rows(
                &format!("INSERT INTO shocks (household_id, shock_date, kind, note, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SHOCK_COLUMNS}"),
                &[household_id.into(), s.shock_date.trim().into(), kind.as_str().into(), s.note.trim().into(), caller.username.clone().into(), now.into()],
                &SHOCK_TYS,
            ).await?;
            let shock = shock_from(&rows[0]);
            audit!(&mut *tx, caller, "shock", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"shock_id": shock.id, "date": shock.shock_date, "kind": shock.kind})), s.note.trim().to_string());
            crate::commit!(tx)?;
            Ok(shock)
        })
    }

    /// Everything monitoring holds about one household, oldest first.
    pub async fn monitoring_records(
        &self,
        caller: &Caller,
        household_id: i64,
    ) -> StoreResult<MonitoringRecords> {
        require_read(caller)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            visible_household(&mut tx, caller, household_id).await?;
            let id: Val = household_id.into();
            let visits = tx.rows(&format!("SELECT {VISIT_COLUMNS} FROM visits WHERE household_id = $1 ORDER BY visit_date, id"), std::slice::from_ref(&id), &VISIT_TYS).await?;
            let expenses = tx.rows(&format!("SELECT {EXPENSE_COLUMNS} FROM rigid_expenses WHERE household_id = $1 ORDER BY expense_date, id"), std::slice::from_ref(&id), &EXPENSE_TYS).await?;
            let shocks = tx.rows(&format!("SELECT {SHOCK_COLUMNS} FROM shocks WHERE household_id = $1 ORDER BY shock_date, id"), std::slice::from_ref(&id), &SHOCK_TYS).await?;
            let case_ids = tx.rows("SELECT id FROM monitoring_cases WHERE household_id = $1 ORDER BY id", std::slice::from_ref(&id), &[Ty::I64]).await?;
            let mut cases = Vec::new();
            for c in case_ids {
                if let Some(case) = case_in(&mut tx, caller, c[0].i64().unwrap_or_default()).await? {
                    cases.push(case);
                }
            }
            crate::commit!(tx)?;
            Ok(MonitoringRecords {
                visits: visits.iter().map(|r| visit_from(r)).collect(),
                expenses: expenses.iter().map(|r| expense_from(r)).collect(),
                shocks: shocks.iter().map(|r| shock_from(r)).collect(),
                cases,
            })
        })
    }

    /// Imports visits from a CSV/XLSX table: 户编号, 走访日期, 走访人 (required), 走访情况,
    /// 近12个月人均纯收入, 发现风险. All or nothing: any problem refuses the whole file, each
    /// problem named by row and column.
    pub async fn import_visits(
        &self,
        caller: &Caller,
        table: Table,
        file_name: &str,
    ) -> StoreResult<VisitImportOutcome> {
        require_field_work(caller)?;
        self.require_not_blocked(caller).await?;
        let Table {
            headers,
            rows,
            sha256,
            ..
        } = table;
        let columns = VisitColumns::find(&headers);
        let mut problems: Vec<RowProblem> = Vec::new();
        let header_problem = |message: String| RowProblem {
            row: 1,
            column: String::new(),
            value: String::new(),
            message,
        };
        let missing = columns.missing();
        if !missing.is_empty() {
            return Err(StoreError::ImportRejected(vec![header_problem(format!(
                "缺少必填列：{}",
                missing.join("、")
            ))]));
        }
        let today = crate::today();
        let mut parsed: Vec<(u64, String, CheckedVisit)> = Vec::new();
        let mut count = 0u64;
        for row in rows {
            let row =
                row.map_err(|e| StoreError::ImportRejected(vec![header_problem(e.to_string())]))?;
            count += 1;
            crate::activity::count_import_rows(crate::activity::ImportKind::Visits, 1);
            let cell = |i: Option<usize>| {
                i.and_then(|i| row.cells.get(i))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            // As the registry stores it (NFKC): a full-width number names the same household.
            let no = domain::text::normalize(&cell(columns.household_no));
            let raw_date = cell(columns.visit_date);
            let date = parse_loose_date(&raw_date)
                .map(format_date)
                .unwrap_or(raw_date.clone());
            let input = VisitInput {
                visit_date: date,
                visitor: cell(columns.visitor),
                findings: cell(columns.findings),
                income_12m: cell(columns.income),
                risks: cell(columns.risks),
            };
            if no.is_empty() {
                problems.push(RowProblem {
                    row: row.line,
                    column: columns.header(&headers, columns.household_no),
                    value: String::new(),
                    message: "请填写户编号".into(),
                });
            }
            match check_visit(&input, today) {
                Ok(v) => parsed.push((row.line, no, v)),
                Err(errors) => {
                    for e in errors {
                        let (index, value) = match e.field.as_str() {
                            "visit_date" => (columns.visit_date, raw_date.clone()),
                            "visitor" => (columns.visitor, input.visitor.clone()),
                            _ => (columns.income, input.income_12m.clone()),
                        };
                        problems.push(RowProblem {
                            row: row.line,
                            column: columns.header(&headers, index),
                            value,
                            message: e.message,
                        });
                    }
                }
            }
        }
        let sha = sha256
            .lock()
            .ok()
            .and_then(|h| h.clone())
            .unwrap_or_default();
        let now = now_rfc3339();
        let scope_sql = household_scope_sql(&caller.scope, "h");
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let mut nos: Vec<String> = parsed.iter().map(|p| p.1.clone()).filter(|n| !n.is_empty()).collect();
            nos.sort();
            nos.dedup();
            let mut ids: HashMap<String, i64> = HashMap::new();
            for chunk in nos.chunks(500) {
                let list = crate::sqlrt::placeholders(1, chunk.len());
                let vals: Vec<Val> = chunk.iter().map(|n| Val::from(n.as_str())).collect();
                for r in tx.rows(&format!("SELECT h.id, h.household_no FROM households h WHERE h.household_no IN ({list}){scope_sql}"), &vals, &[Ty::I64, Ty::Str]).await? {
                    ids.insert(r[1].string(), r[0].i64().unwrap_or_default());
                }
            }
            let mut values = Vec::new();
            for (line, no, v) in &parsed {
                match ids.get(no) {
                    None if !no.is_empty() => problems.push(RowProblem {
                        row: *line,
                        column: columns.header(&headers, columns.household_no),
                        value: no.clone(),
                        message: crate::registry_import::household_out_of_scope(no),
                    }),
                    None => {}
                    Some(id) => values.push(vec![
                        (*id).into(), v.visit_date.clone().into(), v.visitor.clone().into(), v.findings.clone().into(), v.income_12m_fen.into(),
                        v.risks.clone().into(), caller.username.clone().into(), now.clone().into(),
                    ]),
                }
            }
            if !problems.is_empty() {
                tx.rollback().await?;
                problems.sort_by_key(|p| p.row);
                return Err(StoreError::ImportRejected(problems));
            }
            insert_many(&mut tx, "visits", &["household_id", "visit_date", "visitor", "findings", "income_12m_fen", "risks", "recorded_by", "recorded_at"], &values, &[]).await?;
            audit!(&mut *tx, caller, "import", "visits", None, None, None,
                Some(serde_json::json!({"file": file_name, "sha256": sha, "rows": count, "written": values.len()})),
                format!("导入走访记录 {file_name}（{count} 行）"));
            crate::commit!(tx)?;
            Ok(VisitImportOutcome { file_name: file_name.to_string(), sha256: sha, rows: count, written: values.len() as u64 })
        })
    }
}

/// Where the visit columns are in an uploaded table.
struct VisitColumns {
    household_no: Option<usize>,
    visit_date: Option<usize>,
    visitor: Option<usize>,
    findings: Option<usize>,
    income: Option<usize>,
    risks: Option<usize>,
}

impl VisitColumns {
    fn find(headers: &[String]) -> VisitColumns {
        // "近12个月人均纯收入（元）" and "近12个月人均纯收入(元)" are the same column.
        let norm: Vec<String> = headers
            .iter()
            .map(|h| {
                let t = domain::text::normalize_compact(h);
                match t.find('(') {
                    Some(i) => t[..i].to_string(),
                    None => t,
                }
            })
            .collect();
        let find = |names: &[&str]| norm.iter().position(|h| names.iter().any(|n| h == n));
        VisitColumns {
            household_no: find(&["户编号", "household_no"]),
            visit_date: find(&["走访日期", "日期", "visit_date"]),
            visitor: find(&["走访人", "走访干部", "visitor"]),
            findings: find(&["走访情况", "走访发现", "情况", "findings"]),
            income: find(&["近12个月人均纯收入", "人均纯收入", "收入", "income_12m"]),
            risks: find(&["发现风险", "风险", "风险点", "risks"]),
        }
    }

    fn missing(&self) -> Vec<&'static str> {
        [
            (self.household_no, "户编号"),
            (self.visit_date, "走访日期"),
            (self.visitor, "走访人"),
        ]
        .into_iter()
        .filter(|(i, _)| i.is_none())
        .map(|(_, n)| n)
        .collect()
    }

    fn header(&self, headers: &[String], index: Option<usize>) -> String {
        index
            .and_then(|i| headers.get(i))
            .cloned()
            .unwrap_or_default()
    }
}

/// One recorded step of a case's elimination procedure.
#[derive(Debug, Clone, Serialize)]
pub struct EliminationStepRecord {
    pub id: i64,
    pub step: String,
    pub step_name: &'static str,
    pub date: String,
    pub responsible: String,
    pub note: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A case's risk elimination procedure (入户核实 → 村级评议公示 → 县级审批公告).
#[derive(Debug, Clone, Serialize)]
pub struct EliminationProcedure {
    pub case_id: i64,
    /// monitoring | eliminated
    pub case_status: String,
    pub eliminated_at: Option<String>,
    pub steps: Vec<EliminationStepRecord>,
    pub current: Option<String>,
    pub current_name: Option<&'static str>,
    /// (key, name) of the step that may follow; None when the procedure is complete.
    pub next: Option<(String, String)>,
    /// During the village 公示: its last day, and the first day the county may approve.
    pub publicity_until: Option<String>,
    pub approval_from: Option<String>,
    pub publicity_days: i64,
    /// The elimination criteria as they stand (while the case is monitored).
    pub check: Option<EliminationCheck>,
}

/// A step as entered.
#[derive(Debug, Clone, Default)]
pub struct NewEliminationStep {
    /// Key or Chinese name of the step.
    pub step: String,
    pub date: String,
    pub responsible: String,
    pub note: String,
}

async fn elimination_steps_in<T: Tx>(
    tx: &mut T,
    case_id: i64,
) -> StoreResult<Vec<EliminationStepRecord>> {
    let rows = tx
        .rows(
            "SELECT id, step, step_date, responsible, note, recorded_by, recorded_at FROM elimination_steps WHERE case_id = $1 ORDER BY id",
            &[case_id.into()],
            &[Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let step = r[1].string();
            EliminationStepRecord {
                id: r[0].i64().unwrap_or_default(),
                step_name: EliminationStep::parse(&step)
                    .map(|s| s.name_zh())
                    .unwrap_or(""),
                step,
                date: r[2].string(),
                responsible: r[3].string(),
                note: r[4].string(),
                recorded_by: r[5].string(),
                recorded_at: r[6].string(),
            }
        })
        .collect())
}

fn procedure_of(
    case: &MonitoringCase,
    steps: Vec<EliminationStepRecord>,
    check: Option<EliminationCheck>,
    rules: &Rules,
) -> EliminationProcedure {
    let current = steps.last().and_then(|s| EliminationStep::parse(&s.step));
    let posted = match (current, steps.last().and_then(|s| parse_date(&s.date))) {
        (Some(EliminationStep::VillageReview), Some(d)) => Some(d),
        _ => None,
    };
    EliminationProcedure {
        case_id: case.id,
        case_status: case.status.clone(),
        eliminated_at: case.eliminated_at.clone(),
        current: current.map(|c| c.as_str().to_string()),
        current_name: current.map(|c| c.name_zh()),
        next: EliminationStep::next(current)
            .map(|s| (s.as_str().to_string(), s.name_zh().to_string())),
        publicity_until: posted.map(|d| format_date(publicity_end(d, rules.publicity_days))),
        approval_from: posted.map(|d| {
            format_date(domain::assessment::civil_from_days(
                days_from_civil(d) + rules.publicity_days,
            ))
        }),
        publicity_days: rules.publicity_days,
        steps,
        check,
    }
}

impl Db {
    /// Opens a case by declaration (农户申报), visit (干部走访排查) or screening (部门筛查预警). The
    /// category comes from the data when not given; a household already monitored is refused.
    pub async fn open_monitoring_case(
        &self,
        caller: &Caller,
        household_id: i64,
        c: &NewCase,
    ) -> StoreResult<MonitoringCase> {
        require_write(caller)?;
        let tables = self.code_tables().await?;
        let mut problems = Problems::default();
        let channel = Channel::parse(&c.channel);
        if channel.is_none() {
            problems.push("channel", "识别渠道应为 declaration（农户申报）、visit（干部走访排查）或 screening（部门筛查预警）");
        }
        let category = match c.category.trim() {
            "" => None,
            t => match tables.monitoring_type.lookup(t) {
                Some(e) => Some(e.code.clone()),
                None => {
                    problems.push(
                        "category",
                        format!(
                            "监测类别“{t}”无效，可选：{}",
                            tables.monitoring_type.choices_zh()
                        ),
                    );
                    None
                }
            },
        };
        let identified_at = if c.identified_at.trim().is_empty() {
            crate::today().to_string()
        } else {
            c.identified_at.trim().to_string()
        };
        date_not_future(&identified_at, "identified_at", &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let channel = channel.expect("checked");
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let h = household_for_write(&mut tx, caller, household_id).await?;
            let version = current_rules_in(&mut tx).await?;
            let year: i64 = identified_at[..4].parse().unwrap_or_else(|_| crate::current_year());
            let (registered, exited) = registration(&h);
            // The year and the household's kind first, with the category if one is given.
            let kind = if exited { domain::assessment::MONITOR_UNSTABLE } else { domain::assessment::MONITOR_EDGE };
            check_case_category(&version.rules, registered, exited, category.as_deref().unwrap_or(kind), year).map_err(|e| StoreError::invalid(vec![e]))?;
            let open = tx.rows("SELECT id FROM monitoring_cases WHERE household_id = $1 AND status = 'monitoring'", &[household_id.into()], &[Ty::I64]).await?;
            if let Some(o) = open.first() {
                return Err(StoreError::Conflict(format!("该户已在监测中（案例 {}），请在该案例中补充信息", o[0].i64().unwrap_or_default())));
            }
            let mut facts = risk_facts_for(&mut tx, &h, year).await?;
            facts.declared = channel == Channel::Declaration;
            if channel == Channel::Visit && !c.note.trim().is_empty() {
                facts.visit_risks.push(c.note.trim().to_string());
            }
            let (threshold, _) = threshold_for(&version.rules, h.county_key, year);
            let candidate = monitoring_candidate(threshold, &version.rules, &facts, year);
            let mut signals = candidate.as_ref().map(|c| c.signals.clone()).unwrap_or_default();
            if channel == Channel::Screening {
                signals.push(RiskSignal { key: "screening".into(), detail: format!("部门筛查预警：{}", c.note.trim()), weight: 25 });
            }
            // Without a category: the rules' on the data; else a household's own declaration or
            // a risk seen at a visit puts it in its kind's income-based category (the cadre
            // names 突发严重困难户 when that is what it is).
            let person_found = facts.declared || !facts.visit_risks.is_empty();
            let category = match category
                .or_else(|| candidate.as_ref().map(|c| c.category.clone()))
                .or_else(|| person_found.then(|| kind.to_string()))
            {
                Some(c) => c,
                None => {
                    return Err(StoreError::invalid_field("category", "数据中未发现风险，请指定监测类别"));
                }
            };
            if candidate.is_none() {
                signals.extend(facts.declared.then(|| RiskSignal { key: "declared".into(), detail: "农户申报".into(), weight: 20 }));
                signals.extend(facts.visit_risks.iter().map(|r| RiskSignal { key: "visit".into(), detail: format!("走访发现：{r}"), weight: 25 }));
            }
            let score: i64 = signals.iter().map(|s| s.weight).sum();
            let rows = tx.rows(
                "INSERT INTO monitoring_cases (household_id, category, channel, identified_at, risk_score, signals_json, status, rule_version_id, note, opened_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'monitoring', $7, $8, $9, $10) RETURNING id",
                &[household_id.into(), category.clone().into(), channel.as_str().into(), identified_at.clone().into(), score.into(),
                  serde_json::to_string(&signals).expect("signals serialise").into(), version.version.into(), c.note.trim().into(),
                  caller.username.clone().into(), now.into()],
                &[Ty::I64],
            ).await?;
            let id = rows[0][0].i64().unwrap_or_default();
            tx.exec("UPDATE households SET monitoring_type = $1 WHERE id = $2", &[category.clone().into(), household_id.into()]).await?;
            audit!(&mut *tx, caller, "monitoring_open", "households", Some(household_id.to_string()), None, None,
                Some(serde_json::json!({"case_id": id, "category": category, "channel": channel.as_str(), "identified_at": identified_at, "risk_score": score})),
                c.note.trim().to_string());
            let case = case_in(&mut tx, caller, id).await?.expect("just inserted");
            crate::commit!(tx)?;
            Ok(case)
        })
    }

    pub async fn monitoring_case(
        &self,
        caller: &Caller,
        id: i64,
    ) -> StoreResult<Option<MonitoringCase>> {
        require_read(caller)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let c = case_in(&mut tx, caller, id).await?;
            crate::commit!(tx)?;
            Ok(c)
        })
    }

    /// The work list: cases in a county or village (or the caller's whole scope), highest risk
    /// first. `after` is the (risk score, id) of the last row of the previous page.
    pub async fn monitoring_cases(
        &self,
        caller: &Caller,
        filter: &CaseFilter,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<MonitoringCase>> {
        require_read(caller)?;
        let mut sql = format!(
            "{CASE_SELECT} WHERE 1 = 1{}",
            household_scope_sql(&caller.scope, "h")
        );
        let mut vals: Vec<Val> = Vec::new();
        if let Some(r) = filter.region {
            let (lo, hi) = r.subtree_key_range();
            sql += &format!(" AND h.village_key >= {lo} AND h.village_key < {hi}");
        }
        match filter.status.as_deref().unwrap_or("monitoring") {
            "all" => {}
            s => {
                vals.push(s.into());
                sql += &format!(" AND c.status = ${}", vals.len());
            }
        }
        if let Some(c) = &filter.category {
            vals.push(c.as_str().into());
            sql += &format!(" AND c.category = ${}", vals.len());
        }
        if let Some((score, id)) = after {
            vals.push(score.into());
            let ps = vals.len();
            vals.push(id.into());
            let pi = vals.len();
            sql +=
                &format!(" AND (c.risk_score < ${ps} OR (c.risk_score = ${ps} AND c.id > ${pi}))");
        }
        sql += &format!(
            " ORDER BY c.risk_score DESC, c.id LIMIT {}",
            limit.clamp(1, 10_001)
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &vals, &CASE_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows.iter().map(|r| case_from(r)).collect())
    }

    /// Open cases by village (or by county, for a region above the county) and category.
    pub async fn monitoring_counts(
        &self,
        caller: &Caller,
        region: Option<RegionCode>,
    ) -> StoreResult<Vec<(String, String, [i64; 3])>> {
        require_read(caller)?;
        let by_village = region.is_some_and(|r| r.level() >= RegionLevel::County);
        let column = if by_village {
            "h.village_key"
        } else {
            "h.county_key"
        };
        let mut sql = format!(
            "SELECT {column}, r.name, c.category, COUNT(*) FROM monitoring_cases c JOIN households h ON h.id = c.household_id
             JOIN regions r ON r.key = {column} WHERE c.status = 'monitoring'{}",
            household_scope_sql(&caller.scope, "h")
        );
        if let Some(r) = region {
            let (lo, hi) = r.subtree_key_range();
            sql += &format!(" AND h.village_key >= {lo} AND h.village_key < {hi}");
        }
        sql += &format!(" GROUP BY {column}, r.name, c.category ORDER BY {column}");
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[], &[Ty::I64, Ty::Str, Ty::Str, Ty::I64]).await?;
            crate::commit!(tx)?;
            rows
        });
        let mut out: Vec<(String, String, [i64; 3])> = Vec::new();
        for r in rows {
            let code = code_of(r[0].i64().unwrap_or_default());
            if out.last().is_none_or(|l| l.0 != code) {
                out.push((code, r[1].string(), [0; 3]));
            }
            let i = match r[2].str() {
                Some("1") => 0,
                Some("2") => 1,
                _ => 2,
            };
            if let Some(l) = out.last_mut() {
                l.2[i] += r[3].i64().unwrap_or_default();
            }
        }
        Ok(out)
    }

    /// Assigns a measure (帮扶措施) to an open case.
    pub async fn add_case_measure(
        &self,
        caller: &Caller,
        case_id: i64,
        m: &NewCaseMeasure,
    ) -> StoreResult<MonitoringCase> {
        require_field_work(caller)?;
        let mut problems = Problems::default();
        if !MEASURE_TYPES.contains(&m.measure_type.trim()) {
            problems.push(
                "measure_type",
                format!("措施类型应为：{}", MEASURE_TYPES.join("、")),
            );
        }
        if m.responsible.trim().is_empty() {
            problems.push("responsible", "请填写责任人");
        }
        date_not_future(&m.measure_date, "measure_date", &mut problems);
        let amount = yuan(&m.amount, "amount", false, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let case = case_in(&mut tx, caller, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("监测案例 {case_id} 不存在")))?;
            household_for_write(&mut tx, caller, case.household_id).await?;
            if case.status != "monitoring" {
                return Err(StoreError::Conflict(format!("监测案例 {case_id} 的风险已于 {} 消除，不能再添加措施", case.eliminated_at.clone().unwrap_or_default())));
            }
            tx.exec(
                "INSERT INTO monitoring_measures (case_id, measure_type, responsible, measure_date, amount_fen, note, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[case_id.into(), m.measure_type.trim().into(), m.responsible.trim().into(), m.measure_date.trim().into(), amount.into(),
                  m.note.trim().into(), caller.username.clone().into(), now.into()],
            ).await?;
            audit!(&mut *tx, caller, "monitoring_measure", "monitoring_cases", Some(case_id.to_string()), None, None,
                Some(serde_json::json!({"measure_type": m.measure_type.trim(), "responsible": m.responsible.trim(), "date": m.measure_date.trim(), "amount_fen": amount})),
                m.note.trim().to_string());
            let case = case_in(&mut tx, caller, case_id).await?.expect("exists");
            crate::commit!(tx)?;
            Ok(case)
        })
    }

    /// Whether the risk of a case may be eliminated now, criterion by criterion.
    pub async fn elimination_check(
        &self,
        caller: &Caller,
        case_id: i64,
    ) -> StoreResult<EliminationCheck> {
        require_read(caller)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let case = case_in(&mut tx, caller, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("监测案例 {case_id} 不存在")))?;
            let h = visible_household(&mut tx, caller, case.household_id).await?;
            let rules = current_rules_in(&mut tx).await?.rules;
            let check = elimination_in(&mut tx, &case, &h, &rules).await?;
            crate::commit!(tx)?;
            Ok(check)
        })
    }

    /// `POST …/eliminate`: the risk is eliminated only by the last step of the elimination
    /// procedure (县级审批公告), so this is refused, naming the step that is missing (422), or
    /// saying when the risk was eliminated (409).
    pub async fn eliminate_case(
        &self,
        caller: &Caller,
        case_id: i64,
    ) -> StoreResult<MonitoringCase> {
        require_write(caller)?;
        let procedure = self.elimination_procedure(caller, case_id).await?;
        if let Some(at) = &procedure.eliminated_at {
            return Err(StoreError::Conflict(format!(
                "监测案例 {case_id} 的风险已于 {at} 消除"
            )));
        }
        let missing = procedure
            .next
            .as_ref()
            .map(|n| n.1.as_str())
            .unwrap_or("县级审批公告");
        Err(StoreError::invalid_field(
            "step",
            format!(
                "风险消除须经 入户核实 → 村级评议公示 → 县级审批公告，由县级审批公告生效；尚缺“{missing}”，请在风险消除程序中登记（POST /api/v1/monitoring-cases/{case_id}/elimination-procedure）"
            ),
        ))
    }

    /// The elimination procedure of a case: the steps recorded, the next one, the 公示 window,
    /// and (while monitored) the elimination criteria as they stand.
    pub async fn elimination_procedure(
        &self,
        caller: &Caller,
        case_id: i64,
    ) -> StoreResult<EliminationProcedure> {
        require_read(caller)?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let case = case_in(&mut tx, caller, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("监测案例 {case_id} 不存在")))?;
            let h = visible_household(&mut tx, caller, case.household_id).await?;
            let rules = current_rules_in(&mut tx).await?.rules;
            let steps = elimination_steps_in(&mut tx, case_id).await?;
            let check = if case.status == "monitoring" { Some(elimination_in(&mut tx, &case, &h, &rules).await?) } else { None };
            crate::commit!(tx)?;
            Ok(procedure_of(&case, steps, check, &rules))
        })
    }

    /// Records the next step of a case's elimination procedure, dated and attributed. 入户核实
    /// and 县级审批公告 need every elimination criterion to hold (422, one detail per unmet
    /// criterion); 县级审批公告 needs the village 公示 to have lasted `publicity_days`, and
    /// eliminates the risk on its date, keeping the criteria with the rule version and threshold.
    pub async fn record_elimination_step(
        &self,
        caller: &Caller,
        case_id: i64,
        step: &NewEliminationStep,
    ) -> StoreResult<EliminationProcedure> {
        let Some(next) = EliminationStep::parse(&step.step) else {
            require_field_work(caller)?;
            return Err(StoreError::invalid_field(
                "step",
                format!(
                    "步骤应为：{}",
                    EliminationStep::ALL
                        .iter()
                        .map(|s| format!("{}（{}）", s.as_str(), s.name_zh()))
                        .collect::<Vec<_>>()
                        .join("、")
                ),
            ));
        };
        // The county's approval is the elimination itself: registry writers only; the steps
        // before it are field work (first secretaries too).
        if next == EliminationStep::CountyApproval {
            require_write(caller)?;
        } else {
            require_field_work(caller)?;
        }
        let now = now_rfc3339();
        let date = step.date.trim().to_string();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let case = case_in(&mut tx, caller, case_id).await?.ok_or_else(|| StoreError::NotFound(format!("监测案例 {case_id} 不存在")))?;
            let h = household_for_write(&mut tx, caller, case.household_id).await?;
            if case.status != "monitoring" {
                return Err(StoreError::Conflict(format!("监测案例 {case_id} 的风险已于 {} 消除", case.eliminated_at.clone().unwrap_or_default())));
            }
            let version = current_rules_in(&mut tx).await?;
            let steps = elimination_steps_in(&mut tx, case_id).await?;
            let history: Vec<(EliminationStep, domain::assessment::Ymd)> = steps.iter().filter_map(|s| Some((EliminationStep::parse(&s.step)?, parse_date(&s.date)?))).collect();
            let identified = parse_date(&case.identified_at).unwrap_or((2000, 1, 1));
            let mut problems = check_elimination_step(&version.rules, identified, &history, next, &date, &step.responsible, crate::today());
            let check = elimination_in(&mut tx, &case, &h, &version.rules).await?;
            if problems.is_empty() && next != EliminationStep::VillageReview && !check.may_eliminate {
                problems.extend(check.criteria.iter().filter(|c| !c.passed && !c.manual).map(|c| FieldError::new(c.key.clone(), format!("{}：{}", c.name, c.detail))));
                tx.rollback().await?;
                return Err(StoreError::Invalid { message: format!("不满足风险消除条件（{} 项未达到），不能登记“{}”", problems.len(), next.name_zh()), details: problems });
            }
            if !problems.is_empty() {
                tx.rollback().await?;
                return Err(StoreError::invalid(problems));
            }
            tx.exec(
                "INSERT INTO elimination_steps (case_id, step, step_date, responsible, note, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[case_id.into(), next.as_str().into(), date.clone().into(), step.responsible.trim().into(), step.note.trim().into(), caller.username.clone().into(), now.into()],
            ).await?;
            audit!(&mut *tx, caller, "elimination_step", "monitoring_cases", Some(case_id.to_string()), None,
                Some(serde_json::json!({"step": history.last().map(|s| s.0.as_str())})),
                Some(serde_json::json!({"step": next.as_str(), "date": date, "responsible": step.responsible.trim()})),
                step.note.trim().to_string());
            if next == EliminationStep::CountyApproval {
                let stored = StoredElimination {
                    decision: ExitDecision { year: date[..4].parse().unwrap_or_default(), may_exit: true, criteria: check.criteria.clone() },
                    rule_version: Some(version.version),
                    threshold_yuan: Some(check.threshold_yuan.clone()),
                    threshold_source: Some(check.threshold_source.clone()),
                };
                tx.exec("UPDATE monitoring_cases SET status = 'eliminated', eliminated_at = $1, elimination_json = $2 WHERE id = $3",
                    &[date.clone().into(), serde_json::to_string(&stored).expect("elimination serialises").into(), case_id.into()]).await?;
                tx.exec("UPDATE households SET monitoring_type = NULL WHERE id = $1", &[case.household_id.into()]).await?;
                audit!(&mut *tx, caller, "monitoring_eliminate", "monitoring_cases", Some(case_id.to_string()), None,
                    Some(serde_json::json!({"status": "monitoring"})), Some(serde_json::to_value(&stored).unwrap_or_default()), step.note.trim().to_string());
            }
            let case = case_in(&mut tx, caller, case_id).await?.expect("exists");
            let steps = elimination_steps_in(&mut tx, case_id).await?;
            let check = if case.status == "monitoring" { Some(elimination_in(&mut tx, &case, &h, &version.rules).await?) } else { None };
            crate::commit!(tx)?;
            Ok(procedure_of(&case, steps, check, &version.rules))
        })
    }
}
