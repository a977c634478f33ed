//! Team settings on the server that have no module of their own: members one by one,
//! SCIM group push (which Group grants which role), and a connection's "export to Git
//! after every backup" setting.
//!
//! ```text
//! butterfly members update 3f2a... --role auditor
//! butterfly scim-group-roles set --group Butterfly-Admins=admin --group Auditors=auditor
//! butterfly connections git-export set okta-prod --remote-url https://github.com/acme/okta-config.git --token-file token.txt
//! ```

use std::path::PathBuf;

use butterfly_core::Role;
use serde_json::{Map, Value, json};

use crate::Output;
use crate::client::{ApiClient, CliError};
use crate::output::{Column, print_record, print_records};
use crate::server_mode::connection_id;

const GIT_EXPORT_COLUMNS: &[Column] = &[
    Column::new("CONNECTION", "/connection_id"),
    Column::new("ENABLED", "/enabled"),
    Column::new("REMOTE", "/remote_url"),
    Column::new("BRANCH", "/branch"),
    Column::new("CREDENTIAL", "/credential"),
    Column::new("LAST COMMIT", "/last_outcome/commit"),
    Column::new("LAST ERROR", "/last_outcome/error"),
];

const GROUP_ROLE_COLUMNS: &[Column] =
    &[Column::new("GROUP", "/group"), Column::new("ROLE", "/role")];

/// Flags of `connections git-export set`: the route's body, with the secrets read from
/// a file or the environment so they stay off the command line and out of the output.
#[derive(Debug, clap::Args)]
pub struct GitExportFlags {
    /// The remote: `https://...`, `ssh://...` or `git@host:path`.
    #[arg(long)]
    pub remote_url: String,
    /// The branch (the server's default: `main`).
    #[arg(long)]
    pub branch: Option<String>,
    /// Save the setting switched off (exports stop until it is set again).
    #[arg(long)]
    pub disabled: bool,
    /// A file holding an HTTPS access token (or set BUTTERFLY_GIT_TOKEN).
    #[arg(long, conflicts_with = "deploy_key")]
    pub token_file: Option<PathBuf>,
    /// The user name sent with the token (GitLab: `oauth2`, Bitbucket: `x-token-auth`;
    /// the server's default: `x-access-token`).
    #[arg(long)]
    pub token_user: Option<String>,
    /// An SSH deploy key file (private key, unencrypted), or set
    /// BUTTERFLY_GIT_DEPLOY_KEY to its path.
    #[arg(long, env = "BUTTERFLY_GIT_DEPLOY_KEY")]
    pub deploy_key: Option<PathBuf>,
    /// The SSH server's host key to accept (`ssh-ed25519 AAAA...` or `SHA256:...`).
    #[arg(long)]
    pub ssh_host_key: Option<String>,
}

fn read_secret(path: PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(&path).map_err(|source| CliError::ReadFile { path, source })
}

/// The body of `PUT /connections/{id}/git-export`. The token comes from `--token-file`,
/// else from `BUTTERFLY_GIT_TOKEN` (never a flag: shell history and `ps` would show it).
pub fn git_export_body(
    flags: GitExportFlags,
    env_token: Option<String>,
) -> Result<Value, CliError> {
    let mut body = json!({"remote_url": flags.remote_url, "enabled": !flags.disabled});
    if let Some(branch) = flags.branch {
        body["branch"] = json!(branch);
    }
    let token = match flags.token_file {
        Some(path) => Some(read_secret(path)?.trim().to_owned()),
        // A deploy key wins over a token left in the environment.
        None if flags.deploy_key.is_none() => env_token.filter(|t| !t.trim().is_empty()),
        None => None,
    };
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    if let Some(user) = flags.token_user {
        body["token_username"] = json!(user);
    }
    if let Some(path) = flags.deploy_key {
        body["deploy_key"] = json!(read_secret(path)?);
    }
    if let Some(host_key) = flags.ssh_host_key {
        body["ssh_host_key"] = json!(host_key);
    }
    Ok(body)
}

/// `connections git-export show`.
pub async fn show_git_export(
    client: &ApiClient,
    out: Output,
    connection: &str,
) -> Result<(), CliError> {
    let id = connection_id(client, connection).await?;
    let setting = client.get(&format!("connections/{id}/git-export")).await?;
    print_record(out, &setting, GIT_EXPORT_COLUMNS);
    Ok(())
}

