//! Load tests and comparisons started from the console (not destructive:
//! they run on separate load).

use super::*;

impl App {
    pub(in crate::app) fn start_load_test(&mut self) -> Vec<Command> {
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment to load-test yet", Severity::Warning);
            return Vec::new();
        };
        self.flash(
            format!("load test of {env} started (Pipeline and Metrics panes)"),
            Severity::Info,
        );
        vec![Command::LoadTest { env }]
    }

    pub(in crate::app) fn open_compare_picker(&mut self) {
        if self
            .comparison
            .as_ref()
            .is_some_and(ComparisonView::running)
        {
            self.flash(
                "a comparison is already running: v shows it",
                Severity::Warning,
            );
            return;
        }
        let Some(env) = self.selected_env_name() else {
            self.flash("no environment to compare against yet", Severity::Warning);
            return;
        };
        let Some(stable) = self.selected_env().and_then(|e| e.traffic.stable.clone()) else {
            self.flash(
                format!("{env} has no stable version to compare with"),
                Severity::Warning,
            );
            return;
        };
        // The same candidates as deploy offers.
        self.open_deploy_picker();
        let Mode::Picker(mut p) = self.mode.clone() else {
            return;
        };
        p.purpose = PickerPurpose::CompareVersion;
        p.title = format!("Compare with {} (stable) of", stable.as_str());
        self.mode = Mode::Picker(p);
    }

    pub(in crate::app) fn start_comparison(&mut self, env: &str, new: &str) -> Vec<Command> {
        let Some(old) = self
            .envs
            .iter()
            .find(|e| e.name == env)
            .and_then(|e| e.traffic.stable.clone())
        else {
            self.flash(format!("{env} has no stable version"), Severity::Warning);
            return Vec::new();
        };
        let old = old.as_str().to_string();
        let cap = self.config.console.metric_points;
        let run = PipelineRun::new(
            0,
            PipelineKind::Comparison,
            env,
            &format!("compare {old} → {new}"),
            &crate::compare::STAGES,
            self.now,
        );
        self.comparison = Some(ComparisonView {
            env: env.to_string(),
            old: old.clone(),
            new: new.to_string(),
            run,
            old_series: MetricSeries::new(cap),
            new_series: MetricSeries::new(cap),
            outcome: None,
        });
        self.mode = Mode::Comparison { scroll: 0 };
        vec![Command::Compare {
            env: env.to_string(),
            old,
            new: new.to_string(),
        }]
    }

    pub(in crate::app) fn on_compare_event(&mut self, ev: crate::compare::CompareEvent) {
        use crate::compare::{CompareEvent, Side};
        let now = self.now;
        let Some(view) = &mut self.comparison else {
            return;
        };
        match ev {
            CompareEvent::StageStarted(i) => view.run.start_stage(i, now),
            CompareEvent::StageEnded {
                index,
                status,
                detail,
            } => view.run.finish_stage(index, status, detail, now),
            CompareEvent::Point { side, point } => match side {
                Side::Old => view.old_series.push(point),
                Side::New => view.new_series.push(point),
            },
        }
        self.dirty = true;
    }
}
