//! Product certification (扶贫产品认定, SOCIAL.md §1.2): 主体申请 → 镇办初审 → 行业复审 → 县级审定
//! → 公示 → listed in the catalogue; a yearly review; revocation with a reason. Each step is dated
//! and attributed by the store; here are the allowed steps and what each does to the
//! certificate. The length of validity is unconfirmed (SOCIAL.md §5), so the county's decision
//! states it; the days of 公示 come from the versioned rules.

use crate::date::Date;
use crate::kinds::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary! {
    CertState {
        Applied => ("applied", "已申请"),
        TownReviewed => ("town_reviewed", "镇级初审通过"),
        SectorReviewed => ("sector_reviewed", "行业复审通过"),
        CountyDecided => ("county_decided", "县级审定通过"),
        InPublicity => ("publicity", "公示中"),
        Listed => ("listed", "已列入目录"),
        Rejected => ("rejected", "未通过认定"),
        Revoked => ("revoked", "已撤销"),
    }
}

/// One step of the procedure, with what it decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CertStep {
    TownReview {
        passed: bool,
        opinion: String,
    },
    SectorReview {
        passed: bool,
        opinion: String,
    },
    CountyDecision {
        passed: bool,
        opinion: String,
        /// The certificate's number and batch, given when the county approves.
        number: String,
        batch: String,
        valid_from: Date,
        valid_to: Date,
    },
    /// 公示 for `days` days from the step's date (the rule in force).
    Publicity {
        days: u32,
    },
    List,
    YearlyReview {
        passed: bool,
        opinion: String,
        /// A passed review may extend the validity.
        valid_to: Option<Date>,
    },
    Revoke {
        reason: String,
    },
}

impl CertStep {
    pub fn name_zh(&self) -> &'static str {
        match self {
            CertStep::TownReview { .. } => "镇级初审",
            CertStep::SectorReview { .. } => "行业复审",
            CertStep::CountyDecision { .. } => "县级审定",
            CertStep::Publicity { .. } => "公示",
            CertStep::List => "列入目录",
            CertStep::YearlyReview { .. } => "年度复核",
            CertStep::Revoke { .. } => "撤销",
        }
    }

    pub fn key(&self) -> &'static str {
        match self {
            CertStep::TownReview { .. } => "town_review",
            CertStep::SectorReview { .. } => "sector_review",
            CertStep::CountyDecision { .. } => "county_decision",
            CertStep::Publicity { .. } => "publicity",
            CertStep::List => "list",
            CertStep::YearlyReview { .. } => "yearly_review",
            CertStep::Revoke { .. } => "revoke",
        }
    }
}

/// A certificate (or an application that has not become one yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub state: CertState,
    pub applied_on: Date,
    /// Date of the latest step; the next one may not be earlier.
    pub last_step_on: Date,
    pub number: Option<String>,
    pub batch: Option<String>,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    /// Last day of the 公示.
    pub publicity_ends: Option<Date>,
    pub listed_on: Option<Date>,
    pub revoked_on: Option<Date>,
    pub revoke_reason: Option<String>,
}

impl Certificate {
    pub fn applied(on: Date) -> Certificate {
        Certificate {
            state: CertState::Applied,
            applied_on: on,
            last_step_on: on,
            number: None,
            batch: None,
            valid_from: None,
            valid_to: None,
            publicity_ends: None,
            listed_on: None,
            revoked_on: None,
            revoke_reason: None,
        }
    }

    /// How the certificate is named in messages: its number, or the application until it has one.
    pub fn label(&self, id: i64) -> String {
        match &self.number {
            Some(n) => format!("认定证书 {n}"),
            None => format!("认定申请 {id}"),
        }
    }

