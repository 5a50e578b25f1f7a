//! The demo's arithmetic, pure: how the seed's headline figures are split exactly over
//! counties, years, households and projects. Every total is distributed with the largest
//! remainder, so the records add up to the figure to the person and to the fen, whatever the
//! seed; the seed only moves the individual records.

use crate::scenario::{County, Scenario};
use domain::money::{Fen, split_largest_remainder};
use rand::Rng;
use rand::rngs::StdRng;

/// Registration (建档立卡) began in 2014; the scenario ends with the sharing session of 2020.
pub const FIRST_REGISTRY_YEAR: i64 = 2014;
pub const LAST_YEAR: i64 = 2020;

/// Fiscal funds of the demo at full scale: above the seed's "超过419亿元".
pub const FISCAL_FUNDS_FEN: i64 = 42_163_500_000_00;
/// Xinjiang's share since 2014 at full scale: within the seed's [46亿, 47亿).
pub const XINJIANG_FUNDS_FEN: i64 = 4_652_800_000_00;
/// Projects outside Xinjiang-since-2014 at full scale; with Xinjiang's 206 the total is above 40,000.
pub const OTHER_PROJECTS: i64 = 40_614;

/// Share of people out of poverty who left it in a year their county was not paired with
/// Shenzhen (so they are registered but not counted), per unpaired registry year.
const UNCOUNTED_SHARE_PER_YEAR: f64 = 0.04;
/// Share of the remaining poor whose household fell back (返贫).
const RELAPSED_SHARE: f64 = 0.04;

/// Weights of exit years: most households left poverty in 2016–2019.
fn exit_year_weight(year: i64) -> u64 {
    match year {
        2014 => 8,
        2015 => 10,
        2016 => 16,
        2017 => 20,
        2018 => 22,
        2019 => 18,
        2020 => 6,
        _ => 0,
    }
}

/// More projects in later years: the programme grew.
fn project_year_weight(year: i64) -> u64 {
    match year {
        ..=1999 => 1,
        2000..=2009 => 2,
        2010..=2015 => 4,
        _ => 8,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleKind {
    /// Out of poverty in a year the county was paired: counted in the headline figure.
    ExitedCounted,
    /// Out of poverty in a year the county was not paired: registered, not counted.
    ExitedUncounted,
    /// Still poor (未脱贫).
    Remaining,
    /// Fell back into poverty (返贫) after an earlier exit.
    Relapsed,
}

/// A number of people of one county to be generated as households of one kind; `year` is the
/// exit year for exits, the year of the relapse for relapses, and unused for the remaining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeopleBucket {
    pub county: usize,
    pub kind: PeopleKind,
    pub year: i64,
    pub people: i64,
}

/// One project to generate: where, when, and its fiscal money in fen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSlot {
    pub county: usize,
    pub year: i64,
    pub fiscal_fen: i64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub people: Vec<PeopleBucket>,
    pub projects: Vec<ProjectSlot>,
}

fn split(total: i64, weights: &[u64]) -> Vec<i64> {
    split_largest_remainder(Fen(total), weights)
        .into_iter()
        .map(|f| f.0)
        .collect()
}

fn scaled(x: i64, scale: f64) -> i64 {
    (x as f64 * scale).round() as i64
}

impl Plan {
    pub fn new(s: &Scenario, scale: f64, rng: &mut StdRng) -> Plan {
        Plan {
            people: people_plan(s, scale),
            projects: project_plan(s, scale, rng),
        }
    }

    pub fn people_out_of_poverty(&self) -> i64 {
        self.people
            .iter()
            .filter(|b| b.kind == PeopleKind::ExitedCounted)
            .map(|b| b.people)
            .sum()
    }

    pub fn people_remaining(&self) -> i64 {
        self.people
            .iter()
            .filter(|b| matches!(b.kind, PeopleKind::Remaining | PeopleKind::Relapsed))
            .map(|b| b.people)
            .sum()
    }
}

