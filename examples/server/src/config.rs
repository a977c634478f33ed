//! Command line and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use butterfly_core::Role;

use crate::backups::JobSettings;
use clap::{Args, Parser, Subcommand};

/// The Butterfly server. With no subcommand it serves.
#[derive(Debug, Parser)]
#[command(name = "butterfly-server", version, about)]
pub struct Cli {
    /// Where the server and its data live.
    #[command(flatten)]
    pub config: Config,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings shared by serving and the admin subcommands.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(
        long,
        env = "BUTTERFLY_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// Data directory: the SQLite database, local snapshot objects and the master key.
    #[arg(
        long,
        env = "BUTTERFLY_DATA_DIR",
        default_value = "./butterfly-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL; default `sqlite://<data-dir>/butterfly.db`. Use
    /// `postgres://user@host/db` to share state between replicas.
    #[arg(long, env = "BUTTERFLY_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// The master key (64 hex characters, mode 0600) in a file outside the data
    /// directory, so a copy of the data is not a copy of its key. Default: `master.key`
    /// in the data directory, created on first start.
    #[arg(long, env = "BUTTERFLY_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// The master key itself, as 64 hex characters (from a secrets manager); takes the
    /// place of `--master-key-file`.
    #[arg(
        long,
        env = "BUTTERFLY_MASTER_KEY",
        global = true,
        hide_env_values = true,
        conflicts_with = "master_key_file"
    )]
    pub master_key: Option<String>,
    /// Object store URL for snapshots; default `file://<data-dir>/objects`.
    #[arg(long, env = "BUTTERFLY_OBJECT_STORE_URL", global = true)]
    pub object_store_url: Option<String>,
    /// The URL users reach this server at; SSO callbacks go to
    /// `<public-url>/auth/sso/callback`.
    #[arg(
        long,
        env = "BUTTERFLY_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,
    /// Send session cookies without `Secure`, for plain-HTTP development on localhost
    /// only. Never in production.
    #[arg(long, env = "BUTTERFLY_INSECURE_COOKIES", global = true)]
    pub insecure_cookies: bool,
    /// Let connections' org URLs reach loopback, private, link-local and other
    /// non-public addresses. Off by default: connection tests and backups send signed
    /// requests to the org URL an admin typed in. For simulators and tests only.
    #[arg(long, env = "BUTTERFLY_ALLOW_PRIVATE_ORG_URLS", global = true)]
    pub allow_private_org_urls: bool,
    /// Seconds a running job may go without reporting progress before another worker
    /// takes it back (its worker is presumed dead).
    #[arg(
        long,
        env = "BUTTERFLY_JOB_ABANDONED_AFTER",
        default_value_t = 60,
        hide = true,
        global = true
    )]
    pub job_abandoned_after_secs: u64,
    /// Serve `/metrics` to requests bearing this token (`Authorization: Bearer ...`).
    /// Without it, `/metrics` answers 404.
    #[arg(
        long,
        env = "BUTTERFLY_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Seconds a verified SCIM bearer token is trusted without asking the database
    /// again; 0 turns the cache off. A revocation through this server takes effect at
    /// once; one made through another replica (or the CLI) on the same database takes
    /// effect here within this many seconds.
    #[arg(
        long,
        env = "BUTTERFLY_SCIM_TOKEN_CACHE_SECS",
        default_value_t = 5,
        global = true
    )]
    pub scim_token_cache_secs: u64,
    /// Backups of different connections that run at once on this server.
    #[arg(long, env = "BUTTERFLY_WORKERS", default_value_t = 2, global = true)]
    pub workers: usize,
    /// Seconds between looks for due schedules and queued jobs (a job queued here
    /// wakes a worker at once).
    #[arg(
        long,
        env = "BUTTERFLY_POLL_SECS",
        default_value_t = 5,
        hide = true,
        global = true
    )]
    pub poll_secs: u64,
    /// Milliseconds before the first retry of a backup that stopped with an error
    /// (doubling after).
    #[arg(
        long,
        env = "BUTTERFLY_RETRY_BACKOFF_MS",
        default_value_t = 30_000,
        hide = true,
        global = true
    )]
    pub retry_backoff_ms: u64,
    /// Milliseconds before the first retry of a Git push that failed after an export;
    /// the second retry waits five times as long.
    #[arg(
        long,
        env = "BUTTERFLY_GIT_PUSH_RETRY_MS",
        default_value_t = 2_000,
        hide = true,
        global = true
    )]
    pub git_push_retry_ms: u64,
    /// Seconds the CLI is told to wait between polls while `butterfly login` waits for
    /// approval (RFC 8628 `interval`; at least 1). Faster polls are answered `slow_down`.
    #[arg(
        long,
        env = "BUTTERFLY_CLI_LOGIN_POLL_SECS",
        default_value_t = crate::cli_login::POLL_INTERVAL_SECS,
        hide = true,
        global = true
    )]
    pub cli_login_poll_secs: u64,
}

