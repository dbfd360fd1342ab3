//! The JWT claims socfeed reads. Shapes only: signatures and times are checked by the verifier.

use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Subscriber,
    Publisher,
    Admin,
}

/// Claims of a socfeed token. `sub`, `tenant_id` and `exp` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// The tenant whose events the bearer sees; `"*"` lets a service publisher publish to any tenant.
    pub tenant_id: String,
    /// Expiry, unix seconds.
    pub exp: u64,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "roles"
    )]
    pub roles: Vec<Role>,
    /// Allow-list of channels; absent means every channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Unknown role names are ignored (they grant nothing); a non-array is an error.
fn roles<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    Ok(raw
        .iter()
        .filter_map(|r| match r.as_str() {
            "subscriber" => Some(Role::Subscriber),
            "publisher" => Some(Role::Publisher),
            "admin" => Some(Role::Admin),
            _ => None,
        })
        .collect())
}

/// The tenant a `"*"` token stands for.
pub const ANY_TENANT: &str = "*";

impl Claims {
    /// `admin` implies every role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.iter().any(|r| *r == role || *r == Role::Admin)
    }

    /// `true` for a service publisher that may name any tenant.
    pub fn is_any_tenant(&self) -> bool {
        self.tenant_id == ANY_TENANT
    }

    /// Whether the token's channel allow-list (if any) admits `channel`.
    pub fn allows_channel(&self, channel: &str) -> bool {
        match &self.channels {
            None => true,
            Some(list) => list
                .iter()
                .any(|c| c == channel || c == crate::channel::ALL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_all_roles_and_unknown_roles_grant_nothing() {
        let c: Claims =
            serde_json::from_str(r#"{"sub":"u","tenant_id":"t","exp":1,"roles":["admin","root"]}"#)
                .unwrap();
        assert!(c.has_role(Role::Publisher) && c.has_role(Role::Subscriber));
        let c: Claims =
            serde_json::from_str(r#"{"sub":"u","tenant_id":"t","exp":1,"roles":["root"]}"#)
                .unwrap();
        assert!(!c.has_role(Role::Subscriber));
        let c: Claims = serde_json::from_str(r#"{"sub":"u","tenant_id":"t","exp":1}"#).unwrap();
        assert!(c.roles.is_empty());
    }

    #[test]
    fn wrong_claim_types_are_errors() {
        for bad in [
            r#"{"sub":"u","tenant_id":"t","exp":"soon"}"#,
            r#"{"sub":"u","tenant_id":7,"exp":1}"#,
            r#"{"sub":"u","tenant_id":"t","exp":1,"roles":"admin"}"#,
            r#"{"tenant_id":"t","exp":1}"#,
            r#"{"sub":"u","exp":1}"#,
        ] {
            assert!(serde_json::from_str::<Claims>(bad).is_err(), "{bad}");
        }
    }
}
