//! `butterfly`: the first-party command line.
//!
//! Server mode talks to a `butterfly-server` over its JSON API with an API key:
//!
//! ```text
//! export BUTTERFLY_SERVER=http://127.0.0.1:8080 BUTTERFLY_API_KEY=bfs_api_...
//! butterfly members list
//! butterfly api-keys create --name ci --role backup_operator
//! butterfly --output json api-keys list
//! ```
//!
//! Local mode needs no server: it backs up an Okta org into a repository directory
//! (which holds its own master key) and inspects the snapshots there:
//!
//! ```text
//! butterfly backup okta --org-url https://example.okta.com --client-id 0oa... \
//!     --private-key key.pem --repo ./backups
//! butterfly snapshots list --repo ./backups
//! butterfly snapshots verify --repo ./backups
//! butterfly export git all --repo ./backups --git-dir ./identity.git --push URL
//! ```
//!
//! A repository can be created ahead of the first backup, and checked and repaired (see
//! [`repository`]):
//!
//! ```text
//! butterfly init --repo ./backups
//! butterfly check --repo ./backups [--read-data]
//! butterfly repair index --repo ./backups
//! ```
//!
//! Backups can also run on the server, from a stored connection (see [`server_mode`]):
//!
//! ```text
//! butterfly connections create --name okta-prod --org-url https://example.okta.com \
//!     --client-id 0oa... --private-key key.pem
//! butterfly backup okta --connection okta-prod
//! butterfly snapshots list
//! ```

mod client;
mod contents;
mod diff;
mod entra;
mod entra_restore;
mod git_export;
mod help;
mod local;
mod login;
mod monitoring;
mod output;
mod reports;
mod repository;
mod restore;
mod retention;
mod schemas;
mod server_contents;
mod server_mode;
mod server_restores;
mod team;

use std::process::ExitCode;

