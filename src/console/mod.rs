//! The console (TUI): the on-call engineer's screen. It owns the terminal (raw mode, alternate
//! screen, mouse; restored on every exit, panics included), turns core events and keys into
//! state (`app`) and draws it (`view`). Drawing never waits on the network: the core runs on
//! its own tasks and only its events reach here. Redraws happen on change, coalesced: a burst
//! of events is one frame; idle, the screen wakes once a second (the poll countdown), or ten
//! times a second while a spinner turns.

pub mod app;
pub mod keymap;
mod keys;
pub mod view;
pub mod wrap;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event as Input, KeyEventKind};
use ratatui::crossterm::execute;
use tokio::sync::mpsc;

use crate::core::CoreHandle;
use crate::domain::Ts;
use crate::protocol::Op;
use app::{App, Effect};
use view::Theme;

/// Why the console ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The operator quit, leaving this many triages running and drafts waiting.
    Quit { running: usize, waiting: usize },
    /// The core stopped on its own.
    CoreStopped,
}

/// Restores the terminal when dropped (every return path).
struct Terminal;

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

/// Runs the console until the operator quits or the core stops. Returns with the terminal
/// restored; the core has been asked to stop when the operator quit.
pub async fn run(handle: &mut CoreHandle, reasoner: &str, uses_model: bool) -> io::Result<Ended> {
    let mut terminal = ratatui::try_init()?;
    let _restore = Terminal;
    execute!(io::stdout(), EnableMouseCapture)?;
    // ratatui's hook restores raw mode and the screen; this one also releases the mouse first.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        hook(info);
    }));

    // Keys are read on a thread of their own: crossterm's read blocks.
    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(input) = event::read() {
            if keys_tx.send(input).is_err() {
                break;
            }
        }
    });

    let theme = Theme::from_env();
    let started = Instant::now();
    let mut app = App::new(reasoner, uses_model);
    let mut dirty = true;
    loop {
        app.now_ms = started.elapsed().as_millis() as u64;
        app.wall = Ts::now();
        if dirty {
            let mut drawn = None;
            terminal.draw(|frame| drawn = Some(view::draw(frame, &app, theme)))?;
            if let Some(drawn) = drawn {
                app.drawn(drawn);
            }
            dirty = false;
        }
        if std::mem::take(&mut app.ring) {
            // The bell, and an OSC 9 notification for terminals that show one.
            let mut out = io::stdout();
            let _ = out.write_all(b"\x07\x1b]9;oncall-triage: a reply awaits your approval\x07");
            let _ = out.flush();
        }
        let animating = app.running() || app.alerts.values().any(|a| a.state == app::RowState::Posting);
        let tick = if animating { Duration::from_millis(100) } else { Duration::from_secs(1) };
        tokio::select! {
            event = handle.next_event() => match event {
                Some(e) => {
                    dirty |= app.apply(e);
                    // Coalesce: everything already waiting goes into the same frame.
                    while let Some(e) = handle.try_next_event() {
                        dirty |= app.apply(e);
                    }
                }
                None => return Ok(Ended::CoreStopped),
            },
            input = keys.recv() => {
                let Some(input) = input else { return Ok(Ended::CoreStopped) };
                let effect = match input {
                    Input::Key(key) if key.kind != KeyEventKind::Release => app.on_key(key),
                    Input::Mouse(mouse) => {
                        app.on_mouse(mouse);
                        None
                    }
                    _ => None,
                };
                dirty = true;
                match effect {
                    Some(Effect::Op(op)) => {
                        if let Err(e) = handle.submit(op) {
                            app.error = Some(e.to_string());
                        }
                    }
                    Some(Effect::Quit) => {
                        let _ = handle.submit(Op::Quit);
                        return Ok(Ended::Quit {
                            running: app.count(app::RowState::Investigating),
                            waiting: app.count(app::RowState::AwaitingApproval),
                        });
                    }
                    None => {}
                }
            }
            _ = tokio::time::sleep(tick) => dirty = animating || app.next_poll_at_ms.is_some(),
        }
    }
}
