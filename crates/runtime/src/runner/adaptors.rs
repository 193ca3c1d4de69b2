//! Adaptor modules in the run's adaptor realm: evaluating an entry once and creating the realm.

use std::time::{Duration, Instant};

use rquickjs::{AsyncContext, Module, Object, Persistent};

use crate::error::RtError;
use crate::events::Callbacks;
use crate::linker::{LoadedAdaptor, Pending};

use super::Runner;
use super::classify::describe_engine_error;
use super::realm::shape_exports;

impl<C: Callbacks + 'static> Runner<C> {
    /// Evaluate an adaptor entry in the adaptor realm and cache its shaped namespace.
    pub(super) async fn load_adaptor(&mut self, pending: &Pending) -> Result<(), RtError> {
        if self.linker.loaded.borrow().contains_key(&pending.entry) {
            return Ok(());
        }
        if let Some(e) = self.failed_loads.get(&pending.entry) {
            return Err(e.clone());
        }
        let ctx = self
            .adaptor_context()
            .await
            .map_err(|e| RtError::import(e.to_string()))?;
        let entry = pending.entry.to_string_lossy().into_owned();
        let limits = self.limits.clone();
        let work = ctx.async_with(async |ctx| -> Result<LoadedAdaptor, String> {
            let promise =
                Module::import(&ctx, entry.as_str()).map_err(|e| describe_engine_error(&ctx, e))?;
            let ns: Object<'_> = promise
                .into_future::<Object<'_>>()
                .await
                .map_err(|e| describe_engine_error(&ctx, e))?;
            let shaped = shape_exports(&ctx, ns).map_err(|e| describe_engine_error(&ctx, e))?;
            let names: Vec<String> = shaped.keys::<String>().filter_map(Result::ok).collect();
            Ok(LoadedAdaptor {
                names,
                ns: Persistent::save(&ctx, shaped),
            })
        });
        // loading runs under the step's deadline (the interrupt handler stops busy code; this
        // stops a top-level await that never settles)
        let result = match limits.deadline.get() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now()) + Duration::from_millis(5);
                match openfn_node_host::timers::timeout(wait, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        limits.timed_out.set(true);
                        Err("timed out".to_string())
                    }
                }
            }
            None => work.await,
        };
        if limits.oom.get() {
            return Err(RtError::oom());
        }
        if limits.timed_out.get() {
            return Err(RtError::timeout(limits.timeout_ms.get()));
        }
        match result {
            Ok(loaded) => {
                self.options.adaptor_host.adaptor_loaded();
                self.linker
                    .loaded
                    .borrow_mut()
                    .insert(pending.entry.clone(), loaded);
                Ok(())
            }
            Err(reason) => {
                let e = RtError::import(format!(
                    "Failed to import module {} from {} ({reason})",
                    pending.spec,
                    pending.entry.display()
                ));
                *self.linker.import_error.borrow_mut() = Some(e.clone());
                self.failed_loads.insert(pending.entry.clone(), e.clone());
                Err(e)
            }
        }
    }

    pub(super) async fn adaptor_context(&mut self) -> rquickjs::Result<AsyncContext> {
        if let Some(ctx) = &self.adaptor_ctx {
            return Ok(ctx.clone());
        }
        let ctx = crate::adaptor_realm::create(
            &self.rt,
            self.log.clone(),
            self.limits.clone(),
            self.options.adaptor_host.clone(),
            self.linker.clone(),
        )
        .await?;
        self.adaptor_ctx = Some(ctx.clone());
        Ok(ctx)
    }
}
