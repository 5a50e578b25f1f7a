//! Reports over the ledger and the projects: funds invested (投入) by year × province × theme ×
//! fund source (or by provider, receiver); per project and per county the commitment,
//! disbursement and expenditure with 拨付进度 and 支出进度; projects by theme and status; the
//! Xinjiang "80/80" check; theme indicator totals. Amounts on locations are split by the
//! locations' weights with the largest remainder, so every grouping adds up to the same total
//! to the fen. Aggregates are public information (DOMAIN.md §1); no personal data appears here.

use crate::projects::{parse_status, parse_theme};
use crate::{Db, StoreError, StoreResult, on_db};
use domain::kinds::Theme;
use domain::ledger::FundSource;
use domain::money::Fen;
use domain::project::{self, EightyEighty, Indicator, Location, Progress, ProjectStatus};
use domain::{RegionCode, RegionLevel};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, HashMap};

/// A grouping of the invested-funds report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Year,
    Province,
    Theme,
    FundSource,
    Provider,
    Receiver,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Year,
        Dimension::Province,
        Dimension::Theme,
        Dimension::FundSource,
        Dimension::Provider,
        Dimension::Receiver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Year => "year",
            Dimension::Province => "province",
            Dimension::Theme => "theme",
            Dimension::FundSource => "fund_source",
            Dimension::Provider => "provider",
            Dimension::Receiver => "receiver",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Dimension::Year => "年度",
            Dimension::Province => "省份",
            Dimension::Theme => "主题",
            Dimension::FundSource => "资金来源",
            Dimension::Provider => "付款方",
            Dimension::Receiver => "收款方",
        }
    }

    /// "year,province" → dimensions, in the order given, without repeats.
    pub fn parse_list(s: &str) -> Result<Vec<Dimension>, String> {
        let mut out = Vec::new();
        for part in s
            .split([',', '，', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let d = Dimension::ALL
                .iter()
                .copied()
                .find(|d| d.as_str() == part || d.name_zh() == part)
                .ok_or_else(|| {
                    format!(
                        "分组“{part}”无效，应为：{}",
                        Dimension::ALL
                            .iter()
                            .map(|d| format!("{}（{}）", d.as_str(), d.name_zh()))
                            .collect::<Vec<_>>()
                            .join("、")
                    )
                })?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// Value dates from this year on (inclusive).
    pub year_from: Option<i64>,
    /// Value dates up to this year (inclusive).
    pub year_to: Option<i64>,
    /// Only the shares of locations inside this region.
    pub region: Option<RegionCode>,
    pub theme: Option<Theme>,
    /// Some(true): fiscal funds only; Some(false): social funds only.
    pub fiscal: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvestedRow {
    pub year: Option<i64>,
    pub province_code: Option<RegionCode>,
    pub province_name: Option<String>,
    pub theme: Option<Theme>,
    pub theme_name: Option<&'static str>,
    pub fund_source: Option<FundSource>,
    pub fund_source_name: Option<&'static str>,
    pub fund_category: Option<&'static str>,
    pub provider_id: Option<i64>,
    pub provider_name: Option<String>,
    pub receiver_id: Option<i64>,
    pub receiver_name: Option<String>,
    /// Fen.
    pub amount: Fen,
    pub amount_yuan: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvestedReport {
    pub dimensions: Vec<Dimension>,
    pub rows: Vec<InvestedRow>,
    /// Fen.
    pub total: Fen,
    pub total_yuan: String,
    /// 亿元, truncated.
    pub total_yi: String,
    pub fiscal_total: Fen,
    pub social_total: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    year: Option<i64>,
    province: Option<i64>,
    theme: Option<Theme>,
    source: Option<FundSource>,
    provider: Option<i64>,
    receiver: Option<i64>,
}

/// One group of `invested_aggregates` as read (amount in fen).
#[derive(sqlx::FromRow)]
struct AggregateRow {
    project_id: i64,
    year: i64,
    fund_source: String,
    provider_id: i64,
    receiver_id: i64,
    theme: String,
    livelihood: bool,
    amount: i64,
}

/// One invested aggregate before it is split over locations.
struct Aggregate {
    project_id: i64,
    year: i64,
    source: FundSource,
    provider: i64,
    receiver: i64,
    theme: Theme,
    livelihood: bool,
    amount: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressRow {
    /// `project` rows: the project; `county` rows: the county (or a higher unit for projects
    /// located above county level, flagged by `above_county`).
    pub project_id: Option<i64>,
    pub project_name: Option<String>,
    pub theme_name: Option<&'static str>,
    pub status_name: Option<&'static str>,
    pub region_code: Option<RegionCode>,
    pub region_name: Option<String>,
    pub above_county: bool,
    pub committed: Fen,
    pub disbursed: Fen,
    pub incoming: Fen,
    pub received: Fen,
    pub expended: Fen,
    /// 拨付进度 (disbursed ÷ committed) in basis points.
    pub disbursement_progress_bp: Option<i64>,
    pub disbursement_progress: String,
    /// 支出进度 (expended ÷ received) in basis points.
    pub expenditure_progress_bp: Option<i64>,
    pub expenditure_progress: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressReport {
    pub by: &'static str,
    pub rows: Vec<ProgressRow>,
    pub total: ProgressRow,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeStatusRow {
    pub theme: Theme,
    pub theme_name: &'static str,
    /// Count per status, in the order of `ProjectStatus::ALL`.
    pub counts: Vec<i64>,
    pub total: i64,
    pub budget: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeStatusReport {
    pub statuses: Vec<(ProjectStatus, &'static str)>,
    pub rows: Vec<ThemeStatusRow>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EightyEightyRow {
    pub year: Option<i64>,
    pub total: Fen,
    pub county_and_below: Fen,
    pub livelihood: Fen,
    pub county_share_bp: Option<i64>,
    pub county_share: String,
    pub livelihood_share_bp: Option<i64>,
    pub livelihood_share: String,
    pub county_ok: bool,
    pub livelihood_ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EightyEightyReport {
    pub region_code: RegionCode,
    pub region_name: String,
    pub overall: EightyEightyRow,
    pub by_year: Vec<EightyEightyRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorTotal {
    pub indicator: Indicator,
    pub indicator_name: &'static str,
    pub theme_name: &'static str,
    pub unit: &'static str,
    pub value: i64,
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoanTotals {
    pub loans: i64,
    pub amount: Fen,
    pub outstanding: Fen,
    pub overdue: Fen,
    /// Overdue ÷ outstanding in basis points.
    pub overdue_rate_bp: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorReport {
    pub year: Option<i64>,
    pub indicators: Vec<IndicatorTotal>,
    pub loans: LoanTotals,
}

fn eighty_row(year: Option<i64>, x: &EightyEighty) -> EightyEightyRow {
    EightyEightyRow {
        year,
        total: x.total,
        county_and_below: x.county_and_below,
        livelihood: x.livelihood,
        county_share_bp: x.county_bp(),
        county_share: project::format_bp(x.county_bp()),
        livelihood_share_bp: x.livelihood_bp(),
        livelihood_share: project::format_bp(x.livelihood_bp()),
        county_ok: x.county_ok(),
        livelihood_ok: x.livelihood_ok(),
    }
}

fn progress_row(p: &Progress) -> ProgressRow {
    ProgressRow {
        project_id: None,
        project_name: None,
        theme_name: None,
        status_name: None,
        region_code: None,
        region_name: None,
        above_county: false,
        committed: p.committed,
        disbursed: p.disbursed,
        incoming: p.incoming,
        received: p.received(),
        expended: p.expended,
        disbursement_progress_bp: p.disbursement_bp(),
        disbursement_progress: project::format_bp(p.disbursement_bp()),
        expenditure_progress_bp: p.expenditure_bp(),
        expenditure_progress: project::format_bp(p.expenditure_bp()),
    }
}

fn date_bounds(filter: &ReportFilter) -> String {
    let mut sql = String::new();
    if let Some(y) = filter.year_from {
        sql += &format!(" AND e.value_date >= '{:04}-01-01'", y.clamp(0, 9999));
    }
    if let Some(y) = filter.year_to {
        sql += &format!(" AND e.value_date <= '{:04}-12-31'", y.clamp(0, 9999));
    }
    sql
}

impl Db {
    /// Every project's locations with their weights.
    async fn all_locations(&self) -> StoreResult<HashMap<i64, Vec<Location>>> {
        let rows: Vec<(i64, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT project_id, region_key, weight FROM project_locations ORDER BY project_id, position").fetch_all(p).await)?;
        let mut out: HashMap<i64, Vec<Location>> = HashMap::new();
        for (pid, key, weight) in rows {
            if let Some(code) = RegionCode::from_key(key) {
                out.entry(pid).or_default().push(Location {
                    region: code,
                    weight: weight.max(0) as u64,
                });
            }
        }
        Ok(out)
    }

    async fn names_of_regions(
        &self,
        codes: impl IntoIterator<Item = RegionCode>,
    ) -> StoreResult<HashMap<RegionCode, String>> {
        let keys: Vec<String> = codes.into_iter().map(|c| c.key().to_string()).collect();
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT key, name FROM regions WHERE key IN ({})",
                chunk.join(",")
            );
            let rows: Vec<(i64, String)> =
                on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
            out.extend(
                rows.into_iter()
                    .filter_map(|(k, n)| RegionCode::from_key(k).map(|c| (c, n))),
            );
        }
        Ok(out)
    }

    async fn names_of_organisations(&self) -> StoreResult<HashMap<i64, String>> {
        let rows: Vec<(i64, String)> = on_db!(self, p => sqlx::query_as("SELECT id, name FROM organisations").fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }

    async fn invested_aggregates(&self, filter: &ReportFilter) -> StoreResult<Vec<Aggregate>> {
        let mut sql = String::from(
            "SELECT e.project_id, CAST(SUBSTR(e.value_date, 1, 4) AS BIGINT) AS year, e.fund_source, e.provider_id, e.receiver_id,
             p.theme, p.livelihood, CAST(SUM(e.amount) AS BIGINT) AS amount
             FROM ledger_entries e JOIN projects p ON p.id = e.project_id WHERE e.invested = $1 AND ($2 IS NULL OR p.theme = $2)",
        );
        sql += &date_bounds(filter);
        sql += " GROUP BY e.project_id, SUBSTR(e.value_date, 1, 4), e.fund_source, e.provider_id, e.receiver_id, p.theme, p.livelihood";
        let rows: Vec<AggregateRow> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
            .bind(true).bind(filter.theme.map(|t| t.as_str())).fetch_all(p).await)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let source = FundSource::parse(&r.fund_source)?;
                if filter.fiscal.is_some_and(|f| f != source.is_fiscal()) {
                    return None;
                }
                Some(Aggregate {
                    project_id: r.project_id,
                    year: r.year,
                    source,
                    provider: r.provider_id,
                    receiver: r.receiver_id,
                    theme: parse_theme(&r.theme),
                    livelihood: r.livelihood,
                    amount: Fen(r.amount),
                })
            })
            .collect())
    }

    /// Funds invested (投入), grouped by the given dimensions (none: just the total).
    pub async fn invested_report(
        &self,
        dims: &[Dimension],
        filter: &ReportFilter,
    ) -> StoreResult<InvestedReport> {
        let aggregates = self.invested_aggregates(filter).await?;
        let locations = self.all_locations().await?;
        let mut sums: BTreeMap<Key, Fen> = BTreeMap::new();
        let (mut total, mut fiscal, mut social) = (Fen::ZERO, Fen::ZERO, Fen::ZERO);
        let has = |d: Dimension| dims.contains(&d);
        for a in &aggregates {
            let locs = locations.get(&a.project_id).cloned().unwrap_or_default();
            for (region, part) in project::split_over_locations(a.amount, &locs) {
                if filter.region.is_some_and(|r| !r.contains(region)) || part.is_zero() {
                    continue;
                }
                let key = Key {
                    year: has(Dimension::Year).then_some(a.year),
                    province: has(Dimension::Province).then(|| project::province_of(region).key()),
                    theme: has(Dimension::Theme).then_some(a.theme),
                    source: has(Dimension::FundSource).then_some(a.source),
                    provider: has(Dimension::Provider).then_some(a.provider),
                    receiver: has(Dimension::Receiver).then_some(a.receiver),
                };
                let s = sums.entry(key).or_insert(Fen::ZERO);
                *s = *s + part;
                total = total + part;
                if a.source.is_fiscal() {
                    fiscal = fiscal + part;
                } else {
                    social = social + part;
                }
            }
        }
        let provinces = self
            .names_of_regions(
                sums.keys()
                    .filter_map(|k| k.province.and_then(RegionCode::from_key)),
            )
            .await?;
        let orgs = if has(Dimension::Provider) || has(Dimension::Receiver) {
            self.names_of_organisations().await?
        } else {
            HashMap::new()
        };
        let rows = sums
            .into_iter()
            .map(|(k, amount)| {
                let province = k.province.and_then(RegionCode::from_key);
                InvestedRow {
                    year: k.year,
                    province_code: province,
                    province_name: province
                        .map(|c| provinces.get(&c).cloned().unwrap_or_else(|| c.to_string())),
                    theme: k.theme,
                    theme_name: k.theme.map(|t| t.name_zh()),
                    fund_source: k.source,
                    fund_source_name: k.source.map(|s| s.name_zh()),
                    fund_category: k.source.map(|s| s.category_zh()),
                    provider_id: k.provider,
                    provider_name: k
                        .provider
                        .map(|id| orgs.get(&id).cloned().unwrap_or_default()),
                    receiver_id: k.receiver,
                    receiver_name: k
                        .receiver
                        .map(|id| orgs.get(&id).cloned().unwrap_or_default()),
                    amount,
                    amount_yuan: amount.yuan_string(),
                }
            })
            .collect();
        Ok(InvestedReport {
            dimensions: dims.to_vec(),
            rows,
            total,
            total_yuan: total.yuan_string(),
            total_yi: total.to_yi_string(),
            fiscal_total: fiscal,
            social_total: social,
        })
    }

    /// Per project figures from the ledger (value dates within the filter's years).
    async fn project_progress(&self, filter: &ReportFilter) -> StoreResult<Vec<(i64, Progress)>> {
        let sql = crate::ledger::money_sums_sql(&format!("1 = 1{}", date_bounds(filter)));
        let rows: Vec<crate::ledger::MoneySumsRow> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let sums = crate::ledger::MoneySums::by_project(rows);
        let out: BTreeMap<i64, Progress> =
            sums.into_iter().map(|(pid, s)| (pid, s.totals)).collect();
        Ok(out.into_iter().collect())
    }

    /// 拨付进度 and 支出进度 per project (`by_county` false) or per county (true).
    pub async fn progress_report(
        &self,
        by_county: bool,
        filter: &ReportFilter,
    ) -> StoreResult<ProgressReport> {
        let figures = self.project_progress(filter).await?;
        let locations = self.all_locations().await?;
        let projects: Vec<(i64, String, String, String)> = on_db!(self, p => sqlx::query_as("SELECT id, name, theme, status FROM projects").fetch_all(p).await)?;
        let projects: HashMap<i64, (String, Theme, ProjectStatus)> = projects
            .into_iter()
            .map(|(id, n, t, s)| (id, (n, parse_theme(&t), parse_status(&s))))
            .collect();
        let in_filter = |pid: i64| {
            let theme_ok = filter
                .theme
                .is_none_or(|t| projects.get(&pid).is_some_and(|p| p.1 == t));
            let region_ok = filter.region.is_none_or(|r| {
                locations
                    .get(&pid)
                    .is_some_and(|ls| ls.iter().any(|l| r.contains(l.region)))
            });
            theme_ok && region_ok
        };
        let mut total = Progress::default();
        let mut rows = Vec::new();
        if !by_county {
            for (pid, p) in figures.iter().filter(|(pid, _)| in_filter(*pid)) {
                total.add(p);
                let (name, theme, status) = projects.get(pid).cloned().unwrap_or((
                    String::new(),
                    Theme::Pairing,
                    ProjectStatus::Approved,
                ));
                rows.push(ProgressRow {
                    project_id: Some(*pid),
                    project_name: Some(name),
                    theme_name: Some(theme.name_zh()),
                    status_name: Some(status.name_zh()),
                    ..progress_row(p)
                });
            }
        } else {
            let mut by: BTreeMap<RegionCode, Progress> = BTreeMap::new();
            for (pid, p) in figures.iter().filter(|(pid, _)| in_filter(*pid)) {
                let locs = locations.get(pid).cloned().unwrap_or_default();
                for (region, part) in p.split(&locs) {
                    if filter.region.is_some_and(|r| !r.contains(region)) {
                        continue;
                    }
                    let unit = project::county_of(region).unwrap_or(region);
                    by.entry(unit).or_default().add(&part);
                    total.add(&part);
                }
            }
            let names = self.names_of_regions(by.keys().copied()).await?;
            for (code, p) in by {
                rows.push(ProgressRow {
                    region_code: Some(code),
                    region_name: Some(
                        names
                            .get(&code)
                            .cloned()
                            .unwrap_or_else(|| code.to_string()),
                    ),
                    above_county: code.level() < RegionLevel::County,
                    ..progress_row(&p)
                });
            }
        }
        Ok(ProgressReport {
            by: if by_county { "county" } else { "project" },
            rows,
            total: progress_row(&total),
        })
    }

    /// Project counts by theme and status (projects with a location in `region`, started in the years).
    pub async fn projects_by_theme_status(
        &self,
        filter: &ReportFilter,
    ) -> StoreResult<ThemeStatusReport> {
        let mut sql = String::from(
            "SELECT p.theme, p.status, COUNT(*), CAST(SUM(p.budget) AS BIGINT) FROM projects p WHERE 1 = 1",
        );
        if let Some(r) = filter.region {
            let (lo, hi) = r.subtree_key_range();
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM project_locations l WHERE l.project_id = p.id AND l.region_key >= {lo} AND l.region_key < {hi})"
            );
        }
        if let Some(y) = filter.year_from {
            sql += &format!(" AND p.start_date >= '{:04}-01-01'", y.clamp(0, 9999));
        }
        if let Some(y) = filter.year_to {
            sql += &format!(" AND p.start_date <= '{:04}-12-31'", y.clamp(0, 9999));
        }
        sql += " GROUP BY p.theme, p.status";
        let rows: Vec<(String, String, i64, i64)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let mut by: BTreeMap<Theme, ThemeStatusRow> = Theme::ALL
            .iter()
            .map(|t| {
                (
                    *t,
                    ThemeStatusRow {
                        theme: *t,
                        theme_name: t.name_zh(),
                        counts: vec![0; ProjectStatus::ALL.len()],
                        total: 0,
                        budget: Fen::ZERO,
                    },
                )
            })
            .collect();
        let mut total = 0;
        for (theme, status, count, budget) in rows {
            let row = by
                .get_mut(&parse_theme(&theme))
                .expect("every theme has a row");
            let i = ProjectStatus::ALL
                .iter()
                .position(|s| *s == parse_status(&status))
                .unwrap_or(0);
            row.counts[i] += count;
            row.total += count;
            row.budget = row.budget + Fen(budget);
            total += count;
        }
        Ok(ThemeStatusReport {
            statuses: ProjectStatus::ALL
                .iter()
                .map(|s| (*s, s.name_zh()))
                .collect(),
            rows: by.into_values().collect(),
            total,
        })
    }

    /// The "80/80" check over the funds invested in `region` (援疆: province 65).
    pub async fn eighty_eighty(
        &self,
        region: RegionCode,
        filter: &ReportFilter,
    ) -> StoreResult<EightyEightyReport> {
        let region_name = self
            .get_region(region)
            .await?
            .map(|r| r.name)
            .ok_or_else(|| {
                StoreError::invalid_field("region", format!("区划代码 {region} 不存在"))
            })?;
        let aggregates = self.invested_aggregates(filter).await?;
        let locations = self.all_locations().await?;
        let mut overall = EightyEighty::default();
        let mut by_year: BTreeMap<i64, EightyEighty> = BTreeMap::new();
        for a in &aggregates {
            let locs = locations.get(&a.project_id).cloned().unwrap_or_default();
            for (loc, part) in project::split_over_locations(a.amount, &locs) {
                if !region.contains(loc) {
                    continue;
                }
                let one = [Location {
                    region: loc,
                    weight: 1,
                }];
                overall.add_project(part, a.livelihood, &one);
                by_year
                    .entry(a.year)
                    .or_default()
                    .add_project(part, a.livelihood, &one);
            }
        }
        Ok(EightyEightyReport {
            region_code: region,
            region_name,
            overall: eighty_row(None, &overall),
            by_year: by_year
                .iter()
                .map(|(y, x)| eighty_row(Some(*y), x))
                .collect(),
        })
    }

    /// Theme indicators summed over projects (one year or all), and the microloans.
    pub async fn indicator_report(&self, year: Option<i64>) -> StoreResult<IndicatorReport> {
        let rows: Vec<(String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT indicator, CAST(SUM(value) AS BIGINT) FROM project_indicators WHERE ($1 IS NULL OR year = $1) GROUP BY indicator")
            .bind(year).fetch_all(p).await)?;
        let sums: HashMap<Indicator, i64> = rows
            .into_iter()
            .filter_map(|(i, v)| Indicator::parse(&i).map(|i| (i, v)))
            .collect();
        let indicators = Indicator::ALL
            .iter()
            .map(|i| {
                let value = sums.get(i).copied().unwrap_or(0);
                IndicatorTotal {
                    indicator: *i,
                    indicator_name: i.name_zh(),
                    theme_name: i.theme().name_zh(),
                    unit: i.unit_zh(),
                    value,
                    display: i.format_value(value),
                }
            })
            .collect();
        let loans: (i64, i64, i64, i64) = on_db!(self, p => sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT), CAST(COALESCE(SUM(outstanding), 0) AS BIGINT),
             CAST(COALESCE(SUM(overdue), 0) AS BIGINT) FROM project_loans
             WHERE ($1 IS NULL OR issued_on <= $2)")
            .bind(year).bind(year.map(|y| format!("{:04}-12-31", y.clamp(0, 9999)))).fetch_one(p).await)?;
        Ok(IndicatorReport {
            year,
            indicators,
            loans: LoanTotals {
                loans: loans.0,
                amount: Fen(loans.1),
                outstanding: Fen(loans.2),
                overdue: Fen(loans.3),
                overdue_rate_bp: project::share_bp(Fen(loans.3), Fen(loans.2)),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// XLSX

/// A cell of an exported sheet.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Written as 元 with two decimals (and exact: the fen column is alongside where it matters).
    Yuan(Fen),
    Empty,
}

pub struct Sheet {
    pub name: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Writes sheets to an XLSX workbook in memory.
pub fn write_xlsx(sheets: &[Sheet]) -> StoreResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let err =
        |e: rust_xlsxwriter::XlsxError| StoreError::Internal(format!("无法生成 XLSX 文件：{e}"));
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(&s.name).map_err(err)?;
        for (c, h) in s.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)
                .map_err(err)?;
            ws.set_column_width(c as u16, (h.chars().count() as f64 * 2.2).max(12.0))
                .map_err(err)?;
        }
        for (r, row) in s.rows.iter().enumerate() {
            let r = (r + 1) as u32;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(t) => {
                        ws.write_string(r, c, t).map_err(err)?;
                    }
                    Cell::Int(i) => {
                        ws.write_number(r, c, *i as f64).map_err(err)?;
                    }
                    Cell::Yuan(f) => {
                        ws.write_number_with_format(r, c, f.0 as f64 / 100.0, &money)
                            .map_err(err)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
    }
    wb.save_to_buffer().map_err(err)
}

impl InvestedReport {
    pub fn to_sheet(&self) -> Sheet {
        let mut headers: Vec<String> = Vec::new();
        for d in &self.dimensions {
            match d {
                Dimension::Province => headers.extend(["省份代码".to_string(), "省份".to_string()]),
                Dimension::Provider => {
                    headers.extend(["付款方编号".to_string(), "付款方".to_string()])
                }
                Dimension::Receiver => {
                    headers.extend(["收款方编号".to_string(), "收款方".to_string()])
                }
                Dimension::FundSource => {
                    headers.extend(["资金来源".to_string(), "资金类别".to_string()])
                }
                other => headers.push(other.name_zh().to_string()),
            }
        }
        headers.extend(["投入金额（元）".to_string(), "投入金额（分）".to_string()]);
        let mut rows: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = Vec::new();
                for d in &self.dimensions {
                    match d {
                        Dimension::Year => cells.push(r.year.map(Cell::Int).unwrap_or(Cell::Empty)),
                        Dimension::Province => {
                            cells.push(Cell::Text(
                                r.province_code.map(|c| c.to_string()).unwrap_or_default(),
                            ));
                            cells.push(Cell::Text(r.province_name.clone().unwrap_or_default()));
                        }
                        Dimension::Theme => {
                            cells.push(Cell::Text(r.theme_name.unwrap_or_default().to_string()))
                        }
                        Dimension::FundSource => {
                            cells.push(Cell::Text(
                                r.fund_source_name.unwrap_or_default().to_string(),
                            ));
                            cells.push(Cell::Text(r.fund_category.unwrap_or_default().to_string()));
                        }
                        Dimension::Provider => {
                            cells.push(r.provider_id.map(Cell::Int).unwrap_or(Cell::Empty));
                            cells.push(Cell::Text(r.provider_name.clone().unwrap_or_default()));
                        }
                        Dimension::Receiver => {
                            cells.push(r.receiver_id.map(Cell::Int).unwrap_or(Cell::Empty));
                            cells.push(Cell::Text(r.receiver_name.clone().unwrap_or_default()));
                        }
                    }
                }
                cells.push(Cell::Yuan(r.amount));
                cells.push(Cell::Int(r.amount.0));
                cells
            })
            .collect();
        let mut total_row = vec![Cell::Text("合计".into())];
        total_row.resize(headers.len() - 2, Cell::Empty);
        total_row.extend([Cell::Yuan(self.total), Cell::Int(self.total.0)]);
        rows.push(total_row);
        Sheet {
            name: "投入资金".into(),
            headers,
            rows,
        }
    }
}

impl ProgressReport {
    pub fn to_sheet(&self) -> Sheet {
        let by_county = self.by == "county";
        let mut headers: Vec<String> = if by_county {
            vec!["区划代码".into(), "县（区、市）".into()]
        } else {
            vec![
                "项目编号".into(),
                "项目名称".into(),
                "主题".into(),
                "状态".into(),
            ]
        };
        headers.extend(
            [
                "承诺（元）",
                "拨付（元）",
                "资金到账（元）",
                "到位合计（元）",
                "支出（元）",
                "拨付进度",
                "支出进度",
            ]
            .map(String::from),
        );
        let money = |r: &ProgressRow| {
            vec![
                Cell::Yuan(r.committed),
                Cell::Yuan(r.disbursed),
                Cell::Yuan(r.incoming),
                Cell::Yuan(r.received),
                Cell::Yuan(r.expended),
                Cell::Text(r.disbursement_progress.clone()),
                Cell::Text(r.expenditure_progress.clone()),
            ]
        };
        let mut rows: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = if by_county {
                    let name = r.region_name.clone().unwrap_or_default();
                    vec![
                        Cell::Text(r.region_code.map(|c| c.to_string()).unwrap_or_default()),
                        Cell::Text(if r.above_county {
                            format!("{name}（县级以上）")
                        } else {
                            name
                        }),
                    ]
                } else {
                    vec![
                        r.project_id.map(Cell::Int).unwrap_or(Cell::Empty),
                        Cell::Text(r.project_name.clone().unwrap_or_default()),
                        Cell::Text(r.theme_name.unwrap_or_default().into()),
                        Cell::Text(r.status_name.unwrap_or_default().into()),
                    ]
                };
                cells.extend(money(r));
                cells
            })
            .collect();
        let mut total = vec![Cell::Text("合计".into())];
        total.resize(if by_county { 2 } else { 4 }, Cell::Empty);
        total.extend(money(&self.total));
        rows.push(total);
        Sheet {
            name: if by_county {
                "分县资金进度".into()
            } else {
                "分项目资金进度".into()
            },
            headers,
            rows,
        }
    }
}

impl ThemeStatusReport {
    pub fn to_sheet(&self) -> Sheet {
        let mut headers = vec!["主题".to_string()];
        headers.extend(self.statuses.iter().map(|s| s.1.to_string()));
        headers.extend(["合计".to_string(), "预算（元）".to_string()]);
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![Cell::Text(r.theme_name.into())];
                cells.extend(r.counts.iter().map(|c| Cell::Int(*c)));
                cells.extend([Cell::Int(r.total), Cell::Yuan(r.budget)]);
                cells
            })
            .collect();
        Sheet {
            name: "项目按主题与状态".into(),
            headers,
            rows,
        }
    }
}
