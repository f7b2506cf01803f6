//! tc-style keyword arguments: `dev eth0 frame 10ms window 0:3ms ...`.
//! `--frame 10ms` and `--frame=10ms` are read the same way, for scripts that
//! prefer flags.

use std::fmt;

use tdmactl::netlink::{TC_H_ROOT, Target};
use tdmactl::schedule::{Schedule, Window};
use tdmactl::units::{parse_duration, parse_rate};

/// A malformed command line: reported like clap's errors, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Keyword/value pairs, in order, with `--` prefixes and `=` split off.
fn pairs(words: &[String]) -> Result<Vec<(String, String)>, UsageError> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(word) = it.next() {
        let word = word.trim_start_matches("--");
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => {
                let value = it
                    .next()
                    .ok_or_else(|| usage(format!("{word:?} needs a value")))?;
                (word.to_owned(), value.clone())
            }
        };
        out.push((key, value));
    }
    Ok(out)
}

/// What `add` and `change` take.
#[derive(Debug, PartialEq, Eq)]
pub struct ScheduleArgs {
    pub dev: String,
    pub parent: u32,
    pub handle: u32,
    pub schedule: Schedule,
    /// `at NS`: only `change` accepts it.
    pub change_at: Option<u64>,
}

impl ScheduleArgs {
    pub fn target(&self, ifindex: u32) -> Target {
        Target {
            ifindex,
            parent: self.parent,
            handle: self.handle,
        }
    }
}

/// Parses `add`/`change` words; `allow_at` is true for change.
pub fn schedule_args(words: &[String], allow_at: bool) -> Result<ScheduleArgs, UsageError> {
    let mut dev = None;
    let mut frame = None;
    let mut args = ScheduleArgs {
        dev: String::new(),
        parent: TC_H_ROOT,
        handle: 0,
        schedule: Schedule::new(0, Vec::new()),
        change_at: None,
    };
    for (key, value) in pairs(words)? {
        let bad = |e: &dyn fmt::Display| usage(format!("{key}: {e}"));
        let s = &mut args.schedule;
        match key.as_str() {
            "dev" => dev = Some(value),
            "frame" => frame = Some(parse_duration(&value).map_err(|e| bad(&e))?),
            "window" => s
                .windows
                .push(value.parse::<Window>().map_err(|e| bad(&e))?),
            "guard" => s.guard_ns = parse_duration(&value).map_err(|e| bad(&e))?,
            "base-time" => s.base_time_ns = value.parse().map_err(|e| bad(&e))?,
            "clock" => s.clock = value.parse().map_err(|e| bad(&e))?,
            "limit" => s.limit = value.parse().map_err(|e| bad(&e))?,
            "rate" => s.rate_bytes_per_sec = parse_rate(&value).map_err(|e| bad(&e))?,
            "handle" => args.handle = parse_handle(&value).map_err(|e| bad(&e))?,
            "parent" => args.parent = parse_handle(&value).map_err(|e| bad(&e))?,
            "at" if allow_at => args.change_at = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(usage(format!("unknown keyword {key:?}"))),
        }
    }
    args.dev = dev.ok_or_else(|| usage("missing `dev IF`"))?;
    args.schedule.frame_ns = frame.ok_or_else(|| usage("missing `frame DURATION`"))?;
    if args.schedule.windows.is_empty() {
        return Err(usage(
            "missing `window OFFSET:LENGTH` (give one per window)",
        ));
    }
    Ok(args)
}

/// `del`: the device and, optionally, where the qdisc sits.
pub fn target_args(words: &[String]) -> Result<(String, u32, u32), UsageError> {
    let (mut dev, mut parent, mut handle) = (None, TC_H_ROOT, 0);
    for (key, value) in pairs(words)? {
        let bad = |e: &dyn fmt::Display| usage(format!("{key}: {e}"));
        match key.as_str() {
            "dev" => dev = Some(value),
            "handle" => handle = parse_handle(&value).map_err(|e| bad(&e))?,
            "parent" => parent = parse_handle(&value).map_err(|e| bad(&e))?,
            _ => return Err(usage(format!("unknown keyword {key:?}"))),
        }
    }
    Ok((
        dev.ok_or_else(|| usage("missing `dev IF`"))?,
        parent,
        handle,
    ))
}

