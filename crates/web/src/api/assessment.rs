//! The exit-assessment and monitoring API: rules (GET for everyone logged in, PUT for
//! administrators: a new version each time), batch runs (started in the background, or
//! waited for with `?wait=true`), household explanations and exit procedures, 公示 lists,
//! exit progress, county review samples, visits/expenses/shocks with a visits import, and
//! monitoring cases with measures and risk elimination. Money in requests is in 元 (number or
//! text, at most two decimals); responses carry fen (`*_fen`) and 元 text (`*_yuan`).

use super::{ApiJson, ApiPath, ApiQuery, Page, parse_region_param};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use crate::upload::{self, UploadKind};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::assessment::{CountyReview, Rules, VisitInput};
use domain::validation::FieldError;
use domain::{Caller, RegionCode, RegionLevel, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use store::assessment::{
    AreaResult, AssessmentRun, ExitProcedure, NewStep, PublicityList, RuleVersion, RuleVersionInfo,
    StoredReview,
};
use store::monitoring::{
    CaseFilter, EliminationCheck, EliminationProcedure, Expense, MonitoringCase, MonitoringRecords,
    NewCase, NewCaseMeasure, NewEliminationStep, NewExpense, NewShock, Shock, Visit,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(get_rules).put(put_rules))
        .route("/api/v1/rules/versions", get(rule_versions))
        .route("/api/v1/rules/versions/{version}", get(rule_version))
        .route("/api/v1/assessment-runs", get(list_runs).post(start_run))
        .route("/api/v1/assessment-runs/{id}", get(get_run))
        .route("/api/v1/assessment-runs/{id}/villages", get(run_villages))
        .route("/api/v1/assessment-runs/{id}/counties", get(run_counties))
        .route("/api/v1/exit-progress", get(exit_progress))
        .route(
            "/api/v1/county-reviews/{code}/{year}",
            get(get_review).put(put_review),
        )
        .route(
            "/api/v1/households/{id}/assessment",
            get(household_assessment),
        )
        .route(
            "/api/v1/households/{id}/exit-procedure",
            get(get_procedure).post(post_procedure),
        )
        .route("/api/v1/publicity", get(publicity))
        .route("/api/v1/households/{id}/monitoring", get(records))
        .route("/api/v1/households/{id}/visits", post(add_visit))
        .route("/api/v1/households/{id}/expenses", post(add_expense))
        .route("/api/v1/households/{id}/shocks", post(add_shock))
        .route("/api/v1/households/{id}/monitoring-cases", post(open_case))
        .route("/api/v1/expenses/{id}/resolve", post(resolve_expense))
        .route(
            "/api/v1/imports/visits",
            post(import_visits).layer(upload::body_limit()),
        )
        .route("/api/v1/monitoring-cases", get(list_cases))
        .route("/api/v1/monitoring-cases/{id}", get(get_case))
        .route("/api/v1/monitoring-cases/{id}/measures", post(add_measure))
        .route(
            "/api/v1/monitoring-cases/{id}/elimination",
            get(elimination_check),
        )
        .route(
            "/api/v1/monitoring-cases/{id}/elimination-procedure",
            get(get_elimination_procedure).post(post_elimination_step),
        )
        .route("/api/v1/monitoring-cases/{id}/eliminate", post(eliminate))
}

/// A JSON value as the text a form would hold ("6500.5" for 6500.5, "" for null).
pub(crate) fn text(v: &Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} 不存在")))
}

fn year_param(s: Option<&str>, required: bool) -> Result<Option<i64>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None if required => Err(ApiError::invalid_field("year", "请指定年度 year")),
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid_field("year", "年度应为整数")),
    }
}

// ---------------------------------------------------------------------------------------------
// Rules.

async fn get_rules(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Json<RuleVersion>, ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized("请先登录"));
    }
    Ok(Json(state.db.current_rules().await?))
}

async fn rule_versions(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Json<Page<RuleVersionInfo>>, ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized("请先登录"));
    }
    Ok(Json(Page {
        items: state.db.rule_versions().await?,
        next_cursor: None,
    }))
}

async fn rule_version(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(version): ApiPath<String>,
) -> Result<Json<RuleVersion>, ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized("请先登录"));
    }
    let v = parse_id(&version, "规则版本")?;
    Ok(Json(state.db.rule_version(v).await?.ok_or_else(|| {
        ApiError::not_found(format!("规则版本 {v} 不存在"))
    })?))
}

