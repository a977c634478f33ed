//! The five roles and the permission matrix.
//!
//! The matrix is the one in the product's SSO/SCIM guide: a role is a fixed set of
//! permissions, and the server checks a permission, never a role name, on every route.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A member's role in a team. Ordered from most to least privileged.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including team settings, billing and SSO/SCIM configuration.
    SuperAdmin,
    /// Day-to-day administration: connections, backups, restores, integrations.
    Admin,
    /// Runs and schedules backups; cannot restore, delete or download.
    BackupOperator,
    /// Reads everything needed for an audit and exports reports; changes nothing.
    Auditor,
    /// Sees connections and the backup list only.
    ReadOnly,
}

impl Role {
    /// Every role, most privileged first.
    pub const ALL: [Role; 5] = [
        Role::SuperAdmin,
        Role::Admin,
        Role::BackupOperator,
        Role::Auditor,
        Role::ReadOnly,
    ];

    /// The wire name (`super_admin`, `admin`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::BackupOperator => "backup_operator",
            Role::Auditor => "auditor",
            Role::ReadOnly => "read_only",
        }
    }

    /// Whether this role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        use Role as R;
        // One arm per permission, listing the roles that hold it, so that a reader can
        // check each row against the matrix in the product documents.
        match permission {
            P::ManageTeamSettings | P::ManageBilling | P::ConfigureSsoScim => {
                matches!(self, R::SuperAdmin)
            }
            P::ViewTeamMembers | P::ViewBackupContents | P::ViewComplianceReports => {
                matches!(
                    self,
                    R::SuperAdmin | R::Admin | R::BackupOperator | R::Auditor
                )
            }
            P::ManageConnections
            | P::DeleteBackups
            | P::RestoreFromBackup
            | P::ManageIntegrations => matches!(self, R::SuperAdmin | R::Admin),
            P::TestConnections | P::RunBackups | P::EditBackupSchedules => {
                matches!(self, R::SuperAdmin | R::Admin | R::BackupOperator)
            }
            P::ViewConnections | P::ViewBackupList => true,
            P::DownloadBackups | P::ExportReports => {
                matches!(self, R::SuperAdmin | R::Admin | R::Auditor)
            }
        }
    }

    /// Every permission this role holds, in matrix order.
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.allows(*p))
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownRole(s.to_owned()))
    }
}

/// One action guarded by the permission matrix.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Permission {
    /// Rename the team, change its settings, manage members' roles and API keys.
    ManageTeamSettings,
    /// Manage billing.
    ManageBilling,
    /// Configure SSO connections and SCIM tokens.
    ConfigureSsoScim,
    /// List the team's members.
    ViewTeamMembers,
    /// Create, edit and delete identity provider connections.
    ManageConnections,
    /// Test a connection's credentials.
    TestConnections,
    /// List connections.
    ViewConnections,
    /// Start a backup.
    RunBackups,
    /// List backups.
    ViewBackupList,
    /// Read the resources inside a backup.
    ViewBackupContents,
    /// Download a backup.
    DownloadBackups,
    /// Delete a backup.
    DeleteBackups,
    /// Restore from a backup.
    RestoreFromBackup,
    /// Read compliance reports.
    ViewComplianceReports,
    /// Export compliance reports.
    ExportReports,
    /// Create and edit backup schedules.
    EditBackupSchedules,
    /// Manage Git and Terraform integrations.
    ManageIntegrations,
}

impl Permission {
    /// All seventeen permissions, in the order of the matrix.
    pub const ALL: [Permission; 17] = [
        Permission::ManageTeamSettings,
        Permission::ManageBilling,
        Permission::ConfigureSsoScim,
        Permission::ViewTeamMembers,
        Permission::ManageConnections,
        Permission::TestConnections,
        Permission::ViewConnections,
        Permission::RunBackups,
        Permission::ViewBackupList,
        Permission::ViewBackupContents,
        Permission::DownloadBackups,
        Permission::DeleteBackups,
        Permission::RestoreFromBackup,
        Permission::ViewComplianceReports,
        Permission::ExportReports,
        Permission::EditBackupSchedules,
        Permission::ManageIntegrations,
    ];

