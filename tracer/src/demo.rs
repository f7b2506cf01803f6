//! `pkttrace demo`: two throwaway namespaces, real TCP and UDP between them,
//! traced with the best backend. Everything is removed on exit, Ctrl-C included.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::{DemoArgs, FilterArgs, TraceArgs};
use crate::netns::TestNet;
use crate::session::{Limits, Session};
use crate::status::Status;

const TCP_PORT: u16 = 8080;
const UDP_PORT: u16 = 9000;
const CLOSED_PORT: u16 = 9001;
/// Lets the last packets' frees reach the ring before the trace stops.
const SETTLE: Duration = Duration::from_millis(300);

pub fn run(args: &DemoArgs, stop: Arc<AtomicBool>, status: &Status) -> Result<()> {
    crate::host::require_privileges()?;
    let net = Arc::new(TestNet::create("demo").context("creating the demo namespaces")?);
    let ino_a = TestNet::inode(&net.ns_a)?;
    let ino_b = TestNet::inode(&net.ns_b)?;
    status.info(format!(
        "demo: {} ({}, {}) <-veth-> {} ({}, {})",
        net.ns_a, net.addr_a, net.addr6_a, net.ns_b, net.addr_b, net.addr6_b
    ));
    status.info(format!(
        "demo: TCP echo to port {TCP_PORT} over IPv4 and IPv6, 3 UDP datagrams to port {UDP_PORT}, 1 to closed port {CLOSED_PORT}"
    ));
    let trace = TraceArgs {
        filter: FilterArgs {
            expression: vec![format!("netns {ino_a} or netns {ino_b}")],
            ..FilterArgs::default()
        },
        backend: args.backend,
        ring_kib: 8192,
        ..TraceArgs::default()
    };
    let mut session = Session::start(&trace, status)?;
    let frames = crate::output::has_call_frames(&session.meta);
    let mut sink = crate::output::stdout_sink(&args.output, frames, false, None);

    let traffic_stop = stop.clone();
    let traffic_net = net.clone();
    let traffic = std::thread::spawn(move || -> Result<()> {
        let result = drive_traffic(&traffic_net, &traffic_stop);
        std::thread::sleep(SETTLE);
        traffic_stop.store(true, Ordering::Relaxed);
        result
    });
    let summary = session.run(sink.as_mut(), Limits::default(), &stop, status)?;
    traffic
        .join()
        .map_err(|_| anyhow::anyhow!("traffic thread panicked"))??;
    status.info(format!(
        "demo: {} events, {} lost, {} filtered out in the kernel",
        summary.events, summary.lost, summary.filtered
    ));
    Ok(())
}

fn drive_traffic(net: &TestNet, stop: &AtomicBool) -> Result<()> {
    let steps: [&dyn Fn() -> Result<()>; 4] = [
        &|| {
            net.tcp_echo(false, TCP_PORT, &[b"hello", b"world"])
                .map(|_| ())
        },
        &|| {
            net.tcp_echo(true, TCP_PORT, &[b"hello over IPv6"])
                .map(|_| ())
        },
        &|| net.udp_send(false, UDP_PORT, 3).map(|_| ()),
        &|| net.udp_to_closed_port(CLOSED_PORT),
    ];
    for step in steps {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        step()?;
    }
    Ok(())
}