/// Builds the rules to store from a body: the whole rule set or only some of its items (at
/// the top level, optionally under `rules`), laid over the rules in force. Unknown items and
/// malformed values are refused by name.
pub(crate) fn merged_rules(current: &Rules, body: Value) -> Result<(Rules, String), ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::invalid_field("rules", "请求体应为 JSON 对象"));
    };
    let note = match map.remove("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::invalid_field("note", "说明应为文字")),
    };
    if map.get("rules").is_some_and(Value::is_object) {
        // The envelope of GET /api/v1/rules sent back as it came: its read-only keys are ignored.
        for k in ["version", "created_at", "created_by"] {
            map.remove(k);
        }
    }
    let items = match map.remove("rules") {
        Some(Value::Object(r)) if map.is_empty() => r,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "rules",
                "rules 应为对象，且不能与其他规则项并列",
            ));
        }
        None => map,
    };
    let Value::Object(mut merged) = serde_json::to_value(current).expect("rules serialise") else {
        unreachable!("rules are an object")
    };
    let mut details = Vec::new();
    for (k, v) in items {
        if !merged.contains_key(&k) {
            details.push(FieldError::new(k.clone(), format!("未知的规则项“{k}”")));
            continue;
        }
        // Each item is checked on its own so that a malformed value is named.
        let mut probe = merged.clone();
        probe.insert(k.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<Rules>(Value::Object(probe)) {
            details.push(FieldError::new(k.clone(), format!("格式有误：{e}")));
            continue;
        }
        merged.insert(k, v);
    }
    if !details.is_empty() {
        return Err(store::StoreError::invalid(details).into());
    }
    let rules: Rules = serde_json::from_value(Value::Object(merged))
        .map_err(|e| ApiError::invalid_field("rules", format!("规则格式有误：{e}")))?;
    Ok((rules, note))
}

async fn put_rules(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<RuleVersion>, ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden("只有管理员可以修改退出与监测规则"));
    }
    let current = state.db.current_rules().await?;
    let (rules, note) = merged_rules(&current.rules, body)?;
    Ok(Json(state.db.save_rules(&caller, &rules, &note).await?))
}

// ---------------------------------------------------------------------------------------------
// Runs, in the background with progress that pages and clients can poll.

