//! Who is acting on a request, and what they may do.
//!
//! A [`Principal`] is built by the API/panel layer after authentication
//! (session cookie → user row, or bearer key → key row) and passed to every
//! handler. The permission helpers below are the single place where the
//! role matrix lives:
//!
//! | permission | SuperAdmin | tenant Admin | tenant Agent | API key |
//! |---|:-:|:-:|:-:|:-:|
//! | [`can_delete`](Principal::can_delete) | ✓ | | | |
//! | [`can_manage_number_inventory`](Principal::can_manage_number_inventory) | ✓ | | | |
//! | [`can_manage_agents_and_numbers`](Principal::can_manage_agents_and_numbers) | ✓ | ✓ | | creator admin |
//! | [`can_manage_users`](Principal::can_manage_users) | ✓ | ✓ | | |
//! | [`can_create_api_keys`](Principal::can_create_api_keys) | ✓ | ✓ | | |
//! | [`can_access_tenant`](Principal::can_access_tenant)`(t)` | any `t` | own | own | own |
//!
//! An **API key** acts with its creator's *current* role in the key's
//! tenant (`role`, resolved on every request by the API layer): a key
//! whose creator is demoted to `agent` can only read; a key whose creator
//! is disabled, deleted or no longer a member does not authenticate at all.
//! A key created by a super admin acts as a tenant admin of its tenant. A
//! key never creates keys and never manages users.
//!
//! A super admin **masquerading** as a tenant user is represented as that
//! tenant user (with `masquerading_from` = the super admin's user id): they
//! get exactly the tenant user's permissions — in particular no deletes —
//! and every audit entry records both ids ([`Principal::actor_id`],
//! [`Principal::masquerading_from`]).
//!
//! Ids are plain strings for now; the domain's typed ids replace them when
//! the layers are integrated.

use serde::{Deserialize, Serialize};

/// Role of a user inside one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantRole {
    /// Manages the tenant: users, agents, numbers, settings.
    Admin,
    /// Day-to-day use: reads the tenant's data (calls, agents), no management.
    Agent,
}

impl TenantRole {
    /// Stable lowercase name (`admin`, `agent`), as stored in the DB.
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantRole::Admin => "admin",
            TenantRole::Agent => "agent",
        }
    }
}

impl std::fmt::Display for TenantRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TenantRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(TenantRole::Admin),
            "agent" => Ok(TenantRole::Agent),
            other => Err(format!(
                "unknown tenant role {other:?} (expected admin or agent)"
            )),
        }
    }
}

/// The authenticated actor of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// Platform operator: every tenant, every operation.
    SuperAdmin {
        /// The super admin's user id.
        user_id: String,
    },
    /// A user of one tenant (possibly a super admin masquerading as them).
    TenantUser {
        /// The tenant user's id.
        user_id: String,
        /// The tenant the user belongs to.
        tenant_id: String,
        /// Their role in that tenant.
        #[schema(value_type = crate::domain::TenantRole)]
        role: TenantRole,
        /// User id of the super admin masquerading as this user, if any.
        masquerading_from: Option<String>,
    },
    /// A tenant API key (JSON API).
    ApiKey {
        /// The key's row id (not the key itself).
        key_id: String,
        /// The tenant the key belongs to.
        tenant_id: String,
        /// The creator's current role in that tenant (`admin` for a key
        /// made by a super admin).
        #[schema(value_type = crate::domain::TenantRole)]
        role: TenantRole,
    },
}

