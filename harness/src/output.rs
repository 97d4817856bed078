//! Printing for the commands that a user may pipe into `head`: a closed pipe
//! must end the output quietly, not panic.

use std::io::Write;

/// Print to stdout, ignoring a closed pipe.
pub fn say(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Print to stderr, ignoring a closed pipe.
pub fn esay(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
