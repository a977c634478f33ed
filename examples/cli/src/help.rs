//! An example for every command, shown at the end of its `--help`.
//!
//! The examples live here, in one table, rather than in attributes spread over the
//! command definitions: they are easier to review together, and a test walks the whole
//! command tree to prove that every command has one and that each example parses.

use clap::{Command, CommandFactory as _};

use crate::Cli;

/// Each command's path (its subcommand names, space-separated) and its examples, one
/// command line each. A line is split on whitespace to check it parses: keep values
/// free of spaces.
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "status",
        &[
            "butterfly status",
            "butterfly status okta-prod --output json",
        ],
    ),
    ("notifications list", &["butterfly notifications list"]),
    (
        "notifications add-webhook",
        &[
            "butterfly notifications add-webhook --name ops --url https://hooks.example.com/butterfly --events backup_failed,schedule_paused",
        ],
    ),
    (
        "notifications add-email",
        &[
            "butterfly notifications add-email --name ops --smtp-host smtp.example.com --from butterfly@example.com --to oncall@example.com",
        ],
    ),
    (
        "notifications remove",
        &["butterfly notifications remove ops"],
    ),
    ("notifications test", &["butterfly notifications test ops"]),
    ("members list", &["butterfly members list --output json"]),
    (
        "members show",
        &["butterfly members show 0f8c2a4e-1b7d-4c55-9a3e-2d6f1e0b9c71"],
    ),
    (
        "members update",
        &[
            "butterfly members update 0f8c2a4e-1b7d-4c55-9a3e-2d6f1e0b9c71 --role auditor",
            "butterfly members update 0f8c2a4e-1b7d-4c55-9a3e-2d6f1e0b9c71 --active false",
        ],
    ),
    (
        "members remove",
        &["butterfly members remove 0f8c2a4e-1b7d-4c55-9a3e-2d6f1e0b9c71"],
    ),
    (
        "scim-group-roles list",
        &["butterfly scim-group-roles list --output json"],
    ),
    (
        "scim-group-roles set",
        &["butterfly scim-group-roles set --group Butterfly-Admins=admin --group Auditors=auditor"],
    ),
    ("restores list", &["butterfly restores list --output json"]),
    ("restores show", &["butterfly restores show 7d0e"]),
    (
        "restores plan",
        &["butterfly restores plan okta-prod --snapshot 3f2a --kind group --overwrite"],
    ),
    (
        "restores run",
        &[
            "butterfly restores run okta-prod --snapshot 3f2a --kind group --dry-run",
            "butterfly restores run okta-prod --plan-fingerprint 9c1e4b7a",
        ],
    ),
    (
        "restores sync",
        &["butterfly restores sync okta-prod --snapshot 3f2a --vars prod.env --dry-run"],
    ),
    ("restores undo", &["butterfly restores undo 7d0e"]),
    ("api-keys list", &["butterfly api-keys list"]),
    (
        "api-keys create",
        &[
            "butterfly api-keys create --name ci --role backup_operator",
            "butterfly api-keys create --name nightly --role backup_operator --service nightly-backups",
        ],
    ),
    ("api-keys revoke", &["butterfly api-keys revoke 3f2a9c1e"]),
    ("scim-token list", &["butterfly scim-token list"]),
    (
        "scim-token create",
        &["butterfly scim-token create --name okta-provisioning"],
    ),
    (
        "scim-token revoke",
        &["butterfly scim-token revoke 3f2a9c1e"],
    ),
    (
        "sso set",
        &[
            "butterfly sso set --issuer https://login.example.com --client-id butterfly --client-secret-file secret.txt --domain example.com",
        ],
    ),
    ("sso show", &["butterfly sso show"]),
    ("sso test", &["butterfly sso test"]),
    (
        "backup okta",
        &[
            "butterfly backup okta --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem --repo ./backups",
            "butterfly backup okta --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem --repo ./backups --full",
            "butterfly backup okta --connection okta-prod",
        ],
    ),
    (
        "backup entra",
        &[
            "butterfly backup entra --tenant-id contoso.onmicrosoft.com --client-id 1b2c3d4e --client-secret-file secret.txt --repo ./backups",
            "butterfly backup entra --tenant-id contoso.onmicrosoft.com --client-id 1b2c3d4e --certificate app.crt --private-key app.key --repo ./backups --full",
        ],
    ),
    (
        "snapshots list",
        &[
            "butterfly snapshots list --repo ./backups",
            "butterfly snapshots list",
        ],
    ),
    (
        "snapshots show",
        &["butterfly snapshots show 5e1c --repo ./backups"],
    ),
    (
        "snapshots ls",
        &[
            "butterfly snapshots ls 5e1c --kind group --repo ./backups",
            "butterfly snapshots ls 5e1c --kind group --output json",
        ],
    ),
    (
        "snapshots cat",
        &[
            "butterfly snapshots cat 5e1c group 00g1abc --repo ./backups",
            "butterfly snapshots cat 5e1c group 00g1abc",
        ],
    ),
    (
        "snapshots download",
        &[
            "butterfly snapshots download 5e1c --format tar.zst --out snapshot.tar.zst --repo ./backups",
            "butterfly snapshots download 5e1c --out snapshot.jsonl",
        ],
    ),
    (
        "snapshots delete",
        &["butterfly snapshots delete 5e1c --repo ./backups"],
    ),
    (
        "snapshots hold",
        &["butterfly snapshots hold 5e1c --reason audit-2026 --repo ./backups"],
    ),
    (
        "snapshots release",
        &["butterfly snapshots release 5e1c --repo ./backups"],
    ),
    (
        "snapshots verify",
        &["butterfly snapshots verify --repo ./backups"],
    ),
    ("connections list", &["butterfly connections list"]),
    (
        "connections show",
        &["butterfly connections show okta-prod"],
    ),
    (
        "connections create",
        &[
            "butterfly connections create --name okta-prod --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem",
        ],
    ),
    (
        "connections test",
        &["butterfly connections test okta-prod"],
    ),
    (
        "connections delete",
        &["butterfly connections delete okta-prod"],
    ),
    (
        "connections git-export show",
        &["butterfly connections git-export show okta-prod"],
    ),
    (
        "connections git-export set",
        &[
            "butterfly connections git-export set okta-prod --remote-url https://github.com/acme/okta-config.git --token-file token.txt",
            "butterfly connections git-export set okta-prod --remote-url git@github.com:acme/okta-config.git --deploy-key deploy_key --ssh-host-key SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        ],
    ),
    (
        "connections git-export remove",
        &["butterfly connections git-export remove okta-prod"],
    ),
    ("backups run", &["butterfly backups run okta-prod --wait"]),
    ("backups list", &["butterfly backups list"]),
    ("backups show", &["butterfly backups show 7d0e"]),
    ("schedules list", &["butterfly schedules list"]),
    (
        "schedules set",
        &[
            "butterfly schedules set okta-prod daily --at 02:30 --time-zone Europe/Berlin",
            "butterfly schedules set okta-prod cron --cron '15 */4 * * 1-5'",
        ],
    ),
    ("schedules pause", &["butterfly schedules pause okta-prod"]),
    (
        "schedules resume",
        &["butterfly schedules resume okta-prod"],
    ),
    ("audit", &["butterfly audit --since 2026-12-01T00:00:00Z"]),
    ("init", &["butterfly init --repo ./backups"]),
    ("check", &["butterfly check --repo ./backups --read-data"]),
    ("repair index", &["butterfly repair index --repo ./backups"]),
    (
        "forget",
        &[
            "butterfly forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune --dry-run --repo ./backups",
        ],
    ),
    ("retention show", &["butterfly retention show"]),
    (
        "retention set",
        &[
            "butterfly retention set --preset medium",
            "butterfly retention set --connection okta-prod --keep-last 30",
        ],
    ),
    (
        "prune",
        &[
            "butterfly prune --dry-run --repo ./backups",
            "butterfly prune",
        ],
    ),
    ("key list", &["butterfly key list --repo ./backups"]),
    (
        "key add",
        &["butterfly key add --new-password-file second.txt --repo ./backups"],
    ),
    (
        "key remove",
        &["butterfly key remove 1a2b --repo ./backups"],
    ),
    (
        "compliance",
        &[
            "butterfly compliance 5e1c --repo ./backups --framework soc2 --format sarif --out soc2.sarif --fail-on high",
            "butterfly compliance 5e1c --framework all --format markdown",
        ],
    ),
    (
        "compliance trend",
        &[
            "butterfly compliance trend 5e1c 9a8b --repo ./backups",
            "butterfly compliance trend 5e1c 9a8b --framework soc2 --output json",
        ],
    ),
    (
        "export terraform",
        &[
            "butterfly export terraform 5e1c --repo ./backups --out ./okta-tf --skip-users",
            "butterfly export terraform 5e1c --out ./okta-tf --kind group",
        ],
    ),
    (
        "export git",
        &[
            "butterfly export git all --repo ./backups --git-dir ./identity.git --push git@github.com:acme/identity.git --deploy-key deploy_key",
        ],
    ),
    (
        "diff",
        &[
            "butterfly diff 5e1c 9a8b --repo ./backups --min-severity high",
            "butterfly diff 5e1c 9a8b --min-severity high --output json",
            "butterfly diff 5e1c live --repo ./backups --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem --output markdown",
        ],
    ),
    (
        "restore",
        &[
            "butterfly restore 5e1c --repo ./backups --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem --kind group --dry-run",
            "butterfly restore --plan plan.json --repo ./backups --org-url https://example.okta.com --client-id 0oa1b2c3 --private-key key.pem",
        ],
    ),
    (
        "sync",
        &[
            "butterfly sync --from 5e1c --repo ./backups --org-url https://prod.okta.com --client-id 0oa9z8y7 --private-key prod.pem --vars prod.vars --dry-run",
        ],
    ),
    ("schemas", &["butterfly schemas --out ./schemas"]),
    (
        "login",
        &["butterfly login --server https://butterfly.example.com"],
    ),
    ("logout", &["butterfly logout"]),
    (
        "completions",
        &["butterfly completions bash > /etc/bash_completion.d/butterfly"],
    ),
    ("man", &["butterfly man > butterfly.1"]),
];

