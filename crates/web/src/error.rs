//! One error type for the API (JSON) and one for pages (a Chinese HTML message). Internal
//! details are logged under an id, never shown; the caller gets the id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use domain::validation::FieldError;
use serde_json::json;
use store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
    /// Set on internal errors (500): the id under which the failure is logged, shown to the
    /// caller so an administrator can find it.
    pub id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            id: None,
        }
    }

    /// A failure the caller cannot fix: logged with a fresh id (the description must carry no
    /// personal data), answered 500 with a generic Chinese message naming the id and nothing of
    /// the description (no SQL, no engine text).
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        let id = format!("{:012x}", rand::random::<u64>() >> 16);
        tracing::error!(error_id = %id, error = %what, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("服务器内部错误，请稍后重试；如仍失败，请将错误编号 {id} 告知管理员"),
            details: Vec::new(),
            id: Some(id),
        }
    }

    /// The store is unreachable or busy right now (503); retrying later may help.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            details: vec![FieldError::new(field, message.clone())],
            message,
            id: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Invalid { message, details } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid",
                message,
                details,
                id: None,
            },
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::CertificateInvalid { field, error } => {
                let message = error.to_string();
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "certificate_invalid",
                    details: vec![FieldError::new(field, message.clone())],
                    message,
                    id: None,
                }
            }
            StoreError::Unavailable(m) => ApiError::unavailable(m),
            StoreError::Internal(m) => ApiError::internal(m),
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            StoreError::LoginRequired(m) => ApiError::unauthorized(m),
            StoreError::ImportRejected(problems) => {
                let message = format!("数据有 {} 处问题，未写入任何数据", problems.len());
                let details = problems
                    .into_iter()
                    .map(|p| FieldError {
                        field: p.column,
                        row: Some(p.row),
                        value: Some(p.value),
                        message: p.message,
                    })
                    .collect();
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "invalid",
                    message,
                    details,
                    id: None,
                }
            }
            // PostgreSQL refuses NUL in text (SQLite keeps it): a value typed or sent with one
            // is the writer's mistake, whatever door it came through.
            e if e.is_nul_in_text() => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "文本不能包含空字符（\\u0000 或 %00）",
            ),
            // Nothing was written; an administrator must free space first.
            e if e.is_disk_full() => {
                tracing::error!(error = %e, "disk full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "disk_full",
                    "服务器磁盘空间不足，本次修改未保存（未写入任何数据），请联系系统管理员",
                )
            }
            // Unreachable, or another writer kept the database past the wait (SQLite's
            // "database is locked"): the request may simply be sent again.
            e if e.is_busy() => {
                tracing::warn!(error = %e, "database unavailable or busy");
                ApiError::unavailable("数据库正忙或暂时无法访问，请稍后重试")
            }
            StoreError::Database(e) => ApiError::internal(format!("database error: {e}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        if let Some(id) = self.id {
            body["error"]["id"] = json!(id);
        }
        (self.status, Json(body)).into_response()
    }
}

/// An error on an HTML page: the same classification, rendered as a Chinese page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl From<askama::Error> for ApiError {
    fn from(e: askama::Error) -> ApiError {
        ApiError::internal(format!("template error: {e}"))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = match e.status {
            StatusCode::NOT_FOUND => "找不到页面",
            StatusCode::FORBIDDEN => "无权访问",
            StatusCode::UNAUTHORIZED => "请先登录",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "输入有误",
            _ => "出错了",
        };
        let details: String = e
            .details
            .iter()
            .map(|d| format!("<li>{}：{}</li>", escape(&d.field), escape(&d.message)))
            .collect();
        // The id is in the message already; it is also set apart so it can be copied.
        let id =
            e.id.as_deref()
                .map(|id| {
                    format!(
                        "<p class=\"error-id\">错误编号：<code>{}</code></p>",
                        escape(id)
                    )
                })
                .unwrap_or_default();
        let html = format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · 帮扶</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"narrow\"><h1>{title}</h1><p class=\"error-message\">{}</p><ul>{details}</ul>{id}<p><a href=\"/\">返回首页</a></p></main></body></html>",
            escape(&e.message)
        );
        (e.status, Html(html)).into_response()
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
