//! The terminal in raw mode on the alternate screen, and back again on every
//! way out: a normal quit, an error, or a panic anywhere.

use std::io::{self, Stdout, Write};

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub(crate) type Tui = Terminal<CrosstermBackend<Stdout>>;

/// The terminal while lstui owns it; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Screen {
    pub(crate) terminal: Tui,
}

impl Screen {
    pub(crate) fn enter() -> io::Result<Screen> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode, mouse capture and the alternate screen; safe to call twice.
pub(crate) fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        Show
    );
}

/// A panic prints on a restored terminal, then ends lstui: a panic in a
/// background task would otherwise leave the UI running on a terminal that
/// is no longer in raw mode.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
}

/// Puts `text` on the clipboard of the terminal (and of tmux, with
/// `set-clipboard on`) with OSC 52, which works over ssh too.
pub(crate) fn copy(terminal: &mut Tui, text: &str) -> io::Result<()> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let backend = terminal.backend_mut();
    write!(backend, "\x1b]52;c;{encoded}\x07")?;
    backend.flush()
}

/// Shows `text` in `$PAGER` (default `less`), with the terminal given back
/// to it meanwhile, then takes the screen again.
pub(crate) fn page(terminal: &mut Tui, text: &str) -> io::Result<()> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less".to_string());
    restore();
    let shown = run_pager(&pager, text);
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    // A blank frame makes the next one draw every cell again (the new
    // alternate screen is empty). `Terminal::clear` would ask the terminal
    // for the cursor's position, an answer nobody reads here.
    terminal.draw(|frame| frame.render_widget(ratatui::widgets::Clear, frame.area()))?;
    shown
}

fn run_pager(pager: &str, text: &str) -> io::Result<()> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", pager])
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A pager that quits early closes its input: not an error.
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{pager} ended with {status}")))
    }
}
