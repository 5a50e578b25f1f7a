//! The fund ledger: post and list transactions, reversals, the chain head and its
//! verification; and the reports over it (JSON and XLSX).

use super::organisations::parse_id;
use super::projects::parse_theme_param;
use super::{
    ApiJson, ApiPath, ApiQuery, Page, Paging, parse_bool_param, parse_i64_param, parse_region_param,
};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::ledger::TxType;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ledger::{ReversalInput, Transaction, TransactionFilter, TransactionInput};
use store::ledger_io::{ExportFormat, ExportKind, LedgerImportOutcome};
use store::ledger_reports::{Dimension, ReportFilter, Sheet, write_xlsx};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/transactions", get(list).post(create))
        .route("/api/v1/transactions/{id}", get(detail))
        .route("/api/v1/transactions/{id}/reverse", post(reverse))
        .route("/api/v1/transactions/export.csv", get(export_csv))
        .route("/api/v1/transactions/export.xlsx", get(export_xlsx))
        .route(
            "/api/v1/imports/transactions",
            post(import).layer(crate::upload::body_limit()),
        )
        .route("/api/v1/ledger/head", get(head))
        .route("/api/v1/ledger/verify", get(verify))
        .route("/api/v1/reports/invested", get(invested))
        .route("/api/v1/reports/invested.xlsx", get(invested_xlsx))
        .route("/api/v1/reports/progress", get(progress))
        .route("/api/v1/reports/progress.xlsx", get(progress_xlsx))
        .route("/api/v1/reports/projects", get(projects_by_theme))
        .route("/api/v1/reports/projects.xlsx", get(projects_by_theme_xlsx))
        .route("/api/v1/reports/eighty-eighty", get(eighty_eighty))
        .route("/api/v1/reports/indicators", get(indicators))
}

#[derive(Deserialize)]
struct ListQuery {
    project_id: Option<String>,
    organisation_id: Option<String>,
    #[serde(rename = "type")]
    tx_type: Option<String>,
    year: Option<String>,
    invested: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<Transaction>>, ApiError> {
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let tx_type = match q
        .tx_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(t) => Some(TxType::parse_loose(t).ok_or_else(|| {
            ApiError::invalid_field(
                "type",
                format!("交易类型“{t}”无效，应为：{}", TxType::choices_zh()),
            )
        })?),
    };
    let filter = TransactionFilter {
        project_id: parse_i64_param("project_id", q.project_id.as_deref())?,
        organisation_id: parse_i64_param("organisation_id", q.organisation_id.as_deref())?,
        tx_type,
        year: parse_i64_param("year", q.year.as_deref())?,
        invested: parse_bool_param("invested", q.invested.as_deref())?,
    };
    let items = state
        .db
        .list_transactions(&caller, &filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |t| t.id)))
}

async fn detail(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Transaction>, ApiError> {
    let id = parse_id(&id, "交易")?;
    Ok(Json(state.db.require_transaction(&caller, id).await?))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(input): ApiJson<TransactionInput>,
) -> Result<(StatusCode, Json<Transaction>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.db.post_transaction(&caller, &input).await?),
    ))
}

async fn reverse(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ReversalInput>,
) -> Result<(StatusCode, Json<Transaction>), ApiError> {
    let id = parse_id(&id, "交易")?;
    Ok((
        StatusCode::CREATED,
        Json(state.db.reverse_transaction(&caller, id, &input).await?),
    ))
}

async fn head(State(state): State<AppState>) -> Result<Json<store::ledger::LedgerHead>, ApiError> {
    Ok(Json(state.db.ledger_head().await?))
}

/// Replays the whole ledger: seconds of work on a large one, so only for administrators and
/// auditors (the public: 401, other roles: 403). Anyone can check the published head with the
/// exported transactions and their hashes, or `bangfu ledger verify`.
async fn verify(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized("请先登录"));
    }
    let v = state.db.verify_ledger(&caller).await?;
    let problem = v
        .first_problem
        .as_ref()
        .map(|(id, message)| json!({ "entry_id": id, "message": message }));
    Ok(Json(
        json!({ "ok": v.first_problem.is_none(), "count": v.count, "head_hash": v.head_hash, "problem": problem }),
    ))
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    pub by: Option<String>,
    pub year: Option<String>,
    pub year_from: Option<String>,
    pub year_to: Option<String>,
    pub region: Option<String>,
    pub theme: Option<String>,
    pub fiscal: Option<String>,
}

pub fn parse_report_filter(q: &ReportQuery) -> Result<ReportFilter, ApiError> {
    let year = parse_i64_param("year", q.year.as_deref())?;
    Ok(ReportFilter {
        year_from: parse_i64_param("year_from", q.year_from.as_deref())?.or(year),
        year_to: parse_i64_param("year_to", q.year_to.as_deref())?.or(year),
        region: q
            .region
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|r| parse_region_param("region", r))
            .transpose()?,
        theme: parse_theme_param(q.theme.as_deref())?,
        fiscal: parse_bool_param("fiscal", q.fiscal.as_deref())?,
    })
}

