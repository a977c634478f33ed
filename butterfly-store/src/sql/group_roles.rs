//! Group push role mapping.

use std::collections::BTreeMap;
use std::str::FromStr;

use butterfly_core::store::{GroupRoleStore, StoreError};
use butterfly_core::{Role, TeamId};

use super::rows;
use super::{SqlStore, backend_error, write_error};

impl GroupRoleStore for SqlStore {
    async fn set_group_roles(
        &self,
        team: TeamId,
        roles: BTreeMap<String, Role>,
    ) -> Result<(), StoreError> {
        let team = team.to_string();
        // Replaced whole, in one transaction: a half-applied mapping would grant or
        // remove access nobody asked for.
        let mut tx = self.pool.begin().await.map_err(backend_error)?;
        sqlx::query("DELETE FROM scim_group_roles WHERE team_id = $1")
            .bind(&team)
            .execute(&mut *tx)
            .await
            .map_err(backend_error)?;
        for (name, role) in &roles {
            sqlx::query("INSERT INTO scim_group_roles (team_id, group_name_norm, group_name, role) VALUES ($1, $2, $3, $4)")
                .bind(&team)
                .bind(name.trim().to_lowercase())
                .bind(name.trim())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(write_error("group role mapping", "team"))?;
        }
        tx.commit().await.map_err(backend_error)
    }

    async fn group_roles(&self, team: TeamId) -> Result<BTreeMap<String, Role>, StoreError> {
        let found = sqlx::query("SELECT group_name, role FROM scim_group_roles WHERE team_id = $1 ORDER BY group_name_norm")
            .bind(team.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(backend_error)?;
        found
            .iter()
            .map(|row| {
                let role = rows::text(row, "role")?;
                let role = Role::from_str(&role)
                    .map_err(|_| StoreError::Corrupt(format!("unknown role `{role}`")))?;
                Ok((rows::text(row, "group_name")?, role))
            })
            .collect()
    }
}
