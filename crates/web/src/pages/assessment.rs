//! Pages of exit assessment and monitoring, server-rendered, usable on a phone, no scripts:
//!
//! - `/assessment`: start a run (it executes in the background) and the recent runs;
//!   `/assessment/runs/{id}`: its progress (the page refreshes itself with a meta tag until the
//!   run ends) and its summary;
//! - `/assessment/progress`: exit progress by county (or by village of one county): a table and
//!   a server-rendered SVG bar chart of incidence against each threshold; for counties also a
//!   map (the dashboard's ECharts and map files, the one page here with a script) coloured by
//!   incidence per province, or per prefecture within one province;
//! - `/assessment/publicity`: a village's 公示 list, printable on A4 (names, never ID numbers);
//! - `/assessment/rules`: the rules in force and their versions; administrators edit them here;
//! - `/assessment/visits-import`: a visits file (CSV/XLSX), all or nothing;
//! - `/households/{id}/assessment`: a household's decisions, every criterion with its figures
//!   and rule version, and its exit procedure with the form for the next step;
//! - `/households/{id}/monitoring`: visits, rigid expenses, shocks and cases, with their forms;
//! - `/monitoring`, `/monitoring/{id}`: the work list by risk, a case with its measures and the
//!   risk elimination check.
//!
//! Forms post here and redirect (303) on success; a refusal shows the problems (422).

use crate::AppState;
use crate::api::assessment::{
    case_filter, merged_rules, review_from, run_progress, start_background,
};
use crate::error::{ApiError, PageError, escape};
use crate::pages::format::ShowMoney as _;
use crate::scope::CurrentCaller;
use crate::upload::{self, UploadKind};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::Caller;
use domain::assessment::{Criterion, VisitInput};
use domain::{RegionCode, RegionLevel};
use serde::Deserialize;
use store::assessment::{
    AreaResult, AssessmentRun, ExitProcedure, PublicityList, RuleVersion, RuleVersionInfo,
    StoredDecision, StoredReview,
};
use store::monitoring::{
    EliminationProcedure, MonitoringCase, MonitoringRecords, NewCase, NewCaseMeasure,
    NewEliminationStep, NewExpense, NewShock,
};
use store::registry::MEASURE_TYPES;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/assess.css", get(css))
        .route("/assessment", get(index))
        .route("/assessment/runs", post(start_run))
        .route("/assessment/runs/{id}", get(run_page))
        .route("/assessment/progress", get(progress_page))
        .route("/assessment/reviews", post(review_form))
        .route("/assessment/publicity", get(publicity_page))
        .route("/assessment/rules", get(rules_page).post(rules_save))
        .route(
            "/assessment/visits-import",
            get(import_page)
                .post(import_upload)
                .layer(upload::body_limit()),
        )
        .route("/households/{id}/assessment", get(household_page))
        .route("/households/{id}/exit-procedure", post(step_form))
        .route("/households/{id}/monitoring", get(records_page))
        .route("/households/{id}/visits", post(visit_form))
        .route("/households/{id}/expenses", post(expense_form))
        .route("/households/{id}/shocks", post(shock_form))
        .route("/households/{id}/monitoring-cases", post(case_form))
        .route("/expenses/{id}/resolve", post(resolve_form))
        .route("/monitoring", get(monitoring_page))
        .route("/monitoring/{id}", get(case_page))
        .route("/monitoring/{id}/measures", post(measure_form))
        .route(
            "/monitoring/{id}/elimination-procedure",
            post(elimination_step_form),
        )
}

type PageResult = Result<Response, PageError>;

fn render(t: impl Template) -> PageResult {
    Ok(Html(t.render().map_err(ApiError::from)?).into_response())
}

fn see_other(to: &str) -> PageResult {
    Ok(Redirect::to(to).into_response())
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/assess.css"),
    )
}

/// The public is sent to the login page rather than shown a refusal.
fn login_first(caller: &Caller, uri: &Uri) -> Option<Response> {
    (!caller.is_authenticated()).then(|| {
        crate::auth::login_redirect(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
    })
}

fn page_id(s: &str, what: &str) -> Result<i64, PageError> {
    s.parse()
        .map_err(|_| PageError(ApiError::not_found(format!("{what} {s} 不存在"))))
}

fn parse_year(s: Option<&str>) -> Result<Option<i64>, PageError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(y) => y
            .parse()
            .map(Some)
            .map_err(|_| PageError(ApiError::invalid_field("year", "年度应为整数"))),
    }
}

