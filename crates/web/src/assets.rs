//! Static assets embedded in the binary: Apache ECharts and the China map GeoJSON (fetched
//! through npm by build.rs, pinned in assets/package-lock.json) under versioned URLs that
//! browsers keep for a year, and the dashboard's own script and style sheet (revalidated by
//! ETag, since they change with the binary).

use crate::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;

pub const ECHARTS_VERSION: &str = env!("BANGFU_ECHARTS_VERSION");
pub const MAPS_VERSION: &str = env!("BANGFU_MAPS_VERSION");

static ECHARTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/assets/echarts.min.js"));
static ECHARTS_LICENSE: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/assets/echarts.LICENSE.txt"));
static CHINA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/assets/china.json"));
static PROVINCES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/province_maps.rs"));

static DASHBOARD_JS: &str = include_str!("../static/dashboard.js");
static DASHBOARD_CSS: &str = include_str!("../static/dashboard.css");
static EXIT_MAP_JS: &str = include_str!("../static/exit_map.js");

/// `/static/vendor/echarts-5.6.0.min.js`
pub static ECHARTS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/static/vendor/echarts-{ECHARTS_VERSION}.min.js"));
/// `/static/maps/4.9.0/` + `china.json` or `province/45.json`
pub static MAPS_URL: LazyLock<String> = LazyLock::new(|| format!("/static/maps/{MAPS_VERSION}/"));

const YEAR: &str = "public, max-age=31536000, immutable";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/vendor/{file}", get(vendor))
        .route("/static/maps/{version}/china.json", get(china))
        .route("/static/maps/{version}/province/{file}", get(province))
        .route("/static/dashboard.js", get(js))
        .route("/static/dashboard.css", get(css))
        .route("/static/exit_map.js", get(exit_map_js))
        .route("/favicon.ico", get(favicon))
}

/// Browsers ask for /favicon.ico on every site; a 404 there is a console error on every page.
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        include_bytes!("../static/favicon.png").as_slice(),
    )
        .into_response()
}

fn immutable(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(YEAR)),
        ],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "没有这个文件").into_response()
}

async fn vendor(Path(file): Path<String>) -> Response {
    if file == format!("echarts-{ECHARTS_VERSION}.min.js") {
        immutable("text/javascript; charset=utf-8", ECHARTS)
    } else if file == format!("echarts-{ECHARTS_VERSION}.LICENSE.txt") {
        immutable("text/plain; charset=utf-8", ECHARTS_LICENSE)
    } else {
        not_found()
    }
}

async fn china(Path(version): Path<String>) -> Response {
    if version != MAPS_VERSION {
        return not_found();
    }
    immutable("application/json", CHINA)
}

async fn province(Path((version, file)): Path<(String, String)>) -> Response {
    let code = file.strip_suffix(".json").unwrap_or("");
    match PROVINCES.iter().find(|(c, _)| *c == code) {
        Some((_, body)) if version == MAPS_VERSION => immutable("application/json", body),
        _ => not_found(),
    }
}

/// A weak ETag from the content (FNV-1a), computed once per file.
fn etag_of(body: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("W/\"{h:016x}\"")
}

fn revalidated(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static str,
    etag: &str,
) -> Response {
    let etag_value = HeaderValue::from_str(etag).expect("hex etag");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::ETAG, etag_value),
        ],
        body,
    )
        .into_response()
}

async fn js(headers: HeaderMap) -> Response {
    static ETAG: LazyLock<String> = LazyLock::new(|| etag_of(DASHBOARD_JS));
    revalidated(
        &headers,
        "text/javascript; charset=utf-8",
        DASHBOARD_JS,
        &ETAG,
    )
}

async fn css(headers: HeaderMap) -> Response {
    static ETAG: LazyLock<String> = LazyLock::new(|| etag_of(DASHBOARD_CSS));
    revalidated(&headers, "text/css; charset=utf-8", DASHBOARD_CSS, &ETAG)
}

async fn exit_map_js(headers: HeaderMap) -> Response {
    static ETAG: LazyLock<String> = LazyLock::new(|| etag_of(EXIT_MAP_JS));
    revalidated(
        &headers,
        "text/javascript; charset=utf-8",
        EXIT_MAP_JS,
        &ETAG,
    )
}
