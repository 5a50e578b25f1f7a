//! Exit assessment (贫困退出) and monitoring against relapse (防返贫监测) as pure rules over
//! data. The rules themselves are data (`Rules`), versioned by the store; every decision keeps
//! the explanation computed at the time, so changing a rule never rewrites a past decision.

use crate::money::Fen;
use crate::region::WESTERN_PROVINCES;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One value with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    #[serde(default)]
    pub basis: String,
    #[serde(default)]
    pub source: String,
}

/// A monitoring threshold for a province (and optionally one county) in a year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoringThreshold {
    /// Two-digit province code, e.g. 53 for 云南.
    pub province: i64,
    /// Six-digit county code, when a county has its own.
    #[serde(default)]
    pub county: Option<i64>,
    pub year: i64,
    pub yuan: i64,
    #[serde(default)]
    pub source: String,
}

/// An extra criterion a province adds to village or county exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtraCriterion {
    pub province: i64,
    /// "village" or "county".
    pub level: String,
    pub name: String,
    #[serde(default)]
    pub source: String,
}

/// The rule set in force (a version of it is stored with each decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// National poverty line per year, 元/人·年 (current prices).
    pub poverty_lines: BTreeMap<i64, Sourced<i64>>,
    /// Years the income must be above the line, counting back from the assessed year.
    pub stable_years: i64,
    /// Default monitoring threshold as a multiple of the poverty line, in per mille (1500 = 1.5×).
    pub monitoring_multiple_permille: i64,
    pub monitoring_thresholds: Vec<MonitoringThreshold>,
    /// Poverty incidence threshold in basis points (200 = 2%), and the western provinces' (300).
    pub incidence_bp: i64,
    pub incidence_bp_west: i64,
    /// Province overrides of the incidence threshold, basis points.
    #[serde(default)]
    pub incidence_bp_by_province: BTreeMap<i64, i64>,
    /// County exit: wrongful-exit and missed-poor rates below, approval at least (basis points).
    pub wrongful_exit_bp: i64,
    pub missed_poor_bp: i64,
    pub approval_bp: i64,
    /// Days the 公示 must last.
    pub publicity_days: i64,
    /// A year-on-year fall of per-capita income of at least this many per cent is a risk.
    pub sharp_drop_percent: i64,
    /// Visits showing income above the threshold must be at least this many months apart.
    pub elimination_months: i64,
    #[serde(default)]
    pub extra_criteria: Vec<ExtraCriterion>,
}

impl Default for Rules {
    /// DOMAIN.md §6–§7: national lines (2017–2019 marked unconfirmed as the sources say), 1.5× for
    /// monitoring, 2%/3% incidence, 2%/2%/90% county checks, 7 days of 公示.
    fn default() -> Rules {
        let line = |value: i64, basis: &str| Sourced {
            value,
            basis: basis.to_string(),
            source: "国家统计局农村贫困标准（2010年价格2300元的现价）".to_string(),
        };
        let mut poverty_lines = BTreeMap::new();
        for (y, v, basis) in [
            (2011, 2536, "现价"),
            (2012, 2625, "现价"),
            (2013, 2736, "现价"),
            (2014, 2800, "现价"),
            (2015, 2855, "现价"),
            (2016, 2952, "现价"),
            (2017, 2952, "现价（未确认）"),
            (2018, 2995, "现价（未确认）"),
            (2019, 3218, "现价（弱确认）"),
            (2020, 4000, "约数"),
        ] {
            poverty_lines.insert(y, line(v, basis));
        }
        Rules {
            poverty_lines,
            stable_years: 2,
            monitoring_multiple_permille: 1500,
            monitoring_thresholds: vec![
                MonitoringThreshold { province: 53, county: None, year: 2023, yuan: 8050, source: "云南省2023年县级监测标准".into() },
                MonitoringThreshold { province: 53, county: None, year: 2025, yuan: 8700, source: "云南省2025年监测标准".into() },
            ],
            incidence_bp: 200,
            incidence_bp_west: 300,
            incidence_bp_by_province: BTreeMap::new(),
            wrongful_exit_bp: 200,
            missed_poor_bp: 200,
            approval_bp: 9000,
            publicity_days: 7,
            sharp_drop_percent: 30,
            elimination_months: 6,
            extra_criteria: Vec::new(),
        }
    }
}

