//! Errors of the service layer.

use crate::store::StoreError;

/// One refused input field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field as named in the API's JSON body (dotted for nested
    /// settings: `engine_options.max_call_secs`).
    pub field: String,
    /// What is wrong, in English, without the value.
    pub message: String,
    /// The panel's translation key for the message, when it has one.
    pub key: Option<&'static str>,
}

/// Every refused field of one input (never empty when returned in
/// [`ServiceError::Invalid`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Records `message` for `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
            key: None,
        });
    }

    /// Records `message` for `field`, translated by the panel with `key`.
    pub fn add_keyed(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        key: &'static str,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
            key: Some(key),
        });
    }

    /// Records the error of `check`, if any, for `field`.
    pub fn check(&mut self, field: &str, check: Result<(), String>) {
        if let Err(m) = check {
            self.add(field, m);
        }
    }

    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else [`ServiceError::Invalid`].
    pub fn into_result(self) -> ServiceResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(self))
        }
    }
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input was refused (API 422 with the fields; panel: the form
    /// again with the messages).
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The item does not exist in the caller's tenant (API 404).
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow the change (API 403).
    #[error("forbidden")]
    Forbidden,
    /// A unique value is taken; `field` names the rule as the store does
    /// (`agent.name`, `number.address`, …) (API 409).
    #[error("conflict: {field}")]
    Conflict {
        /// Which unique rule was hit.
        field: &'static str,
    },
    /// Anything else: the database, the audit insert, sealing a secret.
    /// Clients see an opaque 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Conflict { field } => ServiceError::Conflict { field },
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// Result of a service call.
pub type ServiceResult<T> = Result<T, ServiceError>;
