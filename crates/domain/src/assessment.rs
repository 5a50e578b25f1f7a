//! Exit assessment (贫困退出) and monitoring against relapse (防返贫监测) as pure rules over
//! data. The rules themselves are data (`Rules`), versioned by the store; every decision keeps
//! the figures it was computed from (a `DecisionRecord`, including the poverty line then in
//! force), so changing a rule never rewrites a past decision or its explanation.

use crate::date::Date;
use crate::money::Fen;
use crate::region::{RegionCode, WESTERN_PROVINCES};
use crate::validation::FieldError;
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

/// An extra criterion a province adds to village or county exit. The system lists it for
/// people to verify; it does not decide it.
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
#[serde(deny_unknown_fields)]
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
    /// Overrides of the incidence threshold, basis points, keyed by a region code prefix (a
    /// province "45", a prefecture "4510", a county "451024"): the longest prefix of a village or
    /// county wins. Stored versions before this named it `incidence_bp_by_province` (province
    /// keys only, which are prefixes too).
    #[serde(default, alias = "incidence_bp_by_province")]
    pub incidence_bp_by_region: BTreeMap<String, i64>,
    /// County exit: wrongful-exit and missed-poor rates below, approval at least (basis points).
    pub wrongful_exit_bp: i64,
    pub missed_poor_bp: i64,
    pub approval_bp: i64,
    /// Days the 公示 must last.
    pub publicity_days: i64,
    /// A year-on-year fall of per-capita income of at least this many per cent is a risk.
    pub sharp_drop_percent: i64,
    /// A sharp fall makes a household 脱贫不稳定户 or 边缘易致贫户 when it leaves the income below
    /// this multiple of the monitoring threshold, in per mille (1200 = 1.2×).
    #[serde(default = "default_risk_multiple_permille")]
    pub risk_multiple_permille: i64,
    /// The first year of monitoring cases (防返贫监测 began in 2020).
    #[serde(default = "default_monitoring_from_year")]
    pub monitoring_from_year: i64,
    /// The first year of the third category, 突发严重困难户 (2020 had two categories).
    #[serde(default = "default_sudden_hardship_from_year")]
    pub sudden_hardship_from_year: i64,
    /// The last year of 建档立卡 identification: the registry was closed after it, and later
    /// hardship is a monitoring case.
    #[serde(default = "default_registry_closed_after_year")]
    pub registry_closed_after_year: i64,
    /// Visits showing income above the threshold must be at least this many months apart.
    pub elimination_months: i64,
    #[serde(default)]
    pub extra_criteria: Vec<ExtraCriterion>,
    /// Identity clashes outside a user's scope (an ID number or 户编号 already registered
    /// elsewhere) allowed per user and day; beyond it the user may not import or write
    /// households until an administrator clears the block. Bounds what a cadre can learn
    /// about other regions' people by trying numbers. Stored versions without it read 20.
    #[serde(default = "default_identity_clash_daily_limit")]
    pub identity_clash_daily_limit: i64,
    /// The last year a status may change to 返贫 (from the next year a new difficulty is a
    /// monitoring case).
    #[serde(default = "default_returned_status_last_year")]
    pub returned_status_last_year: i64,
    /// 扶贫小额信贷: longest term in months and largest amount per household in yuan.
    #[serde(default = "default_microloan_max_months")]
    pub microloan_max_months: i64,
    #[serde(default = "default_microloan_max_yuan")]
    pub microloan_max_yuan: i64,
}

fn default_identity_clash_daily_limit() -> i64 {
    20
}

/// 2020: from 2021 the monitoring guidance applies (DOMAIN.md §7).
fn default_returned_status_last_year() -> i64 {
    2020
}

/// 扶贫小额信贷 (2014 guidance): at most 3 years …
fn default_microloan_max_months() -> i64 {
    36
}

/// … and at most 5万元 per household.
fn default_microloan_max_yuan() -> i64 {
    50_000
}

fn default_risk_multiple_permille() -> i64 {
    1200
}

fn default_monitoring_from_year() -> i64 {
    2020
}

fn default_sudden_hardship_from_year() -> i64 {
    2021
}

fn default_registry_closed_after_year() -> i64 {
    2020
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
                MonitoringThreshold {
                    province: 53,
                    county: None,
                    year: 2023,
                    yuan: 8050,
                    source: "云南省2023年县级监测标准".into(),
                },
                MonitoringThreshold {
                    province: 53,
                    county: None,
                    year: 2025,
                    yuan: 8700,
                    source: "云南省2025年监测标准".into(),
                },
                MonitoringThreshold {
                    province: 35,
                    county: Some(350121),
                    year: 2023,
                    yuan: 10560,
                    source: "福建省闽侯县2023年监测标准".into(),
                },
            ],
            incidence_bp: 200,
            incidence_bp_west: 300,
            incidence_bp_by_region: BTreeMap::new(),
            wrongful_exit_bp: 200,
            missed_poor_bp: 200,
            approval_bp: 9000,
            publicity_days: 7,
            sharp_drop_percent: 30,
            risk_multiple_permille: default_risk_multiple_permille(),
            monitoring_from_year: default_monitoring_from_year(),
            sudden_hardship_from_year: default_sudden_hardship_from_year(),
            registry_closed_after_year: default_registry_closed_after_year(),
            elimination_months: 6,
            extra_criteria: Vec::new(),
            identity_clash_daily_limit: default_identity_clash_daily_limit(),
            returned_status_last_year: default_returned_status_last_year(),
            microloan_max_months: default_microloan_max_months(),
            microloan_max_yuan: default_microloan_max_yuan(),
        }
    }
}

impl Rules {
    pub fn poverty_line(&self, year: i64) -> Option<Fen> {
        self.poverty_lines
            .get(&year)
            .map(|s| Fen::from_yuan(s.value))
    }

    /// The monitoring threshold for a county in year Y. Among the thresholds of the county and
    /// of its province dated Y or earlier, the latest year applies (a threshold stays in force
    /// until a newer one is set); on the same year the county's own beats its province's. With
    /// none, the multiple of year Y's poverty line (or, after the last year with a line, of the
    /// latest line, said so in the source). Returns the figure and where it came from.
    pub fn monitoring_threshold(&self, county: i64, year: i64) -> Option<(Fen, String)> {
        let province = county / 10_000;
        if let Some(t) = self
            .monitoring_thresholds
            .iter()
            .filter(|t| {
                t.year <= year
                    && (t.county == Some(county) || (t.county.is_none() && t.province == province))
            })
            .max_by_key(|t| (t.year, t.county.is_some()))
        {
            let own = if t.source.is_empty() {
                format!("{}年本地监测标准", t.year)
            } else {
                t.source.clone()
            };
            let source = if t.year == year {
                own
            } else {
                format!("沿用{}（{year}年未另定）", own)
            };
            return Some((Fen::from_yuan(t.yuan), source));
        }
        let multiple = permille_multiple(self.monitoring_multiple_permille);
        let (line_year, line) = match self.poverty_line(year) {
            Some(l) => (year, l),
            None => {
                let (y, s) = self.poverty_lines.range(..year).next_back()?;
                (*y, Fen::from_yuan(s.value))
            }
        };
        let fen = (line.0 as i128 * self.monitoring_multiple_permille as i128 / 1000) as i64;
        let source = if line_year == year {
            format!("{year}年贫困线的 {multiple} 倍")
        } else {
            format!("沿用{line_year}年贫困线的 {multiple} 倍（规则中没有{year}年的贫困线）")
        };
        Some((Fen(fen), source))
    }

    /// The most specific override whose prefix contains the region: (prefix, basis points).
    fn incidence_override(&self, region: RegionCode) -> Option<(&str, i64)> {
        let code = region.to_string();
        self.incidence_bp_by_region
            .iter()
            .filter(|(prefix, _)| code.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(prefix, bp)| (prefix.as_str(), *bp))
    }

    /// The incidence threshold of a village or county: its most specific override, else the
    /// western or the central-and-eastern default.
    pub fn incidence_threshold_bp(&self, region: RegionCode) -> i64 {
        self.incidence_bp_threshold_detail(region).0
    }

    fn incidence_bp_threshold_detail(&self, region: RegionCode) -> (i64, String) {
        let province = region.province_prefix();
        let (bp, why) = if let Some((prefix, bp)) = self.incidence_override(region) {
            (bp, format!("本地标准（区划 {prefix}）"))
        } else if WESTERN_PROVINCES.contains(&province) {
            (self.incidence_bp_west, "西部省份标准".to_string())
        } else {
            (self.incidence_bp, "中东部省份标准".to_string())
        };
        (bp, format!("{why} {}", bp_percent(bp)))
    }

    /// The province's extra criteria for a level ("village" or "county").
    pub fn extra_criteria_for(&self, province: i64, level: &str) -> Vec<Criterion> {
        self.extra_criteria
            .iter()
            .filter(|e| e.province == province && e.level == level)
            .map(|e| Criterion {
                key: format!("extra:{}", e.name),
                name: e.name.clone(),
                passed: false,
                detail: if e.source.is_empty() {
                    "本省附加标准：须人工核实，未计入系统判定".into()
                } else {
                    format!("本省附加标准（{}）：须人工核实，未计入系统判定", e.source)
                },
                manual: true,
            })
            .collect()
    }