/// Progress of a run executing in this process, and the handle that stops it at shutdown.
#[derive(Default)]
pub(crate) struct RunProgress {
    total: AtomicU64,
    done: AtomicU64,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl store::regions::Progress for RunProgress {
    fn start(&self, _what: &str, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

fn jobs() -> &'static Mutex<HashMap<i64, Arc<RunProgress>>> {
    static JOBS: OnceLock<Mutex<HashMap<i64, Arc<RunProgress>>>> = OnceLock::new();
    JOBS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// (done, total) of a run executing in this process; None when it is not (finished, or
/// interrupted by a restart).
pub(crate) fn run_progress(id: i64) -> Option<(u64, u64)> {
    let jobs = jobs().lock().ok()?;
    jobs.get(&id).map(|p| {
        (
            p.done.load(Ordering::Relaxed),
            p.total.load(Ordering::Relaxed),
        )
    })
}

/// Records a run and executes it on a background task.
pub(crate) async fn start_background(
    state: &AppState,
    caller: &Caller,
    year: i64,
    region: Option<RegionCode>,
) -> Result<AssessmentRun, ApiError> {
    let run = state.db.start_assessment_run(caller, year, region).await?;
    let progress = Arc::new(RunProgress::default());
    if let Ok(mut j) = jobs().lock() {
        j.insert(run.id, progress.clone());
    }
    let (db, caller, id) = (state.db.clone(), caller.clone(), run.id);
    let running = state.metrics.job(crate::metrics::Job::Assessment);
    let worker = progress.clone();
    let task = tokio::spawn(async move {
        let _running = running;
        if let Err(e) = db.execute_assessment_run(&caller, id, &*worker).await {
            tracing::warn!(run = id, error = %e, "assessment run failed");
        }
        if let Ok(mut j) = jobs().lock() {
            j.remove(&id);
        }
    });
    if let Ok(mut t) = progress.task.lock() {
        *t = Some(task.abort_handle());
    }
    Ok(run)
}

/// At shutdown, after the last request: stops the runs executing (or waiting) in this process
/// (each is one transaction, rolled back) and marks them interrupted, so that nobody waits for
/// them and they can be run again.
pub async fn interrupt_background_runs(db: &store::Db) {
    let stopped: Vec<i64> = match jobs().lock() {
        Ok(mut j) => j
            .drain()
            .map(|(id, p)| {
                if let Some(t) = p.task.lock().ok().and_then(|mut t| t.take()) {
                    t.abort();
                }
                id
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if stopped.is_empty() {
        return;
    }
    match db.mark_interrupted_runs(true).await {
        Ok(marked) => tracing::warn!(?marked, "assessment runs stopped by shutdown"),
        Err(e) => tracing::warn!(error = %e, "assessment runs stopped by shutdown, not marked"),
    }
}

fn run_json(run: &AssessmentRun) -> Value {
    let mut v = serde_json::to_value(run).expect("run serialises");
    let interrupted = run.status == "interrupted";
    let progress = match (run.status.as_str(), run_progress(run.id)) {
        ("running", Some((done, total))) => {
            json!({"done": done, "total": total, "interrupted": false, "here": true})
        }
        // Executing in another process (the command line): its progress is not known here.
        ("running", None) => json!({"done": 0, "total": 0, "interrupted": false, "here": false}),
        _ => {
            let n = run.summary.as_ref().map(|s| s.assessed).unwrap_or(0);
            json!({"done": n, "total": n, "interrupted": interrupted, "here": false})
        }
    };
    v["progress"] = progress;
    v["status_name"] = json!(run.status_name());
    v
}

#[derive(Deserialize, Default)]
pub struct RunBody {
    year: Option<Value>,
    region: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct WaitQuery {
    wait: Option<String>,
}

async fn start_run(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(b): ApiJson<RunBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let year = year_param(Some(&text(&b.year)), true)?.expect("required");
    let region = b
        .region
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| parse_region_param("region", r))
        .transpose()?;
    let wait = super::parse_bool_param("wait", q.wait.as_deref())?.unwrap_or(false);
    if wait {
        let (run, _) = state
            .db
            .assess(&caller, year, region, &store::regions::NoProgress)
            .await?;
        return Ok((StatusCode::OK, Json(run_json(&run))));
    }
    let run = start_background(&state, &caller, year, region).await?;
    Ok((StatusCode::ACCEPTED, Json(run_json(&run))))
}

async fn list_runs(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
) -> Result<Json<Page<Value>>, ApiError> {
    let runs = state.db.assessment_runs(&caller, 100).await?;
    Ok(Json(Page {
        items: runs.iter().map(run_json).collect(),
        next_cursor: None,
    }))
}

async fn get_run(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "评估批次")?;
    let run = state
        .db
        .assessment_run(&caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("评估批次 {id} 不存在")))?;
    Ok(Json(run_json(&run)))
}

async fn run_level(
    state: &AppState,
    caller: &Caller,
    id: &str,
    level: RegionLevel,
) -> Result<Json<Page<AreaResult>>, ApiError> {
    let id = parse_id(id, "评估批次")?;
    state
        .db
        .assessment_run(caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("评估批次 {id} 不存在")))?;
    Ok(Json(Page {
        items: state.db.run_results(caller, id, level).await?,
        next_cursor: None,
    }))
}

async fn run_villages(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Page<AreaResult>>, ApiError> {
    run_level(&state, &caller, &id, RegionLevel::Village).await
}

async fn run_counties(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Page<AreaResult>>, ApiError> {
    run_level(&state, &caller, &id, RegionLevel::County).await
}

#[derive(Deserialize, Default)]
pub struct ProgressQuery {
    year: Option<String>,
    region: Option<String>,
    level: Option<String>,
}

async fn exit_progress(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ProgressQuery>,
) -> Result<Json<Page<AreaResult>>, ApiError> {
    let year = match year_param(q.year.as_deref(), false)? {
        Some(y) => y,
        None => state
            .db
            .assessment_runs(&caller, 1)
            .await?
            .first()
            .map(|r| r.year)
            .unwrap_or(store::current_year() - 1),
    };
    let region = q
        .region
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| parse_region_param("region", r))
        .transpose()?;
    let level = match q.level.as_deref().map(str::trim).unwrap_or("county") {
        "county" | "" => RegionLevel::County,
        "village" => RegionLevel::Village,
        _ => {
            return Err(ApiError::invalid_field(
                "level",
                "level 应为 county 或 village",
            ));
        }
    };
    Ok(Json(Page {
        items: state.db.exit_progress(&caller, level, year, region).await?,
        next_cursor: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// County review samples.

#[derive(Deserialize, Default)]
pub struct ReviewBody {
    sampled_exited: Option<Value>,
    wrongly_exited: Option<Value>,
    sampled_households: Option<Value>,
    missed_poor: Option<Value>,
    surveyed: Option<Value>,
    approving: Option<Value>,
    note: Option<String>,
}

pub(crate) fn review_from(fields: [(&str, String); 6]) -> Result<CountyReview, ApiError> {
    let mut details = Vec::new();
    let mut values = [0i64; 6];
    for (i, (name, v)) in fields.iter().enumerate() {
        match v.trim().parse::<i64>() {
            Ok(n) => values[i] = n,
            Err(_) => details.push(FieldError::new(*name, "应为整数")),
        }
    }
    if !details.is_empty() {
        return Err(store::StoreError::invalid(details).into());
    }
    Ok(CountyReview {
        sampled_exited: values[0],
        wrongly_exited: values[1],
        sampled_households: values[2],
        missed_poor: values[3],
        surveyed: values[4],
        approving: values[5],
    })
}

async fn put_review(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath((code, year)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> Result<Json<StoredReview>, ApiError> {
    let county = super::parse_region_path(&code)?;
    let year = year_param(Some(&year), true)?.expect("required");
    let review = review_from([
        ("sampled_exited", text(&b.sampled_exited)),
        ("wrongly_exited", text(&b.wrongly_exited)),
        ("sampled_households", text(&b.sampled_households)),
        ("missed_poor", text(&b.missed_poor)),
        ("surveyed", text(&b.surveyed)),
        ("approving", text(&b.approving)),
    ])?;
    Ok(Json(
        state
            .db
            .save_county_review(
                &caller,
                county,
                year,
                &review,
                b.note.as_deref().unwrap_or(""),
            )
            .await?,
    ))
}

async fn get_review(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath((code, year)): ApiPath<(String, String)>,
) -> Result<Json<StoredReview>, ApiError> {
    let county = super::parse_region_path(&code)?;
    let year = year_param(Some(&year), true)?.expect("required");
    state
        .db
        .county_review(&caller, county, year)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("{county} 尚无 {year} 年的抽查数据")))
}

// ---------------------------------------------------------------------------------------------
// A household: its decisions and its exit procedure; a village's 公示 list.

#[derive(Deserialize, Default)]
pub struct YearQuery {
    year: Option<String>,
}

async fn household_assessment(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "户")?;
    let year = year_param(q.year.as_deref(), false)?;
    let decisions = state.db.household_decisions(&caller, id, year).await?;
    Ok(Json(
        json!({ "household_id": id, "latest": decisions.first(), "decisions": decisions }),
    ))
}

async fn get_procedure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> Result<Json<ExitProcedure>, ApiError> {
    let id = parse_id(&id, "户")?;
    let year = match year_param(q.year.as_deref(), false)? {
        Some(y) => y,
        None => state
            .db
            .household_decisions(&caller, id, None)
            .await?
            .first()
            .map(|d| d.year)
            .unwrap_or(store::current_year() - 1),
    };
    Ok(Json(state.db.exit_procedure(&caller, id, year).await?))
}

#[derive(Deserialize, Default)]
pub struct StepBody {
    year: Option<Value>,
    state: Option<String>,
    date: Option<String>,
    responsible: Option<String>,
    note: Option<String>,
}

async fn post_procedure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<StepBody>,
) -> Result<(StatusCode, Json<ExitProcedure>), ApiError> {
    let id = parse_id(&id, "户")?;
    let year = year_param(Some(&text(&b.year)), true)?.expect("required");
    let step = NewStep {
        state: b.state.unwrap_or_default(),
        date: b.date.unwrap_or_default(),
        responsible: b.responsible.unwrap_or_default(),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.record_exit_step(&caller, id, year, &step).await?),
    ))
}

#[derive(Deserialize, Default)]
pub struct PublicityQuery {
    village: Option<String>,
    year: Option<String>,
}

async fn publicity(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<PublicityQuery>,
) -> Result<Json<PublicityList>, ApiError> {
    let village = q
        .village
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_field("village", "请指定村（12 位区划代码）"))?;
    let village = parse_region_param("village", village)?;
    let year = year_param(q.year.as_deref(), true)?.expect("required");
    Ok(Json(state.db.publicity_list(&caller, village, year).await?))
}

// ---------------------------------------------------------------------------------------------
// Visits, rigid expenses, shocks.

async fn records(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MonitoringRecords>, ApiError> {
    let id = parse_id(&id, "户")?;
    Ok(Json(state.db.monitoring_records(&caller, id).await?))
}

#[derive(Deserialize, Default)]
pub struct VisitBody {
    visit_date: Option<String>,
    visitor: Option<String>,
    findings: Option<String>,
    income_12m: Option<Value>,
    risks: Option<Value>,
}

async fn add_visit(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<VisitBody>,
) -> Result<(StatusCode, Json<Visit>), ApiError> {
    let id = parse_id(&id, "户")?;
    let risks = match &b.risks {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| text(&Some(v.clone())))
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join("、"),
        other => text(other),
    };
    let input = VisitInput {
        visit_date: b.visit_date.unwrap_or_default(),
        visitor: b.visitor.unwrap_or_default(),
        findings: b.findings.unwrap_or_default(),
        income_12m: text(&b.income_12m),
        risks,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.add_visit(&caller, id, &input).await?),
    ))
}

#[derive(Deserialize, Default)]
pub struct ExpenseBody {
    expense_date: Option<String>,
    kind: Option<String>,
    amount: Option<Value>,
    reimbursed: Option<Value>,
    resolved: Option<bool>,
    note: Option<String>,
}

async fn add_expense(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ExpenseBody>,
) -> Result<(StatusCode, Json<Expense>), ApiError> {
    let id = parse_id(&id, "户")?;
    let e = NewExpense {
        expense_date: b.expense_date.unwrap_or_default(),
        kind: b.kind.unwrap_or_default(),
        amount: text(&b.amount),
        reimbursed: text(&b.reimbursed),
        resolved: b.resolved.unwrap_or(false),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.add_expense(&caller, id, &e).await?),
    ))
}