fn people_plan(s: &Scenario, scale: f64) -> Vec<PeopleBucket> {
    let out_total = scaled(s.figures.people_out_of_poverty, scale);
    let share = s.figures.remaining_share;
    let remaining_total = (out_total as f64 * share / (1.0 - share)).round() as i64;
    let weights: Vec<u64> = s
        .counties
        .iter()
        .map(|c| u64::from(c.poor_weight))
        .collect();
    let counted = split(out_total, &weights);
    let remaining_weights: Vec<u64> = s
        .counties
        .iter()
        .map(|c| {
            if c.still_paired() {
                u64::from(c.poor_weight)
            } else {
                0
            }
        })
        .collect();
    let remaining = split(remaining_total, &remaining_weights);
    let mut buckets = Vec::new();
    for (i, c) in s.counties.iter().enumerate() {
        if c.poor_weight == 0 {
            continue;
        }
        let years = FIRST_REGISTRY_YEAR..=LAST_YEAR;
        let year_weights: Vec<u64> = years
            .clone()
            .map(|y| {
                if c.paired_in(y) {
                    exit_year_weight(y)
                } else {
                    0
                }
            })
            .collect();
        for (y, n) in years.clone().zip(split(counted[i], &year_weights)) {
            if n > 0 {
                buckets.push(PeopleBucket {
                    county: i,
                    kind: PeopleKind::ExitedCounted,
                    year: y,
                    people: n,
                });
            }
        }
        // Exits in the years the county was not paired (before 2020, the year of the seed).
        let unpaired: Vec<i64> = (FIRST_REGISTRY_YEAR..LAST_YEAR)
            .filter(|y| !c.paired_in(*y))
            .collect();
        let uncounted =
            (counted[i] as f64 * UNCOUNTED_SHARE_PER_YEAR * unpaired.len() as f64).round() as i64;
        let w: Vec<u64> = unpaired.iter().map(|y| exit_year_weight(*y)).collect();
        for (y, n) in unpaired.iter().zip(split(uncounted, &w)) {
            if n > 0 {
                buckets.push(PeopleBucket {
                    county: i,
                    kind: PeopleKind::ExitedUncounted,
                    year: *y,
                    people: n,
                });
            }
        }
        let relapsed = (remaining[i] as f64 * RELAPSED_SHARE).round() as i64;
        if relapsed > 0 {
            // Relapses of 2018–2020, after exits of the years before.
            for (y, n) in (2018..=LAST_YEAR).zip(split(relapsed, &[3, 4, 3])) {
                if n > 0 {
                    buckets.push(PeopleBucket {
                        county: i,
                        kind: PeopleKind::Relapsed,
                        year: y,
                        people: n,
                    });
                }
            }
        }
        if remaining[i] - relapsed > 0 {
            buckets.push(PeopleBucket {
                county: i,
                kind: PeopleKind::Remaining,
                year: LAST_YEAR,
                people: remaining[i] - relapsed,
            });
        }
    }
    buckets
}

/// Years a county may have projects in: its pairing, from the programme's start to the seed.
fn project_years(c: &County, first: i64) -> impl Iterator<Item = i64> + '_ {
    (first.max(c.since_year)..=c.until_year.unwrap_or(LAST_YEAR).min(LAST_YEAR))
        .filter(move |y| c.paired_in(*y))
}

