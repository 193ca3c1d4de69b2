//! The `ws-worker` binary: parses options, starts the HTTP server and the Lightning client.

fn main() -> anyhow::Result<()> {
    let config = openfn_ws_worker::Config::from_env_and_args(std::env::args_os())?;
    println!("{config:?}");
    Ok(())
}