impl Rules {
    pub fn poverty_line(&self, year: i64) -> Option<Fen> {
        self.poverty_lines.get(&year).map(|s| Fen::from_yuan(s.value))
    }

    /// The monitoring threshold for a county in a year: the county's own, else its province's,
    /// else the multiple of the poverty line. Returns the figure and where it came from.
    pub fn monitoring_threshold(&self, county: i64, year: i64) -> Option<(Fen, String)> {
        let province = county / 10_000;
        let own = |t: &&MonitoringThreshold| t.year == year && t.county == Some(county);
        let prov = |t: &&MonitoringThreshold| t.year == year && t.county.is_none() && t.province == province;
        if let Some(t) = self.monitoring_thresholds.iter().find(own).or_else(|| self.monitoring_thresholds.iter().find(prov)) {
            return Some((Fen::from_yuan(t.yuan), t.source.clone()));
        }
        let line = self.poverty_line(year)?;
        let fen = (line.0 as i128 * self.monitoring_multiple_permille as i128 / 1000) as i64;
        Some((Fen(fen), format!("贫困线的 {:.1} 倍", self.monitoring_multiple_permille as f64 / 1000.0)))
    }

    pub fn incidence_threshold_bp(&self, province: i64) -> i64 {
        if let Some(bp) = self.incidence_bp_by_province.get(&province) {
            return *bp;
        }
        if WESTERN_PROVINCES.contains(&province) { self.incidence_bp_west } else { self.incidence_bp }
    }

    /// Checks an edited rule set before it is stored.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.poverty_lines.is_empty() {
            out.push("至少需要一年的贫困线".into());
        }
        if self.poverty_lines.values().any(|l| l.value <= 0) {
            out.push("贫困线必须大于 0".into());
        }
        if !(1..=5).contains(&self.stable_years) {
            out.push("“稳定”年数应为 1–5".into());
        }
        if !(1..=30).contains(&self.publicity_days) {
            out.push("公示天数应为 1–30".into());
        }
        for bp in [self.incidence_bp, self.incidence_bp_west, self.wrongful_exit_bp, self.missed_poor_bp, self.approval_bp] {
            if !(0..=10_000).contains(&bp) {
                out.push("比例应在 0–100% 之间".into());
                break;
            }
        }
        out
    }
}

