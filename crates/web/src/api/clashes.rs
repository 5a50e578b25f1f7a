//! Identity clashes outside a user's scope (see `store::audit`): the list and the blocked users
//! for those who read the audit log, and the administrator's clearing of a block.

use super::{ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::api::require_audit_reader;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/identity-clashes", get(list))
        .route(
            "/api/v1/audit/identity-clashes/{username}/clear",
            post(clear),
        )
}

#[derive(Deserialize, Default)]
pub struct ClashQuery {
    user: Option<String>,
    limit: Option<String>,
}

/// `{"blocked": [{username, day, clashes, limit}], "items": [audit entries, newest first]}`.
async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ClashQuery>,
) -> Result<Json<Value>, ApiError> {
    require_audit_reader(&caller)?;
    let limit = super::Paging::parse(q.limit.as_deref(), None)?.limit;
    let user = q.user.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let blocked = state.db.blocked_users(&caller).await?;
    let items = state.db.identity_clashes(&caller, user, limit).await?;
    Ok(Json(json!({ "blocked": blocked, "items": items })))
}

/// Lifts the block on a user (administrators; recorded in the audit log).
async fn clear(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.db.clear_identity_clashes(&caller, &username).await?;
    Ok(Json(json!({ "username": username, "cleared": true })))
}

/// The paths of this module in the OpenAPI document.
pub fn openapi(doc: &mut Value) {
    let error = json!({"$ref": "#/components/responses/Error"});
    let paths = json!({
        "/api/v1/audit/identity-clashes": {
            "get": { "summary": "管辖范围外的身份冲突（证件号码或户编号已在其他地区登记）及因超过每日上限而暂停导入的用户（仅市级管理员、审计人员）",
                     "parameters": [{"name": "user", "in": "query", "required": false, "schema": {"type": "string"}},
                                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "string"}}],
                     "responses": { "200": { "description": "{blocked, items}" }, "401": error, "403": error } }
        },
        "/api/v1/audit/identity-clashes/{username}/clear": {
            "post": { "summary": "解除用户的身份冲突暂停（仅市级管理员；记入审计）",
                      "parameters": [{"name": "username", "in": "path", "required": true, "schema": {"type": "string"}}],
                      "responses": { "200": { "description": "已解除" }, "401": error, "403": error, "404": error } }
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
}
