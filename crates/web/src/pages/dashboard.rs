//! The dashboard pages (数据看板), public: `/dashboard` (the whole, or a scoped user's own
//! region) and `/dashboard/{code}` for a province, prefecture, county, town or village, with the
//! same figures at every level and the drill-down to the household list.
//!
//! The figures are rendered on the server (cards and tables, readable without JavaScript);
//! /static/dashboard.js draws the charts and the map from the same API answer
//! (`/api/v1/stats/dashboard`, `/api/v1/stats/pairings`). No inline script: the CSP allows
//! scripts from this origin only.

use super::{PageResult, render};
use crate::AppState;
use crate::api::stats::{OverviewQuery, default_region, stats_filter};
use crate::assets::{ECHARTS_URL, MAPS_URL};
use crate::error::{ApiError, PageError};
use crate::scope::CurrentCaller;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use domain::money::Fen;
use domain::{RegionCode, RegionLevel};
use store::dashboard::Dashboard;
use store::stats::Overview;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(whole))
        .route("/dashboard/{code}", get(region))
}

/// 419.23 亿元 / 3,456.78 万元 / 1,123.45 元 as (number, unit): the pages' one money format
/// ([`Fen::to_reader_string`]), split for the cards' layout.
pub fn money(fen: Fen) -> (String, &'static str) {
    fen.to_reader_parts()
}

/// 194.36 万 / 4,321, with the unit.
pub fn people(n: i64, unit: &'static str) -> (String, String) {
    if n.abs() >= 100_000 {
        (format!("{:.2}", n as f64 / 1e4), format!("万{unit}"))
    } else {
        (grouped(n), unit.to_string())
    }
}

/// 40,123
pub fn grouped(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn elevation(o: &Overview) -> String {
    match (o.elevation_min_m, o.elevation_max_m) {
        (Some(a), Some(b)) if a == b => format!("{a} 米"),
        (Some(a), Some(b)) => format!("{a}–{b} 米"),
        _ => "—".into(),
    }
}

struct Card {
    label: &'static str,
    value: String,
    /// The exact amount, as a tooltip, for a money figure.
    exact: Option<String>,
    unit: String,
    note: String,
    id: &'static str,
}

struct ChildRow {
    href: String,
    code: String,
    name: String,
    paired: bool,
    counties: i64,
    area: String,
    invested: crate::pages::format::MoneyHtml,
    fiscal: crate::pages::format::MoneyHtml,
    projects: String,
    out: String,
    remaining: String,
    share: String,
    elevation: String,
}

struct ThemeView {
    id: &'static str,
    name: &'static str,
    projects: String,
    funds: crate::pages::format::MoneyHtml,
    indicators: Vec<(String, String)>,
}

struct DeepRow {
    name: String,
    group: &'static str,
    counties: i64,
    out: String,
    funds: crate::pages::format::MoneyHtml,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    title: String,
    subtitle: String,
    demo: bool,
    /// (href, name) from the whole down to the region.
    path: Vec<(String, String)>,
    region_code: String,
    region_level: &'static str,
    api_query: String,
    since: String,
    until: String,
    years: Vec<i64>,
    cards: Vec<Card>,
    guang: Vec<(String, String)>,
    shen: Vec<(String, String)>,
    shen_areas: Vec<DeepRow>,
    gao: Vec<(String, String)>,
    su: Vec<(String, String)>,
    themes: Vec<ThemeView>,
    children_title: String,
    child_level: &'static str,
    children: Vec<ChildRow>,
    households_href: Option<String>,
    map_title: String,
    has_map: bool,
    echarts_url: &'static str,
    maps_url: &'static str,
}

fn level_name(l: RegionLevel) -> &'static str {
    match l {
        RegionLevel::Province => "省",
        RegionLevel::Prefecture => "市（州）",
        RegionLevel::County => "县（市、区）",
        RegionLevel::Town => "乡镇",
        RegionLevel::Village => "村",
    }
}

fn level_id(l: Option<RegionLevel>) -> &'static str {
    match l {
        None => "",
        Some(RegionLevel::Province) => "province",
        Some(RegionLevel::Prefecture) => "prefecture",
        Some(RegionLevel::County) => "county",
        Some(RegionLevel::Town) => "town",
        Some(RegionLevel::Village) => "village",
    }
}

fn query_string(q: &OverviewQuery, region: Option<RegionCode>) -> String {
    let mut parts = Vec::new();
    if let Some(r) = region {
        parts.push(format!("region={r}"));
    }
    for (k, v) in [("since", &q.since), ("until", &q.until)] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            // Already checked to be a number by stats_filter.
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join("&")
}