/// One criterion of a decision, with the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub key: String,
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// A household's situation in the assessed year, as the decision needs it.
#[derive(Debug, Clone, Default)]
pub struct HouseholdFacts {
    /// Per-capita net income by year, in fen.
    pub per_capita: BTreeMap<i64, i64>,
    pub food_secure: Option<bool>,
    pub clothing_secure: Option<bool>,
    pub education_secure: Option<bool>,
    pub medical_secure: Option<bool>,
    pub housing_secure: Option<bool>,
    pub safe_water: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitDecision {
    pub year: i64,
    pub may_exit: bool,
    pub criteria: Vec<Criterion>,
}

impl ExitDecision {
    pub fn failing(&self) -> impl Iterator<Item = &Criterion> {
        self.criteria.iter().filter(|c| !c.passed)
    }
}

/// The household test of the 2016 opinion: per-capita income stably ABOVE the line (equal is
/// not above), 两不愁三保障 and safe drinking water. Every criterion is listed, pass or fail.
pub fn assess_household(rules: &Rules, facts: &HouseholdFacts, year: i64) -> ExitDecision {
    let mut criteria = Vec::new();
    for back in 0..rules.stable_years {
        let y = year - back;
        let key = if back == 0 { "income".to_string() } else { format!("income_{y}") };
        let name = if back == 0 { format!("{y}年人均纯收入高于贫困线") } else { format!("{y}年人均纯收入高于贫困线（稳定）") };
        let c = match (rules.poverty_line(y), facts.per_capita.get(&y)) {
            (None, _) => Criterion { key, name, passed: false, detail: format!("规则中没有 {y} 年的贫困线") },
            (Some(_), None) => Criterion { key, name, passed: false, detail: format!("未填报 {y} 年收入") },
            (Some(line), Some(&pc)) => {
                let passed = pc > line.0;
                let relation = if pc > line.0 {
                    "高于"
                } else if pc == line.0 {
                    "等于（不算高于）"
                } else {
                    "低于"
                };
                Criterion { key, name, passed, detail: format!("人均纯收入 {} 元，{relation}贫困线 {} 元", Fen(pc).yuan_string(), line.yuan_string()) }
            }
        };
        criteria.push(c);
    }
    let flag = |key: &str, name: &str, v: Option<bool>, yes: &str, no: &str| Criterion {
        key: key.into(),
        name: name.into(),
        passed: v == Some(true),
        detail: match v {
            Some(true) => yes.into(),
            Some(false) => no.into(),
            None => "未填报".into(),
        },
    };
    criteria.push(flag("food", "不愁吃", facts.food_secure, "已保障", "未保障"));
    criteria.push(flag("clothing", "不愁穿", facts.clothing_secure, "已保障", "未保障"));
    criteria.push(flag("education", "义务教育有保障", facts.education_secure, "无义务教育阶段失学辍学", "存在失学辍学"));
    criteria.push(flag("medical", "基本医疗有保障", facts.medical_secure, "已参保并享受医疗保障", "基本医疗未保障"));
    criteria.push(flag("housing", "住房安全有保障", facts.housing_secure, "住房安全", "住房不安全"));
    criteria.push(flag("water", "饮水安全有保障", facts.safe_water, "饮水安全", "饮水不安全"));
    let may_exit = criteria.iter().all(|c| c.passed);
    ExitDecision { year, may_exit, criteria }
}

/// Poverty incidence (贫困发生率) in basis points, rounded half up; None without a population.
pub fn incidence_bp(remaining_poor: i64, rural_population: i64) -> Option<i64> {
    if rural_population <= 0 {
        return None;
    }
    Some((remaining_poor as i128 * 10_000 * 2 + rural_population as i128) as i64 / (2 * rural_population))
}

/// Village or county incidence test: strictly below the province's threshold. The comparison
/// is exact (remaining × 10000 < threshold × population), not on a rounded percentage.
pub fn incidence_criterion(rules: &Rules, province: i64, remaining_poor: i64, rural_population: i64) -> Criterion {
    let threshold = rules.incidence_bp_threshold_detail(province);
    match rural_population {
        p if p <= 0 => Criterion { key: "incidence".into(), name: "贫困发生率".into(), passed: false, detail: "缺少农业户籍人口".into() },
        p => {
            let passed = (remaining_poor as i128) * 10_000 < (threshold.0 as i128) * (p as i128);
            Criterion {
                key: "incidence".into(),
                name: format!("贫困发生率低于{}", bp_percent(threshold.0)),
                passed,
                detail: format!(
                    "剩余贫困人口 {remaining_poor} 人 ÷ 农业户籍人口 {p} 人 = {:.2}%（{}）",
                    remaining_poor as f64 * 100.0 / p as f64,
                    threshold.1
                ),
            }
        }
    }
}

impl Rules {
    fn incidence_bp_threshold_detail(&self, province: i64) -> (i64, String) {
        let bp = self.incidence_threshold_bp(province);
        let why = if self.incidence_bp_by_province.contains_key(&province) {
            "本省标准"
        } else if WESTERN_PROVINCES.contains(&province) {
            "西部省份标准"
        } else {
            "中东部省份标准"
        };
        (bp, format!("{why} {}", bp_percent(bp)))
    }
}

pub fn bp_percent(bp: i64) -> String {
    if bp % 100 == 0 { format!("{}%", bp / 100) } else { format!("{:.2}%", bp as f64 / 100.0) }
}

/// County exit beyond incidence: review samples that users enter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountyReview {
    pub sampled_exited: i64,
    pub wrongly_exited: i64,
    pub sampled_households: i64,
    pub missed_poor: i64,
    pub surveyed: i64,
    pub approving: i64,
}

