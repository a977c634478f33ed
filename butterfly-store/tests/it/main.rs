//! Integration tests, in one binary so they link once.
//!
//! - `store`: the storage trait suite, written once as generic functions and run on
//!   SQLite (a fresh file per test) and on PostgreSQL (a fresh database per test, on the
//!   server named by `BUTTERFLY_TEST_DATABASE_URL`).
//! - `objects`: the repository store of a server (URL, master key, per-team repositories, sealed secrets).
//! - `filter_sql`: SCIM filters compiled to SQL, checked against the in-memory evaluator
//!   on both databases, over a scratch table (`probe`); `filter_props` does the same
//!   with random resources and filters.
//! - `scim_store`: the `ScimStore` contract, run on `MemoryStore` (the reference) and on
//!   `SqlStore` over both databases; `scim_store_props` compares random queries on
//!   `SqlStore` with the same queries on `MemoryStore`; `scim_write` checks that a
//!   `ScimWrite` commits a resource and its member together or not at all.
//! - `member_writes`: the transactional member write (member rules, revocations, and
//!   concurrent writers of one team) on both databases.
//! - `cli_login`: `butterfly login`'s device codes and tokens (RFC 8628), on both databases.
//! - `restore_jobs`: one writing restore run per org, on both databases.
//! - `group_commit`: concurrent SCIM writes sharing one SQLite transaction, each failing
//!   alone and answered after the commit (SQLite only: PostgreSQL has no group commit).

// Clippy's test exemptions cover `#[test]` functions and `#[cfg(test)]` modules, not the
// helpers and generic suite functions of an integration test crate, which is test code
// throughout: a failed expectation here should panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_login;
mod filter_props;
mod filter_sql;
mod group_commit;
mod harness;
mod member_writes;
mod objects;
mod probe;
mod restore_jobs;
mod retention;
mod scim_store;
mod scim_store_props;
mod scim_write;
mod store;

/// Run each named suite function on SQLite and on PostgreSQL.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::on_sqlite(|s| async move { crate::store::$name(&s).await })
                        .await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::harness::on_postgres(|s| async move { crate::store::$name(&s).await })
                        .await;
                }
            )*
        }
    };
}

on_every_backend!(
    teams_are_unique_and_found_by_id_and_name,
    members_are_created_updated_and_deleted,
    member_emails_are_unique_per_team_ignoring_case,
    teams_cannot_touch_each_others_rows,
    api_keys_authenticate_until_revoked,
    api_keys_of_suspended_members_do_not_authenticate,
    api_keys_have_owners_and_service_keys_outlive_them,
    the_audit_trail_records_member_changes_and_is_append_only,
    scim_tokens_authenticate_until_revoked,
    scim_token_cache_forgets_revoked_tokens,
    raw_secrets_never_reach_the_database,
    sessions_expire_and_are_revoked_by_id_sid_sub_and_member,
    jobs_are_claimed_only_when_due_and_finished_once,
    concurrent_claimers_never_share_a_job,
    fresh_database_has_every_table_empty,
    sso_connections_route_domains_to_one_team,
    group_roles_are_replaced_whole_per_team,
    job_progress_is_a_heartbeat_and_silent_jobs_are_given_back,
    backup_connections_are_named_once_per_team_and_isolated,
    git_export_settings_are_per_connection_and_isolated,
);

/// Run each named function of suite `$suite` on SQLite and on PostgreSQL, as
/// `$wrapper::sqlite::name` and `$wrapper::postgres::name`.
macro_rules! suite_on_every_backend {
    ($wrapper:ident => $suite:ident: $($name:ident),* $(,)?) => {
        mod $wrapper {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        crate::harness::on_sqlite(|s| async move { crate::$suite::$name(&s).await })
                            .await;
                    }
                )*
            }

            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        crate::harness::on_postgres(|s| async move { crate::$suite::$name(&s).await })
                            .await;
                    }
                )*
            }
        }
    };
}

suite_on_every_backend!(scim_filter => filter_sql:
    every_construct_matches_the_evaluator,
    custom_rules_are_honoured,
    deep_and_long_filters_run,
    awkward_values_are_bound_safely,
);

suite_on_every_backend!(scim_filter_differential => filter_props:
    random_filters_match_the_evaluator,
);

suite_on_every_backend!(scim_store_differential => scim_store_props:
    queries_match_the_memory_store,
);

suite_on_every_backend!(member_writes_on => member_writes:
    the_last_super_admin_stays_and_a_refusal_writes_nothing,
    a_suspension_revokes_sessions_and_keys_in_the_same_write,
    concurrent_demotions_cannot_both_pass,
    sign_in_matches_by_verified_email_and_creates_once,
);

suite_on_every_backend!(retention_on => retention:
    policies_are_set_per_team_and_connection_and_the_connection_wins,
    the_hook_forgets_one_orgs_snapshots_by_the_connections_policy,
);

suite_on_every_backend!(cli_login_on => cli_login:
    the_device_code_lives_by_rfc_8628,
    cli_tokens_expire_rotate_and_detect_reuse,
    cli_sign_ins_are_revoked_by_token_sso_and_suspension,
);

suite_on_every_backend!(scim_write_on => scim_write:
    a_write_commits_whole_or_not_at_all,
    concurrent_lists_never_starve_the_pool,
);

/// Group commit exists on SQLite only (PostgreSQL has no single writer to share).
mod group_commit_on_sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_fails_alone_in_its_batch() {
        crate::harness::on_sqlite_file(|s, url| async move {
            crate::group_commit::a_failed_write_fails_alone_in_its_batch(&s, &url).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_answered_after_its_batch_commits() {
        crate::harness::on_sqlite(|s| async move {
            crate::group_commit::a_write_is_answered_after_its_batch_commits(&s).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nested_write_is_refused_not_left_waiting() {
        crate::harness::on_sqlite(|s| async move {
            crate::group_commit::a_nested_write_is_refused_not_left_waiting(&s).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_has_no_group_commit() {
        crate::harness::on_postgres(|s| async move {
            assert!(s.group_commit_stats().is_none());
        })
        .await;
    }
}

/// Run each named `ScimStore` suite function on `MemoryStore`, and on `SqlStore` over
/// SQLite and PostgreSQL, each with two teams.
macro_rules! scim_store_suite {
    ($($name:ident),* $(,)?) => {
        mod scim_store_on {
            mod memory {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let store = butterfly_scim::MemoryStore::new();
                        let teams = [butterfly_core::TeamId::new_random(), butterfly_core::TeamId::new_random()];
                        crate::scim_store::$name(&store, teams).await;
                    }
                )*
            }

            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        crate::harness::on_sqlite(|s| async move {
                            let teams = crate::harness::two_teams(&s).await;
                            crate::scim_store::$name(&s, teams).await
                        })
                        .await;
                    }
                )*
            }

            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        crate::harness::on_postgres(|s| async move {
                            let teams = crate::harness::two_teams(&s).await;
                            crate::scim_store::$name(&s, teams).await
                        })
                        .await;
                    }
                )*
            }
        }
    };
}

scim_store_suite!(
    resources_are_created_read_replaced_and_deleted,
    names_are_unique_per_team_ignoring_case,
    teams_never_see_each_other,
    groups_track_their_members,
    large_groups_change_one_member_at_a_time,
    queries_filter_sort_and_page,
    concurrent_writers_cannot_both_win,
);