#[derive(Deserialize, Default)]
pub struct ResolveBody {
    date: Option<String>,
    reimbursed: Option<Value>,
    note: Option<String>,
}

async fn resolve_expense(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ResolveBody>,
) -> Result<Json<Expense>, ApiError> {
    let id = parse_id(&id, "刚性支出")?;
    let date = b
        .date
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| store::today().to_string());
    Ok(Json(
        state
            .db
            .resolve_expense(
                &caller,
                id,
                &date,
                &text(&b.reimbursed),
                b.note.as_deref().unwrap_or(""),
            )
            .await?,
    ))
}

#[derive(Deserialize, Default)]
pub struct ShockBody {
    shock_date: Option<String>,
    kind: Option<String>,
    note: Option<String>,
}

async fn add_shock(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ShockBody>,
) -> Result<(StatusCode, Json<Shock>), ApiError> {
    let id = parse_id(&id, "户")?;
    let s = NewShock {
        shock_date: b.shock_date.unwrap_or_default(),
        kind: b.kind.unwrap_or_default(),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.add_shock(&caller, id, &s).await?),
    ))
}

async fn import_visits(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let file = upload::receive(&state, &caller, UploadKind::FieldWork, req)
        .await?
        .require_file()?;
    let name = file.name.clone();
    // The visits import reads rows on the request's thread: the file is checked through first.
    let table = file.open(true).await?;
    let outcome = state.db.import_visits(&caller, table, &name).await?;
    Ok(Json(
        serde_json::to_value(outcome).expect("outcome serialises"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Monitoring cases.

#[derive(Deserialize, Default)]
pub struct CaseBody {
    category: Option<String>,
    channel: Option<String>,
    identified_at: Option<String>,
    note: Option<String>,
}

async fn open_case(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CaseBody>,
) -> Result<(StatusCode, Json<MonitoringCase>), ApiError> {
    let id = parse_id(&id, "户")?;
    let c = NewCase {
        category: b.category.unwrap_or_default(),
        channel: b.channel.unwrap_or_default(),
        identified_at: b.identified_at.unwrap_or_default(),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.open_monitoring_case(&caller, id, &c).await?),
    ))
}

#[derive(Deserialize, Default)]
pub struct CaseQuery {
    region: Option<String>,
    status: Option<String>,
    category: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Parses the work-list filters (shared with the page).
pub(crate) fn case_filter(
    region: Option<&str>,
    status: Option<&str>,
    category: Option<&str>,
) -> Result<CaseFilter, ApiError> {
    let region = region
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| parse_region_param("region", r))
        .transpose()?;
    let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("monitoring") => None,
        Some(s @ ("eliminated" | "all")) => Some(s.to_string()),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "status 应为 monitoring、eliminated 或 all",
            ));
        }
    };
    let category = match category.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(c @ ("1" | "2" | "3")) => Some(c.to_string()),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "category",
                "category 应为 1（脱贫不稳定户）、2（边缘易致贫户）或 3（突发严重困难户）",
            ));
        }
    };
    Ok(CaseFilter {
        region,
        status,
        category,
    })
}

