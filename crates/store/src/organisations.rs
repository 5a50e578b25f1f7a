//! Organisations: Shenzhen-side units, enterprises, foundations, banks, cooperatives, schools…
//! The 统一社会信用代码 is checked by its check character whenever one is given.

use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db};
use domain::kinds::OrgKind;
use domain::validation::Problems;
use domain::{RegionCode, credit_code};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

/// Inserts a validated organisation on any executor and evaluates to its new id.
macro_rules! insert_org {
    ($exec:expr, $v:expr) => {{
        let v: &$crate::organisations::ValidOrganisation = $v;
        let now = $crate::now_rfc3339();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organisations (name, kind, credit_code, region_key, shenzhen_side, note, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&v.name)
        .bind(v.kind.as_str())
        .bind(&v.credit_code)
        .bind(v.region_code.map(|c| c.key()))
        .bind(v.shenzhen_side)
        .bind(&v.note)
        .bind(&now)
        .fetch_one($exec)
        .await?;
        id
    }};
}
pub(crate) use insert_org;

#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub kind: OrgKind,
    pub kind_name: &'static str,
    pub credit_code: Option<String>,
    pub region_code: Option<RegionCode>,
    pub shenzhen_side: bool,
    pub note: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Input as it arrives from a form, a JSON body or a spreadsheet row: loosely typed, so that
/// every problem can be reported in Chinese rather than as a deserialisation failure.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrganisationInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    pub credit_code: Option<String>,
    pub region_code: Option<String>,
    pub shenzhen_side: Option<bool>,
    pub note: Option<String>,
}

/// Validated organisation fields, ready to write.
#[derive(Debug, Clone)]
pub struct ValidOrganisation {
    pub name: String,
    pub kind: OrgKind,
    pub credit_code: Option<String>,
    pub region_code: Option<RegionCode>,
    pub shenzhen_side: bool,
    pub note: String,
}

/// What the audit log records of an organisation's fields (no personal data in them).
pub(crate) fn valid_json(v: &ValidOrganisation) -> serde_json::Value {
    serde_json::json!({
        "name": v.name,
        "kind": v.kind.as_str(),
        "credit_code": v.credit_code,
        "region_code": v.region_code.map(|c| c.to_string()),
        "shenzhen_side": v.shenzhen_side,
        "note": v.note,
    })
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: i64,
    name: String,
    kind: String,
    credit_code: Option<String>,
    region_key: Option<i64>,
    shenzhen_side: bool,
    note: String,
    created_at: String,
    updated_at: String,
}

const ORG_COLUMNS: &str =
    "id, name, kind, credit_code, region_key, shenzhen_side, note, created_at, updated_at";

impl OrgRow {
    fn into_org(self) -> Organisation {
        let kind = OrgKind::parse(&self.kind).unwrap_or(OrgKind::SocialOrg);
        Organisation {
            id: self.id,
            name: self.name,
            kind,
            kind_name: kind.name_zh(),
            credit_code: self.credit_code,
            region_code: self.region_key.and_then(RegionCode::from_key),
            shenzhen_side: self.shenzhen_side,
            note: self.note,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OrganisationFilter {
    pub kind: Option<OrgKind>,
    pub name_contains: Option<String>,
    pub shenzhen_side: Option<bool>,
}

impl OrganisationInput {
    /// Checks the fields that need no database; `prefix` names the fields inside a larger body.
    pub fn check(&self, prefix: &str, problems: &mut Problems) -> Option<ValidOrganisation> {
        let field = |f: &str| format!("{prefix}{f}");
        let before = problems.0.len();
        let name = domain::text::normalize(&self.name);
        if name.is_empty() {
            problems.push(field("name"), "请填写机构名称");
        } else if name.chars().count() > 200 {
            problems.push(field("name"), "机构名称不能超过 200 个字");
        }
        let kind = OrgKind::parse(&self.kind);
        if kind.is_none() {
            problems.push(
                field("kind"),
                format!(
                    "机构类型“{}”无效，应为：{}",
                    self.kind,
                    OrgKind::choices_zh()
                ),
            );
        }
        let credit = match self
            .credit_code
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(c) => match credit_code::validate(c) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(field("credit_code"), e.to_string());
                    None
                }
            },
        };
        let region = match self
            .region_code
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(c) => match RegionCode::parse(c) {
                Ok(v) => Some(v),
                Err(e) => {
                    problems.push(field("region_code"), e.to_string());
                    None
                }
            },
        };
        if problems.0.len() > before {
            return None;
        }
        Some(ValidOrganisation {
            name,
            kind: kind?,
            credit_code: credit,
            region_code: region,
            shenzhen_side: self.shenzhen_side.unwrap_or(false),
            note: self.note.clone().unwrap_or_default(),
        })
    }
}