pub fn parse_dimensions(by: Option<&str>) -> Result<Vec<Dimension>, ApiError> {
    match by.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(vec![
            Dimension::Year,
            Dimension::Province,
            Dimension::Theme,
            Dimension::FundSource,
        ]),
        Some(s) => Dimension::parse_list(s).map_err(|m| ApiError::invalid_field("by", m)),
    }
}

pub fn progress_by_county(by: Option<&str>) -> Result<bool, ApiError> {
    match by.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("project") => Ok(false),
        Some("county") => Ok(true),
        Some(other) => Err(ApiError::invalid_field(
            "by",
            format!("by“{other}”无效，应为 project 或 county"),
        )),
    }
}

fn xlsx(file_name: &str, sheets: &[Sheet]) -> Result<Response, ApiError> {
    let bytes = write_xlsx(sheets)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn invested(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<store::ledger_reports::InvestedReport>, ApiError> {
    let dims = parse_dimensions(q.by.as_deref())?;
    Ok(Json(
        state
            .db
            .invested_report(&dims, &parse_report_filter(&q)?)
            .await?,
    ))
}

async fn invested_xlsx(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let dims = parse_dimensions(q.by.as_deref())?;
    let report = state
        .db
        .invested_report(&dims, &parse_report_filter(&q)?)
        .await?;
    xlsx("invested.xlsx", &[report.to_sheet()])
}

async fn progress(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<store::ledger_reports::ProgressReport>, ApiError> {
    let by_county = progress_by_county(q.by.as_deref())?;
    Ok(Json(
        state
            .db
            .progress_report(by_county, &parse_report_filter(&q)?)
            .await?,
    ))
}

async fn progress_xlsx(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let by_county = progress_by_county(q.by.as_deref())?;
    let report = state
        .db
        .progress_report(by_county, &parse_report_filter(&q)?)
        .await?;
    xlsx(
        if by_county {
            "progress-by-county.xlsx"
        } else {
            "progress-by-project.xlsx"
        },
        &[report.to_sheet()],
    )
}

async fn projects_by_theme(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<store::ledger_reports::ThemeStatusReport>, ApiError> {
    Ok(Json(
        state
            .db
            .projects_by_theme_status(&parse_report_filter(&q)?)
            .await?,
    ))
}

async fn projects_by_theme_xlsx(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = state
        .db
        .projects_by_theme_status(&parse_report_filter(&q)?)
        .await?;
    xlsx("projects-by-theme.xlsx", &[report.to_sheet()])
}

async fn eighty_eighty(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<store::ledger_reports::EightyEightyReport>, ApiError> {
    let mut filter = parse_report_filter(&q)?;
    let region = filter
        .region
        .take()
        .unwrap_or_else(|| domain::RegionCode::parse("65").expect("valid code"));
    Ok(Json(state.db.eighty_eighty(region, &filter).await?))
}

async fn indicators(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<store::ledger_reports::IndicatorReport>, ApiError> {
    let year = parse_i64_param("year", q.year.as_deref())?;
    Ok(Json(state.db.indicator_report(year).await?))
}

async fn export_csv(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Response, ApiError> {
    super::exports::ledger_export(&state, caller, ExportKind::Transactions, ExportFormat::Csv).await
}

async fn export_xlsx(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Response, ApiError> {
    super::exports::ledger_export(&state, caller, ExportKind::Transactions, ExportFormat::Xlsx)
        .await
}

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    pub dry_run: Option<String>,
}

/// Runs an upload (multipart field `file`) through an import: 200 with the outcome, or 422 with
/// the same outcome listing every problem by row and column (nothing written).
pub async fn run_import(
    state: &AppState,
    caller: &domain::Caller,
    q: &ImportQuery,
    req: axum::extract::Request,
    projects: bool,
) -> Result<(StatusCode, Json<LedgerImportOutcome>), ApiError> {
    let dry_run = parse_bool_param("dry_run", q.dry_run.as_deref())?.unwrap_or(false);
    let file = crate::upload::receive(state, caller, crate::upload::UploadKind::Projects, req)
        .await?
        .require_file()?;
    let name = file.name.clone();
    // These imports read rows on the request's thread: the file is checked through first.
    let table = file.open(true).await?;
    let outcome = if projects {
        state
            .db
            .import_projects(caller, table, dry_run, &name)
            .await?
    } else {
        state
            .db
            .import_transactions(caller, table, dry_run, &name)
            .await?
    };
    let status = if outcome.problem_count > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

async fn import(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<LedgerImportOutcome>), ApiError> {
    run_import(&state, &caller, &q, req, false).await
}
