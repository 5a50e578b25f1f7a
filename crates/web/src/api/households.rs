//! The registry API: households and members (masked), their history, explicit changes, reveals
//! and imports. JSON bodies use English field names; each maps to a template column, so the
//! API, the pages and file imports share one set of checks.

use super::{
    ApiJson, ApiPath, ApiQuery, Page, parse_bool_param, parse_i64_param, parse_region_param,
};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use crate::upload::{self, UploadKind};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use domain::Caller;
use domain::codes::CodeTables;
use domain::money::Fen;
use domain::registry::{
    CheckContext, ColumnMap, HOUSEHOLD_JSON_FIELDS, IncomeRow, MEMBER_JSON_FIELDS, MemberRow,
    check_member_row, json_field_for,
};
use domain::validation::FieldError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::regions::NoProgress;
use store::registry::{
    Cadre, EventType, HouseholdCursor, HouseholdDetail, HouseholdFilter, HouseholdSort,
    HouseholdSummary, IncomeYear, NewEvent, NewMeasure,
};
use store::registry_import::{ImportOptions, ImportOutcome};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households", get(list).post(create))
        .route("/api/v1/households/{id}", get(detail).put(update))
        .route("/api/v1/households/{id}/members", post(add_member))
        .route("/api/v1/households/{id}/events", post(event))
        .route("/api/v1/households/{id}/status", post(status))
        .route("/api/v1/households/{id}/incomes/{year}", put(income))
        .route("/api/v1/households/{id}/cadres", post(cadre))
        .route("/api/v1/households/{id}/measures", post(measure))
        .route("/api/v1/members/{id}/reveal", post(reveal))
        .route(
            "/api/v1/imports/households",
            post(import_households).layer(upload::body_limit()),
        )
        .route(
            "/api/v1/imports/incomes",
            post(import_incomes).layer(upload::body_limit()),
        )
        .route("/api/v1/codes", get(codes))
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub region: Option<String>,
    pub status: Option<String>,
    pub attribute: Option<String>,
    pub cause: Option<String>,
    pub identified_year: Option<String>,
    pub income_year: Option<String>,
    pub income_min: Option<String>,
    pub income_max: Option<String>,
    pub monitored: Option<String>,
    pub monitoring_type: Option<String>,
    pub include_removed: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn code_param(
    field: &str,
    value: Option<&str>,
    table: &domain::codes::CodeTable,
) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => table
            .lookup(v)
            .map(|e| Some(e.code.clone()))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    field,
                    format!("{field}“{v}”无效，可选：{}", table.choices_zh()),
                )
            }),
    }
}

fn money_param(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            Fen::parse_yuan(v)
                .map(|f| f.0)
                .map_err(|e| ApiError::invalid_field(field, e.to_string()))
        })
        .transpose()
}

/// Parses list filters (shared by the API, the pages and exports).
pub fn parse_filter(
    q: &ListQuery,
    tables: &CodeTables,
) -> Result<(HouseholdFilter, HouseholdSort), ApiError> {
    let filter = HouseholdFilter {
        region: non_empty(&q.region)
            .map(|r| parse_region_param("region", r))
            .transpose()?,
        status: code_param("status", non_empty(&q.status), &tables.poverty_status)?,
        attribute: code_param(
            "attribute",
            non_empty(&q.attribute),
            &tables.household_attribute,
        )?,
        cause: code_param("cause", non_empty(&q.cause), &tables.cause)?,
        identified_year: parse_i64_param("identified_year", non_empty(&q.identified_year))?,
        income_year: parse_i64_param("income_year", non_empty(&q.income_year))?,
        income_min_fen: money_param("income_min", non_empty(&q.income_min))?,
        income_max_fen: money_param("income_max", non_empty(&q.income_max))?,
        monitored: parse_bool_param("monitored", non_empty(&q.monitored))?,
        monitoring_type: code_param(
            "monitoring_type",
            non_empty(&q.monitoring_type),
            &tables.monitoring_type,
        )?,
        include_removed: parse_bool_param("include_removed", non_empty(&q.include_removed))?
            .unwrap_or(false),
        name: non_empty(&q.q).map(domain::text::normalize),
    };
    if (filter.income_min_fen.is_some() || filter.income_max_fen.is_some())
        && filter.income_year.is_none()
    {
        return Err(ApiError::invalid_field(
            "income_year",
            "按收入筛选时须指定收入年度 income_year",
        ));
    }
    let sort = HouseholdSort::parse(non_empty(&q.sort).unwrap_or("")).ok_or_else(|| {
        ApiError::invalid_field(
            "sort",
            "sort 应为 household_no、identified_year 或 member_count",
        )
    })?;
    Ok((filter, sort))
}

