//! Orders: who buys (DOMAIN.md §9's buyer types), through which channel, and the states an
//! order goes through, each dated: placed → confirmed → shipped → received, or cancelled
//! before it ships, or refunded once received. Only a received order's value is attributed to
//! households; a refund reverses that attribution.

use crate::date::Date;
use crate::kinds::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary! {
    BuyerType {
        BudgetUnit => ("budget_unit", "预算单位"),
        TradeUnion => ("trade_union", "工会"),
        StateEnterprise => ("state_enterprise", "国有企业"),
        PrivateCompany => ("private_company", "民营企业"),
        Individual => ("individual", "个人"),
    }
}

vocabulary! {
    /// Sales channels (SOCIAL.md §1.4, §1.6).
    Channel {
        Platform832 => ("platform_832", "832平台"),
        SanZhuan => ("sanzhuan", "专柜/专馆/专区"),
        Ecommerce => ("ecommerce", "电商平台"),
        Wholesale => ("wholesale", "批发"),
        Direct => ("direct", "直接采购"),
    }
}

vocabulary! {
    OrderState {
        Placed => ("placed", "已下单"),
        Confirmed => ("confirmed", "已确认"),
        Shipped => ("shipped", "已发货"),
        Received => ("received", "已收货"),
        Cancelled => ("cancelled", "已取消"),
        Refunded => ("refunded", "已退款"),
    }
}

impl OrderState {
    /// The states an order may move to from this one.
    pub fn next(self) -> &'static [OrderState] {
        use OrderState::*;
        match self {
            Placed => &[Confirmed, Cancelled],
            Confirmed => &[Shipped, Cancelled],
            Shipped => &[Received],
            Received => &[Refunded],
            Cancelled | Refunded => &[],
        }
    }

    /// Whether the order's value counts as a purchase (and is attributed to households).
    pub fn counts(self) -> bool {
        self == OrderState::Received
    }
}

impl BuyerType {
    /// Individual buyers are people: their names and phones are masked like registry data.
    pub fn is_person(self) -> bool {
        self == BuyerType::Individual
    }
}

/// Checks moving an order from `from` (entered on `last_on`) to `to` on `on`.
pub fn check_order_transition(
    from: OrderState,
    to: OrderState,
    last_on: Date,
    on: Date,
    today: Date,
) -> Result<(), String> {
    if !from.next().contains(&to) {
        let allowed: Vec<&str> = from.next().iter().map(|s| s.name_zh()).collect();
        let allowed = if allowed.is_empty() {
            "订单已结束，不能再变更".to_string()
        } else {
            format!("只能变为：{}", allowed.join("、"))
        };
        return Err(format!(
            "订单状态不能由“{}”变为“{}”；{allowed}",
            from.name_zh(),
            to.name_zh()
        ));
    }
    if on < last_on {
        return Err(format!(
            "“{}”的日期 {on} 早于“{}”的日期 {last_on}",
            to.name_zh(),
            from.name_zh()
        ));
    }
    if on > today {
        return Err(format!("“{}”的日期 {on} 晚于今天（{today}）", to.name_zh()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderState::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn only_the_listed_transitions_are_allowed() {
        let ok =
            |a, b| check_order_transition(a, b, d("2021-05-01"), d("2021-05-02"), d("2021-06-01"));
        let allowed = [
            (Placed, Confirmed),
            (Placed, Cancelled),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Received),
            (Received, Refunded),
        ];
        for a in OrderState::ALL {
            for b in OrderState::ALL {
                assert_eq!(ok(*a, *b).is_ok(), allowed.contains(&(*a, *b)), "{a} → {b}");
            }
        }
        let err = ok(Shipped, Cancelled).unwrap_err();
        assert!(err.contains("只能变为：已收货"), "{err}");
        assert!(ok(Refunded, Received).unwrap_err().contains("订单已结束"));
        assert!(Received.counts() && !Refunded.counts() && !Shipped.counts());
    }

    #[test]
    fn transitions_are_dated_in_order_and_not_in_the_future() {
        let err = check_order_transition(
            Placed,
            Confirmed,
            d("2021-05-02"),
            d("2021-05-01"),
            d("2021-06-01"),
        )
        .unwrap_err();
        assert!(err.contains("早于"), "{err}");
        let err = check_order_transition(
            Placed,
            Confirmed,
            d("2021-05-02"),
            d("2021-06-02"),
            d("2021-06-01"),
        )
        .unwrap_err();
        assert!(err.contains("晚于今天"), "{err}");
        assert!(
            check_order_transition(
                Placed,
                Confirmed,
                d("2021-05-02"),
                d("2021-05-02"),
                d("2021-06-01")
            )
            .is_ok()
        );
    }

    #[test]
    fn vocabularies_parse_both_ways() {
        assert_eq!(Channel::parse("832平台"), Some(Channel::Platform832));
        assert_eq!(BuyerType::parse("trade_union"), Some(BuyerType::TradeUnion));
        assert!(BuyerType::Individual.is_person() && !BuyerType::BudgetUnit.is_person());
    }
}