    /// Checks an edited rule set before it is stored; every problem names its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut push = |field: String, message: String| out.push(FieldError::new(field, message));
        if self.poverty_lines.is_empty() {
            push("poverty_lines".into(), "至少需要一年的贫困线".into());
        }
        for (year, line) in &self.poverty_lines {
            if !(2000..=2100).contains(year) {
                push(
                    format!("poverty_lines.{year}"),
                    format!("年份 {year} 不在 2000–2100 之间"),
                );
            }
            if line.value <= 0 || line.value > 1_000_000 {
                push(
                    format!("poverty_lines.{year}.value"),
                    "贫困线应为大于 0 的元数".into(),
                );
            }
        }
        if !(1..=5).contains(&self.stable_years) {
            push("stable_years".into(), "“稳定”年数应为 1–5".into());
        }
        if !(1000..=5000).contains(&self.monitoring_multiple_permille) {
            push(
                "monitoring_multiple_permille".into(),
                "监测标准倍数应在 1000–5000‰（1–5 倍）之间".into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.monitoring_thresholds.iter().enumerate() {
            let f = |name: &str| format!("monitoring_thresholds[{i}].{name}");
            if !(11..=82).contains(&t.province) {
                push(f("province"), "省级代码应为两位数字（如 53）".into());
            }
            if let Some(c) = t.county
                && (!(110_000..=829_999).contains(&c) || c / 10_000 != t.province)
            {
                push(
                    f("county"),
                    format!("县级代码 {c} 应为六位数字且属于省 {}", t.province),
                );
            }
            if !(2000..=2100).contains(&t.year) {
                push(f("year"), "年份应在 2000–2100 之间".into());
            }
            if t.yuan <= 0 || t.yuan > 1_000_000 {
                push(f("yuan"), "监测标准应为大于 0 的元数".into());
            }
            if !seen.insert((t.province, t.county, t.year)) {
                push(f("year"), format!("同一地区 {} 年的监测标准重复", t.year));
            }
        }
        for (field, bp) in [
            ("incidence_bp", self.incidence_bp),
            ("incidence_bp_west", self.incidence_bp_west),
            ("wrongful_exit_bp", self.wrongful_exit_bp),
            ("missed_poor_bp", self.missed_poor_bp),
            ("approval_bp", self.approval_bp),
        ] {
            if !(0..=10_000).contains(&bp) {
                push(
                    field.into(),
                    "比例以万分之一计，应在 0–10000（0–100%）之间".into(),
                );
            }
        }
        for (p, bp) in &self.incidence_bp_by_region {
            let province = RegionCode::parse(p).map(|c| c.province_prefix());
            if !province.is_ok_and(|v| (11..=82).contains(&v)) {
                push(
                    format!("incidence_bp_by_region.{p}"),
                    "区划代码前缀应为 2 位（省）、4 位（市）、6 位（县）、9 位（乡）或 12 位（村）数字"
                        .into(),
                );
            }
            if !(0..=10_000).contains(bp) {
                push(
                    format!("incidence_bp_by_region.{p}"),
                    "比例以万分之一计，应在 0–10000 之间".into(),
                );
            }
        }
        if !(2000..=2100).contains(&self.returned_status_last_year) {
            push(
                "returned_status_last_year".into(),
                "登记返贫的最后年份应在 2000–2100 之间".into(),
            );
        }
        if !(1..=120).contains(&self.microloan_max_months) {
            push(
                "microloan_max_months".into(),
                "扶贫小额信贷最长期限应为 1–120 个月".into(),
            );
        }
        if !(1..=10_000_000).contains(&self.microloan_max_yuan) {
            push(
                "microloan_max_yuan".into(),
                "扶贫小额信贷每户最高额度应为 1–10000000 元".into(),
            );
        }
        if !(1..=30).contains(&self.publicity_days) {
            push("publicity_days".into(), "公示天数应为 1–30".into());
        }
        if !(1..=100).contains(&self.sharp_drop_percent) {
            push(
                "sharp_drop_percent".into(),
                "收入骤减幅度应为 1–100（%）".into(),
            );
        }
        if !(1000..=3000).contains(&self.risk_multiple_permille) {
            push(
                "risk_multiple_permille".into(),
                "骤减后的风险线倍数应在 1000–3000‰（1–3 倍监测标准）之间".into(),
            );
        }
        for (field, year) in [
            ("monitoring_from_year", self.monitoring_from_year),
            ("sudden_hardship_from_year", self.sudden_hardship_from_year),
            (
                "registry_closed_after_year",
                self.registry_closed_after_year,
            ),
        ] {
            if !(2000..=2100).contains(&year) {
                push(field.into(), "年份应在 2000–2100 之间".into());
            }
        }
        if self.sudden_hardship_from_year < self.monitoring_from_year {
            push(
                "sudden_hardship_from_year".into(),
                "突发严重困难户单列的年份不能早于防返贫监测开始的年份".into(),
            );
        }
        if !(1..=24).contains(&self.elimination_months) {
            push(
                "elimination_months".into(),
                "风险消除的走访间隔应为 1–24 个月".into(),
            );
        }
        if !(1..=10_000).contains(&self.identity_clash_daily_limit) {
            push(
                "identity_clash_daily_limit".into(),
                "每人每日身份冲突上限应为 1–10000".into(),
            );
        }
        for (i, e) in self.extra_criteria.iter().enumerate() {
            if !(11..=82).contains(&e.province) {
                push(
                    format!("extra_criteria[{i}].province"),
                    "省级代码应为两位数字".into(),
                );
            }
            if e.level != "village" && e.level != "county" {
                push(
                    format!("extra_criteria[{i}].level"),
                    "层级应为 village（村）或 county（县）".into(),
                );
            }
            if e.name.trim().is_empty() {
                push(format!("extra_criteria[{i}].name"), "请填写标准名称".into());
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
    /// Verified by people, not by the system: listed, not counted in the result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

impl Criterion {
    pub fn new(
        key: impl Into<String>,
        name: impl Into<String>,
        passed: bool,
        detail: impl Into<String>,
    ) -> Criterion {
        Criterion {
            key: key.into(),
            name: name.into(),
            passed,
            detail: detail.into(),
            manual: false,
        }
    }
}

/// A household's situation in the assessed year, as the decision needs it.
#[derive(Debug, Clone, Default)]
pub struct HouseholdFacts {
    /// Per-capita net income by year, in fen.
    pub per_capita: BTreeMap<i64, Fen>,
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
        self.criteria.iter().filter(|c| !c.passed && !c.manual)
    }

    /// The failing criteria's keys, comma-separated (stored for filtering and counting).
    pub fn failing_keys(&self) -> String {
        self.failing()
            .map(|c| c.key.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One year of the income test as decided: (year, per-capita income, poverty line). Stored as
/// `[year, fen, fen]` (the money serialises as its integer fen), so decisions stored before
/// the amounts were typed read back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomeCheck(pub i64, pub Option<Fen>, pub Option<Fen>);

/// What a household decision was computed from, stored compactly with the decision:
/// `{"y":2019,"i":[[2019,500000,321800],[2018,200000,299500]],"g":"111111"}`. The lines are
/// those in force then, so the explanation renders the same whatever the rules say later.
/// `g` holds 不愁吃, 不愁穿, 义务教育, 基本医疗, 住房安全, 饮水安全 as 1 (yes), 0 (no) or - (not reported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    #[serde(rename = "y")]
    pub year: i64,
    #[serde(rename = "i")]
    pub incomes: Vec<IncomeCheck>,
    #[serde(rename = "g")]
    pub guarantees: String,
}

const GUARANTEES: [(&str, &str, &str, &str); 6] = [
    ("food", "不愁吃", "已保障", "未保障"),
    ("clothing", "不愁穿", "已保障", "未保障"),
    (
        "education",
        "义务教育有保障",
        "无义务教育阶段失学辍学",
        "存在失学辍学",
    ),
    (
        "medical",
        "基本医疗有保障",
        "已参保并享受医疗保障",
        "基本医疗未保障",
    ),
    ("housing", "住房安全有保障", "住房安全", "住房不安全"),
    ("water", "饮水安全有保障", "饮水安全", "饮水不安全"),
];

/// Names of the household criteria by key, for summaries ("income_2018" → its name).
pub fn household_criterion_name(key: &str) -> String {
    if key == "income" {
        return "当年人均纯收入高于贫困线".into();
    }
    if let Some(y) = key.strip_prefix("income_") {
        return format!("{y}年人均纯收入高于贫困线（稳定）");
    }
    GUARANTEES
        .iter()
        .find(|g| g.0 == key)
        .map(|g| g.1.to_string())
        .unwrap_or_else(|| key.to_string())
}

impl DecisionRecord {
    pub fn from_facts(rules: &Rules, facts: &HouseholdFacts, year: i64) -> DecisionRecord {
        let incomes = (0..rules.stable_years)
            .map(|back| {
                let y = year - back;
                IncomeCheck(y, facts.per_capita.get(&y).copied(), rules.poverty_line(y))
            })
            .collect();
        let flag = |v: Option<bool>| match v {
            Some(true) => '1',
            Some(false) => '0',
            None => '-',
        };
        let guarantees = [
            facts.food_secure,
            facts.clothing_secure,
            facts.education_secure,
            facts.medical_secure,
            facts.housing_secure,
            facts.safe_water,
        ]
        .into_iter()
        .map(flag)
        .collect();
        DecisionRecord {
            year,
            incomes,
            guarantees,
        }
    }

    /// The keys of the failing criteria, without rendering any text (the batch path).
    pub fn failing_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        for IncomeCheck(y, pc, line) in &self.incomes {
            let passed = matches!((pc, line), (Some(pc), Some(line)) if pc > line);
            if !passed {
                out.push(if *y == self.year {
                    "income".to_string()
                } else {
                    format!("income_{y}")
                });
            }
        }
        let flags = self.guarantees.as_bytes();
        for (i, g) in GUARANTEES.iter().enumerate() {
            if flags.get(i) != Some(&b'1') {
                out.push(g.0.to_string());
            }
        }
        out
    }

    /// The decision with every criterion and its figures.
    pub fn decision(&self) -> ExitDecision {
        let mut criteria = Vec::new();
        for IncomeCheck(y, pc, line) in &self.incomes {
            let y = *y;
            let current = y == self.year;
            let key = if current {
                "income".to_string()
            } else {
                format!("income_{y}")
            };
            let name = if current {
                format!("{y}年人均纯收入高于贫困线")
            } else {
                format!("{y}年人均纯收入高于贫困线（稳定）")
            };
            let c = match (line, pc) {
                (None, _) => Criterion::new(key, name, false, format!("规则中没有 {y} 年的贫困线")),
                (Some(_), None) => Criterion::new(key, name, false, format!("未填报 {y} 年收入")),
                (Some(line), Some(pc)) => {
                    let relation = if pc > line {
                        "高于"
                    } else if pc == line {
                        "等于（不算高于）"
                    } else {
                        "低于"
                    };
                    Criterion::new(
                        key,
                        name,
                        pc > line,
                        format!(
                            "人均纯收入 {} 元，{relation}贫困线 {} 元",
                            pc.yuan_string(),
                            line.yuan_string()
                        ),
                    )
                }
            };
            criteria.push(c);
        }
        let flags: Vec<char> = self.guarantees.chars().collect();
        for (i, (key, name, yes, no)) in GUARANTEES.iter().enumerate() {
            let (passed, detail) = match flags.get(i) {
                Some('1') => (true, *yes),
                Some('0') => (false, *no),
                _ => (false, "未填报"),
            };
            criteria.push(Criterion::new(*key, *name, passed, detail));
        }
        let may_exit = criteria.iter().all(|c| c.passed);
        ExitDecision {
            year: self.year,
            may_exit,
            criteria,
        }
    }
}

/// The household test of the 2016 opinion: per-capita income stably ABOVE the line (equal is
/// not above), 两不愁三保障 and safe drinking water. Every criterion is listed, pass or fail.
pub fn assess_household(rules: &Rules, facts: &HouseholdFacts, year: i64) -> ExitDecision {
    DecisionRecord::from_facts(rules, facts, year).decision()
}

/// Poverty incidence (贫困发生率) in basis points, rounded half up; None without a population.
pub fn incidence_bp(remaining_poor: i64, rural_population: i64) -> Option<i64> {
    if rural_population <= 0 {
        return None;
    }
    Some(
        ((remaining_poor as i128 * 10_000 * 2 + rural_population as i128)
            / (2 * rural_population as i128)) as i64,
    )
}

/// Village or county incidence test: strictly below the province's threshold. The comparison
/// is exact (remaining × 10000 < threshold × population), not on a rounded percentage.
pub fn incidence_criterion(
    rules: &Rules,
    region: RegionCode,
    remaining_poor: i64,
    rural_population: i64,
) -> Criterion {
    let threshold = rules.incidence_bp_threshold_detail(region);
    let name = format!("贫困发生率低于{}", bp_percent(threshold.0));
    match rural_population {
        p if p <= 0 => Criterion::new(
            "incidence",
            name,
            false,
            format!("缺少农业户籍人口（{}）", threshold.1),
        ),
        p => {
            let passed = (remaining_poor as i128) * 10_000 < (threshold.0 as i128) * (p as i128);
            Criterion::new(
                "incidence",
                name,
                passed,
                format!(
                    "剩余贫困人口 {remaining_poor} 人 ÷ 农业户籍人口 {p} 人 = {:.2}%（{}）",
                    remaining_poor as f64 * 100.0 / p as f64,
                    threshold.1
                ),
            )
        }
    }
}

/// A multiple in per mille as people write it: 1500 → "1.5", 1200 → "1.2", 1250 → "1.25".
pub fn permille_multiple(permille: i64) -> String {
    let text = format!("{}.{:03}", permille / 1000, permille % 1000);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn bp_percent(bp: i64) -> String {
    if bp % 100 == 0 {
        format!("{}%", bp / 100)
    } else {
        format!("{:.2}%", bp as f64 / 100.0)
    }
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

impl CountyReview {
    /// Problems with entered sample figures (a part larger than its sample, negatives).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (field, v) in [
            ("sampled_exited", self.sampled_exited),
            ("wrongly_exited", self.wrongly_exited),
            ("sampled_households", self.sampled_households),
            ("missed_poor", self.missed_poor),
            ("surveyed", self.surveyed),
            ("approving", self.approving),
        ] {
            if v < 0 {
                out.push(FieldError::new(field, "不能为负数"));
            }
        }
        for (part, whole, field, msg) in [
            (
                self.wrongly_exited,
                self.sampled_exited,
                "wrongly_exited",
                "错退户数不能多于抽查的脱贫户数",
            ),
            (
                self.missed_poor,
                self.sampled_households,
                "missed_poor",
                "漏评户数不能多于抽查户数",
            ),
            (
                self.approving,
                self.surveyed,
                "approving",
                "认可人数不能多于调查人数",
            ),
        ] {
            if part > whole {
                out.push(FieldError::new(field, msg));
            }
        }
        out
    }
}

pub fn county_review_criteria(rules: &Rules, r: &CountyReview) -> Vec<Criterion> {
    let rate = |n: i64, d: i64| {
        if d > 0 {
            Some(n as f64 * 100.0 / d as f64)
        } else {
            None
        }
    };
    let below = |key: &str, name: &str, n: i64, d: i64, bp: i64| match rate(n, d) {
        None => Criterion::new(key, name, false, "未录入抽查数据"),
        Some(pct) => Criterion::new(
            key,
            name,
            (n as i128) * 10_000 < (bp as i128) * (d as i128),
            format!("{n} / {d} = {pct:.2}%（须低于 {}）", bp_percent(bp)),
        ),
    };
    vec![
        below(
            "wrongful_exit",
            "错退率",
            r.wrongly_exited,
            r.sampled_exited,
            rules.wrongful_exit_bp,
        ),
        below(
            "missed_poor",
            "漏评率",
            r.missed_poor,
            r.sampled_households,
            rules.missed_poor_bp,
        ),
        match rate(r.approving, r.surveyed) {
            None => Criterion::new("approval", "群众认可度", false, "未录入调查数据"),
            Some(pct) => Criterion::new(
                "approval",
                "群众认可度",
                (r.approving as i128) * 10_000
                    >= (rules.approval_bp as i128) * (r.surveyed as i128),
                format!(
                    "{} / {} = {pct:.2}%（须不低于 {}）",
                    r.approving,
                    r.surveyed,
                    bp_percent(rules.approval_bp)
                ),
            ),
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// The exit procedure (2016 opinion): 拟退出 → 民主评议 → 村两委和驻村工作队核实 → 贫困户认可 → 公示
// → 公告 → 销号. A household that does not agree (不认可) stops it like an objection in 公示 (异议).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStep {
    Proposed,
    Review,
    Verification,
    Consent,
    Publicity,
    Announcement,
    Removed,
    Objection,
    Refusal,
}

impl ExitStep {
    pub const ALL: [ExitStep; 9] = [
        ExitStep::Proposed,
        ExitStep::Review,
        ExitStep::Verification,
        ExitStep::Consent,
        ExitStep::Publicity,
        ExitStep::Announcement,
        ExitStep::Removed,
        ExitStep::Objection,
        ExitStep::Refusal,
    ];

    /// The steps of a procedure that runs to its end, in order (no stops).
    pub const CHAIN: [ExitStep; 7] = [
        ExitStep::Proposed,
        ExitStep::Review,
        ExitStep::Verification,
        ExitStep::Consent,
        ExitStep::Publicity,
        ExitStep::Announcement,
        ExitStep::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitStep::Proposed => "proposed",
            ExitStep::Review => "review",
            ExitStep::Verification => "verification",
            ExitStep::Consent => "consent",
            ExitStep::Publicity => "publicity",
            ExitStep::Announcement => "announcement",
            ExitStep::Removed => "removed",
            ExitStep::Objection => "objection",
            ExitStep::Refusal => "refusal",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            ExitStep::Proposed => "拟退出",
            ExitStep::Review => "民主评议",
            ExitStep::Verification => "村两委和驻村工作队核实",
            ExitStep::Consent => "贫困户认可",
            ExitStep::Publicity => "公示",
            ExitStep::Announcement => "公告",
            ExitStep::Removed => "销号",
            ExitStep::Objection => "异议（程序中止）",
            ExitStep::Refusal => "贫困户不认可（程序中止）",
        }
    }

    /// Whether the step ends the procedure without an exit (it may start again with 拟退出).
    pub fn stops(self) -> bool {
        matches!(self, ExitStep::Objection | ExitStep::Refusal)
    }

    /// Accepts the English key or the Chinese name (the stops without their suffix too:
    /// "异议", "不认可", "贫困户不认可"; "核实" for the verification).
    pub fn parse(s: &str) -> Option<ExitStep> {
        let t = s.trim();
        let short = match t {
            "异议" => Some(ExitStep::Objection),
            "不认可" | "贫困户不认可" => Some(ExitStep::Refusal),
            "核实" => Some(ExitStep::Verification),
            "认可" => Some(ExitStep::Consent),
            _ => None,
        };
        short.or_else(|| {
            ExitStep::ALL
                .into_iter()
                .find(|e| e.as_str() == t || e.name_zh() == t)
        })
    }

    /// The steps that may follow this one (None = nothing recorded yet).
    pub fn next_steps(current: Option<ExitStep>) -> &'static [ExitStep] {
        match current {
            None | Some(ExitStep::Objection) | Some(ExitStep::Refusal) => &[ExitStep::Proposed],
            Some(ExitStep::Proposed) => &[ExitStep::Review],
            Some(ExitStep::Review) => &[ExitStep::Verification],
            Some(ExitStep::Verification) => &[ExitStep::Consent, ExitStep::Refusal],
            Some(ExitStep::Consent) => &[ExitStep::Publicity],
            Some(ExitStep::Publicity) => &[ExitStep::Announcement, ExitStep::Objection],
            Some(ExitStep::Announcement) => &[ExitStep::Removed],
            Some(ExitStep::Removed) => &[],
        }
    }

    /// The whole procedure in words, for pages and API descriptions.
    pub fn chain_zh(publicity_days: i64) -> String {
        let chain: Vec<String> = ExitStep::CHAIN
            .iter()
            .map(|s| match s {
                ExitStep::Publicity => format!("公示（不少于 {publicity_days} 天）"),
                s => s.name_zh().to_string(),
            })
            .collect();
        format!(
            "{}；贫困户不认可或公示期内有异议则程序中止（须写明理由），可重新拟退出。",
            chain.join(" → ")
        )
    }
}

/// A date as (year, month, day).
pub type Ymd = (i32, u32, u32);

/// Parses "YYYY-MM-DD" (a real calendar date).
pub fn parse_date(s: &str) -> Option<Ymd> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s.get(..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..)?.parse().ok()?;
    crate::id_number::is_valid_date(y, m, d).then_some((y, m, d))
}

/// Parses a date as spreadsheets hold it: "2021-06-01", "2021/6/1", "2021.06.01", a
/// date-time whose date part is one of these ("2021-06-01 00:00:00", "2021-06-01T00:00:00"), or
/// an Excel date cell read as its serial number ("44348", days since 1899-12-30).
pub fn parse_loose_date(s: &str) -> Option<Ymd> {
    let t = s.trim();
    if let Ok(serial) = t.parse::<f64>()
        && (20_000.0..=80_000.0).contains(&serial)
    {
        return Some(civil_from_days(
            days_from_civil((1899, 12, 30)) + serial.floor() as i64,
        ));
    }
    let date = t.split([' ', 'T']).next().unwrap_or(t);
    let parts: Vec<&str> = date.split(['-', '/', '.']).collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let (y, m, d) = (
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    );
    crate::id_number::is_valid_date(y, m, d).then_some((y, m, d))
}

pub fn format_date(d: Ymd) -> String {
    format!("{:04}-{:02}-{:02}", d.0, d.1, d.2)
}

/// Days since 1970-01-01 (proleptic Gregorian).
pub fn days_from_civil(d: Ymd) -> i64 {
    let (y, m, day) = (d.0 as i64, d.1 as i64, d.2 as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(z: i64) -> Ymd {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m as u32, d as u32)
}

/// The last day of a 公示 that starts on `start` and lasts `days` days.
pub fn publicity_end(start: Ymd, days: i64) -> Ymd {
    civil_from_days(days_from_civil(start) + days - 1)
}

/// One recorded step of a household's exit procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step: ExitStep,
    pub date: Ymd,
}

/// Checks the next step of an exit procedure against the steps recorded so far (oldest
/// first): the order, dates that never go back, a 公示 of at least `publicity_days` days before
/// the 公告 (公示 from day D lasts D … D+days−1; the 公告 may be dated D+days at the earliest),
/// an objection only during the 公示 window (D … D+days−1) and, like the household's refusal,
/// with its reason; a responsible person for every step.
pub fn check_exit_step(
    rules: &Rules,
    history: &[StepRecord],
    next: ExitStep,
    date: &str,
    responsible: &str,
    note: &str,
) -> Vec<FieldError> {
    let mut out = Vec::new();
    let current = history.last();
    let allowed = ExitStep::next_steps(current.map(|c| c.step));
    if !allowed.contains(&next) {
        let now = current.map(|c| c.step.name_zh()).unwrap_or("尚未开始");
        let message = if allowed.is_empty() {
            format!("退出程序已销号结束，不能再登记“{}”", next.name_zh())
        } else if next == ExitStep::Objection {
            format!("只有在公示期间才能登记异议（当前：{now}）")
        } else if next == ExitStep::Refusal {
            format!("贫困户认可与否在村两委和驻村工作队核实之后登记（当前：{now}）")
        } else {
            format!(
                "当前步骤为“{now}”，下一步只能是：{}",
                allowed
                    .iter()
                    .map(|s| s.name_zh())
                    .collect::<Vec<_>>()
                    .join("、")
            )
        };
        out.push(FieldError::new("state", message));
    }
    if responsible.trim().is_empty() {
        out.push(FieldError::new("responsible", "请填写责任人"));
    }
    if next == ExitStep::Objection && note.trim().is_empty() {
        out.push(FieldError::new("note", "登记异议须写明理由"));
    }
    if next == ExitStep::Refusal && note.trim().is_empty() {
        out.push(FieldError::new("note", "贫困户不认可须写明理由"));
    }
    match parse_date(date) {
        None => out.push(FieldError::new("date", "日期应为 YYYY-MM-DD")),
        Some(d) => {
            if let Some(c) = current
                && days_from_civil(d) < days_from_civil(c.date)
            {
                out.push(FieldError::new(
                    "date",
                    format!(
                        "日期不能早于上一步“{}”的日期 {}",
                        c.step.name_zh(),
                        format_date(c.date)
                    ),
                ));
            }
            if next == ExitStep::Objection
                && let Some(p) = current.filter(|c| c.step == ExitStep::Publicity)
            {
                let end = publicity_end(p.date, rules.publicity_days);
                if days_from_civil(d) > days_from_civil(end) {
                    out.push(FieldError::new(
                        "date",
                        format!(
                            "公示期为 {} 至 {}（{} 天），异议须在公示期内提出",
                            format_date(p.date),
                            format_date(end),
                            rules.publicity_days
                        ),
                    ));
                }
            }
            if next == ExitStep::Announcement
                && let Some(p) = history.iter().rev().find(|s| s.step == ExitStep::Publicity)
                && let Some(problem) = publicity_shortfall(rules, p.date, d, "公告")
            {
                out.push(FieldError::new("date", problem));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Monitoring (防返贫监测).

/// How a monitoring case was found (识别渠道).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 农户申报
    Declaration,
    /// 干部走访排查
    Visit,
    /// 部门筛查预警 (and the batch's screening of the registry data)
    Screening,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Declaration, Channel::Visit, Channel::Screening];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Declaration => "declaration",
            Channel::Visit => "visit",
            Channel::Screening => "screening",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Channel::Declaration => "农户申报",
            Channel::Visit => "干部走访排查",
            Channel::Screening => "部门筛查预警",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        let t = s.trim();
        Channel::ALL.into_iter().find(|c| {
            c.as_str() == t
                || c.name_zh() == t
                || (t == "申报" && *c == Channel::Declaration)
                || (t == "走访" && *c == Channel::Visit)
                || (t == "筛查" && *c == Channel::Screening)
        })
    }
}

/// Kinds of rigid expense (刚性支出).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpenseKind {
    Medical,
    Schooling,
    Disaster,
}

impl ExpenseKind {
    pub const ALL: [ExpenseKind; 3] = [
        ExpenseKind::Medical,
        ExpenseKind::Schooling,
        ExpenseKind::Disaster,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExpenseKind::Medical => "medical",
            ExpenseKind::Schooling => "schooling",
            ExpenseKind::Disaster => "disaster",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            ExpenseKind::Medical => "医疗",
            ExpenseKind::Schooling => "教育",
            ExpenseKind::Disaster => "灾害",
        }
    }

    pub fn parse(s: &str) -> Option<ExpenseKind> {
        let t = s.trim();
        ExpenseKind::ALL.into_iter().find(|k| {
            k.as_str() == t
                || k.name_zh() == t
                || matches!((k, t), (ExpenseKind::Medical, "医疗支出" | "看病"))
                || matches!(
                    (k, t),
                    (ExpenseKind::Schooling, "就学" | "上学" | "教育支出")
                )
                || matches!((k, t), (ExpenseKind::Disaster, "受灾" | "灾害支出"))
        })
    }
}

/// Kinds of shock (突发变故).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShockKind {
    Illness,
    Disaster,
    Accident,
    JobLoss,
}

impl ShockKind {
    pub const ALL: [ShockKind; 4] = [
        ShockKind::Illness,
        ShockKind::Disaster,
        ShockKind::Accident,
        ShockKind::JobLoss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShockKind::Illness => "illness",
            ShockKind::Disaster => "disaster",
            ShockKind::Accident => "accident",
            ShockKind::JobLoss => "job_loss",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            ShockKind::Illness => "重大疾病",
            ShockKind::Disaster => "自然灾害",
            ShockKind::Accident => "意外事故",
            ShockKind::JobLoss => "失业（务工中断）",
        }
    }

    pub fn parse(s: &str) -> Option<ShockKind> {
        let t = s.trim();
        ShockKind::ALL.into_iter().find(|k| {
            k.as_str() == t
                || k.name_zh() == t
                || matches!((k, t), (ShockKind::Illness, "疾病" | "重病" | "大病"))
                || matches!((k, t), (ShockKind::Disaster, "灾害" | "受灾"))
                || matches!((k, t), (ShockKind::Accident, "意外" | "事故"))
                || matches!((k, t), (ShockKind::JobLoss, "失业" | "务工中断"))
        })
    }
}

/// A visit as entered (the store adds the household and who recorded it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitInput {
    pub visit_date: String,
    pub visitor: String,
    pub findings: String,
    /// Estimated per-capita net income over the last 12 months, as typed (元).
    pub income_12m: String,
    pub risks: String,
}

