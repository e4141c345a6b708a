//! The keys of the console's normal mode, as data: one table drives `App::on_key` and writes the
//! `?` help, so the two cannot drift apart. A row of the help is one `Binding`: its keys, each
//! with the action it triggers, and what the row does in words.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can do in normal mode. What an action means can depend on the focused pane
/// (`Down` moves in the alerts, or between the calls of the stream); `App::act` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    SwitchFocus,
    Expand,
    HalfPageDown,
    HalfPageUp,
    Filter,
    NextAwaiting,
    Approve,
    Edit,
    Reject,
    Retriage,
    ApproveAllRefires,
    Transcript,
    DraftDown,
    DraftUp,
    Zoom,
    Sort,
    Help,
    Quit,
    QuitNow,
}

/// One key: a code, with or without Ctrl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(c: char) -> Key {
    Key { code: KeyCode::Char(c), ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key { code: KeyCode::Char(c), ctrl: true }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    pub fn of(event: KeyEvent) -> Key {
        Key { code: event.code, ctrl: event.modifiers.contains(KeyModifiers::CONTROL) }
    }

    /// The key as the help writes it.
    pub fn name(self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) if self.ctrl => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl { format!("Ctrl+{base}") } else { base }
    }
}

/// One row of the help.
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    pub what: &'static str,
}

impl Binding {
    /// The keys of the row, as the help writes them.
    pub fn label(&self) -> String {
        self.keys.iter().map(|(k, _)| k.name()).collect::<Vec<_>>().join(" ")
    }
}

use Action as A;

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(key('j'), A::Down), (key('k'), A::Up), (code(KeyCode::Up), A::Up), (code(KeyCode::Down), A::Down)],
        what: "move in the focused pane (alerts, or the calls of the stream)",
    },
    Binding {
        keys: &[(code(KeyCode::PageUp), A::PageUp), (code(KeyCode::PageDown), A::PageDown)],
        what: "page; mouse wheel moves in the alerts",
    },
    Binding {
        keys: &[
            (key('g'), A::Top),
            (key('G'), A::Bottom),
            (code(KeyCode::Home), A::Top),
            (code(KeyCode::End), A::Bottom),
        ],
        what: "top / bottom (End follows the live stream again)",
    },
    Binding { keys: &[(code(KeyCode::Tab), A::SwitchFocus)], what: "switch focus: alerts ↔ investigation" },
    Binding {
        keys: &[(code(KeyCode::Enter), A::Expand)],
        what: "in the alerts: open the investigation; in it: expand or fold the call under the cursor",
    },
    Binding {
        keys: &[(ctrl('d'), A::HalfPageDown), (ctrl('u'), A::HalfPageUp)],
        what: "scroll the investigation half a page",
    },
    Binding { keys: &[(key('/'), A::Filter)], what: "filter alerts (cluster, kind, state, severity); Esc clears" },
    Binding { keys: &[(key('s'), A::Sort)], what: "sort the alerts: by urgency (awaiting first) or newest first" },
    Binding { keys: &[(key('n'), A::NextAwaiting)], what: "next alert awaiting approval" },
    Binding {
        keys: &[(key(' '), A::DraftDown), (key('b'), A::DraftUp)],
        what: "scroll the draft down / up (\"more ↓\" says there is more)",
    },
    Binding { keys: &[(key('z'), A::Zoom)], what: "the draft full size in the investigation pane, or back" },
    Binding {
        keys: &[(key('a'), A::Approve)],
        what: "approve: post the draft (once its last line has been on screen)",
    },
    Binding { keys: &[(key('e'), A::Edit)], what: "edit the draft, then Ctrl+S posts it (Esc cancels)" },
    Binding { keys: &[(key('r'), A::Reject)], what: "reject the draft, with an optional reason" },
    Binding { keys: &[(key('t'), A::Retriage)], what: "re-triage (after a post, an approved draft is a follow-up)" },
    Binding { keys: &[(key('A'), A::ApproveAllRefires)], what: "approve every pending re-fire reply" },
    Binding { keys: &[(ctrl('t'), A::Transcript)], what: "full transcript of the alert" },
    Binding { keys: &[(key('?'), A::Help)], what: "this help" },
    Binding { keys: &[(key('q'), A::Quit)], what: "quit (asks while a triage runs)" },
    Binding { keys: &[(ctrl('c'), A::QuitNow)], what: "quit now" },
];

/// The action a key triggers in normal mode, if any.
pub fn action(event: KeyEvent) -> Option<Action> {
    let pressed = Key::of(event);
    BINDINGS.iter().flat_map(|b| b.keys).find(|(k, _)| *k == pressed).map(|(_, a)| *a)
}
