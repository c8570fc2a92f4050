//! SIP trunks (carrier connections) of a tenant. The digest password is
//! sealed with the secret key (bound to the tenant and column) and never
//! returned: the view says `auth_password_set`. Managing trunks needs the
//! rights to manage agents and numbers; deleting is super admin only.

use serde::Serialize;

use crate::auth::secrets::associated_data;
use crate::domain::{Host, Name, Opaque, TenantId, Timestamp, Transport, TrunkId};
use crate::store::{DeleteGrant, SecretChange, SipTrunk, TenantScope, TrunkSpec, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

/// Longest digest user name and password, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 256;
/// The port of a new trunk without one.
pub const DEFAULT_PORT: u16 = 5060;

/// A trunk change: `None` fields keep the stored value (on create: the
/// defaults, port [`DEFAULT_PORT`], UDP, no credentials, no REGISTER).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrunkInput {
    pub name: Option<String>,
    pub host: Option<String>,
    /// 1 to 65535.
    pub port: Option<i64>,
    /// `udp`, `tcp` or `tls`.
    pub transport: Option<String>,
    /// `Some(None)` (or empty) removes it.
    pub auth_user: Option<Option<String>>,
    /// `Some(None)` (or empty) removes it; sealed when set.
    pub auth_password: Option<Option<String>>,
    pub register: Option<bool>,
}

/// A trunk as clients and the audit log see it (no password).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TrunkView {
    pub id: TrunkId,
    pub tenant_id: TenantId,
    pub name: Name,
    pub host: Host,
    pub port: u16,
    pub transport: Transport,
    pub auth_user: Option<String>,
    /// Whether a digest password is stored.
    pub auth_password_set: bool,
    pub register: bool,
    pub created_at: Timestamp,
}

/// The public view of a trunk.
pub fn view(t: &SipTrunk) -> TrunkView {
    TrunkView {
        id: t.id,
        tenant_id: t.tenant_id,
        name: t.name.clone(),
        host: t.host.clone(),
        port: t.port,
        transport: t.transport,
        auth_user: t.auth_user.clone(),
        auth_password_set: t.auth_password_enc.is_some(),
        register: t.register,
        created_at: t.created_at,
    }
}

fn parsed<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    key: &'static str,
    value: &str,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match value.trim().parse() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.add_keyed(field, e.to_string(), key);
            None
        }
    }
}

/// The checked spec of `input` over `base` (the stored trunk on update).
fn spec(input: &TrunkInput, base: Option<&SipTrunk>) -> ServiceResult<TrunkSpec> {
    let mut errors = FieldErrors::default();
    let name: Option<Name> = match (&input.name, base) {
        (None, Some(b)) => Some(b.name.clone()),
        (n, _) => parsed(
            &mut errors,
            "name",
            "err.name",
            n.as_deref().unwrap_or_default(),
        ),
    };
    let host: Option<Host> = match (&input.host, base) {
        (None, Some(b)) => Some(b.host.clone()),
        (h, _) => parsed(
            &mut errors,
            "host",
            "err.host",
            h.as_deref().unwrap_or_default(),
        ),
    };
    let port = match (input.port, base) {
        (None, Some(b)) => Some(b.port),
        (None, None) => Some(DEFAULT_PORT),
        (Some(p), _) => u16::try_from(p).ok().filter(|p| *p > 0),
    };
    if port.is_none() {
        errors.add_keyed("port", "must be from 1 to 65535", "err.port");
    }
    let transport: Option<Transport> = match (&input.transport, base) {
        (None, Some(b)) => Some(b.transport),
        (None, None) => Some(Transport::Udp),
        (Some(t), _) => parsed(&mut errors, "transport", "err.invalid_choice", t),
    };
    let auth_user = match &input.auth_user {
        None => base.and_then(|b| b.auth_user.clone()),
        Some(u) => u.clone().filter(|u| !u.is_empty()),
    };
    if auth_user
        .as_ref()
        .is_some_and(|u| u.len() > MAX_CREDENTIAL_BYTES || u.chars().any(char::is_control))
    {
        errors.add(
            "auth_user",
            format!("at most {MAX_CREDENTIAL_BYTES} bytes, no control characters"),
        );
    }
    if matches!(&input.auth_password, Some(Some(p)) if p.len() > MAX_CREDENTIAL_BYTES || p.chars().any(char::is_control))
    {
        errors.add(
            "auth_password",
            format!("at most {MAX_CREDENTIAL_BYTES} bytes, no control characters"),
        );
    }
    let (Some(name), Some(host), Some(port), Some(transport), true) =
        (name, host, port, transport, errors.is_empty())
    else {
        return Err(ServiceError::Invalid(errors));
    };
    Ok(TrunkSpec {
        name,
        host,
        port,
        transport,
        auth_user,
        register: input
            .register
            .unwrap_or_else(|| base.is_some_and(|b| b.register)),
    })
}

