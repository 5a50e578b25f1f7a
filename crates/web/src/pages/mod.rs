//! Chinese HTML pages for people: browsing regions (province → village), pairings and
//! organisations. Same store calls as the API; rendering only.

mod assessment;
pub(crate) mod dashboard;
pub(crate) mod format;
mod projects;
mod registry;

use crate::AppState;
use crate::error::{ApiError, PageError};
use crate::pages::format::ShowMoney as _;
use crate::scope::CurrentCaller;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use domain::kinds::PairingType;
use domain::{RegionCode, RegionLevel};
use serde::Deserialize;
use store::organisations::{Organisation, OrganisationFilter};
use store::pairings::{Pairing, PairingFilter};
use store::regions::{Region, RegionFilter, YearValue};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/static/app.css", get(css))
        .route("/regions", get(regions))
        .route("/regions/{code}", get(region))
        .route("/pairings", get(pairings))
        .route("/pairings/{id}", get(pairing))
        .route("/organisations", get(organisations))
        .route("/organisations/{id}", get(organisation))
        .merge(registry::routes())
        .merge(dashboard::routes())
        .merge(assessment::routes())
        .merge(projects::routes())
}

type PageResult = Result<Html<String>, PageError>;

fn render(t: impl Template) -> PageResult {
    Ok(Html(t.render().map_err(ApiError::from)?))
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/app.css"),
    )
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    provinces: i64,
    villages: i64,
    pairings: i64,
    organisations: i64,
}

async fn index(State(state): State<AppState>) -> PageResult {
    let counts = state.db.region_level_counts(None).await?;
    let count = |l: RegionLevel| counts.iter().find(|c| c.0 == l).map(|c| c.1).unwrap_or(0);
    let organisations = state
        .db
        .list_organisations(&OrganisationFilter::default(), None, 10_000)
        .await?
        .len() as i64;
    render(IndexPage {
        provinces: count(RegionLevel::Province),
        villages: count(RegionLevel::Village),
        pairings: state.db.pairing_count().await?,
        organisations,
    })
}

/// A region row on a page.
struct RegionView {
    code: String,
    name: String,
    level_name: &'static str,
    retired_year: Option<i64>,
    area_km2: Option<f64>,
    elevation_m: Option<i64>,
}

impl From<Region> for RegionView {
    fn from(r: Region) -> RegionView {
        RegionView {
            code: r.code.to_string(),
            name: r.name,
            level_name: r.level.name_zh(),
            retired_year: r.retired_year,
            area_km2: r.area_km2,
            elevation_m: r.elevation_m,
        }
    }
}

#[derive(Template)]
#[template(path = "regions.html")]
struct RegionsPage {
    q: String,
    items: Vec<RegionView>,
    more: bool,
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    cursor: Option<String>,
}

const SEARCH_LIMIT: i64 = 200;

async fn regions(State(state): State<AppState>, Query(query): Query<SearchQuery>) -> PageResult {
    let q = query
        .q
        .as_deref()
        .map(domain::text::normalize)
        .unwrap_or_default();
    let filter = RegionFilter {
        name_contains: (!q.is_empty()).then(|| q.clone()),
        ..Default::default()
    };
    let mut items = state
        .db
        .list_regions(&filter, None, SEARCH_LIMIT + 1)
        .await?;
    // Higher levels first: someone typing 紫金 most likely means the county.
    items.sort_by_key(|r| (r.level, r.code));
    let more = items.len() as i64 > SEARCH_LIMIT;
    items.truncate(SEARCH_LIMIT as usize);
    render(RegionsPage {
        q,
        items: items.into_iter().map(RegionView::from).collect(),
        more,
    })
}