async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<HouseholdSummary>>, ApiError> {
    let tables = state.db.code_tables().await?;
    let (filter, sort) = parse_filter(&q, &tables)?;
    let limit = match non_empty(&q.limit) {
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
    let after = non_empty(&q.cursor)
        .map(|c| {
            HouseholdCursor::decode(c)
                .ok_or_else(|| ApiError::invalid_field("cursor", "cursor 无效"))
        })
        .transpose()?;
    let mut items = state
        .db
        .list_households(&caller, &filter, sort, after.as_ref(), limit + 1)
        .await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items
            .last()
            .map(|h| store::Db::household_cursor(sort, h).encode())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {s} 不存在")))
}

async fn require_household(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<HouseholdDetail, ApiError> {
    state
        .db
        .household_detail(caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("户 {id} 不存在")))
}

async fn detail(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HouseholdDetail>, ApiError> {
    let id = parse_id(&id, "户")?;
    Ok(Json(require_household(&state, &caller, id).await?))
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "是" } else { "否" }.into(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join("、"),
        other => other.to_string(),
    }
}

/// Turns a JSON household (with members) into template rows, so the file checks apply.
/// Household fields absent from the body are absent columns (left unchanged on update).
pub fn rows_from_json(
    body: &Map<String, Value>,
) -> Result<(Vec<String>, Vec<Vec<String>>), ApiError> {
    let members = match body.get("members") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => {
            return Err(ApiError::invalid_field(
                "members",
                "请至少填写一名成员（含户主）",
            ));
        }
    };
    let household_cols: Vec<(&str, &str)> = HOUSEHOLD_JSON_FIELDS
        .iter()
        .copied()
        .filter(|(f, _)| body.contains_key(*f) || is_required_household(f))
        .collect();
    let mut headers: Vec<String> = household_cols.iter().map(|(_, c)| c.to_string()).collect();
    headers.extend(MEMBER_JSON_FIELDS.iter().map(|(_, c)| c.to_string()));
    let mut rows = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(ApiError::invalid_field(
                &format!("members[{i}]"),
                "成员应为对象",
            ));
        };
        let mut row: Vec<String> = household_cols
            .iter()
            .map(|(f, _)| body.get(*f).map(cell).unwrap_or_default())
            .collect();
        row.extend(
            MEMBER_JSON_FIELDS
                .iter()
                .map(|(f, _)| m.get(*f).map(cell).unwrap_or_default()),
        );
        rows.push(row);
    }
    Ok((headers, rows))
}

fn is_required_household(field: &str) -> bool {
    matches!(
        field,
        "household_no"
            | "village_code"
            | "attribute"
            | "identification_standard"
            | "main_cause"
            | "identified_year"
            | "status"
    )
}

/// Maps a template column back to the API field path for row `i` of the members.
fn api_field(column: &str, member_index: Option<usize>) -> String {
    match json_field_for(column) {
        Some((f, true)) => f.to_string(),
        Some((f, false)) => match member_index {
            Some(i) => format!("members[{i}].{f}"),
            None => f.to_string(),
        },
        None => column.to_string(),
    }
}

