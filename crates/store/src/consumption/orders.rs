//! Buyers, orders and their attribution to households.
//!
//! Placing an order checks each line's product certificate at the order's date
//! (`StoreError::CertificateInvalid`), and writes the order, its lines, one purchase fact per
//! line, its first state, the idempotency key's answer and the audit entry in one transaction.
//! A key is claimed first (`INSERT … ON CONFLICT DO NOTHING`): a concurrent placement with the
//! same key waits for the first to commit (PostgreSQL's unique index, SQLite's write lock) and
//! then answers with its stored response, so a retried request never makes a second order.

use super::certificates::{certificates_of_product_in, product_in};
use super::suppliers::links_of_supplier_in;
use super::{parse_date, region_clause};
use crate::audit::audit_in;
use crate::sqlrt::{Tx, Ty, Val};
use crate::{Db, StoreError, StoreResult, now_rfc3339, on_db, today};
use domain::consumption::{
    AttributionLine, BuyerType, Channel, OrderState, attribute, check_order_transition, reverse,
    valid_certificate_on,
};
use domain::date::Date;
use domain::id_number::mask_phone;
use domain::money::Fen;
use domain::validation::Problems;
use domain::{Caller, RegionCode, Role, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Buyers.

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Buyer {
    pub id: i64,
    /// Masked for individuals (a person's name).
    pub name: String,
    pub buyer_type: BuyerType,
    pub region_code: RegionCode,
    pub organisation_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub credit_code: Option<String>,
    /// Masked.
    pub phone: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BuyerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub buyer_type: String,
    #[serde(default)]
    pub region_code: String,
    pub organisation_id: Option<i64>,
    /// The budget unit a trade union or a staff member buys for (its 832 quota).
    pub unit_id: Option<i64>,
    pub credit_code: Option<String>,
    pub phone: Option<String>,
}

/// A person's name as shown: its first character and stars (like the registry's masking).
fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

const BUYER_COLUMNS: &str =
    "id, name, buyer_type, region_key, organisation_id, unit_id, credit_code, phone";
const BUYER_TYS: [Ty; 8] = [
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
];

fn buyer_from(r: &[Val]) -> StoreResult<Buyer> {
    let buyer_type = BuyerType::parse(r[2].str().unwrap_or_default())
        .ok_or_else(|| StoreError::internal("stored buyer type is unknown"))?;
    let name = r[1].string();
    Ok(Buyer {
        id: r[0].i64().unwrap_or_default(),
        name: if buyer_type.is_person() {
            mask_name(&name)
        } else {
            name
        },
        buyer_type,
        region_code: RegionCode::from_key(r[3].i64().unwrap_or_default())
            .ok_or_else(|| StoreError::internal("stored buyer region is invalid"))?,
        organisation_id: r[4].i64(),
        unit_id: r[5].i64(),
        credit_code: r[6].str().map(str::to_string),
        phone: mask_phone(r[7].str().unwrap_or_default()),
    })
}

async fn buyer_in<T: Tx>(tx: &mut T, id: i64) -> StoreResult<Option<Buyer>> {
    let sql = format!("SELECT {BUYER_COLUMNS} FROM buyers WHERE id = $1");
    let rows = tx.rows(&sql, &[id.into()], &BUYER_TYS).await?;
    rows.first().map(|r| buyer_from(r)).transpose()
}

/// Who may register buyers and place orders: the city office, district offices (for buyers in
/// their regions) and organisation users (their organisation as buyer, or as the channel).
fn require_order_writer(caller: &Caller) -> StoreResult<()> {
    match caller.role {
        Role::Admin | Role::District | Role::Org => Ok(()),
        Role::Public => Err(StoreError::LoginRequired("请先登录".into())),
        _ => Err(StoreError::Forbidden(
            "只有市级管理员、区级/前方指挥部和机构用户可以登记采购单位和订单".into(),
        )),
    }
}

/// A district office acts only for buyers in its regions.
fn require_buyer_in_scope(caller: &Caller, buyer: &Buyer) -> StoreResult<()> {
    if caller.role == Role::District && !caller.scope.allows_region(buyer.region_code) {
        return Err(StoreError::Forbidden(format!(
            "采购单位 {} 不在您的管辖范围内",
            buyer.id
        )));
    }
    Ok(())
}

impl Db {
    pub async fn create_buyer(&self, caller: &Caller, input: &BuyerInput) -> StoreResult<Buyer> {
        require_order_writer(caller)?;
        let mut problems = Problems::default();
        let name = domain::text::normalize(&input.name);
        if name.is_empty() {
            problems.push("name", "请填写采购方名称");
        }
        let buyer_type = BuyerType::parse(&input.buyer_type);
        if buyer_type.is_none() {
            problems.push(
                "buyer_type",
                format!(
                    "采购方类型“{}”无效，应为：{}",
                    input.buyer_type.trim(),
                    BuyerType::choices_zh()
                ),
            );
        }
        let region = RegionCode::parse(input.region_code.trim())
            .map_err(|e| problems.push("region_code", e.to_string()))
            .ok();
        let credit_code = match input
            .credit_code
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(c) => domain::credit_code::validate(c)
                .map_err(|e| problems.push("credit_code", e.to_string()))
                .ok(),
        };
        if input.unit_id.is_some()
            && !matches!(
                buyer_type,
                Some(BuyerType::TradeUnion | BuyerType::Individual)
            )
        {
            problems.push(
                "unit_id",
                "只有工会和职工个人可以挂靠预算单位（计入其832预留份额）",
            );
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let (buyer_type, region) = (buyer_type.expect("parsed"), region.expect("parsed"));
        if self.get_region(region).await?.is_none() {
            return Err(StoreError::invalid_field(
                "region_code",
                format!("区划代码 {region} 不存在"),
            ));
        }
        if caller.role == Role::District && !caller.scope.allows_region(region) {
            return Err(StoreError::Forbidden(format!(
                "区划 {region} 不在您的管辖范围内"
            )));
        }
        let organisation_id = match caller.role {
            Role::Org => caller.organisation_id.filter(|_| !buyer_type.is_person()),
            _ => input.organisation_id,
        };
        let phone = domain::text::normalize(input.phone.as_deref().unwrap_or(""));
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            if let Some(unit) = input.unit_id {
                let ok = tx.rows("SELECT id FROM buyers WHERE id = $1 AND buyer_type = $2",
                    &[unit.into(), BuyerType::BudgetUnit.as_str().into()], &[Ty::I64]).await?;
                if ok.is_empty() {
                    return Err(StoreError::invalid_field("unit_id", format!("预算单位 {unit} 不存在")));
                }
            }
            if let Some(org) = organisation_id {
                let ok = tx.rows("SELECT id FROM organisations WHERE id = $1", &[org.into()], &[Ty::I64]).await?;
                if ok.is_empty() {
                    return Err(StoreError::invalid_field("organisation_id", format!("机构 {org} 不存在")));
                }
            }
            let now = now_rfc3339();
            let ids = tx.rows(
                "INSERT INTO buyers (name, buyer_type, region_key, organisation_id, unit_id, credit_code, phone, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                &[name.into(), buyer_type.as_str().into(), region.key().into(), organisation_id.into(), input.unit_id.into(),
                  credit_code.into(), phone.into(), caller.username.clone().into(), now.into()],
                &[Ty::I64]).await?;
            let id = ids[0][0].i64().unwrap_or_default();
            let buyer = buyer_in(&mut tx, id).await?.expect("just inserted");
            // Masked as read: an individual's name and every phone.
            audit_in(&mut tx, caller, "create", "buyer", Some(id.to_string()), serde_json::to_value(&buyer).ok(), String::new()).await?;
            crate::commit!(tx)?;
            Ok(buyer)
        })
    }

    pub async fn get_buyer(&self, id: i64) -> StoreResult<Buyer> {
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let b = buyer_in(&mut tx, id).await?;
            crate::commit!(tx)?;
            b.ok_or_else(|| StoreError::NotFound(format!("采购方 {id} 不存在")))
        })
    }

    /// A budget unit's canteen food purchasing total of a year (the base of its 832 quota),
    /// entered by the unit's own organisation users, its district office or the city office.
    pub async fn set_canteen(
        &self,
        caller: &Caller,
        buyer_id: i64,
        year: i32,
        has_canteen: bool,
        total: Fen,
    ) -> StoreResult<()> {
        require_order_writer(caller)?;
        let buyer = self.get_buyer(buyer_id).await?;
        require_buyer_in_scope(caller, &buyer)?;
        if caller.role == Role::Org && buyer.organisation_id != caller.organisation_id {
            return Err(StoreError::Forbidden(format!(
                "只能填写本单位的食堂采购额（采购方 {buyer_id} 不属于您的机构）"
            )));
        }
        if buyer.buyer_type != BuyerType::BudgetUnit {
            return Err(StoreError::invalid_field(
                "buyer_id",
                format!("采购方 {buyer_id} 不是预算单位，没有832预留份额"),
            ));
        }
        if !(2000..=2100).contains(&year) {
            return Err(StoreError::invalid_field(
                "year",
                format!("年度 {year} 无效"),
            ));
        }
        if total.is_negative() || (!has_canteen && !total.is_zero()) {
            return Err(StoreError::invalid_field(
                "canteen_total",
                "食堂食材采购额不能为负数；无食堂的单位应填 0",
            ));
        }
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            tx.exec("DELETE FROM buyer_canteens WHERE buyer_id = $1 AND year = $2", &[buyer_id.into(), i64::from(year).into()]).await?;
            tx.exec("INSERT INTO buyer_canteens (buyer_id, year, has_canteen, canteen_total, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[buyer_id.into(), i64::from(year).into(), has_canteen.into(), total.0.into(), caller.username.clone().into(), now_rfc3339().into()]).await?;
            audit_in(&mut tx, caller, "update", "buyer_canteen", Some(format!("{buyer_id}/{year}")),
                Some(serde_json::json!({"has_canteen": has_canteen, "canteen_total": total})), String::new()).await?;
            crate::commit!(tx)?;
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Orders.

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderLineInput {
    pub product_id: i64,
    pub quantity: i64,
    /// Fen; the product's catalogue price when absent.
    pub unit_price: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrderInput {
    pub buyer_id: i64,
    #[serde(default)]
    pub channel: String,
    /// The channel's own order number (unique per channel organisation).
    pub channel_order_no: Option<String>,
    #[serde(default)]
    pub order_date: String,
    #[serde(default)]
    pub lines: Vec<OrderLineInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub id: i64,
    pub line_no: i64,
    pub product_id: i64,
    pub product_name: String,
    pub supplier_id: i64,
    pub certificate_id: i64,
    pub quantity: i64,
    pub unit_price: Fen,
    pub amount: Fen,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub buyer_id: i64,
    pub buyer_type: BuyerType,
    pub channel: Channel,
    pub channel_org_id: Option<i64>,
    pub channel_order_no: Option<String>,
    pub order_date: Date,
    pub state: OrderState,
    pub state_on: Date,
    pub total: Fen,
    pub lines: Vec<OrderLine>,
}

struct ValidOrder {
    buyer_id: i64,
    channel: Channel,
    channel_order_no: Option<String>,
    date: Date,
    lines: Vec<OrderLineInput>,
}

impl OrderInput {
    fn check(&self, today: Date) -> Result<ValidOrder, StoreError> {
        let mut problems = Problems::default();
        let channel = Channel::parse(&self.channel);
        if channel.is_none() {
            problems.push(
                "channel",
                format!(
                    "销售渠道“{}”无效，应为：{}",
                    self.channel.trim(),
                    Channel::choices_zh()
                ),
            );
        }
        let date = parse_date("order_date", &self.order_date, &mut problems);
        if let Some(d) = date
            && d > today
        {
            problems.push("order_date", format!("下单日期 {d} 晚于今天（{today}）"));
        }
        if self.lines.is_empty() {
            problems.push("lines", "订单至少要有一行商品");
        }
        for (i, l) in self.lines.iter().enumerate() {
            if l.quantity <= 0 {
                problems.push(
                    format!("lines[{i}].quantity"),
                    format!("数量须大于 0，实际为 {}", l.quantity),
                );
            }
            if l.unit_price.is_some_and(|p| p < 0) {
                problems.push(format!("lines[{i}].unit_price"), "单价不能为负数");
            }
        }
        problems.into_result().map_err(StoreError::invalid)?;
        Ok(ValidOrder {
            buyer_id: self.buyer_id,
            channel: channel.expect("parsed"),
            channel_order_no: self
                .channel_order_no
                .as_deref()
                .map(domain::text::normalize)
                .filter(|s| !s.is_empty()),
            date: date.expect("parsed"),
            lines: self.lines.clone(),
        })
    }

    /// The fingerprint of a request body, to tell a retry from another request under the same key.
    fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("an order input serialises");
        hex::encode(Sha256::digest(&json))
    }
}

const ORDER_COLUMNS: &str = "o.id, o.buyer_id, b.buyer_type, o.channel, o.channel_org_id, o.channel_order_no, o.order_date, o.state, o.state_on, o.total, b.region_key";
const ORDER_TYS: [Ty; 11] = [
    Ty::I64,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::Str,
    Ty::I64,
    Ty::I64,
];

/// An order with the buyer's region (for scope checks).
async fn order_in<T: Tx>(tx: &mut T, id: i64) -> StoreResult<Option<(Order, RegionCode)>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o JOIN buyers b ON b.id = o.buyer_id WHERE o.id = $1"
    );
    let rows = tx.rows(&sql, &[id.into()], &ORDER_TYS).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let bad = |what: &str| StoreError::internal(format!("stored order {id}: {what}"));
    let lines = tx
        .rows(
            "SELECT l.id, l.line_no, l.product_id, p.name, p.supplier_id, l.certificate_id, l.quantity, l.unit_price, l.amount
             FROM order_lines l JOIN products p ON p.id = l.product_id WHERE l.order_id = $1 ORDER BY l.line_no",
            &[id.into()],
            &[Ty::I64, Ty::I64, Ty::I64, Ty::Str, Ty::I64, Ty::I64, Ty::I64, Ty::I64, Ty::I64],
        )
        .await?
        .iter()
        .map(|l| OrderLine {
            id: l[0].i64().unwrap_or_default(),
            line_no: l[1].i64().unwrap_or_default(),
            product_id: l[2].i64().unwrap_or_default(),
            product_name: l[3].string(),
            supplier_id: l[4].i64().unwrap_or_default(),
            certificate_id: l[5].i64().unwrap_or_default(),
            quantity: l[6].i64().unwrap_or_default(),
            unit_price: Fen(l[7].i64().unwrap_or_default()),
            amount: Fen(l[8].i64().unwrap_or_default()),
        })
        .collect();
    let order = Order {
        id,
        buyer_id: r[1].i64().unwrap_or_default(),
        buyer_type: BuyerType::parse(r[2].str().unwrap_or_default())
            .ok_or_else(|| bad("buyer type"))?,
        channel: Channel::parse(r[3].str().unwrap_or_default()).ok_or_else(|| bad("channel"))?,
        channel_org_id: r[4].i64(),
        channel_order_no: r[5].str().map(str::to_string),
        order_date: super::stored_date(&r[6])?,
        state: OrderState::parse(r[7].str().unwrap_or_default()).ok_or_else(|| bad("state"))?,
        state_on: super::stored_date(&r[8])?,
        total: Fen(r[9].i64().unwrap_or_default()),
        lines,
    };
    let region =
        RegionCode::from_key(r[10].i64().unwrap_or_default()).ok_or_else(|| bad("buyer region"))?;
    Ok(Some((order, region)))
}

