//! A TCP proxy for fault injection: listens on `127.0.0.1:0`, forwards every connection to a
//! target, and is switched at runtime between the ways a real link fails.
//!
//! ```ignore
//! let proxy = Proxy::start(mp_addr).await;
//! // point the agent at proxy.url("http")
//! proxy.set(Mode::BlackHole);            // packets held: nothing moves, nothing closes
//! proxy.set(Mode::Pass);                 // the link heals
//! proxy.set(Mode::Cut);                  // every connection reset (RST), new ones too
//! proxy.set(Mode::slow(16 * 1024));      // 16 KiB/s each way
//! ```
//!
//! * [`Mode::Pass`] forwards both ways.
//! * [`Mode::Cut`] resets every open connection (`SO_LINGER` 0, so the peers see an RST) and
//!   resets new ones as they are accepted, until the mode changes.
//! * [`Mode::BlackHole`] stops reading and writing on both sides without closing anything: the
//!   peers' writes fill the socket buffers and go unanswered, as behind a firewall that drops
//!   packets. A connection accepted meanwhile is held, and dialled to the target only once the
//!   link passes again. Whatever was held moves on when the mode returns to `Pass`.
//! * [`Mode::Slow`] delays each chunk by `latency` and throttles each direction to
//!   `bytes_per_sec`: bytes still move, slowly.
//!
//! Every connection runs in the proxy's own tasks, which end when the [`Proxy`] drops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;

/// How the link behaves (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Reset every connection, open or new.
    Cut,
    /// Hold every packet; close nothing.
    BlackHole,
    /// Forward each chunk after `latency`, at most `bytes_per_sec` each way.
    Slow {
        /// Delay of each chunk.
        latency: Duration,
        /// Throughput of each direction.
        bytes_per_sec: u64,
    },
}

impl Mode {
    /// [`Mode::Slow`] at `bytes_per_sec` with no added latency.
    pub fn slow(bytes_per_sec: u64) -> Mode {
        Mode::Slow {
            latency: Duration::ZERO,
            bytes_per_sec,
        }
    }
}

/// What the proxy has done so far.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    forwarded: AtomicU64,
}

/// A running proxy; its tasks end when it drops.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    tasks: JoinSet<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (a loopback address), in
    /// [`Mode::Pass`].
    pub async fn start(target: SocketAddr) -> Proxy {
        assert!(
            target.ip().is_loopback(),
            "{target}: tests dial loopback only"
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode::Pass);
        let counters = Arc::new(Counters::default());
        let mut tasks = JoinSet::new();
        let modes = mode.clone();
        let accepted = counters.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                accepted.accepted.fetch_add(1, Ordering::Relaxed);
                connections.spawn(connection(
                    client,
                    target,
                    modes.subscribe(),
                    accepted.clone(),
                ));
                // Reap what has ended, so a long soak does not pile up finished tasks.
                while connections.try_join_next().is_some() {}
            }
        });
        Proxy {
            addr,
            target,
            mode,
            counters,
            tasks,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `scheme://127.0.0.1:PORT` of the proxy.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Where it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Switches every connection, open or new, to `mode`.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Bytes forwarded so far, both ways.
    pub fn forwarded(&self) -> u64 {
        self.counters.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Waits until the mode lets bytes through and returns it, or `None` on a cut.
async fn passing(mode: &mut watch::Receiver<Mode>) -> Option<Mode> {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Cut => return None,
            Mode::BlackHole => {
                if mode.changed().await.is_err() {
                    return None;
                }
            }
            Mode::Pass | Mode::Slow { .. } => return Some(current),
        }
    }
}

/// Resolves when the mode becomes [`Mode::Cut`].
async fn cut(mode: &mut watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() == Mode::Cut || mode.changed().await.is_err() {
            return;
        }
    }
}

/// Closes `stream` with an RST instead of a FIN.
fn reset(stream: &TcpStream) {
    // SO_LINGER 0 makes close send an RST at once; it only blocks on drop for a non-zero value.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// One client connection: dialled once the link passes, then pumped both ways until both
/// directions end or the link is cut.
async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
) {
    // A connection accepted in a black hole is held: nothing reaches the target yet.
    if passing(&mut mode).await.is_none() {
        reset(&client);
        return;
    }
    let Ok(upstream) = TcpStream::connect(target).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let (up, down) = tokio::join!(
        pump(
            &mut client_read,
            &mut upstream_write,
            mode.clone(),
            &counters
        ),
        pump(
            &mut upstream_read,
            &mut client_write,
            mode.clone(),
            &counters
        ),
    );
    if up == End::Cut || down == End::Cut {
        // Whole streams: a write half that drops alone sends a FIN first.
        for (read, write) in [(client_read, client_write), (upstream_read, upstream_write)] {
            if let Ok(stream) = read.reunite(write) {
                reset(&stream);
            }
        }
    }
}

