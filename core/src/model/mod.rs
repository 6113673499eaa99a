//! Normalized models: what every engine's answers are translated into.
//!
//! Fields that engines do not all report are `Option`s; lists the engine sent as `null` are empty.
//! Each detail keeps the engine's raw answer (`raw`) so agents are never limited to the common subset.

mod container;
mod event;
mod exec;
mod image;
mod lifecycle;
mod logs;
mod probe;
mod process;
mod resources;
mod stats;

pub use container::*;
pub use event::*;
pub use exec::*;
pub use image::*;
pub use lifecycle::*;
pub use logs::*;
pub use probe::*;
pub use process::*;
pub use resources::*;
pub use stats::*;