/// May the caller change this order (its states, payments)? The city office, the channel's
/// organisation users, the district office of the buyer's region.
fn may_change_order(caller: &Caller, order: &Order, buyer_region: RegionCode) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::Org => {
            caller.organisation_id.is_some() && order.channel_org_id == caller.organisation_id
        }
        Role::District => caller.scope.allows_region(buyer_region),
        _ => false,
    }
}

/// May the caller read this order? Everyone who may change it, auditors, and cadres of a seller
/// county of one of its lines.
async fn may_read_order<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    order: &Order,
    buyer_region: RegionCode,
) -> StoreResult<bool> {
    if may_change_order(caller, order, buyer_region) || caller.role == Role::Auditor {
        return Ok(true);
    }
    if let (Role::County | Role::Village, Scope::Regions(_)) = (caller.role, &caller.scope) {
        let sql = format!(
            "SELECT order_id FROM purchase_facts WHERE order_id = $1{} LIMIT 1",
            region_clause(&caller.scope, "seller_county_key")
        );
        return Ok(!tx
            .rows(&sql, &[order.id.into()], &[Ty::I64])
            .await?
            .is_empty());
    }
    Ok(false)
}

/// Places a valid order inside `tx`; returns its id.
async fn place_in<T: Tx>(tx: &mut T, caller: &Caller, v: &ValidOrder) -> StoreResult<i64> {
    let buyer = buyer_in(tx, v.buyer_id).await?.ok_or_else(|| {
        StoreError::invalid_field("buyer_id", format!("采购方 {} 不存在", v.buyer_id))
    })?;
    require_buyer_in_scope(caller, &buyer)?;
    let channel_org = match caller.role {
        Role::Org => caller.organisation_id,
        _ => None,
    };
    if let Some(no) = &v.channel_order_no {
        let taken = tx
            .rows(
                "SELECT id FROM orders WHERE channel_order_no = $1 AND (channel_org_id = $2 OR (channel_org_id IS NULL AND $2 IS NULL))",
                &[no.clone().into(), channel_org.into()],
                &[Ty::I64],
            )
            .await?;
        if let Some(t) = taken.first() {
            return Err(StoreError::Conflict(format!(
                "渠道订单号 {no} 已登记为订单 {}",
                t[0].i64().unwrap_or_default()
            )));
        }
    }
    struct Line {
        product_id: i64,
        supplier_id: i64,
        county_key: i64,
        certificate_id: i64,
        quantity: i64,
        unit_price: Fen,
        amount: Fen,
    }
    let mut lines = Vec::with_capacity(v.lines.len());
    let mut total = Fen::ZERO;
    for (i, l) in v.lines.iter().enumerate() {
        let field = |f: &str| format!("lines[{i}].{f}");
        let product = product_in(tx, l.product_id).await?.ok_or_else(|| {
            StoreError::invalid_field(
                &field("product_id"),
                format!("产品 {} 不存在", l.product_id),
            )
        })?;
        let certificates: Vec<_> = certificates_of_product_in(tx, product.id)
            .await?
            .into_iter()
            .map(|c| (c.id, c.certificate))
            .collect();
        let certificate_id =
            valid_certificate_on(&product.name, &certificates, v.date).map_err(|error| {
                StoreError::CertificateInvalid {
                    field: field("product_id"),
                    error: Box::new(error),
                }
            })?;
        let county = tx
            .rows(
                "SELECT county_key FROM suppliers WHERE id = $1",
                &[product.supplier_id.into()],
                &[Ty::I64],
            )
            .await?;
        let unit_price = l.unit_price.map(Fen).unwrap_or(product.unit_price);
        let overflow = || StoreError::invalid_field(&field("quantity"), "金额超出可处理的范围");
        let amount = unit_price.checked_mul(l.quantity).ok_or_else(overflow)?;
        total = total.checked_add(amount).ok_or_else(overflow)?;
        lines.push(Line {
            product_id: product.id,
            supplier_id: product.supplier_id,
            county_key: county.first().and_then(|r| r[0].i64()).unwrap_or_default(),
            certificate_id,
            quantity: l.quantity,
            unit_price,
            amount,
        });
    }
    let now = now_rfc3339();
    let date = v.date.to_string();
    let year = i64::from(v.date.year());
    let ids = tx
        .rows(
            "INSERT INTO orders (buyer_id, channel, channel_org_id, channel_order_no, order_date, year, state, state_on, total, placed_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $8, $9, $10, $10) RETURNING id",
            &[v.buyer_id.into(), v.channel.as_str().into(), channel_org.into(), v.channel_order_no.clone().into(), date.clone().into(),
              year.into(), OrderState::Placed.as_str().into(), total.0.into(), caller.username.clone().into(), now.clone().into()],
            &[Ty::I64],
        )
        .await
        .map_err(|e| match &e {
            // Two placements with one channel order number at once: the check above saw
            // neither, the unique index refuses the second.
            StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                StoreError::Conflict(format!(
                    "渠道订单号 {} 已登记为另一订单",
                    v.channel_order_no.as_deref().unwrap_or("")
                ))
            }
            _ => e,
        })?;
    let order_id = ids[0][0].i64().unwrap_or_default();
    // The buyer whose 832 quota this purchase counts toward (the rules decide which types count).
    let quota_unit = match buyer.buyer_type {
        BuyerType::BudgetUnit => Some(buyer.id),
        _ => buyer.unit_id,
    };
    for (i, l) in lines.iter().enumerate() {
        let line_ids = tx
            .rows(
                "INSERT INTO order_lines (order_id, line_no, product_id, certificate_id, quantity, unit_price, amount)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[order_id.into(), (i as i64 + 1).into(), l.product_id.into(), l.certificate_id.into(), l.quantity.into(),
                  l.unit_price.0.into(), l.amount.0.into()],
                &[Ty::I64],
            )
            .await?;
        let line_id = line_ids[0][0].i64().unwrap_or_default();
        tx.exec(
            "INSERT INTO purchase_facts (order_line_id, order_id, year, order_date, buyer_id, buyer_type, buyer_region_key, quota_unit_id,
             seller_county_key, supplier_id, product_id, certificate_id, channel, amount)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[line_id.into(), order_id.into(), year.into(), date.clone().into(), buyer.id.into(), buyer.buyer_type.as_str().into(),
              buyer.region_code.key().into(), quota_unit.into(), l.county_key.into(), l.supplier_id.into(), l.product_id.into(),
              l.certificate_id.into(), v.channel.as_str().into(), l.amount.0.into()],
        )
        .await?;
    }
    tx.exec(
        "INSERT INTO order_states (order_id, state, on_date, by_user, note, recorded_at) VALUES ($1, $2, $3, $4, '', $5)",
        &[order_id.into(), OrderState::Placed.as_str().into(), date.into(), caller.username.clone().into(), now.into()],
    )
    .await?;
    audit_in(
        tx,
        caller,
        "create",
        "order",
        Some(order_id.to_string()),
        Some(serde_json::json!({"buyer_id": v.buyer_id, "channel": v.channel.as_str(), "order_date": v.date, "total": total, "lines": lines.len()})),
        String::new(),
    )
    .await?;
    Ok(order_id)
}

