//! Local admin subcommands: they open the data directory's database directly, for
//! automation and recovery when no API key is at hand. Secrets are printed alone on
//! the last line of stdout, so scripts can take them with `tail -n1`.

use butterfly_core::Team;
use butterfly_core::store::{
    ApiKeyStore, AuditOutcome, AuditStore, NewAuditEntry, ScimTokenStore, StoreError, TeamStore,
};
use butterfly_store::SqlStore;

use crate::app::{DEFAULT_TEAM, bootstrap_member};
use crate::config::{ApiKeyCommand, Command, Config, ScimTokenCommand, TeamCommand};

/// Errors from admin subcommands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The data directory could not be created.
    #[error("cannot create data directory: {0}")]
    DataDir(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A named team does not exist.
    #[error("no team named `{0}`")]
    NoSuchTeam(String),
}

/// Run one admin subcommand. `Command::Serve` is not an admin command and does nothing.
pub async fn run(config: &Config, command: &Command) -> Result<(), AdminError> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = SqlStore::connect(&config.database_url()).await?;
    match command {
        Command::Serve => {}
        Command::Team(TeamCommand::Create { name }) => {
            let team = store.create_team(name).await?;
            println!("created team {} ({})", team.name, team.id);
        }
        Command::Team(TeamCommand::List) => {
            for team in store.list_teams().await? {
                println!("{}\t{}", team.id, team.name);
            }
        }
        Command::ApiKey(ApiKeyCommand::Create {
            role,
            team,
            name,
            service,
        }) => {
            let team = resolve_team(&store, team.as_deref()).await?;
            // Run on the server's own machine with no person signed in: the key is the
            // bootstrap member's, or a service key it answers for.
            let owner = bootstrap_member(&store, team.id).await?;
            let (key, secret) = match service {
                Some(service) => {
                    store
                        .create_service_api_key(team.id, name, *role, service, Some(owner.id))
                        .await?
                }
                None => {
                    store
                        .create_api_key(team.id, name, *role, Some(owner.id))
                        .await?
                }
            };
            store
                .record_audit(NewAuditEntry {
                    team_id: Some(team.id),
                    actor: "admin-cli".to_owned(),
                    action: "api_key.created".to_owned(),
                    target: Some(format!("api_key:{}", key.id)),
                    request_id: None,
                    outcome: AuditOutcome::Success,
                    detail: serde_json::json!({
                        "name": key.name,
                        "role": key.role,
                        "member_id": key.member_id,
                        "service": key.service,
                    }),
                })
                .await?;
            match &key.service {
                Some(service) => println!(
                    "created service API key {} for `{service}` with role {} for team {}",
                    key.id, key.role, team.name
                ),
                None => println!(
                    "created API key {} with role {} for team {}, owned by member {}",
                    key.id, key.role, team.name, owner.email
                ),
            }
            println!("{}", secret.secret());
        }
        Command::ScimToken(ScimTokenCommand::Create { team, name }) => {
            let team = resolve_team(&store, team.as_deref()).await?;
            let (token, secret) = store.create_scim_token(team.id, name).await?;
            println!("created SCIM token {} for team {}", token.id, team.name);
            println!("{}", secret.secret());
        }
    }
    Ok(())
}

/// The named team, or the default team (created if the database is empty).
async fn resolve_team(store: &SqlStore, name: Option<&str>) -> Result<Team, AdminError> {
    if let Some(name) = name {
        return store
            .team_by_name(name)
            .await?
            .ok_or_else(|| AdminError::NoSuchTeam(name.to_owned()));
    }
    if let Some(team) = store.team_by_name(DEFAULT_TEAM).await? {
        return Ok(team);
    }
    Ok(store.create_team(DEFAULT_TEAM).await?)
}