impl Principal {
    /// The tenant the principal is confined to; `None` for a super admin
    /// (not confined).
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Principal::SuperAdmin { .. } => None,
            Principal::TenantUser { tenant_id, .. } | Principal::ApiKey { tenant_id, .. } => {
                Some(tenant_id)
            }
        }
    }

    /// Whether the principal may read and act on `tenant_id`'s data: a super
    /// admin any tenant, everyone else only their own. Check this on every
    /// tenant-scoped request, in addition to filtering queries by tenant.
    pub fn can_access_tenant(&self, tenant_id: &str) -> bool {
        match self.tenant_id() {
            None => true,
            Some(own) => own == tenant_id,
        }
    }

    /// Deleting tenants, users, agents, numbers, records: super admin only
    /// (tenants disable/archive instead).
    pub fn can_delete(&self) -> bool {
        matches!(self, Principal::SuperAdmin { .. })
    }

    /// Creating phone numbers (any address, wildcards included) and
    /// assigning them to tenants: super admin only. Numbers are the
    /// operator's inventory; a tenant only binds its numbers to its agents.
    pub fn can_manage_number_inventory(&self) -> bool {
        matches!(self, Principal::SuperAdmin { .. })
    }

    /// Creating and editing voice agents, trunks, and binding the tenant's
    /// numbers to agents: super admin, tenant admins, and API keys whose
    /// creator is (still) a tenant admin.
    pub fn can_manage_agents_and_numbers(&self) -> bool {
        match self {
            Principal::SuperAdmin { .. } => true,
            Principal::TenantUser { role, .. } | Principal::ApiKey { role, .. } => {
                *role == TenantRole::Admin
            }
        }
    }

    /// Creating API keys: super admin and tenant admins, never a key (a
    /// leaked key must not mint more keys that outlive its revocation).
    pub fn can_create_api_keys(&self) -> bool {
        match self {
            Principal::SuperAdmin { .. } => true,
            Principal::TenantUser { role, .. } => *role == TenantRole::Admin,
            Principal::ApiKey { .. } => false,
        }
    }

    /// Inviting, editing and disabling users: super admin and tenant admins
    /// (not API keys: keys must not mint human credentials).
    pub fn can_manage_users(&self) -> bool {
        match self {
            Principal::SuperAdmin { .. } => true,
            Principal::TenantUser { role, .. } => *role == TenantRole::Admin,
            Principal::ApiKey { .. } => false,
        }
    }

    /// Whether a super admin is acting as this tenant user.
    pub fn is_masquerading(&self) -> bool {
        self.masquerading_from().is_some()
    }

    /// The super admin behind a masquerade, if any.
    pub fn masquerading_from(&self) -> Option<&str> {
        match self {
            Principal::TenantUser {
                masquerading_from, ..
            } => masquerading_from.as_deref(),
            _ => None,
        }
    }

    /// The id recorded as the actor in the audit log: user id or key id.
    pub fn actor_id(&self) -> &str {
        match self {
            Principal::SuperAdmin { user_id } | Principal::TenantUser { user_id, .. } => user_id,
            Principal::ApiKey { key_id, .. } => key_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn super_admin() -> Principal {
        Principal::SuperAdmin {
            user_id: "u-root".into(),
        }
    }
    fn tenant_user(role: TenantRole, masq: Option<&str>) -> Principal {
        Principal::TenantUser {
            user_id: "u-1".into(),
            tenant_id: "t-1".into(),
            role,
            masquerading_from: masq.map(Into::into),
        }
    }
    fn api_key() -> Principal {
        api_key_of(TenantRole::Admin)
    }
    fn api_key_of(role: TenantRole) -> Principal {
        Principal::ApiKey {
            key_id: "k-1".into(),
            tenant_id: "t-1".into(),
            role,
        }
    }

    /// One row of the role matrix: what a principal may do.
    struct Expected {
        name: &'static str,
        principal: Principal,
        delete: bool,
        inventory: bool,
        agents_and_numbers: bool,
        users: bool,
        keys: bool,
        masquerading: bool,
        tenant: Option<&'static str>,
    }

    /// Every principal × every permission, spelled out.
    #[test]
    fn role_matrix() {
        use TenantRole::{Admin, Agent};
        #[rustfmt::skip]
        let rows = [
            Expected { name: "super admin", principal: super_admin(), delete: true, inventory: true, agents_and_numbers: true, users: true, keys: true, masquerading: false, tenant: None },
            Expected { name: "tenant admin", principal: tenant_user(Admin, None), delete: false, inventory: false, agents_and_numbers: true, users: true, keys: true, masquerading: false, tenant: Some("t-1") },
            Expected { name: "tenant agent", principal: tenant_user(Agent, None), delete: false, inventory: false, agents_and_numbers: false, users: false, keys: false, masquerading: false, tenant: Some("t-1") },
            Expected { name: "masquerading as admin", principal: tenant_user(Admin, Some("u-root")), delete: false, inventory: false, agents_and_numbers: true, users: true, keys: true, masquerading: true, tenant: Some("t-1") },
            Expected { name: "masquerading as agent", principal: tenant_user(Agent, Some("u-root")), delete: false, inventory: false, agents_and_numbers: false, users: false, keys: false, masquerading: true, tenant: Some("t-1") },
            Expected { name: "api key of an admin", principal: api_key(), delete: false, inventory: false, agents_and_numbers: true, users: false, keys: false, masquerading: false, tenant: Some("t-1") },
            Expected { name: "api key of an agent", principal: api_key_of(Agent), delete: false, inventory: false, agents_and_numbers: false, users: false, keys: false, masquerading: false, tenant: Some("t-1") },
        ];
        for r in rows {
            let (name, p) = (r.name, &r.principal);
            assert_eq!(p.can_delete(), r.delete, "{name}: can_delete");
            assert_eq!(
                p.can_manage_number_inventory(),
                r.inventory,
                "{name}: can_manage_number_inventory"
            );
            assert_eq!(
                p.can_create_api_keys(),
                r.keys,
                "{name}: can_create_api_keys"
            );
            assert_eq!(
                p.can_manage_agents_and_numbers(),
                r.agents_and_numbers,
                "{name}: can_manage_agents_and_numbers"
            );
            assert_eq!(p.can_manage_users(), r.users, "{name}: can_manage_users");
            assert_eq!(
                p.is_masquerading(),
                r.masquerading,
                "{name}: is_masquerading"
            );
            assert_eq!(p.tenant_id(), r.tenant, "{name}: tenant_id");
            assert!(p.can_access_tenant("t-1"), "{name}: own tenant");
            assert_eq!(
                p.can_access_tenant("t-2"),
                r.tenant.is_none(),
                "{name}: other tenant"
            );
        }
    }

    #[test]
    fn actor_and_masquerade_ids() {
        assert_eq!(super_admin().actor_id(), "u-root");
        assert_eq!(api_key().actor_id(), "k-1");
        let m = tenant_user(TenantRole::Admin, Some("u-root"));
        assert_eq!(m.actor_id(), "u-1");
        assert_eq!(m.masquerading_from(), Some("u-root"));
        assert_eq!(super_admin().masquerading_from(), None);
        assert_eq!(api_key().masquerading_from(), None);
    }

    #[test]
    fn role_names_roundtrip() {
        for r in [TenantRole::Admin, TenantRole::Agent] {
            assert_eq!(r.as_str().parse::<TenantRole>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert!("Admin".parse::<TenantRole>().is_err());
        assert!("".parse::<TenantRole>().is_err());
    }

    #[test]
    fn principal_serde_shape() {
        let p = tenant_user(TenantRole::Agent, None);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "tenant_user");
        assert_eq!(json["role"], "agent");
        let back: Principal = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
