//! Capability tokens: what a caller has proven before touching data.

use crate::domain::TenantId;

/// Proof that the caller may act within one tenant. Built by the auth layer
/// from an authenticated principal (session or API key), or by the engine
/// when routing a call ([`Routing::resolve_number`](super::Routing::resolve_number)).
///
/// Every tenant-owned repository function takes `&TenantScope` first and
/// filters on its tenant, so a query without a scope does not compile and a
/// foreign id is simply not found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
}

impl TenantScope {
    /// A scope for `tenant`. Only the auth layer (after checking the
    /// principal's membership) and the engine's call routing should call this.
    pub fn new(tenant: TenantId) -> Self {
        Self { tenant }
    }

    /// The tenant this scope grants access to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
}

/// Permission to delete. Only a super admin may delete anything, so every
/// delete function takes `&DeleteGrant`; the auth layer mints it only for
/// a principal holding [`Role::SuperAdmin`](crate::domain::Role::SuperAdmin).
#[derive(Debug)]
pub struct DeleteGrant {
    _private: (),
}

impl DeleteGrant {
    /// Mints a grant. Call only after verifying the principal is a super
    /// admin.
    pub fn super_admin() -> Self {
        Self { _private: () }
    }
}
