//! Who is calling, resolved once per request by the `guard` middleware that wraps every route:
//!
//! 1. `Authorization: Bearer TOKEN` (programs), else the `bangfu_session` cookie (people), else
//!    the public. A bad bearer token is refused (401) rather than treated as the public, so a
//!    program learns that its token is wrong; an ended session simply falls back to the public.
//! 2. Every state-changing request (anything but GET/HEAD/OPTIONS) is checked here, before any
//!    handler runs, so handlers added later are covered without doing anything:
//!    - CSRF: unless it carries a bearer token, a request whose `Origin` (or, without one,
//!      `Sec-Fetch-Site`) names another site is refused (403);
//!    - the public gets 401 (JSON under /api/, a redirect to /login for pages), a read-only
//!      caller (auditor) 403. The login and logout endpoints are exempt from this step only;
//!      changing one's own password is exempt from the read-only refusal only.
//! 3. The resolved `Caller` goes into the request extensions, where the `CurrentCaller`
//!    extractor (crate::scope) finds it, and into a task-local for the page header.
//!
//! Role- and scope-specific rules (a county cadre may write only in its county…) are the
//! store's and the handlers' business; this layer only guarantees that nobody anonymous or
//! read-only changes anything.

pub mod api;
pub mod pages;

use crate::AppState;
use crate::error::{ApiError, PageError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::{Caller, Role};
use std::sync::OnceLock;

pub const SESSION_COOKIE: &str = "bangfu_session";

/// Settings read once: from the environment, or as the command line resolved them (`configure`).
pub struct AuthConfig {
    /// BANGFU_SESSION_IDLE_MINUTES (default 30).
    pub idle_seconds: i64,
    /// BANGFU_SECURE_COOKIES=1: always mark the cookie Secure (behind a TLS proxy that does
    /// not send X-Forwarded-Proto).
    pub secure_cookies: bool,
    /// BANGFU_ALLOWED_ORIGINS: further origins (comma-separated, e.g. `https://bangfu.example`)
    /// whose state-changing requests are accepted, for proxies that rewrite the Host header.
    pub allowed_origins: Vec<String>,
}

static CONFIG: OnceLock<AuthConfig> = OnceLock::new();

pub fn config() -> &'static AuthConfig {
    CONFIG.get_or_init(|| AuthConfig::from_lookup(|k| std::env::var(k).ok()))
}

/// Sets the settings from `get` (a `BANGFU_…` name to its value) before the server answers
/// anything; without it they are read from the environment.
pub fn configure(get: impl Fn(&str) -> Option<String>) {
    let _ = CONFIG.set(AuthConfig::from_lookup(get));
}

impl AuthConfig {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> AuthConfig {
        let idle = get("BANGFU_SESSION_IDLE_MINUTES");
        let minutes = domain::auth::parse_idle_minutes(idle.as_deref()).unwrap_or_else(|e| {
            tracing::warn!(
                "{e}；使用默认值 {} 分钟",
                domain::auth::DEFAULT_IDLE_MINUTES
            );
            domain::auth::DEFAULT_IDLE_MINUTES
        });
        let secure = get("BANGFU_SECURE_COOKIES")
            .map(|v| matches!(v.trim(), "1" | "true" | "yes"))
            .unwrap_or(false);
        let allowed_origins = get("BANGFU_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        AuthConfig {
            idle_seconds: minutes * 60,
            secure_cookies: secure,
            allowed_origins,
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Bearer,
    Session,
    None,
}

/// The resolved caller and how, as stored in the request extensions.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub caller: Caller,
    pub method: AuthMethod,
}

tokio::task_local! {
    static CURRENT: Resolved;
    /// The database holds generated demo data: every page says 演示数据.
    static DEMO: bool;
}

/// Whether the page header shows the 演示数据 banner.
pub fn nav_demo() -> bool {
    DEMO.try_with(|d| *d).unwrap_or(false)
}

/// Downloads of demo data say so in their file name (演示数据-…), without touching the
/// file's contents, which must stay importable.
fn mark_demo_download(headers: &mut HeaderMap) {
    let Some(value) = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let Some(name) = value
        .split("filename=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    else {
        return;
    };
    // RFC 6266/5987: an ASCII fallback and the UTF-8 name, percent-encoded.
    let utf8: String = format!("演示数据-{name}")
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let marked = format!("attachment; filename=\"demo-{name}\"; filename*=UTF-8''{utf8}");
    if let Ok(v) = HeaderValue::from_str(&marked) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
}

/// The logged-in user's name for the page header, or None for the public.
pub fn nav_username() -> Option<String> {
    CURRENT
        .try_with(|r| {
            r.caller
                .is_authenticated()
                .then(|| r.caller.username.clone())
        })
        .ok()
        .flatten()
}

/// The logged-in user's role in Chinese, for the page header.
pub fn nav_role() -> &'static str {
    CURRENT
        .try_with(|r| r.caller.role.name_zh())
        .unwrap_or(Role::Public.name_zh())
}