pub fn county_review_criteria(rules: &Rules, r: &CountyReview) -> Vec<Criterion> {
    let rate = |n: i64, d: i64| if d > 0 { Some(n as f64 * 100.0 / d as f64) } else { None };
    let below = |key: &str, name: &str, n: i64, d: i64, bp: i64| match rate(n, d) {
        None => Criterion { key: key.into(), name: name.into(), passed: false, detail: "未录入抽查数据".into() },
        Some(pct) => Criterion {
            key: key.into(),
            name: name.into(),
            passed: (n as i128) * 10_000 < (bp as i128) * (d as i128),
            detail: format!("{n} / {d} = {pct:.2}%（须低于 {}）", bp_percent(bp)),
        },
    };
    vec![
        below("wrongful_exit", "错退率", r.wrongly_exited, r.sampled_exited, rules.wrongful_exit_bp),
        below("missed_poor", "漏评率", r.missed_poor, r.sampled_households, rules.missed_poor_bp),
        match rate(r.approving, r.surveyed) {
            None => Criterion { key: "approval".into(), name: "群众认可度".into(), passed: false, detail: "未录入调查数据".into() },
            Some(pct) => Criterion {
                key: "approval".into(),
                name: "群众认可度".into(),
                passed: (r.approving as i128) * 10_000 >= (rules.approval_bp as i128) * (r.surveyed as i128),
                detail: format!("{} / {} = {pct:.2}%（须不低于 {}）", r.approving, r.surveyed, bp_percent(rules.approval_bp)),
            },
        },
    ]
}

/// 监测对象类型 codes of the code table.
pub const MONITOR_UNSTABLE: &str = "1";
pub const MONITOR_EDGE: &str = "2";
pub const MONITOR_SUDDEN: &str = "3";

