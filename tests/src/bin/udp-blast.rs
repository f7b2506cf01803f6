//! Sends UDP datagrams at a paced rate, for the loss benchmark:
//! `udp-blast DST:PORT PACKETS_PER_SEC SECONDS [PAYLOAD_BYTES]`.
//! Prints the number of datagrams sent.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Datagrams sent between two clock checks.
const BATCH: u64 = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: udp-blast DST:PORT PACKETS_PER_SEC SECONDS [PAYLOAD_BYTES]");
        std::process::exit(2);
    }
    let parse_error = |what: &str| -> ! {
        eprintln!("udp-blast: bad {what}");
        std::process::exit(2)
    };
    let dst: SocketAddr = args[1]
        .parse()
        .unwrap_or_else(|_| parse_error("destination"));
    let pps: u64 = args[2].parse().unwrap_or_else(|_| parse_error("rate"));
    let secs: f64 = args[3].parse().unwrap_or_else(|_| parse_error("duration"));
    let size: usize = args
        .get(4)
        .map_or(Ok(64), |s| s.parse())
        .unwrap_or_else(|_| parse_error("size"));
    let bind = if dst.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    let sock = UdpSocket::bind(bind).unwrap_or_else(|e| {
        eprintln!("udp-blast: bind: {e}");
        std::process::exit(1)
    });
    let payload = vec![0x5au8; size];
    let start = Instant::now();
    let duration = Duration::from_secs_f64(secs);
    let mut sent: u64 = 0;
    while start.elapsed() < duration {
        for _ in 0..BATCH {
            if sock.send_to(&payload, dst).is_ok() {
                sent += 1;
            }
        }
        // Pace: sleep until the schedule catches up with what was sent.
        let due = Duration::from_secs_f64(sent as f64 / pps as f64);
        if let Some(ahead) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
    println!("{sent}");
}