/// How one direction ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Its reader reached EOF or failed: the writer was shut down (FIN), the other direction
    /// goes on.
    Closed,
    /// The link was cut.
    Cut,
}

/// Copies `from` to `to` as the mode allows.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    counters: &Counters,
) -> End {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let Some(current) = passing(&mut mode).await else {
            return End::Cut;
        };
        let limit = match current {
            // About ten chunks a second at the set rate.
            Mode::Slow { bytes_per_sec, .. } => {
                usize::try_from(bytes_per_sec / 10).map_or(CHUNK, |n| n.clamp(1, CHUNK))
            }
            _ => CHUNK,
        };
        let read = tokio::select! {
            read = from.read(&mut buf[..limit]) => read,
            // A black hole stops reading at once; a cut ends the connection.
            changed = mode.changed() => {
                if changed.is_err() {
                    return End::Cut;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return End::Closed;
            }
            Ok(n) => n,
        };
        // What was read before a black hole moves on only once the link passes again.
        let Some(current) = passing(&mut mode).await else {
            return End::Cut;
        };
        if let Mode::Slow {
            latency,
            bytes_per_sec,
        } = current
        {
            let throttle = Duration::from_secs_f64(n as f64 / bytes_per_sec.max(1) as f64);
            tokio::select! {
                () = tokio::time::sleep(latency + throttle) => {}
                () = cut(&mut mode) => return End::Cut,
            }
        }
        tokio::select! {
            written = to.write_all(&buf[..n]) => {
                if written.is_err() {
                    return End::Closed;
                }
            }
            () = cut(&mut mode) => return End::Cut,
        }
        counters
            .forwarded
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback: writes back whatever it reads.
    async fn echo() -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = tcp.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        (addr, task)
    }

    async fn roundtrip(tcp: &mut TcpStream, payload: &[u8], within: Duration) -> Option<Vec<u8>> {
        tcp.write_all(payload).await.ok()?;
        let mut back = vec![0u8; payload.len()];
        tokio::time::timeout(within, tcp.read_exact(&mut back))
            .await
            .ok()?
            .ok()?;
        Some(back)
    }

    #[tokio::test]
    async fn pass_forwards_a_black_hole_holds_and_releases_and_a_cut_resets() {
        let (target, _echo) = echo().await;
        let proxy = Proxy::start(target).await;
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let second = Duration::from_secs(1);
        assert_eq!(
            roundtrip(&mut tcp, b"hello", second).await.as_deref(),
            Some(&b"hello"[..])
        );

        proxy.set(Mode::BlackHole);
        // Nothing comes back, and nothing is closed.
        assert_eq!(roundtrip(&mut tcp, b"held", second).await, None);
        proxy.set(Mode::Pass);
        let mut back = [0u8; 4];
        tokio::time::timeout(second, tcp.read_exact(&mut back))
            .await
            .expect("the held bytes arrive once the link passes")
            .expect("read");
        assert_eq!(&back, b"held");

        proxy.set(Mode::Cut);
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(second, tcp.read(&mut buf))
            .await
            .expect("a cut ends the connection at once");
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "an RST, not a FIN: {read:?}"
        );
        // New connections are reset too while cut.
        let mut fresh = TcpStream::connect(proxy.addr()).await.expect("accepted");
        assert_eq!(roundtrip(&mut fresh, b"x", second).await, None);
        proxy.set(Mode::Pass);
        let mut healed = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(
            roundtrip(&mut healed, b"again", second).await.as_deref(),
            Some(&b"again"[..])
        );
        assert!(proxy.accepted() >= 3);
    }

    #[tokio::test]
    async fn slow_moves_every_byte_at_the_set_rate() {
        let (target, _echo) = echo().await;
        let proxy = Proxy::start(target).await;
        proxy.set(Mode::slow(20 * 1024));
        let mut tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
        let payload = vec![7u8; 10 * 1024];
        let started = std::time::Instant::now();
        let back = roundtrip(&mut tcp, &payload, Duration::from_secs(10))
            .await
            .expect("every byte arrives");
        assert_eq!(back, payload);
        // 10 KiB each way at 20 KiB/s: about half a second per direction, never instant.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(proxy.forwarded(), 2 * payload.len() as u64);
    }
}