/// Whether the page header offers the audit log.
pub fn nav_can_audit() -> bool {
    CURRENT
        .try_with(|r| r.caller.can_read_audit())
        .unwrap_or(false)
}

pub fn routes() -> Router<AppState> {
    Router::new().merge(api::routes()).merge(pages::routes())
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Login and logout must work for callers who are not (or no longer) logged in.
fn exempt_from_login(method: &Method, path: &str) -> bool {
    matches!(
        (method.as_str(), path),
        ("POST", "/login") | ("POST", "/logout") | ("POST" | "DELETE", "/api/v1/session")
    )
}

/// A read-only account (an auditor) still changes its own password: the one write that is
/// about the account itself, not about the records.
fn exempt_from_read_only(method: &Method, path: &str) -> bool {
    matches!(
        (method.as_str(), path),
        ("PUT", PASSWORD_API) | ("POST", PASSWORD_PAGE)
    )
}

pub const PASSWORD_API: &str = "/api/v1/session/password";
pub const PASSWORD_PAGE: &str = "/account/password";

pub fn is_https(headers: &HeaderMap) -> bool {
    config().secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("https")
            })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS. No
/// Max-Age: the browser forgets it when closed; the server ends it when idle or old.
pub fn session_cookie(token: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .expect("hex token is a valid header value")
}

pub fn clear_session_cookie(headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"
    ))
    .expect("valid header value")
}

