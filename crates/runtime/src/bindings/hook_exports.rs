//! A plugin's hook exports, found by name once per component and called without checking
//! their types again on every call.
//!
//! wasmtime's generated bindings load and type-check every export of the `hooks` interface
//! each time a component is instantiated, and a hook call instantiates a fresh one:
//! checking the four signatures (a lead's record, field by field, in three of them) was a
//! tenth of a Rust plugin's whole call. An export's type cannot change while its component
//! lives, so each is checked on its first call and trusted from then on. None of the hook
//! signatures holds a resource (whose type would be each instance's own): a contract that
//! adds one must check that hook on every call.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, TypedFunc,
};
use wasmtime::error::Context as _;

use crate::contract::Version;
use crate::manifest::Declared;

/// The types a version of the contract gives the hooks' parameters and results.
pub trait Contract: 'static {
    type Manifest: Lift + Send + Sync + Into<Declared> + 'static;
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
            .ok_or_else(|| wasmtime::format_err!("no `{name}` export"))?;
        Ok(Self {
            manifest: Export::find(component, &hooks, "manifest")?,
            filter: Export::find(component, &hooks, "filter")?,
            reply: Export::find(component, &hooks, "reply")?,
            follow_up: Export::find(component, &hooks, "follow-up")?,
        })
    }

    /// Checks every hook's type in `instance`, then reads its manifest, as the newest
    /// contract spells it.
    pub async fn read_manifest<T: Send>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
    ) -> wasmtime::Result<Declared> {
        self.check_all(store, instance)?;
        let (manifest,) = self.manifest.call(store, instance, ()).await?;
        Ok(manifest.into())
    }

    /// Checks every hook's type in `instance`: done when a plugin is installed (its
    /// manifest read), so one whose hooks do not match the contract is refused then rather
    /// than at its first call of each.
    fn check_all<T>(&self, store: &mut Store<T>, instance: &Instance) -> wasmtime::Result<()> {
        self.manifest.typed(store, instance)?;
        self.filter.typed(store, instance)?;
        self.reply.typed(store, instance)?;
        self.follow_up.typed(store, instance)?;
        Ok(())
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
            .ok_or_else(|| wasmtime::format_err!("its hooks interface has no `{name}` function"))?;
        Ok(Self {
            name,
            index,
            checked: AtomicBool::new(false),
            types: PhantomData,
        })
    }

    /// The function in `instance`, an instance of the component it was found in, its type
    /// checked against `P` and `R` if no call has checked it yet.
    fn typed<T>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
    ) -> wasmtime::Result<TypedFunc<P, R>> {
        if self.checked.load(Ordering::Acquire) {
            // `Prepared` keeps these exports beside the one `InstancePre` they were found in,
            // so `instance` is of that component; an index of another would find nothing.
            let func = instance.get_func(&mut *store, self.index).ok_or_else(|| {
                wasmtime::format_err!("`{}` is not an export of this instance", self.name)
            })?;
            // SAFETY: an earlier call checked this export of the same component against
            // `P` and `R` (below), and a component's export types are fixed: none of the
            // hook signatures holds a resource, whose type would be the instance's own.
            return Ok(unsafe { TypedFunc::<P, R>::new_unchecked(func) });
        }
        let func = instance
            .get_typed_func::<P, R>(&mut *store, self.index)
            .with_context(|| {
                format!(
                    "the plugin's `{}` export does not have the contract's type",
                    self.name
                )
            })?;
        self.checked.store(true, Ordering::Release);
        Ok(func)
    }

    /// Calls the function in `instance`, an instance of the component it was found in.
    pub async fn call<T: Send>(
        &self,
        store: &mut Store<T>,
        instance: &Instance,
        params: P,
    ) -> wasmtime::Result<R> {
        let func = self.typed(store, instance)?;
        func.call_async(&mut *store, params).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ai::AiProvider;
    use crate::bindings::{Newest, wit, wit_hooks};
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::host::{CallContext, HostServices};
    use crate::store::Db;
    use crate::{Limits, Runtime, bundled};

    /// The newest contract's hook types, but a filter that takes a number.
    enum FilterTakesANumber {}

    impl Contract for FilterTakesANumber {
        type Manifest = <Newest as Contract>::Manifest;
        type Lead = u32;
        type Inbound = <Newest as Contract>::Inbound;
        type FollowUpDue = <Newest as Contract>::FollowUpDue;
        type Filtered = <Newest as Contract>::Filtered;
        type Replied = <Newest as Contract>::Replied;
        type FollowedUp = <Newest as Contract>::FollowedUp;
    }

    #[tokio::test]
    async fn a_hook_whose_type_differs_is_refused_on_every_call_and_never_trusted() {
        let config = Config::default();
        let runtime = Runtime::new(&config.limits, None).unwrap();
        let services = Arc::new(HostServices {
            db: Db::open_in_memory().unwrap(),
            clock: Arc::new(ManualClock::new(1_000)),
            ai: AiProvider::from_config(&config.ai, |_| None),
            config: Arc::new(config.clone()),
        });
        let prepared = runtime
            .prepare(bundled::find("lead-scorer").unwrap().wasm)
            .unwrap();
        let component = prepared.pre.component();
        let contract = crate::contract::HOST;
        let mislabelled = Hooks::<FilterTakesANumber>::find(component, contract).unwrap();
        let limits = Limits::from_config(&config.limits);
        let mut store = runtime
            .new_store(services.clone(), CallContext::for_manifest(), limits)
            .unwrap();
        let instance = prepared.pre.instantiate_async(&mut store).await.unwrap();

        let refused = mislabelled.check_all(&mut store, &instance).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("the plugin's `filter` export does not have the contract's type"),
            "{refused}"
        );
        for _ in 0..2 {
            let refused = mislabelled.filter.call(&mut store, &instance, (7,)).await;
            assert!(
                refused.is_err(),
                "a failed check is not remembered as passed"
            );
        }
        assert!(!mislabelled.filter.checked.load(Ordering::Acquire));
        assert!(mislabelled.manifest.checked.load(Ordering::Acquire));

        // The real types: checked once, then called unchecked in fresh instances.
        let hooks = Hooks::<Newest>::find(component, contract).unwrap();
        hooks.check_all(&mut store, &instance).unwrap();
        for _ in 0..2 {
            let mut store = runtime
                .new_store(services.clone(), CallContext::for_manifest(), limits)
                .unwrap();
            let instance = prepared.pre.instantiate_async(&mut store).await.unwrap();
            let lead = wit::Lead {
                id: 1,
                handle: "anna".into(),
                name: None,
                email: None,
                phone: None,
                tags: vec![],
                status: wit::LeadStatus::New,
                score: None,
                notes: None,
                custom_fields: vec![],
                created_at: 0,
                last_inbound_at: None,
                last_outbound_at: None,
            };
            let (decided,) = hooks
                .filter
                .call(&mut store, &instance, (lead,))
                .await
                .unwrap();
            let _: wit_hooks::FilterDecision = decided.unwrap();
        }
    }
}
