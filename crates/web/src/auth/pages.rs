//! The login page (`/login`), logout (`POST /logout`), the caller's own account (`/account`,
//! with the change of password) and the audit log page (`/audit`).

use super::api::{
    AuditQuery, WRONG_CURRENT_PASSWORD, audit_filter, login_refusal, own_session, with_retry_after,
};
use super::{Resolved, clear_session_cookie, login_redirect, session_cookie, session_token};
use crate::AppState;
use crate::api::Paging;
use crate::error::{ApiError, PageError};
use crate::scope::CurrentCaller;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use domain::{Caller, Scope};
use serde::Deserialize;
use store::audit::AuditEntry;
use store::auth::{LoginOutcome, PasswordChange};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route(super::PASSWORD_PAGE, post(change_password))
        .route("/audit", get(audit_page))
        .route(
            "/audit/identity-clashes/{username}/clear",
            post(clear_identity_clashes),
        )
}

/// A local path to return to after login: no other host, no scheme, no backslash tricks.
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && !next.starts_with("/login")
        && !next.starts_with("/logout")
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    username: String,
    error: Option<String>,
    current: Option<String>,
    idle_minutes: i64,
}

fn idle_minutes() -> i64 {
    super::config().idle_seconds / 60
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn render(t: impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError(ApiError::from(e)).into_response(),
    }
}

