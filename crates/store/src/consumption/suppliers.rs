//! Suppliers (registered entities only) and their benefit links to registry households.

use super::{
    may_keep_county, parse_date, parse_opt_date, require_county_keeper, stored_date,
    stored_opt_date,
};
use crate::audit::audit_in;
use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db, today};
use domain::consumption::benefit::check_verification;
use domain::consumption::{BenefitLink, BenefitTerms, BenefitType, SupplierType, Verification};
use domain::id_number::mask_phone;
use domain::money::Fen;
use domain::validation::Problems;
use domain::{Caller, RegionCode, RegionLevel};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Supplier {
    pub id: i64,
    pub name: String,
    pub supplier_type: SupplierType,
    pub supplier_type_name: String,
    pub credit_code: String,
    pub county_code: RegionCode,
    pub contact_name: String,
    /// Masked unless the caller may change this supplier.
    pub contact_phone: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SupplierInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub supplier_type: String,
    pub credit_code: Option<String>,
    #[serde(default)]
    pub county_code: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
}

struct ValidSupplier {
    name: String,
    supplier_type: SupplierType,
    credit_code: String,
    county: RegionCode,
    contact_name: String,
    contact_phone: String,
}

impl SupplierInput {
    fn check(&self, problems: &mut Problems) -> Option<ValidSupplier> {
        let name = domain::text::normalize(&self.name);
        if name.is_empty() {
            problems.push("name", "请填写供应商名称");
        } else if name.chars().count() > 200 {
            problems.push("name", "供应商名称不能超过 200 个字");
        }
        let supplier_type = SupplierType::parse(&self.supplier_type);
        if supplier_type.is_none() {
            problems.push(
                "supplier_type",
                format!(
                    "供应商类型“{}”无效，应为：{}",
                    self.supplier_type.trim(),
                    SupplierType::choices_zh()
                ),
            );
        }
        let credit_code = supplier_type.and_then(|t| {
            domain::consumption::check_supplier_registration(self.credit_code.as_deref(), t)
                .map_err(|e| problems.push("credit_code", e.to_string()))
                .ok()
        });
        let county = match RegionCode::parse(self.county_code.trim()) {
            Ok(c) if c.level() == RegionLevel::County => Some(c),
            Ok(c) => {
                problems.push("county_code", format!("{c} 不是县级区划代码（应为 6 位）"));
                None
            }
            Err(e) => {
                problems.push("county_code", e.to_string());
                None
            }
        };
        Some(ValidSupplier {
            name,
            supplier_type: supplier_type?,
            credit_code: credit_code?,
            county: county?,
            contact_name: domain::text::normalize(self.contact_name.as_deref().unwrap_or("")),
            contact_phone: domain::text::normalize(self.contact_phone.as_deref().unwrap_or("")),
        })
    }
}

const SUPPLIER_COLUMNS: &str =
    "id, name, supplier_type, credit_code, county_key, contact_name, contact_phone, created_at";
const SUPPLIER_TYS: [Ty; 8] = [
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn supplier_from(r: &[Val], caller: &Caller) -> StoreResult<Supplier> {
    let supplier_type = SupplierType::parse(r[2].str().unwrap_or_default())
        .ok_or_else(|| StoreError::internal("stored supplier type is unknown"))?;
    let county_code = RegionCode::from_key(r[4].i64().unwrap_or_default())
        .ok_or_else(|| StoreError::internal("stored supplier county is invalid"))?;
    let phone = r[6].string();
    Ok(Supplier {
        id: r[0].i64().unwrap_or_default(),
        name: r[1].string(),
        supplier_type,
        supplier_type_name: supplier_type.name_zh().to_string(),
        credit_code: r[3].string(),
        county_code,
        contact_name: r[5].string(),
        contact_phone: if may_keep_county(caller, county_code) {
            phone
        } else {
            mask_phone(&phone)
        },
        created_at: r[7].string(),
    })
}

pub(crate) async fn supplier_in<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    id: i64,
) -> StoreResult<Supplier> {
    let sql = format!("SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE id = $1");
    let rows = tx.rows(&sql, &[id.into()], &SUPPLIER_TYS).await?;
    match rows.first() {
        Some(r) => supplier_from(r, caller),
        None => Err(StoreError::NotFound(format!("供应商 {id} 不存在"))),
    }
}

