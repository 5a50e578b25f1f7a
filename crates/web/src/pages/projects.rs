//! Pages for projects and money: the project list with filters, the project page (people,
//! money, results, locations), the fund reports with server-drawn SVG charts (no script: the
//! CSP allows none from elsewhere and none is needed), the ledger with its head hash, and what
//! an organisation funded and implemented (shown on its page).

use super::{PageResult, bad_filter, render, urlencode};
use crate::AppState;
use crate::error::{ApiError, PageError, escape};
use crate::pages::format::{ShowMoney as _, money_text};
use crate::scope::CurrentCaller;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use domain::Caller;
use domain::RegionCode;
use domain::kinds::Theme;
use domain::ledger::FundSource;
use domain::money::Fen;
use domain::project::{ProjectStatus, format_bp};
use serde::Deserialize;
use store::ledger::{LedgerHead, OrganisationMoney, Transaction, TransactionFilter};
use store::ledger_reports::{
    Dimension, EightyEightyReport, ProgressReport, ReportFilter, ThemeStatusReport,
};
use store::projects::{Project, ProjectFilter, ProjectSummary};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects", get(projects))
        .route("/projects/{id}", get(project))
        .route("/reports", get(reports))
        .route("/ledger", get(ledger))
}

const PAGE_SIZE: i64 = 100;

// ---------------------------------------------------------------------------------------------
// Charts

/// A horizontal bar chart as inline SVG. Labels are escaped here; the result is inserted as is.
pub fn bar_chart(
    title: &str,
    bars: &[(String, i64)],
    value_text: impl Fn(i64) -> String,
) -> String {
    const LABEL_W: i64 = 170;
    const BAR_W: i64 = 380;
    const ROW_H: i64 = 26;
    const WIDTH: i64 = LABEL_W + BAR_W + 150;
    if bars.is_empty() {
        return format!("<p class=\"empty\">{}：暂无数据。</p>", escape(title));
    }
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let height = ROW_H * bars.len() as i64 + 34;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <text x=\"0\" y=\"18\" class=\"chart-title\">{t}</text>",
        t = escape(title)
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 30 + i as i64 * ROW_H;
        let w = if *value <= 0 {
            0
        } else {
            ((i128::from(*value) * i128::from(BAR_W)) / i128::from(max)).max(1) as i64
        };
        s += &format!(
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" class=\"chart-label\">{label}</text>\
             <rect x=\"{LABEL_W}\" y=\"{y}\" width=\"{w}\" height=\"{bh}\" class=\"chart-bar\"><title>{label}：{v}</title></rect>\
             <text x=\"{vx}\" y=\"{ty}\" class=\"chart-value\">{v}</text>",
            lx = LABEL_W - 8,
            ty = y + 15,
            bh = ROW_H - 8,
            vx = LABEL_W + w + 6,
            label = escape(label),
            v = escape(&value_text(*value)),
        );
    }
    s + "</svg>"
}

fn chart_money(v: i64) -> String {
    money_text(Fen(v))
}

// ---------------------------------------------------------------------------------------------
// Project list

#[derive(Deserialize, Default)]
struct ProjectsQuery {
    theme: Option<String>,
    status: Option<String>,
    region: Option<String>,
    organisation_id: Option<String>,
    year: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    items: Vec<ProjectSummary>,
    theme: String,
    status: String,
    region: String,
    organisation_id: String,
    year: String,
    q: String,
    themes: Vec<(&'static str, &'static str)>,
    statuses: Vec<(&'static str, &'static str)>,
    next_cursor: Option<String>,
    query_without_cursor: String,
}

fn text(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_string()
}