impl Db {
    /// Validates against the database too (region exists, credit code not taken).
    pub(crate) async fn check_organisation(
        &self,
        input: &OrganisationInput,
        prefix: &str,
        except_id: Option<i64>,
        problems: &mut Problems,
    ) -> StoreResult<Option<ValidOrganisation>> {
        let Some(valid) = input.check(prefix, problems) else {
            return Ok(None);
        };
        let mut ok = true;
        if let Some(code) = valid.region_code
            && self.get_region(code).await?.is_none()
        {
            problems.push(
                format!("{prefix}region_code"),
                format!("区划代码 {code} 不存在"),
            );
            ok = false;
        }
        if let Some(cc) = &valid.credit_code
            && let Some(other) = self.organisation_by_credit_code(cc).await?
            && Some(other.id) != except_id
        {
            problems.push(
                format!("{prefix}credit_code"),
                format!(
                    "统一社会信用代码 {cc} 已被机构“{}”（编号 {}）使用",
                    other.name, other.id
                ),
            );
            ok = false;
        }
        Ok(ok.then_some(valid))
    }

    /// Registers an organisation (city office only), with its audit entry, in one transaction.
    pub async fn create_organisation(
        &self,
        caller: &domain::Caller,
        input: &OrganisationInput,
    ) -> StoreResult<Organisation> {
        if !caller.can_edit_organisation(None) {
            return Err(StoreError::Forbidden("只有市级管理员可以登记机构".into()));
        }
        let mut problems = Problems::default();
        let valid = self
            .check_organisation(input, "", None, &mut problems)
            .await?;
        problems.into_result().map_err(StoreError::invalid)?;
        let valid = valid.expect("no problems means a valid organisation");
        let id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id = insert_org!(&mut *tx, &valid);
            crate::audit!(&mut *tx, caller, "create", "organisation", Some(id.to_string()), None, None,
                          Some(valid_json(&valid)), String::new());
            crate::commit!(tx)?;
            id
        });
        self.require_organisation(id).await
    }

    /// Changes an organisation (the city office, or the organisation's own user).
    pub async fn update_organisation(
        &self,
        caller: &domain::Caller,
        id: i64,
        input: &OrganisationInput,
    ) -> StoreResult<Organisation> {
        let before = self.require_organisation(id).await?;
        if !caller.can_edit_organisation(Some(id)) {
            return Err(StoreError::Forbidden(format!(
                "您无权修改机构“{}”",
                before.name
            )));
        }
        let mut problems = Problems::default();
        let valid = self
            .check_organisation(input, "", Some(id), &mut problems)
            .await?;
        problems.into_result().map_err(StoreError::invalid)?;
        let v = valid.expect("no problems means a valid organisation");
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE organisations SET name = $1, kind = $2, credit_code = $3, region_key = $4, shenzhen_side = $5,
                 note = $6, updated_at = $7 WHERE id = $8")
                .bind(&v.name).bind(v.kind.as_str()).bind(&v.credit_code).bind(v.region_code.map(|c| c.key()))
                .bind(v.shenzhen_side).bind(&v.note).bind(now_rfc3339()).bind(id)
                .execute(&mut *tx).await?;
            crate::audit!(&mut *tx, caller, "update", "organisation", Some(id.to_string()), None,
                          serde_json::to_value(&before).ok(), Some(valid_json(&v)), String::new());
            crate::commit!(tx)?;
        });
        self.require_organisation(id).await
    }

    pub async fn get_organisation(&self, id: i64) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1");
        let row: Option<OrgRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(p).await)?;
        Ok(row.map(OrgRow::into_org))
    }

    pub async fn require_organisation(&self, id: i64) -> StoreResult<Organisation> {
        self.get_organisation(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("机构 {id} 不存在")))
    }

    pub async fn organisation_by_credit_code(
        &self,
        code: &str,
    ) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE credit_code = $1");
        let row: Option<OrgRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(code).fetch_optional(p).await)?;
        Ok(row.map(OrgRow::into_org))
    }

    pub async fn list_organisations(
        &self,
        filter: &OrganisationFilter,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Organisation>> {
        let pattern = filter
            .name_contains
            .as_ref()
            .map(|q| format!("%{}%", crate::regions::escape_like(q)));
        let sql = format!(
            "SELECT {ORG_COLUMNS} FROM organisations WHERE ($1 IS NULL OR kind = $1)
             AND ($2 IS NULL OR name LIKE $2 ESCAPE '\\') AND ($3 IS NULL OR shenzhen_side = $3)
             AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows: Vec<OrgRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(filter.kind.map(|k| k.as_str()))
            .bind(pattern)
            .bind(filter.shenzhen_side)
            .bind(after.unwrap_or(0))
            .bind(limit)
            .fetch_all(p).await)?;
        Ok(rows.into_iter().map(OrgRow::into_org).collect())
    }
}
