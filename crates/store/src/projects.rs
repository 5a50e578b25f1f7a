//! Projects (项目) in the eight themes: locations with money shares, participating
//! organisations with roles, a dated status workflow, results, beneficiaries (linked to the
//! registry where known), theme indicators and microloans. Money figures come from the ledger.

use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::kinds::Theme;
use domain::money::Fen;
use domain::project::{self, Indicator, Location, OrgRole, Progress, ProjectStatus};
use domain::validation::Problems;
use domain::{Caller, RegionCode, RegionLevel, Scope};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub id: i64,
    pub code: Option<String>,
    pub name: String,
    pub theme: Theme,
    pub theme_name: &'static str,
    pub sub_type: String,
    pub livelihood: bool,
    pub pairing_id: Option<i64>,
    pub approved_on: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub status: ProjectStatus,
    pub status_name: &'static str,
    pub status_date: String,
    /// Budget in fen.
    pub budget: Fen,
    pub description: String,
    pub locations: Vec<ProjectLocation>,
    pub organisations: Vec<ProjectOrganisation>,
    pub status_history: Vec<StatusChange>,
    pub results: Vec<ResultRow>,
    pub beneficiaries: Vec<Beneficiary>,
    pub beneficiary_totals: BeneficiaryTotals,
    pub indicators: Vec<IndicatorValue>,
    pub loans: Vec<Loan>,
    pub money: ProjectMoney,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectLocation {
    pub region_code: RegionCode,
    pub region_name: String,
    /// Province … unit, space separated.
    pub full_name: String,
    pub level: RegionLevel,
    pub weight: i64,
    /// This location's share of the budget (largest remainder, sums to the budget).
    pub budget_share: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectOrganisation {
    pub organisation_id: i64,
    pub organisation_name: String,
    pub role: OrgRole,
    pub role_name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    pub status: ProjectStatus,
    pub status_name: &'static str,
    pub changed_on: String,
    pub changed_by: String,
    pub note: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct ResultRow {
    pub indicator: String,
    pub unit: String,
    pub year: i64,
    pub baseline: Option<f64>,
    pub target: Option<f64>,
    pub actual: Option<f64>,
}

/// A `project_beneficiaries` row as read, with its household's number and village's name.
#[derive(sqlx::FromRow)]
struct BeneficiaryRow {
    household_id: Option<i64>,
    household_no: Option<String>,
    member_id: Option<i64>,
    village_key: Option<i64>,
    village_name: Option<String>,
    households: i64,
    people: i64,
    note: String,
}

/// A `project_loans` row as read (amounts in fen).
#[derive(sqlx::FromRow)]
struct LoanRow {
    household_id: Option<i64>,
    borrower: String,
    amount: i64,
    term_months: i64,
    issued_on: String,
    outstanding: i64,
    overdue: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Beneficiary {
    pub household_id: Option<i64>,
    pub household_no: Option<String>,
    pub member_id: Option<i64>,
    pub village_code: Option<RegionCode>,
    pub village_name: Option<String>,
    pub households: i64,
    pub people: i64,
    pub note: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BeneficiaryTotals {
    pub households: i64,
    pub people: i64,
    pub villages: i64,
    /// Rows linked to a registry household or person.
    pub linked: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorValue {
    pub indicator: Indicator,
    pub indicator_name: &'static str,
    pub unit: &'static str,
    pub year: i64,
    pub value: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loan {
    pub household_id: Option<i64>,
    pub borrower: String,
    pub amount: Fen,
    pub term_months: i64,
    pub issued_on: String,
    pub outstanding: Fen,
    pub overdue: Fen,
}

/// The project's money as the ledger has it (see domain::ledger for the definitions).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProjectMoney {
    pub committed: Fen,
    pub disbursed: Fen,
    pub incoming: Fen,
    pub received: Fen,
    pub expended: Fen,
    pub invested: Fen,
    /// 拨付进度 in basis points (1/100 %), null without commitments.
    pub disbursement_progress_bp: Option<i64>,
    /// 支出进度 in basis points, null before anything was received.
    pub expenditure_progress_bp: Option<i64>,
}

impl ProjectMoney {
    pub fn from_progress(p: Progress, invested: Fen) -> ProjectMoney {
        ProjectMoney {
            committed: p.committed,
            disbursed: p.disbursed,
            incoming: p.incoming,
            received: p.received(),
            expended: p.expended,
            invested,
            disbursement_progress_bp: p.disbursement_bp(),
            expenditure_progress_bp: p.expenditure_bp(),
        }
    }
}

/// A project in a list.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectSummary {
    pub id: i64,
    pub code: Option<String>,
    pub name: String,
    pub theme: Theme,
    pub theme_name: &'static str,
    pub sub_type: String,
    pub livelihood: bool,
    pub status: ProjectStatus,
    pub status_name: &'static str,
    pub approved_on: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub budget: Fen,
    pub locations: Vec<LocationRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocationRef {
    pub region_code: RegionCode,
    pub region_name: String,
}

// ---------------------------------------------------------------------------------------------
// Input

/// A project as submitted (JSON or a spreadsheet row): loosely typed so that every problem is
/// reported in Chinese with its field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectInput {
    pub code: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub theme: String,
    pub sub_type: Option<String>,
    pub livelihood: Option<bool>,
    pub pairing_id: Option<i64>,
    #[serde(default)]
    pub approved_on: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// On creation only (e.g. an imported, finished project); later changes go through the
    /// status workflow.
    pub status: Option<String>,
    pub status_date: Option<String>,
    /// Budget in fen.
    pub budget: Option<i64>,
    pub description: Option<String>,
    #[serde(default)]
    pub locations: Vec<LocationInput>,
    #[serde(default)]
    pub organisations: Vec<ProjectOrganisationInput>,
    #[serde(default)]
    pub results: Vec<ResultInput>,
    #[serde(default)]
    pub beneficiaries: Vec<BeneficiaryInput>,
    #[serde(default)]
    pub indicators: Vec<IndicatorInput>,
    #[serde(default)]
    pub loans: Vec<LoanInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LocationInput {
    #[serde(default)]
    pub region_code: String,
    /// Relative weight in the split of the project's money; 1 when absent (equal shares).
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectOrganisationInput {
    pub organisation_id: Option<i64>,
    #[serde(default)]
    pub role: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResultInput {
    #[serde(default)]
    pub indicator: String,
    #[serde(default)]
    pub unit: String,
    pub year: Option<i64>,
    pub baseline: Option<f64>,
    pub target: Option<f64>,
    pub actual: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BeneficiaryInput {
    pub household_id: Option<i64>,
    pub member_id: Option<i64>,
    pub village_code: Option<String>,
    pub households: Option<i64>,
    pub people: Option<i64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IndicatorInput {
    #[serde(default)]
    pub indicator: String,
    pub year: Option<i64>,
    pub value: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoanInput {
    pub household_id: Option<i64>,
    pub borrower: Option<String>,
    /// Fen.
    pub amount: Option<i64>,
    pub term_months: Option<i64>,
    #[serde(default)]
    pub issued_on: String,
    pub outstanding: Option<i64>,
    pub overdue: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatusChangeInput {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub date: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub theme: Option<Theme>,
    pub status: Option<ProjectStatus>,
    /// Projects with a location in this subtree.
    pub region: Option<RegionCode>,
    /// Projects this organisation takes part in (any role).
    pub organisation_id: Option<i64>,
    /// Projects running in this year (start year ≤ year ≤ end year).
    pub year: Option<i64>,
    pub pairing_id: Option<i64>,
    pub livelihood: Option<bool>,
    pub name_contains: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation

pub(crate) struct ValidProject {
    code: Option<String>,
    name: String,
    theme: Theme,
    sub_type: String,
    livelihood: bool,
    pairing_id: Option<i64>,
    approved_on: String,
    start_date: String,
    end_date: Option<String>,
    status: ProjectStatus,
    status_date: String,
    budget: i64,
    description: String,
    locations: Vec<(RegionCode, i64)>,
    organisations: Vec<(i64, OrgRole)>,
    results: Vec<ResultRow>,
    beneficiaries: Vec<ValidBeneficiary>,
    indicators: Vec<(i64, Indicator, i64)>,
    loans: Vec<ValidLoan>,
}

struct ValidBeneficiary {
    household_id: Option<i64>,
    member_id: Option<i64>,
    village_key: Option<i64>,
    households: i64,
    people: i64,
    note: String,
}

struct ValidLoan {
    household_id: Option<i64>,
    borrower: String,
    amount: i64,
    term_months: i64,
    issued_on: String,
    outstanding: i64,
    overdue: i64,
}

const MIN_YEAR: i64 = project::FIRST_YEAR as i64;
const MAX_YEAR: i64 = project::LAST_YEAR as i64;

fn date_field(problems: &mut Problems, field: &str, value: &str, what: &str) -> Option<String> {
    if value.trim().is_empty() {
        problems.push(field, format!("请填写{what}"));
        return None;
    }
    match project::parse_date(value) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(field, format!("{what}：{e}"));
            None
        }
    }
}

fn text_field(
    problems: &mut Problems,
    field: &str,
    value: Option<&str>,
    max: usize,
    what: &str,
) -> String {
    let t = domain::text::normalize(value.unwrap_or_default());
    if t.chars().count() > max {
        problems.push(field, format!("{what}不能超过 {max} 个字"));
    }
    t
}

impl Db {
    /// Every check, on the input and against the database, collected at once.
    pub(crate) async fn check_project(
        &self,
        caller: &Caller,
        input: &ProjectInput,
        existing: Option<i64>,
    ) -> StoreResult<ValidProject> {
        let mut problems = Problems::default();
        let name = text_field(&mut problems, "name", Some(&input.name), 200, "项目名称");
        if name.is_empty() {
            problems.push("name", "请填写项目名称");
        }
        let code = input
            .code
            .as_deref()
            .map(domain::text::normalize)
            .filter(|c| !c.is_empty());
        if let Some(c) = &code {
            if c.chars().count() > 64 {
                problems.push("code", "项目编号不能超过 64 个字符");
            } else {
                let other: Option<i64> = on_db!(self, p => sqlx::query_scalar("SELECT id FROM projects WHERE code = $1").bind(c).fetch_optional(p).await)?;
                if let Some(o) = other.filter(|o| Some(*o) != existing) {
                    problems.push("code", format!("项目编号 {c} 已被项目 {o} 使用"));
                }
            }
        }
        let theme = Theme::parse(&input.theme);
        if theme.is_none() {
            problems.push(
                "theme",
                format!("主题“{}”无效，应为：{}", input.theme, Theme::choices_zh()),
            );
        }
        let sub_type = text_field(
            &mut problems,
            "sub_type",
            input.sub_type.as_deref(),
            100,
            "子类型",
        );
        let description = text_field(
            &mut problems,
            "description",
            input.description.as_deref(),
            5_000,
            "项目简介",
        );
        if let Some(pid) = input.pairing_id {
            let found: Option<i64> = on_db!(self, p => sqlx::query_scalar("SELECT id FROM pairings WHERE id = $1").bind(pid).fetch_optional(p).await)?;
            if found.is_none() {
                problems.push("pairing_id", format!("对口关系 {pid} 不存在"));
            }
        }
        let approved_on = date_field(&mut problems, "approved_on", &input.approved_on, "立项日期");
        let start_date = match input.start_date.as_deref().filter(|s| !s.trim().is_empty()) {
            None => approved_on.clone(),
            Some(s) => date_field(&mut problems, "start_date", s, "开始日期"),
        };
        let end_date = match input.end_date.as_deref().filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(s) => date_field(&mut problems, "end_date", s, "结束日期"),
        };
        if let (Some(s), Some(e)) = (&start_date, &end_date)
            && e < s
        {
            problems.push("end_date", format!("结束日期 {e} 早于开始日期 {s}"));
        }
        let status = match input.status.as_deref().filter(|s| !s.trim().is_empty()) {
            None => Some(ProjectStatus::Approved),
            Some(s) => {
                let parsed = ProjectStatus::parse(s);
                if parsed.is_none() {
                    problems.push(
                        "status",
                        format!("项目状态“{s}”无效，应为：{}", ProjectStatus::choices_zh()),
                    );
                }
                parsed
            }
        };
        let status_date = match input
            .status_date
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            None if status != Some(ProjectStatus::Approved) && existing.is_none() => {
                problems.push("status_date", "项目状态不是“立项”时，请填写状态日期");
                None
            }
            None => approved_on.clone(),
            Some(s) => date_field(&mut problems, "status_date", s, "状态日期"),
        };
        if let (Some(a), Some(s)) = (&approved_on, &status_date)
            && s < a
        {
            problems.push("status_date", format!("状态日期 {s} 早于立项日期 {a}"));
        }
        if let (Some(id), Some(a)) = (existing, &approved_on) {
            let first: Option<String> = on_db!(self, p => sqlx::query_scalar("SELECT MIN(value_date) FROM ledger_entries WHERE project_id = $1").bind(id).fetch_one(p).await)?;
            if let Some(f) = first.filter(|f| f < a) {
                problems.push(
                    "approved_on",
                    format!("立项日期不能晚于该项目最早的资金交易日期 {f}"),
                );
            }
        }
        let budget = match input.budget {
            None => {
                problems.push("budget", "请填写项目预算（单位：分）");
                0
            }
            Some(b) if b < 0 => {
                problems.push("budget", "项目预算不能为负数");
                0
            }
            Some(b) => b,
        };

        let locations = self
            .check_locations(&caller.scope, &input.locations, &mut problems)
            .await?;
        let organisations = self
            .check_project_orgs(&caller.scope, &input.organisations, &mut problems)
            .await?;
        let results = check_results(&input.results, &mut problems);
        let beneficiaries = self
            .check_beneficiaries(caller, &input.beneficiaries, &mut problems)
            .await?;
        let indicators = check_indicators(&input.indicators, &mut problems);
        let loans = self
            .check_loans(caller, &input.loans, &mut problems)
            .await?;

        problems.into_result().map_err(StoreError::invalid)?;
        Ok(ValidProject {
            code,
            name,
            theme: theme.expect("checked"),
            sub_type,
            livelihood: input.livelihood.unwrap_or(false),
            pairing_id: input.pairing_id,
            approved_on: approved_on.clone().expect("checked"),
            start_date: start_date.expect("checked"),
            end_date,
            status: status.expect("checked"),
            status_date: status_date.expect("checked"),
            budget,
            description,
            locations,
            organisations,
            results,
            beneficiaries,
            indicators,
            loans,
        })
    }

    async fn check_locations(
        &self,
        scope: &Scope,
        input: &[LocationInput],
        problems: &mut Problems,
    ) -> StoreResult<Vec<(RegionCode, i64)>> {
        if input.is_empty() {
            problems.push("locations", "请至少填写一个项目地点（区划代码）");
        }
        let mut out: Vec<(RegionCode, i64)> = Vec::new();
        for (i, l) in input.iter().enumerate() {
            let f = |n: &str| format!("locations[{i}].{n}");
            let weight = l.weight.unwrap_or(1);
            if !(1..=1_000_000).contains(&weight) {
                problems.push(f("weight"), "地点权重应为 1–1000000 的整数");
            }
            match RegionCode::parse(&l.region_code) {
                Err(e) => problems.push(f("region_code"), e.to_string()),
                Ok(code) => match self.get_region(code).await? {
                    None => problems.push(f("region_code"), format!("区划代码 {code} 不存在")),
                    Some(r) if r.retired_year.is_some() => problems.push(
                        f("region_code"),
                        format!(
                            "{}（{code}）已于 {} 年撤销",
                            r.name,
                            r.retired_year.unwrap_or_default()
                        ),
                    ),
                    Some(_) if matches!(scope, Scope::Regions(_)) && !scope.allows_region(code) => {
                        problems.push(f("region_code"), format!("区划 {code} 不在您的管辖范围内"))
                    }
                    Some(_) if out.iter().any(|(c, _)| *c == code) => {
                        problems.push(f("region_code"), format!("地点 {code} 重复"))
                    }
                    Some(_) => out.push((code, weight)),
                },
            }
        }
        Ok(out)
    }

    async fn check_project_orgs(
        &self,
        scope: &Scope,
        input: &[ProjectOrganisationInput],
        problems: &mut Problems,
    ) -> StoreResult<Vec<(i64, OrgRole)>> {
        let mut out: Vec<(i64, OrgRole)> = Vec::new();
        for (i, o) in input.iter().enumerate() {
            let f = |n: &str| format!("organisations[{i}].{n}");
            let role = OrgRole::parse(&o.role);
            if role.is_none() {
                problems.push(
                    f("role"),
                    format!("机构角色“{}”无效，应为：{}", o.role, OrgRole::choices_zh()),
                );
            }
            let id = match o.organisation_id {
                None => {
                    problems.push(f("organisation_id"), "请填写机构编号");
                    None
                }
                Some(id) => match self.get_organisation(id).await? {
                    None => {
                        problems.push(f("organisation_id"), format!("机构 {id} 不存在"));
                        None
                    }
                    Some(_) => Some(id),
                },
            };
            if let (Some(id), Some(role)) = (id, role) {
                if out.contains(&(id, role)) {
                    problems.push(
                        f("role"),
                        format!("机构 {id} 的角色“{}”重复", role.name_zh()),
                    );
                } else {
                    out.push((id, role));
                }
            }
        }
        if let Scope::Organisation(own) = scope
            && !out.iter().any(|(id, _)| id == own)
        {
            problems.push("organisations", "项目参与机构中必须包含您所在的机构");
        }
        Ok(out)
    }

    /// A registry household's village, if the caller may link it: it exists and lies in the
    /// caller's scope (organisation users, who do not read the registry, may link none).
    async fn linkable_household(
        &self,
        caller: &Caller,
        household_id: i64,
    ) -> StoreResult<Option<(i64, i64)>> {
        if !caller.can_read_registry() {
            return Ok(None);
        }
        let row: Option<(i64, i64)> = on_db!(self, p => sqlx::query_as("SELECT village_key, member_count FROM households WHERE id = $1").bind(household_id).fetch_optional(p).await)?;
        Ok(row.filter(|(village, _)| {
            crate::registry_import::village_key_in_scope(&caller.scope, *village)
        }))
    }

    async fn check_beneficiaries(
        &self,
        caller: &Caller,
        input: &[BeneficiaryInput],
        problems: &mut Problems,
    ) -> StoreResult<Vec<ValidBeneficiary>> {
        let mut out = Vec::new();
        let mut seen_households = HashSet::new();
        let mut seen_members = HashSet::new();
        for (i, b) in input.iter().enumerate() {
            let f = |n: &str| format!("beneficiaries[{i}].{n}");
            let note = text_field(problems, &f("note"), b.note.as_deref(), 500, "备注");
            let village_code = b
                .village_code
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            for (name, v) in [("households", b.households), ("people", b.people)] {
                if v.is_some_and(|v| !(0..=100_000_000).contains(&v)) {
                    problems.push(f(name), "人数、户数应为不小于 0 的整数");
                }
            }
            match (b.household_id, b.member_id) {
                (Some(_), Some(_)) => problems.push(f("member_id"), "一行只能关联一户或一人"),
                (Some(hid), None) => {
                    // Outside the scope is answered as "not there", the same text either way.
                    match self.linkable_household(caller, hid).await? {
                        None => problems.push(f("household_id"), unknown_household(hid)),
                        Some(_) if !seen_households.insert(hid) => {
                            problems.push(f("household_id"), format!("建档立卡户 {hid} 重复"))
                        }
                        Some((village, members)) => out.push(ValidBeneficiary {
                            household_id: Some(hid),
                            member_id: None,
                            village_key: Some(village),
                            households: 1,
                            people: b.people.unwrap_or(members),
                            note,
                        }),
                    }
                }
                (None, Some(mid)) => {
                    let row: Option<(i64, i64)> = if caller.can_read_registry() {
                        on_db!(self, p => sqlx::query_as("SELECT m.household_id, h.village_key FROM members m JOIN households h ON h.id = m.household_id WHERE m.id = $1").bind(mid).fetch_optional(p).await)?
                    } else {
                        None
                    };
                    let row = row.filter(|(_, village)| {
                        crate::registry_import::village_key_in_scope(&caller.scope, *village)
                    });
                    match row {
                        None => problems.push(
                            f("member_id"),
                            format!("建档立卡人员 {mid} 不在您的管辖范围内或不存在"),
                        ),
                        Some(_) if !seen_members.insert(mid) => {
                            problems.push(f("member_id"), format!("建档立卡人员 {mid} 重复"))
                        }
                        Some((_, village)) => out.push(ValidBeneficiary {
                            household_id: None,
                            member_id: Some(mid),
                            village_key: Some(village),
                            households: 0,
                            people: 1,
                            note,
                        }),
                    }
                }
                (None, None) => {
                    let households = b.households.unwrap_or(0);
                    let people = b.people.unwrap_or(0);
                    let mut village_key = None;
                    if let Some(v) = village_code {
                        match RegionCode::parse(v) {
                            Err(e) => problems.push(f("village_code"), e.to_string()),
                            Ok(c) if c.level() != RegionLevel::Village => {
                                problems.push(f("village_code"), format!("{c} 不是村级区划代码"))
                            }
                            Ok(c) => match self.get_region(c).await? {
                                None => {
                                    problems.push(f("village_code"), format!("区划代码 {c} 不存在"))
                                }
                                Some(_) => village_key = Some(c.key()),
                            },
                        }
                    }
                    if households <= 0 && people <= 0 && village_code.is_none() {
                        problems.push(
                            f("households"),
                            "未关联建档立卡户或人员时，请填写受益户数、人数或受益村",
                        );
                    }
                    out.push(ValidBeneficiary {
                        household_id: None,
                        member_id: None,
                        village_key,
                        households,
                        people,
                        note,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn check_loans(
        &self,
        caller: &Caller,
        input: &[LoanInput],
        problems: &mut Problems,
    ) -> StoreResult<Vec<ValidLoan>> {
        let mut out = Vec::new();
        let rules = self.current_rules().await?.rules;
        for (i, l) in input.iter().enumerate() {
            let f = |n: &str| format!("loans[{i}].{n}");
            let before = problems.0.len();
            let borrower = text_field(
                problems,
                &f("borrower"),
                l.borrower.as_deref(),
                100,
                "借款人",
            );
            if let Some(hid) = l.household_id
                && self.linkable_household(caller, hid).await?.is_none()
            {
                problems.push(f("household_id"), unknown_household(hid));
            }
            let amount = l.amount.unwrap_or(0);
            if amount <= 0 {
                problems.push(f("amount"), "贷款金额应大于零（单位：分）");
            }
            let term = l.term_months.unwrap_or(0);
            let household_total: i64 = input
                .iter()
                .filter(|o| l.household_id.is_some() && o.household_id == l.household_id)
                .map(|o| o.amount.unwrap_or(0).max(0))
                .sum::<i64>()
                .max(amount);
            for (field, message) in project::check_microloan(
                term,
                amount,
                household_total,
                rules.microloan_max_months,
                rules.microloan_max_yuan,
            ) {
                problems.push(f(field), message);
            }
            let issued_on = date_field(problems, &f("issued_on"), &l.issued_on, "放款日期");
            let outstanding = l.outstanding.unwrap_or(0);
            if outstanding < 0 || outstanding > amount.max(0) {
                problems.push(f("outstanding"), "贷款余额应在 0 与贷款金额之间");
            }
            let overdue = l.overdue.unwrap_or(0);
            if overdue < 0 || overdue > outstanding.max(0) {
                problems.push(f("overdue"), "逾期金额应在 0 与贷款余额之间");
            }
            if problems.0.len() == before {
                out.push(ValidLoan {
                    household_id: l.household_id,
                    borrower,
                    amount,
                    term_months: term,
                    issued_on: issued_on.expect("checked"),
                    outstanding,
                    overdue,
                });
            }
        }
        Ok(out)
    }
}

fn check_results(input: &[ResultInput], problems: &mut Problems) -> Vec<ResultRow> {
    let mut out: Vec<ResultRow> = Vec::new();
    for (i, r) in input.iter().enumerate() {
        let f = |n: &str| format!("results[{i}].{n}");
        let indicator = domain::text::normalize(&r.indicator);
        let unit = domain::text::normalize(&r.unit);
        if indicator.is_empty() {
            problems.push(f("indicator"), "请填写成果指标名称");
        }
        if unit.is_empty() {
            problems.push(f("unit"), "请填写计量单位");
        }
        let year = r.year.filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y));
        if year.is_none() {
            problems.push(f("year"), format!("请填写年份（{MIN_YEAR}–{MAX_YEAR}）"));
        }
        for (name, v) in [
            ("baseline", r.baseline),
            ("target", r.target),
            ("actual", r.actual),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                problems.push(f(name), "应为有效的数");
            }
        }
        if let Some(year) = year {
            if out
                .iter()
                .any(|o| o.indicator == indicator && o.year == year)
            {
                problems.push(
                    f("indicator"),
                    format!("成果指标“{indicator}”在 {year} 年重复"),
                );
            }
            out.push(ResultRow {
                indicator,
                unit,
                year,
                baseline: r.baseline,
                target: r.target,
                actual: r.actual,
            });
        }
    }
    out
}

fn check_indicators(
    input: &[IndicatorInput],
    problems: &mut Problems,
) -> Vec<(i64, Indicator, i64)> {
    let mut out: Vec<(i64, Indicator, i64)> = Vec::new();
    for (i, v) in input.iter().enumerate() {
        let f = |n: &str| format!("indicators[{i}].{n}");
        let ind = Indicator::parse(&v.indicator);
        if ind.is_none() {
            problems.push(
                f("indicator"),
                format!(
                    "主题指标“{}”无效，应为：{}",
                    v.indicator,
                    Indicator::choices_zh()
                ),
            );
        }
        let year = v.year.filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y));
        if year.is_none() {
            problems.push(f("year"), format!("请填写年份（{MIN_YEAR}–{MAX_YEAR}）"));
        }
        let value = v.value.filter(|v| *v >= 0);
        if value.is_none() {
            problems.push(f("value"), "指标值应为不小于 0 的整数（金额单位：分）");
        }
        if let (Some(ind), Some(year), Some(value)) = (ind, year, value) {
            if out.iter().any(|(y, i, _)| *y == year && *i == ind) {
                problems.push(
                    f("indicator"),
                    format!("主题指标“{}”在 {year} 年重复", ind.name_zh()),
                );
            }
            out.push((year, ind, value));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a project's child rows (locations … loans) on an executor inside a transaction.
macro_rules! write_children {
    ($tx:expr, $id:expr, $v:expr) => {{
        let id: i64 = $id;
        let v: &ValidProject = $v;
        for (pos, (code, weight)) in v.locations.iter().enumerate() {
            sqlx::query("INSERT INTO project_locations (project_id, region_key, weight, position) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(code.key()).bind(*weight).bind(pos as i64)
                .execute(&mut *$tx).await?;
        }
        for (org, role) in &v.organisations {
            sqlx::query("INSERT INTO project_organisations (project_id, organisation_id, role) VALUES ($1, $2, $3)")
                .bind(id).bind(*org).bind(role.as_str())
                .execute(&mut *$tx).await?;
        }
        for r in &v.results {
            sqlx::query("INSERT INTO project_results (project_id, indicator, unit, year, baseline, target, actual) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id).bind(&r.indicator).bind(&r.unit).bind(r.year).bind(r.baseline).bind(r.target).bind(r.actual)
                .execute(&mut *$tx).await?;
        }
        for b in &v.beneficiaries {
            sqlx::query("INSERT INTO project_beneficiaries (project_id, household_id, member_id, village_key, households, people, note) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id).bind(b.household_id).bind(b.member_id).bind(b.village_key).bind(b.households).bind(b.people).bind(&b.note)
                .execute(&mut *$tx).await?;
        }
        for (year, ind, value) in &v.indicators {
            sqlx::query("INSERT INTO project_indicators (project_id, year, indicator, value) VALUES ($1, $2, $3, $4)")
                .bind(id).bind(*year).bind(ind.as_str()).bind(*value)
                .execute(&mut *$tx).await?;
        }
        for l in &v.loans {
            sqlx::query("INSERT INTO project_loans (project_id, household_id, borrower, amount, term_months, issued_on, outstanding, overdue) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(id).bind(l.household_id).bind(&l.borrower).bind(l.amount).bind(l.term_months).bind(&l.issued_on).bind(l.outstanding).bind(l.overdue)
                .execute(&mut *$tx).await?;
        }
    }};
}

/// Inserts a validated project with its history and children; evaluates to the new id.
macro_rules! insert_project {
    ($tx:expr, $v:expr, $caller:expr) => {{
        let v: &ValidProject = $v;
        let caller: &Caller = $caller;
        let now = now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO projects (code, name, theme, sub_type, livelihood, pairing_id, approved_on, start_date, end_date,
             status, status_date, budget, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(&v.code).bind(&v.name).bind(v.theme.as_str()).bind(&v.sub_type).bind(v.livelihood).bind(v.pairing_id)
        .bind(&v.approved_on).bind(&v.start_date).bind(&v.end_date).bind(v.status.as_str()).bind(&v.status_date)
        .bind(v.budget).bind(&v.description).bind(&now)
        .fetch_one(&mut *$tx).await?;
        sqlx::query("INSERT INTO project_status_history (project_id, status, changed_on, changed_by, note, recorded_at) VALUES ($1, $2, $3, $4, '', $5)")
            .bind(id).bind(ProjectStatus::Approved.as_str()).bind(&v.approved_on).bind(&caller.username).bind(&now)
            .execute(&mut *$tx).await?;
        if v.status != ProjectStatus::Approved {
            sqlx::query("INSERT INTO project_status_history (project_id, status, changed_on, changed_by, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id).bind(v.status.as_str()).bind(&v.status_date).bind(&caller.username).bind("录入时的状态").bind(&now)
                .execute(&mut *$tx).await?;
        }
        write_children!($tx, id, v);
        id
    }};
}

impl Db {
    pub async fn create_project(
        &self,
        caller: &Caller,
        input: &ProjectInput,
    ) -> StoreResult<Project> {
        require_project_writer(caller)?;
        let v = self.check_project(caller, input, None).await?;
        let id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id = insert_project!(tx, &v, caller);
            let after = serde_json::json!({ "name": v.name, "theme": v.theme.as_str(), "budget": v.budget, "status": v.status.as_str() });
            audit!(&mut *tx, caller, "create", "project", Some(id.to_string()), None, None, Some(after), String::new());
            crate::commit!(tx)?;
            id
        });
        self.require_project(caller, id).await
    }

    /// Replaces a project's fields and children. The status is not changed here: it moves only
    /// through [`Db::change_project_status`], so every change is dated and attributed.
    pub async fn update_project(
        &self,
        caller: &Caller,
        id: i64,
        input: &ProjectInput,
    ) -> StoreResult<Project> {
        require_project_writer(caller)?;
        let before = self.require_writable_project(caller, id).await?;
        let mut input = input.clone();
        input.status = None;
        input.status_date = None;
        let v = self.check_project(caller, &input, Some(id)).await?;
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE projects SET code = $1, name = $2, theme = $3, sub_type = $4, livelihood = $5, pairing_id = $6,
                 approved_on = $7, start_date = $8, end_date = $9, budget = $10, description = $11, updated_at = $12 WHERE id = $13")
                .bind(&v.code).bind(&v.name).bind(v.theme.as_str()).bind(&v.sub_type).bind(v.livelihood).bind(v.pairing_id)
                .bind(&v.approved_on).bind(&v.start_date).bind(&v.end_date).bind(v.budget).bind(&v.description)
                .bind(now_rfc3339()).bind(id)
                .execute(&mut *tx).await?;
            for table in ["project_locations", "project_organisations", "project_results", "project_beneficiaries", "project_indicators", "project_loans"] {
                let sql = format!("DELETE FROM {table} WHERE project_id = $1");
                sqlx::query(AssertSqlSafe(sql)).bind(id).execute(&mut *tx).await?;
            }
            write_children!(tx, id, &v);
            let before_json = serde_json::json!({ "name": before.name, "theme": before.theme.as_str(), "budget": before.budget.0 });
            let after_json = serde_json::json!({ "name": v.name, "theme": v.theme.as_str(), "budget": v.budget });
            audit!(&mut *tx, caller, "update", "project", Some(id.to_string()), None, Some(before_json), Some(after_json), String::new());
            crate::commit!(tx)?;
        });
        self.require_project(caller, id).await
    }

    /// Moves a project one step along its workflow (or terminates it), dated and attributed.
    pub async fn change_project_status(
        &self,
        caller: &Caller,
        id: i64,
        input: &StatusChangeInput,
    ) -> StoreResult<Project> {
        require_project_writer(caller)?;
        let project = self.require_writable_project(caller, id).await?;
        let mut problems = Problems::default();
        let next = ProjectStatus::parse(&input.status);
        match next {
            None => problems.push(
                "status",
                format!(
                    "项目状态“{}”无效，应为：{}",
                    input.status,
                    ProjectStatus::choices_zh()
                ),
            ),
            Some(n) if !project.status.can_move_to(n) => problems.push(
                "status",
                format!(
                    "项目当前为“{}”，不能改为“{}”；可改为：{}",
                    project.status.name_zh(),
                    n.name_zh(),
                    project.status.next_choices_zh()
                ),
            ),
            Some(_) => {}
        }
        let date = date_field(&mut problems, "date", &input.date, "状态变更日期");
        if let Some(d) = &date
            && *d < project.status_date
        {
            problems.push(
                "date",
                format!(
                    "状态变更日期 {d} 早于上一次状态日期 {}",
                    project.status_date
                ),
            );
        }
        let note = text_field(&mut problems, "note", input.note.as_deref(), 500, "说明");
        if next == Some(ProjectStatus::Terminated) && note.is_empty() {
            problems.push("note", "终止项目须说明原因");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let (next, date) = (next.expect("checked"), date.expect("checked"));
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE projects SET status = $1, status_date = $2, updated_at = $3 WHERE id = $4")
                .bind(next.as_str()).bind(&date).bind(&now).bind(id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO project_status_history (project_id, status, changed_on, changed_by, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id).bind(next.as_str()).bind(&date).bind(&caller.username).bind(&note).bind(&now)
                .execute(&mut *tx).await?;
            audit!(&mut *tx, caller, "status", "project", Some(id.to_string()), None,
                Some(serde_json::json!({ "status": project.status.as_str(), "date": project.status_date })),
                Some(serde_json::json!({ "status": next.as_str(), "date": date })), note.clone());
            crate::commit!(tx)?;
        });
        self.require_project(caller, id).await
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(sqlx::FromRow)]
pub(crate) struct ProjectRow {
    pub(crate) id: i64,
    pub(crate) code: Option<String>,
    pub(crate) name: String,
    pub(crate) theme: String,
    pub(crate) sub_type: String,
    pub(crate) livelihood: bool,
    pub(crate) pairing_id: Option<i64>,
    pub(crate) approved_on: String,
    pub(crate) start_date: String,
    pub(crate) end_date: Option<String>,
    pub(crate) status: String,
    pub(crate) status_date: String,
    pub(crate) budget: i64,
    pub(crate) description: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

pub(crate) const PROJECT_COLUMNS: &str =
    "p.id, p.code, p.name, p.theme, p.sub_type, p.livelihood, p.pairing_id, p.approved_on, p.start_date,
    p.end_date, p.status, p.status_date, p.budget, p.description, p.created_at, p.updated_at";

pub(crate) fn parse_theme(s: &str) -> Theme {
    Theme::parse(s).unwrap_or(Theme::Pairing)
}

pub(crate) fn parse_status(s: &str) -> ProjectStatus {
    ProjectStatus::parse(s).unwrap_or(ProjectStatus::Approved)
}

/// A registry household a project may not link: missing or outside the caller's scope, in the
/// same words.
fn unknown_household(id: i64) -> String {
    format!("建档立卡户 {id} 不在您的管辖范围内或不存在")
}

/// SQL restriction of projects `p` to a scope; numbers only.
pub(crate) fn project_scope_clause(scope: &Scope) -> String {
    match scope {
        Scope::Everything => String::new(),
        Scope::Organisation(id) => {
            format!(
                " AND EXISTS (SELECT 1 FROM project_organisations so WHERE so.project_id = p.id AND so.organisation_id = {id})"
            )
        }
        Scope::Regions(_) => {
            let ranges = scope.region_ranges().unwrap_or_default();
            if ranges.is_empty() {
                return " AND 1 = 0".into();
            }
            let parts: Vec<String> = ranges
                .iter()
                .map(|(lo, hi)| format!("(sl.region_key >= {lo} AND sl.region_key < {hi})"))
                .collect();
            format!(
                " AND EXISTS (SELECT 1 FROM project_locations sl WHERE sl.project_id = p.id AND ({}))",
                parts.join(" OR ")
            )
        }
    }
}

/// SQL restriction of projects `p` to those a caller of this scope may change: an organisation
/// its own organisation's projects; a district office those lying wholly in its regions (one
/// location outside them is another office's business, and an update replaces all locations).
pub(crate) fn project_write_clause(scope: &Scope) -> String {
    let visible = project_scope_clause(scope);
    match scope {
        Scope::Regions(_) => {
            let ranges = scope.region_ranges().unwrap_or_default();
            if ranges.is_empty() {
                return visible;
            }
            let parts: Vec<String> = ranges
                .iter()
                .map(|(lo, hi)| format!("(wl.region_key >= {lo} AND wl.region_key < {hi})"))
                .collect();
            format!(
                "{visible} AND NOT EXISTS (SELECT 1 FROM project_locations wl WHERE wl.project_id = p.id AND NOT ({}))",
                parts.join(" OR ")
            )
        }
        _ => visible,
    }
}

/// The answer for a 项目编号 the caller may not change: the same whether it names another
/// organisation's or region's project or none at all.
pub(crate) fn project_out_of_scope(code: &str) -> String {
    format!("项目编号 {code} 不在您的管辖范围内或不存在")
}

/// A project as shown to callers who may not read the registry (the public, organisation
/// users): beneficiary rows and loans keep their village, counts and amounts, but lose the link
/// to a registered household or person and the borrower's name (only its first character stays),
/// so a transparency page never shows a person's record.
fn without_persons(
    beneficiaries: Vec<Beneficiary>,
    loans: Vec<Loan>,
) -> (Vec<Beneficiary>, Vec<Loan>) {
    let beneficiaries = beneficiaries
        .into_iter()
        .map(|b| Beneficiary {
            household_id: None,
            household_no: None,
            member_id: None,
            ..b
        })
        .collect();
    let loans = loans
        .into_iter()
        .map(|l| {
            let mut chars = l.borrower.chars();
            let borrower = match chars.next() {
                Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
                None => String::new(),
            };
            Loan {
                household_id: None,
                borrower,
                ..l
            }
        })
        .collect();
    (beneficiaries, loans)
}

/// Refuses callers who may not register or change projects and transactions (county and
/// village cadres, auditors, the public; see `Caller::can_write_projects`).
pub fn require_project_writer(caller: &Caller) -> StoreResult<()> {
    if caller.can_write_projects() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "您没有登记或修改项目和资金的权限".into(),
        ))
    }
}

/// Projects are public information (transparency pages), like pairings: the public sees them
/// all, logged-in callers those of their scope.
pub(crate) fn project_scope(caller: &Caller) -> Scope {
    caller.pairing_scope()
}

#[derive(sqlx::FromRow)]
struct LocationRow {
    project_id: i64,
    region_key: i64,
    name: String,
    weight: i64,
}

impl Db {
    pub async fn get_project(&self, caller: &Caller, id: i64) -> StoreResult<Option<Project>> {
        let sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1{}",
            project_scope_clause(&project_scope(caller))
        );
        let row: Option<ProjectRow> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?;
        let Some(row) = row else { return Ok(None) };
        let budget = Fen(row.budget);
        let locs = self.project_locations(&[id]).await?;
        let weights: Vec<Location> = locs
            .iter()
            .filter_map(|l| {
                RegionCode::from_key(l.region_key).map(|c| Location {
                    region: c,
                    weight: l.weight.max(0) as u64,
                })
            })
            .collect();
        let shares = project::split_over_locations(budget, &weights);
        let mut locations = Vec::new();
        for (l, (code, share)) in locs.iter().zip(shares) {
            let mut names: Vec<String> = self
                .region_ancestors(code)
                .await?
                .into_iter()
                .map(|r| r.name)
                .collect();
            names.push(l.name.clone());
            locations.push(ProjectLocation {
                region_code: code,
                region_name: l.name.clone(),
                full_name: names.join(" "),
                level: code.level(),
                weight: l.weight,
                budget_share: share,
            });
        }
        let orgs: Vec<(i64, String, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT po.organisation_id, o.name, po.role FROM project_organisations po JOIN organisations o ON o.id = po.organisation_id
             WHERE po.project_id = $1 ORDER BY po.role, o.id").bind(id).fetch_all(p).await)?;
        let mut organisations: Vec<ProjectOrganisation> = orgs
            .into_iter()
            .filter_map(|(oid, name, role)| {
                OrgRole::parse(&role).map(|r| ProjectOrganisation {
                    organisation_id: oid,
                    organisation_name: name,
                    role: r,
                    role_name: r.name_zh(),
                })
            })
            .collect();
        organisations.sort_by_key(|o| (o.role, o.organisation_id));
        let history: Vec<(String, String, String, String, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT status, changed_on, changed_by, note, recorded_at FROM project_status_history WHERE project_id = $1 ORDER BY id")
            .bind(id).fetch_all(p).await)?;
        let status_history = history
            .into_iter()
            .map(|(s, on, by, note, at)| {
                let st = parse_status(&s);
                StatusChange {
                    status: st,
                    status_name: st.name_zh(),
                    changed_on: on,
                    changed_by: by,
                    note,
                    recorded_at: at,
                }
            })
            .collect();
        let results: Vec<ResultRow> = on_db!(self, p => sqlx::query_as(
            "SELECT indicator, unit, year, baseline, target, actual FROM project_results WHERE project_id = $1 ORDER BY id")
            .bind(id).fetch_all(p).await)?;
        let bens: Vec<BeneficiaryRow> = on_db!(self, p => sqlx::query_as(
            "SELECT b.household_id, h.household_no, b.member_id, b.village_key, r.name AS village_name, b.households, b.people, b.note
             FROM project_beneficiaries b LEFT JOIN households h ON h.id = b.household_id LEFT JOIN regions r ON r.key = b.village_key
             WHERE b.project_id = $1 ORDER BY b.id").bind(id).fetch_all(p).await)?;
        let mut totals = BeneficiaryTotals::default();
        let mut villages = HashSet::new();
        let beneficiaries: Vec<Beneficiary> = bens
            .into_iter()
            .map(|b| {
                totals.households += b.households;
                totals.people += b.people;
                if b.household_id.is_some() || b.member_id.is_some() {
                    totals.linked += 1;
                }
                if let Some(k) = b.village_key {
                    villages.insert(k);
                }
                Beneficiary {
                    household_id: b.household_id,
                    household_no: b.household_no,
                    member_id: b.member_id,
                    village_code: b.village_key.and_then(RegionCode::from_key),
                    village_name: b.village_name,
                    households: b.households,
                    people: b.people,
                    note: b.note,
                }
            })
            .collect();
        totals.villages = villages.len() as i64;
        let inds: Vec<(i64, String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT year, indicator, value FROM project_indicators WHERE project_id = $1 ORDER BY year, indicator").bind(id).fetch_all(p).await)?;
        let indicators = inds
            .into_iter()
            .filter_map(|(year, ind, value)| {
                Indicator::parse(&ind).map(|i| IndicatorValue {
                    indicator: i,
                    indicator_name: i.name_zh(),
                    unit: i.unit_zh(),
                    year,
                    value,
                })
            })
            .collect();
        let loans: Vec<LoanRow> = on_db!(self, p => sqlx::query_as(
            "SELECT household_id, borrower, amount, term_months, issued_on, outstanding, overdue FROM project_loans WHERE project_id = $1 ORDER BY id")
            .bind(id).fetch_all(p).await)?;
        let loans = loans
            .into_iter()
            .map(|l| Loan {
                household_id: l.household_id,
                borrower: l.borrower,
                amount: Fen(l.amount),
                term_months: l.term_months,
                issued_on: l.issued_on,
                outstanding: Fen(l.outstanding),
                overdue: Fen(l.overdue),
            })
            .collect();
        let (beneficiaries, loans) = if caller.can_read_registry() {
            (beneficiaries, loans)
        } else {
            without_persons(beneficiaries, loans)
        };
        let money = self.project_money(id).await?;
        let theme = parse_theme(&row.theme);
        let status = parse_status(&row.status);
        Ok(Some(Project {
            id: row.id,
            code: row.code,
            name: row.name,
            theme,
            theme_name: theme.name_zh(),
            sub_type: row.sub_type,
            livelihood: row.livelihood,
            pairing_id: row.pairing_id,
            approved_on: row.approved_on,
            start_date: row.start_date,
            end_date: row.end_date,
            status,
            status_name: status.name_zh(),
            status_date: row.status_date,
            budget,
            description: row.description,
            locations,
            organisations,
            status_history,
            results,
            beneficiaries,
            beneficiary_totals: totals,
            indicators,
            loans,
            money,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }))
    }

    pub async fn require_project(&self, caller: &Caller, id: i64) -> StoreResult<Project> {
        self.get_project(caller, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("项目 {id} 不存在")))
    }

    async fn project_locations(&self, ids: &[i64]) -> StoreResult<Vec<LocationRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT l.project_id, l.region_key, r.name, l.weight FROM project_locations l JOIN regions r ON r.key = l.region_key
             WHERE l.project_id IN ({list}) ORDER BY l.project_id, l.position"
        );
        Ok(on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?)
    }

    /// Lists projects in id order (keyset); filters combine with AND.
    pub async fn list_projects(
        &self,
        caller: &Caller,
        filter: &ProjectFilter,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ProjectSummary>> {
        let mut sql = format!(
            "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id > $1 AND ($2 IS NULL OR p.theme = $2) AND ($3 IS NULL OR p.status = $3)
             AND ($4 IS NULL OR p.pairing_id = $4) AND ($5 IS NULL OR p.livelihood = $5) AND ($6 IS NULL OR p.name LIKE $6 ESCAPE '\\')"
        );
        if let Some(r) = filter.region {
            let (lo, hi) = r.subtree_key_range();
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM project_locations fl WHERE fl.project_id = p.id AND fl.region_key >= {lo} AND fl.region_key < {hi})"
            );
        }
        if let Some(o) = filter.organisation_id {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM project_organisations fo WHERE fo.project_id = p.id AND fo.organisation_id = {o})"
            );
        }
        if let Some(y) = filter.year {
            // Dates are 'YYYY-MM-DD' text: a year is a range of strings.
            sql += &format!(
                " AND p.start_date < '{:04}-99' AND (p.end_date IS NULL OR p.end_date >= '{:04}-01-01')",
                y.clamp(0, 9999),
                y.clamp(0, 9999)
            );
        }
        sql += &project_scope_clause(&project_scope(caller));
        sql += " ORDER BY p.id LIMIT $7";
        let pattern = filter
            .name_contains
            .as_ref()
            .map(|q| format!("%{}%", crate::regions::escape_like(q)));
        let rows: Vec<ProjectRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
            .bind(after.unwrap_or(0)).bind(filter.theme.map(|t| t.as_str())).bind(filter.status.map(|s| s.as_str()))
            .bind(filter.pairing_id).bind(filter.livelihood).bind(pattern).bind(limit)
            .fetch_all(p).await)?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut locs: HashMap<i64, Vec<LocationRef>> = HashMap::new();
        for l in self.project_locations(&ids).await? {
            if let Some(code) = RegionCode::from_key(l.region_key) {
                locs.entry(l.project_id).or_default().push(LocationRef {
                    region_code: code,
                    region_name: l.name,
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let theme = parse_theme(&r.theme);
                let status = parse_status(&r.status);
                ProjectSummary {
                    locations: locs.remove(&r.id).unwrap_or_default(),
                    id: r.id,
                    code: r.code,
                    name: r.name,
                    theme,
                    theme_name: theme.name_zh(),
                    sub_type: r.sub_type,
                    livelihood: r.livelihood,
                    status,
                    status_name: status.name_zh(),
                    approved_on: r.approved_on,
                    start_date: r.start_date,
                    end_date: r.end_date,
                    budget: Fen(r.budget),
                }
            })
            .collect())
    }

    pub async fn project_count(&self) -> StoreResult<i64> {
        Ok(
            on_db!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM projects").fetch_one(p).await)?,
        )
    }

    /// The project id for a project number (项目编号), for imports.
    pub async fn project_id_by_code(&self, code: &str) -> StoreResult<Option<i64>> {
        Ok(
            on_db!(self, p => sqlx::query_scalar("SELECT id FROM projects WHERE code = $1").bind(code).fetch_optional(p).await)?,
        )
    }

    /// May this caller change the project (see `project_write_clause`)?
    pub async fn project_writable(&self, caller: &Caller, id: i64) -> StoreResult<bool> {
        if !caller.can_write_projects() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT p.id FROM projects p WHERE p.id = $1{}",
            project_write_clause(&caller.scope)
        );
        let found: Option<i64> = on_db!(self, p => sqlx::query_scalar(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?;
        Ok(found.is_some())
    }

    /// Refuses a change to a project the caller sees but may not change (404 when it does not
    /// see it, as for reading).
    async fn require_writable_project(&self, caller: &Caller, id: i64) -> StoreResult<Project> {
        let project = self.require_project(caller, id).await?;
        if !self.project_writable(caller, id).await? {
            return Err(StoreError::Forbidden(
                "此项目有地点不在您的管辖范围内，您不能修改".into(),
            ));
        }
        Ok(project)
    }
}

impl Db {
    /// The projects an organisation takes part in, with its roles in each.
    pub async fn projects_of_organisation(
        &self,
        caller: &Caller,
        organisation_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<(ProjectSummary, Vec<OrgRole>)>> {
        let filter = ProjectFilter {
            organisation_id: Some(organisation_id),
            ..Default::default()
        };
        let projects = self.list_projects(caller, &filter, None, limit).await?;
        let roles: Vec<(i64, String)> = on_db!(self, p => sqlx::query_as(
            "SELECT project_id, role FROM project_organisations WHERE organisation_id = $1").bind(organisation_id).fetch_all(p).await)?;
        let mut by: HashMap<i64, Vec<OrgRole>> = HashMap::new();
        for (pid, role) in roles {
            if let Some(r) = OrgRole::parse(&role) {
                by.entry(pid).or_default().push(r);
            }
        }
        Ok(projects
            .into_iter()
            .map(|p| {
                let mut r = by.remove(&p.id).unwrap_or_default();
                r.sort();
                (p, r)
            })
            .collect())
    }
}

/// A project row of an import, checked and ready to write.
pub(crate) struct CheckedProject {
    pub existing: Option<i64>,
    valid: ValidProject,
}

impl Db {
    /// Checks an imported row like the API would (for an existing project: its fields, not its
    /// status, which moves only through the workflow). Refusals come back as field errors.
    pub(crate) async fn check_project_row(
        &self,
        caller: &Caller,
        input: &ProjectInput,
        existing: Option<i64>,
    ) -> StoreResult<Result<CheckedProject, Vec<domain::validation::FieldError>>> {
        let mut input = input.clone();
        if existing.is_some() {
            input.status = None;
            input.status_date = None;
        }
        match self.check_project(caller, &input, existing).await {
            Ok(valid) => Ok(Ok(CheckedProject { existing, valid })),
            Err(StoreError::Invalid { details, .. }) => Ok(Err(details)),
            Err(e) => Err(e),
        }
    }

    /// Writes checked import rows in one transaction: new projects whole; existing ones get
    /// their fields, locations and organisations replaced (results, beneficiaries, indicators
    /// and loans are kept: the file has no columns for them). Returns (added, updated).
    pub(crate) async fn write_imported_projects(
        &self,
        caller: &Caller,
        rows: &[CheckedProject],
        detail: String,
    ) -> StoreResult<(u64, u64)> {
        let (mut added, mut updated) = (0u64, 0u64);
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            for row in rows {
                let v = &row.valid;
                match row.existing {
                    None => {
                        let _id = insert_project!(tx, v, caller);
                        added += 1;
                    }
                    Some(id) => {
                        sqlx::query(
                            "UPDATE projects SET code = $1, name = $2, theme = $3, sub_type = $4, livelihood = $5, pairing_id = $6,
                             approved_on = $7, start_date = $8, end_date = $9, budget = $10, description = $11, updated_at = $12 WHERE id = $13")
                            .bind(&v.code).bind(&v.name).bind(v.theme.as_str()).bind(&v.sub_type).bind(v.livelihood).bind(v.pairing_id)
                            .bind(&v.approved_on).bind(&v.start_date).bind(&v.end_date).bind(v.budget).bind(&v.description)
                            .bind(&now).bind(id)
                            .execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM project_locations WHERE project_id = $1").bind(id).execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM project_organisations WHERE project_id = $1").bind(id).execute(&mut *tx).await?;
                        for (pos, (code, weight)) in v.locations.iter().enumerate() {
                            sqlx::query("INSERT INTO project_locations (project_id, region_key, weight, position) VALUES ($1, $2, $3, $4)")
                                .bind(id).bind(code.key()).bind(*weight).bind(pos as i64)
                                .execute(&mut *tx).await?;
                        }
                        for (org, role) in &v.organisations {
                            sqlx::query("INSERT INTO project_organisations (project_id, organisation_id, role) VALUES ($1, $2, $3)")
                                .bind(id).bind(*org).bind(role.as_str())
                                .execute(&mut *tx).await?;
                        }
                        updated += 1;
                    }
                }
            }
            let after = serde_json::json!({ "added": added, "updated": updated });
            audit!(&mut *tx, caller, "import", "project", None, None, None, Some(after), detail);
            crate::commit!(tx)?;
        });
        Ok((added, updated))
    }
}
