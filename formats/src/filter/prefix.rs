//! Addresses with a mask, in the byte layout of `PacketSummary` addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and mask as 16 network-order bytes; IPv4 uses the first 4 and
/// leaves the rest zero, like `PacketSummary::saddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// 4 or 6.
    pub(crate) version: u32,
    pub(crate) addr: [u8; 16],
    pub(crate) mask: [u8; 16],
}

impl Prefix {
    /// The longest prefix length `addr`'s family allows.
    pub(crate) fn max_len(addr: IpAddr) -> u32 {
        match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    /// `addr/len`; `len` must be at most [`Prefix::max_len`].
    pub(crate) fn with_len(addr: IpAddr, len: u32) -> Self {
        // The top `len` bits of 128 are the mask for either family, because
        // IPv4 occupies the leading bytes.
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        let (version, addr) = match addr {
            IpAddr::V4(v4) => (4, padded(v4)),
            IpAddr::V6(v6) => (6, v6.octets()),
        };
        Prefix {
            version,
            addr,
            mask: mask.to_be_bytes(),
        }
    }

    /// An IPv4 network given by address and (possibly non-contiguous) mask.
    pub(crate) fn with_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Self {
        Prefix {
            version: 4,
            addr: padded(addr),
            mask: padded(mask),
        }
    }

    /// Whether the address has bits the mask clears, i.e. it is not the
    /// network address and could never equal a masked packet address.
    pub(crate) fn has_host_bits(&self) -> bool {
        self.addr.iter().zip(&self.mask).any(|(a, m)| a & !m != 0)
    }

    /// The address with the host bits cleared.
    pub(crate) fn network(&self) -> IpAddr {
        let mut bytes = self.addr;
        for (byte, mask) in bytes.iter_mut().zip(&self.mask) {
            *byte &= mask;
        }
        if self.version == 4 {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
    }
}

fn padded(addr: Ipv4Addr) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..4].copy_from_slice(&addr.octets());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_prefix_masks_the_leading_bytes() {
        let prefix = Prefix::with_len("10.16.0.0".parse().unwrap(), 12);
        assert_eq!(prefix.version, 4);
        assert_eq!(prefix.addr[..4], [10, 16, 0, 0]);
        assert_eq!(prefix.mask[..4], [255, 240, 0, 0]);
        assert!(prefix.mask[4..].iter().all(|&b| b == 0));
        assert!(!prefix.has_host_bits());
    }

    #[test]
    fn ipv6_prefix_and_edge_lengths() {
        let prefix = Prefix::with_len("fe80::".parse().unwrap(), 10);
        assert_eq!(prefix.version, 6);
        assert_eq!(prefix.mask[..2], [0xff, 0xc0]);
        assert_eq!(prefix.mask[2..], [0; 14]);
        let any = Prefix::with_len("::".parse().unwrap(), 0);
        assert_eq!(any.mask, [0; 16]);
        let host = Prefix::with_len("::1".parse().unwrap(), 128);
        assert_eq!(host.mask, [0xff; 16]);
    }

    #[test]
    fn host_bits_and_network() {
        let prefix = Prefix::with_len("192.168.1.77".parse().unwrap(), 24);
        assert!(prefix.has_host_bits());
        assert_eq!(prefix.network().to_string(), "192.168.1.0");
        let masked = Prefix::with_mask(
            "10.0.0.255".parse().unwrap(),
            "255.0.255.0".parse().unwrap(),
        );
        assert!(masked.has_host_bits());
        assert_eq!(masked.network().to_string(), "10.0.0.0");
        let v6 = Prefix::with_len("2001:db8::1".parse().unwrap(), 32);
        assert_eq!(v6.network().to_string(), "2001:db8::");
    }
}
