//! `BLISSFUL_INFRA_KILL_AT=rollout:<point>:<moment>`: a drill hook. The
//! process running the rollout SIGKILLs itself at that exact point of a
//! change of the traffic split, so the failure drills can check what the
//! next start makes of it (`tests/rollout_kill_drill.rs`). Nothing happens
//! unless the variable is set.
//!
//! `<point>` names the change: `step<N>` (a canary step, counted from 1),
//! `full` (all traffic to the canary: the watch after the last step, or a
//! blue/green switch), `promote` (the canary becomes stable), `undo` (an
//! earlier version becomes stable again), `rollback` (the canary's traffic
//! taken away). `<moment>` is `before-weight` (the journal holds the
//! intended weight, the router does not have it yet) or `after-weight` (the
//! router has it, the journal does not say so yet).

use std::sync::OnceLock;

use super::view::RolloutView;

pub const KILL_AT_VAR: &str = "BLISSFUL_INFRA_KILL_AT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Moment {
    BeforeWeight,
    AfterWeight,
}

impl Moment {
    fn name(self) -> &'static str {
        match self {
            Moment::BeforeWeight => "before-weight",
            Moment::AfterWeight => "after-weight",
        }
    }
}

/// The name of the change from `before` to `after` (see the module docs).
pub(super) fn point(before: Option<&RolloutView>, after: &RolloutView) -> String {
    let stable_before = before.and_then(|b| b.stable.as_ref());
    if after.stable.as_ref() != stable_before {
        let promoted = before.is_some_and(|b| b.canary.is_some() && b.canary == after.stable);
        return if promoted { "promote" } else { "undo" }.into();
    }
    match (&after.canary, after.step) {
        (Some(_), Some((i, _))) => format!("step{}", i + 1),
        (Some(_), None) if after.weight == 100 => "full".into(),
        (Some(_), None) if after.weight > 0 => format!("weight{}", after.weight),
        _ => "rollback".into(),
    }
}

/// SIGKILL this process when the drill asks for `point` at `moment`.
pub(super) fn maybe_kill(point: &str, moment: Moment) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(KILL_AT_VAR).ok().filter(|v| !v.is_empty()));
    let Some(at) = at else { return };
    let here = format!("rollout:{point}:{}", moment.name());
    if *at != here {
        return;
    }
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "drill ({KILL_AT_VAR}): SIGKILL at {here}"
        );
    }
    // SAFETY: sending a signal to this very process; SIGKILL cannot be caught.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::environment::Version;

    fn view(stable: &str, canary: Option<&str>, weight: u8, step: Option<usize>) -> RolloutView {
        RolloutView {
            stable: Some(Version::new(stable)),
            canary: canary.map(Version::new),
            weight,
            step: step.map(|i| (i, 3)),
            ..Default::default()
        }
    }

    #[test]
    fn points_name_the_change() {
        let s1 = view("v1", Some("v2"), 25, Some(0));
        let s2 = view("v1", Some("v2"), 50, Some(1));
        let full = view("v1", Some("v2"), 100, None);
        let promoted = view("v2", None, 0, None);
        let back = view("v1", None, 0, None);
        assert_eq!(point(Some(&s1), &s2), "step2");
        assert_eq!(point(Some(&s2), &full), "full");
        assert_eq!(point(Some(&full), &promoted), "promote");
        assert_eq!(point(Some(&s2), &back), "rollback");
        assert_eq!(point(Some(&promoted), &back), "undo");
    }
}