fn parse_region(s: Option<&str>, field: &str) -> Result<Option<RegionCode>, PageError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(r) => RegionCode::parse(r)
            .map(Some)
            .map_err(|e| PageError(ApiError::invalid_field(field, e.to_string()))),
    }
}

fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn status_name(code: &str) -> &'static str {
    domain::poverty_status::PovertyStatus::from_code(code)
        .map_or("", domain::poverty_status::PovertyStatus::name)
}

// ---------------------------------------------------------------------------------------------
// Runs.

#[derive(Template)]
#[template(path = "assess_index.html")]
struct IndexPage {
    runs: Vec<AssessmentRun>,
    year: i64,
    can_run: bool,
}

async fn index(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let runs = state.db.assessment_runs(&caller, 20).await?;
    let year = runs
        .first()
        .map(|r| r.year)
        .unwrap_or(store::current_year() - 1);
    render(IndexPage {
        runs,
        year,
        can_run: caller.can_write_registry(),
    })
}

#[derive(Deserialize)]
struct RunForm {
    year: Option<String>,
    region: Option<String>,
}

async fn start_run(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Form(f): Form<RunForm>,
) -> PageResult {
    let year = parse_year(f.year.as_deref())?
        .ok_or_else(|| PageError(ApiError::invalid_field("year", "请填写评估年度")))?;
    let region = parse_region(f.region.as_deref(), "region")?;
    let run = start_background(&state, &caller, year, region).await?;
    see_other(&format!("/assessment/runs/{}", run.id))
}

#[derive(Template)]
#[template(path = "assess_run.html")]
struct RunPage {
    run: AssessmentRun,
    running: bool,
    /// Running in another process (the command line), whose progress is not known here.
    elsewhere: bool,
    /// Ended without result (interrupted or failed): the form to run the same year again.
    can_rerun: bool,
    done: u64,
    total: u64,
    rows: Vec<(String, String, bool)>,
}

/// The summary as (label, value, indented) rows, the same as the command line prints.
fn summary_rows(run: &AssessmentRun) -> Vec<(String, String, bool)> {
    let Some(s) = &run.summary else {
        return Vec::new();
    };
    let mut rows = vec![
        ("评估户数".to_string(), grouped(s.assessed), false),
        ("其中未脱贫或返贫".into(), grouped(s.poor_assessed), true),
        ("可以退出".into(), grouped(s.may_exit), false),
        (
            "其中未脱贫或返贫（可启动退出程序）".into(),
            grouped(s.may_exit_poor),
            true,
        ),
        ("不能退出".into(), grouped(s.may_not_exit), false),
    ];
    for f in &s.failing {
        rows.push((format!("未达到：{}", f.name), grouped(f.count), true));
    }
    let missing = |n: i64| {
        if n > 0 {
            format!("（{n} 个缺少农业户籍人口）")
        } else {
            String::new()
        }
    };
    rows.push((
        "村：达到贫困发生率标准".into(),
        format!(
            "{} / {}{}",
            grouped(s.villages_passed),
            grouped(s.villages),
            missing(s.villages_without_population)
        ),
        false,
    ));
    rows.push((
        "县：达到贫困发生率标准".into(),
        if s.counties_assessed {
            format!(
                "{} / {}{}",
                grouped(s.counties_passed),
                grouped(s.counties),
                missing(s.counties_without_population)
            )
        } else {
            "未判定（按乡镇或村评估）".into()
        },
        false,
    ));
    rows.push(("防返贫监测对象（本次筛查）".into(), String::new(), false));
    if s.not_registered > 0 {
        rows.push((
            "筛查一般农户（未建档立卡，不参加退出评估）".into(),
            grouped(s.not_registered),
            true,
        ));
    }
    for c in &s.candidates {
        rows.push((c.name.clone(), grouped(c.count), true));
    }
    rows.push(("新纳入监测".into(), grouped(s.new_cases), true));
    rows.push((
        "用时".into(),
        format!("{:.1} 秒", s.elapsed_ms as f64 / 1000.0),
        false,
    ));
    rows
}