pub(crate) fn checked_rows(
    headers: &[String],
    rows: &[Vec<String>],
    tables: &CodeTables,
    registry_closed_after_year: i64,
) -> Result<Vec<MemberRow>, ApiError> {
    let map = ColumnMap::members(headers);
    let ctx = CheckContext {
        tables,
        today: store::today(),
        registry_closed_after_year,
    };
    let mut details = Vec::new();
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match check_member_row(&map, r, &ctx) {
            Ok(row) => out.push(row),
            Err(ps) => details.extend(ps.into_iter().map(|p| FieldError {
                field: api_field(&p.column, Some(i)),
                row: None,
                value: Some(p.value),
                message: p.message,
            })),
        }
    }
    if details.is_empty() {
        Ok(out)
    } else {
        Err(store::StoreError::invalid(details).into())
    }
}

/// Converts row problems from the store into API field paths.
fn api_problems(e: store::StoreError) -> ApiError {
    match e {
        store::StoreError::ImportRejected(problems) => {
            let details: Vec<FieldError> = problems
                .into_iter()
                .map(|p| FieldError {
                    field: api_field(&p.column, Some(p.row as usize)),
                    row: None,
                    value: Some(p.value),
                    message: p.message,
                })
                .collect();
            store::StoreError::invalid(details).into()
        }
        other => other.into(),
    }
}

