//! Following one run: a task polls its stages (`wfapi/describe`, a
//! conditional GET) and its console (progressively, from the last offset)
//! and sends typed events into a bounded channel.
//!
//! - States (`Connecting`, `Ok`, `Degraded(<error> · retry in <wait>)`) are
//!   sent as [`JenkinsEvent::State`] and wait for room; each failure is also
//!   sent as [`JenkinsEvent::Failed`] so a command can stop on one that
//!   needs someone to act (a wrong token, a missing job).
//! - Stages and console lines never wait: when the channel is full the
//!   lines are counted and reported as [`JenkinsEvent::Dropped`] once there
//!   is room; a run view not delivered is sent again on the next poll.
//! - A failure backs off (doubling up to 30 s); the console offset is kept,
//!   so after an outage the text goes on where it stopped, nothing twice.
//! - The task ends when the run is over and its console complete
//!   ([`JenkinsEvent::Finished`]), or when the receiver is dropped.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use super::{JenkinsClient, JenkinsError, Run};
use crate::runtime::SourceState;

/// The name the state is reported under.
pub const SOURCE_NAME: &str = "jenkins";
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq)]
pub enum JenkinsEvent {
    State(SourceState),
    /// The failure behind the last `Degraded` state.
    Failed(JenkinsError),
    /// The run's stages changed.
    Run(Run),
    /// New console lines, clean, in order.
    Console(Vec<String>),
    /// Console lines that could not be delivered.
    Dropped(u64),
    /// The run is over and its console read to the end.
    Finished,
}

/// How the watch polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Time between polls while the run goes on.
    pub interval: Duration,
    /// Read the console too.
    pub console: bool,
    /// Byte offset the console starts at (0: from the beginning).
    pub console_start: u64,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_secs(2),
            console: true,
            console_start: 0,
        }
    }
}

/// Follow build `number` until it is over or `tx` is closed.
pub fn spawn_run_watch(
    client: JenkinsClient,
    number: u64,
    opts: WatchOptions,
    tx: mpsc::Sender<JenkinsEvent>,
) -> JoinHandle<()> {
    tokio::spawn(run(client, number, opts, tx))
}

struct Out {
    tx: mpsc::Sender<JenkinsEvent>,
    last_state: Option<SourceState>,
    lost: u64,
}

impl Out {
    async fn state(&mut self, state: SourceState) -> bool {
        if self.last_state.as_ref() == Some(&state) {
            return true;
        }
        self.last_state = Some(state.clone());
        self.tx.send(JenkinsEvent::State(state)).await.is_ok()
    }

    /// Send without waiting: Ok(false) when full, Err when closed.
    fn try_send(&self, ev: JenkinsEvent) -> Result<bool, ()> {
        match self.tx.try_send(ev) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Closed(_)) => Err(()),
        }
    }

    fn lines(&mut self, lines: Vec<String>) -> Result<(), ()> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.lost > 0 {
            if self.try_send(JenkinsEvent::Dropped(self.lost))? {
                self.lost = 0;
            } else {
                self.lost += lines.len() as u64;
                return Ok(());
            }
        }
        let n = lines.len() as u64;
        if !self.try_send(JenkinsEvent::Console(lines))? {
            self.lost += n;
        }
        Ok(())
    }
}

enum Poll {
    Going,
    Done,
    Closed,
}

struct Watch {
    client: JenkinsClient,
    number: u64,
    opts: WatchOptions,
    tail: super::ConsoleTail,
    last_run: Option<Run>,
    out: Out,
}

impl Watch {
    async fn poll(&mut self) -> Result<Poll, JenkinsError> {
        let run = self.client.run(self.number).await?;
        let running = run.status.is_running();
        if self.last_run.as_ref() != Some(&run) {
            match self.out.try_send(JenkinsEvent::Run(run.clone())) {
                Ok(true) => self.last_run = Some(run),
                Ok(false) => {}
                Err(()) => return Ok(Poll::Closed),
            }
        }
        let mut console_done = true;
        if self.opts.console {
            // Read until Jenkins has nothing more right now.
            loop {
                let chunk = self
                    .client
                    .console(self.number, self.tail.next_start)
                    .await?;
                let empty = chunk.text.is_empty();
                let lines = self.tail.push(&chunk);
                if self.out.lines(lines).is_err() {
                    return Ok(Poll::Closed);
                }
                if empty || !chunk.more {
                    break;
                }
            }
            console_done = self.tail.complete;
        }
        if !self.out.state(SourceState::Ok).await {
            return Ok(Poll::Closed);
        }
        Ok(if !running && console_done && self.out.lost == 0 {
            Poll::Done
        } else {
            Poll::Going
        })
    }
}

async fn run(
    client: JenkinsClient,
    number: u64,
    opts: WatchOptions,
    tx: mpsc::Sender<JenkinsEvent>,
) {
    let mut tail = super::ConsoleTail::new(1);
    tail.next_start = opts.console_start;
    let mut w = Watch {
        client,
        number,
        opts,
        tail,
        last_run: None,
        out: Out {
            tx,
            last_state: None,
            lost: 0,
        },
    };
    if !w.out.state(SourceState::Connecting).await {
        return;
    }
    let mut backoff = MIN_BACKOFF;
    loop {
        let wait = match w.poll().await {
            Ok(Poll::Closed) => return,
            Ok(Poll::Done) => {
                let _ = w.out.tx.send(JenkinsEvent::Finished).await;
                return;
            }
            Ok(Poll::Going) => {
                backoff = MIN_BACKOFF;
                if w.out.lost > 0 {
                    if let Ok(true) = w.out.try_send(JenkinsEvent::Dropped(w.out.lost)) {
                        w.out.lost = 0;
                    }
                }
                w.opts.interval
            }
            Err(e) => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if w.out
                    .tx
                    .send(JenkinsEvent::Failed(e.clone()))
                    .await
                    .is_err()
                    || !w.out.state(SourceState::retrying(&e, wait)).await
                {
                    return;
                }
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = w.out.tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests;