async fn run_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let id = page_id(&id, "评估批次")?;
    let run = state
        .db
        .assessment_run(&caller, id)
        .await?
        .ok_or_else(|| PageError(ApiError::not_found(format!("评估批次 {id} 不存在"))))?;
    let live = run_progress(id);
    let running = run.status == "running" && live.is_some();
    let elsewhere = run.status == "running" && live.is_none();
    let (done, total) = live.unwrap_or((0, 0));
    render(RunPage {
        rows: summary_rows(&run),
        can_rerun: caller.can_write_registry()
            && matches!(run.status.as_str(), "interrupted" | "failed"),
        run,
        running,
        elsewhere,
        done,
        total,
    })
}

// ---------------------------------------------------------------------------------------------
// Exit progress.

struct AreaView {
    code: String,
    name: String,
    households: String,
    poor_households: String,
    may_exit: String,
    remaining: String,
    remaining_after: String,
    population: String,
    incidence: String,
    threshold: String,
    passed: bool,
    ready: Option<bool>,
    criteria: Vec<Criterion>,
}

impl From<&AreaResult> for AreaView {
    fn from(a: &AreaResult) -> AreaView {
        AreaView {
            code: a.code.clone(),
            name: a.name.clone(),
            households: grouped(a.households),
            poor_households: grouped(a.poor_households),
            may_exit: grouped(a.may_exit_households),
            remaining: grouped(a.remaining),
            remaining_after: grouped(a.remaining_after_exits),
            population: a
                .rural_population
                .map(|p| {
                    if a.population_year.is_some_and(|y| y != a.year) {
                        format!(
                            "{}（{}年）",
                            grouped(p),
                            a.population_year.unwrap_or_default()
                        )
                    } else {
                        grouped(p)
                    }
                })
                .unwrap_or_else(|| "—".into()),
            incidence: a.incidence.clone(),
            threshold: a.threshold.clone(),
            passed: a.passed,
            ready: a.exit_ready,
            criteria: a.criteria.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "assess_progress.html")]
struct ProgressPage {
    year: i64,
    region: String,
    heading: String,
    villages: bool,
    areas: Vec<AreaView>,
    chart: String,
    map: Option<ExitMap>,
    echarts_url: &'static str,
    passed: usize,
    review: Option<StoredReview>,
    can_review: bool,
}

/// Horizontal bars: incidence of each area, the threshold as a tick, green below, red not.
fn incidence_chart(areas: &[AreaResult]) -> String {
    if areas.is_empty() {
        return String::new();
    }
    let shown: Vec<&AreaResult> = areas.iter().take(60).collect();
    let max_bp = shown
        .iter()
        .map(|a| a.incidence_bp.unwrap_or(0).max(a.threshold_bp))
        .max()
        .unwrap_or(300)
        .max(100) as f64
        * 1.15;
    let (label_w, bar_w, row_h, top) = (150.0, 420.0, 26.0, 24.0);
    let height = top + row_h * shown.len() as f64 + 10.0;
    let width = label_w + bar_w + 80.0;
    let x = |bp: i64| label_w + bar_w * bp as f64 / max_bp;
    let mut svg = format!(
        r#"<svg class="chart" role="img" aria-label="贫困发生率与退出标准" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">"#
    );
    svg += &format!(
        r##"<text x="{label_w}" y="14" font-size="12" fill="#607080">贫困发生率（竖线为退出标准）</text>"##
    );
    for (i, a) in shown.iter().enumerate() {
        let y = top + row_h * i as f64;
        let name = escape(&a.name);
        svg += &format!(
            r##"<text x="{}" y="{}" font-size="13" text-anchor="end" fill="#1f2933">{name}</text>"##,
            label_w - 8.0,
            y + 16.0
        );
        match a.incidence_bp {
            Some(bp) => {
                let colour = if a.passed { "#2e7d32" } else { "#c62828" };
                svg += &format!(
                    r#"<rect x="{label_w}" y="{}" width="{:.1}" height="16" fill="{colour}"><title>{name}：{}</title></rect>"#,
                    y + 4.0,
                    (x(bp) - label_w).max(1.0),
                    escape(&a.incidence)
                );
                svg += &format!(
                    r##"<text x="{:.1}" y="{}" font-size="12" fill="#1f2933">{}</text>"##,
                    x(bp) + 6.0,
                    y + 16.0,
                    escape(&a.incidence)
                );
            }
            None => {
                svg += &format!(
                    r##"<text x="{}" y="{}" font-size="12" fill="#607080">缺少农业户籍人口</text>"##,
                    label_w + 4.0,
                    y + 16.0
                );
            }
        }
        let tx = x(a.threshold_bp);
        svg += &format!(
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{}" y2="{}" stroke="#1f2933" stroke-width="2"/>"##,
            y + 1.0,
            y + 23.0
        );
    }
    svg += "</svg>";
    if areas.len() > shown.len() {
        svg += &format!(
            r#"<p class="muted">图中只画出前 {} 个，共 {} 个，见下表。</p>"#,
            shown.len(),
            areas.len()
        );
    }
    svg
}

/// The map of the exit-progress page: which outline file, and the figures of each area on it.
struct ExitMap {
    url: String,
    name: String,
    /// JSON of [`MapArea`]s, for the script (HTML-escaped by the template).
    areas_json: String,
}

/// One area of the map: the counties assessed in it, summed.
#[derive(serde::Serialize, Debug, PartialEq)]
struct MapArea {
    code: String,
    name: String,
    counties: usize,
    passed: usize,
    remaining: i64,
    /// Rural registered population of the counties that have one.
    population: i64,
    /// remaining ÷ population of those counties, in percent (2 decimals); None without population.
    incidence_pct: Option<f64>,
    href: String,
}

/// Sums county results into the areas of one map: provinces (China map) when the counties lie
/// in several provinces, else the prefectures of their province (that province's map). County
/// outlines are not among the map files, so a county is shown in its prefecture.
async fn exit_map(
    state: &AppState,
    year: i64,
    counties: &[AreaResult],
) -> Result<Option<ExitMap>, PageError> {
    let provinces: std::collections::BTreeSet<&str> =
        counties.iter().filter_map(|a| a.code.get(..2)).collect();
    let (digits, url, name) = match provinces.iter().next() {
        None => return Ok(None),
        Some(p) if provinces.len() == 1 => (
            4,
            format!("{}province/{p}.json", crate::assets::MAPS_URL.as_str()),
            format!("p{p}"),
        ),
        Some(_) => (
            2,
            format!("{}china.json", crate::assets::MAPS_URL.as_str()),
            "china".to_string(),
        ),
    };
    let mut by_area: std::collections::BTreeMap<String, (usize, usize, i64, i64, i64)> =
        std::collections::BTreeMap::new();
    for a in counties {
        let Some(code) = a.code.get(..digits) else {
            continue;
        };
        let e = by_area.entry(code.to_string()).or_default();
        e.0 += 1;
        e.1 += usize::from(a.passed);
        if let Some(p) = a.rural_population {
            e.2 += a.remaining;
            e.3 += p;
        }
        e.4 += a.remaining;
    }
    let mut areas = Vec::new();
    for (code, (n, passed, remaining_with_population, population, remaining)) in by_area {
        let region = RegionCode::parse(&code).ok();
        let name = match region {
            Some(r) => state
                .db
                .get_region(r)
                .await?
                .map(|g| g.name)
                .unwrap_or_else(|| code.clone()),
            None => code.clone(),
        };
        let incidence_pct = (population > 0).then(|| {
            (remaining_with_population as f64 * 10_000.0 / population as f64).round() / 100.0
        });
        areas.push(MapArea {
            href: format!("/assessment/progress?year={year}&region={code}"),
            code,
            name,
            counties: n,
            passed,
            remaining,
            population,
            incidence_pct,
        });
    }
    Ok(Some(ExitMap {
        url,
        name,
        areas_json: serde_json::to_string(&areas).unwrap_or_else(|_| "[]".into()),
    }))
}

#[derive(Deserialize, Default)]
struct ProgressQuery {
    year: Option<String>,
    region: Option<String>,
}

async fn progress_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<ProgressQuery>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let year = match parse_year(q.year.as_deref())? {
        Some(y) => y,
        None => state
            .db
            .assessment_runs(&caller, 1)
            .await?
            .first()
            .map(|r| r.year)
            .unwrap_or(store::current_year() - 1),
    };
    let region = parse_region(q.region.as_deref(), "region")?;
    let villages = region.is_some_and(|r| r.level() >= RegionLevel::County);
    let level = if villages {
        RegionLevel::Village
    } else {
        RegionLevel::County
    };
    let areas = state.db.exit_progress(&caller, level, year, region).await?;
    let heading = match region {
        Some(r) => state
            .db
            .get_region(r)
            .await?
            .map(|g| g.name)
            .unwrap_or_else(|| r.to_string()),
        None => "全部".into(),
    };
    let review = match region {
        Some(r) if r.level() == RegionLevel::County => {
            state.db.county_review(&caller, r, year).await?
        }
        _ => None,
    };
    let map = if villages {
        None
    } else {
        exit_map(&state, year, &areas).await?
    };
    render(ProgressPage {
        year,
        region: region.map(|r| r.to_string()).unwrap_or_default(),
        heading,
        villages,
        chart: incidence_chart(&areas),
        map,
        echarts_url: crate::assets::ECHARTS_URL.as_str(),
        passed: areas.iter().filter(|a| a.passed).count(),
        areas: areas.iter().map(AreaView::from).collect(),
        can_review: caller.can_write_registry()
            && region.is_some_and(|r| r.level() == RegionLevel::County),
        review,
    })
}

