//! A plugin's hook exports, found by name once per component and called without checking
//! their types again on every call.
//!
//! wasmtime's generated bindings look up and type-check every export of the `hooks`
//! interface each time a component is instantiated, and a hook call instantiates a fresh
//! one: checking the four signatures (a lead's record, field by field, in three of them)
//! was a tenth of a Rust plugin's whole call. An export's type cannot change while its
//! component lives, so each is checked on its first call and trusted from then on.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, TypedFunc,
};

use crate::contract::Version;

/// The types a version of the contract gives the hooks' parameters and results.
pub trait Contract: 'static {
    type Manifest: Lift + Send + Sync + 'static;
    type Lead: Lower + Send + Sync;
    type Inbound: Lower + Send + Sync;
    type FollowUpDue: Lower + Send + Sync;
    /// `result<filter-decision, error>`, and the same for the other two hooks.
    type Filtered: Lift + Send + Sync + 'static;
    type Replied: Lift + Send + Sync + 'static;
    type FollowedUp: Lift + Send + Sync + 'static;
}

/// The functions of a component's `hooks` interface, as contract `C` types them.
pub struct Hooks<C: Contract> {
    pub manifest: Export<(), (C::Manifest,)>,
    pub filter: Export<(C::Lead,), (C::Filtered,)>,
    pub reply: Export<(C::Inbound,), (C::Replied,)>,
    pub follow_up: Export<(C::FollowUpDue,), (C::FollowedUp,)>,
}

impl<C: Contract> Hooks<C> {
    /// The hooks of `component`, built for `contract`.
    pub fn find(component: &Component, contract: Version) -> wasmtime::Result<Self> {
        let name = format!("outreach:plugin/hooks@{contract}");
        let hooks = component
            .get_export_index(None, &name)
            .ok_or_else(|| wasmtime::format_err!("the component does not export {name}"))?;
        Ok(Self {
            manifest: Export::find(component, &hooks, "manifest")?,
            filter: Export::find(component, &hooks, "filter")?,
            reply: Export::find(component, &hooks, "reply")?,
            follow_up: Export::find(component, &hooks, "follow-up")?,
        })
    }
}

/// One function of a component's `hooks` interface, taking `P` and returning `R`.
pub struct Export<P, R> {
    name: &'static str,
    index: ComponentExportIndex,
    /// Set once a call has checked the function's type against `P` and `R`.
    checked: AtomicBool,
    types: PhantomData<fn(P) -> R>,
}

impl<P, R> Export<P, R>
where
    P: ComponentNamedList + Lower + Send + Sync,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    /// The function `name` of the interface `hooks` of `component`.
    fn find(
        component: &Component,
        hooks: &ComponentExportIndex,
        name: &'static str,
    ) -> wasmtime::Result<Self> {
        let index = component
            .get_export_index(Some(hooks), name)
            .ok_or_else(|| wasmtime::format_err!("its hooks interface has no `{name}`"))?;
        Ok(Self {
            name,
            index,
            checked: AtomicBool::new(false),
            types: PhantomData,
        })
    }

    /// Calls the function in `instance`, an instance of the component it was found in.
    pub async fn call<T: Send>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
        params: P,
    ) -> wasmtime::Result<R> {
        let func = if self.checked.load(Ordering::Acquire) {
            let func = instance.get_func(&mut *store, self.index).ok_or_else(|| {
                wasmtime::format_err!("the plugin's `{}` export is gone", self.name)
            })?;
            // SAFETY: an earlier call checked this export of the same component against
            // `P` and `R` (`get_typed_func` below), and a component's export types are
            // fixed: none of these signatures holds a resource, whose type would be the
            // instance's own.
            unsafe { TypedFunc::<P, R>::new_unchecked(func) }
        } else {
            let func = instance.get_typed_func::<P, R>(&mut *store, self.index)?;
            self.checked.store(true, Ordering::Release);
            func
        };
        func.call_async(&mut *store, params).await
    }
}