async fn projects(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<ProjectsQuery>,
) -> PageResult {
    let (theme_t, status_t, region_t, org_t, year_t, q_t) = (
        text(&q.theme),
        text(&q.status),
        text(&q.region),
        text(&q.organisation_id),
        text(&q.year),
        text(&q.q),
    );
    let theme = match theme_t.as_str() {
        "" => None,
        s => Some(Theme::parse(s).ok_or_else(|| {
            bad_filter(
                "theme",
                format!("主题“{s}”无效，应为：{}", Theme::choices_zh()),
            )
        })?),
    };
    let status = match status_t.as_str() {
        "" => None,
        s => Some(
            ProjectStatus::parse(s)
                .ok_or_else(|| bad_filter("status", format!("项目状态“{s}”无效")))?,
        ),
    };
    let region = match region_t.as_str() {
        "" => None,
        s => Some(RegionCode::parse(s).map_err(|e| bad_filter("region", e.to_string()))?),
    };
    let organisation_id = match org_t.as_str() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| bad_filter("organisation_id", "机构编号应为整数".into()))?,
        ),
    };
    let year = match year_t.as_str() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| bad_filter("year", "年份应为整数".into()))?,
        ),
    };
    let filter = ProjectFilter {
        theme,
        status,
        region,
        organisation_id,
        year,
        name_contains: (!q_t.is_empty()).then(|| domain::text::normalize(&q_t)),
        ..Default::default()
    };
    let after = q.cursor.as_deref().and_then(|c| c.parse::<i64>().ok());
    let mut items = state
        .db
        .list_projects(&caller, &filter, after, PAGE_SIZE + 1)
        .await?;
    let next_cursor = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|p| p.id.to_string())
    } else {
        None
    };
    let query_without_cursor = format!(
        "theme={}&status={}&region={}&organisation_id={}&year={}&q={}&",
        theme.map(|t| t.as_str()).unwrap_or(""),
        status.map(|s| s.as_str()).unwrap_or(""),
        urlencode(&region_t),
        urlencode(&org_t),
        urlencode(&year_t),
        urlencode(&q_t)
    );
    render(ProjectsPage {
        items,
        theme: theme.map(|t| t.as_str().to_string()).unwrap_or_default(),
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        region: region_t,
        organisation_id: org_t,
        year: year_t,
        q: q_t,
        themes: Theme::ALL
            .iter()
            .map(|t| (t.as_str(), t.name_zh()))
            .collect(),
        statuses: ProjectStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.name_zh()))
            .collect(),
        next_cursor,
        query_without_cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// One project

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    p: Project,
    disbursement_progress: String,
    expenditure_progress: String,
    transactions: Vec<Transaction>,
    more_transactions: bool,
    money_chart: String,
}

async fn project(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Path(id): Path<String>,
) -> PageResult {
    let missing = || PageError(ApiError::not_found(format!("项目 {id} 不存在")));
    let pid: i64 = id.parse().map_err(|_| missing())?;
    let p = state
        .db
        .get_project(&caller, pid)
        .await?
        .ok_or_else(missing)?;
    let filter = TransactionFilter {
        project_id: Some(pid),
        ..Default::default()
    };
    let mut transactions = state
        .db
        .list_transactions(&caller, &filter, None, 501)
        .await?;
    let more_transactions = transactions.len() > 500;
    transactions.truncate(500);
    let m = &p.money;
    let money_chart = bar_chart(
        "项目资金",
        &[
            ("预算".to_string(), p.budget.0),
            ("承诺".to_string(), m.committed.0),
            ("拨付".to_string(), m.disbursed.0),
            ("到位合计".to_string(), m.received.0),
            ("支出".to_string(), m.expended.0),
        ],
        chart_money,
    );
    render(ProjectPage {
        disbursement_progress: format_bp(m.disbursement_progress_bp),
        expenditure_progress: format_bp(m.expenditure_progress_bp),
        p,
        transactions,
        more_transactions,
        money_chart,
    })
}

// ---------------------------------------------------------------------------------------------
// Reports

#[derive(Deserialize, Default)]
struct ReportsQuery {
    year_from: Option<String>,
    year_to: Option<String>,
    region: Option<String>,
}

struct ProgressView {
    code: String,
    name: String,
    above_county: bool,
    committed: Fen,
    disbursed: Fen,
    received: Fen,
    expended: Fen,
    disbursement_progress: String,
    expenditure_progress: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    year_from: String,
    year_to: String,
    region: String,
    query: String,
    total: Fen,
    fiscal: Fen,
    social: Fen,
    by_year: String,
    by_province: String,
    by_theme: String,
    by_source: String,
    counties: Vec<ProgressView>,
    county_total: ProgressView,
    themes: ThemeStatusReport,
    xinjiang: EightyEightyReport,
}

fn progress_view(r: &store::ledger_reports::ProgressRow) -> ProgressView {
    ProgressView {
        code: r.region_code.map(|c| c.to_string()).unwrap_or_default(),
        name: r.region_name.clone().unwrap_or_else(|| "合计".into()),
        above_county: r.above_county,
        committed: r.committed,
        disbursed: r.disbursed,
        received: r.received,
        expended: r.expended,
        disbursement_progress: r.disbursement_progress.clone(),
        expenditure_progress: r.expenditure_progress.clone(),
    }
}

