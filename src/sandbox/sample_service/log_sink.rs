//! The stdout log writer: request handlers never block on it; a full
//! buffer drops lines and counts them.

#[allow(unused_imports)]
use super::*;

/// Non-blocking sender of JSON log lines; full buffers drop lines and count them.
#[derive(Clone, Debug)]
pub struct LogSink {
    pub(super) tx: mpsc::Sender<String>,
    pub(super) dropped: Arc<AtomicU64>,
}

/// The receiving end of a [`LogSink`].
#[derive(Debug)]
pub struct LogReceiver {
    pub(super) rx: mpsc::Receiver<String>,
    pub(super) dropped: Arc<AtomicU64>,
}

impl LogSink {
    pub fn new(capacity: usize) -> (LogSink, LogReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        (
            LogSink {
                tx,
                dropped: dropped.clone(),
            },
            LogReceiver { rx, dropped },
        )
    }

    pub fn emit(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines lost so far (buffer full or writer gone).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl LogReceiver {
    /// Next line, for tests and custom writers.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// Write lines to `w` until every sink is gone or `stop` turns true, then
    /// drain what is buffered. Lines are batched and flushed whenever the
    /// buffer runs empty, so output is line-timely without a syscall per line.
    pub async fn write_until<W: AsyncWrite + Unpin>(
        mut self,
        w: W,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let mut w = BufWriter::with_capacity(64 * 1024, w);
        let mut reported = 0u64;
        loop {
            let first = tokio::select! {
                line = self.rx.recv() => line,
                _ = wait_true(&mut stop) => None,
            };
            let Some(first) = first else { break };
            self.write_line(&mut w, &first, &mut reported).await?;
            while let Ok(line) = self.rx.try_recv() {
                self.write_line(&mut w, &line, &mut reported).await?;
            }
            w.flush().await?;
        }
        while let Ok(line) = self.rx.try_recv() {
            self.write_line(&mut w, &line, &mut reported).await?;
        }
        self.report_drops(&mut w, &mut reported).await?;
        w.flush().await
    }

    async fn write_line<W: AsyncWrite + Unpin>(
        &self,
        w: &mut BufWriter<W>,
        line: &str,
        reported: &mut u64,
    ) -> std::io::Result<()> {
        self.report_drops(w, reported).await?;
        w.write_all(line.as_bytes()).await?;
        w.write_all(b"\n").await
    }

    /// Say how many lines were lost since the last report, so gaps are visible.
    async fn report_drops<W: AsyncWrite + Unpin>(
        &self,
        w: &mut BufWriter<W>,
        reported: &mut u64,
    ) -> std::io::Result<()> {
        let total = self.dropped.load(Ordering::Relaxed);
        if total > *reported {
            let line = json!({
                "ts": now_rfc3339_millis(),
                "level": "warn",
                "msg": "log lines dropped",
                "count": total - *reported,
            });
            *reported = total;
            w.write_all(line.to_string().as_bytes()).await?;
            w.write_all(b"\n").await?;
        }
        Ok(())
    }
}

/// Resolve when the watch turns true; never resolve if its sender is gone first.
pub(super) async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}
