//! Fan-out to many clusters: N simulated agents (`tests/it/support/sim_agent.rs`, the real sync
//! protocol, no apiserver) against the real release `tsbridge server`, on SQLite and on
//! PostgreSQL. Config is written through the API first (a traffic group selecting `*/app`, a
//! TrafficSetting and ServiceRoutes: about `TSBRIDGE_BENCH_OBJECTS` generated objects per
//! cluster), then all agents connect at once. Measured:
//!
//! * the initial sync: from connecting until every agent has acknowledged the full set;
//! * `TSBRIDGE_BENCH_CHANGES` single changes that affect every cluster (the TrafficSetting's
//!   reachability: a new Sidecar everywhere), each from the API call until all N agents have
//!   acknowledged a revision carrying it (p50, p99, max);
//! * the MP's RSS (VmRSS and its peak VmHWM, `/proc/<pid>/status`) and CPU time
//!   (`/proc/<pid>/stat`) before the agents, after the initial sync and at the end.
//!
//! Exits non-zero when a target of issue 16 is missed, naming it: one change acknowledged
//! everywhere p99 ≤ 1 s, MP peak RSS ≤ 500 MB, initial sync ≤ 60 s (set for 1,000 agents ×
//! 1,000 objects on one replica).
//!
//! Run: `cargo bench --bench fanout`. Settings (environment): `TSBRIDGE_BENCH_AGENTS` (1000),
//! `TSBRIDGE_BENCH_OBJECTS` (1000), `TSBRIDGE_BENCH_CHANGES` (50),
//! `TSBRIDGE_BENCH_STORES` (`sqlite,postgres`), `TSBRIDGE_BENCH_AGENTS_PER_CONNECTION` (1, as
//! real agents; more share one HTTP/2 connection, one stream each: at 1,000 agents × 50 per
//! connection a share of them never got their full set, see `BENCHMARKS.md`).

#[allow(unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use support::fanout::{
    APP_NS, config, expected_objects, marker, register_all, traffic_setting, write_all,
    write_config,
};
use support::mp::Mp;
use support::postgres::Postgres;
use support::sim_agent::{Acked, SimAgent, channels, spawn_fleet};

/// Issue 16's targets.
const TARGET_CHANGE_P99: Duration = Duration::from_secs(1);
const TARGET_RSS_BYTES: u64 = 500 * 1000 * 1000;
const TARGET_INITIAL_SYNC: Duration = Duration::from_secs(60);

/// Give up on a phase after this long (a miss, reported as such).
const INITIAL_SYNC_LIMIT: Duration = Duration::from_secs(600);
const CHANGE_LIMIT: Duration = Duration::from_secs(120);
/// Between changes: changes come one at a time, not as a burst.
const CHANGE_GAP: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        }
    }
}

#[derive(Debug)]
struct Settings {
    agents: usize,
    objects: usize,
    changes: usize,
    stores: Vec<Store>,
    per_connection: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .replace([',', '_'], "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let stores = std::env::var("TSBRIDGE_BENCH_STORES")
            .unwrap_or_else(|_| "sqlite,postgres".into())
            .split(',')
            .map(|s| match s.trim() {
                "sqlite" => Store::Sqlite,
                "postgres" | "postgresql" => Store::Postgres,
                other => panic!("TSBRIDGE_BENCH_STORES: unknown store {other:?}"),
            })
            .collect();
        Settings {
            agents: env_number("TSBRIDGE_BENCH_AGENTS", 1000).max(1),
            objects: env_number("TSBRIDGE_BENCH_OBJECTS", 1000),
            changes: env_number("TSBRIDGE_BENCH_CHANGES", 50).max(1),
            stores,
            per_connection: env_number("TSBRIDGE_BENCH_AGENTS_PER_CONNECTION", 1).max(1),
        }
    }
}

/// One look at the MP process.
#[derive(Debug, Clone, Copy, Default)]
struct ProcessSample {
    rss: u64,
    peak: u64,
    cpu: Duration,
}