/// The host (and port) this request was addressed to, as the browser saw it.
fn request_host(req: &Request) -> Option<String> {
    let h = req.headers();
    h.get("x-forwarded-host")
        .or_else(|| h.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .or_else(|| {
            req.uri()
                .authority()
                .map(|a| a.as_str().to_ascii_lowercase())
        })
        .filter(|s| !s.is_empty())
}

/// True when the request evidently comes from a page of another site.
fn foreign_origin(req: &Request) -> bool {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if config().allowed_origins.contains(&origin) {
            return false;
        }
        // "null" (sandboxed frames, file: pages) and anything unparsable are foreign.
        let Some((scheme, host)) = origin.split_once("://") else {
            return true;
        };
        if !matches!(scheme, "http" | "https") {
            return true;
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let strip = |h: &str| {
            h.strip_suffix(default_port)
                .map(str::to_string)
                .unwrap_or_else(|| h.to_string())
        };
        return match request_host(req) {
            Some(own) => strip(host) != strip(&own),
            None => true,
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `same-site` is another origin of the same site (a sibling subdomain): still foreign.
        Some(site) => !matches!(site.trim(), "same-origin" | "none"),
        // Neither header: not a modern browser's cross-site request (SameSite=Strict covers
        // old ones), e.g. a script with its own cookie jar.
        None => false,
    }
}

/// Answers for programs, in JSON: the API and the metrics (read by scrapers); pages otherwise.
pub(crate) fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

fn refuse(path: &str, status: StatusCode, code: &'static str, message: &str) -> Response {
    let e = ApiError::new(status, code, message);
    if is_api(path) {
        e.into_response()
    } else {
        PageError(e).into_response()
    }
}

/// Where to send the public when a page needs a login.
pub fn login_redirect(path_and_query: &str) -> Response {
    let next = if pages::safe_next(path_and_query) {
        path_and_query
    } else {
        "/"
    };
    Redirect::to(&format!("/login?next={}", pages::urlencode(next))).into_response()
}

/// Resolves the caller; Err is the response for a bad bearer token.
async fn resolve(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Resolved, Response> {
    if let Some(token) = bearer_token(headers) {
        return match state.db.token_caller(token).await {
            Ok(Some(caller)) => Ok(Resolved {
                caller,
                method: AuthMethod::Bearer,
            }),
            Ok(None) => {
                let mut r = refuse(
                    path,
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "访问令牌无效、已过期或已吊销",
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(r)
            }
            Err(e) => Err(refuse_store(path, e)),
        };
    }
    if let Some(token) = session_token(headers) {
        match state.db.session_caller(&token, config().idle_seconds).await {
            Ok(Some(caller)) => {
                return Ok(Resolved {
                    caller,
                    method: AuthMethod::Session,
                });
            }
            Ok(None) => {}
            Err(e) => return Err(refuse_store(path, e)),
        }
    }
    Ok(Resolved {
        caller: Caller::public(),
        method: AuthMethod::None,
    })
}

fn refuse_store(path: &str, e: store::StoreError) -> Response {
    let e = ApiError::from(e);
    if is_api(path) {
        e.into_response()
    } else {
        PageError(e).into_response()
    }
}

/// The middleware wrapped around every route (see the module documentation).
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let https = is_https(req.headers());
    let had_cookie = session_token(req.headers()).is_some();
    let headers = req.headers().clone();
    let resolved = match resolve(&state, &headers, &path).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let method = req.method().clone();
    if is_state_changing(&method) {
        if resolved.method != AuthMethod::Bearer && foreign_origin(&req) {
            // The route template, not the path as sent (crate::metrics).
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            tracing::warn!(route = %route, user = %resolved.caller.username, "cross-origin state-changing request refused");
            return refuse(
                &path,
                StatusCode::FORBIDDEN,
                "csrf",
                "拒绝来自其他网站的修改请求（跨站请求伪造防护）",
            );
        }
        if !exempt_from_login(&method, &path) {
            if !resolved.caller.is_authenticated() {
                if is_api(&path) {
                    return ApiError::unauthorized("请先登录（或使用访问令牌）再进行修改")
                        .into_response();
                }
                return login_redirect(&path);
            }
            if let Some(why) = resolved
                .caller
                .write_refusal()
                .filter(|_| !exempt_from_read_only(&method, &path))
            {
                return refuse(&path, StatusCode::FORBIDDEN, "read_only", why);
            }
        }
    }
    let ended_session = had_cookie && resolved.method == AuthMethod::None;
    req.extensions_mut().insert(resolved.clone());
    // Pages read the demo marker for their banner; JSON answers do not need it.
    let demo_page = !is_api(&path) && state.db.is_demo().await.unwrap_or(false);
    let mut response = DEMO
        .scope(demo_page, CURRENT.scope(resolved, next.run(req)))
        .await;
    // A page's answer already says whether the database is a demo; only API downloads ask.
    if response.headers().contains_key(header::CONTENT_DISPOSITION)
        && (demo_page || (is_api(&path) && state.db.is_demo().await.unwrap_or(false)))
    {
        mark_demo_download(response.headers_mut());
    }
    let headers = response.headers_mut();
    if ended_session && !headers.contains_key(header::SET_COOKIE) {
        // The cookie names a session that has ended: have the browser drop it.
        let value = format!(
            "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
            if https { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) && resolved_is_private(&path) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Responses that depend on who asked are not to be cached by shared caches.
fn resolved_is_private(path: &str) -> bool {
    !path.starts_with("/static/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder()
            .method("POST")
            .uri("/api/v1/organisations");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        assert!(!foreign_origin(&req(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(foreign_origin(&req(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(foreign_origin(&req(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!foreign_origin(&req(&[
            ("host", "bangfu.example"),
            ("origin", "https://bangfu.example:443")
        ])));
        assert!(!foreign_origin(&req(&[
            ("host", "backend:8080"),
            ("x-forwarded-host", "bangfu.example"),
            ("origin", "https://bangfu.example")
        ])));
    }

    #[test]
    fn without_origin_sec_fetch_site_decides() {
        assert!(foreign_origin(&req(&[
            ("host", "a"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(foreign_origin(&req(&[
            ("host", "a"),
            ("sec-fetch-site", "same-site")
        ])));
        assert!(!foreign_origin(&req(&[
            ("host", "a"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!foreign_origin(&req(&[("host", "a")])));
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; bangfu_session=abc123; x=1"),
        );
        assert_eq!(session_token(&h).as_deref(), Some("abc123"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  bft_xyz "),
        );
        assert_eq!(bearer_token(&h), Some("bft_xyz"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        assert_eq!(bearer_token(&h), None);
    }
}
