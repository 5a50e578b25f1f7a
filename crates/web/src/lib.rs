//! Bangfu's web layer: the JSON API under `/api/v1`, Chinese HTML pages, and static assets.
//! Handlers are thin: they parse, resolve the caller's scope, call the store, and render.

mod api;
mod assets;
mod auth;
mod error;
pub mod metrics;
mod pages;
mod scope;
pub mod upload;

use axum::Router;
use axum::http::{HeaderValue, header};
use std::net::SocketAddr;
use std::sync::Arc;
use store::Db;
use tower_http::set_header::SetResponseHeaderLayer;

pub use auth::configure as configure_auth;
pub use error::{ApiError, PageError};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Upload limits and parse permits (crate::upload).
    pub uploads: upload::Uploads,
    /// Request counts and timings, background jobs (crate::metrics).
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    pub fn new(db: Db, limits: store::tabular::ReadLimits) -> AppState {
        AppState {
            metrics: Arc::new(metrics::Metrics::new(db.clone())),
            db,
            uploads: upload::Uploads::new(limits),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(assets::routes())
        .merge(auth::routes())
        .merge(metrics::routes())
        // Resolves the caller and refuses anonymous, read-only and cross-site writes (crate::auth).
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                // base-uri and form-action do not fall back to default-src: without them an
                // injected <base> or <form action> could send a page's links or submitted
                // passwords to another site. object-src is stated so that plugins stay off
                // whatever default-src becomes.
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                 base-uri 'self'; form-action 'self'; object-src 'none'",
            ),
        ))
        // Outermost, so that every answer is counted, the refusals of the layers above too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state)
}

/// Bytes a form body (`application/x-www-form-urlencoded`) may have: axum's own default limit
/// for `Form`, applied here because the body is read before any handler.
const FORM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A NUL character (`%00`) in a query parameter or a submitted form is no text anyone types, and
/// PostgreSQL refuses it in text values while SQLite would store it: it is turned away here, at
/// one door for every route, with a 400. (JSON bodies are checked by `ApiJson`; uploaded files
/// are binary and go through their own readers.)
async fn refuse_nul(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let has_nul = |bytes: &[u8]| {
        bytes.contains(&0) || bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    let respond = |path: &str, error: ApiError| {
        if auth::is_api(path) {
            error.into_response()
        } else {
            PageError(error).into_response()
        }
    };
    if req.uri().query().is_some_and(|q| has_nul(q.as_bytes())) {
        let error = ApiError::bad_request("查询参数不能包含空字符（%00）");
        return respond(req.uri().path(), error);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let error = ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("提交的表单超过上限：最大 {} 字节", FORM_BODY_LIMIT),
            );
            return respond(&path, error);
        }
    };
    if has_nul(&bytes) {
        return respond(
            &path,
            ApiError::bad_request("提交的内容不能包含空字符（%00）"),
        );
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests under way and stops (and marks
/// interrupted) the background assessment runs.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    serve_until(listener, state, shutdown_signal()).await
}

/// Serves until `shutdown` resolves; in-flight requests finish first, then the background
/// assessment runs of this process are stopped and marked interrupted.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let db = state.db.clone();
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    api::assessment::interrupt_background_runs(&db).await;
    served
}

/// Serves `/metrics` without login on its own address (see crate::metrics) until the task
/// running it is ended (the main server's shutdown does).
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> std::io::Result<()> {
    axum::serve(listener, metrics::metrics_only_router(state)).await
}

/// Resolves at the first Ctrl-C or SIGTERM after this call. The handlers are installed here,
/// not when the future is first polled, so a signal sent as soon as the server says it has
/// started is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(interrupt) => {}, _ = wait(terminate) => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