fn project_plan(s: &Scenario, scale: f64, rng: &mut StdRng) -> Vec<ProjectSlot> {
    let xj = &s.figures.xinjiang;
    let first = s.figures.started_year;
    // Xinjiang since 2014: its own count and money, split over its two counties and the years.
    let mut xj_slots: Vec<(usize, i64)> = Vec::new();
    let mut xj_weights: Vec<u64> = Vec::new();
    // Everything else: every paired county-year, weighted by the county's size and the era.
    let mut slots: Vec<(usize, i64)> = Vec::new();
    let mut weights: Vec<u64> = Vec::new();
    for (i, c) in s.counties.iter().enumerate() {
        let xinjiang = s.is_xinjiang(c);
        for y in project_years(c, first) {
            if xinjiang && y >= xj.since_year {
                xj_slots.push((i, y));
                xj_weights.push(u64::from(c.poor_weight) * project_year_weight(y));
            } else {
                slots.push((i, y));
                weights.push(u64::from(c.poor_weight + 1) * project_year_weight(y));
            }
        }
    }
    let mut out = Vec::new();
    let place = |slots: &[(usize, i64)],
                 weights: &[u64],
                 projects: i64,
                 funds: i64,
                 out: &mut Vec<ProjectSlot>,
                 rng: &mut StdRng| {
        let counts = split(projects, weights);
        let mut placed: Vec<(usize, i64)> = Vec::new();
        for ((county, year), n) in slots.iter().zip(counts) {
            for _ in 0..n {
                placed.push((*county, *year));
            }
        }
        // Older projects were smaller; each project's money varies threefold around its era's.
        let money_weights: Vec<u64> = placed
            .iter()
            .map(|(_, y)| {
                let era = match y {
                    ..=1999 => 25,
                    2000..=2009 => 50,
                    2010..=2015 => 90,
                    _ => 110,
                };
                era * rng.random_range(50..=150)
            })
            .collect();
        for ((county, year), fiscal_fen) in placed.into_iter().zip(split(funds, &money_weights)) {
            out.push(ProjectSlot {
                county,
                year,
                fiscal_fen,
            });
        }
    };
    let xj_funds = scaled(XINJIANG_FUNDS_FEN, scale);
    place(
        &xj_slots,
        &xj_weights,
        scaled(xj.projects, scale),
        xj_funds,
        &mut out,
        rng,
    );
    place(
        &slots,
        &weights,
        scaled(OTHER_PROJECTS, scale),
        scaled(FISCAL_FUNDS_FEN, scale) - xj_funds,
        &mut out,
        rng,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn full(seed: u64) -> (Scenario, Plan) {
        let s = Scenario::shipped();
        let p = Plan::new(&s, 1.0, &mut StdRng::seed_from_u64(seed));
        (s, p)
    }

    #[test]
    fn people_add_up_to_the_seed_exactly_with_about_five_percent_remaining() {
        let (s, p) = full(1);
        assert_eq!(p.people_out_of_poverty(), s.figures.people_out_of_poverty);
        let share =
            p.people_remaining() as f64 / (p.people_out_of_poverty() + p.people_remaining()) as f64;
        assert!((0.045..0.055).contains(&share), "remaining share {share}");
        for b in &p.people {
            let c = &s.counties[b.county];
            match b.kind {
                PeopleKind::ExitedCounted => assert!(c.paired_in(b.year), "{} {}", c.name, b.year),
                PeopleKind::ExitedUncounted => {
                    assert!(!c.paired_in(b.year), "{} {}", c.name, b.year)
                }
                PeopleKind::Remaining | PeopleKind::Relapsed => {
                    assert!(c.still_paired(), "{}", c.name)
                }
            }
            assert!(c.poor_weight > 0, "{} has no registry", c.name);
        }
    }

    #[test]
    fn projects_and_funds_reproduce_the_seed_and_xinjiang() {
        let (s, p) = full(1);
        let xj = &s.figures.xinjiang;
        assert!(p.projects.len() as i64 > s.figures.projects_above);
        let fiscal: i64 = p.projects.iter().map(|x| x.fiscal_fen).sum();
        assert!(fiscal > s.figures.fiscal_funds_yuan_above * 100);
        let since: Vec<&ProjectSlot> = p
            .projects
            .iter()
            .filter(|x| s.is_xinjiang(&s.counties[x.county]) && x.year >= xj.since_year)
            .collect();
        assert_eq!(since.len() as i64, xj.projects);
        let xj_fen: i64 = since.iter().map(|x| x.fiscal_fen).sum();
        assert!(xj_fen >= xj.funds_yuan_from * 100 && xj_fen < xj.funds_yuan_below * 100);
        // No single project carries 1% of any figure it contributes to.
        assert!(p.projects.iter().all(|x| x.fiscal_fen * 100 < fiscal));
        assert!(since.iter().all(|x| x.fiscal_fen * 100 < xj_fen));
        for x in &p.projects {
            assert!(s.counties[x.county].paired_in(x.year));
            assert!(x.year >= s.figures.started_year && x.year <= LAST_YEAR);
        }
    }

    #[test]
    fn another_seed_moves_records_but_not_totals() {
        let (_, a) = full(1);
        let (_, b) = full(2);
        assert_ne!(
            a.projects.iter().map(|x| x.fiscal_fen).collect::<Vec<_>>(),
            b.projects.iter().map(|x| x.fiscal_fen).collect::<Vec<_>>()
        );
        assert_eq!(a.projects.len(), b.projects.len());
        assert_eq!(
            a.projects.iter().map(|x| x.fiscal_fen).sum::<i64>(),
            b.projects.iter().map(|x| x.fiscal_fen).sum::<i64>()
        );
        assert_eq!(a.people, b.people);
    }

    #[test]
    fn a_small_scale_keeps_the_proportions() {
        let s = Scenario::shipped();
        let p = Plan::new(&s, 0.01, &mut StdRng::seed_from_u64(1));
        assert_eq!(p.people_out_of_poverty(), 19_436);
        assert_eq!(p.projects.len() as i64, 406 + 2);
    }
}