/// What monitoring looks at for one household.
#[derive(Debug, Clone, Default)]
pub struct RiskFacts {
    /// Registered poor household that has exited (脱贫户).
    pub exited: bool,
    /// In the registry at all (a non-registered household is a 边缘户 candidate).
    pub registered: bool,
    pub per_capita_this_year: Option<i64>,
    pub per_capita_last_year: Option<i64>,
    /// Rigid expenses of the year not reimbursed, in fen, and the household's net income.
    pub rigid_expenses_net: i64,
    pub net_income: Option<i64>,
    /// Shocks recorded in the year (illness, disaster, accident, job loss).
    pub shocks: Vec<String>,
    /// Declared by the household or found at a visit.
    pub declared: bool,
    pub visit_risks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSignal {
    pub key: String,
    pub detail: String,
    /// Weight for ordering the work list.
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitoringCandidate {
    pub category: String,
    pub signals: Vec<RiskSignal>,
    pub risk_score: i64,
}

/// Finds why a household should be monitored, and in which category. None = no risk seen.
pub fn monitoring_candidate(threshold: Fen, rules: &Rules, f: &RiskFacts) -> Option<MonitoringCandidate> {
    let mut signals = Vec::new();
    if let Some(pc) = f.per_capita_this_year
        && pc < threshold.0
    {
        signals.push(RiskSignal {
            key: "low_income".into(),
            detail: format!("人均纯收入 {} 元低于监测标准 {} 元", Fen(pc).yuan_string(), threshold.yuan_string()),
            weight: 40 + ((threshold.0 - pc) * 40 / threshold.0.max(1)).min(40),
        });
    }
    if let (Some(now), Some(before)) = (f.per_capita_this_year, f.per_capita_last_year)
        && before > 0
        && (before - now) * 100 >= before * rules.sharp_drop_percent
    {
        signals.push(RiskSignal {
            key: "sharp_drop".into(),
            detail: format!("人均纯收入由 {} 元降至 {} 元，降幅 {}%", Fen(before).yuan_string(), Fen(now).yuan_string(), (before - now) * 100 / before),
            weight: 30,
        });
    }
    if let Some(net) = f.net_income
        && f.rigid_expenses_net > net.max(0)
    {
        signals.push(RiskSignal {
            key: "rigid_expenses".into(),
            detail: format!("刚性支出（扣除报销后）{} 元超过家庭纯收入 {} 元", Fen(f.rigid_expenses_net).yuan_string(), Fen(net).yuan_string()),
            weight: 35,
        });
    }
    for s in &f.shocks {
        signals.push(RiskSignal { key: "shock".into(), detail: format!("遭遇{s}"), weight: 45 });
    }
    if f.declared {
        signals.push(RiskSignal { key: "declared".into(), detail: "农户申报".into(), weight: 20 });
    }
    for r in &f.visit_risks {
        signals.push(RiskSignal { key: "visit".into(), detail: format!("走访发现：{r}"), weight: 25 });
    }
    if signals.is_empty() {
        return None;
    }
    let income_risk = signals.iter().any(|s| matches!(s.key.as_str(), "low_income" | "sharp_drop" | "rigid_expenses"));
    let category = if !f.shocks.is_empty() && !income_risk {
        MONITOR_SUDDEN
    } else if f.registered && f.exited {
        MONITOR_UNSTABLE
    } else if !f.registered {
        MONITOR_EDGE
    } else if !f.shocks.is_empty() {
        MONITOR_SUDDEN
    } else {
        // Registered but not yet out of poverty: still in the poverty work, not monitoring.
        return None;
    };
    let risk_score = signals.iter().map(|s| s.weight).sum();
    Some(MonitoringCandidate { category: category.into(), signals, risk_score })
}

/// A visit's income estimate, for risk elimination.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitIncome {
    /// (year, month, day)
    pub date: (i32, u32, u32),
    pub per_capita_12m: i64,
}

/// 风险消除: income above the threshold at visits at least `elimination_months` apart, rigid
/// expenses resolved, no new risk; a household without labour capacity stays monitored.
pub fn risk_elimination(
    rules: &Rules,
    threshold: Fen,
    visits: &[VisitIncome],
    expenses_resolved: bool,
    new_risk: bool,
    has_labour: bool,
) -> ExitDecision {
    let above: Vec<&VisitIncome> = visits.iter().filter(|v| v.per_capita_12m > threshold.0).collect();
    let months = |a: (i32, u32, u32), b: (i32, u32, u32)| {
        let m = (b.0 - a.0) as i64 * 12 + b.1 as i64 - a.1 as i64;
        if b.2 < a.2 { m - 1 } else { m }
    };
    let span = match (above.iter().map(|v| v.date).min(), above.iter().map(|v| v.date).max()) {
        (Some(a), Some(b)) => months(a, b),
        _ => -1,
    };
    let income_ok = above.len() >= 2 && span >= rules.elimination_months;
    let criteria = vec![
        Criterion {
            key: "stable_income".into(),
            name: format!("走访收入连续高于监测标准（间隔≥{}个月）", rules.elimination_months),
            passed: income_ok,
            detail: if above.len() < 2 {
                format!("高于监测标准 {} 元的走访 {} 次，至少需要 2 次", threshold.yuan_string(), above.len())
            } else {
                format!("高于监测标准的走访间隔 {span} 个月")
            },
        },
        Criterion {
            key: "expenses".into(),
            name: "刚性支出问题已解决".into(),
            passed: expenses_resolved,
            detail: if expenses_resolved { "已解决".into() } else { "仍有未解决的刚性支出".into() },
        },
        Criterion {
            key: "no_new_risk".into(),
            name: "无新的风险".into(),
            passed: !new_risk,
            detail: if new_risk { "最近走访或数据发现新的风险".into() } else { "未发现新的风险".into() },
        },
        Criterion {
            key: "labour".into(),
            name: "家庭有劳动能力".into(),
            passed: has_labour,
            detail: if has_labour { "有劳动力".into() } else { "无劳动能力的家庭持续监测，不作风险消除".into() },
        },
    ];
    ExitDecision { year: visits.iter().map(|v| v.date.0 as i64).max().unwrap_or_default(), may_exit: criteria.iter().all(|c| c.passed), criteria }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(incomes: &[(i64, i64)]) -> HouseholdFacts {
        HouseholdFacts {
            per_capita: incomes.iter().copied().collect(),
            food_secure: Some(true),
            clothing_secure: Some(true),
            education_secure: Some(true),
            medical_secure: Some(true),
            housing_secure: Some(true),
            safe_water: Some(true),
        }
    }

    #[test]
    fn income_exactly_at_the_line_is_not_above_it() {
        let r = Rules::default();
        let d = assess_household(&r, &facts(&[(2018, 2995_00), (2019, 3218_00)]), 2019);
        assert!(!d.may_exit);
        let c = &d.criteria[0];
        assert!(!c.passed && c.detail.contains("等于"));
        let d = assess_household(&r, &facts(&[(2018, 2995_01), (2019, 3218_01)]), 2019);
        assert!(d.may_exit, "{d:?}");
    }

    #[test]
    fn stability_needs_the_previous_year_too() {
        let r = Rules::default();
        let d = assess_household(&r, &facts(&[(2018, 2000_00), (2019, 5000_00)]), 2019);
        assert!(!d.may_exit);
        assert_eq!(d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["income_2018"]);
        let one_year = Rules { stable_years: 1, ..Rules::default() };
        assert!(assess_household(&one_year, &facts(&[(2018, 2000_00), (2019, 5000_00)]), 2019).may_exit);
    }

    #[test]
    fn each_guarantee_fails_alone() {
        let r = Rules::default();
        let base = facts(&[(2018, 5000_00), (2019, 5000_00)]);
        for key in ["food", "clothing", "education", "medical", "housing", "water"] {
            let mut f = base.clone();
            match key {
                "food" => f.food_secure = Some(false),
                "clothing" => f.clothing_secure = Some(false),
                "education" => f.education_secure = Some(false),
                "medical" => f.medical_secure = Some(false),
                "housing" => f.housing_secure = Some(false),
                _ => f.safe_water = Some(false),
            }
            let d = assess_household(&r, &f, 2019);
            assert_eq!(d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(), [key]);
        }
        let mut unknown = base.clone();
        unknown.safe_water = None;
        assert_eq!(assess_household(&r, &unknown, 2019).failing().next().unwrap().detail, "未填报");
    }

    #[test]
    fn west_and_east_differ_at_two_and_a_half_percent() {
        let r = Rules::default();
        // 25 of 1000 = 2.5%.
        assert!(incidence_criterion(&r, 45, 25, 1000).passed, "广西 is western: 2.5% < 3%");
        assert!(!incidence_criterion(&r, 44, 25, 1000).passed, "广东: 2.5% ≥ 2%");
        assert!(!incidence_criterion(&r, 44, 20, 1000).passed, "exactly 2% is not below 2%");
        assert!(incidence_criterion(&r, 44, 19, 1000).passed);
        assert_eq!(incidence_bp(25, 1000), Some(250));
    }

    #[test]
    fn a_province_threshold_overrides_the_default_and_a_county_its_province() {
        let mut r = Rules::default();
        assert_eq!(r.monitoring_threshold(441621, 2019).unwrap().0, Fen(4827_00), "1.5 × 3218");
        assert_eq!(r.monitoring_threshold(530102, 2023).unwrap().0, Fen::from_yuan(8050));
        r.monitoring_thresholds.push(MonitoringThreshold { province: 35, county: Some(350121), year: 2023, yuan: 10560, source: "闽侯县".into() });
        r.poverty_lines.insert(2023, Sourced { value: 4500, basis: String::new(), source: String::new() });
        assert_eq!(r.monitoring_threshold(350121, 2023).unwrap().0, Fen::from_yuan(10560));
        assert_eq!(r.monitoring_threshold(350122, 2023).unwrap().0, Fen(6750_00));
    }

    #[test]
    fn monitoring_categories() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        let exited_low = RiskFacts { exited: true, registered: true, per_capita_this_year: Some(4000_00), ..Default::default() };
        assert_eq!(monitoring_candidate(t, &r, &exited_low).unwrap().category, MONITOR_UNSTABLE);
        let edge = RiskFacts { registered: false, per_capita_this_year: Some(4500_00), ..Default::default() };
        assert_eq!(monitoring_candidate(t, &r, &edge).unwrap().category, MONITOR_EDGE);
        let sudden = RiskFacts { exited: true, registered: true, per_capita_this_year: Some(9000_00), shocks: vec!["重病".into()], ..Default::default() };
        assert_eq!(monitoring_candidate(t, &r, &sudden).unwrap().category, MONITOR_SUDDEN);
        let fine = RiskFacts { exited: true, registered: true, per_capita_this_year: Some(9000_00), per_capita_last_year: Some(9100_00), ..Default::default() };
        assert!(monitoring_candidate(t, &r, &fine).is_none());
        let drop = RiskFacts { exited: true, registered: true, per_capita_this_year: Some(6000_00), per_capita_last_year: Some(9000_00), ..Default::default() };
        assert_eq!(monitoring_candidate(t, &r, &drop).unwrap().signals[0].key, "sharp_drop");
        let expenses = RiskFacts { exited: true, registered: true, per_capita_this_year: Some(9000_00), net_income: Some(20000_00), rigid_expenses_net: 30000_00, ..Default::default() };
        assert_eq!(monitoring_candidate(t, &r, &expenses).unwrap().signals[0].key, "rigid_expenses");
    }

