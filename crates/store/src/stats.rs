//! The overview figures (数据概览) — the seed's headline numbers — computed from the records on
//! every request, and their published snapshots (`bangfu stats publish --as-of DATE`).
//!
//! Definitions (each figure is a sum or count over records, never a stored constant):
//! - counties: county-level units paired with a Shenzhen-side organisation, or containing a
//!   paired town or village, whose pairing overlaps since..until; provinces: their provinces;
//!   area_km2: the sum of their area; shenzhen_equivalents: area / 1997.47, rounded.
//! - funds: ledger entries marked `invested` (the invested-funds report's definition: Shenzhen
//!   side → recipient side, a pass-through chain counted once), by value date within
//!   since..until (and on or before as_of). A region takes the shares of the project's
//!   locations inside it, split by location weight with the largest remainder exactly as the
//!   invested-funds report splits them, so the two agree to the fen.
//! - projects: projects whose start date falls within since..until with a location in the region.
//! - people_out_of_poverty: active members of households with status 1 or 4 whose exit year is a
//!   year their county was paired (and within since..until); people_remaining: active members
//!   of households with status 0 or 3 in the paired counties (the registry's current state).
//! - elevation: over the paired counties, the counted projects' sites and those sites' counties.
//!
//! Registry members and invested funds come from summary tables kept in the same transaction as
//! the records (each recomputed for the keys a transaction changed, from its one definition in
//! crate::summaries); projects, split funds and site elevations
//! from those of the dashboard (crate::dashboard), so a request sums a few hundred rows, and the
//! API keeps each answer while `stats_version` is unchanged. Below county level the people are
//! the town's or village's own (from the village summary), not the whole county's.

use crate::{Db, StoreError, StoreResult, audit, now_rfc3339, on_db};
use domain::kinds::Theme;
use domain::ledger::FundSource;
use domain::money::Fen;
use domain::project::{self, Location};
use domain::{Caller, RegionCode};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// 深圳市行政区域面积 (official figure), the unit of "相当于 N 个深圳".
pub const SHENZHEN_AREA_KM2: f64 = 1997.47;

