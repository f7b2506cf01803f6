//! The subcommands of the tdmactl binary (the library has the parts they share).

pub mod apply;
pub mod keywords;
pub mod show;
pub mod watch;

use tdmactl::netlink::Ack;

/// Status goes to stderr so stdout stays data.
pub fn status(msg: &str) {
    eprintln!("tdmactl: {msg}");
}

/// The kernel's extack warning on success, printed like tc does.
pub fn warn(ack: &Ack) {
    if let Some(w) = &ack.warning {
        eprintln!("tdmactl: warning: {w}");
    }
}
