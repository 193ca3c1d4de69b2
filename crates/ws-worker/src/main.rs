//! The `ws-worker` binary: parses options, binds the HTTP port, connects to Lightning, and on
//! SIGTERM/SIGINT drains active runs before exiting 0.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use openfn_ws_worker::config::{Args, Config};
use openfn_ws_worker::engine::EngineExecutor;
use openfn_ws_worker::executor::{Executor, MockExecutor};
use openfn_ws_worker::{collections, http, logging, worker::Worker};

/// Prints one line to stderr; a closed stderr is no reason to panic.
fn report(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "error: {text}");
}

fn main() {
    // The engine's children are this same binary started with a hidden flag.
    openfn_engine::child::maybe_run_child();
    // Large buffers (dataclips, states) go back to the OS when freed (see `memory`).
    openfn_ws_worker::memory::configure();
    // Usage errors exit 2 on stderr; `--help` and `--version` exit 0 on stdout (clap's rules).
    let args = Args::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    // Configuration that can never work exits 1 with one line saying how to fix it.
    let config = match Config::resolve(args, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            report(e);
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // A final state arrives as a `Value` as deep as the job made it (QuickJS serialises
        // some 25,000 levels); serialising and dropping it recurse once per level.
        .thread_stack_size(32 * 1024 * 1024)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report(format_args!("cannot start the async runtime: {e}"));
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async_main(config)).unwrap_or_else(|e| {
        report(format_args!("{e:#}"));
        1
    });
    std::process::exit(code);
}

/// Settings that name files or keys, checked before anything starts: a worker that could never
/// connect or verify a run token stops here with exit 1 instead of retrying forever.
fn preflight(config: &Config) -> anyhow::Result<()> {
    if let Some(key) = &config.lightning_public_key {
        openfn_ws_worker::auth::RunTokenVerifier::from_base64_pem(key)?;
    }
    if let Some(path) = &config.ca_file {
        openfn_ws_worker::socket::check_ca_file(path).map_err(|e| {
            anyhow::anyhow!("{e}; --ca-file / WORKER_CA_FILE takes a PEM file of CA certificates")
        })?;
    }
    Ok(())
}

/// Binds the HTTP port, saying how to pick another when it is taken.
async fn listen(port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "cannot listen on port {port}: it is in use; choose another with --port or WORKER_PORT"
        ),
        Err(e) => Err(e).with_context(|| format!("cannot listen on port {port}")),
    }
}

async fn async_main(config: Config) -> anyhow::Result<i32> {
    logging::init(&config);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    preflight(&config)?;
    let mut config = config;
    let engine = if config.mock {
        None
    } else {
        Some(Arc::new(EngineExecutor::new(&config)?))
    };
    // Listen before anything is claimed.
    let listener = listen(config.port).await?;
    let port = listener.local_addr().map_or(config.port, |a| a.port());
    tracing::info!(port, "http server listening");
    if let Some(engine) = &engine {
        let repo_dir = engine.repo_dir().to_path_buf();
        collections::resolve_collections_version(
            &mut config,
            &repo_dir,
            openfn_repo::RegistryConfig::from_env(),
        )
        .await;
    }
    let executor: Arc<dyn Executor> = match engine {
        Some(engine) => engine,
        None => Arc::new(MockExecutor),
    };
    let worker = Worker::start(config, executor)?;
    let server = tokio::spawn(http::serve(listener, worker.clone()));

    let w = worker.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        // A second signal is ignored: keep the handlers installed.
        w.shutdown(0);
        loop {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
    });

    let code = worker.wait().await;
    server.abort();
    Ok(code)
}