use butterfly_core::Role;
use clap::{FromArgMatches as _, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::CliError;
use crate::output::{Column, print_records};

/// mimalloc, not the system's malloc: glibc kept tens of MiB of a large backup's freed
/// page and pack buffers (its mmap threshold rises with them), which mimalloc returns.
/// See README, "Memory of a backup".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Butterfly: SSO, SCIM provisioning and identity configuration backup.
#[derive(Debug, Parser)]
#[command(name = "butterfly", version, about)]
struct Cli {
    /// Server URL.
    #[arg(
        long,
        env = "BUTTERFLY_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// API key (`bfs_api_...`).
    #[arg(long, env = "BUTTERFLY_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// A file holding the local repository's password (else `BUTTERFLY_REPO_PASSWORD`).
    #[arg(long, env = "BUTTERFLY_REPO_PASSWORD_FILE", global = true)]
    password_file: Option<std::path::PathBuf>,
    /// Create a new local repository without a password, its key in a plain
    /// `master.key` file: anyone with a copy of the directory can read it.
    #[arg(long, global = true)]
    insecure_no_password: bool,
    /// Let `--org-url` reach loopback, private and link-local addresses (local backups
    /// and `diff ... live`). For simulators and tests only: refused by default, since
    /// the backup sends signed requests to whatever the URL names.
    #[arg(long, env = "BUTTERFLY_ALLOW_PRIVATE_ORG_URLS", global = true)]
    allow_private_org_urls: bool,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable tables.
    Table,
    /// The server's JSON, for scripts.
    Json,
    /// Markdown tables, for pull requests and tickets.
    Markdown,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connection health on one screen (server mode): each connection's last success,
    /// last error with its Okta error code and fix, backup freshness; the team's storage.
    Status {
        /// Only this connection (id or name).
        connection: Option<String>,
    },
    /// Where the team hears about failed backups, paused schedules and critical drift:
    /// signed webhooks and e-mail (server mode; needs manage_integrations).
    #[command(subcommand)]
    Notifications(NotificationsCommand),
    /// Team members.
    #[command(subcommand)]
    Members(MembersCommand),
    /// API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// SCIM group push: which provisioned Group grants which role (server mode; a
    /// member gets the highest role their Groups give).
    #[command(subcommand, name = "scim-group-roles")]
    ScimGroupRoles(ScimGroupRolesCommand),
    /// Restores, syncs and undos on the server, through a stored connection (the local
    /// `restore` and `sync` commands work on a repository instead).
    #[command(subcommand)]
    Restores(RestoresCommand),
    /// SCIM bearer tokens for Okta / Entra ID provisioning.
    #[command(subcommand, name = "scim-token")]
    ScimToken(ScimTokenCommand),
    /// The team's OpenID Connect single sign-on.
    #[command(subcommand)]
    Sso(SsoCommand),
    /// Back up an identity provider: into a local repository with `--repo` (no server
    /// needed), or on the server from a stored connection with `--connection`.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Snapshots: in a local repository with `--repo`, otherwise on the server.
    #[command(subcommand)]
    Snapshots(SnapshotsCommand),
    /// Backup connections stored on the server (an org and the app that reads it).
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Backup jobs on the server.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Backup schedules of the server's connections (changing one needs
    /// edit_backup_schedules).
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// The team's audit trail (server mode; needs manage_team_settings): who did what,
    /// when, in which request, and whether it happened.
    Audit {
        /// Only entries at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// Create a new, empty local repository with a fresh master key (a backup creates
    /// one too, if needed).
    Init {
        /// The repository directory (created if missing).
        #[arg(long)]
        repo: std::path::PathBuf,
    },
    /// Check a local repository: manifests, indexes and packs (with `--read-data`, every
    /// object too); exit status 1 on problems.
    Check {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        /// Also read, decrypt and hash every object: finds a changed byte inside a pack,
        /// which the structure check cannot.
        #[arg(long)]
        read_data: bool,
    },
    /// Repair a local repository.
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Apply a retention policy to a local repository, as `restic forget` does: delete
    /// the manifests of the snapshots no `--keep-*` rule keeps (never one under legal
    /// hold); their data goes at the next `prune` (or now, with `--prune`).
    ///
    /// Example: `butterfly forget --repo ./backups --keep-last 3 --keep-daily 7
    /// --keep-weekly 4 --keep-monthly 12 --prune --dry-run`.
    Forget {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        #[command(flatten)]
        keep: retention::KeepFlags,
        /// Prune afterwards: remove the data no snapshot references any more.
        #[arg(long)]
        prune: bool,
        /// Only print what would be removed (and, with --prune, the bytes it would free).
        #[arg(long)]
        dry_run: bool,
    },
    /// The server's retention policies (per team, and per connection, which wins).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Remove the data no snapshot references (after `forget` or `snapshots delete`):
    /// safe while backups run, which it waits for.
    Prune {
        /// The repository directory.
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// Only print what would go and the bytes it would free.
        #[arg(long)]
        dry_run: bool,
    },
    /// The passwords of a local repository (each wraps its master key, Argon2id).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check a snapshot against compliance frameworks and write the report; or, with
    /// `trend A B`, what got better or worse between two snapshots.
    ///
    /// Example: `butterfly compliance 3f2a --repo ./backups --framework pci-dss --format
    /// sarif --out okta.sarif --fail-on high` (exit status 1 when a high or critical
    /// check fails).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Compliance {
        /// `trend A B`: compare two snapshots instead.
        #[command(subcommand)]
        command: Option<ComplianceCommand>,
        /// The snapshot: an id or a unique prefix.
        #[arg(required = true)]
        snapshot: Option<String>,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// soc2, hipaa, pci-dss, nist-800-53, iso-27001, cis, stig, or all.
        #[arg(long, default_value = "all")]
        framework: String,
        /// json, csv, markdown, html, sarif, oscal or junit.
        #[arg(long, default_value = "json")]
        format: String,
        /// Write the report here instead of stdout.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Exit with status 1 when a check of this severity or higher fails: critical,
        /// high, medium, low.
        #[arg(long)]
        fail_on: Option<String>,
    },
    /// Export a snapshot.
    #[command(subcommand)]
    Export(ExportCommand),
    /// What changed between two snapshots, or between a snapshot and the live org: each
    /// resource added, removed or changed, field by field, with a severity.
    ///
    /// Example: `butterfly diff 3f2a 9c1e --repo ./backups --min-severity high`, or
    /// `butterfly diff 3f2a live --repo ./backups --org-url ... --client-id ... --private-key key.pem`.
    Diff {
        /// The older snapshot: an id or a unique prefix (at least 4 characters).
        from: String,
        /// The newer snapshot, or `live` for the org as it is now (with `--repo`).
        to: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// Only this kind (repeat for several).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Leave out changes below this severity: info, low, medium, high, critical.
        #[arg(long, default_value = "info")]
        min_severity: butterfly_core::diff::Severity,
        /// Also report volatile fields (lastLogin, lastUpdated...), ignored by default.
        #[arg(long)]
        include_volatile: bool,
        /// For `live`: the org's URL.
        #[arg(long)]
        org_url: Option<String>,
        /// For `live`: the service app's client id.
        #[arg(long)]
        client_id: Option<String>,
        /// For `live`: the key id (kid) registered for the app, if any.
        #[arg(long)]
        key_id: Option<String>,
        /// For `live`: the service app's private key (PEM).
        #[arg(long)]
        private_key: Option<std::path::PathBuf>,
    },
    /// Restore a snapshot into its org: plan (create, update, skip, delete), then
    /// execute, journaled and undoable.
    ///
    /// Example: `butterfly restore 3f2a --repo ./backups --org-url ... --client-id ...
    /// --private-key key.pem --dry-run`, then without `--dry-run`; `butterfly restore
    /// --undo RUN_ID ...` takes a run back.
    ///
    /// An Entra ID snapshot takes the connection flags of `butterfly backup entra`
    /// instead: `butterfly restore 3f2a --repo ./backups --tenant-id T --client-id C
    /// --client-secret-file secret.txt --dry-run`.
    Restore {
        /// The snapshot: an id or a unique prefix (not needed with --plan or --undo).
        snapshot: Option<String>,
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        #[command(flatten)]
        org: RestoreOrgFlags,
        /// Only this kind (repeat for several).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Only the resource with this snapshot id (repeat for several).
        #[arg(long = "id")]
        ids: Vec<String>,
        /// Update resources that exist but differ (skipped otherwise).
        #[arg(long)]
        overwrite: bool,
        /// Delete resources the org has and the snapshot does not (never users).
        #[arg(long)]
        delete_extra: bool,
        /// Plan and print only: nothing is written.
        #[arg(long)]
        dry_run: bool,
        /// Execute exactly this saved plan; refused if the org changed since.
        #[arg(long)]
        plan: Option<std::path::PathBuf>,
        /// Save the plan here (JSON), for review and `--plan`.
        #[arg(long)]
        save_plan: Option<std::path::PathBuf>,
        /// Take back the restore run RUN_ID: delete what it created, put back what it
        /// changed.
        #[arg(long, value_name = "RUN_ID")]
        undo: Option<String>,
        /// Stop after this many steps, as if killed (for tests of resuming).
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
    },
    /// Sync one org's snapshot into another org (staging to production): resources
    /// match by name, differing ones are updated, nothing is deleted.
    ///
    /// Example: `butterfly sync --from 3f2a --repo ./backups --org-url https://prod...
    /// --client-id ... --private-key key.pem --vars prod.env --dry-run`.
    Sync {
        /// The snapshot to sync from: an id or a unique prefix.
        #[arg(long)]
        from: String,
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        #[command(flatten)]
        org: OrgFlags,
        /// The variables file: `NAME=value` lines for `${NAME}` placeholders, or JSON
        /// `{"variables": {...}, "replace": {"staging.example.com": "example.com"}}`.
        #[arg(long)]
        vars: Option<std::path::PathBuf>,
        /// Only this kind (repeat for several).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Plan and print only: nothing is written.
        #[arg(long)]
        dry_run: bool,
        /// Save the plan here (JSON).
        #[arg(long)]
        save_plan: Option<std::path::PathBuf>,
    },
    /// Write the JSON Schema of every JSON body users script against (snapshots, their
    /// resource listings, diffs, backup outcomes, compliance reports, and the server's
    /// connection, backup job and error bodies), one file per type.
    Schemas {
        /// The directory to write them into (created if missing), e.g. `schemas`.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Sign this machine in to a server in a browser (OAuth 2.0 device authorization,
    /// RFC 8628): shows a code and a URL, waits for you to approve. The sign-in acts
    /// with your role in your team; it lasts an hour and renews itself.
    ///
    /// Example: `butterfly login --server https://butterfly.example.com`, then
    /// `butterfly members list --server https://butterfly.example.com` (or set
    /// BUTTERFLY_SERVER once).
    Login,
    /// Sign this machine out of a server: revokes the access and refresh tokens there,
    /// and deletes them here.
    ///
    /// Example: `butterfly logout --server https://butterfly.example.com`.
    Logout,
    /// Print a shell completion script.
    ///
    /// Example: `butterfly completions bash > ~/.local/share/bash-completion/completions/butterfly`,
    /// `butterfly completions zsh > "${fpath[1]}/_butterfly"`, or
    /// `butterfly completions fish > ~/.config/fish/completions/butterfly.fish`.
    Completions {
        /// bash, zsh or fish.
        shell: CompletionShell,
    },
    /// Print the man page (roff).
    ///
    /// Example: `butterfly man > butterfly.1 && man ./butterfly.1`.
    Man,
}

/// The shells `butterfly completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CompletionShell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// The org or tenant a restore writes to: Okta's flags (`--org-url`, `--private-key`),
/// or Entra ID's, as `butterfly backup entra` takes them (`--tenant-id`...).
#[derive(Debug, clap::Args)]
struct RestoreOrgFlags {
    /// The Okta org's URL.
    #[arg(
        long,
        required_unless_present = "tenant_id",
        conflicts_with = "tenant_id"
    )]
    org_url: Option<String>,
    /// The service app's (Okta) or app registration's (Entra ID) client id.
    #[arg(long)]
    client_id: String,
    /// The key id (kid) registered for the Okta app, if any.
    #[arg(long)]
    key_id: Option<String>,
    /// The Okta service app's private key (PEM), or the Entra ID certificate's private
    /// key (with --certificate).
    #[arg(long, required_unless_present = "tenant_id")]
    private_key: Option<std::path::PathBuf>,
    /// Entra ID: the tenant id (GUID) or one of its domains.
    #[arg(long)]
    tenant_id: Option<String>,
    /// Entra ID: a file holding the app's client secret (or give --certificate and
    /// --private-key).
    #[arg(
        long,
        requires = "tenant_id",
        conflicts_with = "certificate",
        required_unless_present_any = ["org_url", "certificate"]
    )]
    client_secret_file: Option<std::path::PathBuf>,
    /// Entra ID: the app's certificate (PEM), for a signed client assertion; needs
    /// --private-key.
    #[arg(long, requires_all = ["tenant_id", "private_key"])]
    certificate: Option<std::path::PathBuf>,
    /// Entra ID: Microsoft Graph's URL.
    #[arg(long, default_value = butterfly_providers::entra::fetcher::DEFAULT_GRAPH_URL)]
    graph_url: String,
    /// Entra ID: the identity platform's URL.
    #[arg(long, default_value = butterfly_providers::entra::fetcher::DEFAULT_AUTHORITY_URL)]
    authority_url: String,
}

