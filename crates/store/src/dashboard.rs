//! The dashboard (数据看板): the overview figures for any region and its children, funds by
//! year and source, people out of poverty by year, each theme's indicators, the deep-poverty
//! areas (深度) and each pairing's agreement targets against actuals.
//!
//! Every figure is a sum over summary tables kept in the same transaction as the records (each
//! defined once in crate::summaries; tables of migrations 0007, 0008 and 0016), so a request
//! reads a few hundred rows and
//! never scans projects, ledger entries or households. The definitions are the overview's
//! (crate::stats): the same numbers as `overview_from_records` gives from the records.
//!
//! On top of that, computed figures are kept in memory per database and query for as long as
//! `stats_version` — bumped by triggers in the transaction of every change to a record the
//! figures read — is unchanged. A request then costs one single-row read; a household imported
//! from the command line while the server runs changes the version and so the next answer.

use crate::stats::{Overview, OverviewFilter, SHENZHEN_AREA_KM2, ThemeFigures};
use crate::{Db, StoreResult, on_db};
use domain::RegionCode;
use domain::kinds::Theme;
use domain::ledger::FundSource;
use domain::money::Fen;
use domain::project::{self, Indicator};
use domain::region::RegionLevel;
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

/// 深度贫困地区 "三区三州" (DOMAIN.md §3) as region code prefixes, with the group each belongs to.
pub const DEEP_POVERTY_AREAS: &[(&str, &str)] = &[
    ("54", "三区：西藏自治区"),
    ("6322", "三区：青海涉藏州"),
    ("6323", "三区：青海涉藏州"),
    ("6325", "三区：青海涉藏州"),
    ("6326", "三区：青海涉藏州"),
    ("6327", "三区：青海涉藏州"),
    ("6328", "三区：青海涉藏州"),
    ("5132", "三区：四川涉藏州县"),
    ("5133", "三区：四川涉藏州县"),
    ("513422", "三区：四川涉藏州县"),
    ("6230", "三区：甘肃涉藏州县"),
    ("620623", "三区：甘肃涉藏州县"),
    ("5334", "三区：云南涉藏州县"),
    ("6529", "三区：南疆四地州"),
    ("6530", "三区：南疆四地州"),
    ("6531", "三区：南疆四地州"),
    ("6532", "三区：南疆四地州"),
    ("5134", "三州：四川凉山州"),
    ("5333", "三州：云南怒江州"),
    ("6229", "三州：甘肃临夏州"),
];

use domain::poverty_status::{is_exited_code, is_poor_code};

