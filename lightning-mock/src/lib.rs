//! A Lightning stand-in: the Lightning side of the worker protocol over Phoenix channels, a run
//! queue, credential and dataclip stores, a dev HTTP API and a live dashboard, plus fault
//! injection for reliability tests.
//!
//! It behaves like **real Lightning** where the kit's TypeScript mock is sloppy (replies are
//! `phx_reply`, heartbeats are answered, `fetch:dataclip` is a binary reply frame, pushes carry
//! object payloads, worker and run tokens are verified) and keeps the kit mock's developer
//! conveniences (seeded credential `c` and dataclip `d`, a `%TIMEOUT%` credential that is never
//! answered, `x.y.z` run tokens without a key, `POST /run`).
//!
//! Not for production: everything lives in memory.
//!
//! ```no_run
//! # async fn demo() -> Result<(), openfn_lightning_mock::Error> {
//! let mock = openfn_lightning_mock::Server::start(Default::default()).await?;
//! println!("worker socket at {}", mock.ws_url());
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

#![allow(
    clippy::result_large_err,
    reason = "HTTP helpers return a ready axum Response as the error; one per request"
)]

mod channel;
mod collections;
pub mod config;
mod dashboard;
pub mod error;
pub mod faults;
mod history;
mod http;
pub mod keys;
mod plan_check;
mod queue;
mod socket;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use config::Config;
pub use error::{Error, Result};
pub use faults::Faults;
pub use keys::{KeySet, RunTokens, verify_worker_token, worker_token};
pub use queue::{PRIORITY_IMMEDIATE, PRIORITY_NORMAL};
pub use state::{Event, RunStatus};

use state::App;

/// The mock server.
#[derive(Debug)]
pub struct Server;

/// A running mock: its address, an in-process view of its state, and shutdown.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    serve: JoinHandle<()>,
    janitor: JoinHandle<()>,
}

impl Server {
    /// Binds and starts serving in the background (on the current tokio runtime).
    ///
    /// # Errors
    /// [`Error::Bind`] when the address is taken, [`Error::Key`] for an unreadable
    /// `runs_private_key`.
    pub async fn start(config: Config) -> Result<ServerHandle> {
        let tokens = config
            .runs_private_key
            .as_deref()
            .map(RunTokens::from_private_key)
            .transpose()?;
        let addr = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        // Replies go out as soon as they are written: without TCP_NODELAY, Nagle's algorithm
        // holds small frames back ~40 ms behind the peer's delayed ACK, which caps a worker
        // at a few dozen runs a second.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let janitor_interval = config.janitor_interval;
        let app = Arc::new(App::new(config, tokens));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let ctx = socket::Ctx {
            app: app.clone(),
            shutdown: shutdown_rx.clone(),
        };
        let router = http::router(ctx);
        let mut stop = shutdown_rx.clone();
        let serve = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let result = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("server stopped: {e}");
            }
        });
        let janitor_app = app.clone();
        let mut stop = shutdown_rx;
        let janitor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(janitor_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => janitor_app.sweep(std::time::Instant::now()),
                    _ = stop.wait_for(|v| *v) => break,
                }
            }
        });
        tracing::info!(%addr, "lightning-mock listening");
        Ok(ServerHandle {
            addr,
            app,
            shutdown,
            serve,
            janitor,
        })
    }
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The worker's Lightning URL: `ws://<addr>/worker` (the socket is at `/websocket` below).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/worker", self.addr)
    }

    /// The PKCS#1 PEM public key run tokens are signed with, if the mock has a private key.
    pub fn lightning_public_key(&self) -> Option<&str> {
        self.app.tokens.as_ref().map(|t| t.public_pem.as_str())
    }

    /// Enqueues a Lightning plan like `POST /run` (queue and priority from the plan's `queue`
    /// and `priority` fields); returns the run id. Unlike `POST /run` the plan is not
    /// validated (nor short adaptor names expanded): tests hand workers broken plans this way.
    ///
    /// # Errors
    /// A message when the plan is not an object or its id is taken.
    pub fn enqueue_run(&self, plan: Value) -> std::result::Result<String, String> {
        let id = self.app.enqueue(plan, None, None)?;
        if self.app.config.push_on_enqueue {
            self.app.wake_workers();
        }
        Ok(id)
    }

    /// Pushes `work-available` (debounced) to every worker that joined `worker:queue`.
    pub fn wake_workers(&self) {
        self.app.wake_workers();
    }

    /// Waits until the run is `complete` or `lost` and returns it as `GET /runs/:id` shows it;
    /// `None` when it isn't final within `timeout` (or doesn't exist).
    pub async fn wait_for_final(&self, id: &str, timeout: std::time::Duration) -> Option<Value> {
        let mut events = self.app.events.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let run = self.app.run_view(id)?;
            if matches!(run["status"].as_str(), Some("complete" | "lost")) {
                return Some(run);
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return None,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Stores a credential (`fetch:credential` answers with `body`).
    pub fn add_credential(&self, id: &str, body: Value) {
        self.app.add_credential(id.to_owned(), body);
    }

    /// Stores a dataclip (`fetch:dataclip` answers with `body`).
    pub fn add_dataclip(&self, id: &str, body: Value) {
        self.app.add_dataclip(id.to_owned(), body);
    }

    /// A run as `GET /runs/:id` shows it.
    pub fn run(&self, id: &str) -> Option<Value> {
        self.app.run_view(id)
    }

    /// All runs as `GET /runs` shows them.
    pub fn runs(&self) -> Value {
        self.app.runs_view()
    }

    /// Every event: run-channel events and claims (as on `GET /events`), plus dashboard events
    /// ([`Event::public`] false).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.app.events.subscribe()
    }

    /// Applies faults like `POST /faults`.
    pub fn set_faults(&self, faults: &Faults) {
        self.app.faults().apply(faults);
    }

    /// Empties the queue and runs like `POST /reset`.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Stops serving: closes worker sockets with a close frame (code 1001, `server shutting
    /// down`), waits (at most a few seconds) until every socket has sent it, and waits for the
    /// server to stop.
    pub async fn shutdown(self) {
        let mut events = self.app.events.subscribe();
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while !self.app.lock().workers.is_empty() {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => break,
                Ok(_) => {}
            }
        }
        let _ = self.serve.await;
        let _ = self.janitor.await;
    }
}