/// A checked visit.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedVisit {
    pub visit_date: String,
    pub visitor: String,
    pub findings: String,
    pub income_12m_fen: Option<i64>,
    pub risks: String,
}

/// Checks a visit; problems name the API fields (`visit_date`, `visitor`, `income_12m`).
pub fn check_visit(v: &VisitInput, today: Date) -> Result<CheckedVisit, Vec<FieldError>> {
    let mut out = Vec::new();
    match parse_date(v.visit_date.trim()) {
        None => out.push(FieldError::new("visit_date", "走访日期应为 YYYY-MM-DD")),
        Some(d) if days_from_civil(d) > today.days_since_epoch() => {
            out.push(FieldError::new("visit_date", "走访日期不能晚于今天"))
        }
        Some(_) => {}
    }
    if v.visitor.trim().is_empty() {
        out.push(FieldError::new("visitor", "请填写走访人"));
    }
    let income = match v.income_12m.trim() {
        "" => None,
        t => match Fen::parse_yuan(t) {
            Ok(f) if f.0 < 0 => {
                out.push(FieldError::new("income_12m", "收入不能为负数"));
                None
            }
            Ok(f) => Some(f.0),
            Err(e) => {
                out.push(FieldError::new("income_12m", e.to_string()));
                None
            }
        },
    };
    if out.is_empty() {
        Ok(CheckedVisit {
            visit_date: v.visit_date.trim().to_string(),
            visitor: v.visitor.trim().to_string(),
            findings: v.findings.trim().to_string(),
            income_12m_fen: income,
            risks: v.risks.trim().to_string(),
        })
    } else {
        Err(out)
    }
}

