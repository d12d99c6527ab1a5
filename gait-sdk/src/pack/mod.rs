//! Evidence artifacts shared by every plugin that writes or reads them: runpacks (`runpack`)
//! and, built on the same machinery, PackSpec v1 packs. Formats and their verification live
//! here; commands live in plugins.

pub mod call;
pub mod guard;
pub mod runpack;
pub mod spec;
