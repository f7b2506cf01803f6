//! The boolean grammar: `or`, `and`, `not` and parentheses around primitives.

use super::ast::Expr;
use super::error::{FilterError, Problem};
use super::lexer::{Token, TokenKind, Tokens};
use super::primitive::primitive;
use crate::abi::FILTER_MAX_INSNS;

/// Parentheses and `not` nest at most this deep. It bounds this recursive
/// parser's stack use; the instruction limit bounds everything else.
const MAX_NESTING: usize = 64;

/// Parses `expr`; `None` for an empty expression.
pub(crate) fn parse(expr: &str) -> Result<Option<Expr>, FilterError> {
    let mut parser = Parser {
        tokens: Tokens::new(expr),
        nesting: 0,
        insns: 0,
    };
    if parser.tokens.peek().kind == TokenKind::End {
        return Ok(None);
    }
    let tree = parser.or_expr()?;
    let next = parser.tokens.peek();
    match next.kind {
        TokenKind::End => Ok(Some(tree)),
        TokenKind::Close => Err(next.error(Problem::UnmatchedClose)),
        _ => Err(next.error(Problem::ExpectedOperator)),
    }
}

struct Parser<'a> {
    tokens: Tokens<'a>,
    /// Current depth of parentheses and `not`.
    nesting: usize,
    /// Instructions the tree built so far compiles to. Checked as the tree
    /// grows so an overlong input fails early and the tree stays small.
    insns: usize,
}

impl<'a> Parser<'a> {
    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut tree = self.and_expr()?;
        while self.tokens.peek().kind == TokenKind::Or {
            let op = self.tokens.advance();
            let right = self.and_expr()?;
            self.count(1, op)?;
            tree = Expr::or(tree, right);
        }
        Ok(tree)
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        let mut tree = self.unary()?;
        while self.tokens.peek().kind == TokenKind::And {
            let op = self.tokens.advance();
            let right = self.unary()?;
            self.count(1, op)?;
            tree = Expr::and(tree, right);
        }
        Ok(tree)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let first = self.tokens.peek();
        match first.kind {
            TokenKind::Not => {
                self.tokens.advance();
                let inner = self.nested(first, Self::unary)?;
                self.count(1, first)?;
                Ok(Expr::not(inner))
            }
            TokenKind::Open => {
                self.tokens.advance();
                let next = self.tokens.peek();
                if next.kind == TokenKind::Close {
                    return Err(next.error(Problem::EmptyParens));
                }
                let inner = self.nested(first, Self::or_expr)?;
                let close = self.tokens.advance();
                if close.kind != TokenKind::Close {
                    return Err(close.error(Problem::ExpectedClose {
                        open_column: first.column,
                    }));
                }
                Ok(inner)
            }
            _ => {
                let tree = primitive(&mut self.tokens)?;
                self.count(tree.insn_count(), first)?;
                Ok(tree)
            }
        }
    }

    /// Runs `parse` one nesting level deeper; `opener` is the `(` or `not`.
    fn nested(
        &mut self,
        opener: Token<'a>,
        parse: fn(&mut Self) -> Result<Expr, FilterError>,
    ) -> Result<Expr, FilterError> {
        if self.nesting == MAX_NESTING {
            return Err(opener.error(Problem::NestedTooDeeply { max: MAX_NESTING }));
        }
        self.nesting += 1;
        let tree = parse(self);
        self.nesting -= 1;
        tree
    }

    /// Adds `insns` instructions produced at `at`.
    fn count(&mut self, insns: usize, at: Token<'a>) -> Result<(), FilterError> {
        self.insns += insns;
        if self.insns > FILTER_MAX_INSNS {
            return Err(at.error(Problem::TooManyInstructions));
        }
        Ok(())
    }
}