/// 监测对象类型 codes of the code table.
pub const MONITOR_UNSTABLE: &str = "1";
pub const MONITOR_EDGE: &str = "2";
pub const MONITOR_SUDDEN: &str = "3";

pub fn monitoring_category_name(code: &str) -> &'static str {
    match code {
        MONITOR_UNSTABLE => "脱贫不稳定户",
        MONITOR_EDGE => "边缘易致贫户",
        MONITOR_SUDDEN => "突发严重困难户",
        _ => "未知类别",
    }
}

/// What monitoring looks at for one household.
#[derive(Debug, Clone, Default)]
pub struct RiskFacts {
    /// Registered poor household that has exited (脱贫户).
    pub exited: bool,
    /// In the registry as a poor household at all (a household that never was is a 边缘户 candidate).
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

/// Finds why a household should be monitored in `year`, and in which category (DOMAIN.md §7).
/// None = no risk by the rules, a year before monitoring began, or a registered household not
/// yet out of poverty (it is in the poverty work, not monitoring).
///
/// - 脱贫不稳定户 (registered, exited) / 边缘易致贫户 (never registered): per-capita income below
///   the threshold, or a fall of at least `sharp_drop_percent` that leaves it below
///   `risk_multiple_permille` × the threshold.
/// - 突发严重困难户 (from `sudden_hardship_from_year`): neither of these, and rigid expenses of the
///   year (not reimbursed) above the household's net income, or a fall of at least
///   `sharp_drop_percent` with a shock recorded in the year. Before that year (2020 had two
///   categories) such a household is monitored in its income-based category.
/// - Income-based and a shock: the income-based category, the shock recorded as its cause.
///
/// Declarations and risks noted at visits add to the risk score; they decide no category.
pub fn monitoring_candidate(
    threshold: Fen,
    rules: &Rules,
    f: &RiskFacts,
    year: i64,
) -> Option<MonitoringCandidate> {
    if f.registered && !f.exited {
        return None;
    }
    if year < rules.monitoring_from_year {
        return None;
    }
    let t = threshold.yuan_string();
    let mut signals = Vec::new();
    let low = f.per_capita_this_year.is_some_and(|pc| pc < threshold.0);
    if let Some(pc) = f.per_capita_this_year
        && low
    {
        signals.push(RiskSignal {
            key: "low_income".into(),
            detail: format!("人均纯收入 {} 元低于监测标准 {t} 元", Fen(pc).yuan_string()),
            weight: 40 + ((threshold.0 - pc) * 40 / threshold.0.max(1)).min(40),
        });
    }
    // A fall of at least sharp_drop_percent, with its figures.
    let drop = match (f.per_capita_this_year, f.per_capita_last_year) {
        (Some(now), Some(before))
            if before > 0
                && (before - now) as i128 * 100
                    >= before as i128 * rules.sharp_drop_percent as i128 =>
        {
            Some((before, now, (before - now) as i128 * 100 / before as i128))
        }
        _ => None,
    };
    let at_risk_line = (threshold.0 as i128 * rules.risk_multiple_permille as i128 / 1000) as i64;
    let multiple = permille_multiple(rules.risk_multiple_permille);
    let fall = |(before, now, pct): (i64, i64, i128)| {
        format!(
            "人均纯收入由 {} 元降至 {} 元，降幅 {pct}%（不低于 {}%）",
            Fen(before).yuan_string(),
            Fen(now).yuan_string(),
            rules.sharp_drop_percent
        )
    };
    let drop_at_risk = drop.filter(|d| d.1 < at_risk_line);
    if let Some(d) = drop_at_risk {
        signals.push(RiskSignal {
            key: "sharp_drop".into(),
            detail: format!(
                "{}，低于监测标准 {t} 元的 {multiple} 倍（{} 元）",
                fall(d),
                Fen(at_risk_line).yuan_string()
            ),
            weight: 30,
        });
    }
    let income_based = low || drop_at_risk.is_some();
    let mut hardship = false;
    if !income_based {
        if let Some(net) = f.net_income
            && f.rigid_expenses_net > net.max(0)
        {
            hardship = true;
            signals.push(RiskSignal {
                key: "rigid_expenses".into(),
                detail: format!(
                    "人均纯收入不低于监测标准 {t} 元；刚性支出（扣除报销后）{} 元超过家庭纯收入 {} 元",
                    Fen(f.rigid_expenses_net).yuan_string(),
                    Fen(net).yuan_string()
                ),
                weight: 35,
            });
        }
        if let Some(d) = drop
            && !f.shocks.is_empty()
        {
            hardship = true;
            signals.push(RiskSignal {
                key: "shock_drop".into(),
                detail: format!("{}，因突发变故：{}", fall(d), f.shocks.join("、")),
                weight: 30,
            });
        }
    }
    if !income_based && !hardship {
        return None;
    }
    for s in &f.shocks {
        signals.push(RiskSignal {
            key: "shock".into(),
            detail: format!("遭遇{s}"),
            weight: 45,
        });
    }
    if f.declared {
        signals.push(RiskSignal {
            key: "declared".into(),
            detail: "农户申报".into(),
            weight: 20,
        });
    }
    for r in &f.visit_risks {
        signals.push(RiskSignal {
            key: "visit".into(),
            detail: format!("走访发现：{r}"),
            weight: 25,
        });
    }
    let by_registration = if f.exited {
        MONITOR_UNSTABLE
    } else {
        MONITOR_EDGE
    };
    let category = if income_based {
        by_registration
    } else if year >= rules.sudden_hardship_from_year {
        MONITOR_SUDDEN
    } else {
        signals.push(RiskSignal {
            key: "category_year".into(),
            detail: format!(
                "{year}年尚未单列突发严重困难户（自{}年起），按{}监测",
                rules.sudden_hardship_from_year,
                monitoring_category_name(by_registration)
            ),
            weight: 0,
        });
        by_registration
    };
    let risk_score = signals.iter().map(|s| s.weight).sum();
    Some(MonitoringCandidate {
        category: category.into(),
        signals,
        risk_score,
    })
}

/// The categories a household may be filed under by registration in `year`: an exited
/// household 脱贫不稳定户, a never-registered one 边缘易致贫户, either 突发严重困难户 from
/// `sudden_hardship_from_year`; none for a registered household not yet out of poverty or a
/// year before monitoring began. Err is the reason, in Chinese, naming the right category.
pub fn check_case_category(
    rules: &Rules,
    registered: bool,
    exited: bool,
    category: &str,
    year: i64,
) -> Result<(), FieldError> {
    if year < rules.monitoring_from_year {
        return Err(FieldError::new(
            "identified_at",
            format!(
                "防返贫监测自{}年起实施，不能登记{year}年识别的监测对象",
                rules.monitoring_from_year
            ),
        ));
    }
    if registered && !exited {
        return Err(FieldError::new(
            "household",
            "该户尚未脱贫（或已返贫），在帮扶中，不纳入防返贫监测",
        ));
    }
    let by_registration = if exited {
        MONITOR_UNSTABLE
    } else {
        MONITOR_EDGE
    };
    match category {
        MONITOR_SUDDEN if year < rules.sudden_hardship_from_year => Err(FieldError::new(
            "category",
            format!(
                "突发严重困难户自{}年起单列，{year}年应登记为{}",
                rules.sudden_hardship_from_year,
                monitoring_category_name(by_registration)
            ),
        )),
        MONITOR_SUDDEN => Ok(()),
        c if c == by_registration => Ok(()),
        c => {
            let why = if exited {
                "该户为已脱贫的建档立卡户"
            } else {
                "该户为未建档立卡的一般农户"
            };
            Err(FieldError::new(
                "category",
                format!(
                    "{why}，不能登记为{}，应为{}{}",
                    monitoring_category_name(c),
                    monitoring_category_name(by_registration),
                    if year >= rules.sudden_hardship_from_year {
                        "或突发严重困难户"
                    } else {
                        ""
                    }
                ),
            ))
        }
    }
}

/// A visit's income estimate, for risk elimination.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitIncome {
    pub date: Ymd,
    /// Estimated per-capita net income over the 12 months before the visit, fen.
    pub per_capita_12m: i64,
}

/// What risk elimination looks at.
#[derive(Debug, Clone, Default)]
pub struct EliminationFacts {
    /// Visits since the household was identified, with an income estimate.
    pub visits: Vec<VisitIncome>,
    /// Rigid expenses not yet resolved (count).
    pub unresolved_expenses: i64,
    /// New risks seen since identification (shocks, risks noted at the latest visit).
    pub new_risks: Vec<String>,
    /// Labour capacity of the active members (`labour_capacity`): Some(false) when all are
    /// 丧失劳动力 or 无劳动力, None when not every member's capacity is recorded.
    pub has_labour: Option<bool>,
    /// 三保障 and safe water all secured (None = not all reported).
    pub guarantees_secured: Option<bool>,
}

