//! A fake server's HTTP side that a test can take down and bring back on the
//! same address, as a real server restarting would (test-only).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The serving task and the sender that stops it gracefully.
type Running = (oneshot::Sender<()>, JoinHandle<()>);

/// An app served on a fixed loopback address; clones share it.
#[derive(Clone)]
pub struct Restartable {
    addr: SocketAddr,
    app: Router,
    what: &'static str,
    running: Arc<Mutex<Option<Running>>>,
}

/// A listener on 127.0.0.1 with a free port, for `what` (in panics).
pub async fn bind_free(what: &str) -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"))
}

impl Restartable {
    /// Serve `app` on `listener`.
    pub fn serve(what: &'static str, listener: TcpListener, app: Router) -> Restartable {
        let addr = listener.local_addr().expect("a bound address");
        let s = Restartable {
            addr,
            app,
            what,
            running: Arc::new(Mutex::new(None)),
        };
        s.spawn(listener);
        s
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn spawn(&self, listener: TcpListener) {
        let app = self.app.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        *self.running.lock().unwrap() = Some((tx, task));
    }

    /// Go away: the port refuses connections.
    pub async fn stop(&self) {
        self.stop_with(async {}).await;
    }

    /// Go away, running `between` once new connections are refused and
    /// before waiting for open ones (a fake cuts its streams there). Open
    /// connections get 5 s to finish, then are dropped.
    pub async fn stop_with(&self, between: impl Future<Output = ()>) {
        let Some((tx, task)) = self.running.lock().unwrap().take() else {
            return;
        };
        let _ = tx.send(());
        between.await;
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    /// Come back on the same address, with the same app and state.
    pub async fn restart(&self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr)
            .await
            .unwrap_or_else(|e| panic!("bind {} again: {e}", self.what));
        self.spawn(listener);
    }
}