pub(crate) async fn write_household(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<i64, ApiError> {
    write_household_with_event(state, caller, body, None).await
}

async fn write_household_with_event(
    state: &AppState,
    caller: &Caller,
    body: &Map<String, Value>,
    event: Option<store::registry_import::MemberAdded>,
) -> Result<i64, ApiError> {
    let tables = state.db.code_tables().await?;
    let (headers, rows) = rows_from_json(body)?;
    let closed_after = state
        .db
        .current_rules()
        .await?
        .rules
        .registry_closed_after_year;
    let rows = checked_rows(&headers, &rows, &tables, closed_after)?;
    let no = rows[0].household.household_no.clone();
    state
        .db
        .apply_household_rows_with_event(caller, rows, "API", event)
        .await
        .map_err(api_problems)?;
    state
        .db
        .household_id_by_no(caller, &no)
        .await?
        .ok_or_else(|| ApiError::not_found("户不在您的管辖范围内"))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<HouseholdDetail>), ApiError> {
    // Who may write at all comes first, so that callers who may not learn nothing (not even
    // whether a household number is taken).
    if !caller.can_write_registry() {
        return Err(ApiError::forbidden("您没有修改建档立卡数据的权限"));
    }
    let no = body.get("household_no").map(cell).unwrap_or_default();
    state
        .db
        .require_household_no_free(&caller, &no, "API")
        .await?;
    let id = write_household(&state, &caller, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(require_household(&state, &caller, id).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<HouseholdDetail>, ApiError> {
    let id = parse_id(&id, "户")?;
    let current = require_household(&state, &caller, id).await?;
    match body.get("household_no").map(cell) {
        None => {
            body.insert("household_no".into(), json!(current.summary.household_no));
        }
        Some(no) if no.trim() != current.summary.household_no => {
            return Err(ApiError::invalid_field("household_no", "户编号不能修改"));
        }
        Some(_) => {}
    }
    // A 一般农户 stays one unless the body says otherwise (a blank type means 建档立卡户).
    if !current.summary.registered && !body.contains_key("household_type") {
        body.insert(
            "household_type".into(),
            json!(domain::registry::HOUSEHOLD_TYPE_NOT_REGISTERED),
        );
    }
    write_household(&state, &caller, &body).await?;
    Ok(Json(require_household(&state, &caller, id).await?))
}

/// The household's own columns as template cells (codes; the checks accept codes too).
pub(crate) fn household_cells(h: &HouseholdDetail) -> Map<String, Value> {
    let s = &h.summary;
    let mut m = Map::new();
    m.insert("household_no".into(), json!(s.household_no));
    m.insert("village_code".into(), json!(s.village_code));
    if !s.registered {
        // No identification data: the columns stay empty, as the checks require of a 一般农户.
        m.insert(
            "household_type".into(),
            json!(domain::registry::HOUSEHOLD_TYPE_NOT_REGISTERED),
        );
        return m;
    }
    m.insert("attribute".into(), json!(s.attribute.code));
    m.insert(
        "identification_standard".into(),
        json!(s.identification_standard.code),
    );
    m.insert("main_cause".into(), json!(s.main_cause.code));
    m.insert(
        "other_causes".into(),
        json!(
            s.other_causes
                .iter()
                .map(|c| c.code.clone())
                .collect::<Vec<_>>()
        ),
    );
    m.insert("identified_year".into(), json!(s.identified_year));
    m.insert("status".into(), json!(s.status.code));
    m.insert("exit_year".into(), json!(s.exit_year));
    m
}

#[derive(Deserialize)]
pub struct AddMemberBody {
    event_type: Option<String>,
    date: Option<String>,
    note: Option<String>,
    member: Option<Map<String, Value>>,
}

async fn add_member(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AddMemberBody>,
) -> Result<(StatusCode, Json<HouseholdDetail>), ApiError> {
    let id = parse_id(&id, "户")?;
    let Some(member) = body.member else {
        return Err(ApiError::invalid_field("member", "请填写新成员信息"));
    };
    let date = body.date.unwrap_or_else(|| store::today().to_string());
    add_member_with_event(
        &state,
        &caller,
        id,
        member,
        body.event_type.as_deref().unwrap_or(""),
        &date,
        body.note.unwrap_or_default(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(require_household(&state, &caller, id).await?),
    ))
}

/// Adds one member to a household with its 动态调整 event (birth, marriage in, return), both in
/// one transaction. Shared by the API and the household page.
pub(crate) async fn add_member_with_event(
    state: &AppState,
    caller: &Caller,
    id: i64,
    member: Map<String, Value>,
    event_type: &str,
    date: &str,
    note: String,
) -> Result<(), ApiError> {
    let current = require_household(state, caller, id).await?;
    let kind = EventType::parse(event_type)
        .filter(|k| k.adds_member())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "event_type",
                "新增成员的事由应为 birth（出生）、marriage_in（婚入）或 return（回流）",
            )
        })?;
    if !store::registry::valid_date(date) {
        return Err(ApiError::invalid_field("date", "日期应为 YYYY-MM-DD"));
    }
    let mut h = household_cells(&current);
    h.insert("members".into(), Value::Array(vec![Value::Object(member)]));
    let event = store::registry_import::MemberAdded {
        household_id: id,
        kind: kind.as_str().into(),
        date: date.into(),
        note,
    };
    write_household_with_event(state, caller, &h, Some(event)).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct EventBody {
    event_type: Option<String>,
    member_id: Option<i64>,
    date: Option<String>,
    note: Option<String>,
}

async fn event(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<(StatusCode, Json<HouseholdDetail>), ApiError> {
    let id = parse_id(&id, "户")?;
    let kind = body.event_type.as_deref().and_then(EventType::parse).filter(|k| !k.adds_member()).ok_or_else(|| {
        ApiError::invalid_field(
            "event_type",
            "事由应为 death（死亡）、marriage_out（婚出）、moved_away（迁出）、split（分户）或 household_removed（识别不准清退）；新增成员请用 /members",
        )
    })?;
    let date = body
        .date
        .ok_or_else(|| ApiError::invalid_field("date", "请填写日期（YYYY-MM-DD）"))?;
    let note = body.note.unwrap_or_default();
    if kind == EventType::HouseholdRemoved && note.trim().is_empty() {
        return Err(ApiError::invalid_field("note", "清退须写明原因"));
    }
    state
        .db
        .record_household_event(
            &caller,
            id,
            NewEvent {
                kind,
                member_id: body.member_id,
                date,
                note,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(require_household(&state, &caller, id).await?),
    ))
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: Option<String>,
    year: Option<i64>,
    note: Option<String>,
}

async fn status(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<HouseholdDetail>, ApiError> {
    let id = parse_id(&id, "户")?;
    let s = body
        .status
        .ok_or_else(|| ApiError::invalid_field("status", "请填写脱贫状态"))?;
    let year = body
        .year
        .ok_or_else(|| ApiError::invalid_field("year", "请填写年份"))?;
    state
        .db
        .change_household_status(&caller, id, &s, year, body.note.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(require_household(&state, &caller, id).await?))
}

#[derive(Deserialize)]
pub struct IncomeBody {
    wage: Option<Value>,
    business: Option<Value>,
    property: Option<Value>,
    transfer: Option<Value>,
    business_cost: Option<Value>,
}

async fn income(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath((id, year)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<IncomeBody>,
) -> Result<Json<IncomeYear>, ApiError> {
    let id = parse_id(&id, "户")?;
    let current = require_household(&state, &caller, id).await?;
    let headers: Vec<String> = domain::registry::INCOME_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let v = |x: &Option<Value>| x.as_ref().map(cell).unwrap_or_default();
    let cells = vec![
        current.summary.household_no.clone(),
        year,
        v(&body.wage),
        v(&body.business),
        v(&body.property),
        v(&body.transfer),
        v(&body.business_cost),
    ];
    let names = [
        "household_no",
        "year",
        "wage",
        "business",
        "property",
        "transfer",
        "business_cost",
    ];
    let row: IncomeRow = domain::registry::check_income_row(
        &ColumnMap::incomes(&headers),
        &cells,
        store::current_year(),
    )
    .map_err(|ps| {
        let details = ps
            .into_iter()
            .map(|p| {
                let i = domain::registry::INCOME_COLUMNS
                    .iter()
                    .position(|c| *c == p.column)
                    .unwrap_or(0);
                FieldError {
                    field: names[i].into(),
                    row: None,
                    value: Some(p.value),
                    message: p.message,
                }
            })
            .collect();
        ApiError::from(store::StoreError::invalid(details))
    })?;
    Ok(Json(state.db.record_income(&caller, id, &row).await?))
}

#[derive(Deserialize)]
pub struct CadreBody {
    name: Option<String>,
    unit: Option<String>,
    unit_level: Option<String>,
    phone: Option<String>,
    start_date: Option<String>,
}

async fn cadre(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<CadreBody>,
) -> Result<(StatusCode, Json<HouseholdDetail>), ApiError> {
    let id = parse_id(&id, "户")?;
    let c = Cadre {
        name: b.name.unwrap_or_default(),
        unit: b.unit.unwrap_or_default(),
        unit_level: b.unit_level.unwrap_or_default(),
        phone: b.phone.unwrap_or_default(),
        start_date: b.start_date.unwrap_or_default(),
    };
    state.db.add_cadre(&caller, id, &c).await?;
    Ok((
        StatusCode::CREATED,
        Json(require_household(&state, &caller, id).await?),
    ))
}

#[derive(Deserialize)]
pub struct MeasureBody {
    measure_type: Option<String>,
    project_id: Option<i64>,
    amount: Option<Value>,
    date: Option<String>,
    relocated_from: Option<String>,
    relocated_to: Option<String>,
    note: Option<String>,
}

async fn measure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MeasureBody>,
) -> Result<(StatusCode, Json<HouseholdDetail>), ApiError> {
    let id = parse_id(&id, "户")?;
    let amount_fen = match b.amount.as_ref().map(cell).filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(a) => Some(
            Fen::parse_yuan(&a)
                .map_err(|e| ApiError::invalid_field("amount", e.to_string()))?
                .0,
        ),
    };
    let m = NewMeasure {
        measure_type: b.measure_type.unwrap_or_default(),
        project_id: b.project_id,
        amount_fen,
        date: b.date.unwrap_or_default(),
        relocated_from: b.relocated_from,
        relocated_to: b.relocated_to,
        note: b.note.unwrap_or_default(),
    };
    state.db.add_measure(&caller, id, &m).await?;
    Ok((
        StatusCode::CREATED,
        Json(require_household(&state, &caller, id).await?),
    ))
}

#[derive(Deserialize, Default)]
pub struct RevealBody {
    reason: Option<String>,
}

async fn reveal(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RevealBody>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "成员")?;
    // The store checks the reason (domain::auth::check_reveal_reason), after the permission.
    let (id_number, phone) = state
        .db
        .reveal_member(&caller, id, b.reason.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(
        json!({ "member_id": id, "id_number": id_number, "phone": phone, "recorded": true }),
    ))
}

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    dry_run: Option<String>,
}

async fn run_upload(
    state: &AppState,
    caller: &Caller,
    q: &ImportQuery,
    req: Request,
    incomes: bool,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    let dry_run = parse_bool_param("dry_run", q.dry_run.as_deref())?.unwrap_or(false);
    let file = upload::receive(state, caller, UploadKind::Registry, req)
        .await?
        .require_file()?;
    let name = file.name.clone();
    // The registry import reads rows on a blocking thread of its own.
    let table = file.open(false).await?;
    let options = ImportOptions {
        dry_run,
        file_name: name,
    };
    let outcome = if incomes {
        state
            .db
            .import_incomes(caller, table, &options, &NoProgress)
            .await?
    } else {
        state
            .db
            .import_members(caller, table, &options, &NoProgress)
            .await?
    };
    let status = if outcome.problem_count > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)))
}

