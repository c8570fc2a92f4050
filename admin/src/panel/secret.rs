//! Write-only secrets of forms (agent credentials, trunk passwords):
//! encrypted at rest exactly like the API does (bound to table, tenant and
//! column), never rendered back.

use crate::api::AdminState;
use crate::auth::secrets::associated_data;
use crate::domain::Opaque;
use crate::store::{SecretChange, TenantScope};

use super::error::PanelError;

/// Where a secret is stored: `(table, column)`.
pub(crate) type Column = (&'static str, &'static str);

/// Agent provider credentials.
pub(crate) const AGENT_CREDENTIALS: Column = ("voice_agents", "credentials_enc");
/// SIP trunk digest password.
pub(crate) const TRUNK_PASSWORD: Column = ("sip_trunks", "auth_password_enc");

/// What to do with the stored secret given the submitted `plaintext`
/// (empty: keep, or remove when `clear`), encrypting a new value.
pub(crate) fn change(
    state: &AdminState,
    scope: &TenantScope,
    (table, column): Column,
    plaintext: &str,
    clear: bool,
) -> Result<SecretChange, PanelError> {
    if plaintext.is_empty() {
        return Ok(if clear {
            SecretChange::Clear
        } else {
            SecretChange::Keep
        });
    }
    let ad = associated_data(table, &scope.tenant().to_string(), column);
    let enc = state
        .secrets
        .encrypt_str(plaintext, &ad)
        .map_err(PanelError::internal)?;
    Ok(SecretChange::Set(Opaque::new(enc)))
}