/// What [`Db::place_order`] answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub order: Order,
    /// True when this is the stored answer to an earlier request with the same key.
    pub replayed: bool,
}

/// Longest accepted idempotency key.
const MAX_KEY_CHARS: usize = 200;

impl Db {
    /// Places an order. With an idempotency key, the first successful answer is stored: the same
    /// key with the same body answers with it again (`replayed`), the same key with another body
    /// is a conflict. A refused request stores nothing, so it can be corrected and sent again.
    pub async fn place_order(
        &self,
        caller: &Caller,
        input: &OrderInput,
        idempotency_key: Option<&str>,
    ) -> StoreResult<Placed> {
        require_order_writer(caller)?;
        let valid = input.check(today())?;
        let key = match idempotency_key.map(str::trim) {
            Some("") => {
                return Err(StoreError::invalid_field(
                    "Idempotency-Key",
                    "幂等键不能为空",
                ));
            }
            Some(k) if k.chars().count() > MAX_KEY_CHARS || k.chars().any(char::is_control) => {
                return Err(StoreError::invalid_field(
                    "Idempotency-Key",
                    format!("幂等键不能超过 {MAX_KEY_CHARS} 个字符，且不能含控制字符"),
                ));
            }
            k => k.map(str::to_string),
        };
        let hash = input.hash();
        let who = caller.username.clone();
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            if let Some(key) = &key {
                let claimed = tx.rows(
                    "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (caller, idem_key) DO NOTHING RETURNING caller",
                    &[who.clone().into(), key.clone().into(), hash.clone().into(), now_rfc3339().into()],
                    &[Ty::Str]).await?;
                if claimed.is_empty() {
                    let first = tx.rows("SELECT request_hash, response_json FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
                        &[who.clone().into(), key.clone().into()], &[Ty::Str, Ty::Str]).await?;
                    tx.rollback().await?;
                    let Some(first) = first.first() else {
                        return Err(StoreError::Unavailable("幂等键正在使用，请稍后重试".into()));
                    };
                    if first[0].str() != Some(hash.as_str()) {
                        return Err(StoreError::Conflict(format!(
                            "幂等键“{key}”已用于另一笔内容不同的订单请求；同一幂等键只能重试同一请求")));
                    }
                    let order: Order = serde_json::from_str(first[1].str().unwrap_or_default())
                        .map_err(|e| StoreError::internal(format!("stored idempotent response: {e}")))?;
                    return Ok(Placed { order, replayed: true });
                }
            }
            let id = place_in(&mut tx, caller, &valid).await?;
            let (order, _) = order_in(&mut tx, id).await?.expect("just placed");
            if let Some(key) = &key {
                let response = serde_json::to_string(&order).expect("an order serialises");
                tx.exec("UPDATE idempotency_keys SET order_id = $1, response_json = $2 WHERE caller = $3 AND idem_key = $4",
                    &[id.into(), response.into(), who.clone().into(), key.clone().into()]).await?;
            }
            crate::commit!(tx)?;
            Ok(Placed { order, replayed: false })
        })
    }

    pub async fn get_order(&self, caller: &Caller, id: i64) -> StoreResult<Order> {
        let not_found = || StoreError::NotFound(format!("订单 {id} 不存在或不在您的管辖范围内"));
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let Some((order, region)) = order_in(&mut tx, id).await? else {
                return Err(not_found());
            };
            let visible = may_read_order(&mut tx, caller, &order, region).await?;
            crate::commit!(tx)?;
            if visible { Ok(order) } else { Err(not_found()) }
        })
    }

    /// Moves an order to its next state on `on` (see `domain::consumption::OrderState::next`).
    /// Receiving it attributes each line's value to the households of its supplier's benefit
    /// links counting on the order's date; refunding it appends the exact negation of those
    /// lines. All in one transaction with the state's history row and the audit entry.
    pub async fn change_order_state(
        &self,
        caller: &Caller,
        id: i64,
        to: &str,
        on: &str,
        note: &str,
    ) -> StoreResult<Order> {
        require_order_writer(caller)?;
        let mut problems = Problems::default();
        let to_state = OrderState::parse(to);
        if to_state.is_none() {
            problems.push(
                "state",
                format!(
                    "订单状态“{}”无效，应为：{}",
                    to.trim(),
                    OrderState::choices_zh()
                ),
            );
        }
        let on = parse_date("on", on, &mut problems);
        problems.into_result().map_err(StoreError::invalid)?;
        let (to, on) = (to_state.expect("parsed"), on.expect("parsed"));
        let not_found = || StoreError::NotFound(format!("订单 {id} 不存在或不在您的管辖范围内"));
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let Some((order, region)) = order_in(&mut tx, id).await? else {
                return Err(not_found());
            };
            if !may_change_order(caller, &order, region) {
                return Err(if may_read_order(&mut tx, caller, &order, region).await? {
                    StoreError::Forbidden(format!("您无权变更订单 {id} 的状态（只有下单渠道、采购方所在区和市级管理员可以）"))
                } else {
                    not_found()
                });
            }
            check_order_transition(order.state, to, order.state_on, on, today())
                .map_err(|m| StoreError::invalid_field("state", format!("订单 {id}：{m}")))?;
            let n = tx.exec("UPDATE orders SET state = $1, state_on = $2, updated_at = $3 WHERE id = $4 AND state = $5",
                &[to.as_str().into(), on.to_string().into(), now_rfc3339().into(), id.into(), order.state.as_str().into()]).await?;
            if n != 1 {
                return Err(StoreError::Conflict(format!("订单 {id} 刚被他人变更，请刷新后重试")));
            }
            tx.exec("INSERT INTO order_states (order_id, state, on_date, by_user, note, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[id.into(), to.as_str().into(), on.to_string().into(), caller.username.clone().into(),
                  domain::text::normalize(note).into(), now_rfc3339().into()]).await?;
            let attributed = match to {
                OrderState::Received => attribute_order_in(&mut tx, &order).await?,
                OrderState::Refunded => reverse_order_in(&mut tx, &order).await?,
                _ => Fen::ZERO,
            };
            audit_in(&mut tx, caller, to.as_str(), "order", Some(id.to_string()),
                Some(serde_json::json!({"from": order.state.as_str(), "to": to.as_str(), "on": on, "attributed": attributed})),
                domain::text::normalize(note)).await?;
            let (out, _) = order_in(&mut tx, id).await?.expect("exists");
            crate::commit!(tx)?;
            Ok(out)
        })
    }

    /// Records a payment of an order; payments never exceed the order's total.
    pub async fn record_payment(
        &self,
        caller: &Caller,
        order_id: i64,
        amount: Fen,
        paid_on: &str,
        method: &str,
        reference: &str,
    ) -> StoreResult<()> {
        require_order_writer(caller)?;
        let mut problems = Problems::default();
        let on = parse_date("paid_on", paid_on, &mut problems);
        if amount.0 <= 0 {
            problems.push("amount", "付款金额须大于 0");
        }
        problems.into_result().map_err(StoreError::invalid)?;
        let on = on.expect("parsed");
        if on > today() {
            return Err(StoreError::invalid_field(
                "paid_on",
                format!("付款日期 {on} 晚于今天（{}）", today()),
            ));
        }
        let not_found =
            || StoreError::NotFound(format!("订单 {order_id} 不存在或不在您的管辖范围内"));
        on_db!(self, p => {
            let mut tx = p.begin_with(self.write_begin_sql()).await?;
            let Some((order, region)) = order_in(&mut tx, order_id).await? else {
                return Err(not_found());
            };
            if !may_change_order(caller, &order, region) {
                return Err(not_found());
            }
            if matches!(order.state, OrderState::Cancelled) {
                return Err(StoreError::invalid_field("order_id", format!("订单 {order_id} 已取消，不能登记付款")));
            }
            let paid = tx.rows("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM payments WHERE order_id = $1", &[order_id.into()], &[Ty::I64]).await?;
            let paid = Fen(paid[0][0].i64().unwrap_or_default());
            if paid + amount > order.total {
                return Err(StoreError::invalid_field("amount", format!(
                    "付款合计 {} 元将超过订单金额 {} 元（已付 {} 元）", (paid + amount).yuan_string(), order.total.yuan_string(), paid.yuan_string())));
            }
            tx.exec("INSERT INTO payments (order_id, amount, paid_on, method, reference, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[order_id.into(), amount.0.into(), on.to_string().into(), domain::text::normalize(method).into(),
                  domain::text::normalize(reference).into(), caller.username.clone().into(), now_rfc3339().into()]).await?;
            audit_in(&mut tx, caller, "pay", "order", Some(order_id.to_string()),
                Some(serde_json::json!({"amount": amount, "paid_on": on})), String::new()).await?;
            crate::commit!(tx)?;
            Ok(())
        })
    }
}

