//! Projects (项目): the closed vocabularies of a project record (status, organisation roles,
//! theme-specific indicators), the status workflow, dates, and the pure arithmetic of the
//! reports: location shares, 拨付进度 / 支出进度, and the Xinjiang "80/80" check.

use crate::kinds::{Theme, vocabulary};
use crate::money::{Fen, split_largest_remainder};
use crate::region::{RegionCode, RegionLevel};
use crate::text;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// Project status (项目状态). The workflow is 立项 → 实施中 → 已完工 → 已验收, or 终止 from
    /// any state that is not final; see [`ProjectStatus::can_move_to`].
    ProjectStatus {
        Approved => ("approved", "立项"),
        InProgress => ("in_progress", "实施中"),
        Completed => ("completed", "已完工"),
        Accepted => ("accepted", "已验收"),
        Terminated => ("terminated", "终止"),
    }
}

impl ProjectStatus {
    pub fn is_final(self) -> bool {
        matches!(self, ProjectStatus::Accepted | ProjectStatus::Terminated)
    }

    /// One step forward along the workflow, or termination of an unfinished project.
    pub fn can_move_to(self, next: ProjectStatus) -> bool {
        use ProjectStatus::*;
        matches!(
            (self, next),
            (Approved, InProgress)
                | (InProgress, Completed)
                | (Completed, Accepted)
                | (Approved | InProgress | Completed, Terminated)
        )
    }

    /// "实施中、终止": the states this one may move to, for messages.
    pub fn next_choices_zh(self) -> String {
        let next: Vec<&str> = ProjectStatus::ALL
            .iter()
            .filter(|s| self.can_move_to(**s))
            .map(|s| s.name_zh())
            .collect();
        if next.is_empty() {
            "无（已是最终状态）".to_string()
        } else {
            next.join("、")
        }
    }
}

vocabulary! {
    /// Roles of a participating organisation (IATI organisation roles 1–4).
    OrgRole {
        Funding => ("funding", "出资方"),
        Accountable => ("accountable", "责任方"),
        Extending => ("extending", "管理方"),
        Implementing => ("implementing", "实施方"),
    }
}

/// How a theme indicator is measured: a count in some unit, or money in fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Count(&'static str),
    Money,
}

vocabulary! {
    /// Theme-specific indicators: structured, summable fields (one integer per project and
    /// year), never free text, so that "students supported" adds up across projects.
    /// Money indicators are in fen. Loans (金融扶贫) are kept as loan records, not here.
    Indicator {
        CadresDispatched => ("cadres_dispatched", "选派干部"),
        ProfessionalsDispatched => ("professionals_dispatched", "选派专业技术人才"),
        StudentsSupported => ("students_supported", "资助学生"),
        Classes => ("classes", "开设班级"),
        SchoolsBuilt => ("schools_built", "新建改建学校"),
        TeachersTrained => ("teachers_trained", "培训教师"),
        EnterprisesIntroduced => ("enterprises_introduced", "引进企业"),
        EnterpriseInvestment => ("enterprise_investment", "企业投资额"),
        IndustryJobs => ("industry_jobs", "带动就业"),
        DividendHouseholds => ("dividend_households", "分红户数"),
        Dividends => ("dividends", "分红金额"),
        VillagesCovered => ("villages_covered", "覆盖村数"),
        InfrastructureItems => ("infrastructure_items", "基础设施项目"),
        PeopleTrained => ("people_trained", "培训人次"),
        TechProjects => ("tech_projects", "科技项目"),
        Visitors => ("visitors", "接待游客"),
        TourismRevenue => ("tourism_revenue", "旅游收入"),
        TourismJobs => ("tourism_jobs", "文旅带动就业"),
        ProductsPurchased => ("products_purchased", "采购帮扶产品金额"),
        HouseholdsLinked => ("households_linked", "带动农户"),
    }
}

