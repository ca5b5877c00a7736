//! The engine: checks contract code once, then runs calls in fresh, metered instances.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};
use wasmi::{CompilationMode, Config, ExternType, Module, Store, TrapCode};

use crate::host::Host;
use crate::limits::{LimitKind, Limits, LimitsError};
use crate::runtime::{self, CallState, Fault, HOST_FUNCTIONS, HOST_MODULE};

/// The entry point every contract exports.
pub const DEFAULT_ENTRY: &str = "call";

/// SHA-256 of a module's bytes: the id of one version of a contract's code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CodeId(pub [u8; 32]);

impl CodeId {
    pub fn of(code: &[u8]) -> Self {
        CodeId(Sha256::digest(code).into())
    }
}

impl fmt::Display for CodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeId({self})")
    }
}

/// Why code was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    #[error("module of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("module uses floating point: {0}")]
    Float(String),
    #[error("not a valid WebAssembly module for this engine: {0}")]
    Invalid(String),
    #[error("import {module}.{name} is not a host function of ABI v1")]
    UnknownImport { module: String, name: String },
    #[error("import {name} has the wrong signature")]
    ImportSignature { name: String },
    #[error("module does not export {0}")]
    MissingExport(&'static str),
    #[error("export {0} has the wrong type (memory, and a function () -> i32)")]
    ExportType(&'static str),
    #[error("initial memory of {pages} pages exceeds the limit of {max}")]
    MemoryTooLarge { pages: u64, max: u32 },
}

/// Code that passed [`Engine::check`], compiled and ready to call; cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckedCode {
    id: CodeId,
    size: usize,
    module: Module,
}

impl CheckedCode {
    pub fn id(&self) -> CodeId {
        self.id
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

/// One buffered state write: `None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub topic: Vec<u8>,
    pub data: Vec<u8>,
}

/// Why a call trapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrapReason {
    /// A WebAssembly trap (`unreachable`, out-of-bounds access, division by zero, stack
    /// overflow, …), by wasmi's name for it.
    Wasm(String),
    /// A host function was given memory outside the contract's.
    BadPointer,
    /// The contract called `abort` with this message.
    Abort(String),
    /// The entry point is missing or is not `() -> i32`.
    NoEntry(String),
    /// Instantiation failed (e.g. a data segment out of bounds).
    Instantiate(String),
}

/// What a call came to. Only `Ok` carries writes and events for the caller to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok {
        output: Vec<u8>,
        writes: Vec<Write>,
        events: Vec<Event>,
        fuel_used: u64,
    },
    /// The entry point returned a non-zero status: writes and events are dropped.
    Reverted {
        status: i32,
        output: Vec<u8>,
        fuel_used: u64,
    },
    OutOfFuel,
    Trap(TrapReason),
    LimitExceeded(LimitKind),
}

/// Checks and runs contracts under one set of [`Limits`].
#[derive(Debug, Clone)]
pub struct Engine {
    wasm: wasmi::Engine,
    limits: Limits,
}

