//! The parsed form of a filter expression and its translation to postfix.

use crate::abi::{FilterInsn, filter_op};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    /// A single predicate instruction.
    Test(FilterInsn),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub(crate) fn not(inner: Expr) -> Self {
        Expr::Not(Box::new(inner))
    }

    pub(crate) fn and(left: Expr, right: Expr) -> Self {
        Expr::And(Box::new(left), Box::new(right))
    }

    pub(crate) fn or(left: Expr, right: Expr) -> Self {
        Expr::Or(Box::new(left), Box::new(right))
    }

    /// Length of the postfix program for this expression.
    pub(crate) fn insn_count(&self) -> usize {
        match self {
            Expr::Test(_) => 1,
            Expr::Not(inner) => inner.insn_count() + 1,
            Expr::And(left, right) | Expr::Or(left, right) => {
                left.insn_count() + right.insn_count() + 1
            }
        }
    }

    /// Operands in source order, then the operator: `a or b and c` becomes
    /// `a b c AND OR`.
    pub(crate) fn to_postfix(&self) -> Vec<FilterInsn> {
        let mut program = Vec::with_capacity(self.insn_count());
        self.emit(&mut program);
        program
    }

    fn emit(&self, program: &mut Vec<FilterInsn>) {
        match self {
            Expr::Test(insn) => program.push(*insn),
            Expr::Not(inner) => {
                inner.emit(program);
                program.push(FilterInsn::new(filter_op::NOT));
            }
            Expr::And(left, right) => {
                left.emit(program);
                right.emit(program);
                program.push(FilterInsn::new(filter_op::AND));
            }
            Expr::Or(left, right) => {
                left.emit(program);
                right.emit(program);
                program.push(FilterInsn::new(filter_op::OR));
            }
        }
    }
}
