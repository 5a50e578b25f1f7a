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
    /// An import or a registry write refused row by row; nothing was written.
    #[error("数据有 {} 处问题，未写入任何数据", .0.len())]
    ImportRejected(Vec<crate::registry_import::RowProblem>),
    #[error("{0}")]
    Unavailable(String),
    /// Only for logged-in callers, and the caller is the public (HTTP 401): logging in may help,
    /// where `Forbidden` says that this account may not.
    #[error("{0}")]
    LoginRequired(String),
    /// The caller may not do this (HTTP 403); the message says why, in Chinese.
    #[error("{0}")]
    Forbidden(String),
    #[error("数据库错误：{0}")]
    Database(#[from] sqlx::Error),
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
    /// PostgreSQL's "invalid byte sequence" (22021) and "untranslatable character" (22P05): what
    /// a NUL character in a text or JSON value gives (SQLite stores it).
    pub fn is_nul_in_text(&self) -> bool {
        matches!(self, StoreError::Database(e)
            if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "22021" || c == "22P05"))
    }

    /// Another writer held the database past the wait: SQLite's SQLITE_BUSY / SQLITE_LOCKED
    /// (with any extended code, e.g. 517 BUSY_SNAPSHOT), PostgreSQL's lock_not_available (55P03).
    /// Trying again later helps; it is no fault of the request.
    pub fn is_busy(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
            return false;
        };
        match code.parse::<i64>() {
            Ok(n) => matches!(n & 0xff, 5 | 6),
            Err(_) => code == "55P03",
        }
    }
}
