# lit configuration for the moe-mlir tests.
#
# Tools come from the build (moe-opt, moe-lsp-server, the plugin) and from
# Debian's LLVM 22 (FileCheck, not, split-file in /usr/lib/llvm-22/bin, which
# is not on PATH).
import os
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
    ["moe-opt", "moe-lsp-server", "moe-reduce", "moe-run", "moe-compile"], tool_dirs)
config.substitutions.append(("%moe_include", os.path.join(config.moe_src_root, "include")))

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
