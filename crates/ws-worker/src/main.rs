//! The `ws-worker` binary: parses options, binds the HTTP port, connects to Lightning, and on
//! SIGTERM/SIGINT drains active runs before exiting 0.

use std::sync::Arc;

use anyhow::Context as _;
use openfn_ws_worker::config::{Config, LogFormat};
use openfn_ws_worker::engine::EngineExecutor;
use openfn_ws_worker::executor::{Executor, MockExecutor};
use openfn_ws_worker::{collections, http, worker::Worker};

fn init_tracing(config: &Config) {
    let level = match config.log_level.as_str() {
        "none" => "off",
        "warn" => "warn",
        "error" => "error",
        "info" | "success" => "info",
        "trace" => "trace",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WORKER_LOG_FILTER").unwrap_or_else(|_| {
            // Our crates at the chosen level; dependencies only when they warn.
            tracing_subscriber::EnvFilter::new(format!(
                "warn,ws_worker={level},openfn_ws_worker={level},openfn_engine={level}"
            ))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() {
    // The engine's children are this same binary started with a hidden flag.
    openfn_engine::child::maybe_run_child();
    let config = match Config::from_env_and_args(std::env::args_os()) {
        Ok(c) => c,
        Err(openfn_ws_worker::WorkerError::Cli(text)) => {
            // clap renders help and version as "errors" too.
            let is_info = text.starts_with("Usage")
                || text.starts_with("ws-worker")
                || text.contains("\nUsage");
            if is_info && !text.starts_with("error") {
                print!("{text}");
                std::process::exit(0);
            }
            eprint!("{text}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
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
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async_main(config)).unwrap_or_else(|e| {
        eprintln!("{e:#}");
        1
    });
    std::process::exit(code);
}

async fn async_main(config: Config) -> anyhow::Result<i32> {
    init_tracing(&config);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let mut config = config;
    let engine = if config.mock {
        None
    } else {
        Some(Arc::new(EngineExecutor::new(&config)?))
    };
    // Listen before anything is claimed.
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port))
        .await
        .with_context(|| format!("cannot listen on port {}", config.port))?;
    tracing::info!(port = config.port, "http server listening");
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
