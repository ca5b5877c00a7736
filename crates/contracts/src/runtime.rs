//! The host side of one call: the store's data, the host functions of ABI v1 and their
//! checks. Every pointer and length from the contract is checked against its memory and
//! the limits before anything is copied or allocated.

use std::collections::BTreeMap;
use std::fmt;

use wasmi::{Caller, Extern, Linker, Memory, StoreLimits, StoreLimitsBuilder, TrapCode, ValType};

use crate::engine::Event;
use crate::host::Host;
use crate::limits::{LimitKind, Limits};

/// The module every host function is imported from.
pub(crate) const HOST_MODULE: &str = "medledger";

/// Largest abort message kept, in bytes.
const MAX_ABORT_MESSAGE: usize = 1024;

/// The host functions and their signatures, as `check` enforces them.
pub(crate) const HOST_FUNCTIONS: &[(&str, &[ValType], &[ValType])] = {
    use ValType::{I32, I64};
    &[
        ("input_len", &[], &[I32]),
        ("input_read", &[I32], &[]),
        ("output_write", &[I32, I32], &[]),
        ("state_get", &[I32, I32, I32, I32], &[I32]),
        ("state_set", &[I32, I32, I32, I32], &[]),
        ("state_delete", &[I32, I32], &[]),
        ("fact_get", &[I32, I32, I32, I32], &[I32]),
        ("emit_event", &[I32, I32, I32, I32], &[]),
        ("block_time", &[], &[I64]),
        ("abort", &[I32, I32], &[]),
    ]
};

/// Why a host function ended the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    BadPointer,
    Abort(String),
    Limit(LimitKind),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::BadPointer => f.write_str("pointer out of the contract's memory"),
            Fault::Abort(m) => write!(f, "contract aborted: {m}"),
            Fault::Limit(k) => write!(f, "limit exceeded: {k:?}"),
        }
    }
}

impl wasmi::errors::HostError for Fault {}

fn fault(f: Fault) -> wasmi::Error {
    wasmi::Error::host(f)
}

/// The store's data for one call.
pub(crate) struct CallState<'h> {
    pub host: &'h dyn Host,
    pub limits: &'h Limits,
    pub input: &'h [u8],
    pub output: Vec<u8>,
    /// The call's writes over the host's state (`None` deletes), in key order.
    pub overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub host_calls: u32,
    pub write_count: usize,
    pub write_bytes: usize,
    pub events: Vec<Event>,
    pub event_bytes: usize,
    /// Memory (and table) growth: past the limit, `memory.grow` traps with
    /// `GrowthOperationLimited` rather than returning -1, so the outcome names the limit.
    pub store_limits: StoreLimits,
}

impl<'h> CallState<'h> {
    pub fn new(host: &'h dyn Host, limits: &'h Limits, input: &'h [u8]) -> Self {
        Self {
            host,
            limits,
            input,
            output: Vec::new(),
            overlay: BTreeMap::new(),
            host_calls: 0,
            write_count: 0,
            write_bytes: 0,
            events: Vec::new(),
            event_bytes: 0,
            store_limits: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_pages as usize * 65_536)
                .table_elements(10_000)
                .instances(1)
                .tables(1)
                .memories(1)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}

type Ctx<'a, 'h> = Caller<'a, CallState<'h>>;

/// A contract's `i32` pointer or length, as the unsigned number wasm32 means.
fn unsigned(v: i32) -> usize {
    v as u32 as usize
}

fn memory(caller: &Ctx<'_, '_>) -> Result<Memory, wasmi::Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| fault(Fault::BadPointer))
}

fn read(caller: &Ctx<'_, '_>, ptr: i32, len: usize) -> Result<Vec<u8>, wasmi::Error> {
    let data = memory(caller)?.data(caller);
    let start = unsigned(ptr);
    let end = start.checked_add(len).ok_or_else(|| fault(Fault::BadPointer))?;
    data.get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| fault(Fault::BadPointer))
}

