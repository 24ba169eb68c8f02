//! Agent: connection state in plain words, the conversation (newest at the
//! bottom), a streaming indicator and the input box.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};
use ratatui::Frame;

use super::{pane_frame, render_lines, wrap_lines};
use crate::app::actions::Action;
use crate::app::state::{App, ChatMessage, ChatRole, Mode, PaneId};
use crate::runtime::SourceState;
use crate::ui::text::{
    chars_to_spans, clean, sgr_to_spans, spans_to_chars, wrap_chars, StyledChar,
};
use crate::ui::theme::Theme;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

fn provider_name(p: &str) -> String {
    let p = clean(p);
    let mut c = p.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => "The agent".to_string(),
    }
}

/// The state line, in plain words.
pub fn state_text(app: &App) -> (String, bool) {
    let cfg = &app.config.agent;
    let provider = provider_name(&cfg.provider);
    let endpoint = clean(&cfg.endpoint);
    match &app.agent.state {
        SourceState::Ok => (
            format!(
                "{provider} at {endpoint} · model {}",
                clean(&app.agent.model)
            ),
            false,
        ),
        SourceState::Connecting => (format!("connecting to {provider} at {endpoint}…"), false),
        SourceState::Degraded(reason) => (
            // The agent source words its reason as a full sentence (unreachable,
            // model not pulled, bad endpoint).
            format!("{} — the rest of the console is unaffected", clean(reason)),
            true,
        ),
    }
}

fn role_prefix(role: ChatRole, theme: &Theme) -> (Span<'static>, Style) {
    match role {
        ChatRole::User => (
            Span::styled("you › ", theme.accent().add_modifier(Modifier::BOLD)),
            theme.text(),
        ),
        ChatRole::Assistant => (
            Span::styled("agent › ", theme.info().add_modifier(Modifier::BOLD)),
            theme.text(),
        ),
        ChatRole::System => (Span::styled("system › ", theme.muted()), theme.muted()),
    }
}

fn message_rows(m: &ChatMessage, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let (prefix, style) = role_prefix(m.role, theme);
    let prefix_w = prefix.width();
    // Line by line: `sgr_to_spans` drops control characters, line breaks too.
    let mut chars: Vec<StyledChar> = Vec::new();
    for (i, text) in m.text.split('\n').enumerate() {
        if i > 0 {
            chars.push(('\n', style));
        }
        let spans: Vec<Span<'static>> = sgr_to_spans(text, style)
            .into_iter()
            .map(|s| {
                let st = theme.restyle(s.style);
                s.style(st)
            })
            .collect();
        chars.extend(spans_to_chars(&spans));
    }
    let indent = 2.min(width.saturating_sub(1));
    let rows = wrap_chars(
        &chars,
        width.saturating_sub(prefix_w).max(1),
        width.saturating_sub(indent).max(1),
        true,
    );
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut s = if i == 0 {
                vec![prefix.clone()]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            s.extend(chars_to_spans(&r));
            Line::from(s)
        })
        .collect()
}

/// The rows of the conversation that fit in `height`, honouring the scroll
/// offset; only messages near the view are wrapped.
fn conversation(app: &App, theme: &Theme, width: usize, height: usize) -> Vec<Line<'static>> {
    let want = height + app.agent.scroll_from_bottom;
    let mut rows: Vec<Line<'static>> = Vec::new();
    for m in app.agent.messages.iter().rev() {
        let mut r = message_rows(m, theme, width);
        r.push(Line::default());
        r.extend(rows);
        rows = r;
        if rows.len() >= want {
            break;
        }
    }
    // Drop the blank line after the newest message.
    rows.pop();
    let end = rows.len().saturating_sub(app.agent.scroll_from_bottom);
    let start = end.saturating_sub(height);
    let mut shown: Vec<Line<'static>> = rows.drain(start..end).collect();
    // Newest at the bottom, right above the input, like any chat.
    let pad = height.saturating_sub(shown.len());
    let mut out = vec![Line::default(); pad];
    out.append(&mut shown);
    out
}

