//! The consumption-aid rules that are data (SOCIAL.md §5: do not hard-code): the days of 公示
//! and the 832 quota of budget units (SOCIAL.md §1.4: from 2021 at least 10% of annual canteen
//! food purchasing through 832, 财库〔2021〕19号/20号; units without a canteen have no quota;
//! trade-union purchases and staff purchases through the 832 mini-program count, 财政部 2022).
//! The store keeps every edited rule set as a new version; these defaults seed version 1.

use crate::money::Fen;
use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

use super::benefit::WHOLE_BP;

/// The quota in force from a year on (until a rule with a later `from_year`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRule {
    pub from_year: i32,
    /// Share of the canteen food purchasing total, in basis points (1000 = 10%).
    pub share_bp: u32,
    pub trade_union_counted: bool,
    pub staff_counted: bool,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumptionRules {
    /// Days of 公示 before a certificate may be listed.
    pub publicity_days: u32,
    pub quota: Vec<QuotaRule>,
}

impl Default for ConsumptionRules {
    fn default() -> Self {
        ConsumptionRules {
            publicity_days: 7,
            quota: vec![QuotaRule {
                from_year: 2021,
                share_bp: 1_000,
                trade_union_counted: true,
                staff_counted: true,
                source: "财库〔2021〕19号、20号；工会与职工经832小程序采购计入：财政部2022年通知（SOCIAL.md §1.4）".into(),
            }],
        }
    }
}

impl ConsumptionRules {
    /// The quota rule for `year`: the one with the latest `from_year` not after it.
    pub fn quota_for(&self, year: i32) -> Option<&QuotaRule> {
        self.quota
            .iter()
            .filter(|r| r.from_year <= year)
            .max_by_key(|r| r.from_year)
    }

    pub fn validate(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if !(1..=90).contains(&self.publicity_days) {
            problems.push(FieldError::new(
                "publicity_days",
                format!(
                    "公示天数须在 1 到 90 天之间，实际为 {}",
                    self.publicity_days
                ),
            ));
        }
        for (i, r) in self.quota.iter().enumerate() {
            if r.share_bp > WHOLE_BP {
                problems.push(FieldError::new(
                    format!("quota[{i}].share_bp"),
                    format!(
                        "预留比例不能超过 100%（{WHOLE_BP} 个基点），实际为 {}",
                        r.share_bp
                    ),
                ));
            }
            if self.quota[..i].iter().any(|o| o.from_year == r.from_year) {
                problems.push(FieldError::new(
                    format!("quota[{i}].from_year"),
                    format!("{} 年起的预留比例规定重复", r.from_year),
                ));
            }
        }
        problems
    }
}

/// A budget unit's 832 purchases in a year, by who bought them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaPurchases {
    pub own: Fen,
    pub trade_union: Fen,
    pub staff: Fen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum QuotaOutcome {
    /// No quota rule for that year.
    NoQuota,
    /// "无食堂" units have no quota.
    NoCanteen,
    Meets {
        required: Fen,
        counted: Fen,
    },
    Below {
        required: Fen,
        counted: Fen,
        short: Fen,
    },
}

impl QuotaOutcome {
    pub fn is_below(&self) -> bool {
        matches!(self, QuotaOutcome::Below { .. })
    }
}

/// Whether a unit's 832 purchases meet the quota on its canteen food purchasing total. The
/// required amount is rounded up to the fen ("at least" the share).
pub fn check_quota(
    rule: Option<&QuotaRule>,
    has_canteen: bool,
    canteen_total: Fen,
    bought: QuotaPurchases,
) -> QuotaOutcome {
    let Some(rule) = rule else {
        return QuotaOutcome::NoQuota;
    };
    if !has_canteen {
        return QuotaOutcome::NoCanteen;
    }
    let product = i128::from(canteen_total.0.max(0)) * i128::from(rule.share_bp);
    let whole = i128::from(WHOLE_BP);
    let required = Fen(((product + whole - 1) / whole) as i64);
    let mut counted = bought.own;
    if rule.trade_union_counted {
        counted = counted + bought.trade_union;
    }
    if rule.staff_counted {
        counted = counted + bought.staff;
    }
    if counted >= required {
        QuotaOutcome::Meets { required, counted }
    } else {
        QuotaOutcome::Below {
            required,
            counted,
            short: required - counted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bought(own: i64, tu: i64, staff: i64) -> QuotaPurchases {
        QuotaPurchases {
            own: Fen(own),
            trade_union: Fen(tu),
            staff: Fen(staff),
        }
    }

    #[test]
    fn ten_percent_from_2021_and_no_quota_before() {
        let rules = ConsumptionRules::default();
        assert_eq!(rules.quota_for(2020), None);
        assert_eq!(rules.quota_for(2021).unwrap().share_bp, 1_000);
        assert_eq!(rules.quota_for(2025).unwrap().from_year, 2021);
        assert_eq!(
            check_quota(rules.quota_for(2020), true, Fen(1_000_000), bought(0, 0, 0)),
            QuotaOutcome::NoQuota
        );
        assert!(rules.validate().is_empty());
    }

    #[test]
    fn exactly_at_the_share_meets_one_fen_short_is_below_by_one_fen() {
        let rules = ConsumptionRules::default();
        let rule = rules.quota_for(2021);
        assert_eq!(
            check_quota(rule, true, Fen(1_000_000), bought(100_000, 0, 0)),
            QuotaOutcome::Meets {
                required: Fen(100_000),
                counted: Fen(100_000)
            }
        );
        assert_eq!(
            check_quota(rule, true, Fen(1_000_000), bought(99_999, 0, 0)),
            QuotaOutcome::Below {
                required: Fen(100_000),
                counted: Fen(99_999),
                short: Fen(1)
            }
        );
        // 10% of 1,000,001 fen is 100,000.1 fen: at least that means 100,001.
        assert!(check_quota(rule, true, Fen(1_000_001), bought(100_000, 0, 0)).is_below());
    }

    #[test]
    fn trade_union_and_staff_count_as_the_rule_says_and_units_without_canteen_are_exempt() {
        let mut rules = ConsumptionRules::default();
        let total = Fen(1_000_000);
        assert!(
            !check_quota(
                rules.quota_for(2022),
                true,
                total,
                bought(50_000, 30_000, 20_000)
            )
            .is_below()
        );
        assert_eq!(
            check_quota(rules.quota_for(2022), false, total, bought(0, 0, 0)),
            QuotaOutcome::NoCanteen
        );
        rules.quota.push(QuotaRule {
            from_year: 2024,
            share_bp: 1_500,
            trade_union_counted: false,
            staff_counted: true,
            source: "测试".into(),
        });
        assert_eq!(
            check_quota(
                rules.quota_for(2024),
                true,
                total,
                bought(50_000, 30_000, 20_000)
            ),
            QuotaOutcome::Below {
                required: Fen(150_000),
                counted: Fen(70_000),
                short: Fen(80_000)
            }
        );
    }

    #[test]
    fn invalid_rules_are_named() {
        let mut rules = ConsumptionRules {
            publicity_days: 0,
            ..ConsumptionRules::default()
        };
        rules.quota.push(QuotaRule {
            share_bp: 10_001,
            ..rules.quota[0].clone()
        });
        let fields: Vec<String> = rules.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["publicity_days", "quota[1].share_bp", "quota[1].from_year"]
        );
    }
}
