//! Push over SSH with a deploy key, to a local sshd this test starts: its own host key,
//! a free port, and an authorized_keys whose forced command lets the deploy key reach
//! one bare repository through git-shell and nothing else.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use butterfly_core::source::InMemorySnapshotSource;
use butterfly_core::{ProviderKind, Resource, ResourceKind, SnapshotStatus};
use butterfly_git::{
    ExportOptions, GitCredentials, HostKey, PushError, PushTarget, export_snapshot, push,
};
use serde_json::json;

use crate::git;

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd that stops when dropped.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "butterfly-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (scripts/test installs openssh-client)");
    assert!(status.success());
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Start sshd on a free loopback port; returns once it listens (it says so on stderr).
fn start_sshd(dir: &Path, repo: &Path, deploy_pub: &str) -> Sshd {
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} is missing: scripts/test installs openssh-server"
    );
    let host_key = dir.join("host_key");
    keygen(&host_key);

    // The forced command: only git-receive-pack/git-upload-pack of the one repository,
    // through git-shell.
    let gate = dir.join("gate.sh");
    let repo = repo.display();
    std::fs::write(
        &gate,
        format!(
            "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  \"git-receive-pack '{repo}'\"|\"git-upload-pack '{repo}'\") exec git-shell -c \"$SSH_ORIGINAL_COMMAND\" ;;\n  *) echo \"only {repo} is served here\" >&2; exit 1 ;;\nesac\n"
        ),
    )
    .unwrap();
    let status = Command::new("chmod")
        .arg("755")
        .arg(&gate)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.join("authorized_keys"),
        format!("command=\"{}\",restrict {deploy_pub}\n", gate.display()),
    )
    .unwrap();

    // sshd run as root wants its privilege-separation directory; as any other user it
    // needs none.
    if current_user() == "root" {
        std::fs::create_dir_all("/run/sshd").unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nUsePAM no\nPermitRootLogin prohibit-password\n\
             AllowUsers {}\nLogLevel VERBOSE\n",
            host_key.display(),
            dir.join("sshd.pid").display(),
            dir.join("authorized_keys").display(),
            current_user(),
        ),
    )
    .unwrap();
    let mut child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sshd starts");
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut ready = Some(ready_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("sshd: {line}");
            if line.contains("Server listening on")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(());
            }
        }
    });
    // The readiness line, or sshd's exit (a bad config) closing the channel.
    ready_rx
        .recv()
        .expect("sshd did not start listening (see its log above)");
    Sshd { child, port }
}

struct Keys {
    private: String,
    public: String,
}

fn deploy_key(dir: &Path) -> Keys {
    let path = dir.join("deploy_key");
    keygen(&path);
    Keys {
        private: std::fs::read_to_string(&path).unwrap(),
        public: std::fs::read_to_string(path.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned(),
    }
}

async fn exported_repo(dir: &Path) -> PathBuf {
    let mut source = InMemorySnapshotSource::new();
    let snapshot = source.insert(
        ProviderKind::Okta,
        "https://acme.okta.com",
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        SnapshotStatus::Complete,
        [Resource::new(
            ResourceKind::new("group"),
            "00g1",
            json!({"id": "00g1", "profile": {"name": "Engineering"}}),
        )],
    );
    let git_dir = dir.join("export.git");
    export_snapshot(&source, snapshot.id, &git_dir, &ExportOptions::new())
        .await
        .unwrap();
    git_dir
}

#[tokio::test]
async fn pushes_over_ssh_with_a_deploy_key() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "--bare", "--quiet", remote.to_str().unwrap()],
    );
    let deploy = deploy_key(dir.path());
    let sshd = start_sshd(dir.path(), &remote, &deploy.public);
    let host_key =
        HostKey::parse(&std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap()).unwrap();
    let git_dir = exported_repo(dir.path()).await;
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        current_user(),
        sshd.port,
        remote.display()
    );

    let target = PushTarget::new(&url)
        .with_credentials(GitCredentials::ssh_key(deploy.private.clone()))
        .with_host_key(host_key.clone());
    push(&git_dir, &target).unwrap();
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&git_dir, &["rev-parse", "main"])
    );

    // Another key is refused, and so is a server whose host key is not the one pinned.
    let stranger = deploy_key(&dir.path().join("stranger").tap_mkdir());
    let refused = push(
        &git_dir,
        &PushTarget::new(&url)
            .with_credentials(GitCredentials::ssh_key(stranger.private))
            .with_host_key(host_key),
    )
    .unwrap_err();
    assert!(
        matches!(refused, PushError::Transport { .. }),
        "{refused:?}"
    );
    let wrong_host = HostKey::parse(&stranger.public).unwrap();
    let spoofed = push(
        &git_dir,
        &PushTarget::new(&url)
            .with_credentials(GitCredentials::ssh_key(deploy.private.clone()))
            .with_host_key(wrong_host),
    )
    .unwrap_err();
    assert!(
        matches!(spoofed, PushError::Transport { ref source, .. } if source.class() == git2::ErrorClass::Ssh),
        "{spoofed}"
    );

    // The deploy key reaches that one repository only.
    let elsewhere = dir.path().join("elsewhere.git");
    git(
        dir.path(),
        &["init", "--bare", "--quiet", elsewhere.to_str().unwrap()],
    );
    let host_key =
        HostKey::parse(&std::fs::read_to_string(dir.path().join("host_key.pub")).unwrap()).unwrap();
    let denied = push(
        &git_dir,
        &PushTarget::new(format!(
            "ssh://{}@127.0.0.1:{}{}",
            current_user(),
            sshd.port,
            elsewhere.display()
        ))
        .with_credentials(GitCredentials::ssh_key(deploy.private))
        .with_host_key(host_key),
    )
    .unwrap_err();
    assert!(matches!(denied, PushError::Transport { .. }), "{denied:?}");
    assert!(git(&elsewhere, &["for-each-ref"]).is_empty());
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}
