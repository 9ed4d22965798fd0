//! What every accept loop does when `accept` fails: one policy for all backends.
//!
//! Running out of descriptors, kernel buffers or memory fails `accept` at once, and keeps
//! failing while the connection waits in the backlog, so a loop that retries at once spins
//! (and on a cooperative executor starves every other task on its thread). Such errors
//! pause the loop for [`RESOURCE_PAUSE`]; the server keeps serving the connections it has,
//! and accepts the waiting ones once resources free up. Any other error (a connection
//! aborted before it was accepted, say) concerns one connection only: retry at once.

use std::io;
use std::time::Duration;

/// How long an accept loop waits after running out of a resource.
pub const RESOURCE_PAUSE: Duration = Duration::from_millis(10);

// errno values (Linux; the same on the BSDs and macOS but ENOBUFS).
const ENOMEM: i32 = 12;
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
#[cfg(target_os = "linux")]
const ENOBUFS: i32 = 105;
#[cfg(not(target_os = "linux"))]
const ENOBUFS: i32 = 55;

/// The pause before the next accept after `error`, if any.
pub fn pause_after(error: &io::Error) -> Option<Duration> {
    let exhausted = matches!(
        error.raw_os_error(),
        Some(ENOMEM | ENFILE | EMFILE | ENOBUFS)
    ) || error.kind() == io::ErrorKind::OutOfMemory;
    exhausted.then_some(RESOURCE_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_errors_pause_others_do_not() {
        for errno in [ENOMEM, ENFILE, EMFILE, ENOBUFS] {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(pause_after(&e), Some(RESOURCE_PAUSE), "{e}");
        }
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(pause_after(&aborted), None);
        assert_eq!(pause_after(&io::Error::other("something else")), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn errno_values_match_the_os_messages() {
        let emfile = io::Error::from_raw_os_error(EMFILE).to_string();
        assert!(emfile.contains("Too many open files"), "{emfile}");
        let enobufs = io::Error::from_raw_os_error(ENOBUFS).to_string();
        assert!(enobufs.contains("buffer space"), "{enobufs}");
    }
}
