//! The connection limit, shared by every backend so they refuse at the same point.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts open connections against a limit.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    open: Arc<AtomicUsize>,
    limit: usize,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    open: Arc<AtomicUsize>,
}

impl ConnectionGate {
    pub fn new(limit: usize) -> Self {
        ConnectionGate {
            open: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// Admits a connection, or `None` at the limit (the caller sends
    /// `herd_protocol::message::BUSY_REPLY` and closes).
    pub fn try_enter(&self) -> Option<Permit> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit {
                open: Arc::clone(&self.open),
            })
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_frees_on_drop() {
        let gate = ConnectionGate::new(2);
        let a = gate.try_enter().expect("first");
        let _b = gate.try_enter().expect("second");
        assert!(gate.try_enter().is_none());
        drop(a);
        assert_eq!(gate.open(), 1);
        assert!(gate.try_enter().is_some());
    }
}