    /// The wire name (`run_backups`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ManageTeamSettings => "manage_team_settings",
            Permission::ManageBilling => "manage_billing",
            Permission::ConfigureSsoScim => "configure_sso_scim",
            Permission::ViewTeamMembers => "view_team_members",
            Permission::ManageConnections => "manage_connections",
            Permission::TestConnections => "test_connections",
            Permission::ViewConnections => "view_connections",
            Permission::RunBackups => "run_backups",
            Permission::ViewBackupList => "view_backup_list",
            Permission::ViewBackupContents => "view_backup_contents",
            Permission::DownloadBackups => "download_backups",
            Permission::DeleteBackups => "delete_backups",
            Permission::RestoreFromBackup => "restore_from_backup",
            Permission::ViewComplianceReports => "view_compliance_reports",
            Permission::ExportReports => "export_reports",
            Permission::EditBackupSchedules => "edit_backup_schedules",
            Permission::ManageIntegrations => "manage_integrations",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| Error::UnknownPermission(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix from the product documents, written out as a table so each of the
    /// 85 cells is checked independently of the `match` above.
    const MATRIX: &str = "
        permission               super_admin admin backup_operator auditor read_only
        manage_team_settings     x           .     .               .       .
        manage_billing           x           .     .               .       .
        configure_sso_scim       x           .     .               .       .
        view_team_members        x           x     x               x       .
        manage_connections       x           x     .               .       .
        test_connections         x           x     x               .       .
        view_connections         x           x     x               x       x
        run_backups              x           x     x               .       .
        view_backup_list         x           x     x               x       x
        view_backup_contents     x           x     x               x       .
        download_backups         x           x     .               x       .
        delete_backups           x           x     .               .       .
        restore_from_backup      x           x     .               .       .
        view_compliance_reports  x           x     x               x       .
        export_reports           x           x     .               x       .
        edit_backup_schedules    x           x     x               .       .
        manage_integrations      x           x     .               .       .
    ";

    #[test]
    fn permission_matrix_matches_the_product_documents() {
        let mut lines = MATRIX.lines().map(str::trim).filter(|l| !l.is_empty());
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let roles: Vec<Role> = header[1..].iter().map(|r| r.parse().unwrap()).collect();
        assert_eq!(roles, Role::ALL);

        let mut cells = 0;
        let mut seen = Vec::new();
        for line in lines {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let permission: Permission = cols[0].parse().unwrap();
            seen.push(permission);
            for (role, mark) in roles.iter().zip(&cols[1..]) {
                let expected = *mark == "x";
                assert_eq!(
                    role.allows(permission),
                    expected,
                    "{role} / {permission}: expected {expected}"
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 85);
        assert_eq!(seen, Permission::ALL);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::json!(role.as_str())
            );
        }
        for permission in Permission::ALL {
            assert_eq!(
                permission.as_str().parse::<Permission>().unwrap(),
                permission
            );
        }
        assert!(matches!(
            "owner".parse::<Role>(),
            Err(Error::UnknownRole(_))
        ));
        assert!("fly".parse::<Permission>().is_err());
    }

    #[test]
    fn roles_are_ordered_by_privilege() {
        // Each role's permissions are a subset of every more privileged role's, except
        // that an auditor's download/export rights are not a backup operator's: the
        // order is for display and tie-breaking, not inheritance.
        assert!(Role::SuperAdmin < Role::Admin && Role::Auditor < Role::ReadOnly);
        assert_eq!(Role::SuperAdmin.permissions().len(), 17);
        assert_eq!(
            Role::ReadOnly.permissions(),
            vec![Permission::ViewConnections, Permission::ViewBackupList]
        );
    }
}
