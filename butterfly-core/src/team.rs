//! Teams and their members.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Role};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new_random() -> Self {
                $name(Uuid::new_v4())
            }

            /// Wrap an existing UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name).map_err(|_| Error::InvalidId {
                    what: $what,
                    value: s.to_owned(),
                })
            }
        }
    };
}

uuid_id!(
    /// A team's identifier.
    TeamId,
    "team id"
);
uuid_id!(
    /// A member's identifier.
    MemberId,
    "member id"
);

/// A team: the unit of tenancy. Nothing crosses from one team to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Identifier.
    pub id: TeamId,
    /// Unique, human-chosen name.
    pub name: String,
    /// When the team was created.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A person in a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Identifier.
    pub id: MemberId,
    /// The team the member belongs to.
    pub team_id: TeamId,
    /// Sign-in email, unique within the team (compared case-insensitively).
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The member's role.
    pub role: Role,
    /// False when suspended (for instance by SCIM `active: false`).
    pub active: bool,
    /// The identifier the provisioning client (Okta, Entra ID) knows the member by.
    pub external_id: Option<String>,
    /// When the member was created.
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When the member last changed.
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_reject_garbage() {
        let id = TeamId::new_random();
        assert_eq!(id.to_string().parse::<TeamId>().unwrap(), id);
        assert!(matches!(
            "not-a-uuid".parse::<MemberId>(),
            Err(Error::InvalidId {
                what: "member id",
                ..
            })
        ));
    }
}