#[derive(Deserialize)]
struct ReviewForm {
    county: String,
    year: String,
    sampled_exited: String,
    wrongly_exited: String,
    sampled_households: String,
    missed_poor: String,
    surveyed: String,
    approving: String,
    note: Option<String>,
}

async fn review_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Form(f): Form<ReviewForm>,
) -> PageResult {
    let county = parse_region(Some(&f.county), "county")?
        .ok_or_else(|| PageError(ApiError::invalid_field("county", "请指定县")))?;
    let year = parse_year(Some(&f.year))?
        .ok_or_else(|| PageError(ApiError::invalid_field("year", "请填写年度")))?;
    let review = review_from([
        ("sampled_exited", f.sampled_exited),
        ("wrongly_exited", f.wrongly_exited),
        ("sampled_households", f.sampled_households),
        ("missed_poor", f.missed_poor),
        ("surveyed", f.surveyed),
        ("approving", f.approving),
    ])?;
    state
        .db
        .save_county_review(
            &caller,
            county,
            year,
            &review,
            f.note.as_deref().unwrap_or(""),
        )
        .await?;
    see_other(&format!("/assessment/progress?year={year}&region={county}"))
}

// ---------------------------------------------------------------------------------------------
// 公示.

#[derive(Template)]
#[template(path = "assess_publicity.html")]
struct PublicityPage {
    list: PublicityList,
    printed: String,
}

