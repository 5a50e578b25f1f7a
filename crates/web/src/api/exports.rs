//! Exports of a filtered household list (`GET /api/v1/households/export.csv|.xlsx`, the list's
//! query parameters): one row per active member in the members-template columns, ID and phone
//! numbers masked, so the file can be corrected and imported back. The export is recorded in
//! the audit log before the first row leaves; rows are read in keyset pages of households.
//!
//! The project and transaction exports (public) go out the same way: CSV streamed page by page
//! as it is read, XLSX written to a temporary file from the same pages and then streamed.

use super::ApiQuery;
use super::households::{ListQuery, parse_filter};
use crate::AppState;
use crate::error::ApiError;
use crate::scope::CurrentCaller;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use store::ledger_io::{ExportFormat, ExportKind};
use store::registry_export::{EXPORT_PAGE, SheetWriter, csv_head, csv_record, member_columns};
use tokio::io::AsyncReadExt;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/households/export.csv", get(export_csv))
        .route("/api/v1/households/export.xlsx", get(export_xlsx))
}

pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A download response; `file_name` must be ASCII.
pub fn attachment(
    body: Body,
    content_type: &'static str,
    file_name: &str,
    length: Option<u64>,
) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(n) = length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    r
}

fn export_name(ext: &str) -> String {
    let today: String = store::today()
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    format!("households-{today}.{ext}")
}

async fn export_csv(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let tables = state.db.code_tables().await?;
    let (filter, sort) = parse_filter(&q, &tables)?;
    state
        .db
        .begin_member_export(&caller, &filter, sort, "CSV")
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    let running = state.metrics.job(crate::metrics::Job::Export);
    tokio::spawn(async move {
        let _running = running;
        if tx
            .send(Ok(Bytes::from(csv_head(&member_columns()))))
            .await
            .is_err()
        {
            return;
        }
        let mut after = None;
        loop {
            match db
                .member_export_page(&caller, &tables, &filter, sort, after.as_ref(), EXPORT_PAGE)
                .await
            {
                Ok((rows, next)) => {
                    let mut buf = Vec::with_capacity(rows.len() * 200);
                    for r in &rows {
                        buf.extend(csv_record(r));
                    }
                    // A closed channel means the client went away: stop reading.
                    if !buf.is_empty() && tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        return;
                    }
                    match next {
                        Some(n) => after = Some(n),
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed midway");
                    let _ = tx.send(Err(std::io::Error::other("导出中断"))).await;
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(attachment(
        Body::from_stream(stream),
        "text/csv; charset=utf-8",
        &export_name("csv"),
        None,
    ))
}

async fn export_xlsx(
    State(state): State<AppState>,
    CurrentCaller(caller): CurrentCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let tables = state.db.code_tables().await?;
    let (filter, sort) = parse_filter(&q, &tables)?;
    state
        .db
        .begin_member_export(&caller, &filter, sort, "XLSX")
        .await?;
    // Constant-memory sheets: each page's rows go to temporary files as they are written.
    let mut writer = SheetWriter::new("成员", &member_columns())?;
    let mut after = None;
    loop {
        let (rows, next) = state
            .db
            .member_export_page(&caller, &tables, &filter, sort, after.as_ref(), EXPORT_PAGE)
            .await?;
        for r in &rows {
            writer.push(r)?;
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    xlsx_download(writer, &export_name("xlsx")).await
}

/// Finishes a workbook into a temporary file and sends that file.
async fn xlsx_download(writer: SheetWriter, file_name: &str) -> Result<Response, ApiError> {
    let file = tokio::task::spawn_blocking(move || writer.finish_to_file())
        .await
        .map_err(|e| ApiError::internal(format!("workbook writer stopped: {e}")))??;
    let length = file.metadata().ok().map(|m| m.len());
    let file = tokio::fs::File::from_std(file);
    let stream = futures::stream::unfold(Some(file), |f| async move {
        let mut f = f?;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(attachment(
        Body::from_stream(stream),
        XLSX_TYPE,
        file_name,
        length,
    ))
}

/// A project or transaction export (`/api/v1/projects/export.csv|.xlsx`,
/// `/api/v1/transactions/export.csv|.xlsx`): public, read in keyset pages by the store.
pub async fn ledger_export(
    state: &AppState,
    caller: domain::Caller,
    kind: ExportKind,
    format: ExportFormat,
) -> Result<Response, ApiError> {
    let mut export = state.db.begin_ledger_export(&caller, kind, format).await?;
    let base = match kind {
        ExportKind::Projects => "projects",
        ExportKind::Transactions => "transactions",
    };
    if format == ExportFormat::Xlsx {
        let mut writer = SheetWriter::new(kind.sheet_name(), &kind.headers())?;
        while let Some(rows) = state.db.ledger_export_page(&caller, &mut export).await? {
            for r in &rows {
                writer.push(r)?;
            }
        }
        return xlsx_download(writer, &format!("{base}.xlsx")).await;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let db = state.db.clone();
    let running = state.metrics.job(crate::metrics::Job::Export);
    tokio::spawn(async move {
        let _running = running;
        if tx
            .send(Ok(Bytes::from(csv_head(&kind.headers()))))
            .await
            .is_err()
        {
            return;
        }
        loop {
            match db.ledger_export_page(&caller, &mut export).await {
                Ok(Some(rows)) => {
                    let mut buf = Vec::with_capacity(rows.len() * 300);
                    for r in &rows {
                        buf.extend(csv_record(r));
                    }
                    // A closed channel means the client went away: stop reading.
                    if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, "export failed midway");
                    let _ = tx.send(Err(std::io::Error::other("导出中断"))).await;
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(attachment(
        Body::from_stream(stream),
        "text/csv; charset=utf-8",
        &format!("{base}.csv"),
        None,
    ))
}
