//! Where each part of the screen goes, for a given terminal size.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::state::PaneId;

/// Width and height from which all six panes are shown at once.
pub const WIDE_MIN_WIDTH: u16 = 100;
pub const WIDE_MIN_HEIGHT: u16 = 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreenLayout {
    pub header: Rect,
    /// Tab bar listing the panes (narrow terminals only).
    pub tabs: Option<Rect>,
    /// The panes to draw, with their areas.
    pub panes: Vec<(PaneId, Rect)>,
    pub status: Rect,
    /// The area below the header and above the status bar.
    pub body: Rect,
}

pub fn is_wide(area: Rect) -> bool {
    area.width >= WIDE_MIN_WIDTH && area.height >= WIDE_MIN_HEIGHT
}

/// Take `n` rows off the top of `r`.
fn take_top(r: &mut Rect, n: u16) -> Rect {
    let n = n.min(r.height);
    let top = Rect { height: n, ..*r };
    r.y += n;
    r.height -= n;
    top
}

fn take_bottom(r: &mut Rect, n: u16) -> Rect {
    let n = n.min(r.height);
    r.height -= n;
    Rect {
        y: r.y + r.height,
        height: n,
        ..*r
    }
}

pub fn compute(area: Rect, focus: PaneId, zoomed: bool) -> ScreenLayout {
    let mut rest = area;
    // On tiny terminals the status bar wins over the header, the body over both.
    let n = u16::from(rest.height >= 2);
    let status = take_bottom(&mut rest, n);
    let n = u16::from(rest.height >= 2);
    let header = take_top(&mut rest, n);
    let wide = is_wide(area);
    let tabs = (!wide && !zoomed && rest.height >= 4).then(|| take_top(&mut rest, 1));
    let body = rest;
    let panes = if wide && !zoomed {
        let [top, mid, bottom] = Layout::vertical([
            Constraint::Percentage(30),
            Constraint::Percentage(30),
            Constraint::Fill(1),
        ])
        .areas(body);
        let split = |r: Rect, left: u16| -> [Rect; 2] {
            Layout::horizontal([Constraint::Percentage(left), Constraint::Fill(1)]).areas(r)
        };
        let [env, pipe] = split(top, 55);
        let [metrics, chaos] = split(mid, 55);
        let [logs, agent] = split(bottom, 62);
        vec![
            (PaneId::Environments, env),
            (PaneId::Pipeline, pipe),
            (PaneId::Metrics, metrics),
            (PaneId::Chaos, chaos),
            (PaneId::Logs, logs),
            (PaneId::Agent, agent),
        ]
    } else {
        vec![(focus, body)]
    };
    ScreenLayout {
        header,
        tabs,
        panes,
        status,
        body,
    }
}

/// A `width` × `height` rectangle centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_layout_has_six_panes_inside_the_body() {
        let area = Rect::new(0, 0, 120, 40);
        let l = compute(area, PaneId::Logs, false);
        assert_eq!(l.panes.len(), 6);
        assert_eq!(l.header, Rect::new(0, 0, 120, 1));
        assert_eq!(l.status, Rect::new(0, 39, 120, 1));
        assert!(l.tabs.is_none());
        for (_, r) in &l.panes {
            assert!(l.body.contains(r.as_position()) && r.bottom() <= l.body.bottom());
        }
        let logs = l
            .panes
            .iter()
            .find(|(p, _)| *p == PaneId::Logs)
            .map(|(_, r)| *r);
        let logs = logs.expect("logs pane");
        assert!(logs.width > 70 && logs.width < 80, "{logs:?}");
        assert!(logs.height >= 14, "{logs:?}");
    }

    #[test]
    fn narrow_and_zoomed_show_only_the_focused_pane() {
        let l = compute(Rect::new(0, 0, 80, 24), PaneId::Chaos, false);
        assert_eq!(l.panes, vec![(PaneId::Chaos, Rect::new(0, 2, 80, 21))]);
        assert_eq!(l.tabs, Some(Rect::new(0, 1, 80, 1)));
        let z = compute(Rect::new(0, 0, 120, 40), PaneId::Metrics, true);
        assert_eq!(z.panes, vec![(PaneId::Metrics, Rect::new(0, 1, 120, 38))]);
    }

    #[test]
    fn tiny_areas_do_not_underflow() {
        for (w, h) in [(0, 0), (1, 1), (10, 3), (20, 5), (5, 2)] {
            let l = compute(Rect::new(0, 0, w, h), PaneId::Logs, false);
            let total =
                l.header.height + l.status.height + l.body.height + l.tabs.map_or(0, |t| t.height);
            assert_eq!(total, h);
        }
        assert_eq!(
            centered(Rect::new(0, 0, 10, 4), 50, 20),
            Rect::new(0, 0, 10, 4)
        );
        assert_eq!(
            centered(Rect::new(0, 0, 10, 10), 4, 2),
            Rect::new(3, 4, 4, 2)
        );
    }
}
