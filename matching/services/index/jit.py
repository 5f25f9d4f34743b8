"""LLVM IR compiled in memory for this CPU by llvmlite: the index's own search kernels (exact.py,
codes_int.py).

llvmlite is numba's code generator, without numba's typing machinery (46 MB of private memory in
every process that searched, against 2 MB for llvmlite alone: exact.py). Each module is compiled
once per process at -O3 for the host CPU and kept for the life of the process; its functions are
called through ctypes, which releases the GIL, so the scan's threads run segments in parallel.
"""

from __future__ import annotations

import ctypes
import functools
import threading

_lock = threading.Lock()
_engines: list[object] = []  # the JITs holding the machine code: kept while the process runs
_initialised = False


def _target_machine():
    import llvmlite.binding as llvm

    global _initialised
    if not _initialised:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialised = True
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
    )


@functools.cache
def host_has(*, feature: str) -> bool:
    """Whether this CPU has an instruction set extension, as LLVM names it ("avx2"). Asked once per
    process: LLVM's answer took 117 us, and a search asks it twice per segment."""
    import llvmlite.binding as llvm

    try:
        return bool(llvm.get_host_cpu_features().get(feature, False))
    except RuntimeError:  # a host LLVM cannot describe
        return False


def ir_compile(*, ir: str, functions: dict[str, ctypes._CFuncPtr]) -> dict[str, ctypes._CFuncPtr]:
    """Compile ``ir`` and return each named function as a ctypes function of the given prototype
    (a ``ctypes.CFUNCTYPE``)."""
    import llvmlite.binding as llvm

    with _lock:
        machine = _target_machine()
        module = llvm.parse_assembly(ir)
        module.triple, module.data_layout = machine.triple, str(machine.target_data)
        module.verify()
        builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
        builder.getModulePassManager().run(module, builder)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        _engines.append(engine)
        return {name: prototype(engine.get_function_address(name)) for name, prototype in functions.items()}
