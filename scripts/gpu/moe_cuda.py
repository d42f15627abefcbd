"""Runs models that `moe-compile --target=cuda --emit=shared` built, from
Python, on a machine with an NVIDIA GPU but without LLVM.

A compiled model is a shared library whose entry points take and return
memref descriptors of GPU buffers (see the C header moe-compile writes with
--header). This module loads the libraries the model needs from a bundle's
lib/ directory (libomp.so.5, libmoe_runtime.so, libmoe_cuda_runtime.so:
loaded first, with RTLD_GLOBAL, so that the model's dependencies resolve to
them without LD_LIBRARY_PATH), reads each entry point's signature from the
header, moves numpy arrays to the GPU and back through
libmoe_cuda_runtime.so, and calls `_mlir_ciface_<name>`.

Buffers may also be given as `DeviceBuffer`s: any device pointer the CUDA
driver accepts, such as a PyTorch CUDA tensor's data_ptr() (PyTorch and the
runtime share device 0's primary context).

Only numpy is needed (PyTorch where the caller brings its own tensors).
"""

import ctypes
import os
import re

import numpy as np

# Element types of the signature -> (numpy dtype of the host copy, bytes,
# ctypes type of a scalar passed by value). bf16 and f16 travel as their
# 16-bit patterns ('<u2'), as moe-run's .npy files hold them.
ELEMENTS = {
    "f32": (np.dtype("<f4"), 4, ctypes.c_float),
    "f64": (np.dtype("<f8"), 8, ctypes.c_double),
    "bf16": (np.dtype("<u2"), 2, None),
    "f16": (np.dtype("<u2"), 2, None),
    "i1": (np.dtype("bool"), 1, ctypes.c_bool),
    "i8": (np.dtype("<i1"), 1, ctypes.c_int8),
    "i16": (np.dtype("<i2"), 2, ctypes.c_int16),
    "i32": (np.dtype("<i4"), 4, ctypes.c_int32),
    "i64": (np.dtype("<i8"), 8, ctypes.c_int64),
    "index": (np.dtype("<i8"), 8, ctypes.c_int64),
}

RUNTIME_LIBRARIES = ["libomp.so.5", "libmoe_runtime.so",
                     "libmoe_cuda_runtime.so"]


