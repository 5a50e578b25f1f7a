//! Attribution: the value of a received order line flows to its supplier and, through the
//! supplier's benefit links that count on the order's date, to households (帮扶带动收入). The
//! split is exact in fen and adds up to the line's value whenever at least one link counts:
//!
//! - share links (`BenefitTerms::Share`) take their share of the value;
//! - the rest (100% minus the shares, never below 0) is split over the amount links
//!   (`BenefitTerms::Amount`) in proportion to their amounts;
//! - without amount links, the whole value is split over the share links by their shares.
//!
//! Both splits are [`split_largest_remainder`], so each is deterministic and exact. A refund
//! reverses exactly the stored lines ([`reverse`]), never a recomputation, so a link changed in
//! between cannot leave a fen behind.

use super::benefit::{BenefitLink, BenefitTerms, WHOLE_BP};
use crate::date::Date;
use crate::money::{Fen, split_largest_remainder};
use serde::{Deserialize, Serialize};

/// One household's part of one order line, through one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionLine {
    pub link_id: i64,
    pub household_id: i64,
    pub amount: Fen,
}

/// Splits `value` (an order line dated `date`) over the links (id, link) that count on that
/// date. No link counts → no lines (the value stays with the supplier). Lines of zero fen are
/// left out.
pub fn attribute(value: Fen, date: Date, links: &[(i64, BenefitLink)]) -> Vec<AttributionLine> {
    let counting: Vec<&(i64, BenefitLink)> =
        links.iter().filter(|(_, l)| l.counts_on(date)).collect();
    let shares: Vec<(&(i64, BenefitLink), u64)> = counting
        .iter()
        .filter_map(|e| match e.1.terms {
            BenefitTerms::Share(bp) => Some((*e, u64::from(bp))),
            BenefitTerms::Amount(_) => None,
        })
        .collect();
    let amounts: Vec<(&(i64, BenefitLink), u64)> = counting
        .iter()
        .filter_map(|e| match e.1.terms {
            BenefitTerms::Amount(a) => Some((*e, a.0.max(0) as u64)),
            BenefitTerms::Share(_) => None,
        })
        .collect();
    let mut parts: Vec<(&(i64, BenefitLink), Fen)> = Vec::new();
    if amounts.is_empty() {
        let weights: Vec<u64> = shares.iter().map(|(_, w)| *w).collect();
        parts.extend(
            shares
                .iter()
                .zip(split_largest_remainder(value, &weights))
                .map(|((l, _), f)| (*l, f)),
        );
    } else {
        let share_sum: u64 = shares.iter().map(|(_, w)| *w).sum();
        let mut weights: Vec<u64> = shares.iter().map(|(_, w)| *w).collect();
        weights.push(u64::from(WHOLE_BP).saturating_sub(share_sum));
        let first = split_largest_remainder(value, &weights);
        let rest = *first.last().expect("one weight for the amount links");
        parts.extend(shares.iter().zip(&first).map(|((l, _), f)| (*l, *f)));
        let weights: Vec<u64> = amounts.iter().map(|(_, w)| *w).collect();
        parts.extend(
            amounts
                .iter()
                .zip(split_largest_remainder(rest, &weights))
                .map(|((l, _), f)| (*l, f)),
        );
    }
    parts
        .into_iter()
        .filter(|(_, f)| !f.is_zero())
        .map(|((id, l), amount)| AttributionLine {
            link_id: *id,
            household_id: l.household_id,
            amount,
        })
        .collect()
}

