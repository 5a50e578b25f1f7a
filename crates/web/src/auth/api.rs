//! `/api/v1/session` (log in and out with JSON, for programs that prefer a cookie to a token)
//! and `/api/v1/audit` (the audit log, for administrators and auditors).

use super::{AuthMethod, Resolved, clear_session_cookie, session_cookie, session_token};
use crate::AppState;
use crate::api::{ApiJson, ApiQuery, Page, Paging};
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use domain::{Caller, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use store::audit::{AuditEntry, AuditFilter};
use store::auth::{LoginOutcome, PasswordChange};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", get(whoami).post(login).delete(logout))
        .route(super::PASSWORD_API, put(change_password))
        .route("/api/v1/audit", get(audit))
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The caller as the API shows it.
pub fn caller_json(c: &Caller) -> Value {
    let scope = match &c.scope {
        Scope::Everything => json!({"kind": "everything"}),
        Scope::Regions(r) => {
            json!({"kind": "regions", "regions": r.iter().map(|c| c.to_string()).collect::<Vec<_>>()})
        }
        Scope::Organisation(id) => json!({"kind": "organisation", "organisation_id": id}),
    };
    json!({
        "authenticated": c.is_authenticated(),
        "username": c.username,
        "role": c.role.as_str(),
        "role_name": c.role.name_zh(),
        "scope": scope,
        "organisation_id": c.organisation_id,
        "can_reveal": c.can_reveal,
        "can_write": c.can_write(),
    })
}

/// Who am I: the public too gets an answer (authenticated: false).
async fn whoami(CurrentCaller(caller): CurrentCaller) -> Json<Value> {
    Json(caller_json(&caller))
}

/// Maps a refused login to the API's error shape; the same words as the login page.
pub fn login_refusal(outcome: &LoginOutcome) -> ApiError {
    match outcome {
        LoginOutcome::Locked { minutes } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("密码连续错误次数过多，账户已锁定，请 {minutes} 分钟后再试"),
        ),
        LoginOutcome::Disabled => ApiError::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "该账户已停用，请联系管理员",
        ),
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "用户名或密码错误",
        ),
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let outcome = state.db.login(&body.username, &body.password).await?;
    match outcome {
        LoginOutcome::Success {
            token,
            caller,
            expires_at,
        } => {
            let mut response =
                Json(json!({ "user": caller_json(&caller), "expires_at": expires_at }))
                    .into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&token, &headers));
            Ok(response)
        }
        other => Ok(with_retry_after(
            login_refusal(&other).into_response(),
            &other,
        )),
    }
}

