//! The kernel's answer to a request: errno plus the extended ACK message
//! (NLMSGERR_ATTR_MSG), which netlink-packet-core leaves undecoded.

use netlink_packet_core::{
    ErrorMessage, NLM_F_ACK_TLVS, NLM_F_CAPPED, NlasIterator, parse_string, parse_u32,
};

/// `enum nlmsgerr_attrs` in linux/netlink.h.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// sizeof(struct nlmsghdr)
const NLMSG_HDRLEN: usize = 16;

/// The extack message in an NLMSG_ERROR whose outer header has `flags`.
///
/// The payload after the errno is the request echoed back (only its header
/// when NLM_F_CAPPED, which we ask for), then the TLVs when NLM_F_ACK_TLVS.
pub fn extack_message(flags: u16, error: &ErrorMessage) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = error.header.as_slice();
    let skip = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        // nlmsg_len of the echoed request, 4-aligned like every netlink message.
        (parse_u32(echoed.get(..4)?).ok()? as usize).next_multiple_of(4)
    };
    NlasIterator::new(echoed.get(skip..)?)
        .map_while(Result::ok)
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .and_then(|nla| parse_string(nla.value()).ok())
        .map(|msg| msg.trim_end().to_owned())
        .filter(|msg| !msg.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroI32;

    fn error_with(header: Vec<u8>) -> ErrorMessage {
        let mut e = ErrorMessage::default();
        e.code = NonZeroI32::new(-libc::EINVAL);
        e.header = header;
        e
    }

    fn msg_tlv(text: &str) -> Vec<u8> {
        let mut v = Vec::new();
        let len = 4 + text.len() + 1;
        v.extend_from_slice(&(len as u16).to_ne_bytes());
        v.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        v.extend_from_slice(text.as_bytes());
        v.push(0);
        v.resize(len.next_multiple_of(4), 0);
        v
    }

    #[test]
    fn capped_ack_with_message() {
        let mut header = vec![0u8; NLMSG_HDRLEN];
        header[0] = 64; // the request was longer, but only its header is echoed
        header.extend(msg_tlv("Window 1 overlaps window 0"));
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        assert_eq!(
            extack_message(flags, &error_with(header)).as_deref(),
            Some("Window 1 overlaps window 0")
        );
    }

    #[test]
    fn full_echo_with_message() {
        let mut header = vec![0u8; 20];
        header[0] = 20;
        header.extend(msg_tlv("bad"));
        assert_eq!(
            extack_message(NLM_F_ACK_TLVS, &error_with(header)).as_deref(),
            Some("bad")
        );
    }

    #[test]
    fn no_tlvs() {
        assert_eq!(extack_message(NLM_F_CAPPED, &error_with(vec![0; 16])), None);
        assert_eq!(extack_message(NLM_F_ACK_TLVS, &error_with(vec![])), None);
    }
}
