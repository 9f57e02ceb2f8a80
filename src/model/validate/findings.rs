//! Where an L1 rule file writes its findings about one object: the object and the output,
//! with the two errors every rule file needs (a required field, a shape the reference refuses).
//! Rule files add their own methods in `impl Findings` blocks of their own.

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};

/// The findings of one object's checks.
pub(super) struct Findings<'a> {
    /// The object checked.
    pub(super) object: &'a ObjectRef,
    /// Where its diagnostics go.
    pub(super) out: &'a mut Vec<Diagnostic>,
}

impl Findings<'_> {
    /// TSB1007 at `field`: it is required.
    pub(super) fn required(&mut self, field: String, fix: &str) {
        self.out.push(Diagnostic::error(
            RuleCode::RequiredField,
            self.object,
            field,
            "is required",
            fix,
        ));
    }

    /// TSB1008 at `field`: its shape, range, pattern or oneof is wrong.
    pub(super) fn shape(&mut self, field: String, message: impl Into<String>, fix: &str) {
        self.out.push(Diagnostic::error(
            RuleCode::SpecSchema,
            self.object,
            field,
            message,
            fix,
        ));
    }
}