impl Engine {
    pub fn new(limits: Limits) -> Result<Self, LimitsError> {
        let limits = limits.validate()?;
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .floats(false)
            .wasm_multi_memory(false)
            .wasm_reference_types(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            // Eager: a function's fuel never depends on whether an earlier call translated it.
            .compilation_mode(CompilationMode::Eager)
            .set_max_recursion_depth(limits.max_recursion_depth);
        Ok(Self {
            wasm: wasmi::Engine::new(&config),
            limits,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates and compiles `code`: WebAssembly without floats, importing only ABI v1
    /// host functions with their signatures, exporting `memory` and `call: () -> i32`,
    /// within the size and memory limits.
    pub fn check(&self, code: &[u8]) -> Result<CheckedCode, CodeError> {
        if code.len() > self.limits.max_code_bytes {
            return Err(CodeError::TooLarge {
                len: code.len(),
                max: self.limits.max_code_bytes,
            });
        }
        let module = Module::new(&self.wasm, code).map_err(|e| {
            let message = e.to_string();
            if message.contains("floating-point") {
                CodeError::Float(message)
            } else {
                CodeError::Invalid(message)
            }
        })?;
        for import in module.imports() {
            let known = HOST_FUNCTIONS.iter().find(|(name, _, _)| *name == import.name());
            let (Some((name, params, results)), HOST_MODULE) = (known, import.module()) else {
                return Err(CodeError::UnknownImport {
                    module: import.module().to_owned(),
                    name: import.name().to_owned(),
                });
            };
            let signature_ok = matches!(import.ty(), ExternType::Func(f)
                if f.params() == *params && f.results() == *results);
            if !signature_ok {
                return Err(CodeError::ImportSignature {
                    name: (*name).to_owned(),
                });
            }
        }
        match module.get_export("memory") {
            Some(ExternType::Memory(m)) if m.minimum() > u64::from(self.limits.max_memory_pages) => {
                return Err(CodeError::MemoryTooLarge {
                    pages: m.minimum(),
                    max: self.limits.max_memory_pages,
                });
            }
            Some(ExternType::Memory(_)) => {}
            Some(_) => return Err(CodeError::ExportType("memory")),
            None => return Err(CodeError::MissingExport("memory")),
        }
        match module.get_export(DEFAULT_ENTRY) {
            Some(ExternType::Func(f)) if f.params().is_empty() && f.results() == [wasmi::ValType::I32] => {}
            Some(_) => return Err(CodeError::ExportType(DEFAULT_ENTRY)),
            None => return Err(CodeError::MissingExport(DEFAULT_ENTRY)),
        }
        Ok(CheckedCode {
            id: CodeId::of(code),
            size: code.len(),
            module,
        })
    }

    /// Runs `entry` with the per-call fuel of the limits.
    pub fn call(&self, code: &CheckedCode, entry: &str, input: &[u8], host: &dyn Host) -> Outcome {
        self.call_with_fuel(code, entry, input, host, self.limits.fuel_per_call)
    }

    /// Runs `entry` in a fresh instance with `fuel`; instantiation and the module's start
    /// function are paid from the same fuel.
    pub fn call_with_fuel(&self, code: &CheckedCode, entry: &str, input: &[u8], host: &dyn Host, fuel: u64) -> Outcome {
        if input.len() > self.limits.max_input_bytes {
            return Outcome::LimitExceeded(LimitKind::Input);
        }
        let mut store = Store::new(&self.wasm, CallState::new(host, &self.limits, input));
        store.limiter(|state| &mut state.store_limits);
        match self.run(&mut store, code, entry, fuel) {
            Ok(status) => {
                let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
                let state = store.into_data();
                if status != 0 {
                    return Outcome::Reverted {
                        status,
                        output: state.output,
                        fuel_used,
                    };
                }
                let writes = state
                    .overlay
                    .into_iter()
                    .map(|(key, value)| Write { key, value })
                    .collect();
                Outcome::Ok {
                    output: state.output,
                    writes,
                    events: state.events,
                    fuel_used,
                }
            }
            Err(outcome) => outcome,
        }
    }

    fn run(
        &self,
        store: &mut Store<CallState<'_>>,
        code: &CheckedCode,
        entry: &str,
        fuel: u64,
    ) -> Result<i32, Outcome> {
        let linker = runtime::linker(&self.wasm).map_err(|e| trap_outcome(&e, false))?;
        store.set_fuel(fuel).map_err(|e| trap_outcome(&e, false))?;
        let instance = linker
            .instantiate_and_start(&mut *store, &code.module)
            .map_err(|e| trap_outcome(&e, true))?;
        let func = instance
            .get_typed_func::<(), i32>(&*store, entry)
            .map_err(|_| Outcome::Trap(TrapReason::NoEntry(entry.to_owned())))?;
        func.call(&mut *store, ()).map_err(|e| trap_outcome(&e, false))
    }
}

fn trap_outcome(error: &wasmi::Error, instantiating: bool) -> Outcome {
    if let Some(f) = error.downcast_ref::<Fault>() {
        return match f {
            Fault::BadPointer => Outcome::Trap(TrapReason::BadPointer),
            Fault::Abort(m) => Outcome::Trap(TrapReason::Abort(m.clone())),
            Fault::Limit(kind) => Outcome::LimitExceeded(*kind),
        };
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Outcome::OutOfFuel,
        Some(TrapCode::GrowthOperationLimited) => Outcome::LimitExceeded(LimitKind::Memory),
        Some(code) => Outcome::Trap(TrapReason::Wasm(format!("{code:?}"))),
        None if instantiating => Outcome::Trap(TrapReason::Instantiate(error.to_string())),
        None => Outcome::Trap(TrapReason::Wasm(error.to_string())),
    }
}

/// Checked code by id, so a module is compiled once however often it is called.
#[derive(Debug, Default)]
pub struct CodeCache {
    entries: BTreeMap<CodeId, CheckedCode>,
    max_entries: usize,
}

impl CodeCache {
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            max_entries: max_entries.max(1),
        }
    }

    pub fn get(&self, id: &CodeId) -> Option<&CheckedCode> {
        self.entries.get(id)
    }

    /// The checked code for `code`, checking and compiling it only the first time.
    pub fn get_or_check(&mut self, engine: &Engine, code: &[u8]) -> Result<CheckedCode, CodeError> {
        let id = CodeId::of(code);
        if let Some(hit) = self.entries.get(&id) {
            return Ok(hit.clone());
        }
        let checked = engine.check(code)?;
        if self.entries.len() >= self.max_entries {
            self.entries.pop_first();
        }
        self.entries.insert(id, checked.clone());
        Ok(checked)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
