//! Neutralise control and escape sequences in untrusted text (logs, container
//! output, cluster strings, LLM answers) before it reaches a terminal.
//! Only SGR colour/style sequences (`ESC [ params m`) survive, and only with
//! allow-listed parameters.

/// Sanitise raw bytes into a printable string (see module docs).
pub fn sanitize_bytes(input: &[u8]) -> String {
    sanitize_str(&String::from_utf8_lossy(input))
}

/// Sanitise text, keeping allow-listed SGR sequences.
pub fn sanitize_str(input: &str) -> String {
    let _ = input;
    String::new()
}
