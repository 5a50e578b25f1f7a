use super::{
    ApiJson, ApiPath, ApiQuery, Page, Paging, parse_bool_param, parse_region_param,
    parse_region_path,
};
use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use domain::{RegionCode, RegionLevel};
use serde::{Deserialize, Serialize};
use store::regions::{Region, RegionChange, RegionFilter, YearValue};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/regions", get(list))
        .route("/api/v1/regions/{code}", get(detail))
        .route("/api/v1/regions/{code}/children", get(children))
        .route("/api/v1/regions/{code}/ancestors", get(ancestors))
        .route("/api/v1/regions/{code}/subtree", get(subtree))
        .route("/api/v1/regions/{code}/attributes", put(set_attributes))
        .route(
            "/api/v1/regions/{code}/population/{year}",
            put(set_population),
        )
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    parent: Option<String>,
    level: Option<String>,
    q: Option<String>,
    include_retired: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn parse_level(s: Option<&str>) -> Result<Option<RegionLevel>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => RegionLevel::parse(v)
            .or_else(|| v.parse::<i64>().ok().and_then(RegionLevel::from_rank))
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "level",
                    "level 应为 province、prefecture、county、town、village 或 1–5",
                )
            }),
    }
}

async fn list_with(
    state: &AppState,
    mut filter: RegionFilter,
    query: &ListQuery,
) -> Result<Json<Page<Region>>, ApiError> {
    let paging = Paging::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    filter.level = parse_level(query.level.as_deref())?;
    filter.include_retired =
        parse_bool_param("include_retired", query.include_retired.as_deref())?.unwrap_or(false);
    if let Some(q) = query
        .q
        .as_deref()
        .map(domain::text::normalize)
        .filter(|q| !q.is_empty())
    {
        filter.name_contains = Some(q);
    }
    let items = state
        .db
        .list_regions(&filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |r| r.code.key())))
}

/// Lists regions: the provinces by default; `parent` for children, `q` to search names,
/// `level` to restrict the level.
async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Region>>, ApiError> {
    let parent = query
        .parent
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse_region_param("parent", p))
        .transpose()?;
    list_with(
        &state,
        RegionFilter {
            parent,
            ..Default::default()
        },
        &query,
    )
    .await
}

#[derive(Serialize)]
pub struct RegionDetail {
    #[serde(flatten)]
    region: Region,
    level_name: &'static str,
    ancestors: Vec<Region>,
    /// "广东省 河源市 紫金县"
    full_name: String,
    rural_population: Vec<YearValue>,
    changes: Vec<RegionChange>,
}

async fn detail(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<RegionDetail>, ApiError> {
    let code = parse_region_path(&code)?;
    let region = state.db.require_region(code).await?;
    let ancestors = state.db.region_ancestors(code).await?;
    let full_name = ancestors
        .iter()
        .chain(std::iter::once(&region))
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Json(RegionDetail {
        level_name: region.level.name_zh(),
        rural_population: state.db.rural_population(code).await?,
        changes: state.db.region_changes(code).await?,
        region,
        ancestors,
        full_name,
    }))
}

async fn existing(state: &AppState, code: &str) -> Result<RegionCode, ApiError> {
    let code = parse_region_path(code)?;
    state.db.require_region(code).await?;
    Ok(code)
}

async fn children(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Region>>, ApiError> {
    let code = existing(&state, &code).await?;
    list_with(
        &state,
        RegionFilter {
            parent: Some(code),
            ..Default::default()
        },
        &query,
    )
    .await
}

async fn subtree(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Region>>, ApiError> {
    let code = existing(&state, &code).await?;
    list_with(
        &state,
        RegionFilter {
            within: Some(code),
            ..Default::default()
        },
        &query,
    )
    .await
}

async fn ancestors(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Page<Region>>, ApiError> {
    let code = existing(&state, &code).await?;
    Ok(Json(Page {
        items: state.db.region_ancestors(code).await?,
        next_cursor: None,
    }))
}

#[derive(Deserialize)]
pub struct AttributesBody {
    area_km2: Option<f64>,
    elevation_m: Option<i64>,
}

/// Region attributes and populations are reference data shared by all: the city office keeps them.
fn require_region_editor(caller: &domain::Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("只有市级管理员可以修改区划资料"))
    }
}

async fn set_attributes(
    State(state): State<AppState>,
    crate::scope::CurrentCaller(caller): crate::scope::CurrentCaller,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<AttributesBody>,
) -> Result<Json<Region>, ApiError> {
    require_region_editor(&caller)?;
    let code = parse_region_path(&code)?;
    if let Some(a) = body.area_km2
        && !(a.is_finite() && a > 0.0)
    {
        return Err(ApiError::invalid_field(
            "area_km2",
            "面积应为大于 0 的数（平方公里）",
        ));
    }
    if let Some(e) = body.elevation_m
        && !(-500..=9000).contains(&e)
    {
        return Err(ApiError::invalid_field(
            "elevation_m",
            "海拔应在 -500 到 9000 米之间",
        ));
    }
    Ok(Json(
        state
            .db
            .set_region_attributes(&caller, code, body.area_km2, body.elevation_m)
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct PopulationBody {
    rural_population: Option<i64>,
}

async fn set_population(
    State(state): State<AppState>,
    crate::scope::CurrentCaller(caller): crate::scope::CurrentCaller,
    ApiPath((code, year)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PopulationBody>,
) -> Result<Json<Vec<YearValue>>, ApiError> {
    require_region_editor(&caller)?;
    let code = parse_region_path(&code)?;
    let year: i64 = year
        .parse()
        .ok()
        .filter(|y| (1949..=2100).contains(y))
        .ok_or_else(|| ApiError::invalid_field("year", "年份应为 1949–2100 的整数"))?;
    let population = body.rural_population.filter(|p| *p >= 0).ok_or_else(|| {
        ApiError::invalid_field("rural_population", "请填写不小于 0 的农业户籍人口")
    })?;
    state
        .db
        .set_rural_population(&caller, code, year, population)
        .await?;
    Ok(Json(state.db.rural_population(code).await?))
}
