use super::{ApiJson, ApiPath, ApiQuery, Page, Paging, parse_bool_param};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::kinds::OrgKind;
use serde::Deserialize;
use store::organisations::{Organisation, OrganisationFilter, OrganisationInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/organisations", get(list).post(create))
        .route("/api/v1/organisations/{id}", get(detail).put(update))
}

#[derive(Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    q: Option<String>,
    shenzhen_side: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Organisation>>, ApiError> {
    let paging = Paging::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let kind = match query.kind.as_deref().filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(k) => Some(OrgKind::parse(k).ok_or_else(|| {
            ApiError::invalid_field(
                "kind",
                format!("机构类型“{k}”无效，应为：{}", OrgKind::choices_zh()),
            )
        })?),
    };
    let filter = OrganisationFilter {
        kind,
        name_contains: query
            .q
            .as_deref()
            .map(domain::text::normalize)
            .filter(|s| !s.is_empty()),
        shenzhen_side: parse_bool_param("shenzhen_side", query.shenzhen_side.as_deref())?,
    };
    let items = state
        .db
        .list_organisations(&filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |o| o.id)))
}

pub fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} 不存在")))
}

async fn detail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Organisation>, ApiError> {
    let id = parse_id(&id, "机构")?;
    Ok(Json(state.db.require_organisation(id).await?))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(input): ApiJson<OrganisationInput>,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_organisation(&caller, &input).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<OrganisationInput>,
) -> Result<Json<Organisation>, ApiError> {
    let id = parse_id(&id, "机构")?;
    Ok(Json(
        state.db.update_organisation(&caller, id, &input).await?,
    ))
}