fn write(caller: &mut Ctx<'_, '_>, ptr: i32, bytes: &[u8]) -> Result<(), wasmi::Error> {
    let data = memory(caller)?.data_mut(&mut *caller);
    let start = unsigned(ptr);
    let end = start.checked_add(bytes.len()).ok_or_else(|| fault(Fault::BadPointer))?;
    let dst = data.get_mut(start..end).ok_or_else(|| fault(Fault::BadPointer))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// Enters a host function: counts the call and charges its fixed cost. Every host function
/// starts with this.
fn enter(caller: &mut Ctx<'_, '_>) -> Result<(), wasmi::Error> {
    let state = caller.data_mut();
    state.host_calls += 1;
    if state.host_calls > state.limits.max_host_calls {
        return Err(fault(Fault::Limit(LimitKind::HostCalls)));
    }
    let fixed = state.limits.host_call_fuel;
    consume(caller, fixed)
}

/// Charges one unit of fuel per byte moved.
fn charge(caller: &mut Ctx<'_, '_>, bytes: usize) -> Result<(), wasmi::Error> {
    consume(caller, bytes as u64)
}

fn consume(caller: &mut Ctx<'_, '_>, cost: u64) -> Result<(), wasmi::Error> {
    let fuel = caller.get_fuel()?;
    match fuel.checked_sub(cost) {
        Some(left) => caller.set_fuel(left),
        None => {
            caller.set_fuel(0)?;
            Err(TrapCode::OutOfFuel.into())
        }
    }
}

fn check_len(len: i32, max: usize, kind: LimitKind) -> Result<usize, wasmi::Error> {
    let len = unsigned(len);
    if len > max {
        Err(fault(Fault::Limit(kind)))
    } else {
        Ok(len)
    }
}

/// `state_get` and `fact_get`: `-1` when absent, else the full length, copying at most `cap`.
fn copy_out(caller: &mut Ctx<'_, '_>, value: Option<Vec<u8>>, val_ptr: i32, val_cap: i32) -> Result<i32, wasmi::Error> {
    let Some(value) = value else { return Ok(-1) };
    let n = value.len().min(unsigned(val_cap));
    charge(caller, n)?;
    write(caller, val_ptr, &value[..n])?;
    // Values are bounded by max_value_bytes on write; facts come from the ledger.
    i32::try_from(value.len()).map_err(|_| fault(Fault::Limit(LimitKind::ValueSize)))
}

fn read_key(caller: &mut Ctx<'_, '_>, ptr: i32, len: i32) -> Result<Vec<u8>, wasmi::Error> {
    let len = check_len(len, caller.data().limits.max_key_bytes, LimitKind::KeySize)?;
    charge(caller, len)?;
    read(caller, ptr, len)
}

fn buffer_write(caller: &mut Ctx<'_, '_>, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), wasmi::Error> {
    let state = caller.data_mut();
    let bytes = key.len() + value.as_ref().map_or(0, Vec::len);
    if state.write_count >= state.limits.max_writes {
        return Err(fault(Fault::Limit(LimitKind::Writes)));
    }
    if state.write_bytes + bytes > state.limits.max_write_bytes {
        return Err(fault(Fault::Limit(LimitKind::WriteBytes)));
    }
    state.write_count += 1;
    state.write_bytes += bytes;
    state.overlay.insert(key, value);
    Ok(())
}

/// The host functions of ABI v1, for one call's store.
pub(crate) fn linker<'h>(engine: &wasmi::Engine) -> Result<Linker<CallState<'h>>, wasmi::Error> {
    let mut l = Linker::<CallState<'h>>::new(engine);
    let m = HOST_MODULE;
    l.func_wrap(m, "input_len", |mut c: Ctx<'_, 'h>| -> Result<i32, wasmi::Error> {
        enter(&mut c)?;
        // Inputs are bounded by max_input_bytes before the call starts.
        i32::try_from(c.data().input.len()).map_err(|_| fault(Fault::Limit(LimitKind::Input)))
    })?;
    l.func_wrap(
        m,
        "input_read",
        |mut c: Ctx<'_, 'h>, ptr: i32| -> Result<(), wasmi::Error> {
            enter(&mut c)?;
            let input = c.data().input;
            charge(&mut c, input.len())?;
            write(&mut c, ptr, input)
        },
    )?;
    l.func_wrap(m, "output_write", |mut c: Ctx<'_, 'h>, ptr: i32, len: i32| {
        enter(&mut c)?;
        let len = check_len(len, c.data().limits.max_output_bytes, LimitKind::Output)?;
        charge(&mut c, len)?;
        let bytes = read(&c, ptr, len)?;
        c.data_mut().output = bytes;
        Ok(())
    })?;
    l.func_wrap(
        m,
        "state_get",
        |mut c: Ctx<'_, 'h>, kp: i32, kl: i32, vp: i32, vc: i32| {
            enter(&mut c)?;
            let key = read_key(&mut c, kp, kl)?;
            let state = c.data();
            let value = match state.overlay.get(&key) {
                Some(buffered) => buffered.clone(),
                None => state.host.state_get(&key),
            };
            copy_out(&mut c, value, vp, vc)
        },
    )?;
    l.func_wrap(
        m,
        "state_set",
        |mut c: Ctx<'_, 'h>, kp: i32, kl: i32, vp: i32, vl: i32| {
            enter(&mut c)?;
            let key = read_key(&mut c, kp, kl)?;
            let len = check_len(vl, c.data().limits.max_value_bytes, LimitKind::ValueSize)?;
            charge(&mut c, len)?;
            let value = read(&c, vp, len)?;
            buffer_write(&mut c, key, Some(value))
        },
    )?;
    l.func_wrap(m, "state_delete", |mut c: Ctx<'_, 'h>, kp: i32, kl: i32| {
        enter(&mut c)?;
        let key = read_key(&mut c, kp, kl)?;
        buffer_write(&mut c, key, None)
    })?;
    l.func_wrap(
        m,
        "fact_get",
        |mut c: Ctx<'_, 'h>, kp: i32, kl: i32, vp: i32, vc: i32| {
            enter(&mut c)?;
            let key = read_key(&mut c, kp, kl)?;
            let value = c.data().host.fact_get(&key);
            copy_out(&mut c, value, vp, vc)
        },
    )?;
    l.func_wrap(
        m,
        "emit_event",
        |mut c: Ctx<'_, 'h>, tp: i32, tl: i32, dp: i32, dl: i32| {
            enter(&mut c)?;
            let topic = read_key(&mut c, tp, tl)?;
            let len = check_len(dl, c.data().limits.max_event_bytes, LimitKind::EventBytes)?;
            charge(&mut c, len)?;
            let data = read(&c, dp, len)?;
            let state = c.data_mut();
            if state.events.len() >= state.limits.max_events {
                return Err(fault(Fault::Limit(LimitKind::Events)));
            }
            let bytes = topic.len() + data.len();
            if state.event_bytes + bytes > state.limits.max_event_bytes {
                return Err(fault(Fault::Limit(LimitKind::EventBytes)));
            }
            state.event_bytes += bytes;
            state.events.push(Event { topic, data });
            Ok(())
        },
    )?;
    l.func_wrap(m, "block_time", |mut c: Ctx<'_, 'h>| -> Result<i64, wasmi::Error> {
        enter(&mut c)?;
        Ok(c.data().host.block_time_s())
    })?;
    l.func_wrap(
        m,
        "abort",
        |mut c: Ctx<'_, 'h>, ptr: i32, len: i32| -> Result<(), wasmi::Error> {
            enter(&mut c)?;
            let len = unsigned(len).min(MAX_ABORT_MESSAGE);
            charge(&mut c, len)?;
            let bytes = read(&c, ptr, len)?;
            Err(fault(Fault::Abort(String::from_utf8_lossy(&bytes).into_owned())))
        },
    )?;
    Ok(l)
}
