//! Splits a filter expression into tokens that know their column.

use super::error::{FilterError, Problem};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Keywords and arguments alike: `tcp`, `80`, `10.0.0.0/8`, `eth0`.
    Word,
    Open,
    Close,
    Not,
    And,
    Or,
    /// After the last token; its column is just past the expression.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) text: &'a str,
    /// 1-based, in characters.
    pub(crate) column: usize,
}

impl<'a> Token<'a> {
    pub(crate) fn error(&self, problem: Problem) -> FilterError {
        FilterError::Syntax {
            column: self.column,
            token: (self.kind != TokenKind::End).then(|| self.text.to_owned()),
            problem,
        }
    }

    /// The word made of `text[range]`, so errors can point inside a token
    /// such as the `40` of `10.0.0.0/40`.
    pub(crate) fn part(&self, range: std::ops::Range<usize>) -> Token<'a> {
        Token {
            kind: TokenKind::Word,
            column: self.column + self.text[..range.start].chars().count(),
            text: &self.text[range],
        }
    }
}

/// The tokens of one expression, consumed front to back.
pub(crate) struct Tokens<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(expr: &'a str) -> Self {
        Tokens {
            tokens: lex(expr),
            next: 0,
        }
    }

    pub(crate) fn peek(&self) -> Token<'a> {
        self.tokens[self.next]
    }

    /// Consumes and returns the next token; at the end keeps returning `End`.
    pub(crate) fn advance(&mut self) -> Token<'a> {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.next += 1;
        }
        token
    }

    /// Consumes the next token if it is the word `text`.
    pub(crate) fn advance_if(&mut self, text: &str) -> Option<Token<'a>> {
        let token = self.peek();
        (token.kind == TokenKind::Word && token.text == text).then(|| self.advance())
    }
}

/// Words run until whitespace, a parenthesis, `!`, `&&` or `||`. A lone `&`
/// or `|` stays inside the word, which lets `tcpflags S|A` be one argument.
fn lex(expr: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut rest = expr;
    let mut column = 1;
    loop {
        let trimmed = rest.trim_start();
        column += rest[..rest.len() - trimmed.len()].chars().count();
        if trimmed.is_empty() {
            break;
        }
        let text = &trimmed[..token_len(trimmed)];
        tokens.push(Token {
            kind: classify(text),
            text,
            column,
        });
        column += text.chars().count();
        rest = &trimmed[text.len()..];
    }
    tokens.push(Token {
        kind: TokenKind::End,
        text: "",
        column,
    });
    tokens
}

/// Byte length of the token at the start of `s` (which starts with no whitespace).
fn token_len(s: &str) -> usize {
    if s.starts_with("&&") || s.starts_with("||") {
        return 2;
    }
    if s.starts_with(['(', ')', '!']) {
        return 1;
    }
    s.char_indices()
        .find(|&(i, c)| {
            c.is_whitespace()
                || matches!(c, '(' | ')' | '!')
                || s[i..].starts_with("&&")
                || s[i..].starts_with("||")
        })
        .map_or(s.len(), |(i, _)| i)
}

fn classify(text: &str) -> TokenKind {
    match text {
        "(" => TokenKind::Open,
        ")" => TokenKind::Close,
        "!" | "not" => TokenKind::Not,
        "&&" | "and" => TokenKind::And,
        "||" | "or" => TokenKind::Or,
        _ => TokenKind::Word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexed(expr: &str) -> Vec<(TokenKind, &str, usize)> {
        lex(expr)
            .into_iter()
            .map(|t| (t.kind, t.text, t.column))
            .collect()
    }

    #[test]
    fn operators_split_words_without_spaces() {
        use TokenKind::*;
        assert_eq!(
            lexed("!(tcp&&port 80)||udp"),
            vec![
                (Not, "!", 1),
                (Open, "(", 2),
                (Word, "tcp", 3),
                (And, "&&", 6),
                (Word, "port", 8),
                (Word, "80", 13),
                (Close, ")", 15),
                (Or, "||", 16),
                (Word, "udp", 18),
                (End, "", 21),
            ]
        );
    }

    #[test]
    fn keywords_become_operators() {
        use TokenKind::*;
        assert_eq!(
            lexed("not tcp and udp or icmp"),
            vec![
                (Not, "not", 1),
                (Word, "tcp", 5),
                (And, "and", 9),
                (Word, "udp", 13),
                (Or, "or", 17),
                (Word, "icmp", 20),
                (End, "", 24),
            ]
        );
    }

    #[test]
    fn words_keep_addresses_ranges_and_single_bars() {
        let words: Vec<&str> = lex("fe80::1/64 1-1024 S|A a&b tcp-syn")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(words, ["fe80::1/64", "1-1024", "S|A", "a&b", "tcp-syn", ""]);
    }

    #[test]
    fn columns_count_characters_and_skip_tabs() {
        assert_eq!(
            lexed("\tifname\u{e9}\u{e9} x"),
            vec![
                (TokenKind::Word, "ifname\u{e9}\u{e9}", 2),
                (TokenKind::Word, "x", 11),
                (TokenKind::End, "", 12),
            ]
        );
    }

    #[test]
    fn blank_expression_is_just_the_end() {
        assert_eq!(lexed("  \t "), vec![(TokenKind::End, "", 5)]);
    }

    #[test]
    fn part_points_inside_a_token() {
        let token = lex("net 10.0.0.0/40")[1];
        let len = token.part(9..11);
        assert_eq!((len.text, len.column), ("40", 14));
    }

    #[test]
    fn advance_stops_at_the_end() {
        let mut tokens = Tokens::new("tcp");
        assert_eq!(tokens.advance().text, "tcp");
        assert_eq!(tokens.advance().kind, TokenKind::End);
        assert_eq!(tokens.advance().kind, TokenKind::End);
    }
}
