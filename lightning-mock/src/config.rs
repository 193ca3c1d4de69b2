//! Configuration of a mock server: listening address, auth, timers and initial faults.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::faults::Faults;

/// How a [`crate::Server`] behaves. `Config::default()` listens on an ephemeral port of
/// 127.0.0.1 with worker auth **off** and no run-token key (`x.y.z` tokens), which is what most
/// tests want.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interface to listen on.
    pub host: IpAddr,
    /// Port; 0 picks a free one (see [`crate::ServerHandle::addr`]).
    pub port: u16,
    /// `WORKER_SECRET`: the HS256 key worker tokens must be signed with. Ignored when
    /// [`Config::verify_worker_tokens`] is false.
    pub worker_secret: Option<String>,
    /// Verify the worker token on the socket upgrade (HTTP 401 when wrong or missing). Off is
    /// `--no-auth`.
    pub verify_worker_tokens: bool,
    /// `WORKER_RUNS_PRIVATE_KEY`: base64 of an RSA private key PEM (PKCS#1 or PKCS#8), or the
    /// PEM itself. With it, run tokens are RS256 JWTs verified on `run:<id>` join; without
    /// it, runs are handed the placeholder token `x.y.z` and any token is accepted.
    pub runs_private_key: Option<String>,
    /// A claim whose `run:<id>` channel is not joined within this time is rolled back to the
    /// queue (Lightning's `run_channel_join_timeout_seconds`).
    pub claim_join_timeout: Duration,
    /// Run timeout for plans without `options.run_timeout_ms`.
    pub default_run_timeout_ms: u64,
    /// Grace period added to the run timeout before the janitor marks a run `lost`, and to the
    /// run token's `exp` (`RUN_GRACE_PERIOD_SECONDS`).
    pub lost_grace: Duration,
    /// How often the janitor looks for expired claims and lost runs.
    pub janitor_interval: Duration,
    /// At most one `work-available` push per connection per this window.
    pub work_available_debounce: Duration,
    /// Push `work-available` whenever a run is enqueued (Lightning). When false, only
    /// `POST /run?wakeup=true` pushes (the kit mock).
    pub push_on_enqueue: bool,
    /// Largest WebSocket message accepted; bigger ones close the socket with code 1009.
    pub max_frame_size: usize,
    /// Close sockets that send nothing (not even a heartbeat) for this long, as Phoenix does
    /// (60 s). `None` never closes idle sockets.
    pub idle_timeout: Option<Duration>,
    /// Speak like the kit's TypeScript mock instead of Lightning, to test a worker's tolerance
    /// (docs/protocol.md §1.3): replies as `chan_reply_<ref>`, join responses `"ok"`, `run:start`
    /// replies without `response`, `work-available` with a JSON-string payload, join_ref null
    /// and ref `""`, `fetch:dataclip` as a JSON array of bytes in a text frame, heartbeats
    /// never answered, and a `step:complete` whose output was withheld as too large refused
    /// (`no output_dataclip`).
    pub kit_quirks: bool,
    /// Seed credential `c` and dataclip `d` like the kit mock.
    pub seed: bool,
    /// Keep every run-channel frame a worker sent (event, payload, and whether it was
    /// answered `ok` or `error`) in order, shown as `wire` by `GET /runs/:id`. Off by default:
    /// it holds every payload twice. The worker parity check (`cargo xtask parity`) reads it.
    pub record_wire: bool,
    /// Faults active from the start.
    pub faults: Faults,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            worker_secret: None,
            verify_worker_tokens: false,
            runs_private_key: None,
            claim_join_timeout: Duration::from_secs(30),
            default_run_timeout_ms: 300_000,
            lost_grace: Duration::from_secs(10),
            janitor_interval: Duration::from_secs(1),
            work_available_debounce: Duration::from_millis(500),
            push_on_enqueue: true,
            max_frame_size: 11_000_000,
            idle_timeout: Some(Duration::from_secs(60)),
            kit_quirks: false,
            seed: true,
            record_wire: false,
            faults: Faults::default(),
        }
    }
}
