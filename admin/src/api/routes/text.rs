//! Checks of free-form text fields that the typed domain values do not
//! cover, as field errors of a 422: the one validator of
//! [`crate::domain::check_free_text`] and [`crate::domain::check_line`],
//! which the panel uses too.

use crate::api::error::ApiError;
use crate::domain::{check_free_text, check_line};

/// Multi-line text (prompts, greetings): at most `max_chars` characters
/// and no NUL. Adds a message for `name` to `err` otherwise.
pub(super) fn free_text(err: &mut ApiError, name: &str, value: &str, max_chars: usize) {
    if let Err(e) = check_free_text(value, max_chars) {
        *err = err.clone().with_field(name, e.to_string());
    }
}

/// A single-line value (language tag, provider name): at most `max_chars`
/// characters and no control characters.
pub(super) fn line(err: &mut ApiError, name: &str, value: &str, max_chars: usize) {
    if let Err(e) = check_line(value, max_chars) {
        *err = err.clone().with_field(name, e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nul_control_and_long_values() {
        let mut err = ApiError::validation();
        free_text(&mut err, "greeting", "Hello,\nhow can I help?", 100);
        line(&mut err, "voice", "alloy", 10);
        assert!(!err.has_fields());
        free_text(&mut err, "greeting", "a\0b", 100);
        line(&mut err, "voice", "al\tloy", 10);
        line(&mut err, "language", "en-US-but-far-too-long", 10);
        assert!(err.has_fields());
        let body = actix_web::ResponseError::error_response(&err);
        assert_eq!(body.status(), 422);
    }
}
