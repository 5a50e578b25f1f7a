//! Consumption aid (消费扶贫 / 消费帮扶, issue 14): the store side of `domain::consumption`.
//!
//! - `suppliers`: registered suppliers and their benefit links (利益联结) to registry households;
//! - `certificates`: products and their certification procedure;
//! - `orders`: buyers, order placement (certificate check, idempotency keys), states, payments,
//!   and the attribution of received orders to households (reversed by a refund);
//! - `figures`: the one definition of a counted purchase, households' attributed income
//!   (帮扶带动收入), the 832 quota of budget units.
//!
//! Who may do what (DOMAIN.md §1): suppliers, benefit links, products and certification are the
//! county's work (受援县干部 of the supplier's county, and the city office); they are public
//! information except the households a link names (registry readers of that household's scope)
//! and the supplier's contact phone (masked for anyone who may not change the supplier). Buyers
//! and orders are Shenzhen-side records: the city office, district offices for buyers in their
//! regions, and organisation users for their own organisation (as the buyer, or as the channel
//! whose orders they post).

pub mod certificates;
pub mod figures;
pub mod orders;
pub mod suppliers;

pub use figures::counted_purchases_sql;

use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db};
use domain::consumption::ConsumptionRules;
use domain::date::Date;
use domain::{Caller, RegionCode, Role, Scope};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ConsumptionRuleVersion {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub note: String,
    pub rules: ConsumptionRules,
}

const RULE_TYS: [Ty; 5] = [Ty::I64, Ty::Str, Ty::Str, Ty::Str, Ty::Str];

/// The newest consumption rule version; on first use, version 1 from the built-in defaults.
pub(crate) async fn current_rules_in<T: Tx>(tx: &mut T) -> StoreResult<ConsumptionRuleVersion> {
    let rows = tx
        .rows(
            "SELECT id, created_at, created_by, note, rules_json FROM consumption_rule_versions ORDER BY id DESC LIMIT 1",
            &[],
            &RULE_TYS,
        )
        .await?;
    if let Some(r) = rows.first() {
        let version = r[0].i64().unwrap_or_default();
        let rules = serde_json::from_str(r[4].str().unwrap_or("{}")).map_err(|e| {
            StoreError::internal(format!("消费帮扶规则版本 {version} 无法读取：{e}"))
        })?;
        return Ok(ConsumptionRuleVersion {
            version,
            created_at: r[1].string(),
            created_by: r[2].string(),
            note: r[3].string(),
            rules,
        });
    }
    let rules = ConsumptionRules::default();
    let json = serde_json::to_string(&rules).expect("rules serialise");
    let now = now_rfc3339();
    let note = "内置默认规则（SOCIAL.md §1.4，公示 7 天）";
    let ids = tx
        .rows(
            "INSERT INTO consumption_rule_versions (created_at, created_by, note, rules_json) VALUES ($1, 'system', $2, $3) RETURNING id",
            &[now.clone().into(), note.into(), json.into()],
            &[Ty::I64],
        )
        .await?;
    Ok(ConsumptionRuleVersion {
        version: ids[0][0].i64().unwrap_or(1),
        created_at: now,
        created_by: "system".into(),
        note: note.into(),
        rules,
    })
}

impl Db {
    /// The consumption rules in force (the newest version).
    pub async fn current_consumption_rules(&self) -> StoreResult<ConsumptionRuleVersion> {
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let r = current_rules_in(&mut tx).await?;
            crate::commit!(tx)?;
            Ok(r)
        })
    }

    /// Stores an edited rule set as a new version (administrators only); nothing decided under
    /// an earlier version changes.
    pub async fn save_consumption_rules(
        &self,
        caller: &Caller,
        rules: &ConsumptionRules,
        note: &str,
    ) -> StoreResult<ConsumptionRuleVersion> {
        if caller.role != Role::Admin {
            return Err(StoreError::Forbidden(
                "只有管理员可以修改消费帮扶规则".into(),
            ));
        }
        let problems = rules.validate();
        if !problems.is_empty() {
            return Err(StoreError::invalid(problems));
        }
        let json = serde_json::to_string(rules).expect("rules serialise");
        let now = now_rfc3339();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            current_rules_in(&mut tx).await?;
            let ids = tx.rows(
                "INSERT INTO consumption_rule_versions (created_at, created_by, note, rules_json) VALUES ($1, $2, $3, $4) RETURNING id",
                &[now.clone().into(), caller.username.clone().into(), note.trim().into(), json.into()],
                &[Ty::I64],
            ).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            crate::audit::audit_in(&mut tx, caller, "update", "consumption_rule_versions", Some(id.to_string()),
                serde_json::to_value(rules).ok(), note.trim().to_string()).await?;
            crate::commit!(tx)?;
            Ok(ConsumptionRuleVersion { version: id, created_at: now, created_by: caller.username.clone(), note: note.trim().to_string(), rules: rules.clone() })
        })
    }
}

/// May this caller do the county's consumption-aid work (suppliers, benefit links, products,
/// certification) for a supplier in `county`? The city office, and county cadres of that county.
pub(crate) fn may_keep_county(caller: &Caller, county: RegionCode) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::County => caller.scope.allows_region(county),
        _ => false,
    }
}

pub(crate) fn require_county_keeper(caller: &Caller, county: RegionCode) -> StoreResult<()> {
    if may_keep_county(caller, county) {
        Ok(())
    } else if !caller.is_authenticated() {
        Err(StoreError::LoginRequired("请先登录".into()))
    } else {
        Err(StoreError::Forbidden(format!(
            "只有市级管理员和 {county} 的县级干部可以登记该县的供应商、利益联结、产品和认定"
        )))
    }
}

/// Parses a required `YYYY-MM-DD` field.
pub(crate) fn parse_date(
    field: &str,
    value: &str,
    problems: &mut domain::validation::Problems,
) -> Option<Date> {
    match value.trim().parse::<Date>() {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(field, e.to_string());
            None
        }
    }
}

/// Parses an optional `YYYY-MM-DD` field (empty = none).
pub(crate) fn parse_opt_date(
    field: &str,
    value: Option<&str>,
    problems: &mut domain::validation::Problems,
) -> Option<Option<Date>> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(None),
        Some(v) => parse_date(field, v, problems).map(Some),
    }
}

/// A stored date column (written by this module, so always valid).
pub(crate) fn stored_date(v: &Val) -> StoreResult<Date> {
    let s = v.str().unwrap_or_default();
    Date::parse(s).ok_or_else(|| StoreError::internal(format!("stored date {s:?} is invalid")))
}

pub(crate) fn stored_opt_date(v: &Val) -> StoreResult<Option<Date>> {
    v.str().map(|_| stored_date(v)).transpose()
}

/// A region scope's restriction of a region-key column (numbers only); organisation scopes get
/// none here, their callers are restricted by organisation.
pub(crate) fn region_clause(scope: &Scope, column: &str) -> String {
    match scope {
        Scope::Organisation(_) => String::new(),
        _ => crate::assessment::key_scope_sql(scope, column),
    }
}
