//! The registry pages (建档立卡), server-rendered and usable on a phone without JavaScript:
//!
//! - `/registry`: county → town → village drill-down with household and people counts;
//! - `/households`: the household list with the API's filters (a GET form) and keyset pages,
//!   with links to the CSV/XLSX export of the same list;
//! - `/households/{id}`: the household file (一户一档), printable on A4, with the forms for
//!   changes over time (status, income, cadre, measure, members in and out) and the reveal form;
//! - `/households/new`, `/households/{id}/edit`: household forms that go through the same checks
//!   as the API (`api::households::write_household`) and come back with each message next to
//!   its field;
//! - `/imports`: file upload (members or incomes), dry run, the problems and their report as
//!   CSV/XLSX, and the XLSX templates.
//!
//! A form that fails renders the page again with status 422 and writes nothing; a form that
//! succeeds redirects (303) to the household file.

use crate::AppState;
use crate::api::exports::{XLSX_TYPE, attachment};
use crate::api::households::{
    ListQuery, add_member_with_event, checked_rows, parse_filter, rows_from_json, write_household,
};
use crate::error::{ApiError, PageError};
use crate::pages::format::{MoneyHtml, money};
use crate::scope::CurrentCaller;
use crate::upload::{self, UploadKind};
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::codes::{CodeTable, CodeTables};
use domain::money::Fen;
use domain::registry::{
    HOUSEHOLD_JSON_FIELDS, HOUSEHOLD_TYPE_NOT_REGISTERED, HOUSEHOLD_TYPE_REGISTERED,
    INCOME_COLUMNS, MEMBER_JSON_FIELDS,
};
use domain::{Caller, RegionCode, RegionLevel};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use store::registry::{
    Cadre, EventType, HouseholdCursor, HouseholdDetail, MEASURE_TYPES, NewEvent, NewMeasure,
};
use store::registry_import::{ImportOptions, ImportOutcome, RowProblem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/registry.css", get(css))
        .route("/registry", get(drill_down))
        .route("/households", get(list))
        .route("/households/new", get(new_form).post(create))
        .route("/households/{id}", get(household_file))
        .route("/households/{id}/edit", get(edit_form).post(update))
        .route("/households/{id}/status", post(status))
        .route("/households/{id}/income", post(income))
        .route("/households/{id}/cadres", post(cadre))
        .route("/households/{id}/measures", post(measure))
        .route("/households/{id}/members", post(add_member))
        .route("/households/{id}/events", post(event))
        .route("/households/{id}/reveal", post(reveal))
        .route(
            "/imports",
            get(import_form)
                .post(import_upload)
                .layer(upload::body_limit()),
        )
        .route("/imports/reports/{file}", get(report_download))
        .route("/imports/template/members.xlsx", get(members_template))
        .route("/imports/template/incomes.xlsx", get(incomes_template))
}

const LIST_LIMIT: i64 = 50;
/// Rows of blank member fields on the new-household form.
const NEW_MEMBER_ROWS: usize = 6;
/// Problems shown on the import page; the downloadable report has all of them.
const PROBLEMS_SHOWN: usize = 500;

type PageResult = Result<Response, PageError>;

fn render_status(t: impl Template, status: StatusCode) -> PageResult {
    Ok((status, Html(t.render().map_err(ApiError::from)?)).into_response())
}

fn render(t: impl Template) -> PageResult {
    render_status(t, StatusCode::OK)
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/registry.css"),
    )
}