#[derive(Template)]
#[template(path = "region.html")]
struct RegionPage {
    region: RegionView,
    level_name: &'static str,
    ancestors: Vec<RegionView>,
    children: Vec<RegionView>,
    level_counts: Vec<(&'static str, i64)>,
    population: Vec<YearValue>,
    pairings: Vec<Pairing>,
}

fn not_found_region(code: &str) -> PageError {
    PageError(ApiError::not_found(format!("区划代码 {code} 不存在")))
}

async fn region(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(code): Path<String>,
) -> PageResult {
    let parsed = RegionCode::parse(&code).map_err(|_| not_found_region(&code))?;
    let region = state
        .db
        .get_region(parsed)
        .await?
        .ok_or_else(|| not_found_region(&code))?;
    let ancestors = state.db.region_ancestors(parsed).await?;
    let children = state
        .db
        .list_regions(
            &RegionFilter {
                parent: Some(parsed),
                include_retired: true,
                ..Default::default()
            },
            None,
            2_000,
        )
        .await?;
    let level_counts = state
        .db
        .region_level_counts(Some(parsed))
        .await?
        .into_iter()
        .filter(|(l, _)| *l > region.level)
        .map(|(l, n)| (l.name_zh(), n))
        .collect();
    let pairing_filter = PairingFilter {
        region: Some(parsed),
        ..Default::default()
    };
    let pairings = state
        .db
        .list_pairings(&caller.pairing_scope(), &pairing_filter, None, 200)
        .await?;
    render(RegionPage {
        level_name: region.level.name_zh(),
        population: state.db.rural_population(parsed).await?,
        region: RegionView::from(region),
        ancestors: ancestors.into_iter().map(RegionView::from).collect(),
        children: children.into_iter().map(RegionView::from).collect(),
        level_counts,
        pairings,
    })
}

#[derive(Template)]
#[template(path = "pairings.html")]
struct PairingsPage {
    items: Vec<Pairing>,
    region: String,
    year: String,
    selected_type: String,
    types: Vec<(&'static str, &'static str)>,
    next_cursor: Option<String>,
    query_without_cursor: String,
}

#[derive(Deserialize)]
struct PairingsQuery {
    region: Option<String>,
    #[serde(rename = "type")]
    pairing_type: Option<String>,
    year: Option<String>,
    cursor: Option<String>,
}

const PAGE_SIZE: i64 = 100;

fn bad_filter(field: &str, message: String) -> PageError {
    PageError(ApiError::invalid_field(field, message))
}

async fn pairings(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<PairingsQuery>,
) -> PageResult {
    let region_text = q.region.clone().unwrap_or_default().trim().to_string();
    let year_text = q.year.clone().unwrap_or_default().trim().to_string();
    let type_text = q.pairing_type.clone().unwrap_or_default();
    let region = match region_text.as_str() {
        "" => None,
        s => Some(RegionCode::parse(s).map_err(|e| bad_filter("region", e.to_string()))?),
    };
    let active_in = match year_text.as_str() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| bad_filter("year", "年份应为整数".into()))?,
        ),
    };
    let pairing_type = match type_text.as_str() {
        "" => None,
        s => Some(
            PairingType::parse(s).ok_or_else(|| bad_filter("type", format!("类型“{s}”无效")))?,
        ),
    };
    let after = q.cursor.as_deref().and_then(|c| c.parse::<i64>().ok());
    let filter = PairingFilter {
        region,
        pairing_type,
        active_in,
        ..Default::default()
    };
    let mut items = state
        .db
        .list_pairings(&caller.pairing_scope(), &filter, after, PAGE_SIZE + 1)
        .await?;
    let next_cursor = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|p| p.id.to_string())
    } else {
        None
    };
    let query_without_cursor = format!(
        "region={}&type={}&year={}&",
        urlencode(&region_text),
        pairing_type.map(|t| t.as_str()).unwrap_or(""),
        urlencode(&year_text)
    );
    render(PairingsPage {
        items,
        region: region_text,
        year: year_text,
        selected_type: pairing_type
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        types: PairingType::ALL
            .iter()
            .map(|t| (t.as_str(), t.name_zh()))
            .collect(),
        next_cursor,
        query_without_cursor,
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "pairing.html")]
struct PairingPage {
    p: Pairing,
    region_full_name: String,
}

async fn pairing(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
) -> PageResult {
    let missing = || PageError(ApiError::not_found(format!("对口关系 {id} 不存在")));
    let pid: i64 = id.parse().map_err(|_| missing())?;
    let p = state
        .db
        .get_pairing(&caller.pairing_scope(), pid)
        .await?
        .ok_or_else(missing)?;
    let ancestors = state.db.region_ancestors(p.region_code).await?;
    let region_full_name = ancestors
        .iter()
        .map(|a| a.name.as_str())
        .chain(std::iter::once(p.region_name.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    render(PairingPage {
        p,
        region_full_name,
    })
}

#[derive(Template)]
#[template(path = "organisations.html")]
struct OrganisationsPage {
    q: String,
    items: Vec<Organisation>,
    next_cursor: Option<String>,
}

async fn organisations(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let q = query
        .q
        .as_deref()
        .map(domain::text::normalize)
        .unwrap_or_default();
    let filter = OrganisationFilter {
        name_contains: (!q.is_empty()).then(|| q.clone()),
        ..Default::default()
    };
    let after = query.cursor.as_deref().and_then(|c| c.parse::<i64>().ok());
    let mut items = state
        .db
        .list_organisations(&filter, after, PAGE_SIZE + 1)
        .await?;
    let next_cursor = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|o| o.id.to_string())
    } else {
        None
    };
    render(OrganisationsPage {
        q,
        items,
        next_cursor,
    })
}

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage {
    o: Organisation,
    pairings: Vec<Pairing>,
    activity: projects::OrgActivity,
}

async fn organisation(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
) -> PageResult {
    let missing = || PageError(ApiError::not_found(format!("机构 {id} 不存在")));
    let oid: i64 = id.parse().map_err(|_| missing())?;
    let o = state.db.get_organisation(oid).await?.ok_or_else(missing)?;
    let filter = PairingFilter {
        organisation_id: Some(oid),
        ..Default::default()
    };
    let pairings = state
        .db
        .list_pairings(&caller.pairing_scope(), &filter, None, 500)
        .await?;
    let activity = projects::org_activity(&state, &caller, oid).await?;
    render(OrganisationPage {
        o,
        pairings,
        activity,
    })
}