pub fn agent(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, focused: bool) {
    let short = match &app.agent.state {
        SourceState::Ok => Span::styled("● ok", theme.ok()),
        SourceState::Connecting => Span::styled("◌ connecting", theme.info()),
        SourceState::Degraded(_) => Span::styled("✗ unavailable", theme.warn()),
    };
    let mut info = vec![
        Span::styled(format!("{} ", clean(&app.agent.model)), theme.muted()),
        short,
    ];
    if app.agent.scroll_from_bottom > 0 {
        info.push(Span::styled(
            format!(" · ↑{}", app.agent.scroll_from_bottom),
            theme.muted(),
        ));
    }
    let inner = pane_frame(frame, area, PaneId::Agent, info, theme, focused);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = inner.width as usize;
    let (state, degraded) = state_text(app);
    let state_style = if degraded {
        theme.warn()
    } else {
        theme.muted()
    };
    let state_chars = spans_to_chars(&[Span::styled(state, state_style)]);
    let state_rows: Vec<Line<'static>> = wrap_chars(&state_chars, width, width, true)
        .into_iter()
        .take(if degraded { 3 } else { 2 })
        .map(|r| Line::from(chars_to_spans(&r)))
        .collect();
    let mut y = inner.y;
    let bottom = inner.bottom();
    let h = (state_rows.len() as u16).min(bottom - y);
    render_lines(
        frame,
        Rect {
            y,
            height: h,
            ..inner
        },
        state_rows,
    );
    y += h;
    // Input box at the bottom when there is room for it and one line of chat.
    let input_h: u16 = if bottom - y >= 4 { 3 } else { 0 };
    let stream_h: u16 = if app.agent.streaming && bottom - y > input_h {
        1
    } else {
        0
    };
    let chat = Rect {
        y,
        height: bottom - y - input_h - stream_h,
        ..inner
    };
    if chat.height > 0 {
        let lines = if app.agent.messages.is_empty() {
            let key = app
                .keymap
                .keys_for(Action::AgentCompose)
                .into_iter()
                .next()
                .map_or(String::new(), |k| format!(" (press {k})"));
            wrap_lines(
                vec![Line::from(Span::styled(
                    format!(
                        "Ask about the selected environment, e.g. why did the canary fail?{key}"
                    ),
                    theme.muted(),
                ))],
                width,
                0,
            )
        } else {
            conversation(app, theme, width, chat.height as usize)
        };
        render_lines(frame, chat, lines);
    }
    if stream_h > 0 {
        let frame_i = (app.now.rem_euclid(1_000) / 100) as usize % SPINNER.len();
        let line = Line::from(Span::styled(
            format!("{} answering…", SPINNER[frame_i]),
            theme.info(),
        ));
        render_lines(
            frame,
            Rect {
                y: chat.bottom(),
                height: 1,
                ..inner
            },
            vec![line],
        );
    }
    if input_h > 0 {
        let typing = app.mode == Mode::AgentInput;
        let box_area = Rect {
            y: bottom - input_h,
            height: input_h,
            ..inner
        };
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .border_style(theme.border(typing))
            .title(Span::styled(" ask ", theme.title(typing)));
        let text_area = block.inner(box_area);
        frame.render_widget(block, box_area);
        if typing {
            frame.render_widget(&app.agent.input, text_area);
        } else {
            let lines: Vec<Line<'static>> = if app.agent.input.is_empty() {
                let key = app.keymap.keys_for(Action::AgentCompose).into_iter().next();
                let hint = match key {
                    Some(k) => format!("press {k} to write a question"),
                    None => "focus this pane to write a question".to_string(),
                };
                vec![Line::from(Span::styled(hint, theme.muted()))]
            } else {
                app.agent
                    .input
                    .lines()
                    .iter()
                    .map(|l| Line::from(Span::styled(clean(l).into_owned(), theme.text())))
                    .collect()
            };
            render_lines(frame, text_area, lines);
        }
    }
}