async fn login_form(CurrentCaller(caller): CurrentCaller, Query(q): Query<NextQuery>) -> Response {
    let next = q
        .next
        .filter(|n| safe_next(n))
        .unwrap_or_else(|| "/".into());
    let current = caller.is_authenticated().then(|| caller.username.clone());
    render(
        LoginPage {
            next,
            username: String::new(),
            error: None,
            current,
            idle_minutes: idle_minutes(),
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = if safe_next(&form.next) {
        form.next.clone()
    } else {
        "/".into()
    };
    let outcome = match state.db.login(&form.username, &form.password).await {
        Ok(o) => o,
        Err(e) => return PageError::from(e).into_response(),
    };
    match outcome {
        LoginOutcome::Success { token, .. } => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&token, &headers));
            response
        }
        other => {
            let refusal = login_refusal(&other);
            let page = LoginPage {
                next,
                username: form.username.trim().to_string(),
                error: Some(refusal.message),
                current: None,
                idle_minutes: idle_minutes(),
            };
            render(page, refusal.status)
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session_token(&headers)
        && let Err(e) = state.db.logout(&token).await
    {
        return PageError::from(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, clear_session_cookie(&headers));
    response
}

#[derive(Template, Default)]
#[template(path = "account.html")]
struct AccountPage {
    username: String,
    role: &'static str,
    scope: String,
    can_reveal: bool,
    success: Option<String>,
    error: Option<String>,
    current_errors: Vec<String>,
    new_errors: Vec<String>,
    again_errors: Vec<String>,
}

/// The caller's scope in words: which regions or which organisation its data is limited to.
async fn scope_words(state: &AppState, caller: &Caller) -> Result<String, PageError> {
    Ok(match &caller.scope {
        Scope::Everything => "全部区划和机构".to_string(),
        Scope::Regions(codes) if codes.is_empty() => "无".to_string(),
        Scope::Regions(codes) => {
            let mut names = Vec::with_capacity(codes.len());
            for code in codes {
                let name = state
                    .db
                    .get_region(*code)
                    .await?
                    .map(|r| r.name)
                    .unwrap_or_default();
                names.push(format!("{name}（{code}）"));
            }
            names.join("、")
        }
        Scope::Organisation(id) => {
            let name = state
                .db
                .get_organisation(*id)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            format!("本机构：{name}（机构 {id}）")
        }
    })
}

async fn account_page(state: &AppState, caller: &Caller) -> Result<AccountPage, PageError> {
    Ok(AccountPage {
        username: caller.username.clone(),
        role: caller.role.name_zh(),
        scope: scope_words(state, caller).await?,
        can_reveal: caller.can_reveal,
        ..AccountPage::default()
    })
}

async fn account(State(state): State<AppState>, CurrentCaller(caller): CurrentCaller) -> Response {
    if !caller.is_authenticated() {
        return login_redirect("/account");
    }
    match account_page(&state, &caller).await {
        Ok(page) => render(page, StatusCode::OK),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

/// `POST /account/password`: the same change as `PUT /api/v1/session/password`; this page's
/// session stays logged in.
async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(resolved): Extension<Resolved>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let caller = &resolved.caller;
    let mut page = match account_page(&state, caller).await {
        Ok(page) => page,
        Err(e) => return e.into_response(),
    };
    // A typing slip in the repeated password is caught here, before the current password is
    // checked (and counted).
    if form.new_password != form.new_password_again {
        page.again_errors.push("两次输入的新密码不一致".into());
        return render(page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let keep = own_session(&resolved, &headers);
    match state
        .db
        .change_own_password(
            caller,
            &form.current_password,
            &form.new_password,
            keep.as_deref(),
        )
        .await
    {
        Ok(PasswordChange::Changed(done)) => {
            page.success = Some(format!(
                "密码已修改。已吊销访问令牌 {} 个，其他登录 {} 个已退出。",
                done.tokens_revoked, done.sessions_ended
            ));
            render(page, StatusCode::OK)
        }
        Ok(PasswordChange::WrongCurrent) => {
            page.current_errors.push(WRONG_CURRENT_PASSWORD.into());
            render(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Ok(PasswordChange::Locked { minutes }) => {
            let outcome = LoginOutcome::Locked { minutes };
            let refusal = login_refusal(&outcome);
            page.error = Some(refusal.message);
            with_retry_after(render(page, refusal.status), &outcome)
        }
        Err(store::StoreError::Invalid { details, .. }) => {
            for d in details {
                match d.field.as_str() {
                    "current_password" => page.current_errors.push(d.message),
                    _ => page.new_errors.push(d.message),
                }
            }
            render(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

/// An audit entry as the page shows it.
struct AuditRow {
    id: i64,
    at: String,
    username: String,
    action: String,
    action_name: &'static str,
    entity: String,
    entity_name: &'static str,
    entity_id: String,
    detail: String,
    before: String,
    after: String,
}

pub fn action_name(action: &str) -> &'static str {
    match action {
        "create" => "新增",
        "update" => "修改",
        "delete" => "删除",
        "import" => "导入",
        "export" => "导出",
        "reveal" => "查看完整信息",
        "login" => "登录",
        "login_failed" => "登录失败",
        "login_locked" => "锁定期间尝试登录",
        "login_refused" => "登录被拒绝",
        "logout" => "退出登录",
        "disable" => "停用",
        "enable" => "启用",
        "set_password" => "修改密码",
        "event" => "动态调整",
        "revoke" => "吊销",
        store::audit::CLASH_ACTION => "管辖范围外身份冲突",
        store::audit::CLASH_CLEAR_ACTION => "解除身份冲突暂停",
        _ => "",
    }
}

pub fn entity_name(entity: &str) -> &'static str {
    match entity {
        "user" => "用户",
        "api_token" => "访问令牌",
        "organisation" => "机构",
        "pairing" => "对口关系",
        "region" => "区划",
        "household" | "households" => "户",
        "member" | "members" => "家庭成员",
        "project" => "项目",
        "transaction" => "资金往来",
        "identity_clash" => "身份冲突",
        _ => "",
    }
}

impl From<AuditEntry> for AuditRow {
    fn from(e: AuditEntry) -> AuditRow {
        AuditRow {
            id: e.id,
            at: e.at.replace('T', " ").trim_end_matches('Z').to_string(),
            action_name: action_name(&e.action),
            entity_name: entity_name(&e.entity),
            username: e.username,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id.unwrap_or_default(),
            detail: e.detail,
            before: e.before_json.unwrap_or_default(),
            after: e.after_json.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    user: String,
    entity: String,
    entity_id: String,
    action: String,
    from: String,
    until: String,
    error: Option<String>,
    items: Vec<AuditRow>,
    next_link: Option<String>,
    /// Users refused imports and household writes for their identity clashes.
    blocked: Vec<store::audit::BlockedUser>,
    /// The newest identity clashes.
    clashes: Vec<AuditRow>,
    /// Administrators clear blocks; auditors only see them.
    can_clear: bool,
}

/// Identity clashes listed above the log.
const CLASHES_SHOWN: i64 = 20;

const AUDIT_PAGE_SIZE: i64 = 100;

async fn audit_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<AuditQuery>,
) -> Response {
    let field = |s: &Option<String>| s.as_deref().unwrap_or("").trim().to_string();
    let query_string = format!(
        "user={}&entity={}&entity_id={}&action={}&from={}&until={}",
        urlencode(&field(&q.user)),
        urlencode(&field(&q.entity)),
        urlencode(&field(&q.entity_id)),
        urlencode(&field(&q.action)),
        urlencode(&field(&q.from)),
        urlencode(&field(&q.until))
    );
    if !caller.is_authenticated() {
        let filtered = [
            &q.user,
            &q.entity,
            &q.entity_id,
            &q.action,
            &q.from,
            &q.until,
        ]
        .iter()
        .any(|f| !field(f).is_empty());
        return login_redirect(&if filtered {
            format!("/audit?{query_string}")
        } else {
            "/audit".to_string()
        });
    }
    if !caller.can_read_audit() {
        return PageError(ApiError::forbidden(
            "只有市级管理员和审计人员可以查看审计日志",
        ))
        .into_response();
    }
    let mut page = AuditPage {
        user: field(&q.user),
        entity: field(&q.entity),
        entity_id: field(&q.entity_id),
        action: field(&q.action),
        from: field(&q.from),
        until: field(&q.until),
        error: None,
        items: Vec::new(),
        next_link: None,
        blocked: Vec::new(),
        clashes: Vec::new(),
        can_clear: caller.is_admin(),
    };
    match (
        state.db.blocked_users(&caller).await,
        state
            .db
            .identity_clashes(&caller, None, CLASHES_SHOWN)
            .await,
    ) {
        (Ok(blocked), Ok(clashes)) => {
            page.blocked = blocked;
            page.clashes = clashes.into_iter().map(AuditRow::from).collect();
        }
        (Err(e), _) | (_, Err(e)) => return PageError::from(e).into_response(),
    }
    let filter = match audit_filter(&q) {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(
                e.details
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("；"),
            );
            return render(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let paging = match Paging::parse(Some(&AUDIT_PAGE_SIZE.to_string()), q.cursor.as_deref()) {
        Ok(p) => p,
        Err(e) => return PageError(e).into_response(),
    };
    let items = match state
        .db
        .list_audit(&filter, paging.after, paging.fetch_limit())
        .await
    {
        Ok(items) => items,
        Err(e) => return PageError::from(e).into_response(),
    };
    let listed = paging.page(items, |e| e.id);
    page.next_link = listed
        .next_cursor
        .map(|c| format!("/audit?{query_string}&cursor={c}"));
    page.items = listed.items.into_iter().map(AuditRow::from).collect();
    render(page, StatusCode::OK)
}

/// The administrator's "解除" on the audit page: lifts a user's identity-clash block.
async fn clear_identity_clashes(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    axum::extract::Path(username): axum::extract::Path<String>,
) -> Response {
    match state.db.clear_identity_clashes(&caller, &username).await {
        Ok(()) => Redirect::to("/audit").into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert!(safe_next("/pairings?region=4416"));
        assert!(!safe_next("//evil.example/"));
        assert!(!safe_next("https://evil.example/"));
        assert!(!safe_next("/\\evil.example"));
        assert!(!safe_next("/login?next=/login"));
    }
}
