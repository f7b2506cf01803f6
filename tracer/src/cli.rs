//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  pkttrace --proto tcp                      every TCP packet the kernel touches
  pkttrace 'tcp and port 80 and not host 10.0.0.1'
  pkttrace --ifname veth0 --follow-skb      packets seen on veth0, then wherever they go
  pkttrace -o json --max-events 100         JSON lines for scripts
  pkttrace -o classic --proto tcp           the 2005 study's B/E log, indented
  pkttrace -o json --trees                  one JSON call tree per line
  pkttrace record -o trace.pkt --duration 10
  pkttrace report trace.pkt -o json
  pkttrace report trace.pkt 'udp and port 53'  a record, filtered after the fact
  pkttrace --profile tcp-in --func 'ip_*'   call trees of chosen kernel functions
  pkttrace --all-skb-funcs --dry-run        what could be probed, and why not the rest
  pkttrace --backend kprobe --all-skb-funcs every function with an skb (kprobe-multi: seconds)
  pkttrace --func 'sch_tdma:tdma_*' -o tree a loaded module's functions
  pkttrace --tdma --ifname veth0            sch_tdma's windows and the packets sent in each
  pkttrace --stack 'udp and port 53'        each event with its kernel stack
  pkttrace --cost --duration 10 -q          what each probe costs the kernel, per run and in total
  pkttrace functions --skb 'tcp_*'          traceable functions, skb argument, source
  pkttrace doctor                           what this kernel lets pkttrace do
  pkttrace demo                             trace TCP and UDP between two throwaway namespaces

Filter expressions follow pcap-filter: tcp, udp, icmp, icmp6, ip, ip6, arp,
[src|dst] host ADDR, [src|dst] net CIDR, [src|dst] port N, portrange N-M,
ifname NAME, netns INODE, pid N, tcp-syn/tcp-fin/tcp-rst/..., and, or, not, ( ).
host and net also match ARP's sender and target addresses. Options such as
--proto and --port are ANDed with the expression. Filters run in the kernel:
packets that do not match cost no ring-buffer space. `report` takes the same
filter and runs it on the recorded events.

Exit status: 0 success, 1 runtime error, 2 usage error.";

#[derive(Parser, Debug)]
#[command(
    name = "pkttrace",
    version,
    about = "Shows what the Linux kernel does with each network packet",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub trace: TraceArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How events are printed.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output format; default: call trees when functions are probed, else
    /// one line per event
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// With -o json: one JSON object per call tree instead of per event
    #[arg(long)]
    pub trees: bool,
    /// One entry per packet: its headers, outcome (delivered, dropped,
    /// forwarded, sent, queued), hops with latency and header rewrites, and
    /// (-o tree, --trees) the call trees of its skbs across CPUs, queues and
    /// namespaces; printed once the packet is gone. Default for reports of
    /// traces with function probes
    #[arg(long, alias = "journeys", conflicts_with = "passes")]
    pub packets: bool,
    /// With --packets: also the skbs that are no network packets (unix and
    /// netlink sockets') and call trees without any skb
    #[arg(long)]
    pub all_skbs: bool,
    /// Print each call tree as soon as it completes (default for live traces)
    #[arg(long)]
    pub passes: bool,
    /// sch_tdma's view: each transmit window with the packets sent in it,
    /// how long each waited and how much of the window was left; drops and
    /// schedule changes as they happen (-o json: one object per window)
    #[arg(long, conflicts_with_all = ["trees", "packets", "passes"])]
    pub tdma: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Trace live and write a record file for `pkttrace report`
    Record(Box<RecordArgs>),
    /// Print a record file as text or JSON
    Report(ReportArgs),
    /// Check the kernel: BTF, privileges, and which probe types really load
    Doctor,
    /// Trace TCP and UDP between two throwaway network namespaces
    Demo(DemoArgs),
    /// Which kernel functions can be traced, their skb argument and source
    /// location; --why NAME explains one that cannot
    Functions(FunctionsArgs),
    /// Interactive view: packet list, call trees and hops, live or from
    /// a record (`pkttrace tui FILE` or `-r FILE`)
    Tui(Box<TuiArgs>),
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  pkttrace tui 'tcp and port 80'        trace live; the filter runs in the kernel
  pkttrace tui trace.pkt                open a record (also: -r trace.pkt)
  pkttrace tui -r trace.pkt udp         a record, the list filtered to UDP

