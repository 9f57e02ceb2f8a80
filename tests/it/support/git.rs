//! A Git server on 127.0.0.1 for Flux's source-controller: Git's own smart-HTTP CGI program
//! (`git http-backend`) behind a small axum server, serving one bare repository that the test
//! changes through a working clone (commit, then push), the way a platform team would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::io::AsyncWriteExt;

/// A running Git server with one repository, `fleet.git`.
pub struct GitServer {
    /// Clone URL of the repository (`http://127.0.0.1:PORT/fleet.git`).
    pub url: String,
    work: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl GitServer {
    /// Creates an empty repository and starts serving it on a free loopback port.
    pub async fn start() -> GitServer {
        let dir = tempfile::tempdir().expect("temp dir for the Git server");
        let root = dir.path().join("srv");
        std::fs::create_dir_all(&root).expect("server root");
        git(
            &root,
            &["init", "--quiet", "--bare", "-b", "main", "fleet.git"],
        );
        let work = dir.path().join("work");
        git(dir.path(), &["init", "--quiet", "-b", "main", "work"]);
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                root.join("fleet.git").to_str().expect("UTF-8"),
            ],
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the Git server");
        let port = listener.local_addr().expect("bound address").port();
        let app = Router::new().fallback(backend).with_state(root);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("git server: {e}");
            }
        });
        let url = format!("http://127.0.0.1:{port}/fleet.git");
        super::assert_loopback(&url);
        GitServer {
            url,
            work,
            task,
            _dir: dir,
        }
    }

    /// Writes `content` to `path` (relative to the repository root) in the working clone.
    pub fn write(&self, path: &str, content: &str) {
        let file = self.work.join(path);
        std::fs::create_dir_all(file.parent().expect("a file in a directory")).expect("mkdir");
        std::fs::write(&file, content).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }

    /// Removes `path` from the working clone.
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.join(path))
            .unwrap_or_else(|e| panic!("removing {path}: {e}"));
    }

    /// Commits every change with `message` and pushes it; returns the commit's hash.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "--all"]);
        git(
            &self.work,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        );
        git(&self.work, &["push", "--quiet", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"]).trim().to_string()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `git ARGS` in `dir` with a fixed identity; panics with its output when it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "platform team")
        .env("GIT_AUTHOR_EMAIL", "platform@example.com")
        .env("GIT_COMMITTER_NAME", "platform team")
        .env("GIT_COMMITTER_EMAIL", "platform@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One request through `git http-backend` (CGI/1.1: request in the environment and on stdin,
/// response headers, a blank line and the body on stdout).
async fn backend(
    State(root): State<PathBuf>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut child = match tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return error(format!("starting git http-backend: {e}")),
    };
    // Fed from a task: a large request body must not block reading the response.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = match child.wait_with_output().await {
        Ok(output) => output,
        Err(e) => return error(format!("git http-backend: {e}")),
    };
    let _ = feed.await;
    cgi_response(&output.stdout).unwrap_or_else(|| error("git http-backend: no CGI headers".into()))
}

/// The HTTP response of a CGI program's output.
fn cgi_response(stdout: &[u8]) -> Option<Response> {
    let (head, body) = split_head(stdout)?;
    let mut response = Response::builder();
    for line in std::str::from_utf8(head).ok()?.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse().ok()?;
            response = response.status(StatusCode::from_u16(code).ok()?);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response.body(Body::from(body.to_vec())).ok()
}

/// Splits CGI output at the first blank line (`\r\n\r\n` or `\n\n`).
fn split_head(out: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let lf = out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let (at, len) = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some((&out[..at], &out[at + len..]))
}

fn error(message: String) -> Response {
    eprintln!("{message}");
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .body(Body::from(message))
        .expect("a plain response")
}

#[test]
fn cgi_output_becomes_a_response() {
    let response = cgi_response(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
        .expect("parses");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let response = cgi_response(b"Content-Type: application/x-git\n\nPACK").expect("parses");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(cgi_response(b"no blank line").is_none());
}
