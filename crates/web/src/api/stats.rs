//! The overview figures (数据概览) and the published figure sets: public, no login needed
//! (aggregates only, no personal data). Definitions are in store::stats.

use super::{ApiPath, ApiQuery, Page, parse_i64_param, parse_region_param};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use domain::{Caller, RegionCode};
use serde::Deserialize;
use serde_json::{Value, json};
use store::dashboard::{Dashboard, PairingsProgress};
use store::stats::{Overview, OverviewFilter, PublishedFigures};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/stats/overview", get(overview))
        .route("/api/v1/stats/dashboard", get(dashboard))
        .route("/api/v1/stats/pairings", get(pairings))
        .route("/api/v1/stats/published", get(published_list))
        .route("/api/v1/stats/published/{id}", get(published_one))
}

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    pub region: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// The region a caller's figures are for when the request names none: a logged-in user whose
/// scope is one region subtree (a county cadre, a village secretary) sees its own region; the
/// public and city-wide users see everything. Aggregates stay public either way.
pub fn default_region(caller: &Caller) -> Option<RegionCode> {
    match (&caller.scope, caller.is_authenticated()) {
        (domain::Scope::Regions(roots), true) if roots.len() == 1 => Some(roots[0]),
        _ => None,
    }
}

/// The filter of a stats request: region (or the caller's own), since, until.
pub fn stats_filter(caller: &Caller, q: &OverviewQuery) -> Result<OverviewFilter, ApiError> {
    let region = q
        .region
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|r| parse_region_param("region", r))
        .transpose()?
        .or_else(|| default_region(caller));
    let since = parse_i64_param("since", q.since.as_deref())?;
    let until = parse_i64_param("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(ApiError::invalid_field(
            "until",
            format!("截止年份 {u} 早于起始年份 {s}"),
        ));
    }
    Ok(OverviewFilter {
        region,
        since,
        until,
        as_of: None,
    })
}

async fn overview(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> Result<Json<Overview>, ApiError> {
    let filter = stats_filter(&caller, &q)?;
    Ok(Json(state.db.stats_overview_cached(&filter).await?))
}

async fn dashboard(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    let filter = stats_filter(&caller, &q)?;
    Ok(Json(state.db.stats_dashboard_cached(&filter).await?))
}

async fn pairings(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> Result<Json<PairingsProgress>, ApiError> {
    let filter = stats_filter(&caller, &q)?;
    Ok(Json(state.db.stats_pairings_cached(filter.region).await?))
}

async fn published_list(
    State(state): State<AppState>,
) -> Result<Json<Page<PublishedFigures>>, ApiError> {
    Ok(Json(Page {
        items: state.db.published_figures_list().await?,
        next_cursor: None,
    }))
}

async fn published_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PublishedFigures>, ApiError> {
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("没有编号为 {id} 的已发布数字")))?;
    Ok(Json(state.db.published_figures(id).await?))
}

pub fn openapi(doc: &mut Value) {
    let q = |n: &str, d: &str| json!({"name": n, "in": "query", "required": false, "description": d, "schema": {"type": "string"}});
    let ok = |d: &str| {
        json!({"200": {"description": d, "content": {"application/json": {"schema": {"type": "object"}}}},
        "404": {"description": "不存在"}, "422": {"description": "参数有误，details 列出字段"}})
    };
    let paths = json!({
        "/api/v1/stats/overview": {"get": {
            "summary": "数据概览（公开）：对口省份与县数、面积、财政帮扶资金（投入，按记账日期）、项目数（按开工年份）、脱贫人口（结对年份内脱贫）、剩余贫困人口、海拔范围、八大主题",
            "parameters": [q("region", "区划代码前缀，如 6531（喀什地区）、653131"), q("since", "起始年份（含）"), q("until", "截止年份（含）")],
            "responses": ok("概览数字")}},
        "/api/v1/stats/dashboard": {"get": {
            "summary": "数据看板（公开）：概览数字及下级区划（省→县→乡→村）的同口径数字、分年度分来源资金、分年度脱贫人口与剩余占比、八大主题指标、深度贫困地区；登录的县、村用户默认看本辖区",
            "parameters": [q("region", "区划代码前缀"), q("since", "起始年份（含）"), q("until", "截止年份（含）")],
            "responses": ok("看板数字")}},
        "/api/v1/stats/pairings": {"get": {
            "summary": "对口关系的年度协议目标与实际完成（实际为结对地区当年的数字：资金按记账年度，项目按开工年度，脱贫人口按脱贫年度，主题指标按年度）",
            "parameters": [q("region", "区划代码前缀")],
            "responses": ok("结对目标与完成")}},
        "/api/v1/stats/published": {"get": {"summary": "已发布的概览数字（bangfu stats publish 冻结，之后的记录不会改变它们）", "responses": ok("列表")}},
        "/api/v1/stats/published/{id}": {"get": {"summary": "一次发布的概览数字",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": ok("已发布数字")}}
    });
    if let (Some(target), Some(add)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        paths.as_object(),
    ) {
        for (k, v) in add {
            target.insert(k.clone(), v.clone());
        }
    }
}
