use domain::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    /// Input that breaks a rule; nothing was written.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Vec<FieldError>,
    },
    #[error("{0}")]
    Conflict(String),
    /// An order line's product was not certified on the order's date (HTTP 422, code
    /// `certificate_invalid`); `field` names the line.
    #[error("{error}")]
    CertificateInvalid {
        field: String,
        // Boxed: it names the product and certificate, and every StoreResult carries its size.
        error: Box<domain::consumption::CertificateInvalid>,
    },
    /// An import or a registry write refused row by row; nothing was written.
    #[error("数据有 {} 处问题，未写入任何数据", .0.len())]
    ImportRejected(Vec<crate::registry_import::RowProblem>),
    /// The store cannot be reached or is too busy right now (HTTP 503): trying again later may
    /// help. Never an engine message meant for developers.
    #[error("{0}")]
    Unavailable(String),
    /// A failure inside the server that the caller cannot fix (HTTP 500): a corrupt stored
    /// value, a failed encoding, an engine error that is not about availability. The text is
    /// for the log and the command line only; the web layer answers with a generic message and
    /// an id that finds this text in the log.
    #[error("内部错误：{0}")]
    Internal(String),
    /// Only for logged-in callers, and the caller is the public (HTTP 401): logging in may help,
    /// where `Forbidden` says that this account may not.
    #[error("{0}")]
    LoginRequired(String),
    /// The caller may not do this (HTTP 403); the message says why, in Chinese.
    #[error("{0}")]
    Forbidden(String),
    #[error("{}", database_message(.0))]
    Database(#[from] sqlx::Error),
}

/// The engine's error code: a PostgreSQL SQLSTATE (five characters) or a SQLite (extended)
/// result code, a number whose low byte is the primary code.
fn engine_code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

fn sqlite_primary(code: &str) -> Option<i64> {
    if code.len() >= 5 {
        return None;
    }
    code.parse::<i64>().ok().map(|c| c & 0xff)
}

/// The disk is full, or the process may not grow a file (a quota, RLIMIT_FSIZE): SQLite's FULL
/// (13) and failed write (IOERR_WRITE, 778), PostgreSQL's disk_full (53100).
fn is_disk_full_code(code: &str) -> bool {
    code == "53100" || code == "778" || sqlite_primary(code) == Some(13)
}

/// SQLite may not write the file: READONLY (8, with its extended codes).
fn is_read_only_code(code: &str) -> bool {
    sqlite_primary(code) == Some(8)
}

pub(crate) fn database_message(e: &sqlx::Error) -> String {
    match engine_code(e) {
        Some(c) if is_disk_full_code(&c) => format!(
            "磁盘空间不足（或超出文件大小限制），数据库写入失败，本次操作的修改已全部撤销，未写入任何数据。请释放磁盘空间后重试（{e}）"
        ),
        Some(c) if is_read_only_code(&c) => format!(
            "数据库文件只读（或其所在目录不可写），无法写入：请检查数据库文件及其目录的写权限（{e}）"
        ),
        _ => format!("数据库错误：{e}"),
    }
}

impl StoreError {
    pub fn invalid(details: Vec<FieldError>) -> StoreError {
        let message = match details.as_slice() {
            [one] => one.message.clone(),
            many => format!("提交的数据有 {} 处问题", many.len()),
        };
        StoreError::Invalid { message, details }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> StoreError {
        StoreError::invalid(vec![FieldError::new(field, message)])
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// An internal failure, described for the log (no personal data: callers pass engine or
    /// encoder messages, not values).
    pub fn internal(what: impl std::fmt::Display) -> StoreError {
        StoreError::Internal(what.to_string())
    }

    /// An engine error that says the database is unreachable or too busy right now, where
    /// retrying later may succeed: the pool timed out or closed, the connection broke, SQLite
    /// is busy or locked (5, 6, with any extended code such as 517 BUSY_SNAPSHOT: another writer
    /// held it past the wait), PostgreSQL could not get a lock (55P03), is out of resources
    /// (53…), shutting down or not accepting connections (57P01–57P03) or lost the connection (08…).
    pub fn is_busy(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
            // PostgreSQL's SQLSTATEs have five characters; SQLite's (extended) result codes are
            // numbers of at most four digits whose low byte is the primary code.
            sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                if c.len() == 5 {
                    matches!(c.as_ref(), "55P03" | "57P01" | "57P02" | "57P03")
                        || c.starts_with("53")
                        || c.starts_with("08")
                } else {
                    c.parse::<i64>()
                        .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
                }
            }),
            _ => false,
        }
    }

    /// The disk is full (see `is_disk_full_code`): not the caller's fault, not to retry at once.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Database(e) if engine_code(e).is_some_and(|c| is_disk_full_code(&c)))
    }

    /// The database file may not be written (SQLite).
    pub fn is_read_only(&self) -> bool {
        matches!(self, StoreError::Database(e) if engine_code(e).is_some_and(|c| is_read_only_code(&c)))
    }

    /// PostgreSQL's "invalid byte sequence" (22021) and "untranslatable character" (22P05): what
    /// a NUL character in a text or JSON value gives (SQLite stores it).
    pub fn is_nul_in_text(&self) -> bool {
        matches!(self, StoreError::Database(e)
            if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "22021" || c == "22P05"))
    }
}