impl Indicator {
    pub fn theme(self) -> Theme {
        use Indicator::*;
        match self {
            CadresDispatched | ProfessionalsDispatched => Theme::Pairing,
            StudentsSupported | Classes | SchoolsBuilt | TeachersTrained => Theme::Education,
            EnterprisesIntroduced
            | EnterpriseInvestment
            | IndustryJobs
            | DividendHouseholds
            | Dividends => Theme::Industry,
            VillagesCovered | InfrastructureItems => Theme::Rural,
            PeopleTrained | TechProjects => Theme::Technology,
            Visitors | TourismRevenue | TourismJobs => Theme::Tourism,
            ProductsPurchased | HouseholdsLinked => Theme::Consumption,
        }
    }

    pub fn measure(self) -> Measure {
        use Indicator::*;
        match self {
            EnterpriseInvestment | Dividends | TourismRevenue | ProductsPurchased => Measure::Money,
            CadresDispatched
            | ProfessionalsDispatched
            | StudentsSupported
            | IndustryJobs
            | TeachersTrained
            | TourismJobs => Measure::Count("人"),
            PeopleTrained | Visitors => Measure::Count("人次"),
            Classes => Measure::Count("个"),
            SchoolsBuilt => Measure::Count("所"),
            EnterprisesIntroduced => Measure::Count("家"),
            DividendHouseholds | HouseholdsLinked => Measure::Count("户"),
            VillagesCovered => Measure::Count("个"),
            InfrastructureItems | TechProjects => Measure::Count("项"),
        }
    }

    /// Unit for display: 人, 个 … or 元 for money.
    pub fn unit_zh(self) -> &'static str {
        match self.measure() {
            Measure::Count(u) => u,
            Measure::Money => "元",
        }
    }

    pub fn for_theme(theme: Theme) -> Vec<Indicator> {
        Indicator::ALL
            .iter()
            .copied()
            .filter(|i| i.theme() == theme)
            .collect()
    }

    /// A value as shown: "1,234 人" or "12.50 元".
    pub fn format_value(self, value: i64) -> String {
        match self.measure() {
            Measure::Money => format!("{} 元", Fen(value).yuan_string()),
            Measure::Count(u) => format!("{value} {u}"),
        }
    }
}

/// Checks one 扶贫小额信贷 loan against the rule items (`Rules::microloan_max_months`,
/// `Rules::microloan_max_yuan`, versioned data): its term, and its amount together with the
/// household's other loans of the same project (`household_total_fen`, this loan included).
/// Returns (field, message) pairs: "term_months" or "amount".
pub fn check_microloan(
    term_months: i64,
    amount_fen: i64,
    household_total_fen: i64,
    max_months: i64,
    max_yuan: i64,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !(1..=max_months).contains(&term_months) {
        out.push((
            "term_months",
            format!("扶贫小额信贷期限应为 1–{max_months} 个月（规则项 microloan_max_months）"),
        ));
    }
    let max_fen = max_yuan.saturating_mul(100);
    if amount_fen > max_fen {
        out.push((
            "amount",
            format!(
                "扶贫小额信贷每户不超过 {max_yuan} 元（规则项 microloan_max_yuan），本笔 {} 元",
                crate::money::Fen(amount_fen).yuan_string()
            ),
        ));
    } else if household_total_fen > max_fen {
        out.push((
            "amount",
            format!(
                "扶贫小额信贷每户不超过 {max_yuan} 元（规则项 microloan_max_yuan），本项目中该户合计 {} 元",
                crate::money::Fen(household_total_fen).yuan_string()
            ),
        ));
    }
    out
}

/// The first and last year a project date may fall in.
pub const FIRST_YEAR: i32 = 1978;
pub const LAST_YEAR: i32 = 2100;

