//! A service call's outcome as a form page sees it: saved, or the field
//! errors to show next to the form's fields ([`parla_admin_core::service`] names
//! fields as the API does; this maps them onto the form).

use crate::state::AdminState;
use parla_admin_core::service::{self, Actor, Ctx, ServiceError};

use super::error::PanelError;
use super::i18n::Tr;
use super::ui::FieldErrors;

/// The form's field errors of a refused input, the page's error otherwise.
///
/// `fields` are the form's field names, e.g. `["name", "address"]`. A
/// service field maps to the form field of the same name; a nested one
/// (`engine_options.max_call_secs`) to its last part when the form has it;
/// otherwise (`credentials.llm.api_key`, `flow.intents[0].regex`) to the
/// form field of its first part, with the full path in the message; and a
/// unique-name clash to `err.taken` on that field.
pub(crate) fn form_errors(
    tr: Tr,
    err: ServiceError,
    fields: &[&'static str],
) -> Result<FieldErrors, PanelError> {
    let mut out = FieldErrors::default();
    match err {
        ServiceError::Invalid(errors) => {
            for e in errors.0 {
                add(tr, &mut out, &e, fields);
            }
        }
        ServiceError::Conflict { field } => {
            let name = field.rsplit('.').next().unwrap_or(field);
            let Some(f) = fields.iter().find(|f| **f == name) else {
                return Err(PanelError::internal(format!("conflict on {field}")));
            };
            out.add(f, tr.s("err.taken"));
        }
        ServiceError::NotFound => return Err(PanelError::NotFound),
        ServiceError::Forbidden => return Err(PanelError::Forbidden),
        ServiceError::Internal(detail) => return Err(PanelError::internal(detail)),
    }
    Ok(out)
}

fn add(tr: Tr, out: &mut FieldErrors, e: &service::FieldError, fields: &[&'static str]) {
    let message = match e.key {
        Some(key) => tr.s(key).to_owned(),
        None => e.message.clone(),
    };
    // Service (API) field name → form field name, where they differ.
    const ALIASES: &[(&str, &str)] = &[("agent_id", "agent")];
    let field = ALIASES
        .iter()
        .find(|(api, _)| *api == e.field)
        .map_or(e.field.as_str(), |(_, form)| form);
    if let Some(f) = fields.iter().find(|f| **f == field) {
        out.add(f, message);
        return;
    }
    let head = e.field.split(['.', '[']).next().unwrap_or_default();
    let last = e.field.rsplit('.').next().unwrap_or_default();
    if head == "engine_options" {
        if let Some(f) = fields.iter().find(|f| **f == last) {
            out.add(f, message);
            return;
        }
    }
    let f = fields
        .iter()
        .find(|f| **f == head)
        .or(fields.first())
        .copied()
        .unwrap_or("form");
    out.add(f, format!("{}: {message}", e.field));
}

/// The page's error of a failed change that has no form to show.
pub(crate) fn page_error(err: ServiceError) -> PanelError {
    match err {
        ServiceError::NotFound => PanelError::NotFound,
        ServiceError::Forbidden => PanelError::Forbidden,
        ServiceError::Invalid(_) | ServiceError::Conflict { .. } => PanelError::BadRequest,
        ServiceError::Internal(detail) => PanelError::internal(detail),
    }
}

impl From<ServiceError> for PanelError {
    fn from(err: ServiceError) -> Self {
        page_error(err)
    }
}

/// The service context of a panel request by `actor`.
pub(crate) fn ctx<'a>(state: &'a AdminState, actor: &'a Actor) -> Ctx<'a> {
    Ctx {
        store: &state.store,
        secrets: &state.secrets,
        actor,
    }
}
