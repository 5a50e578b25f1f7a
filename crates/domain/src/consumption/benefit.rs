//! Benefit links (利益联结): how a supplier's business reaches a registry household (SOCIAL.md
//! §1.7). A link names the household, the kind of benefit, the period, what was agreed (an
//! amount, or a share of the supplier's sales), the evidence, and the county's verification,
//! which is a dated attestation by a named person. Only verified links valid on an order's date
//! carry that order's value to households (see `attribution`).

use crate::date::Date;
use crate::kinds::vocabulary;
use crate::money::Fen;
use crate::validation::Problems;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// The three 带贫 mechanisms of SOCIAL.md §1.7 and a catch-all.
    BenefitType {
        Wages => ("wages", "务工"),
        Purchase => ("purchase", "订单/保底收购"),
        Dividend => ("dividend", "入股分红"),
        Other => ("other", "其他"),
    }
}

/// Basis points in a whole (100%).
pub const WHOLE_BP: u32 = 10_000;

/// What the supplier agreed to give the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenefitTerms {
    /// An amount for the period (wages, a purchase contract, a fixed dividend).
    Amount(Fen),
    /// A share of the supplier's sales value, in basis points (1 = 0.01%).
    Share(u32),
}

/// The county's attestation that a link is real.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub on: Date,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenefitLink {
    pub household_id: i64,
    pub kind: BenefitType,
    pub from: Date,
    /// Inclusive; None while the link runs.
    pub to: Option<Date>,
    pub terms: BenefitTerms,
    /// Where the evidence is kept (a file name or reference: 合同, 工资表, 分红清单…).
    pub evidence: String,
    pub verification: Option<Verification>,
}

impl BenefitLink {
    /// Whether `date` lies in the link's period.
    pub fn covers(&self, date: Date) -> bool {
        self.from <= date && self.to.is_none_or(|to| date <= to)
    }

    /// Whether an order dated `date` flows through this link: verified, and in its period.
    pub fn counts_on(&self, date: Date) -> bool {
        self.verification.is_some() && self.covers(date)
    }

    /// Checks a new link's own fields; `prefix` names the fields inside a larger body.
    pub fn check(&self, prefix: &str, problems: &mut Problems) {
        let field = |f: &str| format!("{prefix}{f}");
        if let Some(to) = self.to
            && to < self.from
        {
            problems.push(
                field("to"),
                format!("利益联结的截止日期 {to} 早于起始日期 {}", self.from),
            );
        }
        match self.terms {
            BenefitTerms::Amount(a) if a.0 <= 0 => {
                problems.push(field("amount"), "约定金额须大于 0");
            }
            BenefitTerms::Share(bp) if bp == 0 || bp > WHOLE_BP => {
                problems.push(
                    field("share_bp"),
                    format!(
                        "分成比例须在 0.01% 到 100% 之间（1 到 {WHOLE_BP} 个基点），实际为 {bp}"
                    ),
                );
            }
            _ => {}
        }
        if crate::text::normalize(&self.evidence).is_empty() {
            problems.push(
                field("evidence"),
                "请填写佐证材料（合同、工资表、分红清单等）",
            );
        }
    }
}

/// Checks a verification: by a named person, dated no later than today.
pub fn check_verification(on: Date, by: &str, today: Date) -> Result<(), String> {
    if crate::text::normalize(by).is_empty() {
        return Err("请填写核实人".into());
    }
    if on > today {
        return Err(format!("核实日期 {on} 晚于今天（{today}）"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn link(from: &str, to: Option<&str>, verified: bool) -> BenefitLink {
        BenefitLink {
            household_id: 1,
            kind: BenefitType::Wages,
            from: d(from),
            to: to.map(d),
            terms: BenefitTerms::Amount(Fen::from_yuan(3000)),
            evidence: "2021年务工合同".into(),
            verification: verified.then(|| Verification {
                on: d("2021-01-05"),
                by: "县农业农村局 张三".into(),
            }),
        }
    }

    #[test]
    fn a_link_counts_only_verified_and_inside_its_period_both_ends_included() {
        let l = link("2021-01-01", Some("2021-12-31"), true);
        assert!(l.counts_on(d("2021-01-01")) && l.counts_on(d("2021-12-31")));
        assert!(!l.counts_on(d("2020-12-31")) && !l.counts_on(d("2022-01-01")));
        let open = link("2021-01-01", None, true);
        assert!(open.counts_on(d("2030-06-01")));
        let unverified = link("2021-01-01", None, false);
        assert!(unverified.covers(d("2021-06-01")) && !unverified.counts_on(d("2021-06-01")));
    }

    #[test]
    fn checks_name_the_field_and_why() {
        let mut bad = link("2021-06-01", Some("2021-05-31"), false);
        bad.terms = BenefitTerms::Share(10_001);
        bad.evidence = "  ".into();
        let mut p = Problems::default();
        bad.check("links[0].", &mut p);
        let fields: Vec<&str> = p.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["links[0].to", "links[0].share_bp", "links[0].evidence"]
        );
        assert!(p.0[0].message.contains("2021-05-31"));
        let mut zero = link("2021-01-01", None, false);
        zero.terms = BenefitTerms::Amount(Fen::ZERO);
        let mut p = Problems::default();
        zero.check("", &mut p);
        assert_eq!(p.0[0].field, "amount");
        let mut p = Problems::default();
        link("2021-01-01", Some("2021-01-01"), true).check("", &mut p);
        assert!(p.is_empty(), "a one-day link is valid");
    }

    #[test]
    fn verification_needs_a_person_and_a_past_date() {
        let today = d("2022-03-01");
        assert!(check_verification(d("2022-03-01"), "李四", today).is_ok());
        assert!(
            check_verification(d("2022-03-02"), "李四", today)
                .unwrap_err()
                .contains("晚于今天")
        );
        assert_eq!(
            check_verification(today, " ", today).unwrap_err(),
            "请填写核实人"
        );
    }
}
