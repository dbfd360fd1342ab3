//! The connection status on stderr: a line that updates in place on a terminal (cleared once
//! connected, and before each event), or one line per change when stderr is a file or a pipe.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use socfeed_client::Status;
use tokio::sync::watch;

/// The in-place status line on a terminal.
#[derive(Clone)]
pub(super) struct StatusLine {
    terminal: bool,
    showing: Arc<AtomicBool>,
}

impl StatusLine {
    pub(super) fn new(terminal: bool) -> StatusLine {
        StatusLine {
            terminal,
            showing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shows `text` (in place on a terminal, yellow; else as a line of its own).
    fn show(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K\x1b[33m{text}\x1b[0m");
            self.showing.store(true, Ordering::SeqCst);
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }

    /// Removes the in-place line, if one is shown.
    pub(super) fn clear(&self) {
        if self.showing.swap(false, Ordering::SeqCst) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Follows the feed's status until it is final.
pub(super) async fn watch(mut status: watch::Receiver<Status>, line: StatusLine) {
    let mut was_down = false;
    loop {
        let current = status.borrow_and_update().clone();
        match &current {
            Status::Connecting => {}
            Status::Connected => {
                line.clear();
                if was_down && !line.terminal {
                    line.show("socfeed: connected again; resumed after the last event shown");
                }
                was_down = false;
            }
            Status::Reconnecting {
                attempt,
                retry_in,
                reason,
            } => {
                was_down = true;
                line.show(&format!(
                    "socfeed: reconnecting in {:.1}s (attempt {attempt}): {reason}",
                    retry_in.as_secs_f64()
                ));
            }
            Status::Disconnected { .. } => return,
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}