/// The org written to and the service app that writes it.
#[derive(Debug, clap::Args)]
struct OrgFlags {
    /// The org's URL.
    #[arg(long)]
    org_url: String,
    /// The service app's client id.
    #[arg(long)]
    client_id: String,
    /// The key id (kid) registered for the app, if any.
    #[arg(long)]
    key_id: Option<String>,
    /// The service app's private key (PEM).
    #[arg(long)]
    private_key: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
enum ComplianceCommand {
    /// What got better or worse between two snapshots: per framework and check, what
    /// newly fails and what was fixed (`--output table|json|markdown`).
    ///
    /// Example: `butterfly compliance trend 3f2a 9c1e --repo ./backups --framework stig`.
    Trend {
        /// The older snapshot: an id or a unique prefix.
        from: String,
        /// The newer snapshot: an id or a unique prefix.
        to: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// soc2, hipaa, pci-dss, nist-800-53, iso-27001, cis, stig, or all.
        #[arg(long, default_value = "all")]
        framework: String,
    },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Terraform HCL for the okta/okta provider, with import blocks and secrets as
    /// sensitive variables.
    ///
    /// Example: `butterfly export terraform 3f2a --repo ./backups --out ./okta-tf --skip-users`.
    Terraform {
        /// The snapshot: an id or a unique prefix.
        snapshot: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// The directory to write the .tf files into (created if missing).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Only this snapshot kind (repeat for several).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Leave users and their memberships and assignments out (at 50K users they are
        /// what makes plans slow).
        #[arg(long)]
        skip_users: bool,
    },
    /// One Git commit per snapshot: a pretty-printed JSON file per resource at
    /// `<provider>/<org>/<kind>/<name>.<id>.json`, a message summarising the diff, the
    /// snapshot's date; then, with `--push`, a fast-forward push over HTTPS (token) or
    /// SSH (deploy key).
    ///
    /// Example: `butterfly export git all --repo ./backups --git-dir ./identity.git
    /// --push git@github.com:acme/identity.git --deploy-key ./deploy_key`.
    Git {
        /// The snapshot: an id, a unique prefix, or `all` (every snapshot not yet
        /// exported, oldest first).
        snapshot: String,
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        /// The Git repository to commit to (created bare when missing).
        #[arg(long)]
        git_dir: std::path::PathBuf,
        /// Push the branch to this remote afterwards: `https://...`,
        /// `ssh://git@host/path.git`, `git@host:path.git` or a local path.
        #[arg(long, value_name = "URL")]
        push: Option<String>,
        /// The branch to commit to and push.
        #[arg(long, default_value = "main")]
        branch: String,
        /// Keep volatile fields (`lastLogin`, `lastUpdated`...) in the files.
        #[arg(long)]
        include_volatile: bool,
        /// An HTTPS access token (better from the environment than the command line).
        #[arg(long, env = "BUTTERFLY_GIT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// A file holding the HTTPS access token.
        #[arg(long, conflicts_with = "token")]
        token_file: Option<std::path::PathBuf>,
        /// The user name sent with the token (GitLab: `oauth2`, Bitbucket:
        /// `x-token-auth`).
        #[arg(long, default_value = "x-access-token")]
        token_user: String,
        /// An SSH deploy key (private key file, OpenSSH or PEM).
        #[arg(long, env = "BUTTERFLY_GIT_DEPLOY_KEY")]
        deploy_key: Option<std::path::PathBuf>,
        /// The deploy key's passphrase.
        #[arg(
            long,
            env = "BUTTERFLY_GIT_DEPLOY_KEY_PASSPHRASE",
            hide_env_values = true
        )]
        deploy_key_passphrase: Option<String>,
        /// The SSH server's host key to accept (`ssh-ed25519 AAAA...` or `SHA256:...`);
        /// without it, ~/.ssh/known_hosts decides.
        #[arg(long)]
        ssh_host_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// List the repository's keys.
    List {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
    },
    /// Add a password: the new one from `BUTTERFLY_NEW_REPO_PASSWORD` or
    /// `--new-password-file`, the current one as for any command.
    Add {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        /// A file holding the new password.
        #[arg(long)]
        new_password_file: Option<std::path::PathBuf>,
    },
    /// Remove a key (never the last one, nor the one your password opened).
    Remove {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
        /// The key's id (see `butterfly key list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum RepairCommand {
    /// Rebuild the indexes from the packs that are there: drop objects that no longer
    /// read (and the index of a missing pack), so the next backup stores them again.
    Index {
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NotificationsCommand {
    /// List the team's channels; never their secrets.
    List,
    /// Add a webhook: events are POSTed as JSON, signed with HMAC-SHA256
    /// (`X-Butterfly-Signature: v1=<hex>` over `<timestamp>.<body>`).
    AddWebhook {
        /// A name unique in the team.
        #[arg(long)]
        name: String,
        /// Where events are posted.
        #[arg(long)]
        url: String,
        /// The signing secret (else `BUTTERFLY_WEBHOOK_SECRET`; else one is generated
        /// and shown once).
        #[arg(long, env = "BUTTERFLY_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Events to send (comma-separated: backup_failed, schedule_paused,
        /// critical_drift; default all).
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
    },
    /// Add an e-mail channel over SMTP.
    AddEmail {
        /// A name unique in the team.
        #[arg(long)]
        name: String,
        /// The SMTP relay.
        #[arg(long)]
        smtp_host: String,
        /// Its port (default by --tls: 465, 587, 25).
        #[arg(long)]
        smtp_port: Option<u16>,
        /// tls, starttls or none (none only for a relay on a private network).
        #[arg(long, default_value = "starttls")]
        tls: String,
        /// The SMTP login, if the relay wants one.
        #[arg(long)]
        username: Option<String>,
        /// The SMTP password (`BUTTERFLY_SMTP_PASSWORD`); sealed by the server.
        #[arg(long, env = "BUTTERFLY_SMTP_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// The sender.
        #[arg(long)]
        from: String,
        /// Recipients (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<String>,
        /// Events to send (default all).
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
    },
    /// Remove a channel (by id or name).
    Remove {
        /// Id or name.
        channel: String,
    },
    /// Send a sample event to a channel now and print how it went.
    Test {
        /// Id or name.
        channel: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConnectionsCommand {
    /// List the team's connections.
    List,
    /// Show one connection (by id or name); never its key.
    Show {
        /// Id or name.
        connection: String,
    },
    /// Add an Okta connection: a service app with private_key_jwt.
    Create {
        /// A name unique in the team.
        #[arg(long)]
        name: String,
        /// The org's URL, e.g. `https://example.okta.com`.
        #[arg(long)]
        org_url: String,
        /// The service app's client id.
        #[arg(long)]
        client_id: String,
        /// The app's private key (PEM); sent once, sealed by the server.
        #[arg(long)]
        private_key: std::path::PathBuf,
        /// The key id registered with the app, if it has several.
        #[arg(long)]
        key_id: Option<String>,
        /// Scopes to request instead of every scope a backup reads (comma-separated).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// The share of each rate-limit bucket backups may use, in (0, 1] (default 0.5).
        #[arg(long)]
        rate_limit_share: Option<f64>,
    },
    /// Sign in to the org and read a page of users; exit status 1 if it fails.
    Test {
        /// Id or name.
        connection: String,
    },
    /// Delete a connection (its snapshots stay).
    Delete {
        /// Id or name.
        connection: String,
    },
    /// Export each new snapshot to a Git repository after the backup (needs
    /// manage_integrations).
    #[command(subcommand, name = "git-export")]
    GitExport(GitExportCommand),
}

#[derive(Debug, Subcommand)]
enum BackupsCommand {
    /// Queue a backup of a connection; prints the job id last (with `--wait`, follows
    /// it and prints the snapshot id last).
    Run {
        /// Id or name of the connection.
        connection: String,
        /// Follow the job to its end; exit status 1 if it fails.
        #[arg(long)]
        wait: bool,
    },
    /// List backup jobs, newest first.
    List,
    /// Show one backup job: status, progress, outcome.
    Show {
        /// The job id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum SchedulesCommand {
    /// The team's schedules: when each connection runs next, failures, pauses.
    List,
    /// Schedule a connection's backups, replacing its schedule; clears the failure
    /// count and any pause.
    ///
    /// Examples: `schedules set okta-prod daily --at 02:30 --time-zone Europe/Berlin`,
    /// `schedules set okta-prod weekly --day sunday --at 03:00`, `schedules set
    /// okta-prod cron --cron '15 */2 * * 1-5' --time-zone America/New_York`.
    Set {
        /// Id or name of the connection.
        connection: String,
        /// hourly (on the hour), every-6-hours, daily, weekly or cron.
        frequency: server_mode::FrequencyArg,
        /// Daily and weekly: the local time of day, HH:MM.
        #[arg(long)]
        at: Option<String>,
        /// Weekly: the day (monday to sunday).
        #[arg(long)]
        day: Option<String>,
        /// Cron: five fields, minute hour day-of-month month day-of-week.
        #[arg(long)]
        cron: Option<String>,
        /// The IANA time zone of the times (default UTC).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
    /// Pause a connection's schedule until resumed.
    Pause {
        /// Id or name of the connection.
        connection: String,
    },
    /// Resume a paused schedule (also lifts a pause after failures): it runs at its next
    /// slot.
    Resume {
        /// Id or name of the connection.
        connection: String,
    },
}

#[derive(Debug, Subcommand)]
enum BackupCommand {
    /// Back up an Okta org: every resource kind the app may read. Progress goes to
    /// stderr; the snapshot id is the last line on stdout.
    Okta {
        /// Run on the server, from this stored connection (id or name), and wait for it.
        #[arg(long, conflicts_with_all = ["org_url", "client_id", "private_key", "key_id", "repo"])]
        connection: Option<String>,
        /// The org's URL, e.g. `https://example.okta.com`.
        #[arg(long, required_unless_present = "connection")]
        org_url: Option<String>,
        /// The API service app's client id.
        #[arg(long, required_unless_present = "connection")]
        client_id: Option<String>,
        /// The app's private key (PEM) for private_key_jwt.
        #[arg(long, required_unless_present = "connection")]
        private_key: Option<std::path::PathBuf>,
        /// The key id registered with the app, if it has several.
        #[arg(long)]
        key_id: Option<String>,
        /// The repository directory (created if missing; holds its own master key).
        #[arg(long, required_unless_present = "connection")]
        repo: Option<std::path::PathBuf>,
        /// The share of each rate-limit bucket the backup may use, in (0, 1].
        #[arg(long, default_value_t = 0.5)]
        rate_limit_share: f64,
        /// Scopes to request instead of every scope a backup reads (comma-separated).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Parents of one nested kind listed at once.
        #[arg(long, default_value_t = 16, hide = true)]
        concurrency: usize,
        /// Close pack files at this many bytes (default 16 MiB).
        #[arg(long, hide = true)]
        pack_target_bytes: Option<usize>,
        /// Read every kind in full. Without it, a backup reads only what changed since
        /// the newest complete snapshot of the same org in the repository (from the
        /// System Log; needs `okta.logs.read`), and reads everything when there is none.
        #[arg(long)]
        full: bool,
        /// After this many incremental backups in a row, the next one is full.
        #[arg(long, default_value_t = butterfly_providers::backup::DEFAULT_FULL_EVERY)]
        full_every: u32,
    },
    /// Back up a Microsoft Entra ID tenant through Microsoft Graph: every kind the app's
    /// application permissions allow (the others are skipped with a warning). Progress
    /// goes to stderr; the snapshot id is the last line on stdout.
    Entra {
        /// The tenant id (GUID) or one of its domains.
        #[arg(long)]
        tenant_id: String,
        /// The app registration's client (application) id.
        #[arg(long)]
        client_id: String,
        /// A file holding the app's client secret.
        #[arg(long, required_unless_present = "certificate", conflicts_with_all = ["certificate", "private_key"])]
        client_secret_file: Option<std::path::PathBuf>,
        /// The app's certificate (PEM), for a signed client assertion; needs --private-key.
        #[arg(long, requires = "private_key")]
        certificate: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM, PKCS#8 or PKCS#1).
        #[arg(long, requires = "certificate")]
        private_key: Option<std::path::PathBuf>,
        /// Microsoft Graph's URL.
        #[arg(long, default_value = butterfly_providers::entra::fetcher::DEFAULT_GRAPH_URL)]
        graph_url: String,
        /// The identity platform's URL (token endpoint: {URL}/{tenant}/oauth2/v2.0/token).
        #[arg(long, default_value = butterfly_providers::entra::fetcher::DEFAULT_AUTHORITY_URL)]
        authority_url: String,
        /// The repository directory (created if missing; holds its own master key).
        #[arg(long)]
        repo: std::path::PathBuf,
        /// The share of the tenant's resource units (per 10 s) the backup may use, in (0, 1].
        #[arg(long, default_value_t = 0.5)]
        rate_limit_share: f64,
        /// Listings in flight at once.
        #[arg(long, default_value_t = 16, hide = true)]
        concurrency: usize,
        /// Read every kind in full. Without it, a backup reads users, groups, applications
        /// and service principals through the delta links of the newest snapshot of the
        /// tenant in the repository (only what changed), and everything when there is none.
        #[arg(long)]
        full: bool,
        /// After this many incremental backups in a row, the next one is full.
        #[arg(long, default_value_t = butterfly_providers::backup::DEFAULT_FULL_EVERY)]
        full_every: u32,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotsCommand {
    /// List snapshots, oldest first.
    List {
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Show one snapshot: status, counts per kind, warnings.
    Show {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// List a snapshot's resources: kind, id, display name, digest and size.
    ///
    /// Example: `butterfly snapshots ls 3f2a --repo ./backups --kind group`.
    Ls {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// Only this kind (`user`, `group`, `app`...).
        #[arg(long)]
        kind: Option<String>,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Print one resource of a snapshot as it was backed up (pretty JSON).
    ///
    /// Example: `butterfly snapshots cat 3f2a group 00g1abc --repo ./backups`.
    Cat {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// The resource's kind (`butterfly snapshots show` lists them).
        kind: String,
        /// The resource's id (`butterfly snapshots ls` lists them).
        resource_id: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Write a whole snapshot to one file: JSON lines (the manifest, then one resource
    /// per line) or a tar.zst (manifest.json and KIND/ID.json per resource). The same
    /// snapshot always gives the same bytes.
    ///
    /// Example: `butterfly snapshots download 3f2a --repo ./backups --format tar.zst --out okta.tar.zst`.
    Download {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// The repository directory (default: the server's snapshots).
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
        /// jsonl or tar.zst.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// The file to write (`-` for stdout).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Delete a snapshot (its data goes at the next `prune`); refused while it is under
    /// legal hold.
    Delete {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// The repository directory.
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Put a snapshot under legal hold: no retention rule forgets it and it cannot be
    /// deleted until released.
    Hold {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// Why (kept with the hold).
        #[arg(long, default_value = "")]
        reason: String,
        /// The repository directory.
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Release a snapshot's legal hold.
    Release {
        /// The snapshot id, or a unique prefix of it (at least 4 characters).
        id: String,
        /// The repository directory.
        #[arg(long)]
        repo: Option<std::path::PathBuf>,
    },
    /// Re-read every object and recompute every digest; exit status 1 on damage.
    Verify {
        /// Only this snapshot (default: every snapshot and every pack).
        id: Option<String>,
        /// The repository directory.
        #[arg(long)]
        repo: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RetentionCommand {
    /// Show the team's policy and each connection's.
    Show,
    /// Set the team's policy, or a connection's with `--connection`.
    ///
    /// Example: `butterfly retention set --preset medium`, or `butterfly retention set
    /// --connection prod --keep-daily 30 --keep-monthly 12`.
    Set {
        /// A connection (name or id); without it, the team's policy.
        #[arg(long)]
        connection: Option<String>,
        #[command(flatten)]
        keep: retention::KeepFlags,
        /// Remove the policy (a connection then follows the team's).
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SsoCommand {
    /// Create or replace the SSO connection.
    Set {
        /// The provider's issuer URL.
        #[arg(long)]
        issuer: String,
        /// Our client id at the provider.
        #[arg(long)]
        client_id: String,
        /// A file holding the client secret (kept off the command line and shell history).
        #[arg(long)]
        client_secret_file: Option<std::path::PathBuf>,
        /// An email domain routed to this team (repeat for several).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Role for members created at first sign-in.
        #[arg(long)]
        default_role: Option<Role>,
    },
    /// Show the SSO connection (never the secret).
    Show,
    /// Check that the provider's discovery document and keys are reachable.
    Test,
}

#[derive(Debug, Subcommand)]
enum MembersCommand {
    /// List the team's members.
    List,
    /// Show one member by id.
    Show {
        /// The member's id.
        id: String,
    },
    /// Change a member's role, status or name (the team's last active super_admin
    /// cannot be demoted or suspended; suspending ends their sessions and keys).
    Update {
        /// The member's id.
        id: String,
        /// The new role.
        #[arg(long)]
        role: Option<Role>,
        /// `false` suspends the member, `true` reactivates them.
        #[arg(long)]
        active: Option<bool>,
        /// The new display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Remove a member (their sessions and API keys go with them).
    Remove {
        /// The member's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ScimGroupRolesCommand {
    /// Show which Group grants which role.
    List,
    /// Replace the whole mapping and re-compute every SCIM member's role at once.
    Set {
        /// `GROUP=ROLE` (repeat for several); none clears the mapping.
        #[arg(long = "group", value_name = "GROUP=ROLE", value_parser = team::parse_group_role)]
        groups: Vec<(String, Role)>,
    },
}

#[derive(Debug, Subcommand)]
enum RestoresCommand {
    /// List restore, sync and undo runs, newest first.
    List,
    /// Show one run: status, counts, follow-ups (`--output json`: its plan too).
    Show {
        /// The run's id.
        id: String,
    },
    /// Plan a restore of a snapshot onto a connection's org: nothing is written; prints
    /// the steps and the plan's fingerprint for `restores run --plan-fingerprint`.
    Plan {
        /// The connection (id or name).
        connection: String,
        #[command(flatten)]
        selection: server_restores::Selection,
    },
    /// Queue a restore onto a connection's org: from `--snapshot`, or exactly the
    /// reviewed plan `--plan-fingerprint` (refused if the org changed since).
    Run {
        /// The connection (id or name).
        connection: String,
        #[command(flatten)]
        selection: server_restores::Selection,
        /// Execute exactly the plan with this fingerprint (from `restores plan`).
        #[arg(long)]
        plan_fingerprint: Option<String>,
        /// Plan only: zero writes; the run's plan is the preview.
        #[arg(long)]
        dry_run: bool,
    },
    /// Queue a sync of another org's snapshot onto the target connection's org
    /// (resources match by name; differing ones are updated).
    Sync {
        /// The target connection (id or name).
        target: String,
        /// The source org's snapshot: an id or a unique prefix.
        #[arg(long)]
        snapshot: String,
        /// The variables file (`NAME=value` lines, or its JSON), as the local `sync`.
        #[arg(long)]
        vars: Option<std::path::PathBuf>,
        /// Only this kind (repeat for several).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Delete what the source does not have (never users).
        #[arg(long)]
        delete_extra: bool,
        /// Plan only: zero writes.
        #[arg(long)]
        dry_run: bool,
    },
    /// Queue a job that takes a finished run back.
    Undo {
        /// The run's id.
        id: String,
        /// Plan only: zero writes.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GitExportCommand {
    /// Show the setting and the last export's outcome (never a secret).
    Show {
        /// The connection (id or name).
        connection: String,
    },
    /// Create or replace the setting: export to Git after every successful backup.
    Set {
        /// The connection (id or name).
        connection: String,
        #[command(flatten)]
        flags: team::GitExportFlags,
    },
    /// Stop exporting to Git.
    Remove {
        /// The connection (id or name).
        connection: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeysCommand {
    /// List API keys (secrets are never shown again).
    List,
    /// Create an API key; the secret is printed once, alone on the last line.
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// The role the key acts with.
        #[arg(long)]
        role: Role,
        /// Make a service key for this service (CI, Terraform...): it belongs to no
        /// person, so suspending you leaves it working; you are recorded as its owner.
        /// Without it, the key is yours and goes when you do.
        #[arg(long)]
        service: Option<String>,
    },
    /// Revoke an API key by id.
    Revoke {
        /// The key's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ScimTokenCommand {
    /// List SCIM tokens.
    List,
    /// Create a SCIM token; the secret is printed once, alone on the last line.
    Create {
        /// A label for the token.
        #[arg(long, default_value = "scim")]
        name: String,
    },
    /// Revoke a SCIM token by id.
    Revoke {
        /// The token's id.
        id: String,
    },
}

// Multi-threaded: a backup writes packs with blocking I/O (in `block_in_place`) while
// the fetch goes on. Idle blocking threads end soon, so the memory they allocated while
// a repository was opened is given back (see `BLOCKING_THREAD_KEEP_ALIVE`).
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(butterfly_store::BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli_main())
}

async fn cli_main() -> ExitCode {
    exit_quietly_when_stdout_closes();
    let cli = match Cli::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    repository::configure(cli.password_file.clone(), cli.insecure_no_password);
    let result = match cli.command {
        Command::Backup(
            BackupCommand::Okta {
                connection: None, ..
            }
            | BackupCommand::Entra { .. },
        )
        | Command::Snapshots(
            SnapshotsCommand::List { repo: Some(_) }
            | SnapshotsCommand::Show { repo: Some(_), .. }
            | SnapshotsCommand::Verify { .. },
        ) => run_local(cli).await,
        Command::Snapshots(SnapshotsCommand::Ls {
            id,
            kind,
            repo: Some(repo),
        }) => contents::ls(cli.output, &repo, &id, kind.as_deref())
            .await
            .map_err(|e| e.to_string()),
        Command::Snapshots(SnapshotsCommand::Cat {
            id,
            kind,
            resource_id,
            repo: Some(repo),
        }) => contents::cat(cli.output, &repo, &id, &kind, &resource_id)
            .await
            .map_err(|e| e.to_string()),
        Command::Snapshots(SnapshotsCommand::Download {
            id,
            repo: Some(repo),
            format,
            out,
        }) => contents::download(cli.output, &repo, &id, &format, &out)
            .await
            .map_err(|e| e.to_string()),
        Command::Init { repo } => repository::init(cli.output, &repo)
            .await
            .map_err(|e| e.to_string()),
        Command::Check { repo, read_data } => repository::check(cli.output, &repo, read_data)
            .await
            .map_err(|e| e.to_string()),
        Command::Forget {
            repo,
            keep,
            prune,
            dry_run,
        } => retention::forget(cli.output, &repo, &keep, prune, dry_run).await,
        Command::Prune {
            repo: Some(repo),
            dry_run,
        } => retention::prune(cli.output, &repo, dry_run).await,
        Command::Snapshots(SnapshotsCommand::Delete {
            id,
            repo: Some(repo),
        }) => retention::delete(cli.output, &repo, &id).await,
        Command::Snapshots(SnapshotsCommand::Hold {
            id,
            reason,
            repo: Some(repo),
        }) => retention::hold(cli.output, &repo, &id, &reason).await,
        Command::Snapshots(SnapshotsCommand::Release {
            id,
            repo: Some(repo),
        }) => retention::release(cli.output, &repo, &id).await,
        Command::Repair(RepairCommand::Index { repo }) => {
            repository::repair_index(cli.output, &repo)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Key(KeyCommand::List { repo }) => {
            repository::key_list(cli.output, &repo).map_err(|e| e.to_string())
        }
        Command::Key(KeyCommand::Add {
            repo,
            new_password_file,
        }) => repository::key_add(cli.output, &repo, new_password_file.as_deref())
            .map_err(|e| e.to_string()),
        Command::Key(KeyCommand::Remove { repo, id }) => {
            repository::key_remove(cli.output, &repo, &id).map_err(|e| e.to_string())
        }
        Command::Compliance {
            command:
                Some(ComplianceCommand::Trend {
                    from,
                    to,
                    repo: Some(repo),
                    framework,
                }),
            ..
        } => reports::trend(
            cli.output,
            reports::TrendArgs {
                from,
                to,
                repo,
                framework,
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Command::Compliance {
            command: None,
            snapshot: Some(snapshot),
            repo: Some(repo),
            framework,
            format,
            out,
            fail_on,
        } => reports::compliance(reports::ComplianceArgs {
            snapshot,
            repo,
            framework,
            format,
            out,
            fail_on,
        })
        .await
        .map_err(|e| e.to_string()),
        // clap requires the snapshot when no subcommand is given.
        Command::Compliance {
            command: None,
            snapshot: None,
            ..
        } => Err("compliance needs a SNAPSHOT".to_owned()),
        Command::Export(ExportCommand::Terraform {
            snapshot,
            repo: Some(repo),
            out,
            kinds,
            skip_users,
        }) => reports::terraform(
            cli.output,
            reports::TerraformArgs {
                snapshot,
                repo,
                out,
                kinds,
                skip_users,
            },
        )
        .await
        .map_err(|e| e.to_string()),
        Command::Export(ExportCommand::Git {
            snapshot,
            repo,
            git_dir,
            push,
            branch,
            include_volatile,
            token,
            token_file,
            token_user,
            deploy_key,
            deploy_key_passphrase,
            ssh_host_key,
        }) => git_export::export_git(
            cli.output,
            git_export::GitExportArgs {
                snapshot,
                repo,
                git_dir,
                push,
                branch,
                include_volatile,
                token,
                token_file,
                token_user,
                deploy_key,
                deploy_key_passphrase,
                ssh_host_key,
            },
        )
        .await
        .map_err(|e| e.to_string()),
        Command::Diff {
            from,
            to,
            repo: Some(repo),
            kinds,
            min_severity,
            include_volatile,
            org_url,
            client_id,
            key_id,
            private_key,
        } => diff::diff(
            cli.output,
            diff::DiffArgs {
                allow_private_org_urls: cli.allow_private_org_urls,
                from,
                to,
                repo,
                kinds,
                min_severity,
                include_volatile,
                org_url,
                client_id,
                key_id,
                private_key,
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Command::Restore {
            snapshot,
            repo,
            org,
            kinds,
            ids,
            overwrite,
            delete_extra,
            dry_run,
            plan,
            save_plan,
            undo,
            stop_after,
        } => {
            let args = restore::RestoreArgs {
                snapshot,
                allow_private_org_urls: cli.allow_private_org_urls,
                repo,
                org_url: org.org_url.unwrap_or_default(),
                client_id: org.client_id.clone(),
                key_id: org.key_id,
                private_key: org.private_key.clone().unwrap_or_default(),
                kinds,
                ids,
                overwrite,
                delete_extra,
                dry_run,
                plan,
                save_plan,
                undo,
                stop_after,
                ..restore::RestoreArgs::default()
            };
            match org.tenant_id {
                Some(tenant_id) => entra_restore::restore_entra(
                    cli.output,
                    entra::EntraBackupArgs {
                        tenant_id,
                        client_id: org.client_id,
                        client_secret_file: org.client_secret_file,
                        certificate: org.certificate,
                        private_key: org.private_key,
                        graph_url: org.graph_url,
                        authority_url: org.authority_url,
                        repo: args.repo.clone(),
                        rate_limit_share: 0.5,
                        concurrency: 16,
                        mode: butterfly_providers::backup::BackupMode::Full,
                        allow_private_org_urls: cli.allow_private_org_urls,
                    },
                    args,
                )
                .await
                .map_err(|e| e.to_string()),
                None => restore::restore(cli.output, args)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
        Command::Sync {
            from,
            repo,
            org,
            vars,
            kinds,
            dry_run,
            save_plan,
        } => restore::restore(
            cli.output,
            restore::RestoreArgs {
                snapshot: Some(from),
                allow_private_org_urls: cli.allow_private_org_urls,
                repo,
                org_url: org.org_url,
                client_id: org.client_id,
                key_id: org.key_id,
                private_key: org.private_key,
                kinds,
                dry_run,
                save_plan,
                sync: true,
                vars,
                ..restore::RestoreArgs::default()
            },
        )
        .await
        .map_err(|e| e.to_string()),
        Command::Schemas { out } => match schemas::write(&out) {
            Ok(written) => {
                for path in written {
                    println!("{}", path.display());
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Command::Login => login::login(&cli.server).await.map_err(|e| e.to_string()),
        Command::Logout => login::logout(&cli.server).await.map_err(|e| e.to_string()),
        Command::Completions { shell } => {
            print_completions(shell);
            Ok(())
        }
        Command::Man => print_man_page().map_err(|e| format!("cannot write the man page: {e}")),
        _ => run(cli).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `butterfly snapshots show ID | head -5`: once `head` has its lines it closes the
/// pipe, and the next write to stdout fails with `EPIPE` (Rust ignores `SIGPIPE`, so the
/// process is not killed as a C tool would be). `println!` turns that failure into a
/// panic; this hook ends the process quietly with status 0 instead, as Unix tools that
/// handle the error themselves do (ripgrep, fd): the reader asked for no more. Every
/// other panic keeps the default report.
fn exit_quietly_when_stdout_closes() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(is_closed_stdout) {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

/// Whether a panic message is the standard library's report of a print to a closed
/// stdout (`failed printing to stdout: Broken pipe (os error 32)`).
fn is_closed_stdout(message: &str) -> bool {
    let broken_pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe).to_string();
    message.starts_with("failed printing to stdout")
        && (message.contains("Broken pipe") || message.contains(&broken_pipe))
}

const MEMBER_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("EMAIL", "/email"),
    Column::new("NAME", "/display_name"),
    Column::new("ROLE", "/role"),
    Column::new("ACTIVE", "/active"),
];
const API_KEY_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("ROLE", "/role"),
    Column::new("MEMBER", "/member_id"),
    Column::new("SERVICE", "/service"),
    Column::new("CREATED BY", "/created_by"),
    Column::new("HINT", "/hint"),
    Column::new("CREATED", "/created_at"),
    Column::new("REVOKED", "/revoked_at"),
];
const AUDIT_COLUMNS: &[Column] = &[
    Column::new("AT", "/at"),
    Column::new("ACTOR", "/actor"),
    Column::new("ACTION", "/action"),
    Column::new("TARGET", "/target"),
    Column::new("OUTCOME", "/outcome"),
    Column::new("REQUEST", "/request_id"),
];

/// `butterfly completions SHELL`: the script on stdout.
fn print_completions(shell: CompletionShell) {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut help::command(),
        "butterfly",
        &mut std::io::stdout(),
    );
}

/// `butterfly man`: the man page, in roff, on stdout.
fn print_man_page() -> std::io::Result<()> {
    clap_mangen::Man::new(help::command()).render(&mut std::io::stdout())
}

/// Percent-encode a query value (RFC 3339 times carry `+` and `:`).
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
const SCIM_TOKEN_COLUMNS: &[Column] = &[
    Column::new("ID", "/id"),
    Column::new("NAME", "/name"),
    Column::new("HINT", "/hint"),
    Column::new("CREATED", "/created_at"),
    Column::new("REVOKED", "/revoked_at"),
];

async fn run_local(cli: Cli) -> Result<(), String> {
    let out = cli.output;
    let result = match cli.command {
        Command::Backup(BackupCommand::Okta {
            connection: None,
            org_url: Some(org_url),
            client_id: Some(client_id),
            private_key: Some(private_key),
            key_id,
            repo: Some(repo),
            rate_limit_share,
            scopes,
            concurrency,
            pack_target_bytes,
            full,
            full_every,
        }) => {
            local::backup_okta(
                out,
                local::OktaBackupArgs {
                    org_url,
                    client_id,
                    key_id,
                    private_key,
                    repo,
                    rate_limit_share,
                    scopes,
                    concurrency,
                    pack_target_bytes,
                    mode: backup_mode(full, full_every),
                    allow_private_org_urls: cli.allow_private_org_urls,
                },
            )
            .await
        }
        Command::Backup(BackupCommand::Entra {
            tenant_id,
            client_id,
            client_secret_file,
            certificate,
            private_key,
            graph_url,
            authority_url,
            repo,
            rate_limit_share,
            concurrency,
            full,
            full_every,
        }) => {
            entra::backup_entra(
                out,
                entra::EntraBackupArgs {
                    tenant_id,
                    client_id,
                    client_secret_file,
                    certificate,
                    private_key,
                    graph_url,
                    authority_url,
                    repo,
                    rate_limit_share,
                    concurrency,
                    mode: backup_mode(full, full_every),
                    allow_private_org_urls: cli.allow_private_org_urls,
                },
            )
            .await
        }
        Command::Snapshots(SnapshotsCommand::List { repo: Some(repo) }) => {
            local::list(out, &repo).await
        }
        Command::Snapshots(SnapshotsCommand::Show {
            id,
            repo: Some(repo),
        }) => local::show(out, &repo, &id).await,
        Command::Snapshots(SnapshotsCommand::Verify { id, repo }) => {
            local::verify(out, &repo, id.as_deref()).await
        }
        // `main` sends only the local forms here, and clap enforces their flags.
        _ => return Err("this command needs --repo, or a server".into()),
    };
    result.map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let client = login::client(&cli.server, cli.api_key.as_deref()).await?;
    let out = cli.output;
    match cli.command {
        Command::Status { connection } => {
            monitoring::status(&client, out, connection.as_deref()).await?;
        }
        Command::Notifications(command) => match command {
            NotificationsCommand::List => monitoring::list_channels(&client, out).await?,
            NotificationsCommand::AddWebhook {
                name,
                url,
                secret,
                events,
            } => {
                let mut body =
                    serde_json::json!({"name": name, "kind": "webhook", "config": {"url": url}});
                if let Some(secret) = secret {
                    body["secret"] = secret.into();
                }
                if let Some(events) = events {
                    body["events"] = events.into();
                }
                monitoring::add_channel(&client, out, &body).await?;
            }
            NotificationsCommand::AddEmail {
                name,
                smtp_host,
                smtp_port,
                tls,
                username,
                password,
                from,
                to,
                events,
            } => {
                let mut body = serde_json::json!({"name": name, "kind": "email", "config": {
                    "smtp_host": smtp_host, "smtp_port": smtp_port, "tls": tls,
                    "username": username, "from": from, "to": to,
                }});
                if let Some(password) = password {
                    body["secret"] = password.into();
                }
                if let Some(events) = events {
                    body["events"] = events.into();
                }
                monitoring::add_channel(&client, out, &body).await?;
            }
            NotificationsCommand::Remove { channel } => {
                monitoring::remove_channel(&client, &channel).await?;
            }
            NotificationsCommand::Test { channel } => {
                monitoring::test_channel(&client, out, &channel).await?;
            }
        },
        Command::Audit { since } => {
            let path = match since {
                Some(since) => format!("audit?since={}", url_encode(&since)),
                None => "audit".to_owned(),
            };
            print_records(out, &client.get(&path).await?, AUDIT_COLUMNS);
        }
        Command::Members(MembersCommand::List) => {
            let members = client.get("members").await?;
            print_records(out, &members, MEMBER_COLUMNS);
        }
        Command::Members(MembersCommand::Show { id }) => {
            let member = client.get(&format!("members/{id}")).await?;
            output::print_record(out, &member, MEMBER_COLUMNS);
        }
        Command::Members(MembersCommand::Update {
            id,
            role,
            active,
            display_name,
        }) => {
            let body = team::member_update_body(role, active, display_name)?;
            let member = client.patch(&format!("members/{id}"), &body).await?;
            output::print_record(out, &member, MEMBER_COLUMNS);
        }
        Command::Members(MembersCommand::Remove { id }) => {
            client.delete(&format!("members/{id}")).await?;
            print_done(out, &format!("removed member {id}"));
        }
        Command::ScimGroupRoles(ScimGroupRolesCommand::List) => {
            team::print_group_roles(out, &client.get("scim/group-roles").await?);
        }
        Command::ScimGroupRoles(ScimGroupRolesCommand::Set { groups }) => {
            let mapping: serde_json::Map<String, Value> = groups
                .into_iter()
                .map(|(group, role)| (group, json!(role)))
                .collect();
            let saved = client
                .put("scim/group-roles", &Value::Object(mapping))
                .await?;
            if out == Output::Json {
                output::print_json(&saved);
            } else {
                team::print_group_roles(out, &saved["group_roles"]);
                eprintln!(
                    "{} SCIM member(s) changed role",
                    saved["members_changed"].as_u64().unwrap_or(0)
                );
            }
        }
        Command::Restores(command) => match command {
            RestoresCommand::List => server_restores::list(&client, out).await?,
            RestoresCommand::Show { id } => server_restores::show(&client, out, &id).await?,
            RestoresCommand::Plan {
                connection,
                selection,
            } => server_restores::plan(&client, out, &connection, &selection).await?,
            RestoresCommand::Run {
                connection,
                selection,
                plan_fingerprint,
                dry_run,
            } => {
                server_restores::run(
                    &client,
                    out,
                    &connection,
                    &selection,
                    plan_fingerprint,
                    dry_run,
                )
                .await?;
            }
            RestoresCommand::Sync {
                target,
                snapshot,
                vars,
                kinds,
                delete_extra,
                dry_run,
            } => {
                server_restores::sync(
                    &client,
                    out,
                    server_restores::SyncArgs {
                        target,
                        snapshot,
                        vars,
                        kinds,
                        delete_extra,
                        dry_run,
                    },
                )
                .await?;
            }
            RestoresCommand::Undo { id, dry_run } => {
                server_restores::undo(&client, out, &id, dry_run).await?;
            }
        },
        Command::ApiKeys(ApiKeysCommand::List) => {
            print_records(out, &client.get("api-keys").await?, API_KEY_COLUMNS);
        }
        Command::ApiKeys(ApiKeysCommand::Create {
            name,
            role,
            service,
        }) => {
            let mut body = json!({"name": name, "role": role});
            if let Some(service) = service {
                body["service"] = json!(service);
            }
            let created = client.post("api-keys", &body).await?;
            print_created(out, &created, "api_key", API_KEY_COLUMNS);
        }
        Command::ApiKeys(ApiKeysCommand::Revoke { id }) => {
            client.delete(&format!("api-keys/{id}")).await?;
            print_done(out, &format!("revoked API key {id}"));
        }
        Command::ScimToken(ScimTokenCommand::List) => {
            print_records(out, &client.get("scim-tokens").await?, SCIM_TOKEN_COLUMNS);
        }
        Command::ScimToken(ScimTokenCommand::Create { name }) => {
            let created = client.post("scim-tokens", &json!({"name": name})).await?;
            print_created(out, &created, "scim_token", SCIM_TOKEN_COLUMNS);
        }
        Command::Sso(SsoCommand::Set {
            issuer,
            client_id,
            client_secret_file,
            domains,
            default_role,
        }) => {
            let mut body = json!({"issuer": issuer, "client_id": client_id, "domains": domains});
            if let Some(path) = client_secret_file {
                let secret = std::fs::read_to_string(&path)
                    .map_err(|source| CliError::ReadFile { path, source })?;
                body["client_secret"] = json!(secret.trim());
            }
            if let Some(role) = default_role {
                body["default_role"] = json!(role);
            }
            print_object(out, &client.put("sso", &body).await?);
        }
        Command::Sso(SsoCommand::Show) => print_object(out, &client.get("sso").await?),
        Command::Sso(SsoCommand::Test) => {
            print_object(out, &client.post("sso/test", &json!({})).await?);
        }
        Command::ScimToken(ScimTokenCommand::Revoke { id }) => {
            client.delete(&format!("scim-tokens/{id}")).await?;
            print_done(out, &format!("revoked SCIM token {id}"));
        }
        Command::Connections(command) => match command {
            ConnectionsCommand::List => server_mode::list_connections(&client, out).await?,
            ConnectionsCommand::Show { connection } => {
                server_mode::show_connection(&client, out, &connection).await?;
            }
            ConnectionsCommand::Create {
                name,
                org_url,
                client_id,
                private_key,
                key_id,
                scopes,
                rate_limit_share,
            } => {
                server_mode::create_connection(
                    &client,
                    out,
                    server_mode::NewConnection {
                        name,
                        org_url,
                        client_id,
                        private_key,
                        key_id,
                        scopes,
                        rate_limit_share,
                    },
                )
                .await?;
            }
            ConnectionsCommand::Test { connection } => {
                server_mode::test_connection(&client, out, &connection).await?;
            }
            ConnectionsCommand::Delete { connection } => {
                server_mode::delete_connection(&client, out, &connection).await?;
            }
            ConnectionsCommand::GitExport(GitExportCommand::Show { connection }) => {
                team::show_git_export(&client, out, &connection).await?;
            }
            ConnectionsCommand::GitExport(GitExportCommand::Set { connection, flags }) => {
                let body = team::git_export_body(flags, std::env::var("BUTTERFLY_GIT_TOKEN").ok())?;
                team::set_git_export(&client, out, &connection, &body).await?;
            }
            ConnectionsCommand::GitExport(GitExportCommand::Remove { connection }) => {
                team::remove_git_export(&client, out, &connection).await?;
            }
        },
        Command::Backups(command) => match command {
            BackupsCommand::Run { connection, wait } => {
                server_mode::run_backup(&client, out, &connection, wait).await?;
            }
            BackupsCommand::List => server_mode::list_backups(&client, out).await?,
            BackupsCommand::Show { id } => server_mode::show_backup(&client, out, &id).await?,
        },
        Command::Schedules(command) => match command {
            SchedulesCommand::List => server_mode::list_schedules(&client, out).await?,
            SchedulesCommand::Set {
                connection,
                frequency,
                at,
                day,
                cron,
                time_zone,
            } => {
                let spec = server_mode::schedule_body(frequency, at, day, cron, &time_zone);
                server_mode::set_schedule(&client, out, &connection, &spec).await?;
            }
            SchedulesCommand::Pause { connection } => {
                server_mode::pause_schedule(&client, out, &connection, true).await?;
            }
            SchedulesCommand::Resume { connection } => {
                server_mode::pause_schedule(&client, out, &connection, false).await?;
            }
        },
        Command::Backup(BackupCommand::Okta {
            connection: Some(connection),
            ..
        }) => server_mode::run_backup(&client, out, &connection, true).await?,
        Command::Snapshots(SnapshotsCommand::List { repo: None }) => {
            server_mode::list_snapshots(&client, out).await?;
        }
        Command::Snapshots(SnapshotsCommand::Show { id, repo: None }) => {
            server_mode::show_snapshot(&client, out, &id).await?;
        }
        Command::Prune {
            repo: None,
            dry_run,
        } => retention::server_prune(&client, out, dry_run).await?,
        Command::Snapshots(SnapshotsCommand::Delete { id, repo: None }) => {
            retention::server_snapshot_action(&client, out, "delete", &id, "").await?;
        }
        Command::Snapshots(SnapshotsCommand::Hold {
            id,
            reason,
            repo: None,
        }) => retention::server_snapshot_action(&client, out, "hold", &id, &reason).await?,
        Command::Snapshots(SnapshotsCommand::Ls {
            id,
            kind,
            repo: None,
        }) => server_contents::ls(&client, out, &id, kind.as_deref()).await?,
        Command::Snapshots(SnapshotsCommand::Cat {
            id,
            kind,
            resource_id,
            repo: None,
        }) => server_contents::cat(&client, out, &id, &kind, &resource_id).await?,
        Command::Snapshots(SnapshotsCommand::Download {
            id,
            repo: None,
            format,
            out: path,
        }) => server_contents::download(&client, out, &id, &format, &path).await?,
        Command::Diff {
            from,
            to,
            repo: None,
            kinds,
            min_severity,
            include_volatile,
            ..
        } => {
            server_contents::diff(
                &client,
                out,
                &from,
                &to,
                &kinds,
                min_severity,
                include_volatile,
            )
            .await?;
        }
        Command::Compliance {
            command: None,
            snapshot: Some(snapshot),
            repo: None,
            framework,
            format,
            out: path,
            fail_on,
        } => {
            server_contents::compliance(
                &client,
                server_contents::ComplianceArgs {
                    snapshot,
                    framework,
                    format,
                    out: path,
                    fail_on,
                },
            )
            .await?;
        }
        Command::Export(ExportCommand::Terraform {
            snapshot,
            repo: None,
            out: dir,
            kinds,
            skip_users,
        }) => server_contents::terraform(&client, out, &snapshot, &dir, &kinds, skip_users).await?,
        Command::Compliance {
            command:
                Some(ComplianceCommand::Trend {
                    from,
                    to,
                    repo: None,
                    framework,
                }),
            ..
        } => server_contents::trend(&client, out, &from, &to, &framework).await?,
        Command::Snapshots(SnapshotsCommand::Release { id, repo: None }) => {
            retention::server_snapshot_action(&client, out, "release", &id, "").await?;
        }
        Command::Retention(RetentionCommand::Show) => retention::server_show(&client, out).await?,
        Command::Retention(RetentionCommand::Set {
            connection,
            keep,
            clear,
        }) => retention::server_set(&client, out, connection.as_deref(), &keep, clear).await?,
        // Local commands are dispatched by `run_local`, repository commands by `main`.
        Command::Forget { .. }
        | Command::Prune { repo: Some(_), .. }
        | Command::Backup(_)
        | Command::Snapshots(_)
        | Command::Init { .. }
        | Command::Check { .. }
        | Command::Repair(_)
        | Command::Key(_)
        | Command::Diff { .. }
        | Command::Restore { .. }
        | Command::Sync { .. }
        | Command::Compliance { .. }
        | Command::Export(_)
        | Command::Schemas { .. }
        | Command::Login
        | Command::Logout
        | Command::Completions { .. }
        | Command::Man => {}
    }
    Ok(())
}

/// A created secret: in table mode the record, a warning, then the secret alone on the
/// last line (so `| tail -n1` captures it); in JSON mode the server's answer.
fn print_created(out: Output, created: &Value, record_key: &str, columns: &[Column]) {
    match out {
        Output::Json => output::print_json(created),
        Output::Table | Output::Markdown => {
            let record = created.get(record_key).cloned().unwrap_or(Value::Null);
            print_records(out, &Value::Array(vec![record]), columns);
            println!("The secret is shown only now; store it safely:");
            println!(
                "{}",
                created
                    .get("secret")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
    }
}

/// One object: `key: value` lines for people, JSON for scripts.
pub(crate) fn print_object(out: Output, value: &Value) {
    match out {
        Output::Json => output::print_json(value),
        Output::Table | Output::Markdown => {
            for (key, item) in value.as_object().into_iter().flatten() {
                let text = match item {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                println!("{key}: {text}");
            }
        }
    }
}

pub(crate) fn print_done(out: Output, message: &str) {
    match out {
        Output::Json => output::print_json(&json!({"ok": true, "message": message})),
        Output::Table | Output::Markdown => println!("{message}"),
    }
}

/// The backup mode `--full` and `--full-every` ask for (the same for every provider).
fn backup_mode(full: bool, full_every: u32) -> butterfly_providers::backup::BackupMode {
    if full {
        butterfly_providers::backup::BackupMode::Full
    } else {
        butterfly_providers::backup::BackupMode::Incremental { full_every }
    }
}

#[cfg(test)]
mod tests {
    use super::is_closed_stdout;

    #[test]
    fn only_a_print_to_a_closed_stdout_counts() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout("index out of bounds"));
    }
}