/// The command line definition with each command's examples after its help: what
/// `main` parses with, and what completions and the man page are made from.
pub fn command() -> Command {
    let mut root = Cli::command();
    for (path, examples) in EXAMPLES {
        let text = examples_text(examples);
        let names: Vec<&str> = path.split(' ').collect();
        root = with_after_help(root, &names, text);
    }
    root
}

fn examples_text(examples: &[&str]) -> String {
    let mut text = String::from(if examples.len() == 1 {
        "Example:"
    } else {
        "Examples:"
    });
    for example in examples {
        text.push_str("\n  ");
        text.push_str(example);
    }
    text
}

fn with_after_help(command: Command, path: &[&str], text: String) -> Command {
    match path.split_first() {
        None => command.after_help(text),
        Some((first, rest)) => {
            command.mut_subcommand(*first, |sub| with_after_help(sub, rest, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command users can run (leaves, and commands that run without a
    /// subcommand), as space-separated paths; `help` is clap's own.
    fn runnable(command: &Command, prefix: &str, out: &mut Vec<String>) {
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let path = if prefix.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            if !sub.is_subcommand_required_set() {
                out.push(path.clone());
            }
            runnable(sub, &path, out);
        }
    }

    #[test]
    fn every_command_has_an_example() {
        let mut commands = Vec::new();
        runnable(&Cli::command(), "", &mut commands);
        let documented: Vec<&str> = EXAMPLES.iter().map(|(path, _)| *path).collect();
        let missing: Vec<&String> = commands
            .iter()
            .filter(|c| !documented.contains(&c.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "commands without an example: {missing:?}"
        );
        let unknown: Vec<&&str> = documented
            .iter()
            .filter(|d| !commands.iter().any(|c| c == *d))
            .collect();
        assert!(unknown.is_empty(), "examples for no command: {unknown:?}");
    }

    /// Split as a shell would, for the few forms the examples use: whitespace, and
    /// single-quoted values.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '\'' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }

    #[test]
    fn every_example_parses() {
        for (path, examples) in EXAMPLES {
            for example in *examples {
                // A shell redirection is not an argument.
                let line = example.split(" > ").next().unwrap_or(example);
                let args = shell_words(line);
                let matches = command().try_get_matches_from(&args);
                assert!(matches.is_ok(), "`{example}` ({path}): {:?}", matches.err());
            }
        }
    }

    #[test]
    fn the_help_shows_the_example() {
        let mut root = command();
        let help = root
            .find_subcommand_mut("backup")
            .and_then(|b| b.find_subcommand_mut("okta"))
            .map(|okta| okta.render_long_help().to_string())
            .unwrap_or_default();
        assert!(
            help.contains("Examples:\n  butterfly backup okta --org-url"),
            "{help}"
        );
    }
}