async fn list_cases(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Result<Json<Page<MonitoringCase>>, ApiError> {
    let filter = case_filter(
        q.region.as_deref(),
        q.status.as_deref(),
        q.category.as_deref(),
    )?;
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => super::DEFAULT_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=super::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("limit 应为 1–{} 的整数", super::MAX_LIMIT),
                )
            })?,
    };
    let after = match q.cursor.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => Some(
            c.split_once('.')
                .and_then(|(s, i)| Some((s.parse::<i64>().ok()?, i.parse::<i64>().ok()?)))
                .ok_or_else(|| ApiError::invalid_field("cursor", "cursor 无效"))?,
        ),
    };
    let mut items = state
        .db
        .monitoring_cases(&caller, &filter, after, limit + 1)
        .await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|c| format!("{}.{}", c.risk_score, c.id))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

async fn get_case(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MonitoringCase>, ApiError> {
    let id = parse_id(&id, "监测案例")?;
    state
        .db
        .monitoring_case(&caller, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("监测案例 {id} 不存在")))
}

#[derive(Deserialize, Default)]
pub struct MeasureBody {
    measure_type: Option<String>,
    responsible: Option<String>,
    date: Option<String>,
    amount: Option<Value>,
    note: Option<String>,
}

async fn add_measure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MeasureBody>,
) -> Result<(StatusCode, Json<MonitoringCase>), ApiError> {
    let id = parse_id(&id, "监测案例")?;
    let m = NewCaseMeasure {
        measure_type: b.measure_type.unwrap_or_default(),
        responsible: b.responsible.unwrap_or_default(),
        measure_date: b.date.unwrap_or_default(),
        amount: text(&b.amount),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.add_case_measure(&caller, id, &m).await?),
    ))
}

