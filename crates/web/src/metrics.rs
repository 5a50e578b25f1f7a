//! `/metrics` for the operator, in the OpenMetrics text format that Prometheus scrapes: requests
//! by route family and status class, their latency, the database pool, rows read by imports,
//! background jobs running and the process's memory.
//!
//! Labels hold only the matched route template (`/api/v1/households/{id}`), never the path as
//! sent, so no id, name or ID number reaches a label or a time series.
//!
//! Two doors: on the main address for administrators' and auditors' tokens or sessions
//! (`routes`), and without login on the separate metrics address (`metrics_only_router`), which
//! the command line binds to loopback unless told otherwise.

use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;
use store::Db;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Requests no route matched (unknown paths): one family, whatever was asked.
const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
}

/// Work that goes on after the request that started it has been answered.
#[derive(Debug, Clone, Copy)]
pub enum Job {
    /// An assessment run started with `wait=false`.
    Assessment,
    /// A CSV export streaming to its client.
    Export,
}

impl Job {
    fn label(self) -> &'static str {
        match self {
            Job::Assessment => "assessment",
            Job::Export => "export",
        }
    }
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The process's metrics, shared by every request (`AppState::metrics`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    in_flight: Gauge,
    jobs: Family<JobLabels, Gauge>,
}

impl Metrics {
    pub fn new(db: Db) -> Metrics {
        let mut registry = Registry::with_prefix("bangfu");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status class",
            requests.clone(),
        );
        // 1 ms to about 33 s, doubling: a page, an API read, a large import or export.
        let latency = LatencyFamily::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time until the response head, by method and route template",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        for job in [Job::Assessment, Job::Export] {
            // Present at 0 before the first one, so a dashboard has a series to show.
            let _ = jobs.get_or_create(&JobLabels { kind: job.label() });
        }
        registry.register(
            "background_jobs",
            "Background jobs running in this process, by kind",
            jobs.clone(),
        );
        registry.register_collector(Box::new(StoreCollector { db }));
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            jobs,
        }
    }

    /// Counts a background job as running until the returned guard is dropped.
    pub fn job(&self, job: Job) -> JobRunning {
        let gauge = self
            .jobs
            .get_or_create(&JobLabels { kind: job.label() })
            .clone();
        gauge.inc();
        JobRunning(gauge)
    }

    fn render(&self) -> Response {
        let mut body = String::new();
        match prometheus_client::encoding::text::encode(&mut body, &self.registry) {
            Ok(()) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
                body,
            )
                .into_response(),
            Err(_) => ApiError::internal("运行指标编码失败").into_response(),
        }
    }
}

/// A background job counted as running (see `Metrics::job`).
pub struct JobRunning(Gauge);

impl Drop for JobRunning {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the store holds and has done, read at each scrape.
#[derive(Debug)]
struct StoreCollector {
    db: Db,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pool = self.db.pool_stats();
        let gauges: [(&str, &str, u32); 4] = [
            (
                "db_pool_connections",
                "Database connections open (idle and in use)",
                pool.size,
            ),
            (
                "db_pool_idle_connections",
                "Database connections open and idle",
                pool.idle,
            ),
            (
                "db_pool_in_use_connections",
                "Database connections in use",
                pool.in_use(),
            ),
            (
                "db_pool_max_connections",
                "Most database connections the pool opens",
                pool.max,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::from(value));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let mut family = encoder.encode_descriptor(
            "import_rows",
            "Rows read and checked by file imports since the process started, by kind",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (kind, rows) in store::activity::import_rows() {
            let labels = [("kind", kind.label())];
            ConstCounter::new(rows).encode(family.encode_family(&labels)?)?;
        }
        if let Some(bytes) = resident_bytes() {
            let gauge = ConstGauge::new(bytes);
            let metric = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory of the server process",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// The process's resident set size (Linux: `/proc/self/statm`, in pages of 4 KiB on the
/// platforms served); None elsewhere.
fn resident_bytes() -> Option<i64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware around every route: counts and times the request under its route template, and
/// logs it (method, template, status, milliseconds: never the path or query as sent, which may
/// name a person) at debug level under the target `bangfu::access`.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.to_string());
    let method = method_label(req.method());
    let metrics = state.metrics.clone();
    metrics.in_flight.inc();
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    metrics.in_flight.dec();
    let status = response.status();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    tracing::debug!(
        target: "bangfu::access",
        method,
        route = %route,
        status = status.as_u16(),
        ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: status_class(status),
        })
        .inc();
    response
}

/// `/metrics` on the main address: administrators and auditors only.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(for_caller))
}

async fn for_caller(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Response {
    if !caller.is_authenticated() {
        let mut response =
            ApiError::unauthorized("请先登录（或使用访问令牌）再查看运行指标").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if !caller.can_read_metrics() {
        return ApiError::forbidden("只有系统管理员和审计人员可以查看运行指标").into_response();
    }
    state.metrics.render()
}

/// The separate metrics address: `/metrics` without login and nothing else. Whoever can reach
/// that address reads the counts, so the command line binds it to loopback by default.
pub fn metrics_only_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(open))
        .fallback(|| async {
            ApiError::not_found("此地址只提供运行指标：/metrics").into_response()
        })
        .with_state(state)
}

async fn open(State(state): State<AppState>) -> Response {
    state.metrics.render()
}