    /// The certificate after `step` taken on `on`, or why the step is not allowed now.
    pub fn apply(&self, step: &CertStep, on: Date, today: Date) -> Result<Certificate, String> {
        use CertState::*;
        if on > today {
            return Err(format!("{}日期 {on} 晚于今天（{today}）", step.name_zh()));
        }
        if on < self.last_step_on {
            return Err(format!(
                "{}日期 {on} 早于上一步骤的日期 {}",
                step.name_zh(),
                self.last_step_on
            ));
        }
        let needs = |state: CertState| -> Result<(), String> {
            if self.state == state {
                Ok(())
            } else {
                Err(format!(
                    "当前状态为“{}”，不能进行{}（须在“{}”之后）",
                    self.state.name_zh(),
                    step.name_zh(),
                    state.name_zh()
                ))
            }
        };
        let opinion_needed = |passed: bool, opinion: &str| -> Result<(), String> {
            if !passed && crate::text::normalize(opinion).is_empty() {
                Err(format!("{}未通过时须填写意见", step.name_zh()))
            } else {
                Ok(())
            }
        };
        let mut next = self.clone();
        next.last_step_on = on;
        let passed_or_rejected =
            |passed: bool, then: CertState| if passed { then } else { Rejected };
        match step {
            CertStep::TownReview { passed, opinion } => {
                needs(Applied)?;
                opinion_needed(*passed, opinion)?;
                next.state = passed_or_rejected(*passed, TownReviewed);
            }
            CertStep::SectorReview { passed, opinion } => {
                needs(TownReviewed)?;
                opinion_needed(*passed, opinion)?;
                next.state = passed_or_rejected(*passed, SectorReviewed);
            }
            CertStep::CountyDecision {
                passed,
                opinion,
                number,
                batch,
                valid_from,
                valid_to,
            } => {
                needs(SectorReviewed)?;
                opinion_needed(*passed, opinion)?;
                if *passed {
                    let number = crate::text::normalize(number);
                    if number.is_empty() {
                        return Err("县级审定通过时须填写证书编号".into());
                    }
                    if valid_to < valid_from {
                        return Err(format!(
                            "有效期截止日期 {valid_to} 早于起始日期 {valid_from}"
                        ));
                    }
                    next.number = Some(number);
                    next.batch = Some(crate::text::normalize(batch));
                    next.valid_from = Some(*valid_from);
                    next.valid_to = Some(*valid_to);
                }
                next.state = passed_or_rejected(*passed, CountyDecided);
            }
            CertStep::Publicity { days } => {
                needs(CountyDecided)?;
                if *days == 0 {
                    return Err("公示天数须至少 1 天".into());
                }
                next.publicity_ends = Some(on.plus_days(i64::from(*days) - 1));
                next.state = InPublicity;
            }
            CertStep::List => {
                needs(InPublicity)?;
                let ends = self.publicity_ends.expect("a publicity has its end");
                if on <= ends {
                    return Err(format!(
                        "公示至 {ends} 结束，{} 起才能列入目录",
                        ends.plus_days(1)
                    ));
                }
                next.listed_on = Some(on);
                next.state = Listed;
            }
            CertStep::YearlyReview {
                passed,
                opinion,
                valid_to,
            } => {
                needs(Listed)?;
                opinion_needed(*passed, opinion)?;
                if *passed {
                    if let Some(to) = valid_to {
                        let from = self
                            .valid_from
                            .expect("a listed certificate has its validity");
                        if *to < from {
                            return Err(format!("有效期截止日期 {to} 早于起始日期 {from}"));
                        }
                        next.valid_to = Some(*to);
                    }
                } else {
                    next.state = Revoked;
                    next.revoked_on = Some(on);
                    next.revoke_reason = Some(format!("年度复核未通过：{}", opinion.trim()));
                }
            }
            CertStep::Revoke { reason } => {
                if !matches!(self.state, CountyDecided | InPublicity | Listed) {
                    return Err(format!(
                        "当前状态为“{}”，不能撤销（只有审定通过、公示中或已列入目录的证书可以撤销）",
                        self.state.name_zh()
                    ));
                }
                let reason = crate::text::normalize(reason);
                if reason.is_empty() {
                    return Err("撤销须填写原因".into());
                }
                next.state = Revoked;
                next.revoked_on = Some(on);
                next.revoke_reason = Some(reason);
            }
        }
        Ok(next)
    }