/// The password change of `input`, sealed for the scope's tenant.
fn password(ctx: &Ctx<'_>, scope: &TenantScope, input: &TrunkInput) -> ServiceResult<SecretChange> {
    match &input.auth_password {
        None => Ok(SecretChange::Keep),
        Some(None) => Ok(SecretChange::Clear),
        Some(Some(p)) if p.is_empty() => Ok(SecretChange::Clear),
        Some(Some(p)) => {
            let ad = associated_data(
                "sip_trunks",
                &scope.tenant().to_string(),
                "auth_password_enc",
            );
            let enc = ctx
                .secrets
                .encrypt_str(p, &ad)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(SecretChange::Set(Opaque::new(enc)))
        }
    }
}

async fn load(tx: &Tx, scope: &TenantScope, id: TrunkId) -> ServiceResult<SipTrunk> {
    tx.trunks()
        .get(scope, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Creates a trunk (`trunk.create`).
///
/// Errors: `Forbidden`, `Invalid` per field, `Conflict { field:
/// "trunk.name" }`.
pub async fn create(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    input: &TrunkInput,
) -> ServiceResult<SipTrunk> {
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let spec = spec(input, None)?;
    let password = match password(&ctx, scope, input)? {
        SecretChange::Set(enc) => Some(enc),
        SecretChange::Keep | SecretChange::Clear => None,
    };
    let tx = ctx.store.transaction().await?;
    let t = tx.trunks().create(scope, &spec, password.as_ref()).await?;
    let change = Change::new(
        "trunk.create",
        Some(scope.tenant()),
        t.id,
        None,
        json(&view(&t)),
    );
    ctx.commit(tx, change).await?;
    Ok(t)
}

/// Changes trunk `id` (`trunk.update`); `None` fields are kept.
pub async fn update(
    ctx: Ctx<'_>,
    scope: &TenantScope,
    id: TrunkId,
    input: &TrunkInput,
) -> ServiceResult<SipTrunk> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_manage_agents_and_numbers())?;
    let spec = spec(input, Some(&before))?;
    let password = password(&ctx, scope, input)?;
    let t = tx.trunks().update(scope, id, &spec, &password).await?;
    let change = Change::new(
        "trunk.update",
        Some(scope.tenant()),
        t.id,
        json(&view(&before)),
        json(&view(&t)),
    );
    ctx.commit(tx, change).await?;
    Ok(t)
}

/// Deletes trunk `id` (`trunk.delete`; super admin only). Returns it.
pub async fn delete(ctx: Ctx<'_>, scope: &TenantScope, id: TrunkId) -> ServiceResult<SipTrunk> {
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, scope, id).await?;
    ctx.require(ctx.actor.principal.can_delete())?;
    tx.trunks()
        .delete(scope, &DeleteGrant::super_admin(), id)
        .await?;
    let change = Change::new(
        "trunk.delete",
        Some(scope.tenant()),
        id,
        json(&view(&before)),
        None,
    );
    ctx.commit(tx, change).await?;
    Ok(before)
}