class Value:
    """One argument or result of an entry point: a buffer (tensor or
    memref type, `shape` with None for dynamic sizes) or a scalar."""

    def __init__(self, text):
        self.text = text
        match = re.fullmatch(r"(tensor|memref)<(.*)>", text)
        if match:
            self.is_buffer = True
            parts = match.group(2).split(",")[0].split("x")
            self.element = parts[-1].strip()
            self.shape = [None if d == "?" else int(d) for d in parts[:-1]]
        else:
            self.is_buffer = False
            self.element = text.strip()
            self.shape = []
        if self.element not in ELEMENTS:
            raise ValueError(f"unsupported element type in '{text}'")
        self.dtype, self.bytes, self.scalar_ctype = ELEMENTS[self.element]

    def descriptor_type(self):
        rank = len(self.shape)
        return type(f"Memref{rank}d", (ctypes.Structure,), {"_fields_": [
            ("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
            ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
            ("strides", ctypes.c_int64 * rank)]})

    def storage_type(self):
        if self.is_buffer:
            return self.descriptor_type()
        if self.scalar_ctype is None:
            raise ValueError(f"a {self.element} scalar cannot be passed by "
                             "value from Python")
        return self.scalar_ctype


def split_types(text):
    """Splits 'tensor<?x4xf32>, f32, memref<2x2xi32, strided<[2, 1]>>' at
    the commas outside angle brackets."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c == "<"
        depth -= c == ">"
        if c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def read_signatures(header):
    """{entry name: (argument Values, result Values)} from the
    `/* @name(types) -> (types) */` lines of a moe-compile header."""
    signatures = {}
    with open(header) as f:
        for line in f:
            match = re.match(r"/\* @(\w+)\((.*?)\)(?: -> \((.*)\))? \*/$",
                             line.strip())
            if match:
                arguments = [Value(t) for t in split_types(match.group(2))]
                results = [Value(t) for t in split_types(match.group(3) or "")]
                signatures[match.group(1)] = (arguments, results)
    return signatures


class Runtime:
    """libmoe_cuda_runtime.so (and the libraries it and the models need),
    loaded once from `lib_dir`."""

    def __init__(self, lib_dir):
        self.lib_dir = lib_dir
        self.libraries = []
        for name in RUNTIME_LIBRARIES:
            path = os.path.join(lib_dir, name)
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path} is missing: build the bundle "
                                        "with scripts/gpu/build-bundle.sh")
            self.libraries.append(ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL))
        cuda = self.libraries[-1]
        cuda.moe_cuda_device_count.restype = ctypes.c_int
        cuda.moe_cuda_device_name.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                              ctypes.c_int]
        cuda.moe_cuda_alloc.restype = ctypes.c_void_p
        cuda.moe_cuda_alloc.argtypes = [ctypes.c_size_t]
        cuda.moe_cuda_free.argtypes = [ctypes.c_void_p]
        cuda.moe_cuda_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_size_t]
        self.cuda = cuda

    def device_count(self):
        return self.cuda.moe_cuda_device_count()

    def device_name(self, device=0):
        buffer = ctypes.create_string_buffer(256)
        self.cuda.moe_cuda_device_name(device, buffer, len(buffer))
        return buffer.value.decode()

    def to_device(self, array):
        array = np.ascontiguousarray(array)
        pointer = self.cuda.moe_cuda_alloc(max(array.nbytes, 1))
        if array.nbytes:
            self.cuda.moe_cuda_copy(pointer, array.ctypes.data, array.nbytes)
        return DeviceBuffer(pointer, array.shape, owner=self)

    def to_host(self, pointer, shape, dtype):
        array = np.empty(shape, dtype=dtype)
        if array.nbytes:
            self.cuda.moe_cuda_copy(array.ctypes.data, pointer, array.nbytes)
        return array

    def free(self, pointer):
        self.cuda.moe_cuda_free(pointer)


class DeviceBuffer:
    """A contiguous row-major GPU buffer: a device pointer and a shape.
    free() releases it when `owner` (a Runtime) allocated it: a buffer of
    Runtime.to_device, or a result kept on the device, whose allocation
    starts at `allocated`."""

    def __init__(self, pointer, shape, owner=None, allocated=None):
        self.pointer, self.shape, self.owner = pointer, tuple(shape), owner
        self.allocated = allocated if allocated is not None else pointer

    def free(self):
        if self.owner is not None and self.allocated:
            self.owner.free(self.allocated)
            self.pointer = self.allocated = None


class Model:
    """A compiled model: `library` (.so) with the signatures of `header`."""

    def __init__(self, runtime, library, header):
        self.runtime = runtime
        self.library = ctypes.CDLL(os.path.abspath(library))
        self.signatures = read_signatures(header)

    def entry_names(self):
        return list(self.signatures)

    def call(self, entry, arguments, keep_on_device=False):
        """Calls `entry` with `arguments` (numpy arrays, DeviceBuffers or
        Python scalars, in order). Returns the results as numpy arrays (or
        DeviceBuffers owned by the caller with keep_on_device)."""
        if entry not in self.signatures:
            raise KeyError(f"no entry point @{entry}; the library has "
                           f"{', '.join(self.signatures) or 'none'}")
        argument_values, result_values = self.signatures[entry]
        if len(arguments) != len(argument_values):
            raise ValueError(f"@{entry} takes {len(argument_values)} "
                             f"arguments, got {len(arguments)}")
        keep_alive, temporaries, parameters = [], [], []
        for value, argument in zip(argument_values, arguments):
            if not value.is_buffer:
                parameters.append(value.storage_type()(argument))
                continue
            if not isinstance(argument, DeviceBuffer):
                host = np.ascontiguousarray(argument).astype(value.dtype,
                                                             copy=False)
                argument = self.runtime.to_device(host)
                temporaries.append(argument)
            descriptor = value.descriptor_type()()
            descriptor.allocated = descriptor.aligned = argument.pointer
            descriptor.offset = 0
            stride = 1
            for dim in reversed(range(len(argument.shape))):
                descriptor.sizes[dim] = argument.shape[dim]
                descriptor.strides[dim] = stride
                stride *= argument.shape[dim]
            keep_alive.append(descriptor)
            parameters.append(ctypes.byref(descriptor))

        function = getattr(self.library, f"_mlir_ciface_{entry}")
        function.restype = None
        results_storage = None
        through_pointer = len(result_values) > 1 or (
            len(result_values) == 1 and result_values[0].is_buffer)
        if through_pointer:
            fields = [(f"result{i}", v.storage_type())
                      for i, v in enumerate(result_values)]
            results_storage = type("Results", (ctypes.Structure,),
                                   {"_fields_": fields})()
            parameters.insert(0, ctypes.byref(results_storage))
        elif result_values:
            function.restype = result_values[0].storage_type()
        returned = function(*parameters)
        for buffer in temporaries:
            buffer.free()

        outputs = []
        for i, value in enumerate(result_values):
            if not through_pointer:
                outputs.append(np.array(returned, dtype=value.dtype))
                continue
            stored = getattr(results_storage, f"result{i}")
            if not value.is_buffer:
                outputs.append(np.array(stored, dtype=value.dtype))
                continue
            shape = tuple(stored.sizes)
            # Results are fresh contiguous buffers (the header's contract).
            start = stored.aligned + stored.offset * value.bytes
            if keep_on_device:
                outputs.append(DeviceBuffer(start, shape, owner=self.runtime,
                                            allocated=stored.allocated))
                continue
            outputs.append(self.runtime.to_host(start, shape, value.dtype))
            self.runtime.free(stored.allocated)
        return outputs