/// The date `months` calendar months after `d`, on the last day of the month when the month
/// is shorter (2021-08-31 + 6 = 2022-02-28).
pub fn add_months(d: Ymd, months: i64) -> Ymd {
    let index = d.0 as i64 * 12 + (d.1 as i64 - 1) + months;
    let (y, m) = (index.div_euclid(12) as i32, index.rem_euclid(12) as u32 + 1);
    let mut day = d.2;
    while !crate::id_number::is_valid_date(y, m, day) {
        day -= 1;
    }
    (y, m, day)
}

/// Whole calendar months from `a` to `b`: the largest n with `add_months(a, n)` on or before
/// `b` (2021-08-31 → 2022-02-28 is six months, 2021-01-10 → 2021-07-09 five).
pub fn months_between(a: Ymd, b: Ymd) -> i64 {
    let m = (b.0 - a.0) as i64 * 12 + b.1 as i64 - a.1 as i64;
    if days_from_civil(add_months(a, m)) > days_from_civil(b) {
        m - 1
    } else {
        m
    }
}

/// 劳动技能 codes (labour.csv) that count as labour capacity: 普通, 技能 and 弱劳动力或半劳动力.
/// 丧失劳动力 (4) and 无劳动力 (5) do not.
pub const LABOUR_CAPACITY_CODES: [&str; 3] = ["1", "2", "3"];

/// A household's labour capacity from its active members' 劳动技能 codes: Some(true) when one
/// member has capacity, Some(false) when every member is 丧失劳动力 or 无劳动力 (such a household
/// stays monitored), None when some member's capacity is not recorded.
pub fn labour_capacity<'a>(codes: impl IntoIterator<Item = &'a str>) -> Option<bool> {
    let mut unknown = false;
    for c in codes {
        match c.trim() {
            c if LABOUR_CAPACITY_CODES.contains(&c) => return Some(true),
            "4" | "5" => {}
            _ => unknown = true,
        }
    }
    if unknown { None } else { Some(false) }
}

/// 风险消除 (DOMAIN.md §7): income above the threshold at every visit of the latest unbroken
/// run of visits, the first and last of that run at least `elimination_months` apart; rigid
/// expenses resolved; 三保障 and drinking water secured; no new risk. A household without
/// labour capacity stays monitored whatever else holds.
pub fn risk_elimination(rules: &Rules, threshold: Fen, f: &EliminationFacts) -> ExitDecision {
    let mut visits = f.visits.clone();
    visits.sort_by_key(|v| days_from_civil(v.date));
    let run: Vec<&VisitIncome> = {
        let mut run: Vec<&VisitIncome> = visits
            .iter()
            .rev()
            .take_while(|v| v.per_capita_12m > threshold.0)
            .collect();
        run.reverse();
        run
    };
    let span = match (run.first(), run.last()) {
        (Some(a), Some(b)) => months_between(a.date, b.date),
        _ => -1,
    };
    let income_ok = run.len() >= 2 && span >= rules.elimination_months;
    let income_detail = if visits.is_empty() {
        "没有记录收入的走访".to_string()
    } else if run.is_empty() {
        let last = visits.last().expect("not empty");
        format!(
            "最近一次走访（{}）人均收入 {} 元，未高于监测标准 {} 元",
            format_date(last.date),
            Fen(last.per_capita_12m).yuan_string(),
            threshold.yuan_string()
        )
    } else if run.len() < 2 {
        format!(
            "最近连续高于监测标准 {} 元的走访仅 1 次（{}），至少需要 2 次",
            threshold.yuan_string(),
            format_date(run[0].date)
        )
    } else {
        format!(
            "最近连续 {} 次走访人均收入高于监测标准 {} 元，自 {} 至 {}，间隔 {span} 个月（须不少于 {} 个月）",
            run.len(),
            threshold.yuan_string(),
            format_date(run[0].date),
            format_date(run[run.len() - 1].date),
            rules.elimination_months
        )
    };
    let criteria = vec![
        Criterion::new(
            "stable_income",
            format!(
                "走访收入稳定高于监测标准（间隔≥{}个月）",
                rules.elimination_months
            ),
            income_ok,
            income_detail,
        ),
        Criterion::new(
            "expenses",
            "刚性支出问题已解决",
            f.unresolved_expenses == 0,
            if f.unresolved_expenses == 0 {
                "没有未解决的刚性支出".to_string()
            } else {
                format!("仍有 {} 笔未解决的刚性支出", f.unresolved_expenses)
            },
        ),
        Criterion::new(
            "guarantees",
            "“三保障”和饮水安全有保障",
            f.guarantees_secured == Some(true),
            match f.guarantees_secured {
                Some(true) => "均已保障",
                Some(false) => "存在未保障的项目",
                None => "未全部填报",
            },
        ),
        Criterion::new(
            "no_new_risk",
            "无新的风险",
            f.new_risks.is_empty(),
            if f.new_risks.is_empty() {
                "未发现新的风险".to_string()
            } else {
                format!("发现新的风险：{}", f.new_risks.join("；"))
            },
        ),
        Criterion::new(
            "labour",
            "家庭有劳动能力",
            f.has_labour == Some(true),
            match f.has_labour {
                Some(true) => "有劳动力（含弱劳动力或半劳动力）",
                Some(false) => "家庭成员均丧失劳动力或无劳动力：持续监测，不作风险消除",
                None => "有成员的劳动技能未填报，无法确认劳动能力",
            },
        ),
    ];
    let year = visits.last().map(|v| v.date.0 as i64).unwrap_or_default();
    ExitDecision {
        year,
        may_exit: criteria.iter().all(|c| c.passed),
        criteria,
    }
}

// ---------------------------------------------------------------------------------------------
// The risk elimination procedure (入户核实 → 村级评议公示 → 县级审批公告).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EliminationStep {
    /// 入户核实: a cadre verifies at the household that the criteria hold.
    Verification,
    /// 村级评议公示: the village reviews and posts the notice (lasts `publicity_days`).
    VillageReview,
    /// 县级审批公告: the county approves and announces; the risk is eliminated on its date.
    CountyApproval,
}

impl EliminationStep {
    pub const ALL: [EliminationStep; 3] = [
        EliminationStep::Verification,
        EliminationStep::VillageReview,
        EliminationStep::CountyApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EliminationStep::Verification => "verification",
            EliminationStep::VillageReview => "village_review",
            EliminationStep::CountyApproval => "county_approval",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            EliminationStep::Verification => "入户核实",
            EliminationStep::VillageReview => "村级评议公示",
            EliminationStep::CountyApproval => "县级审批公告",
        }
    }

    /// Accepts the English key or the Chinese name (and the usual short forms).
    pub fn parse(s: &str) -> Option<EliminationStep> {
        let t = s.trim();
        EliminationStep::ALL.into_iter().find(|e| {
            e.as_str() == t
                || e.name_zh() == t
                || matches!(
                    (e, t),
                    (EliminationStep::Verification, "核实")
                        | (
                            EliminationStep::VillageReview,
                            "评议公示" | "村级评议" | "公示"
                        )
                        | (
                            EliminationStep::CountyApproval,
                            "审批公告" | "县级审批" | "公告"
                        )
                )
        })
    }

    /// The step that follows (None = nothing recorded yet); None after the last step.
    pub fn next(current: Option<EliminationStep>) -> Option<EliminationStep> {
        match current {
            None => Some(EliminationStep::Verification),
            Some(EliminationStep::Verification) => Some(EliminationStep::VillageReview),
            Some(EliminationStep::VillageReview) => Some(EliminationStep::CountyApproval),
            Some(EliminationStep::CountyApproval) => None,
        }
    }
}

/// The 公示 rule of both procedures: a notice posted on day D lasts D … D+days−1, so the step
/// after it may be dated D+days at the earliest. The problem, if `next` is too early.
pub fn publicity_shortfall(
    rules: &Rules,
    posted: Ymd,
    next: Ymd,
    next_name: &str,
) -> Option<String> {
    let days = days_from_civil(next) - days_from_civil(posted);
    (days < rules.publicity_days).then(|| {
        let earliest = civil_from_days(days_from_civil(posted) + rules.publicity_days);
        format!(
            "公示不少于 {} 天：公示自 {} 起，至今仅 {days} 天，最早可于 {} {next_name}",
            rules.publicity_days,
            format_date(posted),
            format_date(earliest)
        )
    })
}

