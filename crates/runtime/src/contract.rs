//! Which version of the `outreach:plugin` contract a component was built for: the names
//! of what it imports and exports, read from the compiled component and decided by the
//! domain's rules ([`crate::domain::contract`]).

use wasmtime::Engine;
use wasmtime::component::Component;

pub use crate::domain::contract::{HOST, SPOKEN, Version, check};

/// The contract version `component` was built for, if this host speaks it.
pub fn spoken_by(component: &Component, engine: &Engine) -> anyhow::Result<Version> {
    let ty = component.component_type();
    let names: Vec<&str> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name))
        .collect();
    check(&names, &SPOKEN)
}