Press ? in the view for its keys.")]
pub struct TuiArgs {
    /// Record file to open instead of tracing live; filter words and
    /// options then filter the list
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// Packets kept while tracing live; the oldest are evicted beyond
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub max_packets: usize,
    /// Also list the skbs that are no network packets (unix and netlink
    /// sockets')
    #[arg(long)]
    pub all_skbs: bool,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  pkttrace functions 'tcp_v4_*'                 traceable TCP functions, skb position, fentry/kprobe
  pkttrace functions --skb 'ip_*' -o json       those taking an skb, as JSON lines
  pkttrace functions --why tcp_v4_fill_cb       why a function cannot be traced (inlined into ...)
  pkttrace functions --why tdma_tx_ns --debug-info tdma-qdisc/module/sch_tdma.ko

Exit status with --why: 0 traceable, 1 not traceable.")]
pub struct FunctionsArgs {
    /// Glob over the function names of the kernel and its loaded modules,
    /// or MODULE:GLOB for one module's (default: all)
    #[arg(value_name = "GLOB")]
    pub glob: Option<String>,
    /// Only functions taking a `struct sk_buff *`
    #[arg(long)]
    pub skb: bool,
    /// Explain whether and how NAME can be traced
    #[arg(long, value_name = "NAME", conflicts_with_all = ["glob", "skb"])]
    pub why: Option<String>,
    /// ELF file with DWARF (a vmlinux with debug info, or a module's .ko);
    /// default: the distribution's debug vmlinux if installed
    #[arg(long, value_name = "FILE")]
    pub debug_info: Option<PathBuf>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = FunctionsFormat::Text)]
    pub output: FunctionsFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionsFormat {
    Text,
    Json,
}

/// Which events to keep: a filter expression and the options ANDed with it.
/// Live traces run it in the kernel; `report` runs the same program on the
/// recorded events.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Filter expression (pcap-filter style), e.g. 'tcp and port 80'
    #[arg(value_name = "FILTER")]
    pub expression: Vec<String>,
    /// Only this protocol
    #[arg(long, value_enum)]
    pub proto: Option<Proto>,
    /// Packets from or to this address
    #[arg(long)]
    pub host: Option<String>,
    /// Packets from this address
    #[arg(long)]
    pub src: Option<String>,
    /// Packets to this address
    #[arg(long)]
    pub dst: Option<String>,
    /// Packets from or to this port
    #[arg(long)]
    pub port: Option<u16>,
    /// Packets on this interface (name as seen in its namespace)
    #[arg(long)]
    pub ifname: Option<String>,
    /// Packets in this network namespace: inode number, a name under
    /// /run/netns, or a path such as /proc/PID/ns/net
    #[arg(long)]
    pub netns: Option<String>,
    /// Events raised in this process (process context only)
    #[arg(long)]
    pub pid: Option<u32>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct TraceArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Once a packet matches, keep tracing that skb until it is freed
    #[arg(long)]
    pub follow_skb: bool,
    /// Record the kernel stack of every event and print it symbolized (text
    /// and JSON lines; records keep the addresses and their symbols)
    #[arg(long)]
    pub stack: bool,
    /// Probe backend for function probes; tracepoints are always used
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Function profile to probe (repeatable): ip-rx, ip-tx, ip-forward,
    /// tcp-in, tcp-out, tcp-conn, udp, dev (with the enqueue/dequeue of the
    /// qdiscs installed now, in every named namespace too), netfilter.
    /// Default: all but ip-forward and netfilter, when the kernel allows
    /// function probes
    #[arg(long = "profile", value_delimiter = ',', value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Kernel functions to probe, glob patterns allowed (repeatable): a
    /// glob matches vmlinux's and loaded modules' functions, MODULE:GLOB
    /// only that module's (e.g. 'sch_tdma:tdma_*')
    #[arg(long = "func", value_name = "GLOB")]
    pub funcs: Vec<String>,
    /// File with one function name or glob per line (# comments)
    #[arg(long, value_name = "FILE")]
    pub func_file: Option<PathBuf>,
    /// Probe every traceable function that takes an skb (like pwru)
    #[arg(long)]
    pub all_skb_funcs: bool,
    /// List what would be probed, and why other functions would not, then
    /// exit; works on any kernel with BTF, even one that allows no
    /// function probes
    #[arg(long)]
    pub dry_run: bool,
    /// Tracepoints to attach (comma-separated); default: all known
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub tracepoints: Vec<String>,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many events
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// At the end, what each probe cost: runs, ns per run, runs per second,
    /// CPU seconds and share, from the kernel's BPF run-time statistics
    /// (turned on for the trace, put back after; printed even with --quiet)
    #[arg(long)]
    pub cost: bool,
    /// Ring buffer size in KiB (power of two, at least one page)
    #[arg(long, value_name = "KIB", default_value_t = 8192)]
    pub ring_kib: u32,
    /// Print nothing on stderr but errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Record file to write (mode 0600, replaced if it exists)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub file: PathBuf,
    /// Compress the events with zstd: records about half the size, for some
    /// CPU time while tracing; `report` reads either kind
    #[arg(long)]
    pub compress: bool,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  pkttrace report trace.pkt                     every event: call trees by packet, or lines
  pkttrace report trace.pkt udp -o text         only UDP events, one line each
  pkttrace report trace.pkt --port 9999 -o json the events of port 9999, as JSON lines
  pkttrace report trace.pkt 'arp or icmp'       the journeys (or trees) with an ARP or ICMP event