/// The public is sent to the login page rather than shown a refusal.
fn login_first(caller: &Caller, uri: &Uri) -> Option<Response> {
    (!caller.is_authenticated()).then(|| {
        crate::auth::login_redirect(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn yuan(fen: i64) -> MoneyHtml {
    money(Fen(fen))
}

fn flag_text(b: Option<bool>) -> String {
    match b {
        Some(true) => "是".into(),
        Some(false) => "否".into(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Forms: a form is data (fields with value, error and choices) rendered by one template piece.

/// One input of a form.
pub struct FieldView {
    pub name: String,
    pub label: String,
    pub value: String,
    pub error: Option<String>,
    /// Non-empty: a select with (value, text) choices.
    pub options: Vec<(String, String)>,
    pub input_type: &'static str,
    pub hint: String,
    pub readonly: bool,
    pub required: bool,
}

impl FieldView {
    fn new(name: &str, label: &str) -> FieldView {
        FieldView {
            name: name.into(),
            label: label.into(),
            value: String::new(),
            error: None,
            options: Vec::new(),
            input_type: "text",
            hint: String::new(),
            readonly: false,
            required: false,
        }
    }

    fn kind(mut self, t: &'static str) -> FieldView {
        self.input_type = t;
        self
    }

    fn choices(mut self, options: Vec<(String, String)>) -> FieldView {
        self.options = options;
        self
    }

    fn hint(mut self, h: &str) -> FieldView {
        self.hint = h.into();
        self
    }

    fn required(mut self) -> FieldView {
        self.required = true;
        self
    }

    fn readonly(mut self) -> FieldView {
        self.readonly = true;
        self
    }

    fn value(mut self, v: impl Into<String>) -> FieldView {
        self.value = v.into();
        self
    }

    /// Takes the submitted value and the message of a failed form.
    fn state(mut self, st: Option<&FormState>) -> FieldView {
        if let Some(st) = st {
            if let Some(v) = st.values.get(&self.name) {
                self.value = v.clone();
            }
            self.error = st.errors.get(&self.name).cloned();
        }
        self
    }
}

/// A form on a page.
pub struct FormView {
    pub id: &'static str,
    pub title: &'static str,
    pub action: String,
    pub submit: &'static str,
    pub fields: Vec<FieldView>,
    pub general: Vec<String>,
    pub open: bool,
}

/// What a failed form submission leaves for the page that shows it again.
#[derive(Default, Debug)]
pub struct FormState {
    pub values: HashMap<String, String>,
    pub errors: HashMap<String, String>,
    pub general: Vec<String>,
}

impl FormState {
    fn from_values(pairs: &[(String, String)]) -> FormState {
        FormState {
            values: pairs.iter().cloned().collect(),
            ..Default::default()
        }
    }

    /// Household columns are checked on every member row: the same message comes once.
    fn add(&mut self, field: &str, message: &str) {
        match self.errors.get_mut(field) {
            Some(m) if m.split('；').any(|x| x == message) => {}
            Some(m) => {
                m.push('；');
                m.push_str(message);
            }
            None => {
                self.errors.insert(field.to_string(), message.to_string());
            }
        }
    }

    /// Places the details of a refusal next to the fields they name (after `rename`); the rest
    /// (and refusals without details) go above the form. Server errors stay errors.
    fn absorb(
        &mut self,
        e: ApiError,
        known: &[String],
        rename: impl Fn(&str) -> String,
    ) -> Result<StatusCode, PageError> {
        match e.status {
            StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::BAD_REQUEST
            | StatusCode::FORBIDDEN
            | StatusCode::CONFLICT => {
                if e.details.is_empty() {
                    self.general.push(e.message.clone());
                }
                for d in &e.details {
                    let f = rename(&d.field);
                    if known.contains(&f) {
                        self.add(&f, &d.message);
                    } else {
                        self.general.push(d.message.clone());
                    }
                }
                Ok(if e.status == StatusCode::FORBIDDEN {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                })
            }
            _ => Err(PageError(e)),
        }
    }

    fn get(&self, k: &str) -> String {
        self.values
            .get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }
}

fn code_options(t: &CodeTable) -> Vec<(String, String)> {
    std::iter::once((String::new(), "请选择".to_string()))
        .chain(t.entries().iter().map(|e| (e.code.clone(), e.name.clone())))
        .collect()
}

fn flag_options() -> Vec<(String, String)> {
    vec![
        (String::new(), "未填".into()),
        ("是".into(), "是".into()),
        ("否".into(), "否".into()),
    ]
}

fn plain_options(items: &[&str]) -> Vec<(String, String)> {
    std::iter::once((String::new(), "请选择".to_string()))
        .chain(items.iter().map(|s| (s.to_string(), s.to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Drill-down.

struct TallyView {
    code: String,
    name: String,
    parents: String,
    households: i64,
    people: i64,
    href: String,
    list_href: String,
}

#[derive(Template)]
#[template(path = "registry.html")]
struct RegistryPage {
    title: String,
    crumbs: Vec<(String, String)>,
    child_level: &'static str,
    items: Vec<TallyView>,
    households: i64,
    people: i64,
    list_href: String,
    can_write: bool,
}

#[derive(Deserialize)]
struct RegionQuery {
    region: Option<String>,
}

async fn crumbs_of(state: &AppState, code: RegionCode) -> Result<Vec<(String, String)>, PageError> {
    let mut out: Vec<(String, String)> = state
        .db
        .region_ancestors(code)
        .await?
        .into_iter()
        .map(|r| (r.code.to_string(), r.name))
        .collect();
    if let Some(r) = state.db.get_region(code).await? {
        out.push((r.code.to_string(), r.name));
    }
    Ok(out)
}

async fn drill_down(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
    Query(q): Query<RegionQuery>,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let region = match q.region.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            RegionCode::parse(s)
                .map_err(|_| PageError(ApiError::not_found(format!("区划代码 {s} 不存在"))))?,
        ),
    };
    if let Some(r) = region.filter(|r| r.level() == RegionLevel::Village) {
        return Ok(Redirect::to(&format!("/households?region={r}")).into_response());
    }
    let tally = state.db.registry_tally(&caller, region).await?;
    let child_level = match region {
        None => RegionLevel::County,
        Some(r) => r.level().child().unwrap_or(RegionLevel::Village),
    };
    let (crumbs, title) = match region {
        None => (Vec::new(), "建档立卡".to_string()),
        Some(r) => {
            let c = crumbs_of(&state, r).await?;
            let name = c
                .last()
                .map(|x| x.1.clone())
                .unwrap_or_else(|| r.to_string());
            (c, name)
        }
    };
    let items = tally
        .into_iter()
        .map(|t| {
            let code = t.code.to_string();
            let list_href = format!("/households?region={code}");
            TallyView {
                href: if t.code.level() == RegionLevel::Village {
                    list_href.clone()
                } else {
                    format!("/registry?region={code}")
                },
                list_href,
                code,
                name: t.name,
                parents: t.parents,
                households: t.households,
                people: t.people,
            }
        })
        .collect::<Vec<_>>();
    render(RegistryPage {
        households: items.iter().map(|t| t.households).sum(),
        people: items.iter().map(|t| t.people).sum(),
        list_href: match region {
            Some(r) => format!("/households?region={r}"),
            None => "/households".into(),
        },
        title,
        crumbs,
        child_level: child_level.name_zh(),
        items,
        can_write: caller.can_write_registry(),
    })
}

// ---------------------------------------------------------------------------------------------
// Household list.

struct HouseholdRow {
    id: i64,
    household_no: String,
    head_name: String,
    village: String,
    member_count: i64,
    attribute: String,
    main_cause: String,
    identified_year: i64,
    status: String,
    monitoring: String,
    per_capita: Option<MoneyHtml>,
}

#[derive(Template)]
#[template(path = "registry_households.html")]
struct HouseholdsPage {
    filters: Vec<FieldView>,
    error: Option<String>,
    crumbs: Vec<(String, String)>,
    items: Vec<HouseholdRow>,
    show_income: bool,
    next_href: Option<String>,
    first_href: Option<String>,
    export_query: String,
    can_write: bool,
}

/// The list's filters as a query string (without cursor and limit), for links.
fn filter_query(q: &ListQuery) -> String {
    let pairs = [
        ("region", &q.region),
        ("status", &q.status),
        ("attribute", &q.attribute),
        ("cause", &q.cause),
        ("identified_year", &q.identified_year),
        ("income_year", &q.income_year),
        ("income_min", &q.income_min),
        ("income_max", &q.income_max),
        ("monitored", &q.monitored),
        ("monitoring_type", &q.monitoring_type),
        ("include_removed", &q.include_removed),
        ("q", &q.q),
        ("sort", &q.sort),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn filter_fields(q: &ListQuery, tables: &CodeTables) -> Vec<FieldView> {
    let v = |s: &Option<String>| s.clone().unwrap_or_default().trim().to_string();
    let any = |t: &CodeTable| {
        let mut o = code_options(t);
        o[0].1 = "全部".into();
        o
    };
    vec![
        FieldView::new("region", "区划代码")
            .value(v(&q.region))
            .hint("县、乡或村的代码"),
        FieldView::new("q", "户主或户编号").value(v(&q.q)),
        FieldView::new("status", "脱贫状态")
            .choices(any(&tables.poverty_status))
            .value(v(&q.status)),
        FieldView::new("attribute", "贫困户属性")
            .choices(any(&tables.household_attribute))
            .value(v(&q.attribute)),
        FieldView::new("cause", "致贫原因")
            .choices(any(&tables.cause))
            .value(v(&q.cause)),
        FieldView::new("identified_year", "识别年度")
            .kind("number")
            .value(v(&q.identified_year)),
        FieldView::new("income_year", "收入年度")
            .kind("number")
            .value(v(&q.income_year)),
        FieldView::new("income_min", "人均纯收入不低于（元）").value(v(&q.income_min)),
        FieldView::new("income_max", "人均纯收入不高于（元）").value(v(&q.income_max)),
        FieldView::new("monitored", "防返贫监测")
            .choices(vec![
                (String::new(), "全部".into()),
                ("true".into(), "监测对象".into()),
                ("false".into(), "非监测对象".into()),
            ])
            .value(v(&q.monitored)),
        FieldView::new("sort", "排序")
            .choices(vec![
                ("household_no".into(), "按户编号".into()),
                ("identified_year".into(), "按识别年度".into()),
                ("member_count".into(), "按人口数".into()),
            ])
            .value(v(&q.sort)),
    ]
}

async fn list(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let tables = state.db.code_tables().await?;
    let mut filters = filter_fields(&q, &tables);
    let query = filter_query(&q);
    let mut page = HouseholdsPage {
        filters: Vec::new(),
        error: None,
        crumbs: Vec::new(),
        items: Vec::new(),
        show_income: false,
        next_href: None,
        first_href: None,
        export_query: query.clone(),
        can_write: caller.can_write_registry(),
    };
    let (filter, sort) = match parse_filter(&q, &tables) {
        Ok(x) => x,
        Err(e) => {
            for d in &e.details {
                if let Some(f) = filters.iter_mut().find(|f| f.name == d.field) {
                    f.error = Some(d.message.clone());
                }
            }
            page.error = Some(e.message);
            page.filters = filters;
            return render_status(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let after = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            HouseholdCursor::decode(c)
                .ok_or_else(|| PageError(ApiError::invalid_field("cursor", "翻页位置无效")))?,
        ),
    };
    if let Some(r) = filter.region {
        page.crumbs = crumbs_of(&state, r).await?;
    }
    let mut items = state
        .db
        .list_households(&caller, &filter, sort, after.as_ref(), LIST_LIMIT + 1)
        .await?;
    if items.len() as i64 > LIST_LIMIT {
        items.truncate(LIST_LIMIT as usize);
        let sep = if query.is_empty() { "" } else { "&" };
        page.next_href = items.last().map(|h| {
            format!(
                "/households?{query}{sep}cursor={}",
                store::Db::household_cursor(sort, h).encode()
            )
        });
    }
    if after.is_some() {
        page.first_href = Some(format!("/households?{query}"));
    }
    page.show_income = filter.income_year.is_some();
    page.items = items
        .into_iter()
        .map(|h| HouseholdRow {
            id: h.id,
            household_no: h.household_no,
            head_name: h.head_name,
            village: if h.group_name.is_empty() {
                h.village_name
            } else {
                format!("{} {}", h.village_name, h.group_name)
            },
            member_count: h.member_count,
            attribute: h.attribute.name,
            main_cause: h.main_cause.name,
            identified_year: h.identified_year,
            status: h.status.name,
            monitoring: h.monitoring_type.map(|m| m.name).unwrap_or_default(),
            per_capita: h.per_capita_fen.map(yuan),
        })
        .collect();
    page.filters = filters;
    render(page)
}

// ---------------------------------------------------------------------------------------------
// The household file (一户一档).

struct MemberView {
    id: i64,
    member_no: String,
    name: String,
    sex: String,
    id_number: String,
    relation: String,
    ethnicity: String,
    education: String,
    schooling: String,
    health: String,
    /// "肢体残疾 二级" for a member registered with a 残疾人证号.
    disability: String,
    labour: String,
    migrant_months: String,
    phone: String,
    active: bool,
    left: String,
    reveal_error: Option<String>,
}

struct IncomeView {
    year: i64,
    wage: MoneyHtml,
    business: MoneyHtml,
    property: MoneyHtml,
    transfer: MoneyHtml,
    cost: MoneyHtml,
    net: MoneyHtml,
    size: i64,
    per_capita: MoneyHtml,
}

struct MeasureView {
    measure_type: String,
    amount: Option<MoneyHtml>,
    date: String,
    relocation: String,
    note: String,
}

struct EventView {
    name: String,
    member: String,
    date: String,
    note: String,
    recorded: String,
}

#[derive(Template)]
#[template(path = "registry_household.html")]
struct HouseholdPage {
    d: HouseholdDetail,
    region_path: String,
    facts: Vec<(&'static str, String)>,
    members: Vec<MemberView>,
    incomes: Vec<IncomeView>,
    measures: Vec<MeasureView>,
    events: Vec<EventView>,
    can_write: bool,
    can_reveal: bool,
    reveal_open: bool,
    forms: Vec<FormView>,
    printed_at: String,
}

/// Which form of the household page failed, with what.
struct Failed {
    form: &'static str,
    state: FormState,
}

fn parse_household_id(id: &str) -> Result<i64, PageError> {
    id.parse()
        .map_err(|_| PageError(ApiError::not_found(format!("户 {id} 不存在"))))
}

async fn require_household(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<HouseholdDetail, PageError> {
    state
        .db
        .household_detail(caller, id)
        .await?
        .ok_or_else(|| PageError(ApiError::not_found(format!("户 {id} 不存在"))))
}

async fn household_file(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
    Path(id): Path<String>,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    let id = parse_household_id(&id)?;
    show_household(&state, &caller, id, None, None, StatusCode::OK).await
}

async fn show_household(
    state: &AppState,
    caller: &Caller,
    id: i64,
    failed: Option<Failed>,
    reveal_error: Option<(i64, String)>,
    status: StatusCode,
) -> PageResult {
    let d = require_household(state, caller, id).await?;
    let tables = state.db.code_tables().await?;
    let names: HashMap<i64, String> = d.members.iter().map(|m| (m.id, m.name.clone())).collect();
    let members = d
        .members
        .iter()
        .map(|m| MemberView {
            id: m.id,
            member_no: m.member_no.clone().unwrap_or_default(),
            name: m.name.clone(),
            sex: m.sex.name.clone(),
            id_number: m.id_number.clone().unwrap_or_default(),
            relation: m.relation.name.clone(),
            ethnicity: m.ethnicity.name.clone(),
            education: m.education.name.clone(),
            schooling: m.schooling.name.clone(),
            health: m.health.name.clone(),
            disability: m
                .disability
                .as_ref()
                .map(|d| format!("{} {}", d.category_name, d.grade_name))
                .unwrap_or_default(),
            labour: m.labour.name.clone(),
            migrant_months: m.migrant_months.map(|x| x.to_string()).unwrap_or_default(),
            phone: m.phone.clone(),
            active: m.active,
            left: match (&m.left_reason, &m.left_date) {
                (Some(r), d) => {
                    format!(
                        "{} {}",
                        EventType::parse(r)
                            .map(|e| e.name_zh())
                            .unwrap_or(r.as_str()),
                        d.clone().unwrap_or_default()
                    )
                }
                _ => String::new(),
            },
            reveal_error: reveal_error
                .as_ref()
                .filter(|(mid, _)| *mid == m.id)
                .map(|(_, e)| e.clone()),
        })
        .collect();
    let incomes = d
        .incomes
        .iter()
        .map(|i| IncomeView {
            year: i.year,
            wage: yuan(i.wage_fen),
            business: yuan(i.business_fen),
            property: yuan(i.property_fen),
            transfer: yuan(i.transfer_fen),
            cost: yuan(i.business_cost_fen),
            net: yuan(i.net_fen),
            size: i.household_size,
            per_capita: yuan(i.per_capita_fen),
        })
        .collect();
    let mut measures = Vec::new();
    for m in &d.measures {
        let relocation = if m.relocated_from.is_some() || m.relocated_to.is_some() {
            format!(
                "{} → {}",
                place_name(state, &m.relocated_from).await,
                place_name(state, &m.relocated_to).await
            )
        } else {
            String::new()
        };
        measures.push(MeasureView {
            measure_type: m.measure_type.clone(),
            amount: m.amount_fen.map(yuan),
            date: m.measure_date.clone(),
            relocation,
            note: m.note.clone(),
        });
    }
    let events = d
        .events
        .iter()
        .map(|e| EventView {
            name: if e.event_name.is_empty() {
                e.event_type.clone()
            } else {
                e.event_name.to_string()
            },
            member: e
                .member_id
                .and_then(|m| names.get(&m).cloned())
                .unwrap_or_default(),
            date: e.event_date.clone(),
            note: e.note.clone(),
            recorded: format!(
                "{} {}",
                e.recorded_by,
                e.recorded_at.get(..10).unwrap_or("")
            ),
        })
        .collect();
    let s = &d.summary;
    let facts = vec![
        ("户编号", s.household_no.clone()),
        ("户主", s.head_name.clone()),
        ("家庭人口", format!("{} 人", s.member_count)),
        ("联系电话", d.phone.clone()),
        (
            "户类型",
            if s.registered {
                HOUSEHOLD_TYPE_REGISTERED
            } else {
                domain::registry::NOT_REGISTERED_NAME
            }
            .to_string(),
        ),
        ("贫困户属性", s.attribute.name.clone()),
        ("识别标准", s.identification_standard.name.clone()),
        ("主要致贫原因", s.main_cause.name.clone()),
        (
            "其他致贫原因",
            s.other_causes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join("、"),
        ),
        (
            "识别年度",
            if s.registered {
                s.identified_year.to_string()
            } else {
                "—".into()
            },
        ),
        ("脱贫状态", s.status.name.clone()),
        (
            "脱贫年度",
            s.exit_year
                .map(|y| y.to_string())
                .unwrap_or_else(|| "—".into()),
        ),
        (
            "防返贫监测",
            s.monitoring_type
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_else(|| "否".into()),
        ),
        ("住房是否危房", flag_text(d.housing_dangerous)),
        ("住房结构", d.housing_structure.clone()),
        ("是否安全饮水", flag_text(d.safe_water)),
        ("不愁吃", flag_text(d.food_secure)),
        ("不愁穿", flag_text(d.clothing_secure)),
        ("义务教育有保障", flag_text(d.education_secure)),
        ("基本医疗有保障", flag_text(d.medical_secure)),
        ("住房安全有保障", flag_text(d.housing_secure)),
    ];
    let forms = if caller.can_write_registry() {
        household_forms(&d, &tables, failed.as_ref())
    } else if caller.can_record_field_work() {
        // First secretaries record incomes and measures, nothing else of the household.
        household_forms(&d, &tables, failed.as_ref())
            .into_iter()
            .filter(|f| matches!(f.id, "income" | "measure"))
            .collect()
    } else {
        Vec::new()
    };
    let page = HouseholdPage {
        region_path: d
            .region_path
            .iter()
            .map(|r| r.1.as_str())
            .chain([s.village_name.as_str(), s.group_name.as_str()])
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        facts,
        members,
        incomes,
        measures,
        events,
        can_write: caller.can_write_registry(),
        can_reveal: caller.can_reveal,
        reveal_open: reveal_error.is_some(),
        forms,
        printed_at: format!("{}（{}）", store::today(), caller.username),
        d,
    };
    render_status(page, status)
}

/// "在上村村民委员会（441621103212）" for a village code.
async fn place_name(state: &AppState, code: &Option<String>) -> String {
    let code = code.clone().unwrap_or_default();
    match RegionCode::parse(&code) {
        Ok(c) => state
            .db
            .get_region(c)
            .await
            .ok()
            .flatten()
            .map(|r| format!("{}（{code}）", r.name))
            .unwrap_or(code),
        Err(_) => code,
    }
}

fn member_fields(prefix: &str, tables: &CodeTables) -> Vec<FieldView> {
    let f = |name: &str, label: &str| FieldView::new(&format!("{prefix}{name}"), label);
    vec![
        f("name", "姓名").required(),
        f("sex", "性别")
            .choices(code_options(&tables.sex))
            .required(),
        f("id_number", "证件号码")
            .hint("18 位公民身份号码，15 位旧号码也可")
            .required(),
        f("relation", "与户主关系")
            .choices(code_options(&tables.relation))
            .required(),
        f("ethnicity", "民族")
            .choices(code_options(&tables.ethnicity))
            .required(),
        f("education", "文化程度")
            .choices(code_options(&tables.education))
            .required(),
        f("schooling", "在校生状况")
            .choices(code_options(&tables.schooling))
            .required(),
        f("health", "健康状况")
            .choices(code_options(&tables.health))
            .required(),
        f("labour", "劳动技能")
            .choices(code_options(&tables.labour))
            .required(),
        f("migrant_months", "务工时间（月）").kind("number"),
        f("phone", "联系电话").kind("tel"),
        f("member_no", "人编号").hint("县级系统的人编号，可不填"),
    ]
}

const MEMBER_FORM_FIELDS: [&str; 12] = [
    "name",
    "sex",
    "id_number",
    "relation",
    "ethnicity",
    "education",
    "schooling",
    "health",
    "labour",
    "migrant_months",
    "phone",
    "member_no",
];

fn household_forms(
    d: &HouseholdDetail,
    tables: &CodeTables,
    failed: Option<&Failed>,
) -> Vec<FormView> {
    let st = |form: &str| failed.filter(|f| f.form == form).map(|f| &f.state);
    let id = d.summary.id;
    let this_year = store::current_year();
    let mut forms = Vec::new();
    let mk = |id_: &'static str,
              title: &'static str,
              action: String,
              submit: &'static str,
              fields: Vec<FieldView>| {
        let s = st(id_);
        FormView {
            id: id_,
            title,
            action,
            submit,
            fields: fields.into_iter().map(|f| f.state(s)).collect(),
            general: s.map(|s| s.general.clone()).unwrap_or_default(),
            open: s.is_some(),
        }
    };
    forms.push(mk(
        "status",
        "变更脱贫状态",
        format!("/households/{id}/status"),
        "记录状态变更",
        vec![
            FieldView::new("status", "脱贫状态")
                .choices(code_options(&tables.poverty_status))
                .hint("此处只登记“已脱贫（享受政策）→ 已脱贫（不再享受政策）”和规则允许年份内的返贫；脱贫（含返贫后再次脱贫）须经退出程序销号")
                .required(),
            FieldView::new("year", "年份")
                .kind("number")
                .value(this_year.to_string())
                .required(),
            FieldView::new("note", "说明"),
        ],
    ));
    forms.push(mk(
        "income",
        "录入年度收入（元）",
        format!("/households/{id}/income"),
        "保存收入",
        vec![
            FieldView::new("year", "年度")
                .kind("number")
                .value((this_year - 1).to_string())
                .required(),
            FieldView::new("wage", "工资性收入").hint("如 12,000.50"),
            FieldView::new("business", "生产经营性收入"),
            FieldView::new("property", "财产性收入"),
            FieldView::new("transfer", "转移性收入"),
            FieldView::new("business_cost", "生产经营性支出"),
        ],
    ));
    forms.push(mk(
        "cadre",
        "新增帮扶责任人",
        format!("/households/{id}/cadres"),
        "保存帮扶责任人",
        vec![
            FieldView::new("name", "姓名").required(),
            FieldView::new("unit", "工作单位").required(),
            FieldView::new("unit_level", "单位层级")
                .choices(plain_options(&["省直", "市直", "县直", "乡镇", "村"]))
                .required(),
            FieldView::new("phone", "联系电话").kind("tel"),
            FieldView::new("start_date", "开始日期")
                .kind("date")
                .value(store::today().to_string())
                .required(),
        ],
    ));
    forms.push(mk(
        "measure",
        "新增帮扶措施",
        format!("/households/{id}/measures"),
        "保存帮扶措施",
        vec![
            FieldView::new("measure_type", "措施类型")
                .choices(plain_options(&MEASURE_TYPES))
                .required(),
            FieldView::new("amount", "金额（元）"),
            FieldView::new("date", "日期")
                .kind("date")
                .value(store::today().to_string())
                .required(),
            FieldView::new("relocated_from", "迁出村代码").hint("易地扶贫搬迁必填，12 位"),
            FieldView::new("relocated_to", "迁入村代码").hint("易地扶贫搬迁必填，12 位"),
            FieldView::new("note", "说明"),
        ],
    ));
    let adds: Vec<(String, String)> = std::iter::once((String::new(), "请选择".to_string()))
        .chain(
            EventType::ALL
                .iter()
                .filter(|e| e.adds_member())
                .map(|e| (e.as_str().to_string(), e.name_zh().to_string())),
        )
        .collect();
    let mut add_fields = vec![
        FieldView::new("event_type", "增加事由")
            .choices(adds)
            .required(),
        FieldView::new("date", "变动日期")
            .kind("date")
            .value(store::today().to_string())
            .required(),
        FieldView::new("note", "说明"),
    ];
    add_fields.extend(member_fields("", tables));
    forms.push(mk(
        "add_member",
        "新增成员（出生、婚入、回流）",
        format!("/households/{id}/members"),
        "登记新增成员",
        add_fields,
    ));
    let removes: Vec<(String, String)> = std::iter::once((String::new(), "请选择".to_string()))
        .chain(
            EventType::ALL
                .iter()
                .filter(|e| !e.adds_member())
                .map(|e| (e.as_str().to_string(), e.name_zh().to_string())),
        )
        .collect();
    let active: Vec<(String, String)> =
        std::iter::once((String::new(), "（整户清退时不选）".to_string()))
            .chain(d.members.iter().filter(|m| m.active).map(|m| {
                (
                    m.id.to_string(),
                    format!("{}（{}）", m.name, m.relation.name),
                )
            }))
            .collect();
    forms.push(mk(
        "event",
        "减少成员或清退（死亡、婚出、迁出、分户、识别不准）",
        format!("/households/{id}/events"),
        "登记变动",
        vec![
            FieldView::new("event_type", "变动事由")
                .choices(removes)
                .required(),
            FieldView::new("member_id", "成员").choices(active),
            FieldView::new("date", "变动日期")
                .kind("date")
                .value(store::today().to_string())
                .required(),
            FieldView::new("note", "说明").hint("识别不准清退须写明原因"),
        ],
    ));
    forms
}

/// A form of the household page as submitted: its name (the page anchor), the values sent and
/// the fields it shows messages beside.
struct Submitted<'a> {
    form: &'static str,
    pairs: &'a [(String, String)],
    known: &'a [&'a str],
}

/// Runs a household-page form: on success back to the file, on a refusal the file again with
/// the messages in the form.
async fn after_form(
    state: &AppState,
    caller: &Caller,
    id: i64,
    submitted: Submitted<'_>,
    result: Result<(), ApiError>,
    rename: impl Fn(&str) -> String,
) -> PageResult {
    let Submitted { form, pairs, known } = submitted;
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/households/{id}#{form}")).into_response()),
        Err(e) => {
            if e.status == StatusCode::NOT_FOUND {
                return Err(PageError(e));
            }
            let mut st = FormState::from_values(pairs);
            let known: Vec<String> = known.iter().map(|k| k.to_string()).collect();
            let status = st.absorb(e, &known, rename)?;
            show_household(
                state,
                caller,
                id,
                Some(Failed { form, state: st }),
                None,
                status,
            )
            .await
        }
    }
}

fn value_of(pairs: &[(String, String)], k: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

async fn status(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let v = |k: &str| value_of(&pairs, k);
    let result = async {
        let year: i64 = v("year")
            .parse()
            .map_err(|_| ApiError::invalid_field("year", "年份应为整数"))?;
        if v("status").is_empty() {
            return Err(ApiError::invalid_field("status", "请选择脱贫状态"));
        }
        state
            .db
            .change_household_status(&caller, id, &v("status"), year, &v("note"))
            .await
            .map_err(ApiError::from)
    }
    .await;
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "status",
            pairs: &pairs,
            known: &["status", "year", "note"],
        },
        result,
        |f| f.to_string(),
    )
    .await
}

const INCOME_FIELDS: [&str; 7] = [
    "household_no",
    "year",
    "wage",
    "business",
    "property",
    "transfer",
    "business_cost",
];

async fn income(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let current = require_household(&state, &caller, id).await?;
    let v = |k: &str| value_of(&pairs, k);
    let headers: Vec<String> = INCOME_COLUMNS.iter().map(|s| s.to_string()).collect();
    let cells: Vec<String> = std::iter::once(current.summary.household_no.clone())
        .chain(INCOME_FIELDS[1..].iter().map(|f| v(f)))
        .collect();
    let result = match domain::registry::check_income_row(
        &domain::registry::ColumnMap::incomes(&headers),
        &cells,
        store::current_year(),
    ) {
        Err(ps) => Err(ApiError::from(store::StoreError::invalid(
            ps.into_iter()
                .map(|p| {
                    let i = INCOME_COLUMNS
                        .iter()
                        .position(|c| *c == p.column)
                        .unwrap_or(0);
                    domain::validation::FieldError::new(INCOME_FIELDS[i], p.message)
                })
                .collect(),
        ))),
        Ok(row) => state
            .db
            .record_income(&caller, id, &row)
            .await
            .map(|_| ())
            .map_err(ApiError::from),
    };
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "income",
            pairs: &pairs,
            known: &INCOME_FIELDS[1..],
        },
        result,
        |f| f.to_string(),
    )
    .await
}

async fn cadre(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let v = |k: &str| value_of(&pairs, k);
    let c = Cadre {
        name: v("name"),
        unit: v("unit"),
        unit_level: v("unit_level"),
        phone: v("phone"),
        start_date: v("start_date"),
    };
    let result = state
        .db
        .add_cadre(&caller, id, &c)
        .await
        .map_err(ApiError::from);
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "cadre",
            pairs: &pairs,
            known: &["name", "unit", "unit_level", "phone", "start_date"],
        },
        result,
        |f| f.to_string(),
    )
    .await
}

async fn measure(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let v = |k: &str| value_of(&pairs, k);
    let opt = |k: &str| Some(v(k)).filter(|s| !s.is_empty());
    let result = async {
        let amount_fen = match opt("amount") {
            None => None,
            Some(a) => Some(
                Fen::parse_yuan(&a)
                    .map_err(|e| ApiError::invalid_field("amount", e.to_string()))?
                    .0,
            ),
        };
        let m = NewMeasure {
            measure_type: v("measure_type"),
            project_id: None,
            amount_fen,
            date: v("date"),
            relocated_from: opt("relocated_from"),
            relocated_to: opt("relocated_to"),
            note: v("note"),
        };
        state
            .db
            .add_measure(&caller, id, &m)
            .await
            .map(|_| ())
            .map_err(ApiError::from)
    }
    .await;
    let known = [
        "measure_type",
        "amount",
        "date",
        "relocated_from",
        "relocated_to",
        "note",
    ];
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "measure",
            pairs: &pairs,
            known: &known,
        },
        result,
        |f| f.to_string(),
    )
    .await
}

async fn add_member(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let v = |k: &str| value_of(&pairs, k);
    let member: Map<String, Value> = MEMBER_FORM_FIELDS
        .iter()
        .map(|f| (f.to_string(), json!(v(f))))
        .collect();
    let result = add_member_with_event(
        &state,
        &caller,
        id,
        member,
        &v("event_type"),
        &v("date"),
        v("note"),
    )
    .await;
    let mut known: Vec<&str> = vec!["event_type", "date", "note"];
    known.extend(MEMBER_FORM_FIELDS);
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "add_member",
            pairs: &pairs,
            known: &known,
        },
        result,
        |f| {
            f.strip_prefix("members[0].")
                .map(str::to_string)
                .unwrap_or_else(|| f.to_string())
        },
    )
    .await
}

async fn event(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let v = |k: &str| value_of(&pairs, k);
    let result = async {
        let kind = EventType::parse(&v("event_type"))
            .filter(|k| !k.adds_member())
            .ok_or_else(|| ApiError::invalid_field("event_type", "请选择变动事由"))?;
        let note = v("note");
        if kind == EventType::HouseholdRemoved && note.is_empty() {
            return Err(ApiError::invalid_field("note", "清退须写明原因"));
        }
        let member_id = match v("member_id") {
            s if s.is_empty() => None,
            s => Some(
                s.parse::<i64>()
                    .map_err(|_| ApiError::invalid_field("member_id", "请选择成员"))?,
            ),
        };
        state
            .db
            .record_household_event(
                &caller,
                id,
                NewEvent {
                    kind,
                    member_id,
                    date: v("date"),
                    note,
                },
            )
            .await
            .map(|_| ())
            .map_err(ApiError::from)
    }
    .await;
    after_form(
        &state,
        &caller,
        id,
        Submitted {
            form: "event",
            pairs: &pairs,
            known: &["event_type", "member_id", "date", "note"],
        },
        result,
        |f| f.to_string(),
    )
    .await
}

#[derive(Template)]
#[template(path = "registry_reveal.html")]
struct RevealPage {
    household_id: i64,
    household_no: String,
    member_name: String,
    id_number: String,
    phone: String,
}

async fn reveal(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let d = require_household(&state, &caller, id).await?;
    let member_id: i64 = value_of(&pairs, "member_id")
        .parse()
        .map_err(|_| PageError(ApiError::not_found("成员不存在")))?;
    let Some(member) = d.members.iter().find(|m| m.id == member_id) else {
        return Err(PageError(ApiError::not_found(format!(
            "成员 {member_id} 不在本户"
        ))));
    };
    let reason = value_of(&pairs, "reason");
    match state.db.reveal_member(&caller, member_id, &reason).await {
        Ok((id_number, phone)) => {
            let mut r = render(RevealPage {
                household_id: id,
                household_no: d.summary.household_no.clone(),
                member_name: member.name.clone(),
                id_number: id_number.unwrap_or_default(),
                phone,
            })?;
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            Ok(r)
        }
        Err(store::StoreError::Forbidden(m)) => {
            show_household(
                &state,
                &caller,
                id,
                None,
                Some((member_id, m)),
                StatusCode::FORBIDDEN,
            )
            .await
        }
        // A missing or too short reason: shown next to the member's reveal form.
        Err(store::StoreError::Invalid { message, .. }) => {
            show_household(
                &state,
                &caller,
                id,
                None,
                Some((member_id, message)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Household forms (new, edit).

struct MemberRowView {
    title: String,
    hidden: Vec<(String, String)>,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "registry_household_form.html")]
struct HouseholdFormPage {
    title: String,
    action: String,
    cancel: String,
    editing: bool,
    general: Vec<String>,
    household: Vec<FieldView>,
    members: Vec<MemberRowView>,
}

/// Household fields of the form: the API's field names (two selects for 其他致贫原因).
fn household_fields(tables: &CodeTables, editing: bool) -> Vec<FieldView> {
    let label = |f: &str| {
        HOUSEHOLD_JSON_FIELDS
            .iter()
            .find(|x| x.0 == f)
            .map(|x| x.1)
            .unwrap_or(f)
            .to_string()
    };
    let f = |name: &str| FieldView::new(name, &label(name));
    let mut out = vec![
        if editing {
            f("household_no").readonly().hint("户编号不能修改")
        } else {
            f("household_no").required()
        },
        f("village_code").required().hint("12 位村级区划代码"),
        f("household_type")
            .choices(plain_options(&[
                HOUSEHOLD_TYPE_REGISTERED,
                HOUSEHOLD_TYPE_NOT_REGISTERED,
            ]))
            .hint(
                "一般农户：未建档立卡、纳入防返贫监测排查的农户，不填识别信息，不计入任何贫困统计",
            ),
        f("group_name"),
        // Required for registered households only, so not marked required in the browser: the
        // server says which value a 建档立卡户 lacks.
        f("attribute")
            .choices(code_options(&tables.household_attribute))
            .hint("建档立卡户必填"),
        f("identification_standard")
            .choices(code_options(&tables.identification_standard))
            .hint("建档立卡户必填"),
        f("main_cause")
            .choices(code_options(&tables.cause))
            .hint("建档立卡户必填"),
        FieldView::new("other_causes_1", "其他致贫原因（一）").choices(code_options(&tables.cause)),
        FieldView::new("other_causes_2", "其他致贫原因（二）").choices(code_options(&tables.cause)),
        f("identified_year").kind("number").hint("建档立卡户必填"),
        f("status")
            .choices(code_options(&tables.poverty_status))
            .hint("建档立卡户必填"),
        f("exit_year").kind("number").hint("已脱贫户必填"),
    ];
    // Housing and 两不愁三保障 are taken when a household is created; an update through the
    // import path keeps the stored values, so the edit form does not offer them.
    if !editing {
        out.push(f("housing_structure"));
        for name in [
            "housing_dangerous",
            "safe_water",
            "food_secure",
            "clothing_secure",
            "education_secure",
            "medical_secure",
            "housing_secure",
        ] {
            out.push(f(name).choices(flag_options()));
        }
    }
    out
}

const FLAG_FIELDS: [&str; 7] = [
    "housing_dangerous",
    "safe_water",
    "food_secure",
    "clothing_secure",
    "education_secure",
    "medical_secure",
    "housing_secure",
];

fn member_row_fields(i: usize, tables: &CodeTables) -> Vec<FieldView> {
    member_fields(&format!("members[{i}]."), tables)
}

/// The JSON body the API would get, from the form; `rows` are the member rows to take (form
/// index → body index is their position).
fn household_body(st: &FormState, rows: &[usize], editing: bool) -> Map<String, Value> {
    let mut body = Map::new();
    for (f, _) in HOUSEHOLD_JSON_FIELDS.iter() {
        if *f == "other_causes" {
            let causes: Vec<String> = ["other_causes_1", "other_causes_2"]
                .iter()
                .map(|k| st.get(k))
                .filter(|v| !v.is_empty())
                .collect();
            body.insert("other_causes".into(), json!(causes));
            continue;
        }
        if editing && (FLAG_FIELDS.contains(f) || *f == "housing_structure") {
            continue;
        }
        body.insert(f.to_string(), json!(st.get(f)));
    }
    let members: Vec<Value> = rows
        .iter()
        .map(|i| {
            let m: Map<String, Value> = MEMBER_JSON_FIELDS
                .iter()
                .map(|(f, _)| (f.to_string(), json!(st.get(&format!("members[{i}].{f}")))))
                .collect();
            Value::Object(m)
        })
        .collect();
    body.insert("members".into(), Value::Array(members));
    body
}

/// Member rows of a new-household form that carry anything.
fn filled_rows(st: &FormState) -> Vec<usize> {
    (0..NEW_MEMBER_ROWS)
        .filter(|i| {
            MEMBER_FORM_FIELDS
                .iter()
                .any(|f| !st.get(&format!("members[{i}].{f}")).is_empty())
        })
        .collect()
}

/// Field path of the API ("members[2].name", body index) → the form's ("members[5].name").
fn form_field(api_field: &str, rows: &[usize]) -> String {
    if let Some(rest) = api_field.strip_prefix("members[")
        && let Some((idx, tail)) = rest.split_once(']')
        && let Ok(i) = idx.parse::<usize>()
        && let Some(form_i) = rows.get(i)
    {
        return format!("members[{form_i}]{tail}");
    }
    if api_field == "other_causes" {
        return "other_causes_1".into();
    }
    api_field.to_string()
}

fn new_form_page(tables: &CodeTables, st: Option<&FormState>) -> HouseholdFormPage {
    HouseholdFormPage {
        title: "新增贫困户".into(),
        action: "/households/new".into(),
        cancel: "/households".into(),
        editing: false,
        general: st.map(|s| s.general.clone()).unwrap_or_default(),
        household: household_fields(tables, false)
            .into_iter()
            .map(|f| f.state(st))
            .collect(),
        members: (0..NEW_MEMBER_ROWS)
            .map(|i| MemberRowView {
                title: if i == 0 {
                    "成员 1（户主）".into()
                } else {
                    format!("成员 {}", i + 1)
                },
                hidden: Vec::new(),
                fields: member_row_fields(i, tables)
                    .into_iter()
                    .map(|f| f.state(st))
                    .collect(),
            })
            .collect(),
    }
}

fn known_fields(page: &HouseholdFormPage) -> Vec<String> {
    page.household
        .iter()
        .chain(page.members.iter().flat_map(|m| m.fields.iter()))
        .map(|f| f.name.clone())
        .collect()
}

async fn new_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    if !caller.can_write_registry() {
        return Err(PageError(ApiError::forbidden(
            "您没有修改建档立卡数据的权限",
        )));
    }
    let tables = state.db.code_tables().await?;
    render(new_form_page(&tables, None))
}

async fn create(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    // As in the API: callers who may not write learn nothing about household numbers.
    if !caller.can_write_registry() {
        return Err(PageError(ApiError::forbidden(
            "您没有修改建档立卡数据的权限",
        )));
    }
    let tables = state.db.code_tables().await?;
    let mut st = FormState::from_values(&pairs);
    let rows = filled_rows(&st);
    let no = st.get("household_no");
    let result: Result<i64, ApiError> = async {
        state
            .db
            .require_household_no_free(&caller, &no, "页面")
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict(message) => {
                    ApiError::invalid_field("household_no", message)
                }
                other => other.into(),
            })?;
        write_household(&state, &caller, &household_body(&st, &rows, false)).await
    }
    .await;
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/households/{id}")).into_response()),
        Err(e) => {
            let known = known_fields(&new_form_page(&tables, None));
            let status = st.absorb(e, &known, |f| form_field(f, &rows))?;
            render_status(new_form_page(&tables, Some(&st)), status)
        }
    }
}

fn edit_form_page(
    d: &HouseholdDetail,
    tables: &CodeTables,
    st: Option<&FormState>,
) -> HouseholdFormPage {
    let s = &d.summary;
    let mut values: HashMap<String, String> = HashMap::new();
    values.insert("household_no".into(), s.household_no.clone());
    values.insert("village_code".into(), s.village_code.clone());
    values.insert("group_name".into(), s.group_name.clone());
    values.insert("attribute".into(), s.attribute.code.clone());
    values.insert(
        "identification_standard".into(),
        s.identification_standard.code.clone(),
    );
    values.insert("main_cause".into(), s.main_cause.code.clone());
    for (i, c) in s.other_causes.iter().take(2).enumerate() {
        values.insert(format!("other_causes_{}", i + 1), c.code.clone());
    }
    values.insert(
        "household_type".into(),
        if s.registered {
            HOUSEHOLD_TYPE_REGISTERED
        } else {
            HOUSEHOLD_TYPE_NOT_REGISTERED
        }
        .to_string(),
    );
    if s.registered {
        values.insert("identified_year".into(), s.identified_year.to_string());
        values.insert("status".into(), s.status.code.clone());
    }
    values.insert(
        "exit_year".into(),
        s.exit_year.map(|y| y.to_string()).unwrap_or_default(),
    );
    let active: Vec<_> = d.members.iter().filter(|m| m.active).collect();
    for (i, m) in active.iter().enumerate() {
        let p = |f: &str| format!("members[{i}].{f}");
        values.insert(p("name"), m.name.clone());
        values.insert(p("sex"), m.sex.code.clone());
        values.insert(p("id_number"), m.id_number.clone().unwrap_or_default());
        values.insert(p("relation"), m.relation.code.clone());
        values.insert(p("ethnicity"), m.ethnicity.code.clone());
        values.insert(p("education"), m.education.code.clone());
        values.insert(p("schooling"), m.schooling.code.clone());
        values.insert(p("health"), m.health.code.clone());
        values.insert(p("labour"), m.labour.code.clone());
        values.insert(
            p("migrant_months"),
            m.migrant_months.map(|x| x.to_string()).unwrap_or_default(),
        );
        values.insert(p("phone"), m.phone.clone());
        values.insert(p("member_no"), m.member_no.clone().unwrap_or_default());
    }
    let stored = FormState {
        values,
        ..Default::default()
    };
    let st = st.unwrap_or(&stored);
    let id = s.id;
    HouseholdFormPage {
        title: format!("修改户信息：{}", s.household_no),
        action: format!("/households/{id}/edit"),
        cancel: format!("/households/{id}"),
        editing: true,
        general: st.general.clone(),
        household: household_fields(tables, true)
            .into_iter()
            .map(|f| {
                if f.name == "household_no" {
                    f.value(s.household_no.clone())
                } else {
                    f.state(Some(st))
                }
            })
            .collect(),
        members: active
            .iter()
            .enumerate()
            .map(|(i, m)| MemberRowView {
                title: format!("{}（{}）", m.name, m.relation.name),
                hidden: vec![(format!("members[{i}].member_id"), m.id.to_string())],
                fields: member_row_fields(i, tables)
                    .into_iter()
                    .map(|f| {
                        let f = if f.name.ends_with(".member_no") {
                            f.readonly().hint("人编号不能在此修改")
                        } else if f.name.ends_with(".id_number") || f.name.ends_with(".phone") {
                            f.hint("保持脱敏显示即不修改；如需更正，请填写完整号码")
                        } else {
                            f
                        };
                        f.state(Some(st))
                    })
                    .collect(),
            })
            .collect(),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    uri: Uri,
    Path(id): Path<String>,
) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    if !caller.can_write_registry() {
        return Err(PageError(ApiError::forbidden(
            "您没有修改建档立卡数据的权限",
        )));
    }
    let id = parse_household_id(&id)?;
    let d = require_household(&state, &caller, id).await?;
    let tables = state.db.code_tables().await?;
    render(edit_form_page(&d, &tables, None))
}

async fn update(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = parse_household_id(&id)?;
    let d = require_household(&state, &caller, id).await?;
    let tables = state.db.code_tables().await?;
    let mut st = FormState::from_values(&pairs);
    st.values
        .insert("household_no".into(), d.summary.household_no.clone());
    let active: Vec<i64> = d
        .members
        .iter()
        .filter(|m| m.active)
        .map(|m| m.id)
        .collect();
    // Rows are the household's active members, in form order; each names its member by id.
    let rows: Vec<usize> = (0..active.len()).collect();
    for i in &rows {
        let key = format!("members[{i}].member_id");
        if st.get(&key) != active[*i].to_string() {
            return Err(PageError(ApiError::bad_request(
                "表单已过期（成员已变动），请重新打开修改页面",
            )));
        }
    }
    let result: Result<i64, ApiError> = async {
        let mut body = household_body(&st, &rows, true);
        // Masked numbers mean "unchanged", which needs each member's 人编号. Check the form first
        // with stand-in numbers so a refused form writes nothing; then give members without a
        // 人编号 a permanent one and submit with the real numbers.
        let set_numbers = |body: &mut Map<String, Value>, numbers: &dyn Fn(i64) -> String| {
            if let Some(Value::Array(ms)) = body.get_mut("members") {
                for (i, m) in ms.iter_mut().enumerate() {
                    if let Value::Object(m) = m {
                        m.insert("member_no".into(), json!(numbers(active[i])));
                    }
                }
            }
        };
        let stored: HashMap<i64, String> = d
            .members
            .iter()
            .filter_map(|m| m.member_no.clone().map(|n| (m.id, n)))
            .collect();
        set_numbers(&mut body, &|mid| {
            stored
                .get(&mid)
                .cloned()
                .unwrap_or_else(|| format!("M{mid}"))
        });
        let (headers, cells) = rows_from_json(&body)?;
        let closed_after = state
            .db
            .current_rules()
            .await?
            .rules
            .registry_closed_after_year;
        checked_rows(&headers, &cells, &tables, closed_after)?;
        if stored.len() < active.len() {
            let numbers = state.db.ensure_member_numbers(&caller, &[id]).await?;
            set_numbers(&mut body, &|mid| {
                numbers.get(&mid).cloned().unwrap_or_default()
            });
        }
        write_household(&state, &caller, &body).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/households/{id}")).into_response()),
        Err(e) => {
            let known = known_fields(&edit_form_page(&d, &tables, None));
            let status = st.absorb(e, &known, |f| form_field(f, &rows))?;
            render_status(edit_form_page(&d, &tables, Some(&st)), status)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Imports.

/// The problems of recent imports, for the report download: masked already, kept in memory for
/// the user who ran the import, a few at a time and for an hour at most.
struct Report {
    token: String,
    username: String,
    created: Instant,
    problems: Vec<RowProblem>,
}

const REPORTS_KEPT: usize = 8;
const REPORT_TTL: Duration = Duration::from_secs(3600);

fn reports() -> &'static Mutex<VecDeque<Report>> {
    static REPORTS: OnceLock<Mutex<VecDeque<Report>>> = OnceLock::new();
    REPORTS.get_or_init(|| Mutex::new(VecDeque::new()))
}

fn keep_report(username: &str, problems: Vec<RowProblem>) -> String {
    let token = format!("{:032x}", rand::random::<u128>());
    let mut r = reports().lock().unwrap_or_else(|p| p.into_inner());
    r.retain(|x| x.created.elapsed() < REPORT_TTL);
    while r.len() >= REPORTS_KEPT {
        r.pop_front();
    }
    r.push_back(Report {
        token: token.clone(),
        username: username.into(),
        created: Instant::now(),
        problems,
    });
    token
}

#[derive(Template)]
#[template(path = "registry_imports.html")]
struct ImportPage {
    kind: String,
    dry_run: bool,
    error: Option<String>,
    outcome: Option<ImportOutcome>,
    file_name: String,
    shown: Vec<RowProblem>,
    report: Option<String>,
}

async fn import_form(CurrentCaller(caller): CurrentCaller, uri: Uri) -> PageResult {
    if let Some(r) = login_first(&caller, &uri) {
        return Ok(r);
    }
    render(ImportPage {
        kind: "members".into(),
        dry_run: true,
        error: None,
        outcome: None,
        file_name: String::new(),
        shown: Vec::new(),
        report: None,
    })
}

async fn import_upload(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    req: Request,
) -> PageResult {
    let form = upload::receive(&state, &caller, UploadKind::Registry, req).await?;
    let mut page = ImportPage {
        kind: if form.field("kind") == Some("incomes") {
            "incomes".into()
        } else {
            "members".into()
        },
        dry_run: form.field("dry_run").is_some_and(|v| !v.is_empty()),
        error: None,
        outcome: None,
        file_name: String::new(),
        shown: Vec::new(),
        report: None,
    };
    let Some(file) = form.file.filter(|f| f.size > 0) else {
        page.error = Some("请选择要导入的文件（CSV 或 XLSX）".into());
        return render_status(page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    page.file_name = file.name.clone();
    // The registry import reads rows on a blocking thread of its own.
    let table = match file.open(false).await {
        Ok(t) => t,
        Err(e) if e.status.is_client_error() => {
            page.error = Some(e.message);
            return render_status(page, e.status);
        }
        Err(e) => return Err(PageError(e)),
    };
    let options = ImportOptions {
        dry_run: page.dry_run,
        file_name: page.file_name.clone(),
    };
    let progress = store::regions::NoProgress;
    let outcome = if page.kind == "incomes" {
        state
            .db
            .import_incomes(&caller, table, &options, &progress)
            .await
    } else {
        state
            .db
            .import_members(&caller, table, &options, &progress)
            .await
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(PageError(e));
            }
            page.error = Some(e.message);
            return render_status(page, e.status);
        }
    };
    let status = if outcome.problem_count > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if !outcome.problems.is_empty() {
        page.shown = outcome
            .problems
            .iter()
            .take(PROBLEMS_SHOWN)
            .cloned()
            .collect();
        page.report = Some(keep_report(&caller.username, outcome.problems.clone()));
    }
    page.outcome = Some(outcome);
    render_status(page, status)
}

async fn report_download(
    CurrentCaller(caller): CurrentCaller,
    Path(file): Path<String>,
) -> PageResult {
    let gone = || {
        PageError(ApiError::not_found(
            "问题报告不存在或已过期，请重新上传文件检查",
        ))
    };
    let (token, ext) = file.rsplit_once('.').ok_or_else(gone)?;
    let problems = {
        let r = reports().lock().unwrap_or_else(|p| p.into_inner());
        r.iter()
            .find(|x| {
                x.token == token
                    && x.username == caller.username
                    && x.created.elapsed() < REPORT_TTL
            })
            .map(|x| x.problems.clone())
            .ok_or_else(gone)?
    };
    match ext {
        "csv" => {
            let bytes = store::registry_export::problems_csv(&problems);
            let n = bytes.len() as u64;
            Ok(attachment(
                Body::from(bytes),
                "text/csv; charset=utf-8",
                "import-problems.csv",
                Some(n),
            ))
        }
        "xlsx" => {
            let bytes = store::registry_export::problems_xlsx(&problems)?;
            let n = bytes.len() as u64;
            Ok(attachment(
                Body::from(bytes),
                XLSX_TYPE,
                "import-problems.xlsx",
                Some(n),
            ))
        }
        _ => Err(gone()),
    }
}

async fn members_template(State(state): State<AppState>) -> PageResult {
    let tables = state.db.code_tables().await?;
    let bytes = store::registry_export::member_template_xlsx(&tables)?;
    let n = bytes.len() as u64;
    Ok(attachment(
        Body::from(bytes),
        XLSX_TYPE,
        "members-template.xlsx",
        Some(n),
    ))
}

async fn incomes_template() -> PageResult {
    let bytes = store::registry_export::income_template_xlsx()?;
    let n = bytes.len() as u64;
    Ok(attachment(
        Body::from(bytes),
        XLSX_TYPE,
        "incomes-template.xlsx",
        Some(n),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_member_paths_map_back_to_form_rows() {
        assert_eq!(
            form_field("members[1].id_number", &[0, 3]),
            "members[3].id_number"
        );
        assert_eq!(form_field("village_code", &[0]), "village_code");
        assert_eq!(form_field("other_causes", &[0]), "other_causes_1");
    }

    #[test]
    fn filter_links_keep_every_filter_and_encode_text() {
        let q = ListQuery {
            region: Some("441621".into()),
            q: Some("王 大".into()),
            cursor: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(filter_query(&q), "region=441621&q=%E7%8E%8B%20%E5%A4%A7");
    }
}
