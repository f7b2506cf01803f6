//! Address → file:line with its chain of inlined functions (addr2line).

use super::{DebugInfo, Error, Frame};

impl DebugInfo {
    /// The functions active at `addr`, innermost (most deeply inlined) first,
    /// each with the file:line it is at; empty when no unit covers `addr`.
    pub fn address_location(&self, addr: u64) -> Result<Vec<Frame>, Error> {
        let context = self.require_debug_info()?;
        let mut frames = context
            .find_frames(addr)
            .skip_all_loads()
            .map_err(|error| self.malformed(error))?;
        let mut found = Vec::new();
        while let Some(frame) = frames.next().map_err(|error| self.malformed(error))? {
            let function = match &frame.function {
                Some(name) => Some(
                    name.raw_name()
                        .map_err(|error| self.malformed(error))?
                        .into_owned(),
                ),
                None => None,
            };
            let location = frame.location.as_ref();
            found.push(Frame {
                function,
                file: location.and_then(|l| l.file).map(str::to_owned),
                line: location.and_then(|l| l.line),
            });
        }
        Ok(found)
    }
}