async fn import_households(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    req: Request,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    run_upload(&state, &caller, &q, req, false).await
}

async fn import_incomes(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    req: Request,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    run_upload(&state, &caller, &q, req, true).await
}

async fn codes(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tables = state.db.code_tables().await?;
    let out: Map<String, Value> = tables
        .iter()
        .map(|t| {
            let entries: Vec<Value> = t
                .entries()
                .iter()
                .map(|e| json!({"code": e.code, "name": e.name, "aliases": e.aliases, "valid_from": e.valid_from}))
                .collect();
            (t.name.clone(), Value::Array(entries))
        })
        .collect();
    Ok(Json(Value::Object(out)))
}

/// The registry's part of the OpenAPI document.
pub fn openapi(doc: &mut Value) {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let obj =
        json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
    let ok = |d: &str| json!({"200": {"description": d}, "401": {"description": "未登录"}, "403": {"description": "无权限"}, "404": {"description": "不存在或不在管辖范围内"}, "422": {"description": "数据有误，details 列出每个字段"}});
    let created = |d: &str| json!({"201": {"description": d}, "401": {"description": "未登录"}, "403": {"description": "无权限"}, "422": {"description": "数据有误"}});
    let filters: Vec<Value> = [
        "region",
        "status",
        "attribute",
        "cause",
        "identified_year",
        "income_year",
        "income_min",
        "income_max",
        "monitored",
        "monitoring_type",
        "include_removed",
        "q",
        "sort",
        "limit",
        "cursor",
    ]
    .iter()
    .map(|n| json!({"name": n, "in": "query", "required": false, "schema": {"type": "string"}}))
    .collect();
    // The exports take the list's filters and sort, without paging.
    let export_filters: Vec<Value> = filters
        .iter()
        .filter(|p| p["name"] != "limit" && p["name"] != "cursor")
        .cloned()
        .collect();
    let upload = super::ledger_openapi::upload();
    let dry = json!([{"name": "dry_run", "in": "query", "required": false, "schema": {"type": "string"}}]);
    let paths = json!({
        "/api/v1/households": {
            "get": {"summary": "建档立卡户列表（按管辖范围；证件号码脱敏）", "parameters": filters, "responses": ok("列表")},
            "post": {"summary": "新建一户（含成员；与导入相同的校验）", "requestBody": obj, "responses": created("一户一档")}},
        "/api/v1/households/{id}": {
            "get": {"summary": "一户一档：成员、收入、状态历史、帮扶责任人、措施、动态调整", "parameters": [id], "responses": ok("一户一档")},
            "put": {"summary": "修改一户（按人编号或证件号码匹配成员，新成员追加）", "parameters": [id], "requestBody": obj, "responses": ok("一户一档")}},
        "/api/v1/households/{id}/members": {"post": {"summary": "新增成员（出生、婚入、回流）", "parameters": [id], "requestBody": obj, "responses": created("一户一档")}},
        "/api/v1/households/{id}/events": {"post": {"summary": "减少成员（死亡、婚出、迁出、分户）或识别不准清退", "parameters": [id], "requestBody": obj, "responses": created("一户一档")}},
        "/api/v1/households/{id}/status": {"post": {"summary": "脱贫状态变更（追加历史）：只允许 已脱贫（享受政策）→ 已脱贫（不再享受政策）（脱贫年度不变）和 已脱贫 → 返贫（限规则 returned_status_last_year 及以前）；未脱贫或返贫 → 已脱贫 只能经退出程序销号（/api/v1/households/{id}/exit-procedure）；其他变更返回 422", "parameters": [id], "requestBody": obj, "responses": ok("一户一档")}},
        "/api/v1/households/{id}/incomes/{year}": {"put": {"summary": "某年收入（自动计算家庭纯收入与人均纯收入）", "parameters": [id, {"name": "year", "in": "path", "required": true, "schema": {"type": "integer"}}], "requestBody": obj, "responses": ok("该年收入")}},
        "/api/v1/households/{id}/cadres": {"post": {"summary": "帮扶责任人（追加）", "parameters": [id], "requestBody": obj, "responses": created("一户一档")}},
        "/api/v1/households/{id}/measures": {"post": {"summary": "帮扶措施（易地扶贫搬迁须填迁出、迁入村）", "parameters": [id], "requestBody": obj, "responses": created("一户一档")}},
        "/api/v1/members/{id}/reveal": {"post": {"summary": "查看完整证件号码与电话（须有权限并填写事由；记入审计）", "parameters": [id], "requestBody": obj, "responses": ok("完整号码")}},
        "/api/v1/imports/households": {"post": {"summary": "上传成员表（CSV/XLSX；全部成功或全部不写）", "parameters": dry.clone(), "requestBody": upload.clone(), "responses": ok("导入结果；有问题时 422 并列出每行每列")}},
        "/api/v1/imports/incomes": {"post": {"summary": "上传收入表", "parameters": dry, "requestBody": upload, "responses": ok("导入结果")}},
        "/api/v1/households/export.csv": {"get": {"summary": "导出筛选后的户列表（CSV，UTF-8 带 BOM；证件号码与电话脱敏；记入审计）", "parameters": export_filters.clone(), "responses": {"200": {"description": "CSV 文件", "content": {"text/csv": {}}}, "401": {"description": "未登录"}, "403": {"description": "无权限"}, "422": {"description": "筛选条件有误"}}}},
        "/api/v1/households/export.xlsx": {"get": {"summary": "导出筛选后的户列表（XLSX）", "parameters": export_filters, "responses": {"200": {"description": "XLSX 文件", "content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}, "401": {"description": "未登录"}, "403": {"description": "无权限"}, "422": {"description": "筛选条件有误"}}}},
        "/api/v1/codes": {"get": {"summary": "代码表（含别名、启用年份）", "responses": {"200": {"description": "代码表"}}}}
    });
    if let (Some(all), Value::Object(new)) =
        (doc.get_mut("paths").and_then(Value::as_object_mut), paths)
    {
        all.extend(new);
    }
}