/// Attributes a received order's lines; returns the total attributed.
async fn attribute_order_in<T: Tx>(tx: &mut T, order: &Order) -> StoreResult<Fen> {
    let mut total = Fen::ZERO;
    let now = now_rfc3339();
    let year = i64::from(order.order_date.year());
    for line in &order.lines {
        let links: Vec<_> = links_of_supplier_in(tx, line.supplier_id)
            .await?
            .into_iter()
            .map(|l| (l.id, l.link))
            .collect();
        let parts = attribute(line.amount, order.order_date, &links);
        write_attribution(
            tx,
            order.id,
            line.id,
            line.supplier_id,
            year,
            &parts,
            false,
            &now,
        )
        .await?;
        total = total + parts.iter().map(|p| p.amount).sum::<Fen>();
    }
    Ok(total)
}

/// Appends the negation of every attribution line of a received order; returns the total reversed.
async fn reverse_order_in<T: Tx>(tx: &mut T, order: &Order) -> StoreResult<Fen> {
    let rows = tx
        .rows(
            "SELECT order_line_id, supplier_id, benefit_link_id, household_id, amount FROM attributions
             WHERE order_id = $1 AND reversal = $2 ORDER BY id",
            &[order.id.into(), false.into()],
            &[Ty::I64, Ty::I64, Ty::I64, Ty::I64, Ty::I64],
        )
        .await?;
    let now = now_rfc3339();
    let year = i64::from(order.order_date.year());
    let mut total = Fen::ZERO;
    for r in &rows {
        let line = [AttributionLine {
            link_id: r[2].i64().unwrap_or_default(),
            household_id: r[3].i64().unwrap_or_default(),
            amount: Fen(r[4].i64().unwrap_or_default()),
        }];
        let undo = reverse(&line);
        write_attribution(
            tx,
            order.id,
            r[0].i64().unwrap_or_default(),
            r[1].i64().unwrap_or_default(),
            year,
            &undo,
            true,
            &now,
        )
        .await?;
        total = total + undo[0].amount;
    }
    Ok(total)
}

#[allow(clippy::too_many_arguments)]
async fn write_attribution<T: Tx>(
    tx: &mut T,
    order_id: i64,
    line_id: i64,
    supplier_id: i64,
    year: i64,
    parts: &[AttributionLine],
    reversal: bool,
    now: &str,
) -> StoreResult<()> {
    for p in parts {
        tx.exec(
            "INSERT INTO attributions (order_id, order_line_id, household_id, benefit_link_id, supplier_id, year, amount, reversal, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[order_id.into(), line_id.into(), p.household_id.into(), p.link_id.into(), supplier_id.into(), year.into(),
              p.amount.0.into(), reversal.into(), now.into()],
        )
        .await?;
    }
    Ok(())
}