/// `show`/`stats`/`watch`: an optional `dev IF`.
pub fn dev_arg(words: &[String]) -> Result<Option<String>, UsageError> {
    let mut dev = None;
    for (key, value) in pairs(words)? {
        match key.as_str() {
            "dev" => dev = Some(value),
            _ => return Err(usage(format!("unknown keyword {key:?}"))),
        }
    }
    Ok(dev)
}

/// A tc handle: `root`, `MAJOR:` or `MAJOR:MINOR`, in hex like tc.
pub fn parse_handle(s: &str) -> Result<u32, String> {
    if s == "root" {
        return Ok(TC_H_ROOT);
    }
    let bad = || format!("invalid handle {s:?}: expected root, MAJOR: or MAJOR:MINOR (hex)");
    let (major, minor) = s.split_once(':').ok_or_else(bad)?;
    let major = u16::from_str_radix(major, 16).map_err(|_| bad())?;
    let minor = if minor.is_empty() {
        0
    } else {
        u16::from_str_radix(minor, 16).map_err(|_| bad())?
    };
    Ok(u32::from(major) << 16 | u32::from(minor))
}

/// How tc prints a handle: `8001:` or `1:a`.
pub fn format_handle(h: u32) -> String {
    match (h >> 16, h & 0xffff) {
        (major, 0) => format!("{major:x}:"),
        (major, minor) => format!("{major:x}:{minor:x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdmactl::schedule::Clock;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn add_keywords() {
        let a = schedule_args(
            &words("dev a frame 10ms window 0:3ms window 5ms:2ms guard 50us base-time -5 clock monotonic limit 10 rate 1gbit handle 1:"),
            false,
        )
        .unwrap();
        assert_eq!(a.dev, "a");
        assert_eq!(a.handle, 0x1_0000);
        assert_eq!(a.parent, TC_H_ROOT);
        let s = &a.schedule;
        assert_eq!(s.frame_ns, 10_000_000);
        assert_eq!(s.windows.len(), 2);
        assert_eq!(s.guard_ns, 50_000);
        assert_eq!(s.base_time_ns, -5);
        assert_eq!(s.clock, Clock::Monotonic);
        assert_eq!(s.limit, 10);
        assert_eq!(s.rate_bytes_per_sec, 125_000_000);
    }

    #[test]
    fn flag_spelling() {
        let a = schedule_args(&words("--dev a --frame=10ms --window 0:3ms"), false).unwrap();
        assert_eq!(a.schedule.frame_ns, 10_000_000);
    }

    #[test]
    fn change_at() {
        let w = words("dev a frame 10ms window 0:3ms at 12345");
        assert_eq!(schedule_args(&w, true).unwrap().change_at, Some(12345));
        assert_eq!(
            schedule_args(&w, false).unwrap_err().0,
            "unknown keyword \"at\""
        );
    }

    #[test]
    fn usage_errors() {
        let err = |s: &str| schedule_args(&words(s), true).unwrap_err().0;
        assert_eq!(err("frame 10ms window 0:3ms"), "missing `dev IF`");
        assert_eq!(err("dev a window 0:3ms"), "missing `frame DURATION`");
        assert_eq!(
            err("dev a frame 10ms"),
            "missing `window OFFSET:LENGTH` (give one per window)"
        );
        assert_eq!(err("dev a frame"), "\"frame\" needs a value");
        assert!(err("dev a frame 10 window 0:1ms").starts_with("frame: invalid duration \"10\""));
        assert!(err("dev a frame 1ms window 0:1ms limit x").starts_with("limit: "));
    }

    #[test]
    fn handles() {
        assert_eq!(parse_handle("root"), Ok(TC_H_ROOT));
        assert_eq!(parse_handle("8001:"), Ok(0x8001_0000));
        assert_eq!(parse_handle("1:a"), Ok(0x1_000a));
        assert!(parse_handle("1").is_err());
        assert_eq!(format_handle(0x8001_0000), "8001:");
        assert_eq!(format_handle(0x1_000a), "1:a");
        assert_eq!(
            target_args(&words("dev a parent 1:1")).unwrap(),
            ("a".into(), 0x1_0001, 0)
        );
    }
}
