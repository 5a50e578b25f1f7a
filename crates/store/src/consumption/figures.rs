//! Figures of consumption aid: what counts as a purchase (once), households' attributed income
//! (帮扶带动收入) and the 832 quota of budget units.

use super::current_rules_in;
use crate::sqlrt::{Tx, Ty};
use crate::{Db, StoreError, StoreResult, on_db};
use domain::Caller;
use domain::consumption::{
    BuyerType, Channel, OrderState, QuotaOutcome, QuotaPurchases, check_quota,
};
use domain::money::Fen;
use serde::Serialize;

/// The purchases every figure counts, as a subquery over `purchase_facts` (one row per order
/// line, with buyer region, seller county, channel, certificate and year): the lines of orders
/// that were received and not refunded. The dashboard, the catalogue's sales and the East–West
/// statistics read purchases through this and nothing else, so each is counted once.
pub fn counted_purchases_sql() -> String {
    format!(
        "(SELECT f.* FROM purchase_facts f JOIN orders o ON o.id = f.order_id WHERE o.state = '{}')",
        OrderState::Received.as_str()
    )
}

/// How purchase totals are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseGrouping {
    BuyerType,
    Channel,
    SellerCounty,
    Product,
}

impl PurchaseGrouping {
    fn column(self) -> &'static str {
        match self {
            PurchaseGrouping::BuyerType => "buyer_type",
            PurchaseGrouping::Channel => "channel",
            PurchaseGrouping::SellerCounty => "CAST(seller_county_key AS TEXT)",
            PurchaseGrouping::Product => "CAST(product_id AS TEXT)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseTotal {
    pub key: String,
    pub lines: i64,
    pub amount: Fen,
}

/// One budget unit's 832 quota in a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitQuota {
    pub buyer_id: i64,
    pub name: String,
    pub canteen_total: Fen,
    pub outcome: QuotaOutcome,
}

impl Db {
    /// Counted purchases of a year (aggregates: public information), grouped.
    pub async fn purchase_totals(
        &self,
        year: i32,
        grouping: PurchaseGrouping,
    ) -> StoreResult<Vec<PurchaseTotal>> {
        let sql = format!(
            "SELECT {col}, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM {from} c WHERE year = $1 GROUP BY {col} ORDER BY {col}",
            col = grouping.column(),
            from = counted_purchases_sql()
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[i64::from(year).into()], &[Ty::Str, Ty::I64, Ty::I64]).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(rows
            .iter()
            .map(|r| PurchaseTotal {
                key: r[0].string(),
                lines: r[1].i64().unwrap_or_default(),
                amount: Fen(r[2].i64().unwrap_or_default()),
            })
            .collect())
    }

    /// A household's attributed income (帮扶带动收入) of a year: its own figure, beside and never
    /// inside the declared incomes that exit and monitoring decisions read.
    pub async fn household_attributed_income(
        &self,
        caller: &Caller,
        household_id: i64,
        year: i32,
    ) -> StoreResult<Fen> {
        crate::registry::require_read(caller)?;
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(a.amount), 0) AS BIGINT) FROM households h LEFT JOIN attributions a ON a.household_id = h.id AND a.year = $2
             WHERE h.id = $1{} GROUP BY h.id",
            crate::registry::household_scope_sql(&caller.scope, "h")
        );
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows(&sql, &[household_id.into(), i64::from(year).into()], &[Ty::I64]).await?;
            crate::commit!(tx)?;
            rows
        });
        match rows.first() {
            Some(r) => Ok(Fen(r[0].i64().unwrap_or_default())),
            None => Err(StoreError::NotFound(format!(
                "建档立卡户 {household_id} 不存在或不在您的管辖范围内"
            ))),
        }
    }

    /// Every household's attributed income of a year, summed (a figure for the city office and
    /// auditors).
    pub async fn attributed_income_total(&self, caller: &Caller, year: i32) -> StoreResult<Fen> {
        if !caller.can_read_audit() {
            return Err(StoreError::Forbidden(
                "只有市级管理员和审计人员可以查看全市合计".into(),
            ));
        }
        let rows = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let rows = tx.rows("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM attributions WHERE year = $1", &[i64::from(year).into()], &[Ty::I64]).await?;
            crate::commit!(tx)?;
            rows
        });
        Ok(Fen(rows[0][0].i64().unwrap_or_default()))
    }

    /// The 832 quota of every budget unit with a canteen total for `year`, under the rule in
    /// force: its own, its trade union's and its staff's counted 832 purchases against the share
    /// of its canteen total.
    pub async fn quota_report(&self, year: i32) -> StoreResult<Vec<UnitQuota>> {
        let purchases_sql = format!(
            "SELECT quota_unit_id, buyer_type, CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM {} c
             WHERE year = $1 AND channel = $2 AND quota_unit_id IS NOT NULL GROUP BY quota_unit_id, buyer_type",
            counted_purchases_sql()
        );
        let (rules, units, bought) = on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let rules = current_rules_in(&mut tx).await?;
            let units = tx.rows(
                "SELECT b.id, b.name, c.has_canteen, c.canteen_total FROM buyer_canteens c JOIN buyers b ON b.id = c.buyer_id
                 WHERE c.year = $1 ORDER BY b.id",
                &[i64::from(year).into()], &[Ty::I64, Ty::Str, Ty::Bool, Ty::I64]).await?;
            let bought = tx.rows(&purchases_sql, &[i64::from(year).into(), Channel::Platform832.as_str().into()],
                &[Ty::I64, Ty::Str, Ty::I64]).await?;
            crate::commit!(tx)?;
            (rules, units, bought)
        });
        let rule = rules.rules.quota_for(year);
        Ok(units
            .iter()
            .map(|u| {
                let id = u[0].i64().unwrap_or_default();
                let mut q = QuotaPurchases::default();
                for b in bought.iter().filter(|b| b[0].i64() == Some(id)) {
                    let amount = Fen(b[2].i64().unwrap_or_default());
                    match BuyerType::parse(b[1].str().unwrap_or_default()) {
                        Some(BuyerType::BudgetUnit) => q.own = q.own + amount,
                        Some(BuyerType::TradeUnion) => q.trade_union = q.trade_union + amount,
                        Some(BuyerType::Individual) => q.staff = q.staff + amount,
                        _ => {}
                    }
                }
                let canteen_total = Fen(u[3].i64().unwrap_or_default());
                UnitQuota {
                    buyer_id: id,
                    name: u[1].string(),
                    canteen_total,
                    outcome: check_quota(rule, u[2].bool().unwrap_or(false), canteen_total, q),
                }
            })
            .collect())
    }
}
