//! The authenticated caller of a request, as the login service and the
//! handlers (API and panel) see it.

use crate::auth::Principal;
use crate::domain::{TenantId, UserId};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling and with which rights.
    pub principal: Principal,
    /// The human behind the request (for an API key: its creator; while
    /// masquerading: the impersonated tenant user).
    pub user_id: Option<UserId>,
    /// Label for the audit log (email, `<email> (masquerade by <email>)`,
    /// or `api_key:<id>`).
    pub label: String,
    /// The stored id (SHA-256 hex) of the session, `None` for API keys.
    pub session_id: Option<String>,
    /// The signed-in user's e-mail, `None` for API keys.
    pub email: Option<String>,
    /// The super admin acting as this user ("log in as"), if any.
    pub masquerading_from: Option<UserId>,
    /// That super admin's e-mail, for the panel's banner.
    pub masquerader_email: Option<String>,
}

impl Authenticated {
    /// The caller as the service layer records it, from client address `ip`.
    pub fn actor(&self, ip: Option<String>) -> crate::service::Actor {
        crate::service::Actor {
            principal: self.principal.clone(),
            user_id: self.user_id,
            label: self.label.clone(),
            ip,
        }
    }

    /// The tenant the caller is confined to; `None` for a super admin.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.principal.tenant_id().and_then(|t| t.parse().ok())
    }

    /// Whether this is a super admin acting as a tenant user.
    pub fn is_masquerade(&self) -> bool {
        self.masquerading_from.is_some()
    }
}
