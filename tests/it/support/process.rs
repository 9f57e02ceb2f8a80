//! The `tsbridge` binary as a child process that is always killed when the test ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running child process; killed (and reaped) on drop, pass or fail.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl ChildProcess {
    /// Starts `tsbridge ARGS...` with extra environment variables; output goes to a log file
    /// that is printed when the process is dropped during a panic.
    pub fn tsbridge<I, S>(args: I, envs: &[(&str, &str)]) -> ChildProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        // Profiling: `TSBRIDGE_HEAPTRACK=FILE` runs product processes under heaptrack
        // (BENCHMARKS.md shows how the fan-out's memory was found this way). Killing the
        // wrapper leaves the server running: profiling runs clean up after themselves.
        let mut cmd = match std::env::var("TSBRIDGE_HEAPTRACK") {
            Ok(out) => {
                let mut c = Command::new("heaptrack");
                c.args(["-o", &out, env!("CARGO_BIN_EXE_tsbridge")]);
                c
            }
            Err(_) => Command::new(env!("CARGO_BIN_EXE_tsbridge")),
        };
        cmd.args(args);
        // Never let a product process find in-cluster config: tests dial 127.0.0.1 only.
        cmd.env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        for (key, value) in envs {
            cmd.env(key, value);
        }
        ChildProcess::spawn(cmd)
    }

    /// Starts any command with its output captured to a log file.
    pub fn spawn(mut cmd: Command) -> ChildProcess {
        let log_dir = tempfile::tempdir().expect("temp dir for the child's log");
        let log = log_dir.path().join("output.log");
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        ChildProcess {
            child,
            log,
            _log_dir: log_dir,
        }
    }

    /// The child's PID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills it with SIGKILL (no shutdown path at all) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- output of {:?} ---\n{}", self.log, self.output());
        }
    }
}