#[derive(Debug, Clone, Serialize)]
pub struct RegionRef {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearPeople {
    pub year: i64,
    pub people_out_of_poverty: i64,
    /// Still poor at the end of the year: today's remaining plus those who left later.
    pub remaining_after: i64,
    pub remaining_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct YearFunds {
    pub year: i64,
    pub fiscal_fen: Fen,
    pub enterprise_fen: Fen,
    pub foundation_fen: Fen,
    pub donation_fen: Fen,
    pub social_fen: Fen,
    pub total_fen: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndicatorValue {
    pub indicator: String,
    pub name: String,
    pub unit: String,
    /// Integers as stored: money in fen, counts as counted.
    pub value: i64,
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeDetail {
    #[serde(flatten)]
    pub figures: ThemeFigures,
    pub indicators: Vec<IndicatorValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeepArea {
    pub code: String,
    pub name: String,
    pub group: &'static str,
    pub counties: i64,
    pub people_out_of_poverty: i64,
    pub invested_funds_fen: Fen,
}

/// 深度: the deep-poverty areas among the region's paired counties and their share.
#[derive(Debug, Clone, Serialize)]
pub struct DeepFigures {
    pub areas: Vec<DeepArea>,
    pub counties: i64,
    pub people_out_of_poverty: i64,
    pub invested_funds_fen: Fen,
    pub fiscal_funds_fen: Fen,
    pub projects: i64,
    /// Of the region's people out of poverty / invested funds; None with nothing to divide.
    pub people_share: Option<f64>,
    pub funds_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub overview: Overview,
    pub demo: bool,
    /// The region and its ancestors, province first (empty for the whole).
    pub path: Vec<RegionRef>,
    /// Level of `children`: provinces at the top, counties under a province or prefecture,
    /// towns under a county, villages under a town.
    pub children_level: Option<RegionLevel>,
    pub children: Vec<Overview>,
    /// Under a province: the prefectures of its children (the province map's areas).
    pub prefectures: Vec<RegionRef>,
    pub people_by_year: Vec<YearPeople>,
    pub funds_by_year: Vec<YearFunds>,
    pub themes: Vec<ThemeDetail>,
    pub deep: DeepFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetActual {
    pub indicator: String,
    pub unit: String,
    pub year: i64,
    pub target: f64,
    /// The region's figure of that year in the target's unit; None when the indicator is not
    /// one the records measure.
    pub actual: Option<f64>,
    /// actual / target; None without an actual or with a zero target.
    pub achieved: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairingProgress {
    pub pairing_id: i64,
    pub organisation: String,
    pub region_code: String,
    pub region_name: String,
    pub pairing_type: String,
    pub start_year: i64,
    pub end_year: Option<i64>,
    pub targets: Vec<TargetActual>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairingsProgress {
    pub region_code: Option<String>,
    pub demo: bool,
    pub items: Vec<PairingProgress>,
}

// ---------------------------------------------------------------------------------------------
// The in-memory cache keyed by stats_version.

type CacheKey = (String, String);
type CacheEntry = (i64, Arc<dyn Any + Send + Sync>);

static CACHE: LazyLock<Mutex<HashMap<CacheKey, CacheEntry>>> = LazyLock::new(Default::default);
/// One computation at a time: after a change, many waiting requests get one fresh result
/// instead of each computing its own.
static COMPUTING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);
const CACHE_LIMIT: usize = 4096;

fn cache_get<T: Clone + 'static>(key: &CacheKey, version: i64) -> Option<T> {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .get(key)
        .filter(|(v, _)| *v == version)
        .and_then(|(_, value)| value.downcast_ref::<T>().cloned())
}

fn cache_put<T: Send + Sync + 'static>(key: CacheKey, version: i64, value: T) {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.retain(|_, (v, _)| *v == version);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
    }
    cache.insert(key, (version, Arc::new(value)));
}

fn key_list(keys: impl IntoIterator<Item = i64>) -> String {
    keys.into_iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn in_years(year: i64, since: Option<i64>, until: Option<i64>) -> bool {
    since.is_none_or(|s| year >= s) && until.is_none_or(|u| year <= u)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Inputs read once per computation and shared by every region's figures.
struct Inputs {
    since: Option<i64>,
    until: Option<i64>,
    /// Every county paired with a Shenzhen-side organisation within since..until, with the
    /// years of each pairing.
    paired: BTreeMap<RegionCode, Vec<(i64, i64)>>,
    /// (county, status, exit year, members) of the registry summary.
    county_people: Vec<(RegionCode, String, i64, i64)>,
    /// area and elevation of the paired counties.
    county_attrs: HashMap<i64, (Option<f64>, Option<i64>)>,
    /// (site's county or the site above county level, min, max) over since..until.
    sites: Vec<(RegionCode, Option<i64>, Option<i64>)>,
    demo: bool,
}

impl Inputs {
    fn paired_in(&self, region: Option<RegionCode>) -> BTreeMap<RegionCode, &Vec<(i64, i64)>> {
        self.paired
            .iter()
            .filter(|(c, _)| region.is_none_or(|r| r.contains(**c) || c.contains(r)))
            .map(|(c, y)| (*c, y))
            .collect()
    }

    fn paired_at(&self, county: RegionCode, year: i64) -> bool {
        self.paired
            .get(&county)
            .is_some_and(|ys| ys.iter().any(|(s, e)| year >= *s && year <= *e))
    }
}

/// Rows of the summaries for a set of region keys.
#[derive(Default)]
struct Summaries {
    projects: HashMap<i64, HashMap<Theme, i64>>,
    /// region → (theme, source) → amount
    funds: HashMap<i64, HashMap<(Theme, FundSource), i64>>,
}

fn is_below_county(r: RegionCode) -> bool {
    r.level() > RegionLevel::County
}

impl Db {
    /// The database's demo marker (app_settings 'demo' = 'true').
    pub async fn is_demo(&self) -> StoreResult<bool> {
        let v: Option<String> = on_db!(self, p => sqlx::query_scalar(
            "SELECT value FROM app_settings WHERE key = 'demo'").fetch_optional(p).await)?;
        Ok(v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true")))
    }

    /// Sets or clears the demo marker (for `bangfu demo`).
    pub async fn set_demo(&self, demo: bool) -> StoreResult<()> {
        on_db!(self, p => {
            if demo {
                sqlx::query("INSERT INTO app_settings (key, value) VALUES ('demo', 'true')
                             ON CONFLICT (key) DO UPDATE SET value = excluded.value").execute(p).await?;
            } else {
                sqlx::query("DELETE FROM app_settings WHERE key = 'demo'").execute(p).await?;
            }
        });
        Ok(())
    }

    /// The current stats_version (changes with every record the figures read).
    pub async fn stats_version(&self) -> StoreResult<i64> {
        Ok(on_db!(self, p => sqlx::query_scalar(
            "SELECT version FROM stats_version WHERE id = 1").fetch_one(p).await)?)
    }

    /// Names the database (not the credentials): a key for what is kept per database.
    pub(crate) fn identity(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite:{}", p.connect_options().get_filename().display()),
            Db::Postgres(p) => {
                let o = p.connect_options();
                format!(
                    "postgres:{}:{}/{}",
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or_default()
                )
            }
        }
    }

    /// `compute` once per stats_version and query; the kept result otherwise.
    async fn cached<T, F>(&self, query: String, compute: F) -> StoreResult<T>
    where
        T: Clone + Send + Sync + 'static,
        F: AsyncFnOnce() -> StoreResult<T>,
    {
        let key = (self.identity(), query);
        let version = self.current_stats_version().await?;
        if let Some(hit) = cache_get::<T>(&key, version) {
            return Ok(hit);
        }
        let _one = COMPUTING.lock().await;
        let version = self.stats_version().await?;
        if let Some(hit) = cache_get::<T>(&key, version) {
            return Ok(hit);
        }
        let value = compute().await?;
        cache_put(key, version, value.clone());
        Ok(value)
    }

    /// The overview, kept in memory while no record it reads changes (the API's path).
    pub async fn stats_overview_cached(&self, f: &OverviewFilter) -> StoreResult<Overview> {
        if f.as_of.is_some() {
            return self.stats_overview(f).await;
        }
        let query = format!("overview:{:?}:{:?}:{:?}", f.region, f.since, f.until);
        self.cached(query, async || self.overview_from_summaries(f).await)
            .await
    }

    pub async fn stats_dashboard_cached(&self, f: &OverviewFilter) -> StoreResult<Dashboard> {
        let query = format!("dashboard:{:?}:{:?}:{:?}", f.region, f.since, f.until);
        self.cached(query, async || self.stats_dashboard(f).await)
            .await
    }

    pub async fn stats_pairings_cached(
        &self,
        region: Option<RegionCode>,
    ) -> StoreResult<PairingsProgress> {
        let query = format!("pairings:{region:?}");
        self.cached(query, async || self.stats_pairings(region).await)
            .await
    }

    /// The overview figures from the summary tables (see crate::stats for the definitions).
    pub(crate) async fn overview_from_summaries(
        &self,
        f: &OverviewFilter,
    ) -> StoreResult<Overview> {
        let inputs = self.inputs(f.since, f.until).await?;
        let key = f.region.map(|r| r.key()).unwrap_or(0);
        let sums = self.summaries(&[key], f.since, f.until).await?;
        let name = match f.region {
            Some(r) => self.region_names(&[r.key()]).await?.remove(&r.key()),
            None => None,
        };
        let mut o = self.figures(&inputs, &sums, f.region, name).await?;
        o.since = f.since;
        o.until = f.until;
        Ok(o)
    }

    async fn inputs(&self, since: Option<i64>, until: Option<i64>) -> StoreResult<Inputs> {
        let rows: Vec<(i64, i64, Option<i64>)> = on_db!(self, p => sqlx::query_as(
            "SELECT p.region_key, p.start_year, p.end_year FROM pairings p
             JOIN organisations o ON o.id = p.organisation_id WHERE o.shenzhen_side = $1")
            .bind(true).fetch_all(p).await)?;
        let mut paired: BTreeMap<RegionCode, Vec<(i64, i64)>> = BTreeMap::new();
        for (key, start, end) in rows {
            let Some(county) = RegionCode::from_key(key).and_then(project::county_of) else {
                continue;
            };
            let end = end.unwrap_or(i64::MAX);
            if until.is_some_and(|u| start > u) || since.is_some_and(|s| end < s) {
                continue;
            }
            paired.entry(county).or_default().push((start, end));
        }
        let people: Vec<(i64, String, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT county_key, status, exit_year, members FROM stats_household_members WHERE members <> 0")
            .fetch_all(p).await)?;
        let county_people = people
            .into_iter()
            .filter_map(|(k, s, y, m)| RegionCode::from_key(k).map(|c| (c, s, y, m)))
            .collect();
        let mut county_attrs = HashMap::new();
        let keys: Vec<i64> = paired.keys().map(|c| c.key()).collect();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT key, area_km2, elevation_m FROM regions WHERE key IN ({})",
                key_list(chunk.iter().copied())
            );
            let rows: Vec<(i64, Option<f64>, Option<i64>)> =
                on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
            for (k, a, e) in rows {
                county_attrs.insert(k, (a, e));
            }
        }
        let sites: Vec<(i64, Option<i64>, Option<i64>)> = on_db!(self, p => sqlx::query_as(
            "SELECT county_key, MIN(elevation_min), MAX(elevation_max) FROM stats_sites
             WHERE year >= $1 AND year <= $2 GROUP BY county_key")
            .bind(since.unwrap_or(0)).bind(until.unwrap_or(9999)).fetch_all(p).await)?;
        let sites = sites
            .into_iter()
            .filter_map(|(k, lo, hi)| RegionCode::from_key(k).map(|c| (c, lo, hi)))
            .collect();
        Ok(Inputs {
            since,
            until,
            paired,
            county_people,
            county_attrs,
            sites,
            demo: self.is_demo().await?,
        })
    }

    /// Projects and funds of these region keys (0 = everything) over since..until.
    async fn summaries(
        &self,
        keys: &[i64],
        since: Option<i64>,
        until: Option<i64>,
    ) -> StoreResult<Summaries> {
        let mut out = Summaries::default();
        let (lo, hi) = (since.unwrap_or(0), until.unwrap_or(9999));
        for chunk in keys.chunks(500) {
            let list = key_list(chunk.iter().copied());
            let sql = format!(
                "SELECT region_key, theme, CAST(SUM(projects) AS BIGINT) FROM stats_projects
                 WHERE region_key IN ({list}) AND year >= $1 AND year <= $2 GROUP BY region_key, theme"
            );
            let rows: Vec<(i64, String, i64)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
                .bind(lo).bind(hi).fetch_all(p).await)?;
            for (k, theme, n) in rows {
                *out.projects
                    .entry(k)
                    .or_default()
                    .entry(crate::projects::parse_theme(&theme))
                    .or_default() += n;
            }
            let sql = format!(
                "SELECT region_key, theme, fund_source, CAST(SUM(amount) AS BIGINT) FROM stats_funds
                 WHERE region_key IN ({list}) AND year >= $1 AND year <= $2
                 GROUP BY region_key, theme, fund_source"
            );
            let rows: Vec<(i64, String, String, i64)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
                .bind(lo).bind(hi).fetch_all(p).await)?;
            for (k, theme, source, amount) in rows {
                let Some(source) = FundSource::parse(&source) else {
                    continue;
                };
                *out.funds
                    .entry(k)
                    .or_default()
                    .entry((crate::projects::parse_theme(&theme), source))
                    .or_default() += amount;
            }
        }
        Ok(out)
    }

    async fn region_names(&self, keys: &[i64]) -> StoreResult<HashMap<i64, String>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT key, name FROM regions WHERE key IN ({})",
                key_list(chunk.iter().copied())
            );
            let rows: Vec<(i64, String)> =
                on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// People (out, remaining) by exit year of a region below county level, from the village
    /// summary, counted for the years its county was paired.
    async fn people_below_county(
        &self,
        inputs: &Inputs,
        region: RegionCode,
    ) -> StoreResult<(BTreeMap<i64, i64>, i64)> {
        let (lo, hi) = region.subtree_key_range();
        let rows: Vec<(String, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT status, exit_year, CAST(SUM(members) AS BIGINT) FROM stats_village_members
             WHERE village_key >= $1 AND village_key < $2 AND members <> 0 GROUP BY status, exit_year")
            .bind(lo).bind(hi).fetch_all(p).await)?;
        let county = project::county_of(region);
        let paired = county.is_some_and(|c| inputs.paired.contains_key(&c));
        let (mut out, mut remaining) = (BTreeMap::new(), 0i64);
        if !paired {
            return Ok((out, 0));
        }
        let county = county.expect("paired implies a county");
        for (status, year, members) in rows {
            if is_exited_code(&status) {
                if in_years(year, inputs.since, inputs.until) && inputs.paired_at(county, year) {
                    *out.entry(year).or_default() += members;
                }
            } else if is_poor_code(&status) {
                remaining += members;
            }
        }
        Ok((out, remaining))
    }

    /// People (out by exit year, remaining) of a region at county level or above (None: all).
    fn people_of(inputs: &Inputs, region: Option<RegionCode>) -> (BTreeMap<i64, i64>, i64) {
        let paired = inputs.paired_in(region);
        let (mut out, mut remaining) = (BTreeMap::new(), 0i64);
        for (county, status, year, members) in &inputs.county_people {
            let Some(years) = paired.get(county) else {
                continue;
            };
            if is_exited_code(status) {
                if in_years(*year, inputs.since, inputs.until)
                    && years.iter().any(|(s, e)| year >= s && year <= e)
                {
                    *out.entry(*year).or_default() += members;
                }
            } else if is_poor_code(status) {
                remaining += members;
            }
        }
        (out, remaining)
    }

    async fn people(
        &self,
        inputs: &Inputs,
        region: Option<RegionCode>,
    ) -> StoreResult<(BTreeMap<i64, i64>, i64)> {
        match region {
            Some(r) if is_below_county(r) => self.people_below_county(inputs, r).await,
            _ => Ok(Self::people_of(inputs, region)),
        }
    }

    /// Elevation range: the paired counties, the counted projects' sites and their counties.
    async fn elevation(
        &self,
        inputs: &Inputs,
        region: Option<RegionCode>,
    ) -> StoreResult<(Option<i64>, Option<i64>)> {
        let (mut lo, mut hi) = (None::<i64>, None::<i64>);
        let mut add = |e: Option<i64>| {
            if let Some(e) = e {
                lo = Some(lo.map_or(e, |m| m.min(e)));
                hi = Some(hi.map_or(e, |m| m.max(e)));
            }
        };
        for county in inputs.paired_in(region).keys() {
            add(inputs.county_attrs.get(&county.key()).and_then(|a| a.1));
        }
        match region {
            Some(r) if is_below_county(r) => {
                // A town or village: its own few sites, read directly.
                let (klo, khi) = r.subtree_key_range();
                let (dlo, dhi) = (
                    format!("{:04}-01-01", inputs.since.unwrap_or(0).clamp(0, 9999)),
                    format!("{:04}-12-31", inputs.until.unwrap_or(9999).clamp(0, 9999)),
                );
                let rows: Vec<(Option<i64>,)> = on_db!(self, p => sqlx::query_as(
                    "SELECT r.elevation_m FROM project_locations l JOIN projects p ON p.id = l.project_id
                     JOIN regions r ON r.key = l.region_key
                     WHERE l.region_key >= $1 AND l.region_key < $2 AND p.start_date >= $3 AND p.start_date <= $4")
                    .bind(klo).bind(khi).bind(&dlo).bind(&dhi).fetch_all(p).await)?;
                let any_site = !rows.is_empty();
                for (e,) in rows {
                    add(e);
                }
                if any_site && let Some(c) = project::county_of(r) {
                    let e: Option<Option<i64>> = on_db!(self, p => sqlx::query_scalar(
                        "SELECT elevation_m FROM regions WHERE key = $1").bind(c.key()).fetch_optional(p).await)?;
                    add(e.flatten());
                }
            }
            _ => {
                for (site, slo, shi) in &inputs.sites {
                    if region.is_none_or(|r| r.contains(*site)) {
                        add(*slo);
                        add(*shi);
                    }
                }
            }
        }
        Ok((lo, hi))
    }

    /// The overview figures of one region (None: everything) from loaded inputs and summaries.
    async fn figures(
        &self,
        inputs: &Inputs,
        sums: &Summaries,
        region: Option<RegionCode>,
        region_name: Option<String>,
    ) -> StoreResult<Overview> {
        let paired = inputs.paired_in(region);
        let provinces: BTreeSet<RegionCode> =
            paired.keys().map(|c| project::province_of(*c)).collect();
        let area: f64 = paired
            .keys()
            .map(|c| {
                inputs
                    .county_attrs
                    .get(&c.key())
                    .and_then(|a| a.0)
                    .unwrap_or(0.0)
            })
            .sum();
        let (out_by_year, remaining) = self.people(inputs, region).await?;
        let out: i64 = out_by_year.values().sum();
        let (elevation_min_m, elevation_max_m) = self.elevation(inputs, region).await?;
        let key = region.map(|r| r.key()).unwrap_or(0);
        let empty_p = HashMap::new();
        let empty_f = HashMap::new();
        let projects = sums.projects.get(&key).unwrap_or(&empty_p);
        let funds = sums.funds.get(&key).unwrap_or(&empty_f);
        let (mut fiscal, mut social) = (Fen::ZERO, Fen::ZERO);
        let themes: Vec<ThemeFigures> = Theme::ALL
            .iter()
            .map(|t| {
                let (mut all, mut fis) = (Fen::ZERO, Fen::ZERO);
                for s in FundSource::ALL {
                    let a = Fen(funds.get(&(*t, *s)).copied().unwrap_or(0));
                    all = all + a;
                    if s.is_fiscal() {
                        fis = fis + a;
                    }
                }
                fiscal = fiscal + fis;
                social = social + (all - fis);
                ThemeFigures {
                    theme: *t,
                    theme_name: t.name_zh(),
                    projects: projects.get(t).copied().unwrap_or(0),
                    funds_fen: all,
                    fiscal_funds_fen: fis,
                }
            })
            .collect();
        let area = round2(area);
        let total_people = out + remaining;
        Ok(Overview {
            region_code: region.map(|r| r.to_string()),
            region_name,
            since: inputs.since,
            until: inputs.until,
            as_of: None,
            provinces: provinces.len() as i64,
            counties: paired.len() as i64,
            area_km2: area,
            shenzhen_area_km2: SHENZHEN_AREA_KM2,
            shenzhen_equivalents: (area / SHENZHEN_AREA_KM2).round() as i64,
            fiscal_funds_fen: fiscal,
            fiscal_funds_yuan: fiscal.yuan_string(),
            social_funds_fen: social,
            invested_funds_fen: fiscal + social,
            projects: themes.iter().map(|t| t.projects).sum(),
            people_out_of_poverty: out,
            people_remaining: remaining,
            remaining_share: share(remaining, total_people),
            elevation_min_m,
            elevation_max_m,
            themes,
            demo: inputs.demo,
        })
    }

    /// The children a drill-down lists under a region (None: the provinces).
    async fn dashboard_children(
        &self,
        inputs: &Inputs,
        region: Option<RegionCode>,
    ) -> StoreResult<(Option<RegionLevel>, Vec<(RegionCode, String)>)> {
        let (level, keys): (RegionLevel, Vec<i64>) = match region.map(|r| r.level()) {
            // Provinces and counties with a pairing or with projects or money on record.
            None | Some(RegionLevel::Province) | Some(RegionLevel::Prefecture) => {
                let level = if region.is_none() {
                    RegionLevel::Province
                } else {
                    RegionLevel::County
                };
                let (lo, hi) = region
                    .map(|r| r.subtree_key_range())
                    .unwrap_or((1, i64::MAX));
                let rank = level.rank() as i64;
                let active: Vec<i64> = on_db!(self, p => sqlx::query_scalar(
                    "SELECT region_key FROM stats_projects WHERE region_key >= $1 AND region_key < $2
                       AND region_key % 10 = $3 AND projects <> 0
                     UNION SELECT region_key FROM stats_funds WHERE region_key >= $1 AND region_key < $2
                       AND region_key % 10 = $3 AND amount <> 0")
                    .bind(lo).bind(hi).bind(rank).fetch_all(p).await)?;
                let mut keys: BTreeSet<i64> = active.into_iter().collect();
                for c in inputs.paired_in(region).keys() {
                    if region.is_none_or(|r| r.contains(*c)) {
                        let k = match level {
                            RegionLevel::Province => project::province_of(*c).key(),
                            _ => c.key(),
                        };
                        keys.insert(k);
                    }
                }
                (level, keys.into_iter().collect())
            }
            // Every town of a county, every village of a town.
            Some(RegionLevel::County) | Some(RegionLevel::Town) => {
                let r = region.expect("matched a level");
                let keys: Vec<i64> = on_db!(self, p => sqlx::query_scalar(
                    "SELECT key FROM regions WHERE parent_key = $1 AND retired_year IS NULL ORDER BY key")
                    .bind(r.key()).fetch_all(p).await)?;
                let level = if r.level() == RegionLevel::County {
                    RegionLevel::Town
                } else {
                    RegionLevel::Village
                };
                (level, keys)
            }
            Some(RegionLevel::Village) => return Ok((None, Vec::new())),
        };
        let names = self.region_names(&keys).await?;
        let children = keys
            .into_iter()
            .filter_map(|k| RegionCode::from_key(k).map(|c| (c, k)))
            .map(|(c, k)| (c, names.get(&k).cloned().unwrap_or_else(|| c.to_string())))
            .collect();
        Ok((Some(level), children))
    }

    /// Everything the dashboard page shows for a region (None: the whole).
    pub async fn stats_dashboard(&self, f: &OverviewFilter) -> StoreResult<Dashboard> {
        let inputs = self.inputs(f.since, f.until).await?;
        let region = f.region;
        let (children_level, children) = self.dashboard_children(&inputs, region).await?;

        // Path from the province down.
        let mut path_codes: Vec<RegionCode> = region.map(|r| r.ancestors()).unwrap_or_default();
        path_codes.extend(region);
        let deep_codes: Vec<(RegionCode, &'static str)> = deep_areas();
        let mut keys: Vec<i64> = vec![region.map(|r| r.key()).unwrap_or(0)];
        keys.extend(children.iter().map(|(c, _)| c.key()));
        keys.extend(deep_codes.iter().map(|(c, _)| c.key()));
        let sums = self.summaries(&keys, f.since, f.until).await?;
        let prefecture_codes: BTreeSet<RegionCode> =
            if region.is_some_and(|r| r.level() == RegionLevel::Province) {
                children
                    .iter()
                    .filter_map(|(c, _)| c.ancestors().get(1).copied())
                    .collect()
            } else {
                BTreeSet::new()
            };
        let mut name_keys: Vec<i64> = path_codes.iter().map(|c| c.key()).collect();
        name_keys.extend(prefecture_codes.iter().map(|c| c.key()));
        name_keys.extend(deep_codes.iter().map(|(c, _)| c.key()));
        let names = self.region_names(&name_keys).await?;
        let path: Vec<RegionRef> = path_codes
            .iter()
            .map(|c| RegionRef {
                code: c.to_string(),
                name: names
                    .get(&c.key())
                    .cloned()
                    .unwrap_or_else(|| c.to_string()),
                level: c.level(),
            })
            .collect();
        let prefectures = prefecture_codes
            .iter()
            .map(|c| RegionRef {
                code: c.to_string(),
                name: names
                    .get(&c.key())
                    .cloned()
                    .unwrap_or_else(|| c.to_string()),
                level: c.level(),
            })
            .collect();
        let overview = self
            .figures(
                &inputs,
                &sums,
                region,
                region.and_then(|r| names.get(&r.key()).cloned()),
            )
            .await?;
        let mut child_figures = Vec::with_capacity(children.len());
        for (code, name) in &children {
            child_figures.push(
                self.figures(&inputs, &sums, Some(*code), Some(name.clone()))
                    .await?,
            );
        }

        // 速度: people out of poverty by exit year and the remaining share after each year.
        let (out_by_year, remaining) = self.people(&inputs, region).await?;
        let total: i64 = out_by_year.values().sum::<i64>() + remaining;
        let mut later: i64 = out_by_year.values().sum();
        let people_by_year = out_by_year
            .iter()
            .map(|(year, n)| {
                later -= n;
                let remaining_after = remaining + later;
                YearPeople {
                    year: *year,
                    people_out_of_poverty: *n,
                    remaining_after,
                    remaining_share: share(remaining_after, total),
                }
            })
            .collect();

        // Funds by year and source.
        let key = region.map(|r| r.key()).unwrap_or(0);
        let rows: Vec<(i64, String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT year, fund_source, CAST(SUM(amount) AS BIGINT) FROM stats_funds
             WHERE region_key = $1 AND year >= $2 AND year <= $3 GROUP BY year, fund_source ORDER BY year")
            .bind(key).bind(f.since.unwrap_or(0)).bind(f.until.unwrap_or(9999)).fetch_all(p).await)?;
        let mut by_year: BTreeMap<i64, YearFunds> = BTreeMap::new();
        for (year, source, amount) in rows {
            let Some(source) = FundSource::parse(&source) else {
                continue;
            };
            let y = by_year.entry(year).or_insert(YearFunds {
                year,
                fiscal_fen: Fen::ZERO,
                enterprise_fen: Fen::ZERO,
                foundation_fen: Fen::ZERO,
                donation_fen: Fen::ZERO,
                social_fen: Fen::ZERO,
                total_fen: Fen::ZERO,
            });
            let a = Fen(amount);
            match source {
                FundSource::Fiscal => y.fiscal_fen = y.fiscal_fen + a,
                FundSource::Enterprise => y.enterprise_fen = y.enterprise_fen + a,
                FundSource::Foundation => y.foundation_fen = y.foundation_fen + a,
                FundSource::Donation => y.donation_fen = y.donation_fen + a,
            }
            if !source.is_fiscal() {
                y.social_fen = y.social_fen + a;
            }
            y.total_fen = y.total_fen + a;
        }
        let funds_by_year: Vec<YearFunds> = by_year
            .into_values()
            .filter(|y| y.total_fen != Fen::ZERO)
            .collect();

        // Each theme's indicators.
        let rows: Vec<(String, String, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT theme, indicator, CAST(SUM(value) AS BIGINT) FROM stats_indicators
             WHERE region_key = $1 AND year >= $2 AND year <= $3 GROUP BY theme, indicator")
            .bind(key).bind(f.since.unwrap_or(0)).bind(f.until.unwrap_or(9999)).fetch_all(p).await)?;
        let mut sums_by: HashMap<(Theme, String), i64> = HashMap::new();
        for (theme, indicator, value) in rows {
            *sums_by
                .entry((crate::projects::parse_theme(&theme), indicator))
                .or_default() += value;
        }
        let themes = overview
            .themes
            .iter()
            .map(|t| {
                let mut indicators: Vec<IndicatorValue> = Indicator::for_theme(t.theme)
                    .into_iter()
                    .map(|i| {
                        let value = sums_by
                            .get(&(t.theme, i.as_str().to_string()))
                            .copied()
                            .unwrap_or(0);
                        IndicatorValue {
                            indicator: i.as_str().into(),
                            name: i.name_zh().into(),
                            unit: i.unit_zh().into(),
                            value,
                            display: i.format_value(value),
                        }
                    })
                    .collect();
                if t.theme == Theme::Finance {
                    let loans = sums_by
                        .get(&(t.theme, "loans".into()))
                        .copied()
                        .unwrap_or(0);
                    let amount = sums_by
                        .get(&(t.theme, "loan_amount".into()))
                        .copied()
                        .unwrap_or(0);
                    indicators.push(IndicatorValue {
                        indicator: "loans".into(),
                        name: "发放小额信贷".into(),
                        unit: "笔".into(),
                        value: loans,
                        display: format!("{loans} 笔"),
                    });
                    indicators.push(IndicatorValue {
                        indicator: "loan_amount".into(),
                        name: "信贷金额".into(),
                        unit: "元".into(),
                        value: amount,
                        display: format!("{} 元", Fen(amount).yuan_string()),
                    });
                }
                ThemeDetail {
                    figures: t.clone(),
                    indicators,
                }
            })
            .collect();

        // 深度: deep-poverty areas within the region (or the region within one).
        let mut deep = DeepFigures {
            areas: Vec::new(),
            counties: 0,
            people_out_of_poverty: 0,
            invested_funds_fen: Fen::ZERO,
            fiscal_funds_fen: Fen::ZERO,
            projects: 0,
            people_share: None,
            funds_share: None,
        };
        for (code, group) in &deep_codes {
            let scope = match region {
                None => *code,
                Some(r) if r.contains(*code) => *code,
                Some(r) if code.contains(r) => r,
                Some(_) => continue,
            };
            let name = if scope == *code {
                names.get(&code.key()).cloned()
            } else {
                overview.region_name.clone()
            };
            let o = if Some(scope) == region {
                overview.clone()
            } else {
                self.figures(&inputs, &sums, Some(scope), name.clone())
                    .await?
            };
            let counties = inputs
                .paired_in(Some(scope))
                .keys()
                .filter(|c| scope.contains(**c))
                .count() as i64;
            if counties == 0 && o.invested_funds_fen == Fen::ZERO && o.projects == 0 {
                continue;
            }
            deep.counties += counties;
            deep.people_out_of_poverty += o.people_out_of_poverty;
            deep.invested_funds_fen = deep.invested_funds_fen + o.invested_funds_fen;
            deep.fiscal_funds_fen = deep.fiscal_funds_fen + o.fiscal_funds_fen;
            deep.projects += o.projects;
            deep.areas.push(DeepArea {
                code: scope.to_string(),
                name: name.unwrap_or_else(|| scope.to_string()),
                group,
                counties,
                people_out_of_poverty: o.people_out_of_poverty,
                invested_funds_fen: o.invested_funds_fen,
            });
        }
        deep.people_share = share(deep.people_out_of_poverty, overview.people_out_of_poverty);
        deep.funds_share = share(deep.invested_funds_fen.0, overview.invested_funds_fen.0);

        Ok(Dashboard {
            demo: inputs.demo,
            path,
            children_level,
            children: child_figures,
            prefectures,
            people_by_year,
            funds_by_year,
            themes,
            deep,
            overview,
        })
    }

    /// Each Shenzhen-side pairing in (or above) the region with its yearly agreement targets and
    /// the region's actual figure of that year.
    pub async fn stats_pairings(
        &self,
        region: Option<RegionCode>,
    ) -> StoreResult<PairingsProgress> {
        type Row = (i64, String, i64, String, i64, Option<i64>);
        let rows: Vec<Row> = on_db!(self, p => sqlx::query_as(
            "SELECT p.id, o.name, p.region_key, p.pairing_type, p.start_year, p.end_year FROM pairings p
             JOIN organisations o ON o.id = p.organisation_id
             WHERE o.shenzhen_side = $1 AND EXISTS (SELECT 1 FROM pairing_targets t WHERE t.pairing_id = p.id)
             ORDER BY p.region_key, p.id")
            .bind(true).fetch_all(p).await)?;
        let rows: Vec<(Row, RegionCode)> = rows
            .into_iter()
            .filter_map(|r| RegionCode::from_key(r.2).map(|c| (r, c)))
            .filter(|(_, c)| region.is_none_or(|r| r.contains(*c) || c.contains(r)))
            .collect();
        let demo = self.is_demo().await?;
        if rows.is_empty() {
            return Ok(PairingsProgress {
                region_code: region.map(|r| r.to_string()),
                demo,
                items: Vec::new(),
            });
        }
        let ids = key_list(rows.iter().map(|(r, _)| r.0));
        let sql = format!(
            "SELECT pairing_id, indicator, unit, year, target FROM pairing_targets
             WHERE pairing_id IN ({ids}) ORDER BY pairing_id, indicator, year"
        );
        let targets: Vec<(i64, String, String, i64, f64)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let region_keys: BTreeSet<i64> = rows.iter().map(|(_, c)| c.key()).collect();
        let list = key_list(region_keys.iter().copied());
        // Figures by region and year.
        let sql = format!(
            "SELECT region_key, year, fund_source, CAST(SUM(amount) AS BIGINT) FROM stats_funds
             WHERE region_key IN ({list}) GROUP BY region_key, year, fund_source"
        );
        let funds: Vec<(i64, i64, String, i64)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let sql = format!(
            "SELECT region_key, year, CAST(SUM(projects) AS BIGINT) FROM stats_projects
             WHERE region_key IN ({list}) GROUP BY region_key, year"
        );
        let projects: Vec<(i64, i64, i64)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let sql = format!(
            "SELECT region_key, year, indicator, CAST(SUM(value) AS BIGINT) FROM stats_indicators
             WHERE region_key IN ({list}) GROUP BY region_key, year, indicator"
        );
        let indicators: Vec<(i64, i64, String, i64)> =
            on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
        let mut fiscal: HashMap<(i64, i64), i64> = HashMap::new();
        let mut social: HashMap<(i64, i64), i64> = HashMap::new();
        for (k, y, s, a) in funds {
            match FundSource::parse(&s) {
                Some(FundSource::Fiscal) => *fiscal.entry((k, y)).or_default() += a,
                Some(_) => *social.entry((k, y)).or_default() += a,
                None => {}
            }
        }
        let projects: HashMap<(i64, i64), i64> =
            projects.into_iter().map(|(k, y, n)| ((k, y), n)).collect();
        let indicators: HashMap<(i64, i64, String), i64> = indicators
            .into_iter()
            .map(|(k, y, i, v)| ((k, y, i), v))
            .collect();
        let inputs = self.inputs(None, None).await?;
        let mut people: HashMap<i64, BTreeMap<i64, i64>> = HashMap::new();
        for (_, code) in &rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = people.entry(code.key()) {
                let (by_year, _) = self.people(&inputs, Some(*code)).await?;
                slot.insert(by_year);
            }
        }
        let names = self
            .region_names(&region_keys.iter().copied().collect::<Vec<_>>())
            .await?;

        let mut items = Vec::new();
        for ((id, org, key, ptype, start, end), code) in rows {
            let mut list = Vec::new();
            for (_, indicator, unit, year, target) in targets.iter().filter(|t| t.0 == id) {
                let actual = actual_of(indicator, unit, |what| match what {
                    Measured::Fiscal => fiscal.get(&(key, *year)).copied().unwrap_or(0),
                    Measured::Social => social.get(&(key, *year)).copied().unwrap_or(0),
                    Measured::Funds => {
                        fiscal.get(&(key, *year)).copied().unwrap_or(0)
                            + social.get(&(key, *year)).copied().unwrap_or(0)
                    }
                    Measured::Projects => projects.get(&(key, *year)).copied().unwrap_or(0),
                    Measured::People => people
                        .get(&key)
                        .and_then(|m| m.get(year))
                        .copied()
                        .unwrap_or(0),
                    Measured::Indicator(i) => indicators
                        .get(&(key, *year, i.as_str().to_string()))
                        .copied()
                        .unwrap_or(0),
                });
                list.push(TargetActual {
                    indicator: indicator.clone(),
                    unit: unit.clone(),
                    year: *year,
                    target: *target,
                    actual,
                    achieved: actual.filter(|_| *target > 0.0).map(|a| a / target),
                });
            }
            items.push(PairingProgress {
                pairing_id: id,
                organisation: org,
                region_code: code.to_string(),
                region_name: names.get(&key).cloned().unwrap_or_else(|| code.to_string()),
                pairing_type: domain::kinds::PairingType::parse(&ptype)
                    .map(|t| t.name_zh().to_string())
                    .unwrap_or(ptype),
                start_year: start,
                end_year: end,
                targets: list,
            });
        }
        Ok(PairingsProgress {
            region_code: region.map(|r| r.to_string()),
            demo,
            items,
        })
    }
}

/// The deep-poverty prefixes, without those inside another (木里 is in 凉山州).
fn deep_areas() -> Vec<(RegionCode, &'static str)> {
    let all: Vec<(RegionCode, &'static str)> = DEEP_POVERTY_AREAS
        .iter()
        .filter_map(|(c, g)| RegionCode::parse(c).ok().map(|c| (c, *g)))
        .collect();
    all.iter()
        .filter(|(c, _)| !all.iter().any(|(o, _)| o != c && o.contains(*c)))
        .copied()
        .collect()
}

/// What a target's indicator measures on the records.
pub enum Measured {
    Fiscal,
    Social,
    Funds,
    Projects,
    People,
    Indicator(Indicator),
}

/// The actual figure of a target indicator (named as people write it: 财政帮扶资金, 脱贫人口,
/// 实施项目, or a project indicator such as 引进企业), in the target's unit; None when the
/// records do not measure it.
pub fn actual_of(indicator: &str, unit: &str, value: impl Fn(Measured) -> i64) -> Option<f64> {
    let name = domain::text::normalize_compact(indicator);
    let unit = domain::text::normalize_compact(unit);
    let money = |fen: i64| -> Option<f64> {
        let yuan = fen as f64 / 100.0;
        Some(match unit.as_str() {
            "亿元" => yuan / 1e8,
            "万元" => yuan / 1e4,
            _ => yuan,
        })
    };
    if let Some(i) = Indicator::parse(&name) {
        let v = value(Measured::Indicator(i));
        return match i.measure() {
            domain::project::Measure::Money => money(v),
            domain::project::Measure::Count(_) => Some(v as f64),
        };
    }
    if name.contains("资金") || name.contains("投入") {
        return if name.contains("财政") {
            money(value(Measured::Fiscal))
        } else if name.contains("社会") {
            money(value(Measured::Social))
        } else {
            money(value(Measured::Funds))
        };
    }
    if name.contains("脱贫") {
        return Some(value(Measured::People) as f64);
    }
    if name.contains("项目") {
        return Some(value(Measured::Projects) as f64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_areas_drop_prefixes_inside_others() {
        let areas = deep_areas();
        assert!(areas.iter().any(|(c, _)| c.to_string() == "5134"));
        assert!(!areas.iter().any(|(c, _)| c.to_string() == "513422"));
        assert!(areas.iter().any(|(c, _)| c.to_string() == "6531"));
    }

    #[test]
    fn target_indicators_map_onto_the_records() {
        let v = |m: Measured| match m {
            Measured::Fiscal => 123_456_789_00,
            Measured::People => 4200,
            Measured::Projects => 7,
            Measured::Indicator(Indicator::EnterprisesIntroduced) => 9,
            _ => 0,
        };
        assert_eq!(actual_of("财政帮扶资金", "万元", v), Some(12345.6789));
        assert_eq!(actual_of("脱贫人口", "人", v), Some(4200.0));
        assert_eq!(actual_of("实施项目", "个", v), Some(7.0));
        assert_eq!(actual_of("引进企业", "个", v), Some(9.0));
        assert_eq!(actual_of("干部交流满意度", "%", v), None);
    }
}
