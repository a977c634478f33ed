//! The audit trail: one append-only table (`audit_log`; the migrations add triggers that
//! refuse updates and deletes), written by the server for what it does at its edge and by
//! the member write itself for role changes, suspensions, creations and deletions, in the
//! same transaction as the change (so a refused or rolled-back change leaves no line).
//!
//! Who is acting, and in which request, is carried by an [`AuditContext`] that the server
//! sets around each request ([`AuditContext::scope`]) and fills in once it knows the
//! caller ([`AuditContext::set_actor`]). Store code deep under a SCIM or SSO request
//! reads it from there, so no write path has to pass it down. Outside any request (the
//! job worker, a test) the actor is `system`.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use butterfly_core::members::MemberChange;
use butterfly_core::store::{AuditEntry, AuditOutcome, AuditStore, NewAuditEntry, StoreError};
use butterfly_core::{Member, MemberId, TeamId};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::rows;
use super::{SqlStore, backend_error};

tokio::task_local! {
    static CONTEXT: AuditContext;
}

/// Who is acting and in which request, for every audit line written while a future runs
/// inside [`AuditContext::scope`].
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    request_id: Option<String>,
    actor: Arc<Mutex<Option<String>>>,
}

impl AuditContext {
    /// A context for one request; the actor is `anonymous` until
    /// [`set_actor`](Self::set_actor) names it.
    pub fn new(request_id: Option<String>) -> Self {
        AuditContext {
            request_id,
            actor: Arc::new(Mutex::new(None)),
        }
    }

    /// Run `future` with this context.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CONTEXT.scope(self, future).await
    }

    /// Name the actor of the current request (`member:<id>`, `api_key:<id>`...); does
    /// nothing outside a request.
    pub fn set_actor(actor: impl Into<String>) {
        let actor = actor.into();
        let _ = CONTEXT.try_with(|context| {
            *context.actor.lock().unwrap_or_else(PoisonError::into_inner) = Some(actor);
        });
    }

    /// The current request's actor and id: `("system", None)` outside a request.
    pub fn current() -> (String, Option<String>) {
        CONTEXT
            .try_with(|context| {
                let actor = context
                    .actor
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| "anonymous".to_owned());
                (actor, context.request_id.clone())
            })
            .unwrap_or_else(|_| ("system".to_owned(), None))
    }
}

/// An audit line by the current actor, in the current request.
pub fn audit_entry(
    team: Option<TeamId>,
    action: &str,
    target: Option<String>,
    outcome: AuditOutcome,
    detail: Value,
) -> NewAuditEntry {
    let (actor, request_id) = AuditContext::current();
    NewAuditEntry {
        team_id: team,
        actor,
        action: action.to_owned(),
        target,
        request_id,
        outcome,
        detail,
    }
}

const COLUMNS: &str = "id, team_id, at, actor, action, target, request_id, outcome, detail";

fn read(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let outcome = match rows::text(row, "outcome")?.as_str() {
        "success" => AuditOutcome::Success,
        "denied" => AuditOutcome::Denied,
        other => {
            return Err(StoreError::Corrupt(format!(
                "column outcome: `{other}` is not an audit outcome"
            )));
        }
    };
    let detail = rows::text(row, "detail")?;
    Ok(AuditEntry {
        id: rows::uuid(row, "id")?,
        team_id: rows::opt_text(row, "team_id")?
            .map(|t| Uuid::parse_str(&t).map(TeamId::from_uuid))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column team_id: {e}")))?,
        at: rows::time(row, "at")?,
        actor: rows::text(row, "actor")?,
        action: rows::text(row, "action")?,
        target: rows::opt_text(row, "target")?,
        request_id: rows::opt_text(row, "request_id")?,
        outcome,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("column detail: {e}")))?,
    })
}

/// Append `entry` on `conn` (the caller's transaction, when there is one).
pub(crate) async fn insert_on(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    entry: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let written = AuditEntry {
        id: Uuid::new_v4(),
        team_id: entry.team_id,
        at: rows::truncate_millis(now)?,
        actor: entry.actor,
        action: entry.action,
        target: entry.target,
        request_id: entry.request_id,
        outcome: entry.outcome,
        detail: entry.detail,
    };
    sqlx::query(
        "INSERT INTO audit_log (id, team_id, at, actor, action, target, request_id, outcome, \
         detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(written.id.to_string())
    .bind(written.team_id.map(|t| t.to_string()))
    .bind(rows::to_millis(written.at))
    .bind(&written.actor)
    .bind(&written.action)
    .bind(written.target.clone())
    .bind(written.request_id.clone())
    .bind(written.outcome.as_str())
    .bind(written.detail.to_string())
    .execute(conn)
    .await
    .map_err(backend_error)?;
    Ok(written)
}

/// The audit lines a committed member change makes: creations, role changes,
/// suspensions and reactivations, deletions. A change that changes nothing (a SCIM PUT
/// that repeats what is stored) makes none.
pub(crate) fn member_change_entries(
    team: TeamId,
    before: &[Member],
    change: &MemberChange,
    after: Option<&Member>,
) -> Vec<NewAuditEntry> {
    let line = |action: &str, id: MemberId, detail: Value| {
        audit_entry(
            Some(team),
            action,
            Some(format!("member:{id}")),
            AuditOutcome::Success,
            detail,
        )
    };
    let was = |id: MemberId| before.iter().find(|m| m.id == id);
    let mut lines = Vec::new();
    match (change, after) {
        (MemberChange::Create(_), Some(m)) => lines.push(line(
            "member.created",
            m.id,
            json!({"email": m.email, "role": m.role, "active": m.active}),
        )),
        (MemberChange::Update { id, .. }, Some(m)) => {
            if let Some(b) = was(*id) {
                if b.role != m.role {
                    lines.push(line(
                        "member.role_changed",
                        m.id,
                        json!({"email": m.email, "from": b.role, "to": m.role}),
                    ));
                }
                if b.active != m.active {
                    let action = if m.active {
                        "member.reactivated"
                    } else {
                        "member.suspended"
                    };
                    lines.push(line(action, m.id, json!({"email": m.email})));
                }
            }
        }
        (MemberChange::Delete(id), None) => {
            let email = was(*id).map(|b| b.email.clone());
            lines.push(line("member.deleted", *id, json!({"email": email})));
        }
        _ => {}
    }
    lines
}

impl AuditStore for SqlStore {
    async fn record_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend_error)?;
        insert_on(&mut conn, self.clock.now(), entry).await
    }

    async fn list_audit(
        &self,
        team: Option<TeamId>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let since = since.map_or(i64::MIN, rows::to_millis);
        let found = match team {
            Some(team) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE team_id = $1 AND at >= $2 ORDER BY seq"
                ))
                .bind(team.to_string())
                .bind(since)
                .fetch_all(&self.pool)
                .await
            }
            None => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE team_id IS NULL AND at >= $1 ORDER BY seq"
            ))
            .bind(since)
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(backend_error)?;
        found.iter().map(read).collect()
    }
}
