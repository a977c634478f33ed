//! Applying a team's retention settings to its snapshot repository: what a server runs
//! after each backup job (and what `butterfly prune` runs on demand).
//!
//! The policy for a connection's snapshots is the connection's own, else the team's
//! ([`SqlStore::effective_retention`]); with none, nothing is forgotten. Snapshots under
//! legal hold ([`SnapshotRepository::hold`]) are always kept.

use butterfly_core::TeamId;
use butterfly_core::store::StoreError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::SqlStore;
use crate::snapshots::{
    ForgetReport, PruneOptions, PruneReport, SnapshotError, SnapshotRepository,
};

/// Why retention could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyRetentionError {
    /// The settings could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The repository could not be read, forgotten in or pruned.
    #[error(transparent)]
    Snapshots(#[from] SnapshotError),
}

/// What [`apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AppliedRetention {
    /// The forget, when a policy applies.
    pub forget: Option<ForgetReport>,
    /// The prune, when asked for and something was forgotten.
    pub prune: Option<PruneReport>,
}

/// Apply the retention policy of `connection` (whose org is `org`) in `team`'s
/// repository at `now`: forget that org's snapshots the policy does not keep, then, with
/// `prune`, remove their data. The hook a server calls after each backup job of the
/// connection.
pub async fn apply_retention(
    sql: &SqlStore,
    repo: &SnapshotRepository,
    team: TeamId,
    connection: Uuid,
    org: &str,
    now: DateTime<Utc>,
    prune: bool,
) -> Result<AppliedRetention, ApplyRetentionError> {
    let Some(stored) = sql.effective_retention(team, Some(connection)).await? else {
        return Ok(AppliedRetention::default());
    };
    let forget = repo
        .forget_org(Some(org), &stored.policy, now, false)
        .await?;
    let prune = if prune && !forget.deleted.is_empty() {
        Some(repo.prune(PruneOptions::default()).await?)
    } else {
        None
    };
    Ok(AppliedRetention {
        forget: Some(forget),
        prune,
    })
}
