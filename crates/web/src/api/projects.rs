//! Projects: create, read, list (theme, status, region, organisation, year…), replace, move
//! along the status workflow; their results, beneficiaries and transactions.

use super::organisations::parse_id;
use super::{
    ApiJson, ApiPath, ApiQuery, Page, Paging, parse_bool_param, parse_i64_param, parse_region_param,
};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::kinds::Theme;
use domain::project::ProjectStatus;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ledger::{Transaction, TransactionFilter};
use store::ledger_io::{ExportFormat, ExportKind};
use store::projects::{Project, ProjectFilter, ProjectInput, ProjectSummary, StatusChangeInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects", get(list).post(create))
        .route("/api/v1/projects/export.csv", get(export_csv))
        .route("/api/v1/projects/export.xlsx", get(export_xlsx))
        .route(
            "/api/v1/imports/projects",
            post(import).layer(crate::upload::body_limit()),
        )
        .route("/api/v1/projects/{id}", get(detail).put(update))
        .route("/api/v1/projects/{id}/status", post(change_status))
        .route("/api/v1/projects/{id}/results", get(results))
        .route("/api/v1/projects/{id}/beneficiaries", get(beneficiaries))
        .route("/api/v1/projects/{id}/transactions", get(transactions))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub theme: Option<String>,
    pub status: Option<String>,
    pub region: Option<String>,
    pub organisation_id: Option<String>,
    pub year: Option<String>,
    pub pairing_id: Option<String>,
    pub livelihood: Option<String>,
    pub q: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn parse_theme_param(s: Option<&str>) -> Result<Option<Theme>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(t) => Theme::parse(t).map(Some).ok_or_else(|| {
            ApiError::invalid_field(
                "theme",
                format!("主题“{t}”无效，应为：{}", Theme::choices_zh()),
            )
        }),
    }
}

pub fn parse_filter(q: &ListQuery) -> Result<ProjectFilter, ApiError> {
    let status = match nonempty(&q.status) {
        None => None,
        Some(s) => Some(ProjectStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_field(
                "status",
                format!("项目状态“{s}”无效，应为：{}", ProjectStatus::choices_zh()),
            )
        })?),
    };
    Ok(ProjectFilter {
        theme: parse_theme_param(q.theme.as_deref())?,
        status,
        region: nonempty(&q.region)
            .map(|r| parse_region_param("region", r))
            .transpose()?,
        organisation_id: parse_i64_param("organisation_id", q.organisation_id.as_deref())?,
        year: parse_i64_param("year", q.year.as_deref())?,
        pairing_id: parse_i64_param("pairing_id", q.pairing_id.as_deref())?,
        livelihood: parse_bool_param("livelihood", q.livelihood.as_deref())?,
        name_contains: nonempty(&q.q).map(domain::text::normalize),
    })
}

async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<ProjectSummary>>, ApiError> {
    let paging = Paging::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let filter = parse_filter(&query)?;
    let items = state
        .db
        .list_projects(&caller, &filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |p| p.id)))
}

async fn detail(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Project>, ApiError> {
    let id = parse_id(&id, "项目")?;
    Ok(Json(state.db.require_project(&caller, id).await?))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_project(&caller, &input).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<Json<Project>, ApiError> {
    let id = parse_id(&id, "项目")?;
    Ok(Json(state.db.update_project(&caller, id, &input).await?))
}

async fn change_status(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<StatusChangeInput>,
) -> Result<Json<Project>, ApiError> {
    let id = parse_id(&id, "项目")?;
    Ok(Json(
        state.db.change_project_status(&caller, id, &input).await?,
    ))
}

async fn results(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "项目")?;
    let p = state.db.require_project(&caller, id).await?;
    Ok(Json(
        json!({ "items": p.results, "indicators": p.indicators, "loans": p.loans, "next_cursor": null }),
    ))
}

async fn beneficiaries(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "项目")?;
    let p = state.db.require_project(&caller, id).await?;
    Ok(Json(
        json!({ "items": p.beneficiaries, "totals": p.beneficiary_totals, "next_cursor": null }),
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn transactions(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Transaction>>, ApiError> {
    let id = parse_id(&id, "项目")?;
    state.db.require_project(&caller, id).await?;
    let paging = Paging::parse(query.limit.as_deref(), query.cursor.as_deref())?;
    let filter = TransactionFilter {
        project_id: Some(id),
        ..Default::default()
    };
    let items = state
        .db
        .list_transactions(&caller, &filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |t| t.id)))
}

async fn export_csv(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<axum::response::Response, ApiError> {
    super::exports::ledger_export(&state, caller, ExportKind::Projects, ExportFormat::Csv).await
}

async fn export_xlsx(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<axum::response::Response, ApiError> {
    super::exports::ledger_export(&state, caller, ExportKind::Projects, ExportFormat::Xlsx).await
}

async fn import(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<super::ledger::ImportQuery>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<store::ledger_io::LedgerImportOutcome>), ApiError> {
    super::ledger::run_import(&state, &caller, &q, req, true).await
}