/// A benefit link as stored, with the household it names.
#[derive(Debug, Clone, Serialize)]
pub struct StoredLink {
    pub id: i64,
    pub supplier_id: i64,
    pub household_no: String,
    pub kind_name: String,
    #[serde(flatten)]
    pub link: BenefitLink,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BenefitLinkInput {
    pub household_id: i64,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub from: String,
    pub to: Option<String>,
    /// Agreed amount in fen (exactly one of `amount` and `share_bp`).
    pub amount: Option<i64>,
    pub share_bp: Option<i64>,
    #[serde(default)]
    pub evidence: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerificationInput {
    pub on: String,
    pub by: String,
}

const LINK_COLUMNS: &str = "l.id, l.supplier_id, h.household_no, l.household_id, l.kind, l.valid_from, l.valid_to, l.amount, l.share_bp, l.evidence, l.verified_on, l.verified_by";
const LINK_TYS: [Ty; 12] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
];

fn link_from(r: &[Val]) -> StoreResult<StoredLink> {
    let kind = BenefitType::parse(r[4].str().unwrap_or_default())
        .ok_or_else(|| StoreError::internal("stored benefit type is unknown"))?;
    let terms = match (r[7].i64(), r[8].i64()) {
        (Some(a), None) => BenefitTerms::Amount(Fen(a)),
        (None, Some(bp)) => BenefitTerms::Share(bp as u32),
        _ => {
            return Err(StoreError::internal(
                "stored benefit terms are inconsistent",
            ));
        }
    };
    let verification = match (stored_opt_date(&r[10])?, r[11].str()) {
        (Some(on), Some(by)) => Some(Verification {
            on,
            by: by.to_string(),
        }),
        _ => None,
    };
    Ok(StoredLink {
        id: r[0].i64().unwrap_or_default(),
        supplier_id: r[1].i64().unwrap_or_default(),
        household_no: r[2].string(),
        kind_name: kind.name_zh().to_string(),
        link: BenefitLink {
            household_id: r[3].i64().unwrap_or_default(),
            kind,
            from: stored_date(&r[5])?,
            to: stored_opt_date(&r[6])?,
            terms,
            evidence: r[9].string(),
            verification,
        },
    })
}

/// The benefit links of a supplier, in the order they were recorded.
pub(crate) async fn links_of_supplier_in<T: Tx>(
    tx: &mut T,
    supplier_id: i64,
) -> StoreResult<Vec<StoredLink>> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM benefit_links l JOIN households h ON h.id = l.household_id
         WHERE l.supplier_id = $1 ORDER BY l.id"
    );
    let rows = tx.rows(&sql, &[supplier_id.into()], &LINK_TYS).await?;
    rows.iter().map(|r| link_from(r)).collect()
}

