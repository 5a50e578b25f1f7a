use super::organisations::parse_id;
use super::{ApiJson, ApiPath, ApiQuery, Page, Paging, parse_i64_param, parse_region_param};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use domain::kinds::PairingType;
use serde::Deserialize;
use store::pairings::{Pairing, PairingFilter, PairingInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/pairings", get(list).post(create))
        .route("/api/v1/pairings/{id}", get(detail).put(update))
}

#[derive(Deserialize)]
pub struct ListQuery {
    region: Option<String>,
    organisation_id: Option<String>,
    #[serde(rename = "type")]
    pairing_type: Option<String>,
    year: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub fn parse_filter(query: &ListQuery) -> Result<PairingFilter, ApiError> {
    let pairing_type = match query
        .pairing_type
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        None => None,
        Some(t) => Some(PairingType::parse(t).ok_or_else(|| {
            ApiError::invalid_field(
                "type",
                format!("对口关系类型“{t}”无效，应为：{}", PairingType::choices_zh()),
            )
        })?),
    };
    Ok(PairingFilter {
        region: query
            .region
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|r| parse_region_param("region", r))
            .transpose()?,
        organisation_id: parse_i64_param("organisation_id", query.organisation_id.as_deref())?,
        pairing_type,
        active_in: parse_i64_param("year", query.year.as_deref())?,
    })
}

async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Pairing>>, ApiError> {
    let paging = Paging::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let filter = parse_filter(&query)?;
    let items = state
        .db
        .list_pairings(
            &caller.pairing_scope(),
            &filter,
            paging.after,
            paging.fetch_limit(),
        )
        .await?;
    Ok(Json(paging.page(items, |p| p.id)))
}

async fn detail(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Pairing>, ApiError> {
    let id = parse_id(&id, "对口关系")?;
    Ok(Json(
        state
            .db
            .require_pairing(&caller.pairing_scope(), id)
            .await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(input): ApiJson<PairingInput>,
) -> Result<(StatusCode, Json<Pairing>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_pairing(&caller, &input).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<PairingInput>,
) -> Result<Json<Pairing>, ApiError> {
    let id = parse_id(&id, "对口关系")?;
    Ok(Json(state.db.update_pairing(&caller, id, &input).await?))
}
