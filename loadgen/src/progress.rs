//! The progress line on stderr that both run modes (SRT and HTTP) print: rewritten in place on
//! a terminal, one line per interval otherwise (for logs).

use std::io::{IsTerminal, Write};

#[derive(Debug)]
pub struct StatusLine {
    tty: bool,
    printed: bool,
}

impl Default for StatusLine {
    fn default() -> Self {
        StatusLine {
            tty: std::io::stderr().is_terminal(),
            printed: false,
        }
    }
}

impl StatusLine {
    pub fn print(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.printed = true;
    }

    /// Ends an in-place line with a newline, so what follows starts on its own line.
    pub fn finish(&mut self) {
        if self.tty && self.printed {
            let _ = writeln!(std::io::stderr());
        }
    }
}
