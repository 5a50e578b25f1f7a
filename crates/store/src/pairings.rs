//! Pairings (对口关系): a Shenzhen-side organisation and a recipient county, town or village,
//! with a type, a period and yearly agreement targets (帮扶协议目标).

use crate::organisations::{OrganisationInput, insert_org};
use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db};
use domain::kinds::PairingType;
use domain::validation::Problems;
use domain::{RegionCode, RegionLevel, Scope, credit_code};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

#[derive(Debug, Clone, Serialize)]
pub struct Pairing {
    pub id: i64,
    pub organisation_id: i64,
    pub organisation_name: String,
    pub region_code: RegionCode,
    pub region_name: String,
    pub pairing_type: PairingType,
    pub pairing_type_name: &'static str,
    pub start_year: i64,
    pub end_year: Option<i64>,
    pub note: String,
    pub targets: Vec<Target>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow, PartialEq)]
pub struct Target {
    pub indicator: String,
    pub unit: String,
    pub year: i64,
    pub target: f64,
}

/// A pairing as submitted. The organisation is named by id, by credit code, or given whole
/// (created in the same transaction).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PairingInput {
    pub organisation_id: Option<i64>,
    pub organisation_credit_code: Option<String>,
    pub organisation: Option<OrganisationInput>,
    #[serde(default)]
    pub region_code: String,
    #[serde(default)]
    pub pairing_type: String,
    pub start_year: Option<i64>,
    pub end_year: Option<i64>,
    pub note: Option<String>,
    #[serde(default)]
    pub targets: Vec<TargetInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TargetInput {
    #[serde(default)]
    pub indicator: String,
    #[serde(default)]
    pub unit: String,
    pub year: Option<i64>,
    pub target: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct PairingFilter {
    pub region: Option<RegionCode>,
    pub organisation_id: Option<i64>,
    pub pairing_type: Option<PairingType>,
    pub active_in: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PairingRow {
    id: i64,
    organisation_id: i64,
    organisation_name: String,
    region_key: i64,
    region_name: String,
    pairing_type: String,
    start_year: i64,
    end_year: Option<i64>,
    note: String,
    created_at: String,
    updated_at: String,
}

const PAIRING_SELECT: &str = "SELECT p.id, p.organisation_id, o.name AS organisation_name, p.region_key,
    r.name AS region_name, p.pairing_type, p.start_year, p.end_year, p.note, p.created_at, p.updated_at
    FROM pairings p JOIN organisations o ON o.id = p.organisation_id JOIN regions r ON r.key = p.region_key";

const FIRST_YEAR: i64 = 1949;
const LAST_YEAR: i64 = 2100;

/// How the submitted organisation resolves.
enum OrgRef {
    Existing(i64),
    New(crate::organisations::ValidOrganisation),
}

struct ValidPairing {
    org: OrgRef,
    region: RegionCode,
    pairing_type: PairingType,
    start_year: i64,
    end_year: Option<i64>,
    note: String,
    targets: Vec<Target>,
}

impl Db {
    async fn check_pairing(
        &self,
        scope: &Scope,
        input: &PairingInput,
    ) -> StoreResult<ValidPairing> {
        let mut problems = Problems::default();
        let org = self.resolve_pairing_org(input, &mut problems).await?;

        let region = match RegionCode::parse(&input.region_code) {
            Err(e) => {
                problems.push("region_code", e.to_string());
                None
            }
            Ok(code) if code.level() < RegionLevel::County => {
                problems.push(
                    "region_code",
                    format!(
                        "受援方应为县、乡镇或村，{code} 是{}单位",
                        code.level().name_zh()
                    ),
                );
                None
            }
            Ok(code) => match self.get_region(code).await? {
                None => {
                    problems.push("region_code", format!("区划代码 {code} 不存在"));
                    None
                }
                Some(r) if r.retired_year.is_some() => {
                    problems.push(
                        "region_code",
                        format!(
                            "{}（{code}）已于 {} 年撤销",
                            r.name,
                            r.retired_year.unwrap_or_default()
                        ),
                    );
                    None
                }
                Some(_) if !scope.allows_region(code) => {
                    problems.push("region_code", format!("区划 {code} 不在您的管辖范围内"));
                    None
                }
                Some(_) => Some(code),
            },
        };
        let pairing_type = PairingType::parse(&input.pairing_type);
        if pairing_type.is_none() {
            problems.push(
                "pairing_type",
                format!(
                    "对口关系类型“{}”无效，应为：{}",
                    input.pairing_type,
                    PairingType::choices_zh()
                ),
            );
        }
        let start_year = input
            .start_year
            .filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y));
        if start_year.is_none() {
            problems.push(
                "start_year",
                format!("请填写开始年份（{FIRST_YEAR}–{LAST_YEAR}）"),
            );
        }
        if let Some(end) = input.end_year {
            if !(FIRST_YEAR..=LAST_YEAR).contains(&end) {
                problems.push(
                    "end_year",
                    format!("结束年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间"),
                );
            } else if start_year.is_some_and(|s| end < s) {
                problems.push("end_year", "结束年份不能早于开始年份");
            }
        }
        let mut targets: Vec<Target> = Vec::new();
        for (i, t) in input.targets.iter().enumerate() {
            let f = |name: &str| format!("targets[{i}].{name}");
            let indicator = domain::text::normalize(&t.indicator);
            let unit = domain::text::normalize(&t.unit);
            if indicator.is_empty() {
                problems.push(f("indicator"), "请填写指标名称");
            }
            if unit.is_empty() {
                problems.push(f("unit"), "请填写计量单位");
            }
            match (t.year, start_year) {
                (None, _) => problems.push(f("year"), "请填写目标年份"),
                (Some(y), Some(s)) if y < s || input.end_year.is_some_and(|e| y > e) => {
                    problems.push(f("year"), format!("目标年份 {y} 不在对口关系期限内"))
                }
                _ => {}
            }
            match t.target {
                Some(v) if v.is_finite() && v >= 0.0 => {}
                _ => problems.push(f("target"), "目标值应为不小于 0 的数"),
            }
            if let (Some(year), Some(target)) = (t.year, t.target) {
                if targets
                    .iter()
                    .any(|o| o.indicator == indicator && o.year == year)
                {
                    problems.push(f("indicator"), format!("指标“{indicator}”在 {year} 年重复"));
                }
                targets.push(Target {
                    indicator,
                    unit,
                    year,
                    target,
                });
            }
        }
        problems.into_result().map_err(StoreError::invalid)?;
        Ok(ValidPairing {
            org: org.expect("checked"),
            region: region.expect("checked"),
            pairing_type: pairing_type.expect("checked"),
            start_year: start_year.expect("checked"),
            end_year: input.end_year,
            note: input.note.clone().unwrap_or_default(),
            targets,
        })
    }

    async fn resolve_pairing_org(
        &self,
        input: &PairingInput,
        problems: &mut Problems,
    ) -> StoreResult<Option<OrgRef>> {
        let given = [
            input.organisation_id.is_some(),
            input.organisation_credit_code.is_some(),
            input.organisation.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            problems.push(
                "organisation_id",
                "请指定帮扶方机构：organisation_id、organisation_credit_code 或 organisation 三者填一项",
            );
            return Ok(None);
        }
        if let Some(id) = input.organisation_id {
            return Ok(match self.get_organisation(id).await? {
                Some(_) => Some(OrgRef::Existing(id)),
                None => {
                    problems.push("organisation_id", format!("机构 {id} 不存在"));
                    None
                }
            });
        }
        if let Some(code) = &input.organisation_credit_code {
            return Ok(match credit_code::validate(code) {
                Err(e) => {
                    problems.push("organisation_credit_code", e.to_string());
                    None
                }
                Ok(code) => match self.organisation_by_credit_code(&code).await? {
                    Some(o) => Some(OrgRef::Existing(o.id)),
                    None => {
                        problems.push(
                            "organisation_credit_code",
                            format!("没有统一社会信用代码为 {code} 的机构"),
                        );
                        None
                    }
                },
            });
        }
        let org = input.organisation.as_ref().expect("counted above");
        Ok(self
            .check_organisation(org, "organisation.", None, problems)
            .await?
            .map(OrgRef::New))
    }

    /// Creates a pairing (and its organisation, when given whole) in one transaction. Pairings
    /// decide the scope of district offices, so only the city office registers them.
    pub async fn create_pairing(
        &self,
        caller: &domain::Caller,
        input: &PairingInput,
    ) -> StoreResult<Pairing> {
        require_pairing_admin(caller)?;
        let scope = &caller.scope;
        let v = self.check_pairing(scope, input).await?;
        let now = now_rfc3339();
        let id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let org_id = match &v.org {
                OrgRef::Existing(id) => *id,
                OrgRef::New(org) => {
                    let id = insert_org!(&mut *tx, org);
                    crate::audit!(&mut *tx, caller, "create", "organisation", Some(id.to_string()), None, None,
                                  Some(crate::organisations::valid_json(org)), "随对口关系一并登记".to_string());
                    id
                }
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO pairings (organisation_id, region_key, pairing_type, start_year, end_year, note, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id")
                .bind(org_id).bind(v.region.key()).bind(v.pairing_type.as_str()).bind(v.start_year)
                .bind(v.end_year).bind(&v.note).bind(&now)
                .fetch_one(&mut *tx).await?;
            for t in &v.targets {
                sqlx::query("INSERT INTO pairing_targets (pairing_id, indicator, unit, year, target) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id).bind(&t.indicator).bind(&t.unit).bind(t.year).bind(t.target)
                    .execute(&mut *tx).await?;
            }
            crate::audit!(&mut *tx, caller, "create", "pairing", Some(id.to_string()), None, None,
                          Some(valid_pairing_json(org_id, &v)), String::new());
            crate::commit!(tx)?;
            id
        });
        self.require_pairing(scope, id).await
    }

    /// Replaces a pairing's fields and targets.
    pub async fn update_pairing(
        &self,
        caller: &domain::Caller,
        id: i64,
        input: &PairingInput,
    ) -> StoreResult<Pairing> {
        let scope = &caller.scope;
        let before = self.require_pairing(scope, id).await?;
        require_pairing_admin(caller)?;
        let v = self.check_pairing(scope, input).await?;
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let org_id = match &v.org {
                OrgRef::Existing(id) => *id,
                OrgRef::New(org) => {
                    let id = insert_org!(&mut *tx, org);
                    crate::audit!(&mut *tx, caller, "create", "organisation", Some(id.to_string()), None, None,
                                  Some(crate::organisations::valid_json(org)), "随对口关系一并登记".to_string());
                    id
                }
            };
            sqlx::query(
                "UPDATE pairings SET organisation_id = $1, region_key = $2, pairing_type = $3, start_year = $4,
                 end_year = $5, note = $6, updated_at = $7 WHERE id = $8")
                .bind(org_id).bind(v.region.key()).bind(v.pairing_type.as_str()).bind(v.start_year)
                .bind(v.end_year).bind(&v.note).bind(&now).bind(id)
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM pairing_targets WHERE pairing_id = $1").bind(id).execute(&mut *tx).await?;
            for t in &v.targets {
                sqlx::query("INSERT INTO pairing_targets (pairing_id, indicator, unit, year, target) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id).bind(&t.indicator).bind(&t.unit).bind(t.year).bind(t.target)
                    .execute(&mut *tx).await?;
            }
            crate::audit!(&mut *tx, caller, "update", "pairing", Some(id.to_string()), None,
                          serde_json::to_value(&before).ok(), Some(valid_pairing_json(org_id, &v)), String::new());
            crate::commit!(tx)?;
        });
        self.require_pairing(scope, id).await
    }

    pub async fn get_pairing(&self, scope: &Scope, id: i64) -> StoreResult<Option<Pairing>> {
        let sql = format!("{PAIRING_SELECT} WHERE p.id = $1");
        let row: Option<PairingRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(p).await)?;
        let Some(row) = row.filter(|r| pairing_in_scope(scope, r)) else {
            return Ok(None);
        };
        let targets: Vec<Target> = on_db!(self, p => sqlx::query_as(
            "SELECT indicator, unit, year, target FROM pairing_targets WHERE pairing_id = $1 ORDER BY year, id")
            .bind(id).fetch_all(p).await)?;
        Ok(Some(row.into_pairing(targets)))
    }

    pub async fn require_pairing(&self, scope: &Scope, id: i64) -> StoreResult<Pairing> {
        self.get_pairing(scope, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("对口关系 {id} 不存在")))
    }

    /// Lists pairings in id order (keyset), without targets; filters combine with AND.
    pub async fn list_pairings(
        &self,
        scope: &Scope,
        filter: &PairingFilter,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Pairing>> {
        let (lo, hi) = filter
            .region
            .map(|r| r.subtree_key_range())
            .unwrap_or((0, i64::MAX));
        let mut sql = format!(
            "{PAIRING_SELECT} WHERE p.region_key >= $1 AND p.region_key < $2 AND ($3 IS NULL OR p.organisation_id = $3)
             AND ($4 IS NULL OR p.pairing_type = $4)
             AND ($5 IS NULL OR (p.start_year <= $5 AND (p.end_year IS NULL OR p.end_year >= $5))) AND p.id > $6"
        );
        sql += &scope_clause(scope);
        sql += " ORDER BY p.id LIMIT $7";
        let rows: Vec<PairingRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(lo).bind(hi).bind(filter.organisation_id).bind(filter.pairing_type.map(|t| t.as_str()))
            .bind(filter.active_in).bind(after.unwrap_or(0)).bind(limit)
            .fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_pairing(Vec::new()))
            .collect())
    }

    pub async fn pairing_count(&self) -> StoreResult<i64> {
        Ok(
            on_db!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM pairings").fetch_one(p).await)?,
        )
    }
}