#[derive(Debug, Clone, Default)]
pub struct OverviewFilter {
    /// Any region code: a province, prefecture ("6531" 喀什地区), county…
    pub region: Option<RegionCode>,
    /// From this year on (inclusive).
    pub since: Option<i64>,
    /// Up to this year (inclusive).
    pub until: Option<i64>,
    /// Records dated after this day ("YYYY-MM-DD") are left out (publishing).
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeFigures {
    pub theme: Theme,
    pub theme_name: &'static str,
    pub projects: i64,
    /// Invested funds, fiscal and social.
    pub funds_fen: Fen,
    pub fiscal_funds_fen: Fen,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub region_code: Option<String>,
    pub region_name: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub as_of: Option<String>,
    pub provinces: i64,
    pub counties: i64,
    pub area_km2: f64,
    pub shenzhen_area_km2: f64,
    pub shenzhen_equivalents: i64,
    pub fiscal_funds_fen: Fen,
    pub fiscal_funds_yuan: String,
    pub social_funds_fen: Fen,
    pub invested_funds_fen: Fen,
    pub projects: i64,
    pub people_out_of_poverty: i64,
    pub people_remaining: i64,
    /// people_remaining / (people_out_of_poverty + people_remaining); None with no people.
    pub remaining_share: Option<f64>,
    pub elevation_min_m: Option<i64>,
    pub elevation_max_m: Option<i64>,
    pub themes: Vec<ThemeFigures>,
    /// The database holds generated demo data (`app_settings` 'demo' = 'true'): say 演示数据.
    pub demo: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedFigures {
    pub id: i64,
    pub as_of: String,
    pub region_code: Option<String>,
    pub since: Option<i64>,
    pub published_at: String,
    pub published_by: String,
    pub figures: serde_json::Value,
}

/// id, as_of, region_key, since_year, published_at, published_by, figures_json.
type PublishedRow = (
    i64,
    String,
    Option<i64>,
    Option<i64>,
    String,
    String,
    String,
);

use domain::poverty_status::{is_exited_code, is_poor_code};

fn in_years(year: i64, since: Option<i64>, until: Option<i64>) -> bool {
    since.is_none_or(|s| year >= s) && until.is_none_or(|u| year <= u)
}

/// Inclusive date bounds "YYYY-MM-DD" for since..until capped at as_of.
fn date_bounds(since: Option<i64>, until: Option<i64>, as_of: Option<&str>) -> (String, String) {
    let lo = since
        .map(|y| format!("{:04}-01-01", y.clamp(0, 9999)))
        .unwrap_or_else(|| "0000-01-01".into());
    let mut hi = until
        .map(|y| format!("{:04}-12-31", y.clamp(0, 9999)))
        .unwrap_or_else(|| "9999-12-31".into());
    if let Some(d) = as_of.filter(|d| *d < hi.as_str()) {
        hi = d.to_string();
    }
    (lo, hi)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Db {
    /// The overview figures. Without `as_of` they come from the summary tables
    /// (crate::summaries, crate::dashboard), which give the same numbers as the records; a published set
    /// (`as_of`) is computed from the dated records themselves.
    pub async fn stats_overview(&self, f: &OverviewFilter) -> StoreResult<Overview> {
        match f.as_of {
            None => {
                self.refresh_summaries().await?;
                self.overview_from_summaries(f).await
            }
            Some(_) => self.overview_from_records(f).await,
        }
    }

    /// The overview figures, computed from the records as they are now (as of a day).
    pub(crate) async fn overview_from_records(&self, f: &OverviewFilter) -> StoreResult<Overview> {
        let as_of_year = f
            .as_of
            .as_deref()
            .and_then(|d| d.get(..4)?.parse::<i64>().ok());
        let until = match (f.until, as_of_year) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let since = f.since;
        let region_range = f.region.map(|r| r.subtree_key_range());

        // Paired counties and the years each was paired.
        let rows: Vec<(i64, i64, Option<i64>)> = on_db!(self, p => sqlx::query_as(
            "SELECT p.region_key, p.start_year, p.end_year FROM pairings p
             JOIN organisations o ON o.id = p.organisation_id WHERE o.shenzhen_side = $1")
            .bind(true).fetch_all(p).await)?;
        let mut paired: BTreeMap<RegionCode, Vec<(i64, i64)>> = BTreeMap::new();
        for (key, start, end) in rows {
            let Some(county) = RegionCode::from_key(key).and_then(project::county_of) else {
                continue;
            };
            if f.region
                .is_some_and(|r| !(r.contains(county) || county.contains(r)))
            {
                continue;
            }
            let end = end.unwrap_or(i64::MAX);
            if until.is_some_and(|u| start > u) || since.is_some_and(|s| end < s) {
                continue;
            }
            paired.entry(county).or_default().push((start, end));
        }
        let provinces: BTreeSet<RegionCode> =
            paired.keys().map(|c| project::province_of(*c)).collect();

        // People, from the trigger-kept summary.
        let people: Vec<(i64, String, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT county_key, status, exit_year, members FROM stats_household_members WHERE members <> 0")
            .fetch_all(p).await)?;
        let (mut out, mut remaining) = (0i64, 0i64);
        for (county_key, status, exit_year, members) in people {
            let Some(years) = RegionCode::from_key(county_key).and_then(|c| paired.get(&c)) else {
                continue;
            };
            if is_exited_code(&status) {
                if in_years(exit_year, since, until)
                    && years
                        .iter()
                        .any(|(s, e)| exit_year >= *s && exit_year <= *e)
                {
                    out += members;
                }
            } else if is_poor_code(&status) {
                remaining += members;
            }
        }

        // Projects by theme, and the sites they are at.
        let (lo_date, hi_date) = date_bounds(since, until, f.as_of.as_deref());
        let (rlo, rhi) = region_range.unwrap_or((0, 0));
        let located = if region_range.is_some() {
            " AND EXISTS (SELECT 1 FROM project_locations l WHERE l.project_id = p.id AND l.region_key >= $3 AND l.region_key < $4)"
        } else {
            " AND $3 = $4"
        };
        let sql = format!(
            "SELECT p.theme, COUNT(*) FROM projects p WHERE p.start_date >= $1 AND p.start_date <= $2{located} GROUP BY p.theme"
        );
        let by_theme: Vec<(String, i64)> = on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql))
            .bind(&lo_date).bind(&hi_date).bind(rlo).bind(rhi).fetch_all(p).await)?;
        let mut theme_projects: HashMap<Theme, i64> = HashMap::new();
        for (theme, n) in by_theme {
            *theme_projects
                .entry(crate::projects::parse_theme(&theme))
                .or_default() += n;
        }
        let site_filter = if region_range.is_some() {
            " AND l.region_key >= $3 AND l.region_key < $4"
        } else {
            " AND $3 = $4"
        };
        let sites_sql = format!(
            "SELECT DISTINCT l.region_key FROM project_locations l JOIN projects p ON p.id = l.project_id
             WHERE p.start_date >= $1 AND p.start_date <= $2{site_filter}"
        );
        let sites: Vec<i64> = on_db!(self, p => sqlx::query_scalar(AssertSqlSafe(sites_sql))
            .bind(&lo_date).bind(&hi_date).bind(rlo).bind(rhi).fetch_all(p).await)?;

        // Area and elevation of the counties, the sites and the sites' counties.
        let mut keys: BTreeSet<i64> = paired.keys().map(|c| c.key()).collect();
        for s in &sites {
            keys.insert(*s);
            if let Some(c) = RegionCode::from_key(*s).and_then(project::county_of) {
                keys.insert(c.key());
            }
        }
        let county_keys: BTreeSet<i64> = paired.keys().map(|c| c.key()).collect();
        let keys: Vec<String> = keys.into_iter().map(|k| k.to_string()).collect();
        let (mut area, mut elev_min, mut elev_max) = (0f64, None::<i64>, None::<i64>);
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT key, area_km2, elevation_m FROM regions WHERE key IN ({})",
                chunk.join(",")
            );
            let rows: Vec<(i64, Option<f64>, Option<i64>)> =
                on_db!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await)?;
            for (key, a, e) in rows {
                if county_keys.contains(&key) {
                    area += a.unwrap_or(0.0);
                }
                if let Some(e) = e {
                    elev_min = Some(elev_min.map_or(e, |m| m.min(e)));
                    elev_max = Some(elev_max.map_or(e, |m| m.max(e)));
                }
            }
        }

        // Invested funds, split over project locations like the invested-funds report.
        let aggregates: Vec<(i64, String, String, i64)> = match f.as_of.as_deref() {
            None => on_db!(self, p => sqlx::query_as(
                    "SELECT s.project_id, s.fund_source, p.theme, s.amount FROM stats_invested s
                     JOIN projects p ON p.id = s.project_id
                     WHERE s.year >= $1 AND s.year <= $2 AND s.amount <> 0")
                    .bind(since.unwrap_or(0)).bind(until.unwrap_or(9999)).fetch_all(p).await)?,
            Some(_) => on_db!(self, p => sqlx::query_as(
                    "SELECT e.project_id, e.fund_source, p.theme, CAST(SUM(e.amount) AS BIGINT) FROM ledger_entries e
                     JOIN projects p ON p.id = e.project_id
                     WHERE e.invested = $1 AND e.value_date >= $2 AND e.value_date <= $3
                     GROUP BY e.project_id, SUBSTR(e.value_date, 1, 4), e.fund_source, e.provider_id, e.receiver_id, p.theme")
                    .bind(true).bind(&lo_date).bind(&hi_date).fetch_all(p).await)?,
        };
        let loc_rows: Vec<(i64, i64, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT project_id, region_key, weight FROM project_locations ORDER BY project_id, position")
            .fetch_all(p).await)?;
        let mut locations: HashMap<i64, Vec<Location>> = HashMap::new();
        for (pid, key, weight) in loc_rows {
            if let Some(code) = RegionCode::from_key(key) {
                locations.entry(pid).or_default().push(Location {
                    region: code,
                    weight: weight.max(0) as u64,
                });
            }
        }
        let (mut fiscal, mut social) = (Fen::ZERO, Fen::ZERO);
        let mut theme_funds: HashMap<Theme, (Fen, Fen)> = HashMap::new();
        for (pid, source, theme, amount) in aggregates {
            let Some(source) = FundSource::parse(&source) else {
                continue;
            };
            let theme = crate::projects::parse_theme(&theme);
            let locs = locations.get(&pid).map(Vec::as_slice).unwrap_or_default();
            for (region, part) in project::split_over_locations(Fen(amount), locs) {
                if f.region.is_some_and(|r| !r.contains(region)) {
                    continue;
                }
                let t = theme_funds.entry(theme).or_insert((Fen::ZERO, Fen::ZERO));
                t.0 = t.0 + part;
                if source.is_fiscal() {
                    t.1 = t.1 + part;
                    fiscal = fiscal + part;
                } else {
                    social = social + part;
                }
            }
        }

        let region_name = match f.region {
            Some(r) => {
                on_db!(self, p => sqlx::query_scalar("SELECT name FROM regions WHERE key = $1")
                .bind(r.key()).fetch_optional(p).await)?
            }
            None => None,
        };
        let themes = Theme::ALL
            .iter()
            .map(|t| {
                let (funds, fiscal) = theme_funds
                    .get(t)
                    .copied()
                    .unwrap_or((Fen::ZERO, Fen::ZERO));
                ThemeFigures {
                    theme: *t,
                    theme_name: t.name_zh(),
                    projects: theme_projects.get(t).copied().unwrap_or(0),
                    funds_fen: funds,
                    fiscal_funds_fen: fiscal,
                }
            })
            .collect();
        let area = round2(area);
        let total_people = out + remaining;
        Ok(Overview {
            region_code: f.region.map(|r| r.to_string()),
            region_name,
            since: f.since,
            until: f.until,
            as_of: f.as_of.clone(),
            provinces: provinces.len() as i64,
            counties: paired.len() as i64,
            area_km2: area,
            shenzhen_area_km2: SHENZHEN_AREA_KM2,
            shenzhen_equivalents: (area / SHENZHEN_AREA_KM2).round() as i64,
            fiscal_funds_fen: fiscal,
            fiscal_funds_yuan: fiscal.yuan_string(),
            social_funds_fen: social,
            invested_funds_fen: fiscal + social,
            projects: theme_projects.values().sum(),
            people_out_of_poverty: out,
            people_remaining: remaining,
            remaining_share: (total_people > 0).then(|| remaining as f64 / total_people as f64),
            elevation_min_m: elev_min,
            elevation_max_m: elev_max,
            themes,
            demo: self.is_demo().await?,
        })
    }

    /// Freezes the figures as of a day (records dated after it left out) into
    /// `published_figures`, which the database keeps append-only.
    pub async fn publish_figures(
        &self,
        caller: &Caller,
        as_of: &str,
        region: Option<RegionCode>,
        since: Option<i64>,
    ) -> StoreResult<PublishedFigures> {
        let as_of =
            project::parse_date(as_of).map_err(|m| StoreError::invalid_field("as_of", m))?;
        let now = now_rfc3339();
        if as_of > crate::today().to_string() {
            return Err(StoreError::invalid_field(
                "as_of",
                format!("截止日期 {as_of} 晚于今天，不能发布尚未发生的数字"),
            ));
        }
        let filter = OverviewFilter {
            region,
            since,
            until: None,
            as_of: Some(as_of.clone()),
        };
        let overview = self.stats_overview(&filter).await?;
        let figures = serde_json::to_value(&overview).map_err(StoreError::internal)?;
        let text = figures.to_string();
        let published_by = caller.username.clone();
        let id: i64 = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO published_figures (as_of, region_key, since_year, published_at, published_by, figures_json)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(&as_of).bind(region.map(|r| r.key())).bind(since).bind(&now).bind(&published_by).bind(&text)
                .fetch_one(&mut *tx).await?;
            audit!(&mut *tx, caller, "publish", "published_figures", Some(id.to_string()), None, None,
                Some(figures.clone()), format!("发布截至 {as_of} 的概览数字"));
            crate::commit!(tx)?;
            id
        });
        self.published_figures(id).await
    }

    pub async fn published_figures_list(&self) -> StoreResult<Vec<PublishedFigures>> {
        let rows: Vec<PublishedRow> = on_db!(self, p => sqlx::query_as(
            "SELECT id, as_of, region_key, since_year, published_at, published_by, figures_json
             FROM published_figures ORDER BY id DESC").fetch_all(p).await)?;
        Ok(rows.into_iter().map(published_row).collect())
    }

    pub async fn published_figures(&self, id: i64) -> StoreResult<PublishedFigures> {
        let row: Option<PublishedRow> = on_db!(self, p => sqlx::query_as(
            "SELECT id, as_of, region_key, since_year, published_at, published_by, figures_json
             FROM published_figures WHERE id = $1").bind(id).fetch_optional(p).await)?;
        row.map(published_row)
            .ok_or_else(|| StoreError::NotFound(format!("没有编号为 {id} 的已发布数字")))
    }
}

fn published_row(r: PublishedRow) -> PublishedFigures {
    PublishedFigures {
        id: r.0,
        as_of: r.1,
        region_code: r.2.and_then(RegionCode::from_key).map(|c| c.to_string()),
        since: r.3,
        published_at: r.4,
        published_by: r.5,
        figures: serde_json::from_str(&r.6).unwrap_or(serde_json::Value::Null),
    }
}
