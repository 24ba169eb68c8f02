//! One connection to one cluster: a watch per kind and namespace, folded
//! into the runtime's state by one task, which also keeps the pod log
//! followers in step with the pods. Switching contexts drops the session
//! (every watch and follower stops) and starts another.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::kinds::Kind;
use super::pod_logs::{log_targets, PodLogs, Sink};
use super::settings::KubeSettings;
use super::state::{Feed, State};
use crate::clock::now_ms;
use crate::domain::logs::LogLine;
use crate::kubernetes::connect::Connection;
use crate::kubernetes::objects::watch_objects;
use crate::runtime::RuntimeEvent;

/// Events buffered for subscribers before the slowest one starts lagging.
const EVENT_CAPACITY: usize = 8192;
/// Watch messages queued for the fold task.
const FEED_CAPACITY: usize = 1024;

/// What the runtime and its tasks share.
pub struct Shared {
    pub settings: KubeSettings,
    state: Mutex<State>,
    pub events: broadcast::Sender<RuntimeEvent>,
    session: Mutex<Option<Session>>,
    /// What the header calls the cluster: `kubernetes (<context>)`.
    label: Mutex<String>,
    /// Chaos Mesh faults; `None`: started without a journal (chaos refused).
    pub chaos: Option<super::chaos::KubeChaos>,
}

pub struct Session {
    task: JoinHandle<()>,
    conn: Connection,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(
        settings: KubeSettings,
        label: String,
        chaos: Option<super::chaos::KubeChaos>,
    ) -> Arc<Shared> {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            events,
            session: Mutex::new(None),
            label: Mutex::new(label),
            chaos,
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn label(&self) -> String {
        lock(&self.label).clone()
    }

    pub fn publish(&self, events: Vec<RuntimeEvent>) {
        for ev in events {
            // No subscriber is not an error.
            let _ = self.events.send(ev);
        }
    }

    pub fn publish_log(&self, line: LogLine) {
        self.state().push_log(line.clone());
        let _ = self.events.send(RuntimeEvent::Log { line });
    }

    /// The connection in use, for intents.
    pub fn conn(&self) -> Option<Connection> {
        lock(&self.session).as_ref().map(|s| s.conn.clone())
    }

    /// Watch the cluster behind `conn` from now on: the old session stops,
    /// what it saw is forgotten (the environments read Unknown until the
    /// new cluster answers), and a new one starts.
    pub fn start_session(self: &Arc<Self>, conn: Connection, label: String) {
        let old = lock(&self.session).take();
        drop(old);
        *lock(&self.label) = label;
        let (generation, events) = {
            let mut st = self.state();
            let events = st.reset(&self.settings, now_ms());
            (st.generation, events)
        };
        self.publish(events);
        let task = tokio::spawn(run(self.clone(), conn.clone(), generation));
        *lock(&self.session) = Some(Session { task, conn });
    }

    pub fn stop(&self) {
        let old = lock(&self.session).take();
        drop(old);
    }
}

async fn run(shared: Arc<Shared>, conn: Connection, generation: u64) {
    let (tx, mut rx) = mpsc::channel::<Feed>(FEED_CAPACITY);
    // Dropped with this task: every watch stops with it.
    let mut watches = JoinSet::new();
    for namespace in shared.settings.namespaces() {
        for kind in Kind::ALL {
            let ns = namespace.clone();
            let wrap = move |msg| {
                Some(Feed {
                    kind,
                    namespace: ns.clone(),
                    msg,
                })
            };
            let (conn, namespace, tx) = (conn.clone(), namespace.clone(), tx.clone());
            watches.spawn(watch_objects(conn, namespace, kind.watched(), tx, wrap));
        }
    }
    drop(tx);
    let to_logs = Arc::downgrade(&shared);
    let sink: Sink = Arc::new(move |line| {
        if let Some(s) = to_logs.upgrade() {
            s.publish_log(line);
        }
    });
    let mut logs = PodLogs::new(conn, sink);
    while let Some(feed) = rx.recv().await {
        let kind = feed.kind;
        let events = {
            let mut st = shared.state();
            if st.generation != generation {
                return;
            }
            st.apply(&shared.settings, feed, now_ms())
        };
        shared.publish(events);
        if matches!(kind, Kind::Pods | Kind::ReplicaSets) {
            let wanted = log_targets(&shared.state(), &shared.settings);
            logs.sync(wanted);
        }
    }
}
