//! What starts runs by itself under `keystep serve` (design section 4):
//! the event matcher over the directory's event log, and the automations
//! it serves, reloaded as their files change. The pure decisions (which
//! automation an event starts, with what context and lineage) are in
//! [`matcher`], beside their tests.

pub mod automations;
pub mod events;
pub mod matcher;
pub mod schedules;
