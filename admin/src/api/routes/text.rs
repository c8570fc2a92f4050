//! Checks of free-form text fields that the typed domain values do not
//! cover: lengths, and characters the databases cannot store (PostgreSQL
//! `TEXT` refuses NUL).

use crate::api::error::ApiError;

/// Multi-line text (prompts, greetings): at most `max_chars` characters
/// and no NUL. Adds a message for `name` to `err` otherwise.
pub(super) fn free_text(err: &mut ApiError, name: &str, value: &str, max_chars: usize) {
    if value.contains('\0') {
        add(err, name, "must not contain NUL characters".to_owned());
    }
    too_long(err, name, value, max_chars);
}

/// A single-line value (language tag, provider name): at most `max_chars`
/// characters and no control characters.
pub(super) fn line(err: &mut ApiError, name: &str, value: &str, max_chars: usize) {
    if value.chars().any(char::is_control) {
        add(err, name, "must not contain control characters".to_owned());
    }
    too_long(err, name, value, max_chars);
}

fn too_long(err: &mut ApiError, name: &str, value: &str, max_chars: usize) {
    if value.chars().count() > max_chars {
        add(err, name, format!("must be at most {max_chars} characters"));
    }
}

fn add(err: &mut ApiError, name: &str, message: String) {
    *err = err.clone().with_field(name, message);
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