/// Parses a date as typed into forms and spreadsheets: 2020-09-19, 2020/9/19, 2020.9.19,
/// 2020年9月19日, 20200919. Returns the stored form "YYYY-MM-DD".
pub fn parse_date(s: &str) -> Result<String, String> {
    let t = text::normalize(s);
    if t.is_empty() {
        return Err("日期为空".into());
    }
    let bad = || format!("日期“{}”无效，应为 YYYY-MM-DD，如 2020-09-19", s.trim());
    let parts: Vec<&str> = if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        vec![&t[0..4], &t[4..6], &t[6..8]]
    } else {
        t.trim_end_matches('日')
            .split(['-', '/', '.', '年', '月'])
            .collect()
    };
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let (y, m, d): (i32, u32, u32) = (
        parts[0].parse().map_err(|_| bad())?,
        parts[1].parse().map_err(|_| bad())?,
        parts[2].parse().map_err(|_| bad())?,
    );
    if parts[0].len() != 4 || !crate::id_number::is_valid_date(y, m, d) {
        return Err(bad());
    }
    if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
        return Err(format!(
            "日期“{}”的年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间",
            s.trim()
        ));
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

/// The year of a stored date "YYYY-MM-DD".
pub fn year_of(date: &str) -> i64 {
    date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0)
}

/// A project location and its weight in the split of the project's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub region: RegionCode,
    pub weight: u64,
}

/// Splits an amount of a project over its locations by weight, exactly (largest remainder):
/// the parts always add up to the amount. Equal weights split equally.
pub fn split_over_locations(amount: Fen, locations: &[Location]) -> Vec<(RegionCode, Fen)> {
    let weights: Vec<u64> = locations.iter().map(|l| l.weight).collect();
    locations
        .iter()
        .map(|l| l.region)
        .zip(split_largest_remainder(amount, &weights))
        .collect()
}

/// The county a location belongs to, if it is at county level or below.
pub fn county_of(code: RegionCode) -> Option<RegionCode> {
    match code.level() {
        RegionLevel::Province | RegionLevel::Prefecture => None,
        RegionLevel::County => Some(code),
        _ => code
            .ancestors()
            .into_iter()
            .find(|a| a.level() == RegionLevel::County),
    }
}

pub fn province_of(code: RegionCode) -> RegionCode {
    if code.level() == RegionLevel::Province {
        code
    } else {
        code.ancestors()[0]
    }
}

/// A share in basis points (1/100 of a percent), rounded half up; None when the whole is not
/// positive (no progress can be stated against nothing).
pub fn share_bp(part: Fen, whole: Fen) -> Option<i64> {
    if whole.0 <= 0 {
        return None;
    }
    let p = i128::from(part.0) * 10_000;
    let w = i128::from(whole.0);
    let q = (2 * p + w).div_euclid(2 * w);
    i64::try_from(q).ok()
}

/// "83.45%" or "—".
pub fn format_bp(bp: Option<i64>) -> String {
    match bp {
        None => "—".to_string(),
        Some(b) => {
            let sign = if b < 0 { "-" } else { "" };
            let a = b.unsigned_abs();
            format!("{sign}{}.{:02}%", a / 100, a % 100)
        }
    }
}

/// Money figures of one project (or one county, or a total), as the ledger defines them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub committed: Fen,
    pub disbursed: Fen,
    pub incoming: Fen,
    pub expended: Fen,
}

impl Progress {
    /// What reached the project: its disbursements plus incoming funds.
    pub fn received(&self) -> Fen {
        self.disbursed + self.incoming
    }

    /// 拨付进度: disbursed over committed.
    pub fn disbursement_bp(&self) -> Option<i64> {
        share_bp(self.disbursed, self.committed)
    }

    /// 支出进度: spent over what was received.
    pub fn expenditure_bp(&self) -> Option<i64> {
        share_bp(self.expended, self.received())
    }

    pub fn add(&mut self, other: &Progress) {
        self.committed = self.committed + other.committed;
        self.disbursed = self.disbursed + other.disbursed;
        self.incoming = self.incoming + other.incoming;
        self.expended = self.expended + other.expended;
    }

    /// Splits each figure over the locations exactly.
    pub fn split(&self, locations: &[Location]) -> Vec<(RegionCode, Progress)> {
        let c = split_over_locations(self.committed, locations);
        let d = split_over_locations(self.disbursed, locations);
        let i = split_over_locations(self.incoming, locations);
        let e = split_over_locations(self.expended, locations);
        (0..locations.len())
            .map(|k| {
                (
                    c[k].0,
                    Progress {
                        committed: c[k].1,
                        disbursed: d[k].1,
                        incoming: i[k].1,
                        expended: e[k].1,
                    },
                )
            })
            .collect()
    }
}

