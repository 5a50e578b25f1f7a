//! Every file upload (API imports and the import pages) comes through here, in this order:
//! the caller's permission for that kind of import, before a byte of the body is read; the
//! declared length; the file streamed to a temporary file (removed on drop), counted against
//! `ReadLimits::upload_bytes`; then the table opened on a blocking thread while holding one of
//! a few parse permits, so many hostile uploads at once wait as files on disk, not as parsers
//! in memory. A bad file is a 4xx with a Chinese message, never a crash.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use domain::Caller;
use std::sync::Arc;
use store::tabular::{ReadLimits, Table, TableRow, TabularError};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Uploads parsed at the same time. Each parser's memory is bounded by `ReadLimits`; this
/// bounds how many of them there are.
const PARSE_PERMITS: usize = 2;

/// Room for the multipart framing and the small form fields around the file.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// Small text fields of an upload form (`kind`, `dry_run`).
const MAX_FIELDS: usize = 16;
const MAX_FIELD_BYTES: usize = 1024;

/// The upload settings of one server: its limits and its parse permits.
#[derive(Clone)]
pub struct Uploads {
    pub limits: Arc<ReadLimits>,
    parsing: Arc<Semaphore>,
}

impl Uploads {
    pub fn new(limits: ReadLimits) -> Uploads {
        Uploads {
            limits: Arc::new(limits),
            parsing: Arc::new(Semaphore::new(PARSE_PERMITS)),
        }
    }
}

/// The body limit layer of every upload route: axum's own limit is off because `receive`
/// applies `ReadLimits::upload_bytes` itself, from this server's settings.
pub fn body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::disable()
}

/// What an upload imports, and so who may send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// Members and incomes of the registry.
    Registry,
    /// Visits recorded in the field.
    FieldWork,
    /// Projects and fund transactions.
    Projects,
}

impl UploadKind {
    /// The store's own check of this kind of write, asked before the body is read (the store
    /// asks again when it imports).
    fn permitted(self, caller: &Caller) -> Result<(), ApiError> {
        match self {
            UploadKind::Registry => store::registry::require_write(caller),
            UploadKind::FieldWork => store::registry::require_field_work(caller),
            UploadKind::Projects => store::projects::require_project_writer(caller),
        }
        .map_err(ApiError::from)
    }
}

/// A received upload form: the file (if one was sent) and the small text fields.
pub struct Received {
    pub file: Option<UploadedFile>,
    fields: Vec<(String, String)>,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The file, or the error that asks for one.
    pub fn require_file(self) -> Result<UploadedFile, ApiError> {
        self.file
            .filter(|f| f.size > 0 || !f.name.is_empty())
            .ok_or_else(|| ApiError::invalid_field("file", "请上传文件（表单字段 file）"))
    }
}

/// The uploaded file on disk; the temporary file goes when this (or the table opened from it)
/// is dropped.
pub struct UploadedFile {
    /// The name the browser or client gave.
    pub name: String,
    pub size: u64,
    path: tempfile::TempPath,
    uploads: Uploads,
}