#[derive(Deserialize, Default)]
struct PublicityQuery {
    village: Option<String>,
    year: Option<String>,
}

async fn publicity_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<PublicityQuery>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let village = parse_region(q.village.as_deref(), "village")?.ok_or_else(|| {
        PageError(ApiError::invalid_field(
            "village",
            "请指定村（12 位区划代码）",
        ))
    })?;
    let year = parse_year(q.year.as_deref())?.unwrap_or(store::current_year() - 1);
    let list = state.db.publicity_list(&caller, village, year).await?;
    render(PublicityPage {
        list,
        printed: store::today().to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Rules.

#[derive(Template)]
#[template(path = "assess_rules.html")]
struct RulesPage {
    current: RuleVersion,
    versions: Vec<RuleVersionInfo>,
    json: String,
    is_admin: bool,
    west: String,
    /// The allowed status transitions under the rules in force.
    status_ways: String,
    exit_chain: String,
}

async fn rules_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let current = state.db.current_rules().await?;
    let json = serde_json::to_string_pretty(&current.rules).unwrap_or_default();
    render(RulesPage {
        versions: state.db.rule_versions().await?,
        json,
        is_admin: caller.is_admin(),
        west: domain::region::WESTERN_PROVINCES
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("、"),
        status_ways: domain::poverty_status::allowed_ways(current.rules.returned_status_last_year),
        exit_chain: domain::assessment::ExitStep::chain_zh(current.rules.publicity_days),
        current,
    })
}

#[derive(Deserialize)]
struct RulesForm {
    rules: String,
    note: Option<String>,
}

async fn rules_save(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Form(f): Form<RulesForm>,
) -> PageResult {
    if !caller.is_admin() {
        return Err(PageError(ApiError::forbidden(
            "只有管理员可以修改退出与监测规则",
        )));
    }
    let mut body: serde_json::Value = serde_json::from_str(&f.rules).map_err(|e| {
        PageError(ApiError::invalid_field(
            "rules",
            format!("规则应为 JSON：{e}"),
        ))
    })?;
    if let Some(n) = f.note.filter(|n| !n.trim().is_empty()) {
        body = serde_json::json!({ "rules": body, "note": n });
    }
    let current = state.db.current_rules().await?;
    let (rules, note) = merged_rules(&current.rules, body)?;
    state.db.save_rules(&caller, &rules, &note).await?;
    see_other("/assessment/rules")
}

// ---------------------------------------------------------------------------------------------
// Visits import.

#[derive(Template)]
#[template(path = "assess_import.html")]
struct ImportPage {
    written: Option<(String, u64, u64)>,
    problems: Vec<store::registry_import::RowProblem>,
}

async fn import_page(CurrentCaller(caller): CurrentCaller, uri: Uri) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    render(ImportPage {
        written: None,
        problems: Vec::new(),
    })
}