/// `VmRSS`/`VmHWM` (bytes) and user+system CPU time of `pid`.
fn sample(pid: u32, ticks_per_second: u64) -> ProcessSample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or_default()
            * 1024
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the first, utime the
    // 12th and stime the 13th (proc(5) fields 14 and 15).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or_default())
        .collect();
    let ticks =
        fields.get(11).copied().unwrap_or_default() + fields.get(12).copied().unwrap_or_default();
    ProcessSample {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
        cpu: Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64),
    }
}

fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Fails early, with the fix, when the open-file limit cannot hold the connections (the MP
/// inherits this process's limit).
fn check_open_files(connections: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok());
    if let Some(soft) = soft {
        assert!(
            connections + 512 <= soft,
            "{connections} connections need more open files than the limit {soft}: raise it \
             (`ulimit -n`) or TSBRIDGE_BENCH_AGENTS_PER_CONNECTION"
        );
    }
}

#[derive(Debug)]
struct Figures {
    store: &'static str,
    agents: usize,
    objects: usize,
    config_write: Duration,
    registration: Duration,
    /// `Err`: not every agent had the full set within the limit (how many had it).
    initial_sync: Result<Duration, usize>,
    /// Sorted latencies of the changes that every agent acknowledged.
    changes: Vec<Duration>,
    /// The slowest changes, (change number, latency), slowest first.
    slowest: Vec<(usize, Duration)>,
    /// A change that not every agent acknowledged within the limit: (change, how many did).
    change_stuck: Option<(usize, usize)>,
    before_agents: ProcessSample,
    after_sync: ProcessSample,
    end: ProcessSample,
    /// CPU time of this process (the simulated agents) from connecting to the end.
    agents_cpu: Duration,
    sessions: u64,
    /// The host's 1-minute load average at the start and the end (other work shares the host).
    load: (f64, f64),
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or_default()
}

fn quantile(sorted: &[Duration], q: usize) -> Option<Duration> {
    (!sorted.is_empty()).then(|| sorted[(sorted.len() * q / 100).min(sorted.len() - 1)])
}

