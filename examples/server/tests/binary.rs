//! The `butterfly-server` binary as an operator runs it.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly-server"));
    for var in [
        "BUTTERFLY_LISTEN",
        "BUTTERFLY_DATA_DIR",
        "BUTTERFLY_DATABASE_URL",
        "BUTTERFLY_OBJECT_STORE_URL",
        "BUTTERFLY_MASTER_KEY",
        "BUTTERFLY_MASTER_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Start the server on a port the system chooses (`--listen 127.0.0.1:0`) and read
/// the address it prints; with it, every stdout line before that one.
// The caller terminates and waits for the child; a setup failure here fails the test.
#[allow(clippy::zombie_processes)]
fn start(data_dir: &std::path::Path) -> (Child, BufReader<ChildStdout>, SocketAddr, String) {
    let mut child = bin()
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut before = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!(
                "the server exited ({status}) without printing its address; it printed:\n{before}"
            );
        }
        if let Some(address) = line.trim_end().strip_prefix("listening on ") {
            let address: SocketAddr = address.parse().unwrap();
            assert!(address.ip().is_loopback() && address.port() != 0, "{line}");
            return (child, stdout, address, before);
        }
        before.push_str(&line);
    }
}

/// A bare HTTP/1.1 GET, so the test depends on no HTTP client crate.
fn get(address: SocketAddr, path: &str, key: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    child.wait().unwrap()
}

#[test]
fn first_start_prints_a_one_time_key_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _stdout, address, printed) = start(dir.path());
    // The key is printed before the server starts listening.
    let key = printed
        .split_whitespace()
        .find(|w| w.starts_with("bfs_api_"))
        .map(str::to_owned);
    let key = key.expect("the first start prints a super_admin API key");

    assert_eq!(
        get(address, "/healthz", None),
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    assert_eq!(get(address, "/readyz", None).0, 200);
    let (status, body) = get(address, "/api/v1/members", None);
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");
    let (status, body) = get(address, "/api/v1/me", Some(&key));
    assert_eq!(status, 200);
    assert!(body.contains(r#""role":"super_admin""#), "{body}");

    // The key is stored hashed: its text appears in no file of the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{}",
            entry.display()
        );
    }
    assert!(
        terminate(&mut child).success(),
        "SIGTERM shuts down cleanly"
    );

    // A second start keeps the data and prints no new key.
    let (mut child, mut stdout, address, printed) = start(dir.path());
    assert!(!printed.contains("bfs_api_"), "{printed}");
    assert_eq!(get(address, "/api/v1/me", Some(&key)).0, 200);
    assert!(terminate(&mut child).success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("bfs_api_"), "{rest}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn admin_subcommands_print_the_secret_last() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = bin()
            .args(["--data-dir", data])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    let (ok, out, _) = run(&["api-key", "create", "--role", "admin"]);
    assert!(ok);
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("bfs_api_") && last.len() == 40, "{out}");

    let (ok, _, _) = run(&["team", "create", "sales"]);
    assert!(ok);
    let (ok, out, _) = run(&["scim-token", "create", "--team", "sales"]);
    assert!(ok);
    assert!(
        out.lines().last().unwrap().starts_with("bfs_scim_"),
        "{out}"
    );
    let (_, teams, _) = run(&["team", "list"]);
    assert!(
        teams.contains("default") && teams.contains("sales"),
        "{teams}"
    );

    let (ok, _, err) = run(&["api-key", "create", "--role", "admin", "--team", "nope"]);
    assert!(!ok);
    assert!(err.contains("no team named `nope`"), "{err}");
    let (ok, _, err) = run(&["api-key", "create", "--role", "owner"]);
    assert!(!ok);
    assert!(err.contains("owner"), "{err}");
    let (ok, _, err) = run(&["team", "create", "sales"]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn insecure_cookies_are_refused_for_a_public_host() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args([
            "--public-url",
            "https://butterfly.example.com",
            "--insecure-cookies",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-cookies is only allowed"), "{err}");
    let out = bin()
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--public-url",
            "not a url",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --public-url"));
}

/// With `--master-key-file` the key stays outside the data directory (none is created
/// there), and the SQLite database is private to the server's user.
#[cfg(unix)]
#[test]
fn the_master_key_can_live_outside_the_data_directory() {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("secrets").join("master.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key)
        .unwrap();
    writeln!(file, "{}", "ab".repeat(32)).unwrap();
    drop(file);

    let mut child = bin()
        .env("BUTTERFLY_MASTER_KEY_FILE", &key)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("listening on ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the server exited"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!data.join("master.key").exists());
    let mode = std::fs::metadata(data.join("butterfly.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A key file others can read is refused, as in the data directory.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bin()
        .env("BUTTERFLY_MASTER_KEY_FILE", &key)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And so is a malformed key in the environment.
    let out = bin()
        .env("BUTTERFLY_MASTER_KEY", "not-a-key")
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BUTTERFLY_MASTER_KEY is invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
