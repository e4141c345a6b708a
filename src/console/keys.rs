//! What the operator's keys and mouse do to the console's state: normal-mode actions come from
//! the keymap (`keymap::action`), the dialogs (edit, reject, filter, transcript, quit) read their
//! own keys. A key that asks the core for something returns an `Effect`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;

use super::app::{App, Effect, Focus, Item, Mode, RowState, Sort};
use super::keymap::{self, Action, Key};
use crate::domain::Ts;
use crate::protocol::Op;

impl App {
    /// The index of the selected row among `rows()`.
    fn position(&self) -> Option<usize> {
        let selected = self.selected?;
        self.rows().position(|a| a.ts == selected)
    }

    fn select_by(&mut self, delta: isize) {
        let rows: Vec<Ts> = self.rows().map(|a| a.ts).collect();
        if rows.is_empty() {
            return;
        }
        let at = self.position().unwrap_or(0) as isize;
        let to = (at + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.moved = true;
        if Some(rows[to]) != self.selected {
            self.selected = Some(rows[to]);
            self.scroll = None;
            self.cursor = None;
        }
    }

    /// The next alert awaiting a decision after the selected one (wrapping).
    fn next_awaiting(&mut self) {
        let rows: Vec<(Ts, RowState)> = self.rows().map(|a| (a.ts, a.state)).collect();
        let at = self.position().unwrap_or(0);
        let found = (1..=rows.len())
            .map(|i| rows[(at + i) % rows.len()])
            .find(|(_, s)| *s == RowState::AwaitingApproval)
            .map(|(ts, _)| ts);
        if found.is_some() {
            self.moved = true;
            self.selected = found;
            self.scroll = None;
            self.cursor = None;
        }
    }

    /// Indices of the stream's calls.
    fn calls(&self) -> Vec<usize> {
        self.current()
            .map(|a| a.stream.iter().enumerate().filter(|(_, i)| matches!(i, Item::Call(_))).map(|(n, _)| n).collect())
            .unwrap_or_default()
    }

    fn move_cursor(&mut self, delta: isize) {
        let calls = self.calls();
        if calls.is_empty() {
            return;
        }
        let at = self.cursor.and_then(|c| calls.iter().position(|n| *n == c)).unwrap_or(calls.len() - 1) as isize;
        let to = (at + delta).clamp(0, calls.len() as isize - 1) as usize;
        self.cursor = Some(calls[to]);
        // Keep the cursor on screen: the line the call starts at.
        if let Some(a) = self.current() {
            let line: usize = a.stream[..calls[to]].iter().map(|i| i.height(self.stream_width)).sum();
            let top = self.scroll.unwrap_or_else(|| a.stream_height(self.stream_width).saturating_sub(self.page));
            if line < top || line >= top + self.page {
                self.scroll = Some(line.saturating_sub(self.page / 2));
            }
        }
    }

    fn scroll_by(&mut self, delta: isize) {
        let Some(total) = self.current().map(|a| a.stream_height(self.stream_width)) else { return };
        let bottom = total.saturating_sub(self.page);
        let top = self.scroll.unwrap_or(bottom) as isize;
        let to = (top + delta).clamp(0, bottom as isize) as usize;
        // Back at the end: follow again.
        self.scroll = if to >= bottom { None } else { Some(to) };
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent) -> bool {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.select_by(1),
            MouseEventKind::ScrollUp => self.select_by(-1),
            _ => return false,
        }
        true
    }

