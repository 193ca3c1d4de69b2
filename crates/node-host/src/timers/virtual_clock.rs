//! Timers on a virtual clock, for a single-threaded embedder without real sleep (the wasm
//! guest). Time only moves when the embedder calls [`advance`]: it jumps to the earliest
//! pending deadline and wakes every timer due by then.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[derive(Default)]
struct Clock {
    now: Duration,
    next_id: u64,
    pending: BTreeMap<(Duration, u64), Waker>,
}

thread_local! {
    static CLOCK: RefCell<Clock> = RefCell::new(Clock::default());
}

/// The virtual time elapsed since the start.
pub fn now() -> Duration {
    CLOCK.with(|c| c.borrow().now)
}

/// Back to time zero with no timer pending: a run that starts from a pre-initialised memory
/// snapshot (the wasm tier's) calls it first, so nothing of the preparation's clock remains.
pub fn reset() {
    CLOCK.with(|c| {
        let mut c = c.borrow_mut();
        c.now = Duration::ZERO;
        c.pending.clear();
    });
}

/// Moves the clock to the earliest pending deadline and wakes the timers due by then; false
/// when no timer is pending (nothing can ever wake again).
pub fn advance() -> bool {
    let due: Vec<Waker> = CLOCK.with(|c| {
        let mut c = c.borrow_mut();
        let Some((&(at, _), _)) = c.pending.first_key_value() else {
            return Vec::new();
        };
        c.now = c.now.max(at);
        let now = c.now;
        let later = c.pending.split_off(&(now, u64::MAX));
        std::mem::replace(&mut c.pending, later)
            .into_values()
            .collect()
    });
    let any = !due.is_empty();
    for w in due {
        w.wake();
    }
    any
}

/// A sleep until a virtual deadline.
pub struct Sleep {
    at: Duration,
    key: Option<(Duration, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let key = self.key;
        let (ready, key) = CLOCK.with(|c| {
            let mut c = c.borrow_mut();
            if c.now >= at {
                if let Some(k) = key {
                    c.pending.remove(&k);
                }
                return (true, None);
            }
            let k = key.unwrap_or_else(|| {
                c.next_id += 1;
                (at, c.next_id)
            });
            c.pending.insert(k, cx.waker().clone());
            (false, Some(k))
        });
        self.key = key;
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let _ = CLOCK.try_with(|c| c.borrow_mut().pending.remove(&k));
        }
    }
}

/// Sleeps `d` of virtual time.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        at: now() + d,
        key: None,
    }
}

/// The deadline of [`timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `work` until `d` of virtual time has passed.
pub async fn timeout<F: Future>(d: Duration, work: F) -> Result<F::Output, Elapsed> {
    let mut work = Box::pin(work);
    let mut deadline = Box::pin(sleep(d));
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

#[derive(Default)]
struct CancelState {
    cancelled: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Cancels one timer.
#[derive(Clone, Default)]
pub(crate) struct Cancel(Rc<CancelState>);

impl Cancel {
    pub(crate) fn cancel(&self) {
        self.0.cancelled.set(true);
        if let Some(w) = self.0.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Sleeps `delay`; false when cancelled first (a cancel is consumed, as tokio's permit).
    pub(crate) async fn sleep(&self, delay: Duration) -> bool {
        let mut timer = Box::pin(sleep(delay));
        let state = self.0.clone();
        std::future::poll_fn(move |cx| {
            if state.cancelled.replace(false) {
                return Poll::Ready(false);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            *state.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}
