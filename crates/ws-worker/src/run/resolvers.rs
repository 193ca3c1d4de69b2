//! What a run asks Lightning for while it executes (credentials, through the engine's
//! resolvers) and where its outbox spills.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::channel::{Channel, Patience};
use crate::executor::{BoxFuture, Resolvers};
use crate::redact::Redactor;

/// Where run `run_id`'s outbox spills: a directory of its own under the system temp dir.
pub(super) fn spill_dir(run_id: &str) -> std::path::PathBuf {
    let safe: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::env::temp_dir()
        .join("openfn-ws-worker-outbox")
        .join(format!("{}-{safe}", std::process::id()))
}

pub(super) struct LightningResolvers {
    pub(super) channel: Arc<Channel>,
    pub(super) timeout: Duration,
    /// The retry budget: a late credential reply is waited for (the kit gives up after one
    /// timeout; the error text is the same, `[fetch:credential] timeout`, once it is spent).
    pub(super) patience: Patience,
    pub(super) redactor: Redactor,
}

impl Resolvers for LightningResolvers {
    fn credential(&self, id: String) -> BoxFuture<'static, Result<Value, String>> {
        let channel = self.channel.clone();
        let timeout = self.timeout;
        let patience = self.patience;
        let redactor = self.redactor.clone();
        Box::pin(async move {
            match channel
                .request_with("fetch:credential", json!({ "id": id }), timeout, patience)
                .await
            {
                Ok(r) if r.is_ok() => {
                    let body = r
                        .into_json()
                        .map_err(|e| format!("[fetch:credential] {e}"))?;
                    redactor.add_credential(&body);
                    Ok(body)
                }
                Ok(r) => Err(format!("[fetch:credential] {}", r.response_text())),
                Err(e) => Err(format!("[fetch:credential] {e}")),
            }
        })
    }
}