impl Config {
    /// A configuration for tests and embedding, on `dir`: the command line's defaults,
    /// except the waits a test would otherwise sit through in real time, which are short
    /// here: the backoff before a failed backup run is tried again (5 ms, not 30 s then
    /// 60 s), the pauses before a failed Git push is tried again (5 ms and 25 ms, not 2 s
    /// and 10 s) and the CLI sign-in's polling interval (1 s, the least a client waits,
    /// not 5 s). The server binary takes its settings from the command line ([`Cli`]), so
    /// production keeps the production defaults.
    pub fn for_data_dir(dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: dir.into(),
            database_url: None,
            master_key_file: None,
            master_key: None,
            object_store_url: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
            insecure_cookies: false,
            allow_private_org_urls: false,
            job_abandoned_after_secs: 60,
            metrics_token: None,
            scim_token_cache_secs: 5,
            workers: 2,
            poll_secs: 5,
            retry_backoff_ms: TEST_RETRY_BACKOFF_MS,
            git_push_retry_ms: 5,
            cli_login_poll_secs: 1,
        }
    }

    /// The job worker's timing.
    pub fn job_settings(&self) -> JobSettings {
        JobSettings {
            // At least 10 s: progress is reported every 2 s.
            abandoned_after: Duration::from_secs(self.job_abandoned_after_secs.max(10)),
            workers: self.workers.clamp(1, 64),
            poll_every: Duration::from_secs(self.poll_secs.max(1)),
            retry_backoff: Duration::from_millis(self.retry_backoff_ms),
            ..JobSettings::default()
        }
    }

    /// The pauses before each retry of a failed Git push.
    pub fn git_push_pauses(&self) -> [Duration; 2] {
        let first = Duration::from_millis(self.git_push_retry_ms);
        [first, first.saturating_mul(5)]
    }

    /// The polling interval a CLI sign-in is told, at least one second.
    pub fn cli_login_poll_interval_secs(&self) -> i64 {
        i64::try_from(self.cli_login_poll_secs.max(1)).unwrap_or(i64::MAX)
    }

    /// The database URL, defaulted from the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("butterfly.db").display()
            )
        })
    }

    /// The object store URL, defaulted to `file://<absolute data-dir>/objects`.
    pub fn object_store_url(&self) -> String {
        self.object_store_url.clone().unwrap_or_else(|| {
            let objects = self.data_dir.join("objects");
            let absolute = std::path::absolute(&objects).unwrap_or(objects);
            format!("file://{}", absolute.display())
        })
    }
}

/// The backoff of a failed backup run in [`Config::for_data_dir`]: retries still happen,
/// in the same order, a few milliseconds apart.
const TEST_RETRY_BACKOFF_MS: u64 = 5;

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Manage teams.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage SCIM bearer tokens.
    #[command(subcommand, name = "scim-token")]
    ScimToken(ScimTokenCommand),
}

/// `team ...`
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team.
    Create {
        /// Team name.
        name: String,
    },
    /// List teams.
    List,
}

/// `api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; prints the secret alone as the last line.
    Create {
        /// The role the key acts with.
        #[arg(long)]
        role: Role,
        /// Team name (default team when omitted).
        #[arg(long)]
        team: Option<String>,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Make a service key for this service: it acts for no member, and the team's
        /// bootstrap member is recorded as its owner. Without it, the key belongs to the
        /// bootstrap member (listed by `members list`; created if needed).
        #[arg(long)]
        service: Option<String>,
    },
}

/// `scim-token ...`
#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a SCIM token; prints the secret alone as the last line.
    Create {
        /// Team name (default team when omitted).
        #[arg(long)]
        team: Option<String>,
        /// A label for the token.
        #[arg(long, default_value = "scim")]
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn the_test_configuration_differs_from_the_command_line_only_in_its_waits() {
        let cli = Cli::try_parse_from(["butterfly-server", "--data-dir", "data"]).unwrap();
        let served = cli.config;
        let test = Config::for_data_dir("data");
        // Production: a failed run waits 30 s, then 60 s.
        assert_eq!(served.retry_backoff_ms, 30_000);
        assert_eq!(served.job_settings().retry_backoff, Duration::from_secs(30));
        assert_eq!(test.retry_backoff_ms, TEST_RETRY_BACKOFF_MS);
        // Production: a failed Git push is tried again after 2 s, then after 10 s more.
        assert_eq!(
            served.git_push_pauses(),
            [Duration::from_secs(2), Duration::from_secs(10)]
        );
        assert!(
            test.git_push_pauses()
                .iter()
                .all(|p| *p < Duration::from_secs(1))
        );
        // Production: the CLI polls every 5 s while a sign-in waits for approval.
        assert_eq!(served.cli_login_poll_interval_secs(), 5);
        assert_eq!(test.cli_login_poll_interval_secs(), 1);
        assert_eq!(
            test.job_settings().run_retries,
            served.job_settings().run_retries
        );
        // Everything else is the command line's default.
        assert_eq!(test.listen, served.listen);
        assert_eq!(test.data_dir, served.data_dir);
        assert_eq!(test.public_url, served.public_url);
        assert_eq!(test.insecure_cookies, served.insecure_cookies);
        assert_eq!(test.allow_private_org_urls, served.allow_private_org_urls);
        assert_eq!(
            test.job_abandoned_after_secs,
            served.job_abandoned_after_secs
        );
        assert_eq!(test.scim_token_cache_secs, served.scim_token_cache_secs);
        assert_eq!(test.workers, served.workers);
        assert_eq!(test.poll_secs, served.poll_secs);
    }
}