    /// Handles a key; the effect, if the key asks the core for something or to quit.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        match &mut self.mode {
            Mode::Edit(area) => {
                match Key::of(key) {
                    Key { code: KeyCode::Char('s'), ctrl: true } => {
                        let text = area.lines().join("\n");
                        self.mode = Mode::Normal;
                        return self.approve(Some(text));
                    }
                    Key { code: KeyCode::Esc, .. } => {
                        let edited = area.lines().join("\n");
                        let unchanged = self.current().and_then(|a| a.draft.as_deref()) == Some(edited.as_str());
                        self.mode = match std::mem::replace(&mut self.mode, Mode::Normal) {
                            Mode::Edit(area) if !unchanged => Mode::ConfirmDiscard(area),
                            _ => Mode::Normal,
                        };
                    }
                    _ => {
                        area.input(key);
                    }
                }
                None
            }
            Mode::ConfirmDiscard(_) => {
                let back = std::mem::replace(&mut self.mode, Mode::Normal);
                if let (Mode::ConfirmDiscard(area), false) = (back, matches!(key.code, KeyCode::Char('y'))) {
                    self.mode = Mode::Edit(area);
                }
                None
            }
            Mode::Reject(reason) => match line_input(reason, key) {
                Some(Line::Done) => {
                    let reason = Some(reason.trim().to_string()).filter(|r| !r.is_empty());
                    self.mode = Mode::Normal;
                    let a = self.current_mut().filter(|a| a.state == RowState::AwaitingApproval)?;
                    a.reject_reason.clone_from(&reason);
                    let ts = a.ts;
                    Some(Effect::Op(Op::Reject { alert_ts: ts, reason }))
                }
                Some(Line::Cancel) => {
                    self.mode = Mode::Normal;
                    None
                }
                None => None,
            },
            Mode::Filter => {
                match line_input(&mut self.filter, key) {
                    Some(Line::Done) => self.mode = Mode::Normal,
                    Some(Line::Cancel) => {
                        self.filter.clear();
                        self.mode = Mode::Normal;
                    }
                    None => {}
                }
                // Keep a selection among what is shown.
                if self.position().is_none() {
                    let first = self.rows().next().map(|a| a.ts);
                    self.selected = first;
                }
                None
            }
            Mode::Help { scroll } => {
                match keymap::action(key) {
                    Some(Action::Down | Action::DraftDown) => *scroll += 1,
                    Some(Action::Up | Action::DraftUp) => *scroll = scroll.saturating_sub(1),
                    _ => self.mode = Mode::Normal,
                }
                None
            }
            Mode::Transcript { scroll } => {
                match keymap::action(key) {
                    Some(Action::Down) => *scroll += 1,
                    Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                    Some(Action::PageDown) => *scroll += self.page,
                    Some(Action::PageUp) => *scroll = scroll.saturating_sub(self.page),
                    Some(Action::Quit | Action::Transcript) => self.mode = Mode::Normal,
                    _ if key.code == KeyCode::Esc => self.mode = Mode::Normal,
                    _ => {}
                }
                None
            }
            Mode::ConfirmQuit => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('q')) {
                    return Some(Effect::Quit);
                }
                self.mode = Mode::Normal;
                None
            }
            Mode::Normal => self.act(keymap::action(key)?),
        }
    }

    /// Does what a normal-mode action asks.
    pub fn act(&mut self, action: Action) -> Option<Effect> {
        let alerts = self.focus == Focus::Alerts;
        let page = self.page as isize;
        match action {
            Action::Down if alerts => self.select_by(1),
            Action::Up if alerts => self.select_by(-1),
            Action::PageDown if alerts => self.select_by(page),
            Action::PageUp if alerts => self.select_by(-page),
            Action::Top if alerts => self.select_by(isize::MIN / 2),
            Action::Bottom if alerts => self.select_by(isize::MAX / 2),
            Action::Down => self.move_cursor(1),
            Action::Up => self.move_cursor(-1),
            Action::PageDown => self.scroll_by(page),
            Action::PageUp => self.scroll_by(-page),
            Action::Top => self.scroll = Some(0),
            Action::Bottom => {
                self.scroll = None;
                self.cursor = None;
            }
            Action::HalfPageDown => self.scroll_by(page / 2),
            Action::HalfPageUp => self.scroll_by(-page / 2),
            Action::SwitchFocus => self.focus = if alerts { Focus::Stream } else { Focus::Alerts },
            Action::Expand if alerts => self.focus = Focus::Stream,
            Action::Expand => self.expand(),
            Action::Sort => {
                self.sort = if self.sort == Sort::Triage { Sort::Newest } else { Sort::Triage };
                self.moved = true;
            }
            Action::Filter => {
                self.focus = Focus::Alerts;
                self.mode = Mode::Filter;
            }
            Action::NextAwaiting => self.next_awaiting(),
            Action::Approve => return self.approve(None),
            Action::Edit => self.edit(),
            Action::Reject => {
                if self.current().is_some_and(|a| a.state == RowState::AwaitingApproval) {
                    self.mode = Mode::Reject(String::new());
                }
            }
            Action::Retriage => return self.retriage(),
            Action::ApproveAllRefires => return self.approve_all_refires(),
            Action::Transcript => self.mode = Mode::Transcript { scroll: 0 },
            Action::DraftDown => {
                let (rows, total) = self.draft_rows;
                self.draft_scroll = (self.draft_scroll + rows.saturating_sub(1).max(1)).min(total.saturating_sub(rows));
            }
            Action::DraftUp => {
                self.draft_scroll = self.draft_scroll.saturating_sub(self.draft_rows.0.saturating_sub(1).max(1))
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            Action::Quit if self.running() || self.count(RowState::AwaitingApproval) > 0 => {
                self.mode = Mode::ConfirmQuit
            }
            Action::Quit | Action::QuitNow => return Some(Effect::Quit),
        }
        None
    }

    fn expand(&mut self) {
        if self.cursor.is_none() {
            self.move_cursor(0);
        }
        let at = self.cursor;
        if let Some(Item::Call(c)) = at.and_then(|n| self.current_mut()?.stream.get_mut(n)) {
            c.expanded = !c.expanded;
        }
        self.focus = Focus::Stream;
    }

    fn edit(&mut self) {
        let Some(draft) =
            self.current().filter(|a| a.state == RowState::AwaitingApproval).and_then(|a| a.draft.clone())
        else {
            return;
        };
        let mut area = TextArea::new(draft.lines().map(str::to_string).collect());
        area.move_cursor(ratatui_textarea::CursorMove::Top);
        area.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
        self.mode = Mode::Edit(Box::new(area));
    }

    fn retriage(&mut self) -> Option<Effect> {
        let a = self.current_mut()?;
        if matches!(a.state, RowState::Investigating | RowState::Posting) {
            return None;
        }
        a.state = RowState::Investigating;
        Some(Effect::Op(Op::Retriage { alert_ts: a.ts }))
    }

    fn approve_all_refires(&mut self) -> Option<Effect> {
        let mut any = false;
        for a in self.alerts.values_mut().filter(|a| a.state == RowState::AwaitingApproval && a.refire_of.is_some()) {
            a.state = RowState::Posting;
            any = true;
        }
        any.then_some(Effect::Op(Op::ApproveAllRefires))
    }

    /// Approves the selected alert's draft (or the operator's edit of it).
    fn approve(&mut self, edited: Option<String>) -> Option<Effect> {
        let a = self.current_mut().filter(|a| a.state == RowState::AwaitingApproval)?;
        // Nobody approves what they have not seen: the draft's end must have been on screen
        // (an edit was read whole in the editor).
        if edited.is_none() && !a.draft_seen {
            a.approve_blocked = true;
            return None;
        }
        let text = edited.or_else(|| a.draft.clone())?;
        a.state = RowState::Posting;
        a.draft = Some(text.clone());
        a.note("approved: posting…");
        Some(Effect::Op(Op::Approve { alert_ts: a.ts, text }))
    }
}

/// What a key did to a one-line input (the filter, a reject reason).
enum Line {
    Done,
    Cancel,
}

/// Edits a one-line input; `Some` when the key ends the input.
fn line_input(text: &mut String, key: KeyEvent) -> Option<Line> {
    match Key::of(key) {
        Key { code: KeyCode::Enter, .. } => return Some(Line::Done),
        Key { code: KeyCode::Esc, .. } => return Some(Line::Cancel),
        Key { code: KeyCode::Backspace, .. } => {
            text.pop();
        }
        Key { code: KeyCode::Char(c), ctrl: false } => text.push(c),
        _ => {}
    }
    None
}
