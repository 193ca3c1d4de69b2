//! The timer seam: `setTimeout`/`setInterval` in the realm and the runtime's sleeps and
//! deadlines. The native build uses tokio's timers; without the `native` feature (the wasm
//! tier's guest, which has no threads and no real sleep) they run on a virtual clock that the
//! embedder's executor advances with [`advance`] whenever nothing else can make progress, so
//! timers fire in deadline order without waiting.

#[cfg(feature = "native")]
mod imp {
    use std::rc::Rc;
    use std::time::Duration;

    pub use tokio::time::{sleep, timeout};

    /// Cancels one timer.
    #[derive(Clone, Default)]
    pub(crate) struct Cancel(Rc<tokio::sync::Notify>);

    impl Cancel {
        pub(crate) fn cancel(&self) {
            self.0.notify_one();
        }

        /// Sleeps `delay`; false when cancelled first.
        pub(crate) async fn sleep(&self, delay: Duration) -> bool {
            tokio::select! {
                () = tokio::time::sleep(delay) => true,
                () = self.0.notified() => false,
            }
        }
    }
}

#[cfg(not(feature = "native"))]
#[path = "timers/virtual_clock.rs"]
mod imp;

pub(crate) use imp::Cancel;
#[cfg(not(feature = "native"))]
pub use imp::{Elapsed, advance, now, reset};
pub use imp::{sleep, timeout};