/// The lines that undo `lines` exactly (a refund).
pub fn reverse(lines: &[AttributionLine]) -> Vec<AttributionLine> {
    lines
        .iter()
        .map(|l| AttributionLine {
            amount: -l.amount,
            ..*l
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumption::benefit::{BenefitType, Verification};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn link(household_id: i64, terms: BenefitTerms) -> BenefitLink {
        BenefitLink {
            household_id,
            kind: BenefitType::Wages,
            from: d("2021-01-01"),
            to: Some(d("2021-12-31")),
            terms,
            evidence: "合同".into(),
            verification: Some(Verification {
                on: d("2021-01-02"),
                by: "核实人".into(),
            }),
        }
    }

    fn by_household(lines: &[AttributionLine]) -> BTreeMap<i64, Fen> {
        let mut m = BTreeMap::new();
        for l in lines {
            let e = m.entry(l.household_id).or_insert(Fen::ZERO);
            *e = *e + l.amount;
        }
        m
    }

    #[test]
    fn amounts_split_in_proportion_and_add_up_to_the_fen() {
        let links = [
            (10, link(1, BenefitTerms::Amount(Fen::from_yuan(1000)))),
            (11, link(2, BenefitTerms::Amount(Fen::from_yuan(2000)))),
        ];
        let lines = attribute(Fen(100), d("2021-06-01"), &links);
        assert_eq!(
            lines.iter().map(|l| l.amount).collect::<Vec<_>>(),
            [Fen(33), Fen(67)]
        );
        assert_eq!(lines[1].link_id, 11);
    }

    #[test]
    fn shares_take_their_share_and_amount_links_the_rest() {
        let links = [
            (1, link(1, BenefitTerms::Share(1_000))), // 10%
            (2, link(2, BenefitTerms::Amount(Fen::from_yuan(10)))),
            (3, link(3, BenefitTerms::Amount(Fen::from_yuan(30)))),
        ];
        let lines = attribute(Fen(10_000), d("2021-06-01"), &links);
        let m = by_household(&lines);
        assert_eq!(m[&1], Fen(1_000));
        assert_eq!(m[&2], Fen(2_250));
        assert_eq!(m[&3], Fen(6_750));
    }

    #[test]
    fn only_shares_split_the_whole_value_by_their_shares() {
        let links = [
            (1, link(1, BenefitTerms::Share(500))),
            (2, link(2, BenefitTerms::Share(1_500))),
        ];
        let m = by_household(&attribute(Fen(1_000), d("2021-06-01"), &links));
        assert_eq!((m[&1], m[&2]), (Fen(250), Fen(750)));
    }

    #[test]
    fn links_outside_their_period_or_unverified_carry_nothing() {
        let mut unverified = link(2, BenefitTerms::Amount(Fen(5)));
        unverified.verification = None;
        let links = [(1, link(1, BenefitTerms::Amount(Fen(5)))), (2, unverified)];
        assert_eq!(attribute(Fen(999), d("2022-01-01"), &links), []);
        let lines = attribute(Fen(999), d("2021-12-31"), &links);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount, Fen(999));
    }

    fn terms() -> impl Strategy<Value = BenefitTerms> {
        prop_oneof![
            (1i64..10_000_000).prop_map(|f| BenefitTerms::Amount(Fen(f))),
            (1u32..=WHOLE_BP).prop_map(BenefitTerms::Share),
        ]
    }

    proptest! {
        /// Whenever a link counts, the lines add up to the value exactly, no line is negative,
        /// and the reversal brings every household back to zero, to the fen.
        #[test]
        fn attribution_is_exact_and_a_refund_undoes_it(
            value in 0i64..1_000_000_000_000,
            links in prop::collection::vec((1i64..6, terms(), any::<bool>()), 1..12),
        ) {
            let links: Vec<(i64, BenefitLink)> = links
                .into_iter()
                .enumerate()
                .map(|(i, (h, t, in_period))| {
                    let mut l = link(h, t);
                    if !in_period {
                        l.to = Some(d("2021-03-31"));
                    }
                    (i as i64, l)
                })
                .collect();
            let date = d("2021-06-01");
            let lines = attribute(Fen(value), date, &links);
            let any_counts = links.iter().any(|(_, l)| l.counts_on(date));
            let sum: Fen = lines.iter().map(|l| l.amount).sum();
            prop_assert_eq!(sum, if any_counts { Fen(value) } else { Fen::ZERO });
            prop_assert!(lines.iter().all(|l| l.amount.0 > 0));
            prop_assert!(lines.iter().all(|l| links[l.link_id as usize].1.counts_on(date)));
            let mut all = lines.clone();
            all.extend(reverse(&lines));
            prop_assert!(by_household(&all).values().all(|f| f.is_zero()));
        }
    }
}