/// `connections git-export set`: prints the setting as saved (the server never sends
/// a secret back).
pub async fn set_git_export(
    client: &ApiClient,
    out: Output,
    connection: &str,
    body: &Value,
) -> Result<(), CliError> {
    let id = connection_id(client, connection).await?;
    let saved = client
        .put(&format!("connections/{id}/git-export"), body)
        .await?;
    print_record(out, &saved, GIT_EXPORT_COLUMNS);
    Ok(())
}

/// `connections git-export remove`.
pub async fn remove_git_export(
    client: &ApiClient,
    out: Output,
    connection: &str,
) -> Result<(), CliError> {
    let id = connection_id(client, connection).await?;
    client
        .delete(&format!("connections/{id}/git-export"))
        .await?;
    crate::print_done(out, &format!("removed the Git export of connection {id}"));
    Ok(())
}

/// The body of `PATCH /members/{id}`; at least one change.
pub fn member_update_body(
    role: Option<Role>,
    active: Option<bool>,
    display_name: Option<String>,
) -> Result<Value, CliError> {
    let mut body = json!({});
    if let Some(role) = role {
        body["role"] = json!(role);
    }
    if let Some(active) = active {
        body["active"] = json!(active);
    }
    if let Some(name) = display_name {
        body["display_name"] = json!(name);
    }
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(CliError::Failed(
            "members update needs --role, --active or --display-name".to_owned(),
        ));
    }
    Ok(body)
}

/// `scim-group-roles list` and `set`: the mapping as rows of group and role.
pub fn print_group_roles(out: Output, mapping: &Value) {
    match out {
        Output::Json => crate::output::print_json(mapping),
        Output::Table | Output::Markdown => {
            let rows: Vec<Value> = mapping
                .as_object()
                .into_iter()
                .flatten()
                .map(|(group, role)| json!({"group": group, "role": role}))
                .collect();
            print_records(out, &Value::Array(rows), GROUP_ROLE_COLUMNS);
        }
    }
}

/// One `--group NAME=ROLE` of `scim-group-roles set`. The name may hold `=`; the role
/// is after the last one.
pub fn parse_group_role(text: &str) -> Result<(String, Role), String> {
    let (group, role) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("expected GROUP=ROLE, got `{text}`"))?;
    if group.trim().is_empty() {
        return Err(format!(
            "expected GROUP=ROLE, got `{text}`: the group is empty"
        ));
    }
    let role: Role = serde_json::from_value(json!(role.trim())).map_err(|_| {
        format!(
            "unknown role `{role}`: one of super_admin, admin, backup_operator, auditor, read_only"
        )
    })?;
    Ok((group.trim().to_owned(), role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_role_parses_and_rejects() {
        assert_eq!(
            parse_group_role("Okta=Admins=admin").unwrap(),
            ("Okta=Admins".to_owned(), Role::Admin)
        );
        assert!(
            parse_group_role("Admins")
                .unwrap_err()
                .contains("GROUP=ROLE")
        );
        assert!(parse_group_role("=admin").unwrap_err().contains("empty"));
        assert!(
            parse_group_role("Admins=root")
                .unwrap_err()
                .contains("unknown role")
        );
    }

    #[test]
    fn member_update_needs_a_change() {
        assert!(member_update_body(None, None, None).is_err());
        assert_eq!(
            member_update_body(Some(Role::Auditor), Some(false), None).unwrap(),
            json!({"role": "auditor", "active": false})
        );
    }

    #[test]
    fn git_export_token_from_env_unless_deploy_key() {
        let flags = |deploy_key: Option<PathBuf>| GitExportFlags {
            remote_url: "https://example.com/r.git".into(),
            branch: None,
            disabled: false,
            token_file: None,
            token_user: None,
            deploy_key,
            ssh_host_key: None,
        };
        let body = git_export_body(flags(None), Some("tok".into())).unwrap();
        assert_eq!(body["token"], "tok");
        assert_eq!(body["enabled"], true);
        let missing = git_export_body(flags(Some("/nonexistent/key".into())), Some("tok".into()));
        assert!(matches!(missing, Err(CliError::ReadFile { .. })));
    }
}