    /// Whether an order dated `date` may buy under this certificate: listed by then, within
    /// its validity, not revoked by then. Orders dated before a revocation or expiry stay valid.
    pub fn valid_on(&self, date: Date) -> Result<(), InvalidReason> {
        let Some(listed_on) = self.listed_on else {
            return Err(InvalidReason::NotListed);
        };
        if date < listed_on {
            return Err(InvalidReason::ListedLater(listed_on));
        }
        if let Some(on) = self.revoked_on
            && on <= date
        {
            return Err(InvalidReason::Revoked {
                on,
                reason: self.revoke_reason.clone().unwrap_or_default(),
            });
        }
        let (from, to) = (
            self.valid_from
                .expect("a listed certificate has its validity"),
            self.valid_to
                .expect("a listed certificate has its validity"),
        );
        if date < from {
            return Err(InvalidReason::NotYetValid(from));
        }
        if date > to {
            return Err(InvalidReason::Expired(to));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum InvalidReason {
    /// The product has no certificate at all.
    NoCertificate,
    NotListed,
    ListedLater(Date),
    NotYetValid(Date),
    Expired(Date),
    Revoked {
        on: Date,
        reason: String,
    },
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidReason::NoCertificate => write!(f, "该产品没有认定证书"),
            InvalidReason::NotListed => write!(f, "尚未列入目录"),
            InvalidReason::ListedLater(on) => write!(f, "{on} 才列入目录"),
            InvalidReason::NotYetValid(from) => write!(f, "有效期自 {from} 起"),
            InvalidReason::Expired(to) => write!(f, "有效期已于 {to} 届满"),
            InvalidReason::Revoked { on, reason } => write!(f, "已于 {on} 撤销（{reason}）"),
        }
    }
}

/// An order refused because its product was not certified on its date: names the product,
/// the certificate and the date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("产品“{product}”的{certificate} 在 {date} 无效：{reason}")]
pub struct CertificateInvalid {
    pub product: String,
    /// "认定证书 <number>" (or "认定申请 <id>"); "认定证书" when there is none.
    pub certificate: String,
    pub date: Date,
    pub reason: InvalidReason,
}

/// The certificate (id) under which a product may be bought on `date`, among its certificates
/// (in the order they were applied for); when none is valid, why, naming the newest listed one
/// (or the newest at all).
pub fn valid_certificate_on(
    product: &str,
    certificates: &[(i64, Certificate)],
    date: Date,
) -> Result<i64, CertificateInvalid> {
    if let Some((id, _)) = certificates.iter().find(|(_, c)| c.valid_on(date).is_ok()) {
        return Ok(*id);
    }
    let named = certificates
        .iter()
        .rev()
        .find(|(_, c)| c.listed_on.is_some())
        .or(certificates.last());
    let (certificate, reason) = match named {
        Some((id, c)) => (c.label(*id), c.valid_on(date).unwrap_err()),
        None => ("认定证书".to_string(), InvalidReason::NoCertificate),
    };
    Err(CertificateInvalid {
        product: product.to_string(),
        certificate,
        date,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    const TODAY: &str = "2023-12-31";

    fn step(c: &Certificate, s: CertStep, on: &str) -> Result<Certificate, String> {
        c.apply(&s, d(on), d(TODAY))
    }

    fn review(passed: bool) -> (bool, String) {
        (
            passed,
            if passed {
                String::new()
            } else {
                "材料不全".into()
            },
        )
    }

    /// Applied 2021-01-04, listed 2021-01-20, valid 2021-01-15 … 2021-12-31.
    fn listed() -> Certificate {
        let c = Certificate::applied(d("2021-01-04"));
        let (p, o) = review(true);
        let c = step(
            &c,
            CertStep::TownReview {
                passed: p,
                opinion: o.clone(),
            },
            "2021-01-05",
        )
        .unwrap();
        let c = step(
            &c,
            CertStep::SectorReview {
                passed: p,
                opinion: o.clone(),
            },
            "2021-01-06",
        )
        .unwrap();
        let c = step(
            &c,
            CertStep::CountyDecision {
                passed: true,
                opinion: o,
                number: "FP-2021-001".into(),
                batch: "2021年第一批".into(),
                valid_from: d("2021-01-15"),
                valid_to: d("2021-12-31"),
            },
            "2021-01-08",
        )
        .unwrap();
        let c = step(&c, CertStep::Publicity { days: 7 }, "2021-01-10").unwrap();
        assert_eq!(c.publicity_ends, Some(d("2021-01-16")));
        step(&c, CertStep::List, "2021-01-20").unwrap()
    }

    #[test]
    fn the_procedure_runs_in_order_and_each_step_needs_the_one_before() {
        let c = Certificate::applied(d("2021-01-04"));
        let err = step(
            &c,
            CertStep::SectorReview {
                passed: true,
                opinion: String::new(),
            },
            "2021-01-05",
        )
        .unwrap_err();
        assert!(
            err.contains("已申请") && err.contains("镇级初审通过"),
            "{err}"
        );
        let err = step(&c, CertStep::List, "2021-01-05").unwrap_err();
        assert!(err.contains("公示中"), "{err}");
        let c = listed();
        assert_eq!(c.state, CertState::Listed);
        assert_eq!(c.number.as_deref(), Some("FP-2021-001"));
        assert!(step(&c, CertStep::Publicity { days: 7 }, "2021-02-01").is_err());
    }

    #[test]
    fn listing_waits_for_the_end_of_the_publicity() {
        let c = listed();
        let mut before = c.clone();
        before.state = CertState::InPublicity;
        before.listed_on = None;
        before.last_step_on = d("2021-01-10");
        let err = step(&before, CertStep::List, "2021-01-16").unwrap_err();
        assert!(err.contains("2021-01-17 起"), "{err}");
        assert!(step(&before, CertStep::List, "2021-01-17").is_ok());
        assert!(step(&before, CertStep::Publicity { days: 0 }, "2021-01-17").is_err());
    }

    #[test]
    fn rejections_need_an_opinion_and_end_the_procedure() {
        let c = Certificate::applied(d("2021-01-04"));
        let err = step(
            &c,
            CertStep::TownReview {
                passed: false,
                opinion: " ".into(),
            },
            "2021-01-05",
        )
        .unwrap_err();
        assert!(err.contains("须填写意见"));
        let (p, o) = review(false);
        let r = step(
            &c,
            CertStep::TownReview {
                passed: p,
                opinion: o,
            },
            "2021-01-05",
        )
        .unwrap();
        assert_eq!(r.state, CertState::Rejected);
        assert!(
            step(
                &r,
                CertStep::SectorReview {
                    passed: true,
                    opinion: String::new()
                },
                "2021-01-06"
            )
            .is_err()
        );
        assert!(step(&r, CertStep::Revoke { reason: "x".into() }, "2021-01-06").is_err());
    }

    #[test]
    fn steps_are_dated_in_order_and_not_in_the_future() {
        let c = Certificate::applied(d("2021-01-04"));
        let s = CertStep::TownReview {
            passed: true,
            opinion: String::new(),
        };
        assert!(
            step(&c, s.clone(), "2021-01-03")
                .unwrap_err()
                .contains("早于上一步骤")
        );
        assert!(
            c.apply(&s, d("2024-01-01"), d(TODAY))
                .unwrap_err()
                .contains("晚于今天")
        );
        assert!(step(&c, s, "2021-01-04").is_ok(), "the same day is fine");
    }

    #[test]
    fn a_certificate_is_valid_from_listing_within_its_validity_until_revoked() {
        let c = listed();
        assert_eq!(
            c.valid_on(d("2021-01-19")),
            Err(InvalidReason::ListedLater(d("2021-01-20")))
        );
        assert_eq!(c.valid_on(d("2021-01-20")), Ok(()));
        assert_eq!(
            c.valid_on(d("2021-12-31")),
            Ok(()),
            "the last day of validity"
        );
        assert_eq!(
            c.valid_on(d("2022-01-01")),
            Err(InvalidReason::Expired(d("2021-12-31")))
        );
        let revoked = step(
            &c,
            CertStep::Revoke {
                reason: "抽检不合格".into(),
            },
            "2021-06-01",
        )
        .unwrap();
        assert_eq!(
            revoked.valid_on(d("2021-05-31")),
            Ok(()),
            "orders before stay valid"
        );
        assert!(matches!(
            revoked.valid_on(d("2021-06-01")),
            Err(InvalidReason::Revoked { .. })
        ));
        assert_eq!(
            Certificate::applied(d("2021-01-04")).valid_on(d("2021-02-01")),
            Err(InvalidReason::NotListed)
        );
    }

    #[test]
    fn a_yearly_review_extends_or_revokes() {
        let c = listed();
        let ext = step(
            &c,
            CertStep::YearlyReview {
                passed: true,
                opinion: String::new(),
                valid_to: Some(d("2022-12-31")),
            },
            "2021-12-20",
        )
        .unwrap();
        assert_eq!(ext.state, CertState::Listed);
        assert_eq!(ext.valid_on(d("2022-06-01")), Ok(()));
        let failed = step(
            &c,
            CertStep::YearlyReview {
                passed: false,
                opinion: "带贫机制未落实".into(),
                valid_to: None,
            },
            "2021-12-20",
        )
        .unwrap();
        assert_eq!(failed.state, CertState::Revoked);
        match failed.valid_on(d("2021-12-20")) {
            Err(InvalidReason::Revoked { reason, .. }) => {
                assert!(reason.contains("带贫机制未落实"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_refusal_names_product_certificate_and_date() {
        let certs = [(7, listed())];
        assert_eq!(
            valid_certificate_on("紫金蜂蜜", &certs, d("2021-12-31")),
            Ok(7)
        );
        let err = valid_certificate_on("紫金蜂蜜", &certs, d("2022-01-01")).unwrap_err();
        let msg = err.to_string();
        assert_eq!(
            msg,
            "产品“紫金蜂蜜”的认定证书 FP-2021-001 在 2022-01-01 无效：有效期已于 2021-12-31 届满"
        );
        let none = valid_certificate_on("无证产品", &[], d("2022-01-01")).unwrap_err();
        assert_eq!(none.reason, InvalidReason::NoCertificate);
        // A renewed certificate covers the later date; the expired one still covers its own.
        let mut renewed = listed();
        renewed.number = Some("FP-2022-009".into());
        renewed.valid_from = Some(d("2022-01-01"));
        renewed.valid_to = Some(d("2022-12-31"));
        let certs = [(7, listed()), (9, renewed)];
        assert_eq!(
            valid_certificate_on("紫金蜂蜜", &certs, d("2022-01-01")),
            Ok(9)
        );
        assert_eq!(
            valid_certificate_on("紫金蜂蜜", &certs, d("2021-06-01")),
            Ok(7)
        );
    }
}
