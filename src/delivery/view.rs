//! The rollout state of one environment as the controller publishes it; the
//! runtime folds it into `EnvironmentStatus`.

use crate::domain::environment::{Health, TrafficSplit, Version};
use crate::domain::rollout::Revision;

/// What the rollout is doing, when it overrides the service's own health.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RolloutState {
    #[default]
    Idle,
    Progressing(String),
    Paused(String),
    Aborted(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutView {
    pub stable: Option<Version>,
    pub canary: Option<Version>,
    pub weight: u8,
    /// `(step index, total steps)` while a canary step runs.
    pub step: Option<(usize, usize)>,
    pub previous: Option<Version>,
    pub state: RolloutState,
    /// Every version that became stable, oldest first.
    pub revisions: Vec<Revision>,
}

impl RolloutView {
    pub fn split(&self) -> TrafficSplit {
        TrafficSplit {
            stable: self.stable.clone(),
            canary: self.canary.clone(),
            canary_weight: self.weight,
        }
    }

    /// The health a rollout in progress, paused or aborted shows instead of
    /// the instances' own.
    pub fn health(&self) -> Option<Health> {
        match &self.state {
            RolloutState::Idle => None,
            RolloutState::Progressing(p) => Some(Health::Progressing(p.clone())),
            RolloutState::Paused(p) => Some(Health::Paused(p.clone())),
            RolloutState::Aborted(r) => Some(Health::Aborted(r.clone())),
        }
    }

    /// Record that `version` became stable (a new revision).
    pub fn push_revision(&mut self, version: &Version) {
        let number = self.revisions.last().map_or(1, |r| r.number + 1);
        self.revisions.push(Revision {
            number,
            version: version.clone(),
        });
        const KEEP: usize = 50;
        if self.revisions.len() > KEEP {
            let drop = self.revisions.len() - KEEP;
            self.revisions.drain(..drop);
        }
    }

    pub fn revision(&self, number: u32) -> Option<&Version> {
        self.revisions
            .iter()
            .find(|r| r.number == number)
            .map(|r| &r.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_count_up_and_are_found_by_number() {
        let mut v = RolloutView::default();
        v.push_revision(&Version::new("v1"));
        v.push_revision(&Version::new("v2"));
        v.push_revision(&Version::new("v1"));
        let numbers: Vec<u32> = v.revisions.iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(v.revision(2), Some(&Version::new("v2")));
        assert_eq!(v.revision(9), None);
    }

    #[test]
    fn aborted_and_paused_are_their_own_health() {
        let mut v = RolloutView::default();
        assert_eq!(v.health(), None);
        v.state = RolloutState::Aborted("p99 too high".into());
        assert_eq!(v.health(), Some(Health::Aborted("p99 too high".into())));
        v.state = RolloutState::Paused("paused by ann".into());
        assert!(matches!(v.health(), Some(Health::Paused(_))));
    }
}