/// `Retry-After` for a locked account's refusal.
pub fn with_retry_after(mut response: Response, outcome: &LoginOutcome) -> Response {
    if let LoginOutcome::Locked { minutes } = outcome
        && let Ok(v) = HeaderValue::from_str(&(minutes * 60).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

#[derive(Deserialize)]
struct PasswordChangeBody {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// The words for a wrong current password, on the page and in the API.
pub const WRONG_CURRENT_PASSWORD: &str = "当前密码不正确（连续输错 5 次账户将锁定 15 分钟）";

/// The session cookie of this request, when that is how the caller logged in: the one session
/// a change of one's own password keeps.
pub fn own_session(resolved: &Resolved, headers: &HeaderMap) -> Option<String> {
    (resolved.method == AuthMethod::Session)
        .then(|| session_token(headers))
        .flatten()
}

/// `PUT /api/v1/session/password`: the caller changes its own password.
async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(resolved): Extension<Resolved>,
    ApiJson(body): ApiJson<PasswordChangeBody>,
) -> Result<Response, ApiError> {
    let keep = own_session(&resolved, &headers);
    match state
        .db
        .change_own_password(
            &resolved.caller,
            &body.current_password,
            &body.new_password,
            keep.as_deref(),
        )
        .await?
    {
        PasswordChange::Changed(done) => Ok(Json(json!({
            "changed": true,
            "tokens_revoked": done.tokens_revoked,
            "other_sessions_ended": done.sessions_ended,
            "session_kept": keep.is_some(),
        }))
        .into_response()),
        PasswordChange::WrongCurrent => Err(ApiError::invalid_field(
            "current_password",
            WRONG_CURRENT_PASSWORD,
        )),
        PasswordChange::Locked { minutes } => {
            let outcome = LoginOutcome::Locked { minutes };
            Ok(with_retry_after(
                login_refusal(&outcome).into_response(),
                &outcome,
            ))
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_token(&headers) {
        state.db.logout(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_session_cookie(&headers));
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    /// First day (YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), inclusive.
    pub until: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// Checks that the caller may read the audit log: the public 401, others but admin/auditor 403.
pub fn require_audit_reader(caller: &Caller) -> Result<(), ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized("请先登录"));
    }
    if !caller.can_read_audit() {
        return Err(ApiError::forbidden(
            "只有市级管理员和审计人员可以查看审计日志",
        ));
    }
    Ok(())
}

fn text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Checks a YYYY-MM-DD date; returns it, or for `next_day` the day after (an exclusive bound).
fn parse_day(field: &str, s: &str, next_day: bool) -> Result<String, ApiError> {
    let bad =
        || ApiError::invalid_field(field, format!("{field} 应为日期 YYYY-MM-DD，而不是“{s}”"));
    let t = store::auth::unix_from_rfc3339(&format!("{s}T00:00:00Z")).ok_or_else(bad)?;
    // Round trip, so 2024-02-30 is refused rather than read as 3 March.
    if store::auth::format_unix(t)[..10] != *s {
        return Err(bad());
    }
    Ok(if next_day {
        store::auth::format_unix(t + 86_400)[..10].to_string()
    } else {
        s.to_string()
    })
}

/// Turns the query into a filter, checking every field at once.
pub fn audit_filter(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let mut details = Vec::new();
    let from = match text(&q.from) {
        None => None,
        Some(s) => parse_day("from", &s, false)
            .map_err(|e| details.extend(e.details))
            .ok(),
    };
    let until = match text(&q.until) {
        None => None,
        Some(s) => parse_day("until", &s, true)
            .map_err(|e| details.extend(e.details))
            .ok(),
    };
    if !details.is_empty() {
        return Err(store::StoreError::invalid(details).into());
    }
    Ok(AuditFilter {
        username: text(&q.user),
        entity: text(&q.entity),
        entity_id: text(&q.entity_id),
        action: text(&q.action),
        from,
        until,
    })
}

async fn audit(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    require_audit_reader(&caller)?;
    let paging = Paging::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let filter = audit_filter(&q)?;
    let items = state
        .db
        .list_audit(&filter, paging.after, paging.fetch_limit())
        .await?;
    Ok(Json(paging.page(items, |e| e.id)))
}

/// Adds the session and audit paths, and the two ways of authenticating, to the OpenAPI document.
pub fn openapi(doc: &mut Value) {
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    let error = json!({"$ref": "#/components/responses/Error"});
    let paths = json!({
        "/api/v1/session": {
            "get": { "summary": "当前调用者（未登录时 authenticated 为 false）", "responses": { "200": { "description": "调用者、角色与范围" } } },
            "post": { "summary": "登录：{\"username\", \"password\"}，成功时设置会话 Cookie",
                      "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object",
                          "properties": { "username": { "type": "string" }, "password": { "type": "string" } } } } } },
                      "responses": { "200": { "description": "已登录" }, "401": error, "403": error, "429": error } },
            "delete": { "summary": "退出登录", "responses": { "204": { "description": "已退出" } } }
        },
        "/api/v1/session/password": {
            "put": { "summary": "修改本人密码：{\"current_password\", \"new_password\"}。新密码至少 10 个字符，不能含用户名，不能是常见密码；当前密码输错计入连续错误次数（5 次锁定 15 分钟）。成功后吊销本人全部访问令牌、结束其他会话（以会话 Cookie 调用时保留当前会话）；记入审计日志",
                     "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["current_password", "new_password"],
                         "properties": { "current_password": { "type": "string" }, "new_password": { "type": "string" } } } } } },
                     "responses": { "200": { "description": "已修改 {changed, tokens_revoked, other_sessions_ended, session_kept}" },
                                    "400": error, "401": error, "403": error, "422": error, "429": error, "503": error } }
        },
        "/api/v1/audit": {
            "get": { "summary": "审计日志（仅市级管理员、审计人员），新的在前",
                     "parameters": [q("user", "用户名"), q("entity", "对象类型，如 pairing"), q("entity_id", "对象编号"), q("action", "操作，如 login_failed"),
                                    q("from", "起始日期 YYYY-MM-DD（含）"), q("until", "截止日期 YYYY-MM-DD（含）"), q("limit", "每页条数，1–500"), q("cursor", "上一页的 next_cursor")],
                     "responses": { "200": { "description": "列表 {items, next_cursor}" }, "401": error, "403": error, "422": error } }
        }
    });
    if let (Some(target), Some(add)) = (
        doc.get_mut("paths").and_then(Value::as_object_mut),
        paths.as_object(),
    ) {
        for (k, v) in add {
            target.insert(k.clone(), v.clone());
        }
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert(
            "securitySchemes".into(),
            json!({
                "bearer": { "type": "http", "scheme": "bearer", "description": "bangfu token create --user 用户名 生成的访问令牌" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE }
            }),
        );
    }
    if let Some(root) = doc.as_object_mut() {
        root.insert(
            "security".into(),
            json!([{ "bearer": [] }, { "session": [] }, {}]),
        );
    }
}
