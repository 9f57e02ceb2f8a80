//! A private PostgreSQL cluster per fixture: `initdb` in a temp dir, `postgres` on a random
//! loopback port, stopped (fast shutdown) when dropped. Never the system service.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::ChildProcess;

/// The superuser the fixture's clusters are created with.
pub const SUPERUSER: &str = "postgres";

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct Postgres {
    server: Option<ChildProcess>,
    /// Loopback port it listens on.
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    settings: Vec<String>,
    // Declared last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

/// Server settings of a test cluster: durability buys nothing and costs seconds.
pub const TEST_SETTINGS: &[&str] = &[
    "fsync=off",
    // Not off: a crash of the server (the soak's RestartPostgres) would then lose commits it
    // acknowledged, which no durable PostgreSQL does; with fsync off it costs a write(2).
    "synchronous_commit=on",
    "full_page_writes=off",
    "max_connections=200",
];

impl Postgres {
    /// Initialises and starts a fresh cluster with [`TEST_SETTINGS`]; panics with the server
    /// log if it cannot.
    pub fn start() -> Postgres {
        Postgres::start_with(TEST_SETTINGS)
    }

    /// Like [`Postgres::start`], with these `name=value` server settings instead (the
    /// benchmark runs one with PostgreSQL's durable defaults).
    pub fn start_with(settings: &[&str]) -> Postgres {
        let bindir = bindir();
        let dir = tempfile::Builder::new()
            .prefix("tsbridge-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root: run it as the `postgres` user the package creates.
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if as_root {
            run(Command::new("chown")
                .arg(format!("{SUPERUSER}:"))
                .arg(dir.path()));
        }
        let command = |program: &str| pg_command(&bindir, program, as_root);
        run(command("initdb").arg("-D").arg(&data).args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]));

        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let settings: Vec<String> = settings.iter().map(ToString::to_string).collect();
            let mut server = ChildProcess::spawn(server_command(dir.path(), port, &settings));
            if wait_ready(&bindir, port, &mut server) {
                return Postgres {
                    server: Some(server),
                    port,
                    url: format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"),
                    settings,
                    dir,
                };
            }
            last_log = server.output();
        }
        panic!(
            "PostgreSQL did not start in {}:\n{last_log}",
            dir.path().display()
        );
    }

    /// Kills the server with SIGKILL and starts it again on the same data and port: a crash
    /// and a restart with crash recovery, as a PostgreSQL restart under load looks to clients.
    pub fn crash_restart(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
        let bindir = bindir();
        // The backends notice the postmaster's death and exit; until then the port is taken.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let mut server =
                ChildProcess::spawn(server_command(self.dir.path(), self.port, &self.settings));
            if wait_ready(&bindir, self.port, &mut server) {
                self.server = Some(server);
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "PostgreSQL did not come back after a crash:\n{}",
                server.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// The URL of another database on this cluster (create it first).
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The data directory, for diagnostics.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // SIGINT is PostgreSQL's fast shutdown: it disconnects clients instead of waiting.
        let _ = Command::new("kill")
            .args(["-INT", &server.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Dropping the child kills it if the fast shutdown did not finish.
    }
}

/// The newest installed PostgreSQL's binaries (Debian layout), else whatever is on PATH.
/// `program` of PostgreSQL, run as the `postgres` user when we are root (it refuses root).
fn pg_command(bindir: &Path, program: &str, as_root: bool) -> Command {
    let binary = bindir.join(program);
    if as_root {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            SUPERUSER,
            "--regid",
            SUPERUSER,
            "--init-groups",
            "--",
        ])
        .arg(binary);
        cmd
    } else {
        Command::new(binary)
    }
}

/// The server of the cluster in `dir` on `port` with `settings`.
fn server_command(dir: &Path, port: u16, settings: &[String]) -> Command {
    let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut cmd = pg_command(&bindir(), "postgres", as_root);
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
        .arg(dir);
    for setting in settings {
        cmd.args(["-c", setting]);
    }
    cmd
}

fn bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("TSBRIDGE_PG_BINDIR") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "PostgreSQL is not installed: run the test command (it installs Debian's postgresql)"
    );
    Path::new(&path)
        .parent()
        .expect("initdb has a parent dir")
        .into()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

fn wait_ready(bindir: &Path, port: u16, server: &mut ChildProcess) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !server.is_running() {
            return false;
        }
        let ready = Command::new(bindir.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn run(cmd: &mut Command) {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