async fn whole(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    // A county cadre or village secretary lands on its own region.
    if let Some(r) = default_region(&caller) {
        let qs = query_string(&q, None);
        let sep = if qs.is_empty() { "" } else { "?" };
        return Ok(Redirect::to(&format!("/dashboard/{r}{sep}{qs}")).into_response());
    }
    page(&state, &caller, None, q)
        .await
        .map(IntoResponse::into_response)
}

async fn region(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(code): Path<String>,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let missing = || PageError(ApiError::not_found(format!("区划代码 {code} 不存在")));
    let r = RegionCode::parse(&code).map_err(|_| missing())?;
    if state.db.get_region(r).await?.is_none() {
        return Err(missing());
    }
    page(&state, &caller, Some(r), q)
        .await
        .map(IntoResponse::into_response)
}

async fn page(
    state: &AppState,
    caller: &domain::Caller,
    region: Option<RegionCode>,
    mut q: OverviewQuery,
) -> PageResult {
    q.region = region.map(|r| r.to_string());
    let mut filter = stats_filter(caller, &q)?;
    filter.region = region;
    let d: Dashboard = state.db.stats_dashboard_cached(&filter).await?;
    let o = &d.overview;
    let title = match &o.region_name {
        Some(n) => format!("{n}帮扶数据"),
        None => "深圳对口帮扶数据看板".to_string(),
    };
    let years_note = match (filter.since, filter.until) {
        (Some(s), Some(u)) => format!("{s}–{u} 年"),
        (Some(s), None) => format!("{s} 年以来"),
        (None, Some(u)) => format!("截至 {u} 年"),
        (None, None) => "累计".to_string(),
    };
    let subtitle =
        format!("{years_note} · 资金按记账日期，项目按开工年份，脱贫人口按结对年份内的脱贫年度");
    let mut path = vec![("/dashboard".to_string(), "全部".to_string())];
    path.extend(
        d.path
            .iter()
            .map(|r| (format!("/dashboard/{}", r.code), r.name.clone())),
    );
    let (fiscal, fiscal_unit) = money(o.fiscal_funds_fen);
    let (social, social_unit) = money(o.social_funds_fen);
    let (out, out_unit) = people(o.people_out_of_poverty, "人");
    let (rem, rem_unit) = people(o.people_remaining, "人");
    let cards = vec![
        Card {
            label: "对口省份",
            value: o.provinces.to_string(),
            exact: None,
            unit: "个".into(),
            note: "结对县所在省（区、市）".into(),
            id: "provinces",
        },
        Card {
            label: "对口县（市、区）",
            value: o.counties.to_string(),
            exact: None,
            unit: "个".into(),
            note: format!("覆盖面积 {} 平方公里", grouped(o.area_km2.round() as i64)),
            id: "counties",
        },
        Card {
            label: "财政帮扶资金",
            value: fiscal,
            exact: Some(o.fiscal_funds_fen.to_exact_string()),
            unit: fiscal_unit.into(),
            note: format!("社会帮扶资金 {social} {social_unit}"),
            id: "fiscal",
        },
        Card {
            label: "实施项目",
            value: grouped(o.projects),
            exact: None,
            unit: "个".into(),
            note: "八大领域".into(),
            id: "projects",
        },
        Card {
            label: "脱贫人口",
            value: out,
            exact: None,
            unit: out_unit,
            note: "结对期间脱贫".into(),
            id: "out",
        },
        Card {
            label: "剩余贫困人口",
            value: rem,
            exact: None,
            unit: rem_unit,
            note: format!("占建档立卡人口 {}", percent(o.remaining_share)),
            id: "remaining",
        },
    ];
    let guang = vec![
        (
            "覆盖面积".into(),
            format!("{} 平方公里", grouped(o.area_km2.round() as i64)),
        ),
        (
            "相当于".into(),
            format!("{} 个深圳", o.shenzhen_equivalents),
        ),
        (
            "对口省份 / 县".into(),
            format!("{} 省 {} 县", o.provinces, o.counties),
        ),
    ];
    let (deep_funds, deep_funds_unit) = money(d.deep.invested_funds_fen);
    let (deep_out, deep_out_unit) = people(d.deep.people_out_of_poverty, "人");
    let shen = vec![
        (
            "深度贫困地区".into(),
            format!("{} 个片区 {} 县", d.deep.areas.len(), d.deep.counties),
        ),
        (
            "帮扶资金占比".into(),
            format!(
                "{}（{deep_funds} {deep_funds_unit}）",
                percent(d.deep.funds_share)
            ),
        ),
        (
            "脱贫人口占比".into(),
            format!(
                "{}（{deep_out} {deep_out_unit}）",
                percent(d.deep.people_share)
            ),
        ),
    ];
    let shen_areas = d
        .deep
        .areas
        .iter()
        .map(|a| {
            let (p, pu) = people(a.people_out_of_poverty, "人");
            DeepRow {
                name: a.name.clone(),
                group: a.group,
                counties: a.counties,
                out: format!("{p} {pu}"),
                funds: crate::pages::format::money(a.invested_funds_fen),
            }
        })
        .collect();
    let gao = vec![("项目点海拔".into(), elevation(o))];
    let last = d.people_by_year.last();
    let peak = d
        .people_by_year
        .iter()
        .max_by_key(|y| y.people_out_of_poverty);
    let su = vec![
        (
            "脱贫人口".into(),
            format!(
                "{} {}",
                people(o.people_out_of_poverty, "人").0,
                people(o.people_out_of_poverty, "人").1
            ),
        ),
        (
            "脱贫最多的一年".into(),
            peak.map(|p| {
                let (v, u) = people(p.people_out_of_poverty, "人");
                format!("{} 年 {v} {u}", p.year)
            })
            .unwrap_or_else(|| "—".into()),
        ),
        (
            "剩余贫困人口占比".into(),
            last.map(|l| percent(l.remaining_share))
                .unwrap_or_else(|| percent(o.remaining_share)),
        ),
    ];
    let themes = d
        .themes
        .iter()
        .map(|t| ThemeView {
            id: t.figures.theme.as_str(),
            name: t.figures.theme_name,
            projects: grouped(t.figures.projects),
            funds: crate::pages::format::money(t.figures.funds_fen),
            indicators: t
                .indicators
                .iter()
                .map(|i| {
                    let shown = if i.unit == "元" {
                        let (v, u) = money(Fen(i.value));
                        format!("{v} {u}")
                    } else {
                        format!("{} {}", grouped(i.value), i.unit)
                    };
                    (i.name.clone(), shown)
                })
                .collect(),
        })
        .collect();
    let child_level = d.children_level;
    let children = d
        .children
        .iter()
        .map(|c| {
            let code = c.region_code.clone().unwrap_or_default();
            let (p, pu) = people(c.people_out_of_poverty, "人");
            let (r, ru) = people(c.people_remaining, "人");
            ChildRow {
                href: format!("/dashboard/{code}"),
                code,
                name: c.region_name.clone().unwrap_or_default(),
                paired: c.counties > 0,
                counties: c.counties,
                area: if c.area_km2 > 0.0 {
                    grouped(c.area_km2.round() as i64)
                } else {
                    "—".into()
                },
                invested: crate::pages::format::money(c.invested_funds_fen),
                fiscal: crate::pages::format::money(c.fiscal_funds_fen),
                projects: grouped(c.projects),
                out: format!("{p} {pu}"),
                remaining: format!("{r} {ru}"),
                share: percent(c.remaining_share),
                elevation: elevation(c),
            }
        })
        .collect();
    let children_title = match child_level {
        Some(l) => format!("各{}数字", level_name(l)),
        None => String::new(),
    };
    let households_href = region
        .filter(|r| r.level() >= RegionLevel::Town)
        .map(|r| format!("/households?region={r}"));
    let map_title = match region.map(|r| r.level()) {
        None => "对口省份分布".to_string(),
        Some(RegionLevel::Province) => {
            format!("{}各市（州）", o.region_name.clone().unwrap_or_default())
        }
        _ => String::new(),
    };
    let has_map = matches!(
        region.map(|r| r.level()),
        None | Some(RegionLevel::Province)
    );
    let mut years: Vec<i64> = (1990..=2025).collect();
    years.reverse();
    render(DashboardPage {
        title,
        subtitle,
        demo: d.demo,
        path,
        region_code: region.map(|r| r.to_string()).unwrap_or_default(),
        region_level: level_id(region.map(|r| r.level())),
        api_query: query_string(&q, region),
        since: filter.since.map(|s| s.to_string()).unwrap_or_default(),
        until: filter.until.map(|s| s.to_string()).unwrap_or_default(),
        years,
        cards,
        guang,
        shen,
        shen_areas,
        gao,
        su,
        themes,
        children_title,
        child_level: child_level.map(level_name).unwrap_or(""),
        children,
        households_href,
        map_title,
        has_map,
        echarts_url: ECHARTS_URL.as_str(),
        maps_url: MAPS_URL.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(money(Fen(41_923_456_789_00)), ("419.23".into(), "亿元"));
        assert_eq!(money(Fen(1_234_567)), ("1.23".into(), "万元"));
        assert_eq!(
            money(Fen(123_456_789)),
            ("123.45".into(), "万元"),
            "truncated"
        );
        assert_eq!(money(Fen(123_456)), ("1,234.56".into(), "元"));
        assert_eq!(people(1_943_600, "人"), ("194.36".into(), "万人".into()));
        assert_eq!(people(4321, "人"), ("4,321".into(), "人".into()));
        assert_eq!(grouped(40_123), "40,123");
        assert_eq!(percent(Some(0.0512)), "5.1%");
    }
}
