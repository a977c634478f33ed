//! `butterfly ... | head`: when the reader closes the pipe, the CLI stops quietly, with
//! status 0 and no panic message, as Unix tools do.

// Test helpers outside #[test] functions may panic too: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

use butterfly_server::app::{bootstrap, build_router, open_state};
use butterfly_server::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(&Config::for_data_dir(dir.path())).await.unwrap();
    let (_, key) = bootstrap(&state).await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, build_router(state)).await });

    for args in [
        &["members", "list"][..],
        &["--output", "json", "api-keys", "list"],
    ] {
        // The read end is closed before the CLI starts, so its first write to stdout
        // fails, every time: no race with a reader that closes "early enough".
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_butterfly"));
        cmd.env("BUTTERFLY_SERVER", &url)
            .env("BUTTERFLY_API_KEY", key.secret())
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}
