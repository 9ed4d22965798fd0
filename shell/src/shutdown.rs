//! A shutdown signal any runtime can wait on: async tasks await it, threads block on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_listener::{Event, Listener};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    event: Event,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::Release);
        self.inner.event.notify(usize::MAX);
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Resolves once [`Shutdown::trigger`] has been called (works on any executor).
    pub async fn wait(&self) {
        loop {
            if self.is_triggered() {
                return;
            }
            let listener = self.inner.event.listen();
            // Re-check after registering, or a trigger in between would be missed.
            if self.is_triggered() {
                return;
            }
            listener.await;
        }
    }

    /// Blocks the calling thread until triggered.
    pub fn wait_blocking(&self) {
        while !self.is_triggered() {
            let listener = self.inner.event.listen();
            if self.is_triggered() {
                return;
            }
            listener.wait();
        }
    }

    /// Triggers on SIGINT or SIGTERM, from a small dedicated thread.
    pub fn trigger_on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let shutdown = self.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if signals.forever().next().is_some() {
                    shutdown.trigger();
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_blocked_waiters() {
        let s = Shutdown::new();
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || s.wait_blocking())
        };
        s.trigger();
        waiter.join().expect("waiter ends");
        assert!(s.is_triggered());
    }
}
