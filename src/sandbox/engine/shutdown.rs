//! Shutdown: faults undone, instances and traffic stopped (bounded), routers
//! closed.

use tokio::task::JoinHandle;

use super::core::{Engine, Inbox, SHUTDOWN_GRACE};
use crate::domain::logs::Level;

impl Engine {
    pub(super) async fn shutdown(&mut self, inbox: &mut Inbox) {
        self.log(Level::Info, "sandbox", "sandbox shutting down".into());
        self.end_all_faults().await;
        let _ = self.traffic_stop.send(true);
        for t in self.metrics_tasks.drain(..) {
            t.abort();
        }
        let mut waits: Vec<JoinHandle<()>> = std::mem::take(&mut self.traffic_tasks);
        for env in &mut self.envs {
            for (_, inst) in std::mem::take(&mut env.instances) {
                waits.push(inst.handle.stop());
            }
        }
        waits.append(&mut self.stopping);
        let all = futures::future::join_all(waits);
        tokio::pin!(all);
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        // Keep draining: a supervisor may be waiting to report before it stops.
        loop {
            tokio::select! {
                _ = &mut all => break,
                _ = &mut deadline => {
                    self.log(Level::Warn, "sandbox", "some instances did not stop in time".into());
                    break;
                }
                Some(_) = inbox.updates.recv() => {}
                Some(_) = inbox.internal.recv() => {}
                Some(l) = inbox.logs.recv() => self.on_log(l),
            }
        }
        for env in &self.envs {
            env.router.shutdown().await;
        }
        for i in 0..self.envs.len() {
            self.touch(i);
        }
        self.flush_status();
    }
}
