//! Helpers the `hpti` binary's integration tests share: running the binary, the
//! fixtures under `testdata/`.

// Each test binary uses its own subset of these.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `hpti` binary built for these tests.
pub fn hpti() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hpti"))
}

/// A current-thread runtime for the async parts of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `command` to its end, with no input.
pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// Its standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Its standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A file under the workspace's `testdata/`-relative `path`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The Cowrie, OpenCanary and auth.log fixtures, by format.
pub const FIXTURES: [(&str, &str); 3] = [
    ("cowrie", "testdata/cowrie/cowrie.json"),
    ("opencanary", "testdata/opencanary/opencanary.log"),
    ("authlog", "testdata/authlog/auth.log"),
];

/// `hpti ingest`s every one of [`FIXTURES`] with `config`, each of which must succeed.
pub fn ingest_fixtures(config: &Path) {
    for (format, file) in FIXTURES {
        let output = run(hpti()
            .arg("--config")
            .arg(config)
            .args(["ingest", "--format", format])
            .arg(fixture(file)));
        assert!(output.status.success(), "{format}: {}", stderr(&output));
    }
}