impl Db {
    /// Registers a supplier (the city office, or a county cadre of the supplier's county).
    pub async fn create_supplier(
        &self,
        caller: &Caller,
        input: &SupplierInput,
    ) -> StoreResult<Supplier> {
        let mut problems = Problems::default();
        let valid = input.check(&mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let v = valid.expect("no problems means a valid supplier");
        require_county_keeper(caller, v.county)?;
        if self.get_region(v.county).await?.is_none() {
            return Err(StoreError::invalid_field(
                "county_code",
                format!("区划代码 {} 不存在", v.county),
            ));
        }
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let taken = tx.rows("SELECT id, name FROM suppliers WHERE credit_code = $1",
                &[v.credit_code.clone().into()], &[Ty::I64, Ty::Str]).await?;
            if let Some(t) = taken.first() {
                return Err(StoreError::invalid_field("credit_code", format!(
                    "统一社会信用代码 {} 已被供应商“{}”（编号 {}）使用", v.credit_code, t[1].string(), t[0].i64().unwrap_or_default())));
            }
            let ids = tx.rows(
                "INSERT INTO suppliers (name, supplier_type, credit_code, county_key, contact_name, contact_phone, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                &[v.name.clone().into(), v.supplier_type.as_str().into(), v.credit_code.clone().into(), v.county.key().into(),
                  v.contact_name.clone().into(), v.contact_phone.clone().into(), caller.username.clone().into(), now.clone().into()],
                &[Ty::I64]).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            // The contact phone is a person's: the audit log keeps it masked.
            let after = serde_json::json!({"name": v.name, "supplier_type": v.supplier_type.as_str(), "credit_code": v.credit_code,
                "county_code": v.county.to_string(), "contact_phone": mask_phone(&v.contact_phone)});
            audit_in(&mut tx, caller, "create", "supplier", Some(id.to_string()), Some(after), String::new()).await?;
            let s = super::suppliers::supplier_in(&mut tx, caller, id).await?;
            crate::commit!(tx)?;
            Ok(s)
        })
    }

    pub async fn get_supplier(&self, caller: &Caller, id: i64) -> StoreResult<Supplier> {
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let s = supplier_in(&mut tx, caller, id).await?;
            crate::commit!(tx)?;
            Ok(s)
        })
    }

    /// Suppliers (public information), optionally of one county's subtree, keyset by id.
    pub async fn list_suppliers(
        &self,
        caller: &Caller,
        region: Option<RegionCode>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Supplier>> {
        let (lo, hi) = region.map_or((i64::MIN, i64::MAX), |r| r.subtree_key_range());
        let sql = format!(
            "SELECT {SUPPLIER_COLUMNS} FROM suppliers WHERE county_key >= $1 AND county_key < $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[lo.into(), hi.into(), after.unwrap_or(0).into(), limit.into()], &SUPPLIER_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        rows.iter().map(|r| supplier_from(r, caller)).collect()
    }

    /// Records a benefit link of a supplier to a household of the supplier's county (whose
    /// registry the county keeps). Unverified until the county verifies it.
    pub async fn add_benefit_link(
        &self,
        caller: &Caller,
        supplier_id: i64,
        input: &BenefitLinkInput,
    ) -> StoreResult<StoredLink> {
        let supplier = self.get_supplier(caller, supplier_id).await?;
        require_county_keeper(caller, supplier.county_code)?;
        let mut problems = Problems::default();
        let kind = BenefitType::parse(&input.kind);
        if kind.is_none() {
            problems.push(
                "kind",
                format!(
                    "利益联结类型“{}”无效，应为：{}",
                    input.kind.trim(),
                    BenefitType::choices_zh()
                ),
            );
        }
        let from = parse_date("from", &input.from, &mut problems);
        let to = parse_opt_date("to", input.to.as_deref(), &mut problems);
        let terms = match (input.amount, input.share_bp) {
            (Some(a), None) => Some(BenefitTerms::Amount(Fen(a))),
            (None, Some(bp)) if (0..=i64::from(u32::MAX)).contains(&bp) => {
                Some(BenefitTerms::Share(bp as u32))
            }
            (None, Some(bp)) => {
                problems.push("share_bp", format!("分成比例 {bp} 无效"));
                None
            }
            _ => {
                problems.push(
                    "amount",
                    "约定金额（amount，分）与分成比例（share_bp，基点）须填写且只填写其一",
                );
                None
            }
        };
        let (Some(kind), Some(from), Some(to), Some(terms)) = (kind, from, to, terms) else {
            return Err(StoreError::invalid(problems.0));
        };
        let link = BenefitLink {
            household_id: input.household_id,
            kind,
            from,
            to,
            terms,
            evidence: domain::text::normalize(&input.evidence),
            verification: None,
        };
        link.check("", &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let (lo, hi) = supplier.county_code.subtree_key_range();
        let (amount, share) = match terms {
            BenefitTerms::Amount(a) => (Some(a.0), None),
            BenefitTerms::Share(bp) => (None, Some(i64::from(bp))),
        };
        let id = on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            // Households of the supplier's county only: the county verifies the link against
            // its own registry. Missing and elsewhere get the same answer.
            let found = tx.rows("SELECT id FROM households WHERE id = $1 AND village_key >= $2 AND village_key < $3",
                &[input.household_id.into(), lo.into(), hi.into()], &[Ty::I64]).await?;
            if found.is_empty() {
                return Err(StoreError::invalid_field("household_id", format!(
                    "建档立卡户 {} 不存在或不在供应商所在县（{}）", input.household_id, supplier.county_code)));
            }
            let ids = tx.rows(
                "INSERT INTO benefit_links (supplier_id, household_id, kind, valid_from, valid_to, amount, share_bp, evidence, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[supplier_id.into(), input.household_id.into(), kind.as_str().into(), from.to_string().into(),
                  to.map(|d| d.to_string()).into(), amount.into(), share.into(), link.evidence.clone().into(),
                  caller.username.clone().into(), now_rfc3339().into()],
                &[Ty::I64]).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            audit_in(&mut tx, caller, "create", "benefit_link", Some(id.to_string()),
                serde_json::to_value(&link).ok(), format!("供应商 {supplier_id}")).await?;
            crate::commit!(tx)?;
            id
        });
        self.benefit_link(caller, id).await
    }

    /// The county's attestation of a link: dated, by a named person, recorded with the user.
    pub async fn verify_benefit_link(
        &self,
        caller: &Caller,
        link_id: i64,
        input: &VerificationInput,
    ) -> StoreResult<StoredLink> {
        let link = self.benefit_link(caller, link_id).await?;
        let supplier = self.get_supplier(caller, link.supplier_id).await?;
        require_county_keeper(caller, supplier.county_code)?;
        let mut problems = Problems::default();
        let on = parse_date("on", &input.on, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let on = on.expect("parsed");
        check_verification(on, &input.by, today())
            .map_err(|m| StoreError::invalid_field("on", m))?;
        if link.link.verification.is_some() {
            return Err(StoreError::Conflict(format!(
                "利益联结 {link_id} 已核实，不能重复核实"
            )));
        }
        let by = domain::text::normalize(&input.by);
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let n = tx.exec("UPDATE benefit_links SET verified_on = $1, verified_by = $2 WHERE id = $3 AND verified_on IS NULL",
                &[on.to_string().into(), by.clone().into(), link_id.into()]).await?;
            if n != 1 {
                return Err(StoreError::Conflict(format!("利益联结 {link_id} 已核实，不能重复核实")));
            }
            audit_in(&mut tx, caller, "verify", "benefit_link", Some(link_id.to_string()),
                Some(serde_json::json!({"on": on, "by": by})), String::new()).await?;
            crate::commit!(tx)?;
        });
        self.benefit_link(caller, link_id).await
    }

    /// One link; it names a household, so only registry readers whose scope holds it see it.
    pub async fn benefit_link(&self, caller: &Caller, id: i64) -> StoreResult<StoredLink> {
        crate::registry::require_read(caller)?;
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM benefit_links l JOIN households h ON h.id = l.household_id WHERE l.id = $1{}",
            crate::registry::household_scope_sql(&caller.scope, "h")
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[id.into()], &LINK_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        match rows.first() {
            Some(r) => link_from(r),
            None => Err(StoreError::NotFound(format!(
                "利益联结 {id} 不存在或不在您的管辖范围内"
            ))),
        }
    }

    /// A supplier's links to households of the caller's scope.
    pub async fn benefit_links_of_supplier(
        &self,
        caller: &Caller,
        supplier_id: i64,
    ) -> StoreResult<Vec<StoredLink>> {
        crate::registry::require_read(caller)?;
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM benefit_links l JOIN households h ON h.id = l.household_id
             WHERE l.supplier_id = $1{} ORDER BY l.id",
            crate::registry::household_scope_sql(&caller.scope, "h")
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[supplier_id.into()], &LINK_TYS).await?;
            crate::commit!(tx)?;
            rows
        });
        rows.iter().map(|r| link_from(r)).collect()
    }
}
