//! Products and their certification: each step of the procedure is checked by
//! `domain::consumption::Certificate::apply`, written with the user and date into the
//! append-only `certificate_steps`, and audited, in one transaction.

use super::{parse_date, require_county_keeper, stored_date, stored_opt_date};
use crate::audit::audit_in;
use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db, today};
use domain::Caller;
use domain::consumption::{CertState, CertStep, Certificate};
use domain::date::Date;
use domain::money::Fen;
use domain::validation::Problems;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub supplier_id: i64,
    pub name: String,
    pub category: String,
    pub specification: String,
    pub unit: String,
    pub unit_price: Fen,
    pub annual_supply_value: Fen,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub category: String,
    pub specification: Option<String>,
    #[serde(default)]
    pub unit: String,
    /// Fen.
    pub unit_price: i64,
    /// Fen.
    pub annual_supply_value: i64,
}

const PRODUCT_COLUMNS: &str =
    "id, supplier_id, name, category, specification, unit, unit_price, annual_supply_value";
const PRODUCT_TYS: [Ty; 8] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
];

fn product_from(r: &[Val]) -> Product {
    Product {
        id: r[0].i64().unwrap_or_default(),
        supplier_id: r[1].i64().unwrap_or_default(),
        name: r[2].string(),
        category: r[3].string(),
        specification: r[4].string(),
        unit: r[5].string(),
        unit_price: Fen(r[6].i64().unwrap_or_default()),
        annual_supply_value: Fen(r[7].i64().unwrap_or_default()),
    }
}

pub(crate) async fn product_in<T: Tx>(tx: &mut T, id: i64) -> StoreResult<Option<Product>> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
    let rows = tx.rows(&sql, &[id.into()], &PRODUCT_TYS).await?;
    Ok(rows.first().map(|r| product_from(r)))
}

/// A certificate with its id, product and state.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCertificate {
    pub id: i64,
    pub product_id: i64,
    pub state_name: String,
    #[serde(flatten)]
    pub certificate: Certificate,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateStepRecord {
    pub step: String,
    pub on: String,
    pub state_after: String,
    pub detail: serde_json::Value,
    pub by: String,
    pub recorded_at: String,
}

const CERT_COLUMNS: &str = "id, product_id, state, applied_on, last_step_on, number, batch, valid_from, valid_to, publicity_ends, listed_on, revoked_on, revoke_reason";
const CERT_TYS: [Ty; 13] = [
    Ty::I64,
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
    Ty::Str,
];

fn cert_from(r: &[Val]) -> StoreResult<StoredCertificate> {
    let state = CertState::parse(r[2].str().unwrap_or_default())
        .ok_or_else(|| StoreError::internal("stored certificate state is unknown"))?;
    Ok(StoredCertificate {
        id: r[0].i64().unwrap_or_default(),
        product_id: r[1].i64().unwrap_or_default(),
        state_name: state.name_zh().to_string(),
        certificate: Certificate {
            state,
            applied_on: stored_date(&r[3])?,
            last_step_on: stored_date(&r[4])?,
            number: r[5].str().map(str::to_string),
            batch: r[6].str().map(str::to_string),
            valid_from: stored_opt_date(&r[7])?,
            valid_to: stored_opt_date(&r[8])?,
            publicity_ends: stored_opt_date(&r[9])?,
            listed_on: stored_opt_date(&r[10])?,
            revoked_on: stored_opt_date(&r[11])?,
            revoke_reason: r[12].str().map(str::to_string),
        },
    })
}

/// A product's certificates in the order they were applied for.
pub(crate) async fn certificates_of_product_in<T: Tx>(
    tx: &mut T,
    product_id: i64,
) -> StoreResult<Vec<StoredCertificate>> {
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE product_id = $1 ORDER BY id");
    let rows = tx.rows(&sql, &[product_id.into()], &CERT_TYS).await?;
    rows.iter().map(|r| cert_from(r)).collect()
}

async fn certificate_in<T: Tx>(tx: &mut T, id: i64) -> StoreResult<StoredCertificate> {
    let sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = $1");
    let rows = tx.rows(&sql, &[id.into()], &CERT_TYS).await?;
    match rows.first() {
        Some(r) => cert_from(r),
        None => Err(StoreError::NotFound(format!("认定证书 {id} 不存在"))),
    }
}

fn opt(d: Option<Date>) -> Val {
    d.map(|d| d.to_string()).into()
}

/// A step as it arrives: the step's key and its fields (see `domain::consumption::CertStep`).
/// The 公示's days are not given: they come from the rules in force.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertificateStepInput {
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub on: String,
    pub passed: Option<bool>,
    pub opinion: Option<String>,
    pub number: Option<String>,
    pub batch: Option<String>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub reason: Option<String>,
}

