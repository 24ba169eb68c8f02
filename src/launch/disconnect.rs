//! When the console's terminal goes away (SIGHUP, the SSH connection or the
//! pty closed) it exits cleanly. A console attached to a daemon leaves the
//! daemon's rollouts and faults running, or, with
//! `console.on_disconnect: undo_faults`, first undoes the faults it started
//! itself. (A console that embeds the runtime stops it, which undoes every
//! fault and stops every instance.)

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::runtime::{Actor, RuntimeError, SharedRuntime};

/// How long a chaos request still in flight at the disconnect is waited for.
const SETTLE: Duration = Duration::from_secs(3);
/// How long one undo may take before the console gives up on it.
const UNDO_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the console loop ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ended {
    /// The user quit, or `down` stopped the runtime.
    #[default]
    Quit,
    /// The terminal went away: SIGHUP, or reading it failed or ended.
    Disconnected(&'static str),
    /// SIGTERM or SIGINT.
    Signal(&'static str),
}

impl Ended {
    /// The end a signal (as `Msg::Signal` names it) brings.
    pub fn of_signal(name: &'static str) -> Ended {
        match name {
            "SIGHUP" => Ended::Disconnected("SIGHUP"),
            "SIGTERM" | "SIGINT" => Ended::Signal(name),
            // A shutdown request on the control socket (`down`).
            _ => Ended::Quit,
        }
    }
}

/// A write error meaning the terminal hung up (the pty's other end closed).
pub fn terminal_gone(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::ENXIO))
        || e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Append lines to the console's log (stderr no longer reaches anyone).
pub fn note(path: &std::path::Path, lines: &[String]) {
    use std::io::Write;
    if lines.is_empty() {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        for l in lines {
            let _ = writeln!(f, "on disconnect: {l}");
        }
    }
}

#[derive(Default)]
struct Ledger {
    in_flight: usize,
    started: Vec<String>,
}

/// The faults this console started (experiment ids), and chaos requests it
/// has sent that have not answered yet.
#[derive(Clone, Default)]
pub struct FaultLedger(Arc<Mutex<Ledger>>);

/// Marks a chaos request in flight until dropped.
pub struct InFlight(FaultLedger);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut l = self.0.lock();
        l.in_flight = l.in_flight.saturating_sub(1);
    }
}

impl FaultLedger {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A chaos request is about to be sent.
    pub fn begin(&self) -> InFlight {
        self.lock().in_flight += 1;
        InFlight(self.clone())
    }

    /// The runtime accepted a fault: experiment `id` is ours.
    pub fn record(&self, id: &str) {
        self.lock().started.push(id.to_string());
    }

    pub fn started(&self) -> Vec<String> {
        self.lock().started.clone()
    }

    /// Wait (up to `limit`) for requests in flight to answer.
    async fn settled(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.lock().in_flight > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Undo the faults this console started; each is bounded in time. Returns
/// one line per fault for the console log. A fault that ended already is
/// not an error.
pub async fn undo_started_faults(
    runtime: &SharedRuntime,
    ledger: &FaultLedger,
    actor: &Actor,
) -> Vec<String> {
    ledger.settled(SETTLE).await;
    let mut report = Vec::new();
    for id in ledger.started() {
        let line = match tokio::time::timeout(UNDO_TIMEOUT, runtime.undo(actor, &id)).await {
            Ok(Ok(())) => format!("fault {id} undone"),
            Ok(Err(RuntimeError::NotFound(_))) => format!("fault {id} had ended already"),
            Ok(Err(e)) => format!("fault {id} could not be undone: {e}"),
            Err(_) => format!(
                "fault {id}: no answer within {}s; it ends at its planned time",
                UNDO_TIMEOUT.as_secs()
            ),
        };
        report.push(line);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_in_flight_are_waited_for_then_counted_out() {
        let ledger = FaultLedger::default();
        let guard = ledger.begin();
        let l = ledger.clone();
        let waiter = tokio::spawn(async move {
            l.settled(Duration::from_secs(5)).await;
            l.started()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        ledger.record("exp-1");
        drop(guard);
        assert_eq!(waiter.await.unwrap_or_default(), vec!["exp-1".to_string()]);
    }

    #[tokio::test]
    async fn only_the_faults_this_console_started_are_undone() {
        let fake = Arc::new(crate::runtime::fake::FakeRuntime::supporting(&[]));
        let runtime: SharedRuntime = fake.clone();
        let ledger = FaultLedger::default();
        ledger.record("exp-3");
        ledger.record("exp-5");
        let actor = Actor::current("console");
        let report = undo_started_faults(&runtime, &ledger, &actor).await;
        assert_eq!(report, ["fault exp-3 undone", "fault exp-5 undone"]);
        assert_eq!(fake.calls(), ["undo exp-3", "undo exp-5"]);
    }

    #[tokio::test]
    async fn waiting_is_bounded() {
        let ledger = FaultLedger::default();
        let _stuck = ledger.begin();
        let start = Instant::now();
        ledger.settled(Duration::from_millis(100)).await;
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
