//! The part of the Environments pane only an observed rollout has (Argo
//! Rollouts): who steps it and where it lives, the weight asked for and
//! the weight in effect, the stable and canary ReplicaSets with their
//! images, and a stale mark while the cluster cannot be read.

use ratatui::text::{Line, Span};

use crate::domain::environment::{EnvironmentStatus, InstanceDetail, InstanceStatus};
use crate::domain::observed::{ObservedRollout, ReplicaSetInfo};
use crate::ui::text::clean;
use crate::ui::theme::Theme;

/// The canary cell: `v2 20%`, or `v2 20% (set 40%)` while the router lags.
pub fn canary_cell(e: &EnvironmentStatus) -> Option<String> {
    let o = e.observed.as_ref()?;
    let v = e.traffic.canary.as_ref()?;
    Some(format!(
        "{} {}",
        clean(v.as_str()),
        o.weight_label().unwrap_or_else(|| "-".into())
    ))
}

/// `stale · ` before the health of an environment whose data is old.
pub fn stale_prefix(e: &EnvironmentStatus) -> &'static str {
    match e.observed.as_ref().and_then(|o| o.stale.as_ref()) {
        Some(_) => "stale · ",
        None => "",
    }
}

/// The phase cell of an instance: a pod adds why it is not running well.
pub fn phase_suffix(i: &InstanceStatus) -> String {
    match &i.detail {
        InstanceDetail::Pod {
            reason: Some(r), ..
        } => format!(" · {}", clean(r)),
        _ => String::new(),
    }
}

fn replicaset(label: &str, rs: &ReplicaSetInfo, theme: &Theme) -> Vec<Span<'static>> {
    let style = if label == "stable" {
        theme.stable()
    } else {
        theme.canary()
    };
    vec![
        Span::styled(format!("{label} "), theme.muted()),
        Span::styled(clean(&rs.hash).into_owned(), style),
        Span::styled(
            format!(
                " {} {}/{}",
                rs.image.as_deref().map_or("(image unknown)".into(), clean),
                rs.ready,
                rs.replicas
            ),
            theme.text(),
        ),
    ]
}

/// The head of the detail: object, weights, ReplicaSets, staleness.
pub fn observed_lines(
    e: &EnvironmentStatus,
    o: &ObservedRollout,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let weight = |w: Option<u8>| w.map_or("-".to_string(), |w| format!("{w}%"));
    let mut head = vec![
        Span::styled(format!("{} ", clean(&e.name)), theme.title(false)),
        Span::styled(clean(&o.object).into_owned(), theme.info()),
        Span::styled(
            format!(" · stepped by {}", clean(&o.controller)),
            theme.muted(),
        ),
        Span::styled(
            format!(
                " · weight set {} actual {}",
                weight(o.set_weight),
                weight(o.actual_weight)
            ),
            theme.text(),
        ),
    ];
    head.push(Span::styled(
        format!(" · {}/{} ready", o.ready, o.desired),
        theme.muted(),
    ));
    let mut lines = vec![Line::from(head)];
    let mut sets = Vec::new();
    if let Some(rs) = &o.stable {
        sets.extend(replicaset("stable", rs, theme));
    }
    if let Some(rs) = &o.canary {
        if !sets.is_empty() {
            sets.push(Span::styled(" · ", theme.muted()));
        }
        sets.extend(replicaset("canary", rs, theme));
    }
    if !sets.is_empty() {
        lines.push(Line::from(sets));
    }
    if let Some(why) = &o.stale {
        lines.push(Line::from(vec![
            Span::styled("stale: ", theme.warn()),
            Span::styled(format!("last data shown; {}", clean(why)), theme.muted()),
        ]));
    }
    lines
}
