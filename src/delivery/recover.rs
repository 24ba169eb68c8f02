//! What a controller makes of a rollout journal record left by a process
//! that died (or stopped) with an operation in flight. Checked once, before
//! the controller first applies its view.
//!
//! The rule: an unfinished operation is rolled back, never resumed. The
//! router's analysis window and the process that stepped the canary are
//! gone, so resuming would judge a step on evidence nobody gathered; the
//! stable version is what served before it started, and `retry` starts the
//! rollout again from its first step. It counts as completed only when the
//! runtime already runs its version as stable (Docker keeps the stable
//! version across restarts; the sandbox starts every environment again at
//! its `initial_version`, so there an unfinished rollout is always rolled
//! back). Either way the reason goes to the log, the pipeline history, the
//! environment's health (`status`, the console) and the audit journal.

use super::controller::{Aborted, Controller};
use super::journal::{InFlight, Operation};
use crate::clock::now_ms;
use crate::domain::audit::AuditEntry;
use crate::domain::logs::Level;
use crate::domain::pipeline::{PipelineKind, PipelineRun, StageStatus};

impl Controller {
    /// Settle what the journal says was in flight when the last run ended.
    pub(super) async fn recover(&mut self) {
        let Some(j) = self.s.journal.clone() else {
            return;
        };
        let record = match j.read() {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                let text = format!("{e}; nothing was recovered from it");
                self.log(Level::Error, text).await;
                return;
            }
        };
        let (completed, reason) = self.settle_record(&record).await;
        let status = if completed {
            StageStatus::Succeeded
        } else {
            StageStatus::Failed(reason.clone())
        };
        self.publish(&self.recovery_run(&record, &reason, status))
            .await;
        let level = if completed { Level::Info } else { Level::Warn };
        self.log(level, reason.clone()).await;
        let entry = AuditEntry {
            ts: now_ms(),
            user: "controller".into(),
            env: self.env().to_string(),
            action: if completed { "promote" } else { "rollback" }.into(),
            from_version: record.stable.as_ref().map(|v| v.0.clone()),
            to_version: self.view.stable.as_ref().map(|v| v.0.clone()),
            outcome: reason,
            detail: match record.pipeline_id {
                Some(id) => format!("pipeline #{id}, after restart"),
                None => "after restart".into(),
            },
        };
        let audit = j.audit_path().to_path_buf();
        let written = tokio::task::spawn_blocking(move || {
            crate::runtime::audit_log::append_audit_line(&audit, &entry).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = written {
            self.log(Level::Error, format!("{e}; the recovery is not audited"))
                .await;
        }
        if let Err(e) = j.clear() {
            self.log(Level::Error, e).await;
        }
    }

    /// Roll `record` back (or see that it completed); returns whether it
    /// completed and the reason to journal.
    async fn settle_record(&mut self, record: &InFlight) -> (bool, String) {
        let (what, who, when) = (record.what(), record.who(), record.when());
        let v = &record.version;
        let stable_has_instances = match &self.view.stable {
            Some(s) => !self.backend.instances(s).await.is_empty(),
            None => false,
        };
        let completed = self.view.stable.as_ref() == Some(v)
            || (!stable_has_instances && !self.backend.instances(v).await.is_empty());
        if completed {
            if self.view.stable.as_ref() != Some(v) {
                // What was stable is gone: the new version serves.
                let old = self.view.stable.replace(v.clone());
                self.view.previous = old;
                self.view.push_revision(v);
            }
            if let Some(old) = record.stable.as_ref().filter(|o| *o != v) {
                // The promotion may have stopped before it retired the old one.
                let _ = self.retire(old).await;
            }
            let text = format!("{what} completed before the restart ({who} {when}); {v} is stable");
            return (true, text);
        }
        let _ = self.retire(v).await;
        let stable = self
            .view
            .stable
            .as_ref()
            .map_or_else(|| "nothing".to_string(), |s| s.0.clone());
        let text = match record.operation {
            Operation::Rollback => {
                format!("{what} abandoned after restart: {who} {when}; {stable} stays stable")
            }
            _ => format!("{what} rolled back after restart: {who} {when}"),
        };
        if record.operation != Operation::Rollback {
            // Shown as the environment's health; `retry` deploys it again.
            self.aborted = Some(Aborted {
                version: v.clone(),
                reason: text.clone(),
            });
        }
        (false, text)
    }

    /// The pipeline run of the recovery, under the interrupted run's id.
    fn recovery_run(&self, record: &InFlight, reason: &str, status: StageStatus) -> PipelineRun {
        let id = record
            .pipeline_id
            .unwrap_or_else(|| self.backend.next_pipeline_id());
        let now = now_ms();
        let title = format!("{} in {} (after restart)", record.what(), self.env());
        let mut run = PipelineRun::new(
            id,
            PipelineKind::Rollback,
            self.env(),
            &title,
            &["recover after restart"],
            record.at.min(now),
        );
        run.start_stage(0, now);
        run.finish_stage(0, status.clone(), reason.to_string(), now);
        run.finish(status, now);
        run
    }
}

#[cfg(test)]
mod tests;