The filter is the live trace's: the same expression and options, compiled
the same way, run on each recorded event. Flat output keeps the events that
match; call trees and journeys are kept whole when one of their events does.")]
pub struct ReportArgs {
    /// Record file written by `pkttrace record`
    pub file: PathBuf,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Probe backend for function probes
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmp6,
}

impl Proto {
    pub fn keyword(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The best that works here: fentry, else kprobe, else tracepoints only
    #[default]
    Auto,
    /// fentry/fexit: two verifier runs per function, spread over the CPUs
    Fentry,
    /// kprobe/kretprobe: one program per argument layout, every function at
    /// once through kprobe-multi links where the kernel has them
    /// (PKTTRACE_KPROBE_MULTI=0: one by one)
    Kprobe,
    /// Tracepoints only, no function probes
    Tracepoint,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line per event
    Text,
    /// One JSON object per event (per call tree with --trees)
    Json,
    /// Indented call trees with durations
    Tree,
    /// The 2005 study's log: numbered B/E lines, `Time : N` per block
    Classic,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn filter_words_and_options_parse() {
        let cli = Cli::try_parse_from(["pkttrace", "--proto", "tcp", "port", "80", "-o", "json"])
            .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.trace.filter.expression, ["port", "80"]);
        assert_eq!(cli.trace.filter.proto, Some(Proto::Tcp));
        assert_eq!(cli.output.output, Some(OutputFormat::Json));
    }

    #[test]
    fn record_takes_its_file_with_dash_o() {
        let cli = Cli::try_parse_from(["pkttrace", "record", "-o", "t.pkt", "udp"]).unwrap();
        let Some(Command::Record(args)) = cli.command else {
            panic!("record subcommand");
        };
        assert_eq!(args.file, std::path::PathBuf::from("t.pkt"));
        assert_eq!(args.trace.filter.expression, ["udp"]);
        assert!(!args.compress);
        let cli = Cli::try_parse_from(["pkttrace", "record", "--compress", "-o", "t.pkt"]).unwrap();
        let Some(Command::Record(args)) = cli.command else {
            panic!("record subcommand");
        };
        assert!(args.compress);
    }

    #[test]
    fn report_takes_the_filter_of_live_traces() {
        let cli = Cli::try_parse_from([
            "pkttrace", "report", "t.pkt", "udp", "or", "arp", "--port", "53", "-o", "json",
        ])
        .unwrap();
        let Some(Command::Report(args)) = cli.command else {
            panic!("report subcommand");
        };
        assert_eq!(args.file, PathBuf::from("t.pkt"));
        assert_eq!(args.filter.expression, ["udp", "or", "arp"]);
        assert_eq!(args.filter.port, Some(53));
        assert_eq!(args.output.output, Some(OutputFormat::Json));
    }

    #[test]
    fn tui_takes_a_filter_a_file_or_dash_r() {
        let cli = Cli::try_parse_from(["pkttrace", "tui", "tcp", "--proto", "tcp"]).unwrap();
        let Some(Command::Tui(args)) = cli.command else {
            panic!("tui subcommand");
        };
        assert_eq!(args.trace.filter.expression, ["tcp"]);
        assert_eq!(args.read, None);
        assert_eq!(args.record_file(), None);
        let cli = Cli::try_parse_from(["pkttrace", "tui", "-r", "t.pkt", "udp"]).unwrap();
        let Some(Command::Tui(args)) = cli.command else {
            panic!("tui subcommand");
        };
        assert_eq!(args.record_file(), Some(PathBuf::from("t.pkt")));
        assert_eq!(args.trace.filter.expression, ["udp"]);
        let file = std::env::current_exe().unwrap();
        let file = file.to_str().unwrap();
        let cli = Cli::try_parse_from(["pkttrace", "tui", file]).unwrap();
        let Some(Command::Tui(args)) = cli.command else {
            panic!("tui subcommand");
        };
        assert_eq!(args.record_file(), Some(PathBuf::from(file)));
    }
}
