# lit configuration for the moe-mlir tests.
#
# Tools come from the build (moe-opt, moe-lsp-server, the plugin) and from
# Debian's LLVM 22 (FileCheck, not, split-file in /usr/lib/llvm-22/bin, which
# is not on PATH).
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.moe_tools_dir, append_path=True)

config.substitutions.append(("%moe_src_root", config.moe_src_root))
config.substitutions.append(("%moe_lib_dir", config.moe_lib_dir))
config.substitutions.append(("%moe_obj_root", config.moe_obj_root))
config.substitutions.append(("%examples", os.path.join(config.moe_src_root, "examples")))

tool_dirs = [config.moe_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(
    ["moe-opt", "moe-lsp-server", "moe-reduce", "moe-run", "moe-compile",
     "moe-cuda-info"], tool_dirs)
config.substitutions.append(("%moe_include", os.path.join(config.moe_src_root, "include")))
# The OpenMP runtime the models link (LLVM 22's libomp.so.5).
config.substitutions.append(("%libomp", os.path.realpath(config.moe_libomp)))

# The GPU lowering of the tests in Integration/GPU: gpu.module to PTX for
# sm_90 (format=isa needs no ptxas), host code to mgpu* calls. Inserted first
# because lit substitutes in order and %mlir_opt below is a prefix of it.
config.substitutions.insert(0, (
    "%mlir_opt_gpu",
    os.path.join(config.llvm_tools_dir, "mlir-opt") +
    " --gpu-lower-to-nvvm-pipeline='cubin-chip=sm_90 cubin-features=+ptx80"
    " cubin-format=isa'"))

# ptxas from the CUDA toolkit: for tests that assemble PTX, with %ptxas or
# through mlir-opt's gpu-module-to-binary (format=bin|fatbin), which looks for
# it on PATH.
ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
    llvm_config.with_environment("PATH", os.path.dirname(ptxas), append_path=True)

# cuda-device: a GPU that libmoe_cuda_runtime.so can use, for the tests that
# run kernels; moe-cuda-info exits with 0 only when there is one.
cuda_info = os.path.join(config.moe_tools_dir, "moe-cuda-info")
try:
    if os.access(cuda_info, os.X_OK) and subprocess.call(
            [cuda_info], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=120) == 0:
        config.available_features.add("cuda-device")
except subprocess.TimeoutExpired:
    lit_config.warning("moe-cuda-info timed out; GPU tests will not run")

# Debian's mlir-opt-22, into which the plugin test loads the dialect.
mlir_opt = os.path.join(config.llvm_tools_dir, "mlir-opt")
if config.moe_plugin_enabled and os.path.exists(mlir_opt):
    config.available_features.add("plugin")
    config.substitutions.append(("%mlir_opt", mlir_opt))
    config.substitutions.append(
        ("%moe_plugin", os.path.join(config.moe_lib_dir, "libMoEPlugin.so")))

# Debian's python3 with numpy (the python3 on PATH may have none): makes
# .npy inputs and checks results in the executed tests.
python = "/usr/bin/python3"
if os.path.exists(python) and subprocess.call(
        [python, "-c", "import numpy"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) == 0:
    config.available_features.add("numpy")
    config.substitutions.append(("%python", python))

# clang-22, which builds the C programs that call compiled models.
if config.moe_clang and os.path.exists(config.moe_clang):
    config.available_features.add("clang")
    config.substitutions.append(("%clang", config.moe_clang))
