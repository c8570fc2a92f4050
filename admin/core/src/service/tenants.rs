//! Tenants (super admin only): create, rename / suspend / re-plan, delete.

use crate::auth::Principal;
use crate::domain::{Name, Slug, TenantId, TenantStatus};
use crate::store::{DeleteGrant, NewTenant, Tenant, TenantUpdate, Tx};

use super::{json, Change, Ctx, FieldErrors, ServiceError, ServiceResult};

fn require_super_admin(ctx: &Ctx<'_>) -> ServiceResult<()> {
    ctx.require(matches!(ctx.actor.principal, Principal::SuperAdmin { .. }))
}

/// `value` parsed into `T` (`None` for `None`), or an error on `field`.
fn parsed<T: std::str::FromStr>(
    errors: &mut FieldErrors,
    field: &str,
    key: &'static str,
    value: Option<&str>,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match value?.trim().parse() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.add_keyed(field, e.to_string(), key);
            None
        }
    }
}

/// A plan: empty or absent is "no plan".
fn plan(errors: &mut FieldErrors, plan: Option<&str>) -> Option<Slug> {
    parsed(
        errors,
        "plan",
        "err.slug",
        plan.filter(|p| !p.trim().is_empty()),
    )
}

async fn load(tx: &Tx, id: TenantId) -> ServiceResult<Tenant> {
    tx.tenants().get(id).await?.ok_or(ServiceError::NotFound)
}

/// Creates a tenant (`tenant.create`).
///
/// Errors: `Forbidden`; `Invalid` on `name`, `slug`, `plan`;
/// `Conflict { field: "tenant.name" | "tenant.slug" }`.
pub async fn create(
    ctx: Ctx<'_>,
    name: &str,
    slug: &str,
    plan_raw: Option<&str>,
) -> ServiceResult<Tenant> {
    require_super_admin(&ctx)?;
    let mut errors = FieldErrors::default();
    let name: Option<Name> = parsed(&mut errors, "name", "err.name", Some(name));
    let slug: Option<Slug> = parsed(&mut errors, "slug", "err.slug", Some(slug));
    let plan = plan(&mut errors, plan_raw);
    let (Some(name), Some(slug), true) = (name, slug, errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    let tx = ctx.store.transaction().await?;
    let t = tx.tenants().create(NewTenant { name, slug, plan }).await?;
    let change = Change::new("tenant.create", Some(t.id), t.id, None, json(&t));
    ctx.commit(tx, change).await?;
    Ok(t)
}

/// Changes tenant `id` (`tenant.update`); `None` fields are kept.
pub async fn update(
    ctx: Ctx<'_>,
    id: TenantId,
    name: Option<&str>,
    status: Option<&str>,
    plan_raw: Option<&str>,
) -> ServiceResult<Tenant> {
    require_super_admin(&ctx)?;
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, id).await?;
    let mut errors = FieldErrors::default();
    let update = TenantUpdate {
        name: parsed::<Name>(&mut errors, "name", "err.name", name),
        status: parsed::<TenantStatus>(&mut errors, "status", "err.invalid_choice", status),
        plan: plan(&mut errors, plan_raw),
    };
    errors.into_result()?;
    let t = tx.tenants().update(id, update).await?;
    let change = Change::new("tenant.update", Some(id), id, json(&before), json(&t));
    ctx.commit(tx, change).await?;
    Ok(t)
}

/// Deletes tenant `id` and everything it owns (`tenant.delete`, recorded
/// as a global entry). Returns it.
pub async fn delete(ctx: Ctx<'_>, id: TenantId) -> ServiceResult<Tenant> {
    require_super_admin(&ctx)?;
    let tx = ctx.store.transaction().await?;
    let before = load(&tx, id).await?;
    tx.tenants().delete(&DeleteGrant::super_admin(), id).await?;
    let change = Change::new("tenant.delete", None, id, json(&before), None);
    ctx.commit(tx, change).await?;
    Ok(before)
}
