//! Integration tests: `ScimService` over `MemoryStore`, driven through `http` requests.
//! The request sequences of Okta's OIN test plan and of Entra ID also run over
//! butterfly-store's `SqlStore` on SQLite and PostgreSQL (`sequences`), the store the
//! server uses: written once, as functions generic over the store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bulk;
mod concurrency;
mod entra;
mod errors;
mod input;
mod isolation;
mod members;
mod okta;
mod props;
#[cfg(feature = "axum")]
mod router;
mod store_errors;
mod support;
mod wire;

/// Run each named sequence on `MemoryStore`, on `SqlStore` over SQLite, and on `SqlStore`
/// over PostgreSQL (which fails without `BUTTERFLY_TEST_DATABASE_URL`, as the store suite
/// does).
macro_rules! on_every_store {
    ($($module:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        mod sequences {
            mod memory {
                $(mod $module {
                    $(#[test]
                    fn $name() {
                        crate::$module::$name(&crate::support::Scim::new());
                    })*
                })*
            }
            mod sqlite {
                $(mod $module {
                    $(#[test]
                    fn $name() {
                        crate::$module::$name(&crate::support::Scim::on_sqlite());
                    })*
                })*
            }
            mod postgres {
                $(mod $module {
                    $(#[test]
                    fn $name() {
                        crate::$module::$name(&crate::support::Scim::on_postgres());
                    })*
                })*
            }
        }
    };
}

on_every_store!(
    okta: [user_lifecycle, group_push, butterfly_role_extension_round_trips],
    entra: [user_operations, group_operations],
    input: [look_alike_names_collide],
    members: [unknown_members_are_left_out_of_group_updates],
);