async fn reports(State(state): State<AppState>, Query(q): Query<ReportsQuery>) -> PageResult {
    let (from_t, to_t, region_t) = (text(&q.year_from), text(&q.year_to), text(&q.region));
    let year = |field: &str, s: &str| -> Result<Option<i64>, PageError> {
        match s {
            "" => Ok(None),
            s => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| bad_filter(field, "年份应为整数".into())),
        }
    };
    let filter = ReportFilter {
        year_from: year("year_from", &from_t)?,
        year_to: year("year_to", &to_t)?,
        region: match region_t.as_str() {
            "" => None,
            s => Some(RegionCode::parse(s).map_err(|e| bad_filter("region", e.to_string()))?),
        },
        ..Default::default()
    };
    let one = |d: Dimension| vec![d];
    let by_year = state
        .db
        .invested_report(&one(Dimension::Year), &filter)
        .await?;
    let by_province = state
        .db
        .invested_report(&one(Dimension::Province), &filter)
        .await?;
    let by_theme = state
        .db
        .invested_report(&one(Dimension::Theme), &filter)
        .await?;
    let by_source = state
        .db
        .invested_report(&one(Dimension::FundSource), &filter)
        .await?;
    let mut provinces: Vec<(String, i64)> = by_province
        .rows
        .iter()
        .map(|r| (r.province_name.clone().unwrap_or_default(), r.amount.0))
        .collect();
    provinces.sort_by_key(|p| std::cmp::Reverse(p.1));
    let progress: ProgressReport = state.db.progress_report(true, &filter).await?;
    let xinjiang_region = filter
        .region
        .filter(|r| r.province_prefix() == 65)
        .unwrap_or_else(|| RegionCode::parse("65").expect("valid"));
    let xinjiang = state
        .db
        .eighty_eighty(
            xinjiang_region,
            &ReportFilter {
                region: None,
                ..filter.clone()
            },
        )
        .await?;
    let query = format!(
        "year_from={}&year_to={}&region={}",
        urlencode(&from_t),
        urlencode(&to_t),
        urlencode(&region_t)
    );
    render(ReportsPage {
        total: by_year.total,
        fiscal: by_year.fiscal_total,
        social: by_year.social_total,
        by_year: bar_chart(
            "按年度（投入）",
            &by_year
                .rows
                .iter()
                .map(|r| (format!("{} 年", r.year.unwrap_or_default()), r.amount.0))
                .collect::<Vec<_>>(),
            chart_money,
        ),
        by_province: bar_chart("按省份（投入）", &provinces, chart_money),
        by_theme: bar_chart(
            "按主题（投入）",
            &by_theme
                .rows
                .iter()
                .map(|r| (r.theme_name.unwrap_or_default().to_string(), r.amount.0))
                .collect::<Vec<_>>(),
            chart_money,
        ),
        by_source: bar_chart(
            "按资金来源（投入）",
            &by_source
                .rows
                .iter()
                .map(|r| {
                    (
                        format!(
                            "{}（{}）",
                            r.fund_source_name.unwrap_or_default(),
                            r.fund_source
                                .map(FundSource::category_zh)
                                .unwrap_or_default()
                        ),
                        r.amount.0,
                    )
                })
                .collect::<Vec<_>>(),
            chart_money,
        ),
        counties: progress.rows.iter().map(progress_view).collect(),
        county_total: progress_view(&progress.total),
        themes: state.db.projects_by_theme_status(&filter).await?,
        xinjiang,
        year_from: from_t,
        year_to: to_t,
        region: region_t,
        query,
    })
}

// ---------------------------------------------------------------------------------------------
// The ledger

#[derive(Deserialize, Default)]
struct LedgerQuery {
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    head: LedgerHead,
    items: Vec<Transaction>,
    next_cursor: Option<String>,
}

async fn ledger(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    Query(q): Query<LedgerQuery>,
) -> PageResult {
    let after = q.cursor.as_deref().and_then(|c| c.parse::<i64>().ok());
    let mut items = state
        .db
        .list_transactions(&caller, &TransactionFilter::default(), after, PAGE_SIZE + 1)
        .await?;
    let next_cursor = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|t| t.id.to_string())
    } else {
        None
    };
    render(LedgerPage {
        head: state.db.ledger_head().await?,
        items,
        next_cursor,
    })
}

// ---------------------------------------------------------------------------------------------
// On the organisation page

/// What an organisation funded and implemented: its projects with its roles, and its money.
pub struct OrgActivity {
    pub projects: Vec<(ProjectSummary, String)>,
    pub money: OrganisationMoney,
}

pub async fn org_activity(
    state: &AppState,
    caller: &Caller,
    organisation_id: i64,
) -> Result<OrgActivity, PageError> {
    let projects = state
        .db
        .projects_of_organisation(caller, organisation_id, 500)
        .await?
        .into_iter()
        .map(|(p, roles)| {
            (
                p,
                roles
                    .iter()
                    .map(|r| r.name_zh())
                    .collect::<Vec<_>>()
                    .join("、"),
            )
        })
        .collect();
    Ok(OrgActivity {
        projects,
        money: state.db.organisation_money(organisation_id).await?,
    })
}