impl CertificateStepInput {
    fn to_step(&self, publicity_days: u32, problems: &mut Problems) -> Option<CertStep> {
        let opinion = self.opinion.clone().unwrap_or_default();
        let passed = || self.passed.unwrap_or(true);
        Some(match self.step.trim() {
            "town_review" => CertStep::TownReview {
                passed: passed(),
                opinion,
            },
            "sector_review" => CertStep::SectorReview {
                passed: passed(),
                opinion,
            },
            "county_decision" => {
                let from =
                    super::parse_opt_date("valid_from", self.valid_from.as_deref(), problems)?;
                let to = super::parse_opt_date("valid_to", self.valid_to.as_deref(), problems)?;
                let (from, to) = if passed() {
                    match (from, to) {
                        (Some(f), Some(t)) => (f, t),
                        _ => {
                            problems.push(
                                "valid_to",
                                "县级审定通过时须填写有效期（valid_from、valid_to）",
                            );
                            return None;
                        }
                    }
                } else {
                    let d = Date::new(2000, 1, 1).expect("a date");
                    (from.unwrap_or(d), to.unwrap_or(d))
                };
                CertStep::CountyDecision {
                    passed: passed(),
                    opinion,
                    number: self.number.clone().unwrap_or_default(),
                    batch: self.batch.clone().unwrap_or_default(),
                    valid_from: from,
                    valid_to: to,
                }
            }
            "publicity" => CertStep::Publicity {
                days: publicity_days,
            },
            "list" => CertStep::List,
            "yearly_review" => CertStep::YearlyReview {
                passed: passed(),
                opinion,
                valid_to: super::parse_opt_date("valid_to", self.valid_to.as_deref(), problems)?,
            },
            "revoke" => CertStep::Revoke {
                reason: self.reason.clone().unwrap_or_default(),
            },
            other => {
                problems.push(
                    "step",
                    format!(
                        "认定步骤“{other}”无效，应为：town_review（镇级初审）、sector_review（行业复审）、county_decision（县级审定）、publicity（公示）、list（列入目录）、yearly_review（年度复核）、revoke（撤销）"
                    ),
                );
                return None;
            }
        })
    }
}

