//! Throwaway network namespaces joined by a veth pair, and traffic between
//! them. Used by `pkttrace demo` and the live tests; nothing here touches the
//! host's own interfaces or sends to any address outside the two namespaces.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Prefix of every namespace this module creates (used to clean up leftovers).
const NS_PREFIX: &str = "pkttrace-";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Two namespaces `a` and `b`, a veth pair between them, IPv4 and IPv6 addresses.
pub struct TestNet {
    pub ns_a: String,
    pub ns_b: String,
    pub veth_a: String,
    pub veth_b: String,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
    pub addr6_a: Ipv6Addr,
    pub addr6_b: Ipv6Addr,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A namespace id (`tag-pid-seq`, the pid lets leftovers of killed runs be
/// found) and a short tag for interface names, which are limited to 15 bytes.
/// Clears leftovers first.
fn unique_names(tag: &str) -> (String, String) {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    remove_stale_namespaces();
    let pid = std::process::id();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    (
        format!("{tag}-{pid}-{seq}"),
        format!("{}{}", pid % 100_000, seq % 100),
    )
}

impl TestNet {
    /// Creates the pair; `tag` (a few letters) keeps concurrent users apart.
    pub fn create(tag: &str) -> Result<TestNet> {
        let (id, short) = unique_names(tag);
        let net = TestNet {
            ns_a: format!("{NS_PREFIX}{id}-a"),
            ns_b: format!("{NS_PREFIX}{id}-b"),
            veth_a: format!("pt{short}a"),
            veth_b: format!("pt{short}b"),
            addr_a: Ipv4Addr::new(10, 199, 0, 1),
            addr_b: Ipv4Addr::new(10, 199, 0, 2),
            addr6_a: "fd99::1".parse().expect("valid literal"),
            addr6_b: "fd99::2".parse().expect("valid literal"),
        };
        // From here on Drop removes whatever was created.
        ip(&["netns", "add", &net.ns_a])?;
        ip(&["netns", "add", &net.ns_b])?;
        ip(&[
            "link",
            "add",
            &net.veth_a,
            "netns",
            &net.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &net.veth_b,
            "netns",
            &net.ns_b,
        ])?;
        for (ns, dev, v4, v6) in [
            (&net.ns_a, &net.veth_a, net.addr_a, net.addr6_a),
            (&net.ns_b, &net.veth_b, net.addr_b, net.addr6_b),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ip(&[
                "-n",
                ns,
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Inode of a namespace, as `--netns` and events carry it.
    pub fn inode(ns: &str) -> Result<u64> {
        let path = format!("/run/netns/{ns}");
        Ok(std::fs::metadata(&path)
            .with_context(|| format!("stat {path}"))?
            .ino())
    }

    /// Runs `f` on a thread that has entered namespace `ns`.
    pub fn run_in<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> std::thread::JoinHandle<Result<T>> {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = File::open(&path).with_context(|| format!("open {path}"))?;
            // SAFETY: setns on this thread only, with a valid namespace fd.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error()).context("setns");
            }
            f()
        })
    }

    /// TCP: a client in `a` connects to an echo server in `b`, sends each
    /// message and reads it back, then closes. Returns bytes echoed.
    pub fn tcp_echo(&self, v6: bool, port: u16, messages: &[&[u8]]) -> Result<usize> {
        let server_addr = SocketAddr::new(self.addr_of_b(v6), port);
        let listener = Self::run_in(&self.ns_b, move || {
            TcpListener::bind(server_addr).context("bind echo server")
        })
        .join()
        .map_err(|_| anyhow::anyhow!("server setup panicked"))??;
        let server = std::thread::spawn(move || -> Result<()> {
            let (mut conn, _) = listener.accept()?;
            conn.set_read_timeout(Some(IO_TIMEOUT))?;
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                conn.write_all(&buf[..n])?;
            }
        });
        let owned: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
        let client = Self::run_in(&self.ns_a, move || {
            let mut conn = TcpStream::connect_timeout(&server_addr, IO_TIMEOUT)?;
            conn.set_read_timeout(Some(IO_TIMEOUT))?;
            let mut echoed = 0;
            for message in &owned {
                conn.write_all(message)?;
                let mut back = vec![0u8; message.len()];
                conn.read_exact(&mut back)?;
                echoed += back.len();
            }
            conn.shutdown(std::net::Shutdown::Both)?;
            Ok(echoed)
        });
        let echoed = client
            .join()
            .map_err(|_| anyhow::anyhow!("tcp client panicked"))??;
        server
            .join()
            .map_err(|_| anyhow::anyhow!("tcp server panicked"))??;
        Ok(echoed)
    }

    /// UDP: `count` datagrams from `a` to a receiver in `b`; returns how many arrived.
    pub fn udp_send(&self, v6: bool, port: u16, count: usize) -> Result<usize> {
        let dst = SocketAddr::new(self.addr_of_b(v6), port);
        udp_exchange(&self.ns_a, &self.ns_b, dst, dst, count)
    }

    /// One UDP datagram from `a` to a port in `b` nobody listens on: the
    /// kernel in `b` drops it (no socket) and answers ICMP port unreachable.
    /// Returns once that answer is back (or after a timeout, as ICMP is rate
    /// limited): by then `b` has dropped the datagram. Returning at once
    /// would leave callers guessing how long the ARP exchange that comes
    /// first takes (long, under emulation).
    pub fn udp_to_closed_port(&self, port: u16) -> Result<()> {
        let dst = SocketAddr::new(IpAddr::V4(self.addr_b), port);
        Self::run_in(&self.ns_a, move || {
            let sock = UdpSocket::bind(SocketAddr::new(unspecified(false), 0))?;
            // Connected: the port unreachable comes back as ECONNREFUSED.
            sock.connect(dst)?;
            sock.set_read_timeout(Some(IO_TIMEOUT))?;
            sock.send(b"nobody home")?;
            let _ = sock.recv(&mut [0u8; 64]);
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("udp sender panicked"))?
    }

    /// Makes namespace `b` drop incoming UDP to `port` (nftables, input hook).
    pub fn drop_udp_input(&self, port: u16) -> Result<()> {
        nft(
            &self.ns_b,
            &format!(
                "table inet pkttrace_filter {{\n  chain input {{\n    type filter hook input priority 0;\n    udp dport {port} drop\n  }}\n}}\n"
            ),
        )
    }

    /// Installs a token-bucket filter as the root qdisc of `a`'s veth: a
    /// qdisc other than the `noqueue` veths start with.
    pub fn add_tbf_on_a(&self) -> Result<()> {
        let out = Command::new("tc")
            .args([
                "-n",
                &self.ns_a,
                "qdisc",
                "add",
                "dev",
                &self.veth_a,
                "root",
            ])
            .args([
                "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms",
            ])
            .output()
            .context("running `tc` (install iproute2)")?;
        if !out.status.success() {
            bail!(
                "tc qdisc add tbf failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn addr_of_b(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.addr6_b)
        } else {
            IpAddr::V4(self.addr_b)
        }
    }
}

/// Three namespaces in a line, `a` — `r` — `b`, with `r` forwarding between
/// two subnets: traffic from `a` to `b` takes the kernel's forwarding path in
/// `r`. `b` also answers on a second, virtual address that `r` can NAT to.
pub struct RoutedNet {
    pub ns_a: String,
    pub ns_r: String,
    pub ns_b: String,
    pub veth_a: String,
    pub veth_ra: String,
    pub veth_rb: String,
    pub veth_b: String,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
}

impl RoutedNet {
    pub fn create(tag: &str) -> Result<RoutedNet> {
        let (id, short) = unique_names(tag);
        let net = RoutedNet {
            ns_a: format!("{NS_PREFIX}{id}-a"),
            ns_r: format!("{NS_PREFIX}{id}-r"),
            ns_b: format!("{NS_PREFIX}{id}-b"),
            veth_a: format!("pr{short}a"),
            veth_ra: format!("pr{short}c"),
            veth_rb: format!("pr{short}d"),
            veth_b: format!("pr{short}b"),
            addr_a: Ipv4Addr::new(10, 199, 1, 2),
            addr_b: Ipv4Addr::new(10, 199, 2, 2),
        };
        for ns in [&net.ns_a, &net.ns_r, &net.ns_b] {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "link",
            "add",
            &net.veth_a,
            "netns",
            &net.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            &net.veth_ra,
            "netns",
            &net.ns_r,
        ])?;
        ip(&[
            "link",
            "add",
            &net.veth_rb,
            "netns",
            &net.ns_r,
            "type",
            "veth",
            "peer",
            "name",
            &net.veth_b,
            "netns",
            &net.ns_b,
        ])?;
        for (ns, dev, addr) in [
            (&net.ns_a, &net.veth_a, "10.199.1.2/24"),
            (&net.ns_r, &net.veth_ra, "10.199.1.1/24"),
            (&net.ns_r, &net.veth_rb, "10.199.2.1/24"),
            (&net.ns_b, &net.veth_b, "10.199.2.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        ip(&[
            "-n",
            &net.ns_a,
            "route",
            "add",
            "default",
            "via",
            "10.199.1.1",
        ])?;
        ip(&[
            "-n",
            &net.ns_b,
            "route",
            "add",
            "default",
            "via",
            "10.199.2.1",
        ])?;
        let forwarding = Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.ns_r,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .context("enabling forwarding in the router namespace")?;
        if !forwarding.success() {
            bail!("sysctl net.ipv4.ip_forward=1 failed in {}", net.ns_r);
        }
        Ok(net)
    }

    /// `count` UDP datagrams from `a` to `dst` (normally `addr_b`), through `r`;
    /// returns how many a receiver in `b` got.
    pub fn udp_through_router(&self, dst: Ipv4Addr, port: u16, count: usize) -> Result<usize> {
        let bind = SocketAddr::new(IpAddr::V4(self.addr_b), port);
        let to = SocketAddr::new(IpAddr::V4(dst), port);
        udp_exchange(&self.ns_a, &self.ns_b, bind, to, count)
    }

    /// Makes `r` rewrite the destination `virtual_dst` to `addr_b` (DNAT, nftables).
    pub fn dnat(&self, virtual_dst: Ipv4Addr) -> Result<()> {
        let rules = format!(
            "table ip pkttrace_nat {{\n  chain prerouting {{\n    type nat hook prerouting priority -100;\n    ip daddr {virtual_dst} dnat to {}\n  }}\n}}\n",
            self.addr_b
        );
        nft(&self.ns_r, &rules)?;
        // `a` must send the virtual address towards `r`: its default route does.
        Ok(())
    }
}

impl Drop for RoutedNet {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_r, &self.ns_b] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// `count` datagrams sent from namespace `from` to `to`, received by a socket
/// bound to `bind` in namespace `at`; returns how many arrived.
fn udp_exchange(
    from: &str,
    at: &str,
    bind: SocketAddr,
    to: SocketAddr,
    count: usize,
) -> Result<usize> {
    let receiver = TestNet::run_in(at, move || {
        UdpSocket::bind(bind).context("bind udp receiver")
    })
    .join()
    .map_err(|_| anyhow::anyhow!("udp setup panicked"))??;
    receiver.set_read_timeout(Some(IO_TIMEOUT))?;
    TestNet::run_in(from, move || {
        let sock = UdpSocket::bind(SocketAddr::new(unspecified(to.is_ipv6()), 0))?;
        for i in 0..count {
            sock.send_to(format!("pkttrace datagram {i}").as_bytes(), to)?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("udp sender panicked"))??;
    let mut buf = [0u8; 2048];
    let mut received = 0;
    while received < count && receiver.recv_from(&mut buf).is_ok() {
        received += 1;
    }
    Ok(received)
}

/// Loads an nftables ruleset into namespace `ns`.
fn nft(ns: &str, rules: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (install nftables)")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(rules.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it, and so the pair.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Removes namespaces left by a process of ours that was killed (the pid in
/// the name is no longer alive).
fn remove_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
