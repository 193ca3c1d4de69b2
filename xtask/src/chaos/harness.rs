//! The process harness: builds the binaries, starts `lightning-mock` and `ws-worker` as real
//! processes on free loopback ports with their output in log files, and reads what `/proc` says
//! about them (RSS, peak RSS, open fds, engine children, CPU time).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The secret the mock checks worker tokens with, and the worker signs them with.
const SECRET: &str = "chaos-secret";

/// Paths of the built binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub worker: PathBuf,
    pub mock: PathBuf,
    pub openfn: PathBuf,
    /// `release` or `debug`.
    pub profile: &'static str,
}

/// Builds `ws-worker`, `lightning-mock` and `openfn` (release unless `debug`).
pub fn build(root: &Path, debug: bool) -> Result<Binaries> {
    let profile = if debug { "debug" } else { "release" };
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "openfn-ws-worker",
        "-p",
        "openfn-lightning-mock",
        "-p",
        "openfn-cli",
        "--bins",
    ]);
    if !debug {
        cmd.arg("--release");
    }
    // `cargo xtask` runs us with the package variables of xtask set (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, …). Build scripts that watch them (ring's) would see a change and
    // rebuild half the tree, then again on the next plain `cargo build`: drop them.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key.as_ref());
        }
    }
    println!("== building the binaries ({profile})");
    let status = cmd.status().context("starting cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join(profile);
    let bins = Binaries {
        worker: dir.join("ws-worker"),
        mock: dir.join("lightning-mock"),
        openfn: dir.join("openfn"),
        profile,
    };
    for path in [&bins.worker, &bins.mock, &bins.openfn] {
        if !path.exists() {
            bail!("no binary at {} after the build", path.display());
        }
    }
    Ok(bins)
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr().context("reading the port")?.port())
}

/// One process we started, its output going to `log`.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub pid: u32,
    pub port: u16,
    pub log: PathBuf,
    /// Its exit status, once it exited.
    pub exited: Option<ExitStatus>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, port: u16, log_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id().context("the process has no pid")?;
        Ok(Self {
            name: name.to_owned(),
            child,
            pid,
            port,
            log,
            exited: None,
        })
    }

    /// Whether it is still running (records its exit status when it is not).
    pub fn alive(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exited = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Sends a signal (`TERM`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) -> Result<()> {
        send_signal(self.pid, signal)
    }

    /// Waits for it to exit within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited {
            return Some(status);
        }
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.exited = Some(status);
                Some(status)
            }
            _ => None,
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Sends `signal` to `pid` with kill(1) (the workspace forbids `unsafe`, so no libc::kill).
pub fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed ({status})");
    }
    Ok(())
}

/// Starts the mock on a free port with `extra` flags and waits until `/livez` answers.
pub async fn start_mock(bins: &Binaries, log_dir: &Path, extra: &[String]) -> Result<Proc> {
    let port = free_port()?;
    let mut cmd = Command::new(&bins.mock);
    cmd.env("NO_COLOR", "1")
        .args([
            "--port",
            &port.to_string(),
            "--secret",
            SECRET,
            "--log",
            "info",
        ])
        .args(extra);
    let mut proc = Proc::spawn("mock", cmd, port, log_dir)?;
    wait_http(&mut proc, "/livez", Duration::from_secs(20)).await?;
    Ok(proc)
}

/// Starts a worker named `name` against the mock on `mock_port` with `extra` flags. Waits
/// until its HTTP server answers `/livez` (not `/readyz`: some scenarios start it while the
/// mock refuses connections).
pub async fn start_worker(
    bins: &Binaries,
    log_dir: &Path,
    name: &str,
    mock_port: u16,
    extra: &[String],
) -> Result<Proc> {
    let port = free_port()?;
    let repo = log_dir.join(format!("{name}-repo"));
    let mut cmd = Command::new(&bins.worker);
    cmd.arg(format!("-l ws://127.0.0.1:{mock_port}/worker"))
        .args([
            "--port",
            &port.to_string(),
            "--backoff",
            "0.05/1",
            "--log",
            "info",
        ])
        .arg(format!("--repo-dir={}", repo.display()))
        .args(extra)
        .env("WORKER_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .env("WORKER_NAME", name)
        .env_remove("WORKER_LIGHTNING_SERVICE_URL");
    let mut proc = Proc::spawn(name, cmd, port, log_dir)?;
    wait_http(&mut proc, "/livez", Duration::from_secs(20)).await?;
    Ok(proc)
}

/// Waits until `GET <path>` on the process answers 200.
pub async fn wait_http(proc: &mut Proc, path: &str, within: Duration) -> Result<()> {
    let url = format!("http://127.0.0.1:{}{path}", proc.port);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")?;
    let deadline = Instant::now() + within;
    loop {
        if let Ok(resp) = client.get(&url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if !proc.alive() {
            bail!(
                "{} exited ({:?}) before {path} answered; log {}",
                proc.name,
                proc.exited,
                proc.log.display()
            );
        }
        if Instant::now() >= deadline {
            bail!("{}: {url} did not answer 200 within {within:?}", proc.name);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Resident set size in kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS")
}

/// Peak resident set size (high-water mark) in kB.
pub fn hwm_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM")
}

/// Number of open file descriptors.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// `(pid, ppid, utime + stime in ticks)` of every process, from `/proc/*/stat`.
fn all_stats() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parens: fields start after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
            let ppid = fields.get(1)?.parse().ok()?;
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((pid, ppid, utime + stime))
        })
        .collect()
}

/// Every descendant of `pid` (children, their children…) with its CPU time in ticks: a run
/// forked from a warm template is the template's child, not the worker's.
pub fn descendants(pid: u32) -> Vec<(u32, u64)> {
    let stats = all_stats();
    let mut found: Vec<(u32, u64)> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (child, ppid, cpu) in &stats {
            if *ppid == parent && !found.iter().any(|(p, _)| p == child) {
                found.push((*child, *cpu));
                frontier.push(*child);
            }
        }
    }
    found
}

/// RSS of `pid` sampled until it is within `tolerance` of `target_kb` or `within` passes;
/// returns the value that met the target, else the smallest seen. Memory is given back to
/// the OS asynchronously (allocator trims, freed arenas), so this waits on the condition.
pub async fn settled_rss(pid: u32, target_kb: u64, tolerance: f64, within: Duration) -> u64 {
    let limit = (target_kb as f64 * (1.0 + tolerance)) as u64;
    let deadline = Instant::now() + within;
    let mut least = u64::MAX;
    loop {
        let now = rss_kb(pid).unwrap_or(u64::MAX);
        least = least.min(now);
        if now <= limit || Instant::now() >= deadline {
            return if now <= limit { now } else { least };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Open fds of `pid` sampled until at most `target` or `within` passes; the last value read
/// (children being retired and respawned hold pipes for a moment after a run).
pub async fn settled_fds(pid: u32, target: usize, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        let now = open_fds(pid)?;
        if now <= target || Instant::now() >= deadline {
            return Some(now);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