fn require_pairing_admin(caller: &domain::Caller) -> StoreResult<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(StoreError::Forbidden(
            "只有市级管理员可以登记或修改对口关系".into(),
        ))
    }
}

/// What the audit log records of a pairing as written.
fn valid_pairing_json(organisation_id: i64, v: &ValidPairing) -> serde_json::Value {
    serde_json::json!({
        "organisation_id": organisation_id,
        "region_code": v.region.to_string(),
        "pairing_type": v.pairing_type.as_str(),
        "start_year": v.start_year,
        "end_year": v.end_year,
        "note": v.note,
        "targets": v.targets,
    })
}

fn pairing_in_scope(scope: &Scope, row: &PairingRow) -> bool {
    match scope {
        Scope::Organisation(id) => row.organisation_id == *id,
        _ => RegionCode::from_key(row.region_key).is_some_and(|c| scope.allows_region(c)),
    }
}

/// SQL restriction for a scope; numbers only, never user text.
fn scope_clause(scope: &Scope) -> String {
    match scope {
        Scope::Everything => String::new(),
        Scope::Organisation(id) => format!(" AND p.organisation_id = {id}"),
        Scope::Regions(_) => {
            let ranges = scope.region_ranges().unwrap_or_default();
            if ranges.is_empty() {
                return " AND 1 = 0".into();
            }
            let parts: Vec<String> = ranges
                .iter()
                .map(|(lo, hi)| format!("(p.region_key >= {lo} AND p.region_key < {hi})"))
                .collect();
            format!(" AND ({})", parts.join(" OR "))
        }
    }
}

impl PairingRow {
    fn into_pairing(self, targets: Vec<Target>) -> Pairing {
        let pairing_type = PairingType::parse(&self.pairing_type).unwrap_or(PairingType::EastWest);
        Pairing {
            id: self.id,
            organisation_id: self.organisation_id,
            organisation_name: self.organisation_name,
            region_code: RegionCode::from_key(self.region_key).expect("stored keys are valid"),
            region_name: self.region_name,
            pairing_type,
            pairing_type_name: pairing_type.name_zh(),
            start_year: self.start_year,
            end_year: self.end_year,
            note: self.note,
            targets,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}