async fn import_upload(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    req: Request,
) -> PageResult {
    let file = upload::receive(&state, &caller, UploadKind::FieldWork, req)
        .await?
        .require_file()?;
    let name = file.name.clone();
    // The visits import reads rows on the request's thread: the file is checked through first.
    let table = file.open(true).await?;
    match state.db.import_visits(&caller, table, &name).await {
        Ok(o) => render(ImportPage {
            written: Some((o.file_name, o.rows, o.written)),
            problems: Vec::new(),
        }),
        Err(store::StoreError::ImportRejected(problems)) => {
            let html = ImportPage {
                written: None,
                problems,
            }
            .render()
            .map_err(ApiError::from)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// A household: its decisions and exit procedure.

struct DecisionView {
    d: StoredDecision,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "assess_household.html")]
struct HouseholdPage {
    id: i64,
    household_no: String,
    head_name: String,
    place: String,
    village_code: String,
    status: String,
    year: Option<i64>,
    years: Vec<(i64, bool)>,
    latest: Option<DecisionView>,
    earlier: Vec<DecisionView>,
    procedure: Option<ExitProcedure>,
    can_write: bool,
    today: String,
}

#[derive(Deserialize, Default)]
struct YearQuery {
    year: Option<String>,
}

async fn household_header(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(String, String, String, String, String), PageError> {
    let d = state
        .db
        .household_detail(caller, id)
        .await?
        .ok_or_else(|| PageError(ApiError::not_found(format!("户 {id} 不存在"))))?;
    let place = d
        .region_path
        .iter()
        .map(|r| r.1.as_str())
        .chain(std::iter::once(d.summary.village_name.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((
        d.summary.household_no,
        d.summary.head_name,
        place,
        d.summary.village_code,
        d.summary.status.name,
    ))
}

async fn household_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Query(q): Query<YearQuery>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let id = page_id(&id, "户")?;
    let (household_no, head_name, place, village_code, status) =
        household_header(&state, &caller, id).await?;
    let all = state.db.household_decisions(&caller, id, None).await?;
    let mut years: Vec<i64> = all.iter().map(|d| d.year).collect();
    years.dedup();
    let year = parse_year(q.year.as_deref())?.or_else(|| years.first().copied());
    let mut of_year: Vec<DecisionView> = all
        .into_iter()
        .filter(|d| Some(d.year) == year)
        .map(|d| DecisionView {
            status: status_name(&d.household_status),
            d,
        })
        .collect();
    let latest = if of_year.is_empty() {
        None
    } else {
        Some(of_year.remove(0))
    };
    let procedure = match year {
        Some(y) => Some(state.db.exit_procedure(&caller, id, y).await?),
        None => None,
    };
    render(HouseholdPage {
        id,
        household_no,
        head_name,
        place,
        village_code,
        status,
        year,
        years: years.iter().map(|y| (*y, Some(*y) == year)).collect(),
        latest,
        earlier: of_year,
        procedure,
        can_write: caller.can_write_registry(),
        today: store::today().to_string(),
    })
}

#[derive(Deserialize)]
struct StepForm {
    year: String,
    state: String,
    date: String,
    responsible: String,
    note: Option<String>,
}

async fn step_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<StepForm>,
) -> PageResult {
    let id = page_id(&id, "户")?;
    let year = parse_year(Some(&f.year))?
        .ok_or_else(|| PageError(ApiError::invalid_field("year", "请填写年度")))?;
    let step = store::assessment::NewStep {
        state: f.state,
        date: f.date,
        responsible: f.responsible,
        note: f.note.unwrap_or_default(),
    };
    state.db.record_exit_step(&caller, id, year, &step).await?;
    see_other(&format!("/households/{id}/assessment?year={year}"))
}

// ---------------------------------------------------------------------------------------------
// A household's monitoring records.

#[derive(Template)]
#[template(path = "assess_records.html")]
struct RecordsPage {
    id: i64,
    household_no: String,
    head_name: String,
    place: String,
    status: String,
    r: MonitoringRecords,
    /// Opens monitoring cases.
    can_write: bool,
    /// Records visits, expenses and shocks (first secretaries too).
    can_record: bool,
    today: String,
    expense_kinds: Vec<(&'static str, &'static str)>,
    shock_kinds: Vec<(&'static str, &'static str)>,
    channels: Vec<(&'static str, &'static str)>,
}

async fn records_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let id = page_id(&id, "户")?;
    let (household_no, head_name, place, _, status) = household_header(&state, &caller, id).await?;
    let r = state.db.monitoring_records(&caller, id).await?;
    use domain::assessment::{Channel, ExpenseKind, ShockKind};
    render(RecordsPage {
        id,
        household_no,
        head_name,
        place,
        status,
        r,
        can_write: caller.can_write_registry(),
        can_record: caller.can_record_field_work(),
        today: store::today().to_string(),
        expense_kinds: ExpenseKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.name_zh()))
            .collect(),
        shock_kinds: ShockKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.name_zh()))
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| (c.as_str(), c.name_zh()))
            .collect(),
    })
}