/// The Xinjiang rule of thumb (援疆 "两个80%"): at least 80% of funds to county level and below,
/// and at least 80% to livelihood (民生) projects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EightyEighty {
    pub total: Fen,
    pub county_and_below: Fen,
    pub livelihood: Fen,
}

pub const EIGHTY_PERCENT_BP: i64 = 8_000;

impl EightyEighty {
    /// Adds one project's amount: its location shares by level, and all of it if livelihood.
    pub fn add_project(&mut self, amount: Fen, livelihood: bool, locations: &[Location]) {
        self.total = self.total + amount;
        for (region, part) in split_over_locations(amount, locations) {
            if region.level() >= RegionLevel::County {
                self.county_and_below = self.county_and_below + part;
            }
        }
        if livelihood {
            self.livelihood = self.livelihood + amount;
        }
    }

    pub fn county_bp(&self) -> Option<i64> {
        share_bp(self.county_and_below, self.total)
    }

    pub fn livelihood_bp(&self) -> Option<i64> {
        share_bp(self.livelihood, self.total)
    }

    /// Exact comparison (no rounding): part / total ≥ 80%.
    fn reaches(part: Fen, total: Fen) -> bool {
        total.0 > 0 && i128::from(part.0) * 100 >= i128::from(total.0) * 80
    }

    pub fn county_ok(&self) -> bool {
        Self::reaches(self.county_and_below, self.total)
    }

