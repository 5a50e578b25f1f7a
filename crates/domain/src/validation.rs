//! Field-level validation errors, shared by the API, the pages and the importers so that every
//! refusal says which field (or which row and column) and why, in Chinese.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The API field name, or the spreadsheet column header for imports.
    pub field: String,
    /// Spreadsheet row number as the user sees it (header = 1), for imports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The offending value, already masked if personal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            row: None,
            value: None,
            message: message.into(),
        }
    }
}

/// A collection of problems; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
