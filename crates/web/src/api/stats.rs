//! The overview figures (数据概览) and the published figure sets: public, no login needed
//! (aggregates only, no personal data). Definitions are in store::stats.

use super::{ApiPath, ApiQuery, Page, parse_i64_param, parse_region_param};
use crate::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use store::stats::{Overview, OverviewFilter, PublishedFigures};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/stats/overview", get(overview))
        .route("/api/v1/stats/published", get(published_list))
        .route("/api/v1/stats/published/{id}", get(published_one))
}

#[derive(Deserialize)]
pub struct OverviewQuery {
    region: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

async fn overview(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> Result<Json<Overview>, ApiError> {
    let region = q
        .region
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|r| parse_region_param("region", r))
        .transpose()?;
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
    Ok(Json(
        state
            .db
            .stats_overview(&OverviewFilter {
                region,
                since,
                until,
                as_of: None,
            })
            .await?,
    ))
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
