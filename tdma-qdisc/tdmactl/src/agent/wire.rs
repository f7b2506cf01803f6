//! The announcement agents broadcast on the segment: one JSON object per
//! Ethernet frame (see `net`). JSON keeps packets readable in tcpdump and
//! lets a later version add fields; `v` is checked before anything else so a
//! future layout is reported as such rather than as a field error.

use serde::{Deserialize, Serialize};

/// Bumped on any change an older agent would misread.
pub const PROTOCOL_VERSION: u32 = 1;
/// Fits one Ethernet frame; larger datagrams are not ours.
pub const MAX_PACKET: usize = 1400;
const MAX_NAME: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Periodic: "I am here, this is my view".
    Hello,
    /// Sent on a clean exit so peers need not wait for the timeout.
    Leave,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub v: u32,
    pub kind: Kind,
    /// Unique on the segment; the slot order follows from it.
    pub name: String,
    /// Random per process: tells our own looped-back broadcasts, a restarted
    /// peer and a second node using the same name apart.
    pub instance: u64,
    pub frame_ns: u64,
    pub guard_ns: u64,
    /// The membership the sender is moving to (or runs), sorted; empty while
    /// it is still listening after start.
    pub view: Vec<String>,
    /// When `view` takes (or took) effect on the sender's clock.
    pub switch_at_ns: Option<u64>,
}

impl Announcement {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an announcement always serializes")
    }

    /// Parses and checks one datagram; the error says why it was dropped.
    pub fn decode(bytes: &[u8]) -> Result<Announcement, String> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        if bytes.len() > MAX_PACKET {
            return Err(format!("{} bytes, more than {MAX_PACKET}", bytes.len()));
        }
        let Version { v } =
            serde_json::from_slice(bytes).map_err(|e| format!("not an announcement: {e}"))?;
        if v != PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {v}, this agent speaks {PROTOCOL_VERSION}"
            ));
        }
        let a: Announcement =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed announcement: {e}"))?;
        check_name(&a.name)?;
        for n in &a.view {
            check_name(n)?;
        }
        if !a.view.windows(2).all(|p| p[0] < p[1]) {
            return Err("view is not sorted and distinct".into());
        }
        if a.frame_ns == 0 {
            return Err("frame of 0ns".into());
        }
        Ok(a)
    }
}

/// Names end up in logs and events: printable, bounded.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "node name must be 1 to {MAX_NAME} bytes, got {}",
            name.len()
        ));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "node name {name:?} contains whitespace or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Announcement {
        Announcement {
            v: PROTOCOL_VERSION,
            kind: Kind::Hello,
            name: "a".into(),
            instance: u64::MAX,
            frame_ns: 10_000_000,
            guard_ns: 100_000,
            view: vec!["a".into(), "b".into()],
            switch_at_ns: Some(1_700_000_000_000_000_000),
        }
    }

    #[test]
    fn round_trip() {
        let a = hello();
        assert_eq!(Announcement::decode(&a.encode()).unwrap(), a);
        let text = String::from_utf8(a.encode()).unwrap();
        assert!(text.contains(r#""kind":"hello""#), "{text}");
    }

    #[test]
    fn malformed_packets_are_rejected() {
        let reject = |bytes: &[u8], why: &str| {
            let err = Announcement::decode(bytes).unwrap_err();
            assert!(err.contains(why), "{err:?} should mention {why:?}");
        };
        reject(b"", "not an announcement");
        reject(b"\xff\x00garbage", "not an announcement");
        reject(br#"{"v":2,"anything":1}"#, "protocol version 2");
        reject(br#"{"v":1,"kind":"hello"}"#, "malformed");
        reject(&vec![b' '; MAX_PACKET + 1], "more than");
        let mut a = hello();
        a.kind = Kind::Leave;
        let text = String::from_utf8(a.encode()).unwrap();
        reject(text.replace("leave", "bye").as_bytes(), "malformed");
        reject(
            text.replace(r#""frame_ns":10000000"#, r#""frame_ns":-1"#)
                .as_bytes(),
            "malformed",
        );
        let mut bad = hello();
        bad.view = vec!["b".into(), "a".into()];
        reject(&bad.encode(), "not sorted");
        bad.view = vec!["a".into(), "a".into()];
        reject(&bad.encode(), "not sorted");
        bad = hello();
        bad.name = "x".repeat(65);
        reject(&bad.encode(), "1 to 64 bytes");
        bad.name = "a b".into();
        reject(&bad.encode(), "whitespace");
        bad = hello();
        bad.frame_ns = 0;
        reject(&bad.encode(), "frame of 0ns");
    }
}
