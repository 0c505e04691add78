//! The event loop's guards against silent failure: stalled watches restarted with a relist, the
//! heartbeat behind `/healthz`, a new term of leadership re-evaluated before writing, and the end
//! of a full pass handed to the writer for verification.

use super::event_loop::Operator;
use super::writer::Msg;
use tokio::time::Instant;
use tracing::{info, warn};

impl Operator {
    /// Beats, publishes stalled watches to `/healthz`; true when the watches must be restarted
    /// (stalled, and not restarted within the stall timeout already).
    pub(super) fn watches_stalled(&mut self, restarted: &mut Instant) -> bool {
        let stall = self.opts.stall_timeout;
        self.health.beat();
        let stalled = self.activity.stalled(stall);
        self.activity.prune(stall);
        let restart = !stalled.is_empty() && restarted.elapsed() > stall;
        if restart {
            warn!(paths = ?stalled, after = ?stall, "watches delivered nothing, not even bookmarks; restarting them with a relist");
            *restarted = Instant::now();
        }
        self.health.set_stalled(stalled);
        restart
    }

    /// True when this replica leads a term its watches did not start in: what is on the server may
    /// be newer than its verdicts, so it lists everything again before writing.
    pub(super) fn new_term(&self) -> bool {
        let term = self.leadership.term();
        let fresh = term.is_some() && term != self.watch_term;
        if fresh {
            info!(term = term.unwrap_or_default(), "leading a new term; evaluating everything again before writing");
        }
        fresh
    }

    /// A full pass was sent to the writer: it verifies the reports on the server and advances the
    /// evaluation timestamp once they are all written.
    pub(super) fn pass_done(&self) {
        let at = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
        self.to_writer(Msg::PassDone { at, term: self.watch_term.unwrap_or(0) });
    }

    /// Tells the writer; a writer that has stopped (only while shutting down) is logged, not ignored.
    pub(super) fn to_writer(&self, msg: Msg) {
        if self.writer.send(msg).is_err() {
            warn!("the report writer has stopped; a report or pass end was not sent to it");
        }
    }
}
