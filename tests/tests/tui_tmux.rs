//! `pkttrace tui` end to end: the real binary in a real terminal (a tmux
//! pane, 200×50), driven by keys as a user would, on a real recorded trace
//! (tests/data/tcp-udp-fentry.pkt, see tests/data/README.md). Every check
//! polls the screen until it holds or a deadline passes: no fixed sleeps.
//! Skipped (with a message) only where tmux is not installed.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pkttrace_tests::pkttrace_bin;

/// Terminal size: wide enough for the list and the tree side by side.
const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
/// How long one screen may take to show what a key asked for.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// In the fixture (fixed client ports, see tests/data/record.sh): the UDP
/// datagram to a closed port, dropped by the receiver for want of a socket.
const CLOSED_PORT_TUPLE: &str = "10.199.0.1:40002 > 10.199.0.2:9999";
const DROP_OUTCOME: &str = "dropped NO_SOCKET";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `'text'` for sh, whatever `text` holds.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A tmux server of our own (`-L`, a socket no one else uses) with one
/// session; dropping it kills the server, whatever happened before.
struct Tmux {
    socket: String,
    /// The socket file, which `kill-server` leaves behind.
    socket_path: Option<PathBuf>,
}

const SESSION: &str = "tui";

impl Tmux {
    /// Starts `command` (run by sh) in a detached WIDTH×HEIGHT session whose
    /// pane stays after the command ends, so its exit status can be read.
    fn start(command: &str) -> Tmux {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let mut tmux = Tmux {
            socket: format!(
                "pkttrace-tui-test-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
            socket_path: None,
        };
        // -f /dev/null: no user configuration; the pane must not end before
        // remain-on-exit is set, which the command sees to (it waits for a key).
        tmux.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            command,
        ]);
        let path = tmux.ok(&["display-message", "-p", "-t", SESSION, "#{socket_path}"]);
        tmux.socket_path = Some(PathBuf::from(path.trim()));
        tmux.ok(&["set-option", "-t", SESSION, "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys by tmux name (`Enter`, `Escape`, `j`), one argument each.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend(keys);
        self.ok(&args);
    }

    /// Text typed literally.
    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", SESSION, "-l", text]);
    }

    fn screen(&self) -> Screen {
        Screen(self.ok(&["capture-pane", "-p", "-t", SESSION]))
    }

    /// A pane variable (`#{pane_dead}` …).
    fn pane(&self, format: &str) -> String {
        self.ok(&["list-panes", "-t", SESSION, "-F", format])
            .trim()
            .to_owned()
    }

    /// Polls the screen until `check` holds; panics with the last screen.
    fn wait_for(&self, what: &str, check: impl Fn(&Screen) -> bool) -> Screen {
        self.poll_for(SCREEN_TIMEOUT, &check).unwrap_or_else(|| {
            panic!(
                "after {SCREEN_TIMEOUT:?} the screen still does not show {what}:\n{}",
                self.screen().0
            )
        })
    }

    /// Polls the screen for at most `timeout` until `check` holds.
    fn poll_for(&self, timeout: Duration, check: impl Fn(&Screen) -> bool) -> Option<Screen> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return Some(screen);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls the pane until its process has ended: its exit status, if tmux
    /// has it. (tmux 3.3 sometimes marks a pane dead without ever setting
    /// `pane_dead_status`, so the status alone cannot be waited for.)
    fn wait_dead(&self) -> Option<String> {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        while Instant::now() < deadline {
            if self.pane("#{pane_dead}") == "1" {
                // A moment for the status to follow the death.
                std::thread::sleep(POLL);
                return Some(self.pane("#{pane_dead_status}"));
            }
            std::thread::sleep(POLL);
        }
        None
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A captured screen, and its panes found by their borders.
struct Screen(String);

/// Box-drawing corners that open a pane (plain, thick, rounded, double).
const TOP_LEFT: &[char] = &['┌', '┏', '╭', '╔'];
const VERTICAL: &[char] = &['│', '┃', '║'];

impl Screen {
    fn contains(&self, text: &str) -> bool {
        self.0.contains(text)
    }

    fn rows(&self) -> Vec<Vec<char>> {
        self.0.lines().map(|l| l.chars().collect()).collect()
    }

    /// The inside of the pane whose top border carries `title`: one string
    /// per row, borders cut off.
    fn pane(&self, title: &str) -> Option<Vec<String>> {
        let rows = self.rows();
        let title: Vec<char> = title.chars().collect();
        for (top, row) in rows.iter().enumerate() {
            let Some(at) = row.windows(title.len()).position(|w| w == title.as_slice()) else {
                continue;
            };
            let Some(left) = row[..at].iter().rposition(|c| TOP_LEFT.contains(c)) else {
                continue;
            };
            // The right border: the first corner after the title.
            let right = row[at..]
                .iter()
                .position(|c| ['┐', '┓', '╮', '╗'].contains(c))
                .map_or(row.len(), |p| at + p);
            let inside = rows[top + 1..]
                .iter()
                .take_while(|r| r.get(left).is_some_and(|c| VERTICAL.contains(c)))
                .map(|r| {
                    r.iter()
                        .skip(left + 1)
                        .take(right.saturating_sub(left + 1))
                        .collect::<String>()
                })
                .collect();
            return Some(inside);
        }
        None
    }

    fn list(&self) -> Vec<String> {
        self.pane(" Packets ").unwrap_or_default()
    }

    fn tree(&self) -> Vec<String> {
        self.pane(" Tree ").unwrap_or_default()
    }

    /// Rows of the packet list that show a packet (`a > b`).
    fn packet_rows(&self) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|r| r.contains(" > "))
            .collect()
    }
}