async fn run(store: Store, settings: &Settings) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = (store == Store::Postgres).then(Postgres::start);
    let url = match &postgres {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite:{}", dir.path().join("mp.db").display()),
    };
    let mp = Mp::start(&url, dir.path(), &["--log-level", "warn"]).await;
    let pid = mp.process.id();
    let ticks = ticks_per_second();
    let api = mp.clients(&mp.token).await;
    let routes = settings.objects / 2;
    let mut figures = Figures {
        store: store.name(),
        agents: settings.agents,
        objects: 0,
        config_write: Duration::ZERO,
        registration: Duration::ZERO,
        initial_sync: Err(0),
        changes: Vec::new(),
        slowest: Vec::new(),
        change_stuck: None,
        before_agents: ProcessSample::default(),
        after_sync: ProcessSample::default(),
        end: ProcessSample::default(),
        agents_cpu: Duration::ZERO,
        sessions: 0,
        load: (load_average(), 0.0),
    };

    let started = Instant::now();
    write_config(&api, routes).await;
    figures.config_write = started.elapsed();
    let names: Vec<String> = (0..settings.agents).map(|i| format!("sim-{i}")).collect();
    let started = Instant::now();
    register_all(&api, &names, 8).await;
    figures.registration = started.elapsed();
    let expected = expected_objects(&names[0], &config(routes), &[APP_NS.to_string()]).len();
    figures.objects = expected;
    let connections = settings.agents.div_ceil(settings.per_connection);
    check_open_files(connections);
    let channels = channels(&mp.url, connections).await;
    eprintln!(
        "{}: {routes} ServiceRoutes written in {:.1} s, {} clusters registered in {:.1} s; \
         connecting {} agents over {connections} connections",
        store.name(),
        figures.config_write.as_secs_f64(),
        settings.agents,
        figures.registration.as_secs_f64(),
        settings.agents
    );
    figures.before_agents = sample(pid, ticks);
    let own = sample(std::process::id(), ticks).cpu;

    // Initial sync: every agent connects at once; done when each holds the whole set.
    let (marker_tx, marker_rx) = watch::channel(None);
    let (acked_tx, mut acked) = mpsc::channel::<Acked>((settings.agents * 4).max(4096));
    let started = Instant::now();
    let namespaces = [APP_NS.to_string(), "default".to_string()];
    let agents = spawn_fleet(
        &channels,
        &mp.token,
        &names,
        &namespaces,
        &marker_rx,
        &acked_tx,
    );
    let mut synced = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + INITIAL_SYNC_LIMIT;
    while synced.len() < settings.agents {
        match tokio::time::timeout_at(deadline, acked.recv()).await {
            Ok(Some(ack)) if ack.objects >= expected => {
                synced.insert(ack.agent);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    figures.after_sync = sample(pid, ticks);
    if synced.len() < settings.agents {
        figures.initial_sync = Err(synced.len());
        let welcomed = agents.iter().filter(|a| a.welcomes() > 0).count();
        let acked_any = agents.iter().filter(|a| a.held().acks > 0).count();
        let failed = agents.iter().filter(|a| !a.last_error().is_empty()).count();
        eprintln!(
            "{}: stuck agents: {welcomed} of {} welcomed, {acked_any} acknowledged a revision, \
             {} have the full set, {failed} saw their stream fail",
            store.name(),
            settings.agents,
            synced.len()
        );
    } else {
        figures.initial_sync = Ok(started.elapsed());
    }
    eprintln!(
        "{}: initial sync {}",
        store.name(),
        match figures.initial_sync {
            Ok(took) => format!("{:.1} s", took.as_secs_f64()),
            Err(done) => format!("stuck: {done} of {} agents", settings.agents),
        }
    );

    // Changes, one at a time.
    if figures.initial_sync.is_ok() {
        for n in 1..=settings.changes {
            tokio::time::sleep(CHANGE_GAP).await;
            while acked.try_recv().is_ok() {}
            marker_tx.send_replace(Some(marker(n)));
            let started = Instant::now();
            write_all(&api, &[traffic_setting(n)], 1).await;
            let mut reached = BTreeSet::new();
            let mut last = started;
            let deadline = tokio::time::Instant::now() + CHANGE_LIMIT;
            while reached.len() < settings.agents {
                match tokio::time::timeout_at(deadline, acked.recv()).await {
                    Ok(Some(ack)) if ack.marked => {
                        reached.insert(ack.agent);
                        last = last.max(ack.at);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            if reached.len() < settings.agents {
                figures.change_stuck = Some((n, reached.len()));
                break;
            }
            figures.slowest.push((n, last.duration_since(started)));
        }
        figures.changes = figures.slowest.iter().map(|(_, took)| *took).collect();
        figures.changes.sort();
        figures
            .slowest
            .sort_by_key(|(_, took)| std::cmp::Reverse(*took));
        figures.slowest.truncate(3);
    }
    figures.end = sample(pid, ticks);
    figures.agents_cpu = sample(std::process::id(), ticks).cpu.saturating_sub(own);
    figures.load.1 = load_average();
    figures.sessions = agents.iter().map(SimAgent::sessions).sum();
    drop(agents);
    drop(mp);
    drop(postgres);
    figures
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
}

/// Prints the table; returns the missed targets.
fn report(settings: &Settings, all: &[Figures]) -> Vec<String> {
    println!(
        "\nfan-out: {} simulated agents ({} per connection), {} changes",
        settings.agents, settings.per_connection, settings.changes
    );
    println!(
        "{:<9} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>11} {:>17} {:>17} {:>9} {:>9} {:>8}",
        "store",
        "objects",
        "config",
        "initial",
        "p50",
        "p99",
        "max",
        "RSS before",
        "RSS sync (peak)",
        "RSS end (peak)",
        "CPU sync",
        "CPU chg",
        "streams",
    );
    let mut missed = Vec::new();
    for f in all {
        let initial = match f.initial_sync {
            Ok(took) => format!("{:.1} s", took.as_secs_f64()),
            Err(done) => format!("{done}/{} ok", f.agents),
        };
        println!(
            "{:<9} {:>8} {:>7.1}s {:>9} {:>8} {:>8} {:>8} {:>11} {:>17} {:>17} {:>8.1}s {:>8.1}s {:>8}",
            f.store,
            f.objects,
            f.config_write.as_secs_f64(),
            initial,
            ms(quantile(&f.changes, 50)),
            ms(quantile(&f.changes, 99)),
            ms(f.changes.last().copied()),
            mb(f.before_agents.rss),
            format!("{} ({})", mb(f.after_sync.rss), mb(f.after_sync.peak)),
            format!("{} ({})", mb(f.end.rss), mb(f.end.peak)),
            (f.after_sync.cpu.saturating_sub(f.before_agents.cpu)).as_secs_f64(),
            (f.end.cpu.saturating_sub(f.after_sync.cpu)).as_secs_f64(),
            f.sessions,
        );
        match f.initial_sync {
            Ok(took) if took > TARGET_INITIAL_SYNC => missed.push(format!(
                "{}: initial sync {:.1} s > {} s",
                f.store,
                took.as_secs_f64(),
                TARGET_INITIAL_SYNC.as_secs()
            )),
            Ok(_) => {}
            Err(done) => missed.push(format!(
                "{}: initial sync not done after {} s ({done} of {} agents had the full set)",
                f.store,
                INITIAL_SYNC_LIMIT.as_secs(),
                f.agents
            )),
        }
        if let Some((n, done)) = f.change_stuck {
            missed.push(format!(
                "{}: change {n} acknowledged by {done} of {} agents after {} s",
                f.store,
                f.agents,
                CHANGE_LIMIT.as_secs()
            ));
        }
        if let Some(p99) = quantile(&f.changes, 99)
            && p99 > TARGET_CHANGE_P99
        {
            missed.push(format!(
                "{}: one change acknowledged everywhere p99 {} > {} ms",
                f.store,
                ms(Some(p99)),
                TARGET_CHANGE_P99.as_millis()
            ));
        }
        let peak = f.end.peak.max(f.after_sync.peak);
        if peak > TARGET_RSS_BYTES {
            missed.push(format!(
                "{}: MP peak RSS {} > {}",
                f.store,
                mb(peak),
                mb(TARGET_RSS_BYTES)
            ));
        }
        println!(
            "  {}: agents' CPU (this process) {:.1} s; host load average {:.1} at start, {:.1} at end",
            f.store,
            f.agents_cpu.as_secs_f64(),
            f.load.0,
            f.load.1
        );
        let slowest: Vec<String> = f
            .slowest
            .iter()
            .map(|(n, took)| format!("#{n} {}", ms(Some(*took))))
            .collect();
        println!("  {}: slowest changes {}", f.store, slowest.join(", "));
        if f.sessions > f.agents as u64 {
            println!(
                "  note: {} streams opened for {} agents (some reconnected)",
                f.sessions, f.agents
            );
        }
    }
    println!(
        "targets (issue 16, for 1,000 agents × 1,000 objects): change p99 ≤ {} ms, MP peak RSS ≤ {}, \
         initial sync ≤ {} s",
        TARGET_CHANGE_P99.as_millis(),
        mb(TARGET_RSS_BYTES),
        TARGET_INITIAL_SYNC.as_secs()
    );
    missed
}

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let all: Vec<Figures> = runtime.block_on(async {
        let mut all = Vec::new();
        for store in &settings.stores {
            all.push(run(*store, &settings).await);
        }
        all
    });
    drop(runtime);
    let missed = report(&settings, &all);
    if !missed.is_empty() {
        for miss in &missed {
            println!("MISSED: {miss}");
        }
        std::process::exit(1);
    }
}