/// The caller's permission, then the form: the file streamed to disk within the limit.
pub async fn receive(
    state: &AppState,
    caller: &Caller,
    kind: UploadKind,
    req: Request,
) -> Result<Received, ApiError> {
    if !caller.is_authenticated() {
        return Err(ApiError::unauthorized(
            "请先登录（或使用访问令牌）再上传文件",
        ));
    }
    kind.permitted(caller)?;
    let uploads = state.uploads.clone();
    let max = uploads.limits.upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large(max));
    }
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|_| {
        ApiError::bad_request(
            "上传内容不是有效的文件表单（应为 multipart/form-data，文件放在字段 file）",
        )
    })?;
    let unreadable = |_| ApiError::bad_request("上传内容无法读取：连接中断或表单格式错误");
    let mut received = Received {
        file: None,
        fields: Vec::new(),
    };
    let mut form_bytes = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" && received.file.is_none() {
            let file_name = field.file_name().unwrap_or("").to_string();
            let ext: String = std::path::Path::new(&file_name)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("csv")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(5)
                .collect::<String>()
                .to_ascii_lowercase();
            let (file, path) = tempfile::Builder::new()
                .prefix("bangfu-upload-")
                .suffix(&format!(".{ext}"))
                .tempfile()
                .map_err(|e| saving_failed(&e))?
                .into_parts();
            let mut out = tokio::fs::File::from_std(file);
            let mut size = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                size += chunk.len() as u64;
                if size > max {
                    return Err(too_large(max));
                }
                out.write_all(&chunk).await.map_err(|e| saving_failed(&e))?;
            }
            out.flush().await.map_err(|e| saving_failed(&e))?;
            received.file = Some(UploadedFile {
                name: file_name,
                size,
                path,
                uploads: uploads.clone(),
            });
        } else {
            // Small fields only: anything else is read through (bounded by the body limit) and dropped.
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                form_bytes += chunk.len() as u64;
                if form_bytes > FORM_OVERHEAD {
                    return Err(too_large(max));
                }
                if value.len() + chunk.len() <= MAX_FIELD_BYTES {
                    value.extend_from_slice(&chunk);
                }
            }
            if received.fields.len() < MAX_FIELDS {
                received
                    .fields
                    .push((name, String::from_utf8_lossy(&value).into_owned()));
            }
        }
    }
    Ok(received)
}

impl UploadedFile {
    /// Opens the table on a blocking thread once a parse permit is free. The permit and the
    /// temporary file stay with the table's rows until the import drops them.
    ///
    /// Some imports read rows on the request's own thread; `check_all` reads the file through
    /// on the blocking thread first, so a file that breaks a limit is refused there and never
    /// occupies a request thread.
    pub async fn open(self, check_all: bool) -> Result<Table, ApiError> {
        let permit = self
            .uploads
            .parsing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| busy())?;
        let limits = self.uploads.limits.clone();
        let UploadedFile { path, .. } = self;
        let opened = tokio::task::spawn_blocking(
            move || -> Result<(Table, tempfile::TempPath), TabularError> {
                if check_all {
                    let table = store::tabular::open_path_with(&path, &limits)?;
                    for row in table.rows {
                        row?;
                    }
                }
                let table = store::tabular::open_path_with(&path, &limits)?;
                Ok((table, path))
            },
        )
        .await
        .map_err(|e| ApiError::internal(format!("upload parser stopped: {e}")))?;
        let (table, path) = opened.map_err(file_error)?;
        let Table {
            headers,
            rows,
            sha256,
            encoding,
        } = table;
        let rows = Held {
            rows,
            _permit: permit,
            _file: path,
        };
        Ok(Table {
            headers,
            rows: Box::new(rows),
            sha256,
            encoding,
        })
    }
}

/// The rows of an opened upload, holding its parse permit and temporary file.
struct Held {
    rows: store::tabular::RowIter,
    _permit: OwnedSemaphorePermit,
    _file: tempfile::TempPath,
}

impl Iterator for Held {
    type Item = Result<TableRow, TabularError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

/// A file that cannot be read as a table: 413 when it is over a size bound, 422 otherwise.
pub fn file_error(e: TabularError) -> ApiError {
    let mut err = ApiError::invalid_field("file", e.to_string());
    if e.is_too_large() {
        err.status = StatusCode::PAYLOAD_TOO_LARGE;
        err.code = "too_large";
    }
    err
}

fn too_large(max: u64) -> ApiError {
    file_error(TabularError::TooLarge { max })
}

fn saving_failed(e: &std::io::Error) -> ApiError {
    ApiError::internal(format!("saving an upload failed: {e}"))
}

fn busy() -> ApiError {
    ApiError::unavailable("服务器正在关闭，请稍后重试")
}
