//! What can be wrong with a filter, and how to point at it.

use crate::abi::{FILTER_MAX_DEPTH, FILTER_MAX_INSNS, IFNAMSIZ};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The expression is wrong at one token. `column` is 1-based and counts
    /// characters; `token` is `None` at the end of the expression.
    #[error("bad filter at column {column} ({}): {problem}", describe_token(.token))]
    Syntax {
        column: usize,
        token: Option<String>,
        problem: Problem,
    },
    #[error("filter program has {insns} instructions, at most {max} fit", max = FILTER_MAX_INSNS)]
    TooLong { insns: usize },
    #[error("filter program needs more than {max} stack slots at instruction {index}", max = FILTER_MAX_DEPTH)]
    TooDeep { index: usize },
    #[error("malformed filter program at instruction {index}: {reason}")]
    Malformed { index: usize, reason: &'static str },
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "expected a primitive (tcp, udp, icmp, ip, ip6, arp, proto, host, net, port, portrange, \
         ifname, netns, pid, ifindex, tcp-syn, tcpflags, ...), 'not' or '('"
    )]
    ExpectedPrimitive,
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("expected 'and', 'or' or the end of the filter")]
    ExpectedOperator,
    #[error("expected 'and', 'or' or ')' closing the '(' at column {open_column}")]
    ExpectedClose { open_column: usize },
    #[error("')' without a matching '('")]
    UnmatchedClose,
    #[error("empty parentheses")]
    EmptyParens,
    #[error("parentheses and 'not' nest more than {max} deep")]
    NestedTooDeeply { max: usize },
    #[error("filter needs more than {max} instructions", max = FILTER_MAX_INSNS)]
    TooManyInstructions,
    #[error("{what} must be at most {max}")]
    TooLarge { what: &'static str, max: u32 },
    #[error("port range starts above its end")]
    PortRangeReversed,
    #[error("address has bits set outside the network mask; did you mean {suggestion}?")]
    HostBitsSet { suggestion: String },
    #[error("'mask' only works with IPv4 networks; write ADDR/LEN")]
    MaskNeedsIpv4,
    #[error("interface name longer than {max} bytes", max = IFNAMSIZ - 1)]
    IfnameTooLong,
    #[error("unknown TCP flag '{0}'; use F S R P A U E C")]
    UnknownTcpFlag(char),
}

fn describe_token(token: &Option<String>) -> String {
    match token {
        Some(text) => format!("'{text}'"),
        None => "end of input".to_owned(),
    }
}

impl FilterError {
    /// A line to print under `expr` with carets under the offending token, or
    /// `None` when the error is about the whole program. Tabs in `expr` are
    /// kept so the carets line up in a terminal.
    pub fn caret_line(&self, expr: &str) -> Option<String> {
        let FilterError::Syntax { column, token, .. } = self else {
            return None;
        };
        let width = token
            .as_deref()
            .map_or(1, |text| text.chars().count().max(1));
        let indent: String = expr
            .chars()
            .take(column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!("{indent}{}", "^".repeat(width)))
    }
}