#[derive(Deserialize)]
struct VisitForm {
    visit_date: String,
    visitor: String,
    findings: Option<String>,
    income_12m: Option<String>,
    risks: Option<String>,
}

async fn visit_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<VisitForm>,
) -> PageResult {
    let id = page_id(&id, "户")?;
    let input = VisitInput {
        visit_date: f.visit_date,
        visitor: f.visitor,
        findings: f.findings.unwrap_or_default(),
        income_12m: f.income_12m.unwrap_or_default(),
        risks: f.risks.unwrap_or_default(),
    };
    state.db.add_visit(&caller, id, &input).await?;
    see_other(&format!("/households/{id}/monitoring"))
}

#[derive(Deserialize)]
struct ExpenseForm {
    expense_date: String,
    kind: String,
    amount: String,
    reimbursed: Option<String>,
    resolved: Option<String>,
    note: Option<String>,
}

async fn expense_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<ExpenseForm>,
) -> PageResult {
    let id = page_id(&id, "户")?;
    let e = NewExpense {
        expense_date: f.expense_date,
        kind: f.kind,
        amount: f.amount,
        reimbursed: f.reimbursed.unwrap_or_default(),
        resolved: f.resolved.is_some(),
        note: f.note.unwrap_or_default(),
    };
    state.db.add_expense(&caller, id, &e).await?;
    see_other(&format!("/households/{id}/monitoring"))
}

#[derive(Deserialize)]
struct ResolveForm {
    date: String,
    reimbursed: Option<String>,
    note: Option<String>,
    back: Option<String>,
}

async fn resolve_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> PageResult {
    let id = page_id(&id, "刚性支出")?;
    let e = state
        .db
        .resolve_expense(
            &caller,
            id,
            &f.date,
            f.reimbursed.as_deref().unwrap_or(""),
            f.note.as_deref().unwrap_or(""),
        )
        .await?;
    let back = f
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| format!("/households/{}/monitoring", e.household_id));
    see_other(&back)
}

#[derive(Deserialize)]
struct ShockForm {
    shock_date: String,
    kind: String,
    note: Option<String>,
}

async fn shock_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<ShockForm>,
) -> PageResult {
    let id = page_id(&id, "户")?;
    state
        .db
        .add_shock(
            &caller,
            id,
            &NewShock {
                shock_date: f.shock_date,
                kind: f.kind,
                note: f.note.unwrap_or_default(),
            },
        )
        .await?;
    see_other(&format!("/households/{id}/monitoring"))
}

#[derive(Deserialize)]
struct CaseForm {
    channel: String,
    category: Option<String>,
    identified_at: Option<String>,
    note: Option<String>,
}

async fn case_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<CaseForm>,
) -> PageResult {
    let id = page_id(&id, "户")?;
    let c = NewCase {
        category: f.category.unwrap_or_default(),
        channel: f.channel,
        identified_at: f.identified_at.unwrap_or_default(),
        note: f.note.unwrap_or_default(),
    };
    let case = state.db.open_monitoring_case(&caller, id, &c).await?;
    see_other(&format!("/monitoring/{}", case.id))
}

// ---------------------------------------------------------------------------------------------
// The monitoring work list and a case.