impl Db {
    /// Registers a product of a supplier (the supplier's county or the city office).
    pub async fn create_product(
        &self,
        caller: &Caller,
        supplier_id: i64,
        input: &ProductInput,
    ) -> StoreResult<Product> {
        let supplier = self.get_supplier(caller, supplier_id).await?;
        require_county_keeper(caller, supplier.county_code)?;
        let mut problems = Problems::default();
        let name = domain::text::normalize(&input.name);
        if name.is_empty() {
            problems.push("name", "请填写产品名称");
        }
        let category = domain::text::normalize(&input.category);
        if category.is_empty() {
            problems.push("category", "请填写产品类别");
        }
        let unit = domain::text::normalize(&input.unit);
        if unit.is_empty() {
            problems.push("unit", "请填写计量单位（如 箱、千克）");
        }
        if input.unit_price <= 0 {
            problems.push("unit_price", "单价须大于 0（单位：分）");
        }
        if input.annual_supply_value < 0 {
            problems.push("annual_supply_value", "年供应量价值不能为负数");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let spec = domain::text::normalize(input.specification.as_deref().unwrap_or(""));
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let ids = tx.rows(
                "INSERT INTO products (supplier_id, name, category, specification, unit, unit_price, annual_supply_value, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                &[supplier_id.into(), name.into(), category.into(), spec.into(), unit.into(), input.unit_price.into(),
                  input.annual_supply_value.into(), caller.username.clone().into(), now.into()],
                &[Ty::I64]).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            let product = product_in(&mut tx, id).await?.expect("just inserted");
            audit_in(&mut tx, caller, "create", "product", Some(id.to_string()), serde_json::to_value(&product).ok(), String::new()).await?;
            crate::commit!(tx)?;
            Ok(product)
        })
    }

    pub async fn get_product(&self, id: i64) -> StoreResult<Product> {
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let r = product_in(&mut tx, id).await?;
            crate::commit!(tx)?;
            r.ok_or_else(|| StoreError::NotFound(format!("产品 {id} 不存在")))
        })
    }

    /// The supplier's application for a product's certification (主体申请), recorded by the
    /// county on `on`.
    pub async fn apply_for_certificate(
        &self,
        caller: &Caller,
        product_id: i64,
        on: &str,
    ) -> StoreResult<StoredCertificate> {
        let product = self.get_product(product_id).await?;
        let supplier = self.get_supplier(caller, product.supplier_id).await?;
        require_county_keeper(caller, supplier.county_code)?;
        let mut problems = Problems::default();
        let on = parse_date("on", on, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let on = on.expect("parsed");
        if on > today() {
            return Err(StoreError::invalid_field(
                "on",
                format!("申请日期 {on} 晚于今天（{}）", today()),
            ));
        }
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let ids = tx.rows(
                "INSERT INTO certificates (product_id, state, applied_on, last_step_on, created_at, updated_at) VALUES ($1, $2, $3, $3, $4, $4) RETURNING id",
                &[product_id.into(), CertState::Applied.as_str().into(), on.to_string().into(), now.clone().into()],
                &[Ty::I64]).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            tx.exec("INSERT INTO certificate_steps (certificate_id, step, on_date, state_after, detail_json, by_user, recorded_at) VALUES ($1, 'apply', $2, $3, '{}', $4, $5)",
                &[id.into(), on.to_string().into(), CertState::Applied.as_str().into(), caller.username.clone().into(), now.into()]).await?;
            audit_in(&mut tx, caller, "apply", "certificate", Some(id.to_string()),
                Some(serde_json::json!({"product_id": product_id, "on": on})), String::new()).await?;
            let c = certificate_in(&mut tx, id).await?;
            crate::commit!(tx)?;
            Ok(c)
        })
    }

    /// Takes one step of a certificate's procedure (see `CertificateStepInput`).
    pub async fn certificate_step(
        &self,
        caller: &Caller,
        certificate_id: i64,
        input: &CertificateStepInput,
    ) -> StoreResult<StoredCertificate> {
        let supplier_id = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let c = certificate_in(&mut tx, certificate_id).await?;
            let product = product_in(&mut tx, c.product_id).await?.expect("a certificate's product exists");
            crate::commit!(tx)?;
            product.supplier_id
        });
        let supplier = self.get_supplier(caller, supplier_id).await?;
        require_county_keeper(caller, supplier.county_code)?;
        let mut problems = Problems::default();
        let on = parse_date("on", &input.on, &mut problems);
        let rules = self.current_consumption_rules().await?;
        let step = input.to_step(rules.rules.publicity_days, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let (on, step) = (on.expect("parsed"), step.expect("parsed"));
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            // Read under the write lock, so two steps at once cannot both apply to one state.
            let before = certificate_in(&mut tx, certificate_id).await?;
            let after = before.certificate.apply(&step, on, today())
                .map_err(|m| StoreError::invalid_field("step", format!("{}：{m}", before.certificate.label(certificate_id))))?;
            if let Some(number) = &after.number
                && before.certificate.number.is_none()
            {
                let taken = tx.rows("SELECT id FROM certificates WHERE number = $1", &[number.clone().into()], &[Ty::I64]).await?;
                if !taken.is_empty() {
                    return Err(StoreError::invalid_field("number", format!("证书编号 {number} 已被使用")));
                }
            }
            let c = &after;
            let n = tx.exec(
                "UPDATE certificates SET state = $1, last_step_on = $2, number = $3, batch = $4, valid_from = $5, valid_to = $6,
                 publicity_ends = $7, listed_on = $8, revoked_on = $9, revoke_reason = $10, updated_at = $11
                 WHERE id = $12 AND state = $13 AND last_step_on = $14",
                &[c.state.as_str().into(), c.last_step_on.to_string().into(), c.number.clone().into(), c.batch.clone().into(),
                  opt(c.valid_from), opt(c.valid_to), opt(c.publicity_ends), opt(c.listed_on), opt(c.revoked_on),
                  c.revoke_reason.clone().into(), now.clone().into(), certificate_id.into(),
                  before.certificate.state.as_str().into(), before.certificate.last_step_on.to_string().into()]).await?;
            if n != 1 {
                return Err(StoreError::Conflict(format!("{} 刚被他人更改，请刷新后重试", before.certificate.label(certificate_id))));
            }
            let detail = serde_json::to_value(&step).unwrap_or_default();
            tx.exec("INSERT INTO certificate_steps (certificate_id, step, on_date, state_after, detail_json, by_user, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[certificate_id.into(), step.key().into(), on.to_string().into(), c.state.as_str().into(), detail.to_string().into(),
                  caller.username.clone().into(), now.into()]).await?;
            audit_in(&mut tx, caller, step.key(), "certificate", Some(certificate_id.to_string()),
                Some(serde_json::json!({"step": detail, "on": on, "state": c.state.as_str()})), String::new()).await?;
            let out = certificate_in(&mut tx, certificate_id).await?;
            crate::commit!(tx)?;
            Ok(out)
        })
    }

    pub async fn get_certificate(&self, id: i64) -> StoreResult<StoredCertificate> {
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let c = certificate_in(&mut tx, id).await?;
            crate::commit!(tx)?;
            Ok(c)
        })
    }

    /// The steps of a certificate, oldest first.
    pub async fn certificate_history(&self, id: i64) -> StoreResult<Vec<CertificateStepRecord>> {
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows("SELECT step, on_date, state_after, detail_json, by_user, recorded_at FROM certificate_steps WHERE certificate_id = $1 ORDER BY id",
                &[id.into()], &[Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Str]).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows
            .iter()
            .map(|r| CertificateStepRecord {
                step: r[0].string(),
                on: r[1].string(),
                state_after: r[2].string(),
                detail: serde_json::from_str(r[3].str().unwrap_or("{}")).unwrap_or_default(),
                by: r[4].string(),
                recorded_at: r[5].string(),
            })
            .collect())
    }
}
