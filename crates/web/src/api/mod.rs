//! JSON API under `/api/v1`. List conventions: `{"items": [...], "next_cursor": "…" | null}`,
//! with `limit` (1–500, default 50) and an opaque `cursor`. Errors:
//! `{"error": {"code", "message", "details"}}` with the matching status.

pub mod assessment;
mod clashes;
mod consumption;
pub mod exports;
pub mod households;
pub mod ledger;
mod ledger_openapi;
mod openapi;
mod organisations;
mod pairings;
pub mod projects;
mod regions;
pub(crate) mod stats;

use crate::AppState;
use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(regions::routes())
        .merge(organisations::routes())
        .merge(pairings::routes())
        .merge(projects::routes())
        .merge(ledger::routes())
        .merge(households::routes())
        .merge(assessment::routes())
        .merge(exports::routes())
        .merge(stats::routes())
        .merge(clashes::routes())
        .merge(consumption::routes())
        .fallback(not_found)
}

async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.db.ping().await?;
    let backend = match state.db.backend() {
        store::Backend::Sqlite => "sqlite",
        store::Backend::Postgres => "postgres",
    };
    Ok(Json(json!({ "status": "ok", "backend": backend })))
}

async fn not_found(req: Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path().starts_with("/api/") {
        ApiError::not_found(format!("没有这个接口：{}", req.uri().path())).into_response()
    } else {
        crate::PageError(ApiError::not_found("您要找的页面不存在")).into_response()
    }
}

#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Limit and cursor as given; the cursor is an opaque string to clients.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: i64,
    pub after: Option<i64>,
}

impl Paging {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Paging, ApiError> {
        let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_field("limit", format!("limit 应为 1–{MAX_LIMIT} 的整数"))
                })?,
        };
        let after = match cursor.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                decode_cursor(s).ok_or_else(|| ApiError::invalid_field("cursor", "cursor 无效"))?,
            ),
        };
        Ok(Paging { limit, after })
    }

    /// Fetches one extra row to know whether a next page exists.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    pub fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> i64) -> Page<T> {
        let next_cursor = if items.len() as i64 > self.limit {
            items.truncate(self.limit as usize);
            items.last().map(|t| encode_cursor(key(t)))
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

fn encode_cursor(key: i64) -> String {
    format!("k{key:x}")
}

fn decode_cursor(s: &str) -> Option<i64> {
    i64::from_str_radix(s.strip_prefix('k')?, 16).ok()
}

/// `Json` whose rejections use the API's error shape, in Chinese.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::bad_request(
                "请求体应为 JSON（Content-Type: application/json）",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("无法读取请求体：{}", e.body_text())))?;
        if has_escaped_nul(&bytes) {
            return Err(ApiError::bad_request("请求内容不能包含空字符（\\u0000）"));
        }
        match Json::<T>::from_bytes(&bytes) {
            // Every body of the API is a JSON object; serde would also read a struct from an
            // array (`[null, null]` as positional fields), which no client means.
            Ok(_) if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
                Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "请求体应为 JSON 对象（{…}）",
                ))
            }
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(format!(
                "JSON 格式错误：{}",
                e.body_text()
            ))),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("字段类型不符：{}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "无法读取请求体：{}",
                e.body_text()
            ))),
        }
    }
}

/// A `\u0000` escape in JSON text (not an escaped backslash followed by `u0000`): a NUL no one
/// types, which PostgreSQL refuses in text while SQLite would store it; refused the same on both.
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// `Query` whose rejections use the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("查询参数无效：{}", e.body_text()))
            })
    }
}

/// `Path` whose rejections use the API's error shape.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::not_found(format!("路径参数无效：{}", e.body_text()))
            })
    }
}

/// Parses a region code parameter; a malformed code is a 404 in a path and a 422 in a filter.
pub fn parse_region_param(field: &str, s: &str) -> Result<domain::RegionCode, ApiError> {
    domain::RegionCode::parse(s).map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

pub fn parse_region_path(s: &str) -> Result<domain::RegionCode, ApiError> {
    domain::RegionCode::parse(s).map_err(|_| ApiError::not_found(format!("区划代码 {s} 不存在")))
}

pub fn parse_i64_param(field: &str, s: Option<&str>) -> Result<Option<i64>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_field(field, format!("{field} 应为整数"))),
    }
}

pub fn parse_bool_param(field: &str, s: Option<&str>) -> Result<Option<bool>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("true" | "1" | "是") => Ok(Some(true)),
        Some("false" | "0" | "否") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_field(
            field,
            format!("{field} 应为 true 或 false"),
        )),
    }
}