fn tree_has(screen: &Screen, name: &str) -> bool {
    screen.tree().iter().any(|r| r.contains(name))
}

/// The title line of the journey pane (it names the selected packet's outcome).
fn journey_title(screen: &Screen) -> String {
    screen
        .0
        .lines()
        .find(|l| l.contains(" Journey "))
        .unwrap_or_default()
        .to_owned()
}

/// The function (or tracepoint) a tree row shows: its first identifier,
/// after the fold marks and arrows.
fn function_name(row: &str) -> Option<&str> {
    let start = row.find(|c: char| c.is_ascii_alphabetic() || c == '_')?;
    let rest = &row[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Rows of the tree pane that hold something.
fn tree_rows(screen: &Screen) -> usize {
    screen
        .tree()
        .iter()
        .filter(|r| !r.trim().is_empty())
        .count()
}

#[test]
fn tui_opens_a_record_and_answers_keys_in_a_real_terminal() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed (scripts/setup.sh installs it)");
        return;
    }
    let record = fixture("tcp-udp-fentry.pkt");
    assert!(record.is_file(), "missing fixture {}", record.display());
    let bin = pkttrace_bin();
    // A line before and after the TUI: once it quits, the normal screen
    // must be back with both lines on it, and the exit status printed; then
    // the shell waits for a line, and exits with the TUI's status.
    let command = format!(
        "printf 'before the tui\\n'; {} tui {}; rc=$?; printf 'tui exited with %s\\n' $rc; stty -a; read -r _; exit $rc",
        sh_quote(&bin.to_string_lossy()),
        sh_quote(&record.to_string_lossy()),
    );
    let tmux = Tmux::start(&command);

    // The record opens: the list shows the packets, among them the UDP
    // datagram to a closed port, dropped for want of a socket.
    let screen = tmux.wait_for("the packet list with the closed-port drop", |s| {
        s.packet_rows()
            .iter()
            .any(|r| r.contains(CLOSED_PORT_TUPLE) && r.contains(DROP_OUTCOME))
    });
    assert!(screen.pane(" Tree ").is_some(), "{}", screen.0);
    assert!(
        screen
            .packet_rows()
            .iter()
            .any(|r| r.contains("10.199.0.1:40000 > 10.199.0.2:8080") && r.contains("TCP")),
        "the TCP connection's SYN, with its protocol:\n{}",
        screen.0
    );
    // One packet, one row: the SYN, its clones and both sides of the veth
    // pair are one entry.
    let syn_rows = screen
        .packet_rows()
        .iter()
        .filter(|r| r.contains("10.199.0.1:40000 > 10.199.0.2:8080") && r.contains("[S]"))
        .count();
    assert_eq!(syn_rows, 1, "rows of the SYN:\n{}", screen.0);
    let all_rows = screen.packet_rows();
    assert!(
        all_rows.iter().any(|r| r.contains("TCP")) && all_rows.iter().any(|r| r.contains("UDP")),
        "TCP and UDP packets in the list:\n{}",
        screen.0
    );

    // Move down the list (`j`, from the first row) to the dropped datagram:
    // the journey pane follows the selection. Enter opens its tree, which
    // climbs from ip_rcv into UDP, where the datagram is dropped.
    let target = screen
        .list()
        .iter()
        .skip(1) // the column header
        .position(|r| r.contains(CLOSED_PORT_TUPLE) && r.contains(DROP_OUTCOME))
        .expect("the dropped datagram's row is on screen");
    let mut keys = vec!["g"];
    keys.extend(std::iter::repeat_n("j", target));
    tmux.keys(&keys);
    tmux.wait_for("the dropped datagram selected (journey pane)", |s| {
        journey_title(s).contains(DROP_OUTCOME)
    });
    tmux.keys(&["Enter"]);
    let opened = tmux.wait_for("ip_rcv and the drop in the selected packet's tree", |s| {
        tree_has(s, "ip_rcv") && tree_has(s, "kfree_skb") && tree_has(s, "NO_SOCKET")
    });

    // Enter on the tree's first node (the first pass) folds it: its
    // children go, and come back with another Enter.
    let unfolded = opened.tree();
    let unfolded_rows = tree_rows(&opened);
    let child = unfolded
        .get(1)
        .and_then(|row| function_name(row))
        .unwrap_or_else(|| panic!("no child under the first node:\n{}", opened.0));
    let count = |s: &Screen, name: &str| {
        s.tree()
            .iter()
            .filter(|r| function_name(r) == Some(name))
            .count()
    };
    let before = count(&opened, child);
    tmux.keys(&["Enter"]);
    let folded = tmux.wait_for("the first node folded (fewer rows)", |s| {
        tree_rows(s) < unfolded_rows
    });
    assert!(
        count(&folded, child) < before,
        "{child}, under the folded node, is still shown:\n{}",
        folded.0
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for("the node unfolded again, as before", |s| {
        s.tree() == unfolded
    });

    // Search: the box shows what is typed, Enter finds it in the tree.
    tmux.keys(&["/"]);
    tmux.type_text("ip_rcv");
    tmux.wait_for("the search box with /ip_rcv", |s| s.contains("/ip_rcv"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the search /ip_rcv and its match in the tree", |s| {
        s.contains("/ip_rcv") && tree_has(s, "ip_rcv")
    });

    // Help: `?` opens an overlay titled Keys, `?` closes it.
    let before_help = tmux.screen();
    assert!(!before_help.contains(" Keys "), "{}", before_help.0);
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay titled Keys", |s| s.contains(" Keys "));
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay gone", |s| !s.contains(" Keys "));

    // Filter `udp`: only UDP packets remain in the list.
    tmux.keys(&["f"]);
    tmux.type_text("udp");
    tmux.keys(&["Enter"]);
    let filtered = tmux.wait_for("only UDP rows in the list", |s| {
        let rows = s.packet_rows();
        !rows.is_empty() && rows.iter().all(|r| r.contains("UDP") && !r.contains("TCP"))
    });
    assert!(
        filtered
            .packet_rows()
            .iter()
            .any(|r| r.contains(CLOSED_PORT_TUPLE)),
        "the closed-port datagram passes the filter `udp`:\n{}",
        filtered.0
    );
    assert!(
        filtered.packet_rows().len() < all_rows.len(),
        "the filter removed the TCP rows:\n{}",
        filtered.0
    );

    // A bad filter: the compiler's error shows in the box, which stays;
    // Esc closes it and leaves the list as it was.
    tmux.keys(&["f"]);
    tmux.wait_for("the filter box", |s| s.contains("Filter packets"));
    tmux.type_text(" port");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filter's error in the box", |s| {
        s.contains("Filter packets") && s.contains("bad filter")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter box closed, the `udp` list unchanged", |s| {
        !s.contains("Filter packets") && s.packet_rows() == filtered.packet_rows()
    });

    // `q` quits with status 0, and gives the terminal back: the normal
    // screen with the shell's lines, the cursor shown, and cooked mode
    // (`stty -a` says so, and the shell's `read` ends on Enter; in raw mode
    // Enter is a bare \r).
    tmux.keys(&["q"]);
    let after = tmux.wait_for("the shell's line after the TUI", |s| {
        s.contains("tui exited with")
    });
    assert!(
        after.contains("tui exited with 0"),
        "exit status of pkttrace tui:\n{}",
        after.0
    );
    assert!(
        after.contains("before the tui"),
        "the normal screen is back with what was printed before the TUI:\n{}",
        after.0
    );
    assert!(
        after.list().is_empty() && !after.contains(DROP_OUTCOME),
        "nothing of the TUI is left on the screen:\n{}",
        after.0
    );
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "the terminal is still on the alternate screen"
    );
    assert_eq!(
        tmux.pane("#{cursor_flag}"),
        "1",
        "the cursor is still hidden"
    );
    // `stty -a`, run by the shell after the TUI, shows cooked mode.
    let stty = tmux.wait_for("stty's modes", |s| s.contains("icanon"));
    let modes: Vec<&str> = stty.0.split_whitespace().collect();
    assert!(
        ["icanon", "echo", "icrnl", "isig"]
            .iter()
            .all(|mode| modes.contains(mode)),
        "the terminal's modes are not restored:\n{}",
        stty.0
    );
    tmux.keys(&["Enter"]);
    let status = tmux.wait_dead().unwrap_or_else(|| {
        panic!(
            "the shell's `read` did not end on Enter: the terminal is still in raw mode:\n{}",
            tmux.screen().0
        )
    });
    assert!(
        status.is_empty() || status == "0",
        "the shell exits with the TUI's status, 0, not {status}"
    );
}

#[test]
fn tui_refuses_a_bad_record_without_touching_the_terminal() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed (scripts/setup.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pkttrace-tui-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bogus = dir.join("not-a-record.pkt");
    std::fs::write(&bogus, b"this is not a pkttrace record\n").unwrap();
    let command = format!(
        "{} tui -r {}; rc=$?; printf 'tui exited with %s\\n' $rc; read -r _",
        sh_quote(&pkttrace_bin().to_string_lossy()),
        sh_quote(&bogus.to_string_lossy()),
    );
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for("the error and a non-zero exit", |s| {
        s.contains("tui exited with ") && !s.contains("tui exited with 0")
    });
    assert!(screen.contains("pkttrace: error"), "{}", screen.0);
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "{}", screen.0);
    let _ = std::fs::remove_dir_all(&dir);
}