    pub fn livelihood_ok(&self) -> bool {
        Self::reaches(self.livelihood, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn workflow_moves_forward_one_step_or_terminates() {
        use ProjectStatus::*;
        assert!(Approved.can_move_to(InProgress));
        assert!(InProgress.can_move_to(Completed));
        assert!(Completed.can_move_to(Accepted));
        assert!(Approved.can_move_to(Terminated) && Completed.can_move_to(Terminated));
        assert!(!Approved.can_move_to(Completed), "no skipping");
        assert!(!Completed.can_move_to(InProgress), "no going back");
        assert!(!Accepted.can_move_to(Terminated) && !Terminated.can_move_to(InProgress));
        assert!(Accepted.is_final() && Terminated.is_final() && !Completed.is_final());
        assert_eq!(InProgress.next_choices_zh(), "已完工、终止");
        assert_eq!(ProjectStatus::parse("已验收"), Some(Accepted));
    }

    #[test]
    fn dates_in_the_spellings_of_spreadsheets() {
        for s in [
            "2020-09-19",
            "2020/9/19",
            "2020.9.19",
            "2020年9月19日",
            "20200919",
            "２０２０－０９－１９",
        ] {
            assert_eq!(parse_date(s).as_deref(), Ok("2020-09-19"), "{s}");
        }
        for s in [
            "",
            "2020-02-30",
            "19-09-2020",
            "2020-9",
            "2020-09-19T00:00",
            "九月",
            "1900-01-01",
        ] {
            assert!(parse_date(s).is_err(), "{s}");
        }
        assert_eq!(year_of("2019-03-01"), 2019);
    }

    #[test]
    fn every_theme_but_finance_has_indicators_and_money_is_in_fen() {
        for t in Theme::ALL {
            let n = Indicator::for_theme(*t).len();
            if *t == Theme::Finance {
                assert_eq!(n, 0, "loans are records")
            } else {
                assert!(n > 0, "{t}")
            }
        }
        assert_eq!(
            Indicator::TourismRevenue.format_value(123_456),
            "1234.56 元"
        );
        assert_eq!(Indicator::StudentsSupported.format_value(40), "40 人");
        assert_eq!(
            Indicator::parse("引进企业"),
            Some(Indicator::EnterprisesIntroduced)
        );
    }

    #[test]
    fn location_shares_add_up_to_the_fen() {
        let locs = [
            Location {
                region: code("653101"),
                weight: 1,
            },
            Location {
                region: code("653131"),
                weight: 1,
            },
            Location {
                region: code("653131200"),
                weight: 1,
            },
        ];
        let parts = split_over_locations(Fen(100), &locs);
        assert_eq!(parts.iter().map(|p| p.1).sum::<Fen>(), Fen(100));
        assert_eq!(
            parts.iter().map(|p| p.1.0).collect::<Vec<_>>(),
            [34, 33, 33]
        );
        let p = Progress {
            committed: Fen(1001),
            disbursed: Fen(1000),
            incoming: Fen(7),
            expended: Fen(999),
        };
        let split = p.split(&locs);
        let mut total = Progress::default();
        split.iter().for_each(|(_, q)| total.add(q));
        assert_eq!(total, p);
    }

    #[test]
    fn county_and_province_of_a_location() {
        assert_eq!(county_of(code("653131200201")), Some(code("653131")));
        assert_eq!(county_of(code("653131")), Some(code("653131")));
        assert_eq!(county_of(code("6531")), None);
        assert_eq!(province_of(code("653131")), code("65"));
        assert_eq!(province_of(code("65")), code("65"));
    }

    #[test]
    fn progress_in_basis_points() {
        let p = Progress {
            committed: Fen(300),
            disbursed: Fen(200),
            incoming: Fen(100),
            expended: Fen(100),
        };
        assert_eq!(p.disbursement_bp(), Some(6667));
        assert_eq!(p.expenditure_bp(), Some(3333));
        assert_eq!(format_bp(p.disbursement_bp()), "66.67%");
        assert_eq!(Progress::default().disbursement_bp(), None);
        assert_eq!(format_bp(None), "—");
        assert_eq!(share_bp(Fen(1), Fen(3)), Some(3333));
        assert_eq!(share_bp(Fen(2), Fen(3)), Some(6667));
    }

    #[test]
    fn eighty_eighty_is_exact_at_the_boundary() {
        let county = [Location {
            region: code("653131"),
            weight: 1,
        }];
        let prefecture = [Location {
            region: code("6531"),
            weight: 1,
        }];
        let mut x = EightyEighty::default();
        x.add_project(Fen(8_000_000), true, &county);
        x.add_project(Fen(2_000_000), false, &prefecture);
        assert_eq!(x.total, Fen(10_000_000));
        assert_eq!(
            (x.county_and_below, x.livelihood),
            (Fen(8_000_000), Fen(8_000_000))
        );
        assert!(x.county_ok() && x.livelihood_ok(), "exactly 80% passes");
        x.add_project(Fen(1), false, &prefecture);
        assert!(
            !x.county_ok() && !x.livelihood_ok(),
            "one fen below 80% fails"
        );
        assert_eq!(x.county_bp(), Some(8000), "even though it rounds to 80.00%");
        assert!(
            !EightyEighty::default().county_ok(),
            "nothing invested passes nothing"
        );
    }

    #[test]
    fn microloans_are_at_most_three_years_and_fifty_thousand_yuan_per_household() {
        let ok = |term, amount, total| check_microloan(term, amount, total, 36, 50_000);
        assert!(
            ok(36, 5_000_000, 5_000_000).is_empty(),
            "exactly 3 years and 5万"
        );
        assert_eq!(ok(37, 5_000_000, 5_000_000)[0].0, "term_months");
        assert_eq!(
            ok(120, 100, 100)[0].0,
            "term_months",
            "ten years is not a microloan"
        );
        assert_eq!(ok(0, 100, 100)[0].0, "term_months");
        let over = ok(36, 5_000_001, 5_000_001);
        assert_eq!(over[0].0, "amount");
        assert!(over[0].1.contains("50000 元"), "{}", over[0].1);
        let total = ok(36, 3_000_000, 6_000_000);
        assert!(
            total[0].1.contains("该户合计 60000.00 元"),
            "{}",
            total[0].1
        );
        assert!(
            check_microloan(60, 8_000_000, 8_000_000, 60, 80_000).is_empty(),
            "rules are data"
        );
    }
}
