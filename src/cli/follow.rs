//! Following a stream on the command line (`logs --follow`, `jenkins logs
//! --follow`) until it ends or Ctrl-C is pressed.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

/// Ctrl-C, watched beside whatever is being followed.
pub struct UntilCtrlC {
    signal: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>,
    /// False once the handler could not be installed: then only the stream
    /// ends the wait (closing the terminal still ends the process).
    live: bool,
}

impl Default for UntilCtrlC {
    fn default() -> Self {
        UntilCtrlC {
            signal: Box::pin(tokio::signal::ctrl_c()),
            live: true,
        }
    }
}

impl UntilCtrlC {
    /// The next item of `rx` (`Some(None)` once it ended), or `None` when
    /// Ctrl-C was pressed first.
    pub async fn next<T>(&mut self, rx: &mut mpsc::Receiver<T>) -> Option<Option<T>> {
        loop {
            tokio::select! {
                r = &mut self.signal, if self.live => {
                    if r.is_ok() {
                        return None;
                    }
                    self.live = false;
                }
                ev = rx.recv() => return Some(ev),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_then_the_end_of_the_stream_are_passed_on() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(7).await.unwrap();
        drop(tx);
        let mut stop = UntilCtrlC::default();
        assert_eq!(stop.next(&mut rx).await, Some(Some(7)));
        assert_eq!(stop.next(&mut rx).await, Some(None));
    }
}