#[derive(Template)]
#[template(path = "monitoring_list.html")]
struct MonitoringPage {
    region: String,
    heading: String,
    status: String,
    category: String,
    counts: Vec<(String, String, i64, i64, i64)>,
    counts_by_village: bool,
    cases: Vec<MonitoringCase>,
    next_href: Option<String>,
}

#[derive(Deserialize, Default)]
struct MonitoringQuery {
    region: Option<String>,
    status: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
}

const CASES_PER_PAGE: i64 = 100;

async fn monitoring_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<MonitoringQuery>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let filter = case_filter(
        q.region.as_deref(),
        q.status.as_deref(),
        q.category.as_deref(),
    )?;
    let after = q
        .cursor
        .as_deref()
        .and_then(|c| c.split_once('.'))
        .and_then(|(s, i)| Some((s.parse().ok()?, i.parse().ok()?)));
    let mut cases = state
        .db
        .monitoring_cases(&caller, &filter, after, CASES_PER_PAGE + 1)
        .await?;
    let region_text = filter.region.map(|r| r.to_string()).unwrap_or_default();
    let status = filter.status.clone().unwrap_or_else(|| "monitoring".into());
    let category = filter.category.clone().unwrap_or_default();
    let next_href = if cases.len() as i64 > CASES_PER_PAGE {
        cases.truncate(CASES_PER_PAGE as usize);
        cases.last().map(|c| {
            format!(
                "/monitoring?region={region_text}&status={status}&category={category}&cursor={}.{}",
                c.risk_score, c.id
            )
        })
    } else {
        None
    };
    let heading = match filter.region {
        Some(r) => state
            .db
            .get_region(r)
            .await?
            .map(|g| g.name)
            .unwrap_or_else(|| r.to_string()),
        None => "全部".into(),
    };
    render(MonitoringPage {
        counts: state
            .db
            .monitoring_counts(&caller, filter.region)
            .await?
            .into_iter()
            .map(|(c, n, k)| (c, n, k[0], k[1], k[2]))
            .collect(),
        counts_by_village: filter
            .region
            .is_some_and(|r| r.level() >= RegionLevel::County),
        region: region_text,
        heading,
        status,
        category,
        cases,
        next_href,
    })
}

#[derive(Template)]
#[template(path = "monitoring_case.html")]
struct CasePage {
    c: MonitoringCase,
    procedure: EliminationProcedure,
    /// Records the county's approval (which eliminates the risk).
    can_write: bool,
    /// Adds measures (first secretaries too).
    can_record: bool,
    today: String,
    measure_types: Vec<&'static str>,
}

async fn case_page(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let id = page_id(&id, "监测案例")?;
    let c = state
        .db
        .monitoring_case(&caller, id)
        .await?
        .ok_or_else(|| PageError(ApiError::not_found(format!("监测案例 {id} 不存在"))))?;
    let procedure = state.db.elimination_procedure(&caller, id).await?;
    render(CasePage {
        c,
        procedure,
        can_write: caller.can_write_registry(),
        can_record: caller.can_record_field_work(),
        today: store::today().to_string(),
        measure_types: MEASURE_TYPES.to_vec(),
    })
}

#[derive(Deserialize)]
struct MeasureForm {
    measure_type: String,
    responsible: String,
    date: String,
    amount: Option<String>,
    note: Option<String>,
}

async fn measure_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<MeasureForm>,
) -> PageResult {
    let id = page_id(&id, "监测案例")?;
    let m = NewCaseMeasure {
        measure_type: f.measure_type,
        responsible: f.responsible,
        measure_date: f.date,
        amount: f.amount.unwrap_or_default(),
        note: f.note.unwrap_or_default(),
    };
    state.db.add_case_measure(&caller, id, &m).await?;
    see_other(&format!("/monitoring/{id}"))
}

#[derive(Deserialize)]
struct EliminationStepForm {
    step: String,
    date: String,
    responsible: String,
    note: Option<String>,
}

async fn elimination_step_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(f): Form<EliminationStepForm>,
) -> PageResult {
    let id = page_id(&id, "监测案例")?;
    let step = NewEliminationStep {
        step: f.step,
        date: f.date,
        responsible: f.responsible,
        note: f.note.unwrap_or_default(),
    };
    state.db.record_elimination_step(&caller, id, &step).await?;
    see_other(&format!("/monitoring/{id}"))
}