async fn elimination_check(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EliminationCheck>, ApiError> {
    let id = parse_id(&id, "监测案例")?;
    Ok(Json(state.db.elimination_check(&caller, id).await?))
}

async fn get_elimination_procedure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EliminationProcedure>, ApiError> {
    let id = parse_id(&id, "监测案例")?;
    Ok(Json(state.db.elimination_procedure(&caller, id).await?))
}

#[derive(Deserialize, Default)]
pub struct EliminationStepBody {
    step: Option<String>,
    /// The exit procedure's name for the same field, accepted too.
    state: Option<String>,
    date: Option<String>,
    responsible: Option<String>,
    note: Option<String>,
}

async fn post_elimination_step(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<EliminationStepBody>,
) -> Result<(StatusCode, Json<EliminationProcedure>), ApiError> {
    let id = parse_id(&id, "监测案例")?;
    let step = NewEliminationStep {
        step: b.step.or(b.state).unwrap_or_default(),
        date: b.date.unwrap_or_default(),
        responsible: b.responsible.unwrap_or_default(),
        note: b.note.unwrap_or_default(),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.record_elimination_step(&caller, id, &step).await?),
    ))
}

/// Refused: the risk is eliminated by the procedure's last step (县级审批公告).
async fn eliminate(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MonitoringCase>, ApiError> {
    let id = parse_id(&id, "监测案例")?;
    Ok(Json(state.db.eliminate_case(&caller, id).await?))
}

#[allow(dead_code)]
fn assert_send(state: AppState, caller: Caller) {
    fn is_send<T: Send>(_: T) {}
    let p = RunProgress::default();
    is_send(async move { state.db.execute_assessment_run(&caller, 1, &p).await });
}

/// The OpenAPI description of these paths, merged into the document by `openapi::document`.
/// Reads that need an existing run, case or review (`/assessment-runs/{id}`, its `/villages`
/// and `/counties`, `/monitoring-cases/{id}` and its `/elimination`,
/// `/county-reviews/{code}/{year}` GET, `/expenses/{id}/resolve`, `/publicity?village=&year=`)
/// are described in the text of their collections.
pub fn openapi(doc: &mut Value) {
    let p = |name: &str, location: &str, description: &str| json!({ "name": name, "in": location, "required": location == "path", "description": description, "schema": { "type": "string" } });
    let id = p("id", "path", "户编号（内部 id）");
    let ok = |description: &str| json!({ "200": { "description": description }, "404": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } });
    let created = |description: &str| json!({ "201": { "description": description }, "404": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } });
    let body = |description: &str| json!({ "required": true, "description": description, "content": { "application/json": { "schema": { "type": "object" } } } });
    let paths = json!({
        "/api/v1/rules": {
            "get": { "summary": "退出与监测规则（当前版本；每项带口径和来源）", "responses": ok("{version, created_at, created_by, note, rules}") },
            "put": { "summary": "修改规则（仅管理员）：保存为新版本，已有结论不变。可只提交要修改的项（顶层或放在 rules 中），note 为修改说明", "requestBody": body("规则项，如 {\"publicity_days\": 10, \"note\": \"…\"}"), "responses": ok("新版本") } },
        "/api/v1/rules/versions": { "get": { "summary": "规则的全部版本（新→旧）；单个版本：/api/v1/rules/versions/{version}", "responses": ok("列表") } },
        "/api/v1/rules/versions/{version}": { "get": { "summary": "规则的一个版本", "parameters": [p("version", "path", "版本号")], "responses": ok("{version, created_at, created_by, note, rules}") } },
        "/api/v1/assessment-runs/{id}": { "get": { "summary": "一个评估批次及其进度", "parameters": [p("id", "path", "批次编号")], "responses": ok("批次") } },
        "/api/v1/assessment-runs/{id}/villages": { "get": { "summary": "批次的各村结果", "parameters": [p("id", "path", "批次编号")], "responses": ok("{items}") } },
        "/api/v1/assessment-runs/{id}/counties": { "get": { "summary": "批次的各县结果", "parameters": [p("id", "path", "批次编号")], "responses": ok("{items}") } },
        "/api/v1/publicity": { "get": { "summary": "某村某年的公示名单（拟退出户）",
            "parameters": [{ "name": "village", "in": "query", "required": true, "description": "村（12 位区划代码）", "schema": { "type": "string", "pattern": "^[0-9]{12}$", "not": { "pattern": "^0+$" } } },
                           { "name": "year", "in": "query", "required": true, "description": "年度", "schema": { "type": "integer", "format": "int64" } }],
            "responses": ok("{items}") } },
        "/api/v1/expenses/{id}/resolve": { "post": { "summary": "刚性支出已解决（注明日期）", "parameters": [p("id", "path", "刚性支出编号")], "requestBody": body("{date, note?}"), "responses": ok("刚性支出") } },
        "/api/v1/monitoring-cases/{id}": { "get": { "summary": "一个监测案例：识别、措施、风险消除程序", "parameters": [p("id", "path", "案例编号")], "responses": ok("监测案例") } },
        "/api/v1/monitoring-cases/{id}/elimination": { "get": { "summary": "风险消除条件核查：逐项是否满足及依据", "parameters": [p("id", "path", "案例编号")], "responses": ok("核查结果") } },
        "/api/v1/assessment-runs": {
            "get": { "summary": "评估批次（新→旧）；单个批次及进度：/api/v1/assessment-runs/{id}，其村、县结果：…/{id}/villages、…/{id}/counties", "responses": ok("列表") },
            "post": { "summary": "开始一次评估（后台进行，202；?wait=true 完成后返回 200）", "parameters": [p("wait", "query", "true：等待完成")],
                      "requestBody": body("{year, region?}"), "responses": { "200": { "description": "已完成" }, "202": { "description": "已开始" }, "422": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/exit-progress": { "get": { "summary": "各县（或 level=village 各村）最新的退出结果：贫困发生率、标准、抽查条件",
            "parameters": [p("year", "query", "年度，默认最近一次评估的年度"), p("region", "query", "区划（含下辖）"), p("level", "query", "county（默认）或 village")], "responses": ok("列表") } },
        "/api/v1/county-reviews/{code}/{year}": {
            "get": { "summary": "某县某年最新一次县级抽查数据", "parameters": [p("code", "path", "县级区划代码"), p("year", "path", "年度")], "responses": ok("抽查数据") },
            "put": { "summary": "录入县级抽查数据（错退、漏评、群众认可度）；GET 同一路径读取最新一次",
            "parameters": [p("code", "path", "县级区划代码"), p("year", "path", "年度")], "requestBody": body("{sampled_exited, wrongly_exited, sampled_households, missed_poor, surveyed, approving, note?}"), "responses": ok("已保存") } },
        "/api/v1/households/{id}/assessment": { "get": { "summary": "一户的退出评估结论（每项条件、是否达到、依据数字、规则版本；新→旧）",
            "parameters": [id.clone(), p("year", "query", "只看某年")], "responses": ok("{latest, decisions}") } },
        "/api/v1/households/{id}/exit-procedure": {
            "get": { "summary": "一户某年的退出程序（拟退出 proposed → 民主评议 review → 村两委和驻村工作队核实 verification → 贫困户认可 consent → 公示 publicity → 公告 announcement → 销号 removed；贫困户不认可 refusal 或公示期内异议 objection 中止，可重新拟退出）；村公示名单：/api/v1/publicity?village=&year=", "parameters": [id.clone(), p("year", "query", "年度")], "responses": ok("程序") },
            "post": { "summary": "登记下一步（日期、责任人；公示不少于规则天数；异议须在公示期内提出并写明理由；贫困户不认可须写明理由；销号把未脱贫或返贫户记为已脱贫（享受政策），脱贫年度为该年度，首次脱贫保留在状态历史中）", "parameters": [id.clone()], "requestBody": body("{year, state, date, responsible, note?}"), "responses": created("程序") } },
        "/api/v1/households/{id}/monitoring": { "get": { "summary": "一户的走访、刚性支出、突发变故和监测案例", "parameters": [id.clone()], "responses": ok("记录") } },
        "/api/v1/households/{id}/visits": { "post": { "summary": "记录入户走访（近12个月人均纯收入估算，元）", "parameters": [id.clone()], "requestBody": body("{visit_date, visitor, findings?, income_12m?, risks?}"), "responses": created("走访") } },
        "/api/v1/households/{id}/expenses": { "post": { "summary": "记录刚性支出（medical/schooling/disaster，金额与报销，元）；标记解决：POST /api/v1/expenses/{id}/resolve", "parameters": [id.clone()], "requestBody": body("{expense_date, kind, amount, reimbursed?, resolved?, note?}"), "responses": created("支出") } },
        "/api/v1/households/{id}/shocks": { "post": { "summary": "记录突发变故（illness/disaster/accident/job_loss）", "parameters": [id.clone()], "requestBody": body("{shock_date, kind, note?}"), "responses": created("变故") } },
        "/api/v1/households/{id}/monitoring-cases": { "post": { "summary": "纳入防返贫监测（declaration 农户申报 / visit 干部走访排查 / screening 部门筛查预警）", "parameters": [id.clone()], "requestBody": body("{channel, category?, identified_at?, note?}"), "responses": created("案例") } },
        "/api/v1/monitoring-cases": { "get": { "summary": "监测工作清单（按风险分从高到低）；单个案例：/api/v1/monitoring-cases/{id}，消除条件：…/{id}/elimination，风险消除程序：…/{id}/elimination-procedure",
            "parameters": [p("region", "query", "县或村代码"), p("status", "query", "monitoring（默认）、eliminated、all"), p("category", "query", "1、2、3"), p("limit", "query", "每页条数"), p("cursor", "query", "上一页的 next_cursor")], "responses": ok("列表") } },
        "/api/v1/monitoring-cases/{id}/measures": { "post": { "summary": "为监测案例落实帮扶措施", "parameters": [p("id", "path", "案例编号")], "requestBody": body("{measure_type, responsible, date, amount?, note?}"), "responses": created("案例") } },
        "/api/v1/monitoring-cases/{id}/elimination-procedure": {
            "get": { "summary": "监测案例的风险消除程序（入户核实→村级评议公示→县级审批公告）：已登记的步骤、下一步、公示期、当前的消除条件",
                     "parameters": [p("id", "path", "案例编号")],
                     "responses": { "200": { "description": "程序" }, "401": { "$ref": "#/components/responses/Error" }, "403": { "$ref": "#/components/responses/Error" }, "404": { "$ref": "#/components/responses/Error" } } },
            "post": { "summary": "登记下一步（日期、责任人）。入户核实和县级审批公告须满足全部风险消除条件；县级审批公告须在村级评议公示满规则天数之后，登记即风险消除（POST …/{id}/eliminate 不再单独消除）",
                      "parameters": [p("id", "path", "案例编号")], "requestBody": body("{step: verification|village_review|county_approval（或中文名）, date, responsible, note?}"),
                      "responses": { "201": { "description": "程序（县级审批公告后案例为已消除）" }, "401": { "$ref": "#/components/responses/Error" }, "403": { "$ref": "#/components/responses/Error" },
                                     "404": { "$ref": "#/components/responses/Error" }, "409": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/monitoring-cases/{id}/eliminate": {
            "post": { "summary": "风险消除只由风险消除程序的县级审批公告生效：此处总是拒绝，并说明尚缺的步骤（422），或风险已于何日消除（409）",
                      "parameters": [p("id", "path", "案例编号")],
                      "responses": { "401": { "$ref": "#/components/responses/Error" }, "403": { "$ref": "#/components/responses/Error" }, "404": { "$ref": "#/components/responses/Error" },
                                     "409": { "$ref": "#/components/responses/Error" }, "422": { "$ref": "#/components/responses/Error" } } } },
        "/api/v1/imports/visits": { "post": { "summary": "导入走访记录（CSV/XLSX，表单字段 file；全部或全不）", "responses": ok("{rows, written}") } }
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