/// Checks the next step of a risk elimination procedure against the steps recorded so far
/// (oldest first): the order, a date not before the case was identified nor before the
/// previous step nor after `today`, a responsible person, and a village 公示 of at least
/// `publicity_days` days before the county's approval.
pub fn check_elimination_step(
    rules: &Rules,
    identified: Ymd,
    history: &[(EliminationStep, Ymd)],
    next: EliminationStep,
    date: &str,
    responsible: &str,
    today: Date,
) -> Vec<FieldError> {
    let mut out = Vec::new();
    let current = history.last();
    let expected = EliminationStep::next(current.map(|c| c.0));
    if expected != Some(next) {
        out.push(FieldError::new(
            "step",
            match (current, expected) {
                (_, None) => format!(
                    "风险消除程序已于县级审批公告结束，不能再登记“{}”",
                    next.name_zh()
                ),
                (None, Some(e)) => format!("尚未开始风险消除程序，第一步应为“{}”", e.name_zh()),
                (Some(c), Some(e)) => {
                    format!("当前步骤为“{}”，下一步应为“{}”", c.0.name_zh(), e.name_zh())
                }
            },
        ));
    }
    if responsible.trim().is_empty() {
        out.push(FieldError::new(
            "responsible",
            "请填写责任人（经办人或审批单位）",
        ));
    }
    match parse_date(date.trim()) {
        None => out.push(FieldError::new("date", "日期应为 YYYY-MM-DD")),
        Some(d) => {
            let day = days_from_civil(d);
            if day > today.days_since_epoch() {
                out.push(FieldError::new("date", "日期不能晚于今天"));
            } else if day < days_from_civil(identified) {
                out.push(FieldError::new(
                    "date",
                    format!(
                        "日期不能早于识别为监测对象的日期 {}",
                        format_date(identified)
                    ),
                ));
            } else if let Some(c) = current
                && day < days_from_civil(c.1)
            {
                out.push(FieldError::new(
                    "date",
                    format!(
                        "日期不能早于上一步“{}”的日期 {}",
                        c.0.name_zh(),
                        format_date(c.1)
                    ),
                ));
            } else if next == EliminationStep::CountyApproval
                && let Some(p) = history
                    .iter()
                    .rev()
                    .find(|s| s.0 == EliminationStep::VillageReview)
                && let Some(problem) = publicity_shortfall(rules, p.1, d, "审批公告")
            {
                out.push(FieldError::new("date", problem));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_decision_reads_back_with_typed_amounts() {
        let stored = r#"{"y":2019,"i":[[2019,500000,321800],[2018,null,299500]],"g":"111111"}"#;
        let d: DecisionRecord = serde_json::from_str(stored).unwrap();
        assert_eq!(
            d.incomes[0],
            IncomeCheck(2019, Some(Fen(500000)), Some(Fen(321800)))
        );
        assert_eq!(d.incomes[1], IncomeCheck(2018, None, Some(Fen(299500))));
        assert_eq!(serde_json::to_string(&d).unwrap(), stored);
    }

    fn facts(incomes: &[(i64, i64)]) -> HouseholdFacts {
        HouseholdFacts {
            per_capita: incomes.iter().map(|(y, f)| (*y, Fen(*f))).collect(),
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
        assert_eq!(
            d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            ["income_2018"]
        );
        assert_eq!(d.failing_keys(), "income_2018");
        let one_year = Rules {
            stable_years: 1,
            ..Rules::default()
        };
        assert!(
            assess_household(&one_year, &facts(&[(2018, 2000_00), (2019, 5000_00)]), 2019).may_exit
        );
    }

    #[test]
    fn each_guarantee_fails_alone() {
        let r = Rules::default();
        let base = facts(&[(2018, 5000_00), (2019, 5000_00)]);
        for key in [
            "food",
            "clothing",
            "education",
            "medical",
            "housing",
            "water",
        ] {
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
            assert_eq!(
                d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(),
                [key]
            );
        }
        let mut unknown = base.clone();
        unknown.safe_water = None;
        assert_eq!(
            assess_household(&r, &unknown, 2019)
                .failing()
                .next()
                .unwrap()
                .detail,
            "未填报"
        );
    }

    #[test]
    fn a_stored_record_renders_the_same_explanation_whatever_the_rules_say_later() {
        let r = Rules::default();
        let f = facts(&[(2018, 3000_00), (2019, 3300_00)]);
        let record = DecisionRecord::from_facts(&r, &f, 2019);
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"y":2019,"i":[[2019,330000,321800],[2018,300000,299500]],"g":"111111"}"#
        );
        let before = record.decision();
        assert!(before.may_exit);
        let mut stricter = r.clone();
        stricter.poverty_lines.get_mut(&2019).unwrap().value = 4000;
        assert!(
            !assess_household(&stricter, &f, 2019).may_exit,
            "a new decision uses the new line"
        );
        let stored: DecisionRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(stored.decision(), before, "the old one reads as it was");
        assert!(before.criteria[0].detail.contains("3218.00"));
    }

    #[test]
    fn the_fast_failing_keys_agree_with_the_rendered_decision() {
        let r = Rules::default();
        let cases = [
            facts(&[(2018, 2995_00), (2019, 3218_00)]),
            facts(&[(2019, 9000_00)]),
            HouseholdFacts {
                per_capita: [(2018, Fen(1_00)), (2019, Fen(9000_00))]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            HouseholdFacts {
                food_secure: Some(false),
                safe_water: Some(true),
                ..facts(&[(2018, 5000_00), (2019, 5000_00)])
            },
        ];
        for f in &cases {
            let record = DecisionRecord::from_facts(&r, f, 2019);
            assert_eq!(
                record.failing_keys().join(","),
                record.decision().failing_keys()
            );
        }
        assert_eq!(
            household_criterion_name("income_2018"),
            "2018年人均纯收入高于贫困线（稳定）"
        );
    }

    #[test]
    fn visits_expenses_and_shocks_parse_in_chinese_and_english() {
        let today = Date::new(2021, 6, 30).unwrap();
        let ok = check_visit(
            &VisitInput {
                visit_date: "2021-06-01".into(),
                visitor: " 李四 ".into(),
                income_12m: "6,500.50".into(),
                ..Default::default()
            },
            today,
        )
        .unwrap();
        assert_eq!(
            (ok.visitor.as_str(), ok.income_12m_fen),
            ("李四", Some(6500_50))
        );
        let bad = check_visit(
            &VisitInput {
                visit_date: "2021-07-01".into(),
                visitor: "".into(),
                income_12m: "-1".into(),
                ..Default::default()
            },
            today,
        )
        .unwrap_err();
        assert_eq!(
            bad.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["visit_date", "visitor", "income_12m"]
        );
        assert_eq!(ExpenseKind::parse("医疗"), Some(ExpenseKind::Medical));
        assert_eq!(
            ExpenseKind::parse("schooling"),
            Some(ExpenseKind::Schooling)
        );
        assert_eq!(ShockKind::parse("失业"), Some(ShockKind::JobLoss));
        assert_eq!(ShockKind::parse("意外事故"), Some(ShockKind::Accident));
        assert_eq!(Channel::parse("农户申报"), Some(Channel::Declaration));
        assert_eq!(ShockKind::parse("彩票"), None);
    }

    #[test]
    fn a_year_without_a_line_fails_and_says_so() {
        let d = assess_household(
            &Rules::default(),
            &facts(&[(2021, 9000_00), (2022, 9000_00)]),
            2022,
        );
        assert!(!d.may_exit);
        assert!(d.criteria[0].detail.contains("没有 2022 年的贫困线"));
    }

    fn c(code: &str) -> RegionCode {
        RegionCode::parse(code).unwrap()
    }

    #[test]
    fn incidence_overrides_are_keyed_by_any_region_prefix_the_longest_winning() {
        let mut r = Rules::default();
        assert!(r.incidence_bp_by_region.is_empty(), "none by default");
        // 百色市 (4510) in 广西 sets 2.5%; 广西 as a whole stays at the western 3%.
        r.incidence_bp_by_region.insert("4510".into(), 250);
        assert_eq!(r.incidence_threshold_bp(c("451024")), 250);
        assert_eq!(r.incidence_threshold_bp(c("451024103212")), 250);
        assert_eq!(r.incidence_threshold_bp(c("450102")), 300);
        r.incidence_bp_by_region.insert("45".into(), 200);
        assert_eq!(r.incidence_threshold_bp(c("450102")), 200);
        assert_eq!(
            r.incidence_threshold_bp(c("451024")),
            250,
            "the prefecture beats its province"
        );
        let crit = incidence_criterion(&r, c("451024"), 24, 1000);
        assert!(
            crit.passed && crit.detail.contains("区划 4510"),
            "{}",
            crit.detail
        );
        assert!(!incidence_criterion(&r, c("451024"), 25, 1000).passed);
        // Stored versions named the map by province; they still load.
        let mut old = serde_json::to_value(Rules::default()).unwrap();
        let o = old.as_object_mut().unwrap();
        o.remove("incidence_bp_by_region");
        o.remove("returned_status_last_year");
        o.remove("microloan_max_months");
        o.remove("microloan_max_yuan");
        o.insert(
            "incidence_bp_by_province".into(),
            serde_json::json!({"44": 300}),
        );
        let back: Rules = serde_json::from_value(old).unwrap();
        assert_eq!(back.incidence_threshold_bp(c("441621")), 300);
        assert_eq!(
            (
                back.returned_status_last_year,
                back.microloan_max_months,
                back.microloan_max_yuan
            ),
            (2020, 36, 50_000)
        );
        r.incidence_bp_by_region.insert("4x".into(), 200);
        r.incidence_bp_by_region.insert("441".into(), 200);
        let fields: Vec<String> = r.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["incidence_bp_by_region.441", "incidence_bp_by_region.4x"]
        );
    }

    #[test]
    fn west_and_east_differ_at_two_and_a_half_percent() {
        let r = Rules::default();
        // 25 of 1000 = 2.5%.
        assert!(
            incidence_criterion(&r, c("451024"), 25, 1000).passed,
            "广西 is western: 2.5% < 3%"
        );
        assert!(
            !incidence_criterion(&r, c("441621"), 25, 1000).passed,
            "广东: 2.5% ≥ 2%"
        );
        assert!(
            !incidence_criterion(&r, c("441621"), 20, 1000).passed,
            "exactly 2% is not below 2%"
        );
        assert!(incidence_criterion(&r, c("441621"), 19, 1000).passed);
        assert!(
            !incidence_criterion(&r, c("441621"), 0, 0).passed,
            "no population, no verdict"
        );
        assert_eq!(incidence_bp(25, 1000), Some(250));
        assert_eq!(incidence_bp(1, 3), Some(3333));
        let mut own = r.clone();
        own.incidence_bp_by_region.insert("44".into(), 300);
        assert!(incidence_criterion(&own, c("44"), 25, 1000).passed);
        assert!(
            incidence_criterion(&own, c("441621"), 25, 1000)
                .detail
                .contains("本地标准（区划 44）")
        );
    }

    #[test]
    fn a_province_threshold_overrides_the_default_and_a_county_its_province() {
        let mut r = Rules::default();
        assert_eq!(
            r.monitoring_threshold(441621, 2019).unwrap().0,
            Fen(4827_00),
            "1.5 × 3218"
        );
        assert_eq!(
            r.monitoring_threshold(530102, 2023).unwrap().0,
            Fen::from_yuan(8050)
        );
        r.poverty_lines.insert(
            2023,
            Sourced {
                value: 4500,
                basis: String::new(),
                source: String::new(),
            },
        );
        assert_eq!(
            r.monitoring_threshold(350121, 2023).unwrap().0,
            Fen::from_yuan(10560)
        );
        assert_eq!(
            r.monitoring_threshold(350122, 2023).unwrap().0,
            Fen(6750_00)
        );
        let (t, why) = Rules::default().monitoring_threshold(441621, 2022).unwrap();
        assert_eq!(t, Fen(6000_00), "after 2020 the latest line carries on");
        assert!(why.contains("沿用2020年"), "{why}");
        assert!(
            Rules::default()
                .monitoring_threshold(441621, 2010)
                .is_none()
        );
    }

    fn exited_with(pc: i64) -> RiskFacts {
        RiskFacts {
            exited: true,
            registered: true,
            per_capita_this_year: Some(pc),
            ..Default::default()
        }
    }

    #[test]
    fn monitoring_categories() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        let category =
            |f: &RiskFacts, year: i64| monitoring_candidate(t, &r, f, year).map(|c| c.category);
        assert_eq!(
            category(&exited_with(4000_00), 2021).as_deref(),
            Some(MONITOR_UNSTABLE)
        );
        let edge = RiskFacts {
            registered: false,
            per_capita_this_year: Some(4500_00),
            ..Default::default()
        };
        assert_eq!(category(&edge, 2021).as_deref(), Some(MONITOR_EDGE));
        // At the threshold is not below it; one fen below is.
        assert_eq!(category(&exited_with(4827_00), 2021), None);
        assert_eq!(
            category(&exited_with(4826_99), 2021).as_deref(),
            Some(MONITOR_UNSTABLE)
        );
        // A shock alone, with neither expenses above income nor a fall, is no category.
        let shock_only = RiskFacts {
            shocks: vec!["重大疾病（2021-03-01）".into()],
            ..exited_with(9000_00)
        };
        assert_eq!(category(&shock_only, 2021), None);
        // Income-based and a shock: the income-based category, the shock as its cause.
        let low_and_shock = RiskFacts {
            shocks: vec!["自然灾害（2021-07-01）".into()],
            ..exited_with(4000_00)
        };
        let c = monitoring_candidate(t, &r, &low_and_shock, 2021).unwrap();
        assert_eq!(c.category, MONITOR_UNSTABLE);
        assert_eq!(
            c.signals.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            ["low_income", "shock"]
        );
        let still_poor = RiskFacts {
            exited: false,
            registered: true,
            per_capita_this_year: Some(1000_00),
            shocks: vec!["灾害".into()],
            ..Default::default()
        };
        assert!(
            monitoring_candidate(t, &r, &still_poor, 2021).is_none(),
            "not yet out: poverty work, not monitoring"
        );
    }

    #[test]
    fn the_issues_example_is_a_sudden_hardship_not_an_edge_household() {
        // A 一般农户 in 2021, threshold 6,000, per capita 8,000 (three people: net 24,000),
        // illness with 30,000 of medical costs not reimbursed.
        let r = Rules::default();
        let f = RiskFacts {
            registered: false,
            exited: false,
            per_capita_this_year: Some(8000_00),
            per_capita_last_year: Some(8000_00),
            net_income: Some(24000_00),
            rigid_expenses_net: 30000_00,
            shocks: vec!["重大疾病（2021-04-02）".into()],
            ..Default::default()
        };
        let c = monitoring_candidate(Fen::from_yuan(6000), &r, &f, 2021).unwrap();
        assert_eq!(c.category, MONITOR_SUDDEN);
        assert_eq!(c.signals[0].key, "rigid_expenses");
        assert!(
            c.signals[0].detail.contains("30000.00") && c.signals[0].detail.contains("24000.00"),
            "{}",
            c.signals[0].detail
        );
        // Expenses equal to the income are not above it.
        let equal = RiskFacts {
            rigid_expenses_net: 24000_00,
            ..f.clone()
        };
        assert!(monitoring_candidate(Fen::from_yuan(6000), &r, &equal, 2021).is_none());
        // A registered, exited household in the same situation is a 突发严重困难户 too.
        let exited = RiskFacts {
            registered: true,
            exited: true,
            ..f
        };
        assert_eq!(
            monitoring_candidate(Fen::from_yuan(6000), &r, &exited, 2021)
                .unwrap()
                .category,
            MONITOR_SUDDEN
        );
    }

    #[test]
    fn a_sharp_drop_counts_only_below_the_risk_multiple_or_with_a_shock() {
        let r = Rules::default();
        let t = Fen::from_yuan(6000);
        let fall = |before: i64, now: i64| RiskFacts {
            per_capita_last_year: Some(before),
            ..exited_with(now)
        };
        // 30,000 → 20,000 per person: a third less, far above the threshold: not a risk.
        assert!(monitoring_candidate(t, &r, &fall(30000_00, 20000_00), 2021).is_none());
        // 10,000 → 7,000: 30%, below 1.2 × 6,000 = 7,200: 脱贫不稳定户.
        let c = monitoring_candidate(t, &r, &fall(10000_00, 7000_00), 2021).unwrap();
        assert_eq!(
            (c.category.as_str(), c.signals[0].key.as_str()),
            (MONITOR_UNSTABLE, "sharp_drop")
        );
        assert!(
            c.signals[0].detail.contains("7200.00"),
            "{}",
            c.signals[0].detail
        );
        // Exactly at 1.2 × the threshold is not below it; 29% is not a sharp drop.
        assert!(monitoring_candidate(t, &r, &fall(10285_72, 7200_00), 2021).is_none());
        assert!(monitoring_candidate(t, &r, &fall(10000_00, 7100_00), 2021).is_none());
        // A sharp drop caused by a recorded shock, above the risk line: 突发严重困难户.
        let shocked = RiskFacts {
            shocks: vec!["意外事故（2021-05-01）".into()],
            ..fall(30000_00, 20000_00)
        };
        let c = monitoring_candidate(t, &r, &shocked, 2021).unwrap();
        assert_eq!(
            (c.category.as_str(), c.signals[0].key.as_str()),
            (MONITOR_SUDDEN, "shock_drop")
        );
        // The multiple is a rule.
        let wider = Rules {
            risk_multiple_permille: 1500,
            ..r.clone()
        };
        assert!(monitoring_candidate(t, &wider, &fall(12000_00, 8400_00), 2021).is_some());
        assert!(monitoring_candidate(t, &r, &fall(12000_00, 8400_00), 2021).is_none());
    }

    #[test]
    fn monitoring_begins_in_2020_and_the_third_category_in_2021() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        assert!(monitoring_candidate(t, &r, &exited_with(1000_00), 2019).is_none());
        assert!(monitoring_candidate(t, &r, &exited_with(1000_00), 2020).is_some());
        let hardship = RiskFacts {
            net_income: Some(9000_00),
            rigid_expenses_net: 20000_00,
            ..exited_with(9000_00)
        };
        // 2020 had two categories: the hardship is monitored under the household's kind.
        let c2020 = monitoring_candidate(t, &r, &hardship, 2020).unwrap();
        assert_eq!(c2020.category, MONITOR_UNSTABLE);
        assert!(c2020.signals.iter().any(|s| s.key == "category_year"));
        let edge2020 = RiskFacts {
            registered: false,
            exited: false,
            ..hardship.clone()
        };
        assert_eq!(
            monitoring_candidate(t, &r, &edge2020, 2020)
                .unwrap()
                .category,
            MONITOR_EDGE
        );
        assert_eq!(
            monitoring_candidate(t, &r, &hardship, 2021)
                .unwrap()
                .category,
            MONITOR_SUDDEN
        );
        let later = Rules {
            monitoring_from_year: 2021,
            sudden_hardship_from_year: 2022,
            ..r.clone()
        };
        assert!(monitoring_candidate(t, &later, &hardship, 2020).is_none());
        assert_eq!(
            monitoring_candidate(t, &later, &hardship, 2021)
                .unwrap()
                .category,
            MONITOR_UNSTABLE
        );

        // Manual cases: the same years, and the category must fit the household.
        let field = |r: Result<(), FieldError>| r.unwrap_err().field;
        assert_eq!(
            field(check_case_category(&r, true, true, MONITOR_UNSTABLE, 2019)),
            "identified_at"
        );
        assert!(check_case_category(&r, true, true, MONITOR_UNSTABLE, 2020).is_ok());
        let e = check_case_category(&r, true, true, MONITOR_SUDDEN, 2020).unwrap_err();
        assert!(
            e.message.contains("2021") && e.message.contains("脱贫不稳定户"),
            "{}",
            e.message
        );
        assert!(check_case_category(&r, true, true, MONITOR_SUDDEN, 2021).is_ok());
        assert!(check_case_category(&r, false, false, MONITOR_SUDDEN, 2021).is_ok());
        let e = check_case_category(&r, false, false, MONITOR_UNSTABLE, 2021).unwrap_err();
        assert_eq!(e.field, "category");
        assert!(
            e.message.contains("一般农户") && e.message.contains("应为边缘易致贫户"),
            "{}",
            e.message
        );
        let e = check_case_category(&r, true, true, MONITOR_EDGE, 2021).unwrap_err();
        assert!(
            e.message.contains("已脱贫") && e.message.contains("应为脱贫不稳定户"),
            "{}",
            e.message
        );
        assert_eq!(
            field(check_case_category(&r, true, false, MONITOR_UNSTABLE, 2021)),
            "household"
        );
    }

    #[test]
    fn thresholds_carry_forward_and_a_county_beats_its_province_on_the_same_year() {
        let mut r = Rules::default();
        let (t, why) = r.monitoring_threshold(530102, 2024).unwrap();
        assert_eq!(t, Fen::from_yuan(8050), "云南 2023 stays in force in 2024");
        assert!(why.contains("沿用") && why.contains("2023"), "{why}");
        assert_eq!(
            r.monitoring_threshold(530102, 2025).unwrap().0,
            Fen::from_yuan(8700)
        );
        assert_eq!(
            r.monitoring_threshold(530102, 2030).unwrap().0,
            Fen::from_yuan(8700)
        );
        assert_eq!(
            r.monitoring_threshold(530102, 2022).unwrap().0,
            Fen(6000_00),
            "before 云南's first: 1.5 × the latest line"
        );
        r.monitoring_thresholds.push(MonitoringThreshold {
            province: 35,
            county: None,
            year: 2023,
            yuan: 9000,
            source: String::new(),
        });
        assert_eq!(
            r.monitoring_threshold(350121, 2023).unwrap().0,
            Fen::from_yuan(10560)
        );
        assert_eq!(
            r.monitoring_threshold(350121, 2024).unwrap().0,
            Fen::from_yuan(10560)
        );
        assert_eq!(
            r.monitoring_threshold(350122, 2024).unwrap().0,
            Fen::from_yuan(9000)
        );
        r.monitoring_thresholds.push(MonitoringThreshold {
            province: 35,
            county: None,
            year: 2024,
            yuan: 11000,
            source: String::new(),
        });
        assert_eq!(
            r.monitoring_threshold(350121, 2024).unwrap().0,
            Fen::from_yuan(11000),
            "a newer provincial threshold beats an older county one"
        );
    }

    fn elimination(visits: &[(Ymd, i64)], has_labour: Option<bool>) -> EliminationFacts {
        EliminationFacts {
            visits: visits
                .iter()
                .map(|(d, v)| VisitIncome {
                    date: *d,
                    per_capita_12m: *v,
                })
                .collect(),
            unresolved_expenses: 0,
            new_risks: Vec::new(),
            has_labour,
            guarantees_secured: Some(true),
        }
    }

    #[test]
    fn no_labour_capacity_is_never_eliminated() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        let visits = [((2021, 1, 10), 6000_00), ((2021, 7, 10), 6500_00)];
        assert!(risk_elimination(&r, t, &elimination(&visits, Some(true))).may_exit);
        let d = risk_elimination(&r, t, &elimination(&visits, Some(false)));
        assert!(!d.may_exit);
        assert_eq!(
            d.failing().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            ["labour"]
        );
        let short = [((2021, 1, 10), 6000_00), ((2021, 7, 9), 6500_00)];
        assert!(
            !risk_elimination(&r, t, &elimination(&short, Some(true))).may_exit,
            "one day short of six months"
        );
        let unknown = risk_elimination(&r, t, &elimination(&visits, None));
        assert!(!unknown.may_exit && unknown.criteria[4].detail.contains("未填报"));
        // Labour capacity from the members' codes: 弱劳动力 (3) counts.
        assert_eq!(labour_capacity(["3", "4"]), Some(true));
        assert_eq!(labour_capacity(["4", "5", "5"]), Some(false));
        assert_eq!(labour_capacity(["4", ""]), None);
        assert_eq!(labour_capacity(["", "1"]), Some(true));
    }

    #[test]
    fn six_months_are_calendar_months() {
        assert_eq!(months_between((2021, 8, 31), (2022, 2, 28)), 6);
        assert_eq!(months_between((2021, 8, 31), (2022, 2, 27)), 5);
        assert_eq!(months_between((2021, 1, 10), (2021, 7, 10)), 6);
        assert_eq!(months_between((2021, 1, 10), (2021, 7, 9)), 5);
        assert_eq!(months_between((2019, 8, 29), (2020, 2, 29)), 6);
        assert_eq!(add_months((2021, 8, 31), 6), (2022, 2, 28));
        assert_eq!(add_months((2021, 12, 15), 1), (2022, 1, 15));
        let r = Rules::default();
        let visits = [((2021, 8, 31), 7000_00), ((2022, 2, 28), 7000_00)];
        assert!(
            risk_elimination(&r, Fen::from_yuan(6000), &elimination(&visits, Some(true))).may_exit,
            "2021-08-31 → 2022-02-28 is six months"
        );
    }

    #[test]
    fn a_dip_between_visits_restarts_the_six_months() {
        let r = Rules::default();
        let t = Fen::from_yuan(4827);
        let dip = [
            ((2021, 1, 10), 6000_00),
            ((2021, 4, 10), 4000_00),
            ((2021, 8, 10), 6500_00),
        ];
        let d = risk_elimination(&r, t, &elimination(&dip, Some(true)));
        assert!(!d.may_exit);
        assert!(
            d.criteria[0].detail.contains("仅 1 次"),
            "{}",
            d.criteria[0].detail
        );
        let mut f = elimination(
            &[((2021, 1, 10), 6000_00), ((2021, 8, 10), 6500_00)],
            Some(true),
        );
        f.unresolved_expenses = 1;
        f.new_risks = vec!["2021-05-02 遭遇灾害".into()];
        f.guarantees_secured = None;
        let keys: Vec<String> = risk_elimination(&r, t, &f)
            .failing()
            .map(|c| c.key.clone())
            .collect();
        assert_eq!(keys, ["expenses", "guarantees", "no_new_risk"]);
    }

    #[test]
    fn county_review_rates() {
        let r = Rules::default();
        let review = CountyReview {
            sampled_exited: 500,
            wrongly_exited: 9,
            sampled_households: 1000,
            missed_poor: 20,
            surveyed: 1000,
            approving: 900,
        };
        let c = county_review_criteria(&r, &review);
        assert_eq!(
            c.iter().map(|c| c.passed).collect::<Vec<_>>(),
            [true, false, true]
        );
        let bad = CountyReview {
            sampled_exited: 5,
            wrongly_exited: 9,
            ..Default::default()
        };
        assert_eq!(bad.validate()[0].field, "wrongly_exited");
    }

    #[test]
    fn edited_rules_are_validated_with_fields() {
        let r = Rules::default();
        assert!(r.validate().is_empty(), "{:?}", r.validate());
        assert_eq!(
            Rules {
                stable_years: 0,
                ..r.clone()
            }
            .validate()[0]
                .field,
            "stable_years"
        );
        assert_eq!(
            Rules {
                incidence_bp: 20_000,
                ..r.clone()
            }
            .validate()[0]
                .field,
            "incidence_bp"
        );
        let mut bad = r.clone();
        bad.monitoring_thresholds.push(MonitoringThreshold {
            province: 44,
            county: Some(530102),
            year: 2023,
            yuan: 0,
            source: String::new(),
        });
        let fields: Vec<String> = bad.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "monitoring_thresholds[3].county",
                "monitoring_thresholds[3].yuan"
            ]
        );
        let json = serde_json::to_value(&r).unwrap();
        let back: Rules = serde_json::from_value(json).unwrap();
        assert_eq!(
            back, r,
            "rules round-trip through JSON (year keys as strings)"
        );
    }

    #[test]
    fn the_identity_clash_limit_defaults_to_twenty_for_stored_rules_and_must_be_positive() {
        let mut stored = serde_json::to_value(Rules::default()).unwrap();
        stored
            .as_object_mut()
            .unwrap()
            .remove("identity_clash_daily_limit");
        let read: Rules = serde_json::from_value(stored).unwrap();
        assert_eq!(
            read.identity_clash_daily_limit, 20,
            "versions saved before the item existed"
        );
        let off = Rules {
            identity_clash_daily_limit: 0,
            ..Rules::default()
        };
        assert_eq!(
            off.validate()
                .iter()
                .map(|e| e.field.as_str())
                .collect::<Vec<_>>(),
            ["identity_clash_daily_limit"]
        );
    }

    fn step(s: ExitStep, d: Ymd) -> StepRecord {
        StepRecord { step: s, date: d }
    }

    #[test]
    fn the_exit_procedure_goes_in_order_and_publicity_lasts_its_days() {
        let r = Rules::default();
        assert!(
            check_exit_step(&r, &[], ExitStep::Proposed, "2019-10-01", "张书记", "").is_empty()
        );
        let e = check_exit_step(&r, &[], ExitStep::Publicity, "2019-10-01", "", "");
        assert_eq!(
            e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["state", "responsible"]
        );
        let h = vec![
            step(ExitStep::Proposed, (2019, 10, 1)),
            step(ExitStep::Review, (2019, 10, 8)),
            step(ExitStep::Publicity, (2019, 11, 1)),
        ];
        let short = check_exit_step(&r, &h, ExitStep::Announcement, "2019-11-07", "张书记", "");
        assert_eq!(short.len(), 1);
        assert!(
            short[0].message.contains("最早可于 2019-11-08 公告"),
            "{}",
            short[0].message
        );
        assert!(
            check_exit_step(&r, &h, ExitStep::Announcement, "2019-11-08", "张书记", "").is_empty()
        );
        assert_eq!(publicity_end((2019, 11, 1), 7), (2019, 11, 7));
        let earlier = check_exit_step(&r, &h, ExitStep::Objection, "2019-10-30", "张书记", "");
        assert_eq!(
            earlier.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["note", "date"]
        );
        assert!(
            check_exit_step(
                &r,
                &h,
                ExitStep::Objection,
                "2019-11-03",
                "张书记",
                "收入核算有误"
            )
            .is_empty()
        );
        let mut stopped = h.clone();
        stopped.push(step(ExitStep::Objection, (2019, 11, 3)));
        assert!(
            !check_exit_step(
                &r,
                &stopped,
                ExitStep::Announcement,
                "2019-11-20",
                "张书记",
                ""
            )
            .is_empty()
        );
        assert!(
            check_exit_step(&r, &stopped, ExitStep::Proposed, "2019-12-01", "张书记", "")
                .is_empty(),
            "may start again"
        );
        let longer = Rules {
            publicity_days: 10,
            ..r.clone()
        };
        assert!(
            !check_exit_step(
                &longer,
                &h,
                ExitStep::Announcement,
                "2019-11-08",
                "张书记",
                ""
            )
            .is_empty()
        );
        assert_eq!(ExitStep::parse("公示"), Some(ExitStep::Publicity));
        assert_eq!(ExitStep::parse("异议"), Some(ExitStep::Objection));
    }

    fn fields(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn verification_and_the_households_consent_come_between_review_and_publicity() {
        let r = Rules::default();
        let reviewed = vec![
            step(ExitStep::Proposed, (2019, 10, 1)),
            step(ExitStep::Review, (2019, 10, 8)),
        ];
        let skipped = check_exit_step(
            &r,
            &reviewed,
            ExitStep::Publicity,
            "2019-10-10",
            "张书记",
            "",
        );
        assert_eq!(fields(&skipped), ["state"]);
        assert!(
            skipped[0]
                .message
                .contains("下一步只能是：村两委和驻村工作队核实"),
            "{}",
            skipped[0].message
        );
        let ok =
            |h: &[StepRecord], s: ExitStep, d: &str| check_exit_step(&r, h, s, d, "张书记", "");
        assert!(ok(&reviewed, ExitStep::Verification, "2019-10-10").is_empty());
        let mut verified = reviewed.clone();
        verified.push(step(ExitStep::Verification, (2019, 10, 10)));
        assert_eq!(
            fields(&ok(&verified, ExitStep::Publicity, "2019-10-12")),
            ["state"]
        );
        assert!(ok(&verified, ExitStep::Consent, "2019-10-12").is_empty());
        // A refusal needs its reason and stops the procedure like an objection.
        assert_eq!(
            fields(&ok(&verified, ExitStep::Refusal, "2019-10-12")),
            ["note"]
        );
        assert!(
            check_exit_step(
                &r,
                &verified,
                ExitStep::Refusal,
                "2019-10-12",
                "张书记",
                "家中新增病人，认为收入不稳"
            )
            .is_empty()
        );
        let mut refused = verified.clone();
        refused.push(step(ExitStep::Refusal, (2019, 10, 12)));
        assert_eq!(
            fields(&ok(&refused, ExitStep::Consent, "2019-10-13")),
            ["state"]
        );
        assert_eq!(
            fields(&ok(&refused, ExitStep::Publicity, "2019-10-13")),
            ["state"]
        );
        assert!(
            ok(&refused, ExitStep::Proposed, "2019-11-01").is_empty(),
            "may start again"
        );
        assert_eq!(
            fields(&ok(&reviewed, ExitStep::Refusal, "2019-10-12")),
            ["state", "note"]
        );
        let mut consented = verified.clone();
        consented.push(step(ExitStep::Consent, (2019, 10, 12)));
        assert!(ok(&consented, ExitStep::Publicity, "2019-10-15").is_empty());
        assert_eq!(ExitStep::parse("贫困户认可"), Some(ExitStep::Consent));
        assert_eq!(ExitStep::parse("不认可"), Some(ExitStep::Refusal));
        assert_eq!(
            ExitStep::parse("村两委和驻村工作队核实"),
            Some(ExitStep::Verification)
        );
        assert!(ExitStep::chain_zh(7).starts_with(
            "拟退出 → 民主评议 → 村两委和驻村工作队核实 → 贫困户认可 → 公示（不少于 7 天） → 公告 → 销号"
        ));
    }

    #[test]
    fn an_objection_after_the_publicity_window_closed_is_refused() {
        let r = Rules::default();
        let h = vec![
            step(ExitStep::Proposed, (2019, 10, 1)),
            step(ExitStep::Review, (2019, 10, 8)),
            step(ExitStep::Verification, (2019, 10, 9)),
            step(ExitStep::Consent, (2019, 10, 10)),
            step(ExitStep::Publicity, (2019, 11, 1)),
        ];
        let object =
            |d: &str| check_exit_step(&r, &h, ExitStep::Objection, d, "张书记", "收入核算有误");
        // 公示 from 11-01 for 7 days: the last day is 11-07.
        assert!(object("2019-11-07").is_empty(), "on the last day");
        let late = object("2019-11-08");
        assert_eq!(fields(&late), ["date"]);
        assert!(
            late[0].message.contains("2019-11-01 至 2019-11-07"),
            "{}",
            late[0].message
        );
        let longer = Rules {
            publicity_days: 10,
            ..r.clone()
        };
        assert!(
            check_exit_step(
                &longer,
                &h,
                ExitStep::Objection,
                "2019-11-10",
                "张书记",
                "有误"
            )
            .is_empty()
        );
        assert!(
            !check_exit_step(
                &longer,
                &h,
                ExitStep::Objection,
                "2019-11-11",
                "张书记",
                "有误"
            )
            .is_empty()
        );
    }

    #[test]
    fn the_elimination_procedure_goes_in_order_and_its_publicity_lasts_its_days() {
        use EliminationStep::*;
        let r = Rules::default();
        let today = Date::new(2022, 6, 30).unwrap();
        let identified = (2021, 3, 1);
        let fields = |e: Vec<FieldError>| e.into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert!(
            check_elimination_step(
                &r,
                identified,
                &[],
                Verification,
                "2021-10-08",
                "李干部",
                today
            )
            .is_empty()
        );
        assert_eq!(
            fields(check_elimination_step(
                &r,
                identified,
                &[],
                CountyApproval,
                "2021-10-08",
                "",
                today
            )),
            ["step", "responsible"]
        );
        assert_eq!(
            fields(check_elimination_step(
                &r,
                identified,
                &[],
                Verification,
                "2021-02-28",
                "李干部",
                today
            )),
            ["date"],
            "before the case was identified"
        );
        assert_eq!(
            fields(check_elimination_step(
                &r,
                identified,
                &[],
                Verification,
                "2022-07-01",
                "李干部",
                today
            )),
            ["date"],
            "after today"
        );
        let h = [
            (Verification, (2021, 10, 8)),
            (VillageReview, (2021, 10, 10)),
        ];
        let short = check_elimination_step(
            &r,
            identified,
            &h,
            CountyApproval,
            "2021-10-16",
            "县乡村振兴局",
            today,
        );
        assert_eq!(short.len(), 1);
        assert!(
            short[0].message.contains("最早可于 2021-10-17"),
            "{}",
            short[0].message
        );
        assert!(
            check_elimination_step(
                &r,
                identified,
                &h,
                CountyApproval,
                "2021-10-17",
                "县乡村振兴局",
                today
            )
            .is_empty()
        );
        let e = check_elimination_step(
            &r,
            identified,
            &h[..1],
            CountyApproval,
            "2021-12-01",
            "县乡村振兴局",
            today,
        );
        assert!(
            e[0].message.contains("下一步应为“村级评议公示”"),
            "{}",
            e[0].message
        );
        let done = [h[0], h[1], (CountyApproval, (2021, 10, 20))];
        assert!(
            check_elimination_step(
                &r,
                identified,
                &done,
                Verification,
                "2021-12-01",
                "x",
                today
            )[0]
            .message
            .contains("已于县级审批公告结束")
        );
        assert_eq!(EliminationStep::parse("入户核实"), Some(Verification));
        assert_eq!(
            EliminationStep::parse("county_approval"),
            Some(CountyApproval)
        );
        assert_eq!(
            EliminationStep::next(Some(VillageReview)),
            Some(CountyApproval)
        );
    }

    #[test]
    fn stored_rules_without_the_new_items_load_with_their_defaults() {
        let mut json = serde_json::to_value(Rules::default()).unwrap();
        let object = json.as_object_mut().unwrap();
        for key in [
            "risk_multiple_permille",
            "monitoring_from_year",
            "sudden_hardship_from_year",
            "registry_closed_after_year",
        ] {
            assert!(object.remove(key).is_some(), "{key}");
        }
        let old: Rules = serde_json::from_value(json).unwrap();
        assert_eq!(old, Rules::default());
        assert_eq!(
            (
                old.risk_multiple_permille,
                old.monitoring_from_year,
                old.sudden_hardship_from_year,
                old.registry_closed_after_year
            ),
            (1200, 2020, 2021, 2020)
        );
        let bad = Rules {
            risk_multiple_permille: 900,
            sudden_hardship_from_year: 2019,
            ..Rules::default()
        };
        assert_eq!(
            bad.validate()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>(),
            ["risk_multiple_permille", "sudden_hardship_from_year"]
        );
        assert_eq!(permille_multiple(1200), "1.2");
        assert_eq!(permille_multiple(1500), "1.5");
        assert_eq!(permille_multiple(1000), "1");
        assert_eq!(permille_multiple(1250), "1.25");
    }

    #[test]
    fn dates_round_trip() {
        for d in [(1970, 1, 1), (2000, 2, 29), (2019, 12, 31), (2024, 3, 1)] {
            assert_eq!(civil_from_days(days_from_civil(d)), d);
        }
        assert_eq!(days_from_civil((1970, 1, 2)), 1);
        assert_eq!(parse_date("2019-02-29"), None);
        assert_eq!(parse_date("2020-02-29"), Some((2020, 2, 29)));
        assert_eq!(parse_loose_date("2021/6/1"), Some((2021, 6, 1)));
        assert_eq!(parse_loose_date("2021-06-01 00:00:00"), Some((2021, 6, 1)));
        assert_eq!(parse_loose_date("2021.13.01"), None);
        assert_eq!(parse_loose_date("21-6-1"), None);
        assert_eq!(
            parse_loose_date("44348"),
            Some((2021, 6, 1)),
            "an Excel date cell"
        );
        assert_eq!(parse_loose_date("44348.75"), Some((2021, 6, 1)));
        assert_eq!(parse_loose_date("2021"), None);
    }
}