    #[test]
    fn no_labour_capacity_is_never_eliminated() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        let visits = [VisitIncome { date: (2021, 1, 10), per_capita_12m: 6000_00 }, VisitIncome { date: (2021, 7, 10), per_capita_12m: 6500_00 }];
        assert!(risk_elimination(&r, t, &visits, true, false, true).may_exit);
        let d = risk_elimination(&r, t, &visits, true, false, false);
        assert!(!d.may_exit);
        assert_eq!(d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["labour"]);
        let short = [VisitIncome { date: (2021, 1, 10), per_capita_12m: 6000_00 }, VisitIncome { date: (2021, 7, 9), per_capita_12m: 6500_00 }];
        assert!(!risk_elimination(&r, t, &short, true, false, true).may_exit, "one day short of six months");
    }

    #[test]
    fn county_review_rates() {
        let r = Rules::default();
        let review = CountyReview { sampled_exited: 500, wrongly_exited: 9, sampled_households: 1000, missed_poor: 20, surveyed: 1000, approving: 900 };
        let c = county_review_criteria(&r, &review);
        assert_eq!(c.iter().map(|c| c.passed).collect::<Vec<_>>(), [true, false, true]);
    }

    #[test]
    fn edited_rules_are_validated() {
        let r = Rules::default();
        assert!(r.validate().is_empty());
        assert!(!Rules { stable_years: 0, ..r.clone() }.validate().is_empty());
        assert!(!Rules { incidence_bp: 20_000, ..r }.validate().is_empty());
    }
}
