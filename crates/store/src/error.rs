use domain::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    /// Input that breaks a rule; nothing was written.
    #[error("{message}")]
    Invalid { message: String, details: Vec<FieldError> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
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
